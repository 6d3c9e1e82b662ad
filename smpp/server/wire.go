package server

import (
	"encoding/binary"
	"errors"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// SMPP 3.4 command ids as they are on the wire (gosmpp's typed constants
// are signed).
const (
	cmdGenericNack     uint32 = 0x80000000
	cmdBindReceiver    uint32 = 0x00000001
	cmdBindTransmitter uint32 = 0x00000002
	cmdSubmitSM        uint32 = 0x00000004
	cmdDeliverSM       uint32 = 0x00000005
	cmdDeliverSMResp   uint32 = 0x80000005
	cmdUnbind          uint32 = 0x00000006
	cmdUnbindResp      uint32 = 0x80000006
	cmdBindTransceiver uint32 = 0x00000009
	cmdEnquireLink     uint32 = 0x00000015
	cmdEnquireLinkResp uint32 = 0x80000015
	cmdSubmitMulti     uint32 = 0x00000021
	cmdDataSM          uint32 = 0x00000103
	respBit            uint32 = 0x80000000
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

// maxPDULen bounds a PDU: a submit_sm with a full message_payload is
// under 64 KiB; anything longer is garbage, not a message.
const maxPDULen = 64 << 10

// headerLen is every PDU's command_length, command_id, command_status and
// sequence_number.
const headerLen = 16

// errMalformed is a body whose fields overrun it.
var errMalformed = errors.New("malformed PDU body")

// header is a PDU's first 16 octets.
type header struct {
	length, cmd, status, seq uint32
}

func readHeader(b []byte) header {
	return header{
		length: binary.BigEndian.Uint32(b[0:]),
		cmd:    binary.BigEndian.Uint32(b[4:]),
		status: binary.BigEndian.Uint32(b[8:]),
		seq:    binary.BigEndian.Uint32(b[12:]),
	}
}

// writer builds one PDU: header first, length filled in by done.
type writer struct{ b []byte }

func newPDU(cmd, status, seq uint32) *writer {
	w := &writer{b: make([]byte, headerLen, 64)}
	binary.BigEndian.PutUint32(w.b[4:], cmd)
	binary.BigEndian.PutUint32(w.b[8:], status)
	binary.BigEndian.PutUint32(w.b[12:], seq)
	return w
}

func (w *writer) byte(v byte) *writer { w.b = append(w.b, v); return w }

func (w *writer) cstring(s string) *writer {
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
	return w
}

func (w *writer) tlv(tag uint16, v []byte) *writer {
	w.b = binary.BigEndian.AppendUint16(w.b, tag)
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(v)))
	w.b = append(w.b, v...)
	return w
}

func (w *writer) done() []byte {
	binary.BigEndian.PutUint32(w.b[0:], uint32(len(w.b)))
	return w.b
}

// headerOnly is a body-less PDU (generic_nack, enquire_link_resp,
// unbind_resp, an error response).
func headerOnly(cmd, status, seq uint32) []byte { return newPDU(cmd, status, seq).done() }

// messageResp answers submit_sm or data_sm: the message id on success, no
// body on error (§4.4.2 allows it, and ESMEs expect it).
func messageResp(cmd, status, seq uint32, id string) []byte {
	if status != statusOK {
		return headerOnly(cmd|respBit, status, seq)
	}
	return newPDU(cmd|respBit, status, seq).cstring(id).done()
}

// reader walks a PDU body; the first overrun sets err and every later
// read returns zero values, so a parser checks once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errMalformed
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// cstring reads a C-octet string of at most max octets before its NUL.
func (r *reader) cstring(max int) string {
	if r.err != nil {
		return ""
	}
	for i, c := range r.b {
		if c == 0 {
			if i > max {
				break
			}
			s := string(r.b[:i])
			r.b = r.b[i+1:]
			return s
		}
		if i > max {
			break
		}
	}
	r.err = errMalformed
	return ""
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errMalformed
		return nil
	}
	v := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return v
}

// tlvs reads the optional parameters that end a body.
func (r *reader) tlvs() map[uint16][]byte {
	var out map[uint16][]byte
	for r.err == nil && len(r.b) > 0 {
		if len(r.b) < 4 {
			r.err = errMalformed
			break
		}
		tag := binary.BigEndian.Uint16(r.b)
		l := int(binary.BigEndian.Uint16(r.b[2:]))
		r.b = r.b[4:]
		v := r.bytes(l)
		if out == nil {
			out = make(map[uint16][]byte)
		}
		out[tag] = v
	}
	return out
}

