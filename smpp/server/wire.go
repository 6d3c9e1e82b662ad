package server

import (
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/smpp/internal/wire"
)

// Command statuses the server answers (SMPP 3.4 §5.1.3).
const (
	statusOK          = uint32(data.ESME_ROK)
	statusInvMsgLen   = uint32(data.ESME_RINVMSGLEN)
	statusInvCmdLen   = uint32(data.ESME_RINVCMDLEN)
	statusInvCmdID    = uint32(data.ESME_RINVCMDID)
	statusInvBndSts   = uint32(data.ESME_RINVBNDSTS)
	statusAlyBnd      = uint32(data.ESME_RALYBND)
	statusSysErr      = uint32(data.ESME_RSYSERR)
	statusInvSrcAdr   = uint32(data.ESME_RINVSRCADR)
	statusInvDstAdr   = uint32(data.ESME_RINVDSTADR)
	statusBindFail    = uint32(data.ESME_RBINDFAIL)
	statusInvPaswd    = uint32(data.ESME_RINVPASWD)
	statusThrottled   = uint32(data.ESME_RTHROTTLED)
	statusSubmitFail  = uint32(data.ESME_RSUBMITFAIL)
	statusInvSchedule = uint32(data.ESME_RINVSCHED)
	statusInvExpiry   = uint32(data.ESME_RINVEXPIRY)
	statusInvOptParam = uint32(data.ESME_RINVOPTPARSTREAM)
	statusInvDestFlag = uint32(data.ESME_RINVDESTFLAG)
	statusInvNumDests = uint32(data.ESME_RINVNUMDESTS)
)

// Optional parameter tags the server reads or writes (§5.3.2).
const (
	tagMessagePayload     = uint16(pdu.TagMessagePayload)
	tagSarMsgRefNum       = uint16(pdu.TagSarMsgRefNum)
	tagSarTotalSegments   = uint16(pdu.TagSarTotalSegments)
	tagSarSegmentSeqnum   = uint16(pdu.TagSarSegmentSeqnum)
	tagReceiptedMessageID = uint16(pdu.TagReceiptedMessageID)
	tagMessageState       = uint16(pdu.TagMessageStateOption)
	tagSCInterfaceVersion = uint16(data.OPT_PAR_SC_IF_VER)
)

// bindReq is a bind_transmitter, bind_receiver or bind_transceiver body.
type bindReq struct {
	systemID, password, systemType string
	version                        byte
}

func parseBind(body []byte) (bindReq, error) {
	r := wire.NewReader(body)
	var b bindReq
	b.systemID = r.CString(15)
	b.password = r.CString(8)
	b.systemType = r.CString(12)
	b.version = r.Byte()
	_, _ = r.Byte(), r.Byte() // addr_ton, addr_npi
	_ = r.CString(40)         // address_range
	return b, r.Err()
}

// bindResp answers a bind: smsgw's system_id and, on success, the
// interface version it speaks. A refusal of a transmitter or receiver
// bind has no body, as most SMSCs send it (gosmpp reads none there).
func bindResp(cmd, status, seq uint32) []byte {
	if status != statusOK && cmd != wire.CmdBindTransceiver {
		return wire.HeaderOnly(cmd|wire.RespBit, status, seq)
	}
	w := wire.New(cmd|wire.RespBit, status, seq).CString("smsgw")
	if status == statusOK {
		w.TLV(tagSCInterfaceVersion, []byte{0x34})
	}
	return w.Done()
}

// submit is a submit_sm or data_sm as the server reads it.
type submit struct {
	serviceType        string
	srcTON, srcNPI     byte
	src                string
	dstTON, dstNPI     byte
	dst                string
	esmClass           byte
	protocolID         byte
	priority           byte
	schedule           string
	validity           string
	registeredDelivery byte
	dataCoding         byte
	shortMessage       []byte
	tlvs               map[uint16][]byte
}

func parseSubmit(body []byte) (submit, error) {
	r := wire.NewReader(body)
	var s submit
	s.serviceType = r.CString(5)
	s.srcTON, s.srcNPI, s.src = r.Byte(), r.Byte(), r.CString(20)
	s.dstTON, s.dstNPI, s.dst = r.Byte(), r.Byte(), r.CString(20)
	s.esmClass = r.Byte()
	s.protocolID = r.Byte()
	s.priority = r.Byte()
	s.schedule = r.CString(16)
	s.validity = r.CString(16)
	s.registeredDelivery = r.Byte()
	_ = r.Byte() // replace_if_present_flag
	s.dataCoding = r.Byte()
	_ = r.Byte() // sm_default_msg_id
	n := int(r.Byte())
	s.shortMessage = r.Bytes(n)
	s.tlvs = r.TLVs()
	return s, r.Err()
}

// dest is one destination of a submit_multi: an SME address, or a
// distribution list name (list set), which smsgw does not keep.
type dest struct {
	ton, npi byte
	addr     string
	list     bool
}

// parseSubmitMulti reads a submit_multi (§4.5.1): submit_sm's fields
// with a list of destinations in place of one.
func parseSubmitMulti(body []byte) (submit, []dest, error) {
	r := wire.NewReader(body)
	var s submit
	s.serviceType = r.CString(5)
	s.srcTON, s.srcNPI, s.src = r.Byte(), r.Byte(), r.CString(20)
	n := int(r.Byte())
	var ds []dest
	for range n {
		switch r.Byte() {
		case 1:
			ds = append(ds, dest{ton: r.Byte(), npi: r.Byte(), addr: r.CString(20)})
		case 2:
			ds = append(ds, dest{addr: r.CString(20), list: true})
		default:
			r.Fail()
		}
	}
	if r.Err() == nil && n == 0 {
		r.Fail()
	}
	s.esmClass = r.Byte()
	s.protocolID = r.Byte()
	s.priority = r.Byte()
	s.schedule = r.CString(16)
	s.validity = r.CString(16)
	s.registeredDelivery = r.Byte()
	_ = r.Byte() // replace_if_present_flag
	s.dataCoding = r.Byte()
	_ = r.Byte() // sm_default_msg_id
	l := int(r.Byte())
	s.shortMessage = r.Bytes(l)
	s.tlvs = r.TLVs()
	return s, ds, r.Err()
}

// unsuccess is a destination of a submit_multi that was refused.
type unsuccess struct {
	d      dest
	status uint32
}

// multiResp answers a submit_multi: the id and the destinations refused.
func multiResp(status, seq uint32, id string, refused []unsuccess) []byte {
	if status != statusOK {
		return wire.HeaderOnly(wire.CmdSubmitMulti|wire.RespBit, status, seq)
	}
	w := wire.New(wire.CmdSubmitMulti|wire.RespBit, status, seq).CString(id).Byte(byte(len(refused)))
	for _, u := range refused {
		w.Byte(u.d.ton).Byte(u.d.npi).CString(u.d.addr)
		w.Uint32(u.status)
	}
	return w.Done()
}

// parseDataSM reads a data_sm (§4.7.1): the text is in message_payload.
func parseDataSM(body []byte) (submit, error) {
	r := wire.NewReader(body)
	var s submit
	s.serviceType = r.CString(5)
	s.srcTON, s.srcNPI, s.src = r.Byte(), r.Byte(), r.CString(64)
	s.dstTON, s.dstNPI, s.dst = r.Byte(), r.Byte(), r.CString(64)
	s.esmClass = r.Byte()
	s.registeredDelivery = r.Byte()
	s.dataCoding = r.Byte()
	s.tlvs = r.TLVs()
	return s, r.Err()
}