// bindReq is a bind_transmitter, bind_receiver or bind_transceiver body.
type bindReq struct {
	systemID, password, systemType string
	version                        byte
}

func parseBind(body []byte) (bindReq, error) {
	r := reader{b: body}
	var b bindReq
	b.systemID = r.cstring(15)
	b.password = r.cstring(8)
	b.systemType = r.cstring(12)
	b.version = r.byte()
	_, _ = r.byte(), r.byte() // addr_ton, addr_npi
	_ = r.cstring(40)         // address_range
	return b, r.err
}

// bindResp answers a bind: smsgw's system_id and, on success, the
// interface version it speaks. A refusal of a transmitter or receiver
// bind has no body, as most SMSCs send it (gosmpp reads none there).
func bindResp(cmd, status, seq uint32) []byte {
	if status != statusOK && cmd != cmdBindTransceiver {
		return headerOnly(cmd|respBit, status, seq)
	}
	w := newPDU(cmd|respBit, status, seq).cstring("smsgw")
	if status == statusOK {
		w.tlv(tagSCInterfaceVersion, []byte{0x34})
	}
	return w.done()
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
	r := reader{b: body}
	var s submit
	s.serviceType = r.cstring(5)
	s.srcTON, s.srcNPI, s.src = r.byte(), r.byte(), r.cstring(20)
	s.dstTON, s.dstNPI, s.dst = r.byte(), r.byte(), r.cstring(20)
	s.esmClass = r.byte()
	s.protocolID = r.byte()
	s.priority = r.byte()
	s.schedule = r.cstring(16)
	s.validity = r.cstring(16)
	s.registeredDelivery = r.byte()
	_ = r.byte() // replace_if_present_flag
	s.dataCoding = r.byte()
	_ = r.byte() // sm_default_msg_id
	n := int(r.byte())
	s.shortMessage = r.bytes(n)
	s.tlvs = r.tlvs()
	return s, r.err
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
	r := reader{b: body}
	var s submit
	s.serviceType = r.cstring(5)
	s.srcTON, s.srcNPI, s.src = r.byte(), r.byte(), r.cstring(20)
	n := int(r.byte())
	var ds []dest
	for range n {
		switch r.byte() {
		case 1:
			ds = append(ds, dest{ton: r.byte(), npi: r.byte(), addr: r.cstring(20)})
		case 2:
			ds = append(ds, dest{addr: r.cstring(20), list: true})
		default:
			r.err = errMalformed
		}
	}
	if r.err == nil && n == 0 {
		r.err = errMalformed
	}
	s.esmClass = r.byte()
	s.protocolID = r.byte()
	s.priority = r.byte()
	s.schedule = r.cstring(16)
	s.validity = r.cstring(16)
	s.registeredDelivery = r.byte()
	_ = r.byte() // replace_if_present_flag
	s.dataCoding = r.byte()
	_ = r.byte() // sm_default_msg_id
	l := int(r.byte())
	s.shortMessage = r.bytes(l)
	s.tlvs = r.tlvs()
	return s, ds, r.err
}

// unsuccess is a destination of a submit_multi that was refused.
type unsuccess struct {
	d      dest
	status uint32
}

// multiResp answers a submit_multi: the id and the destinations refused.
func multiResp(status, seq uint32, id string, refused []unsuccess) []byte {
	if status != statusOK {
		return headerOnly(cmdSubmitMulti|respBit, status, seq)
	}
	w := newPDU(cmdSubmitMulti|respBit, status, seq).cstring(id).byte(byte(len(refused)))
	for _, u := range refused {
		w.byte(u.d.ton).byte(u.d.npi).cstring(u.d.addr)
		w.b = binary.BigEndian.AppendUint32(w.b, u.status)
	}
	return w.done()
}

// parseDataSM reads a data_sm (§4.7.1): the text is in message_payload.
func parseDataSM(body []byte) (submit, error) {
	r := reader{b: body}
	var s submit
	s.serviceType = r.cstring(5)
	s.srcTON, s.srcNPI, s.src = r.byte(), r.byte(), r.cstring(64)
	s.dstTON, s.dstNPI, s.dst = r.byte(), r.byte(), r.cstring(64)
	s.esmClass = r.byte()
	s.registeredDelivery = r.byte()
	s.dataCoding = r.byte()
	s.tlvs = r.tlvs()
	return s, r.err
}
