package smsc

import (
	"encoding/binary"
	"errors"

	"github.com/linxGnu/gosmpp/pdu"
)

// SMPP command ids and statuses the simulator writes by hand (gosmpp's typed
// constants are signed; these are the wire values).
const (
	cmdGenericNack     uint32 = 0x80000000
	cmdBindReceiver    uint32 = 0x00000001
	cmdBindTransmitter uint32 = 0x00000002
	cmdSubmitSM        uint32 = 0x00000004
	cmdSubmitSMResp    uint32 = 0x80000004
	cmdDeliverSM       uint32 = 0x00000005
	cmdDeliverSMResp   uint32 = 0x80000005
	cmdUnbind          uint32 = 0x00000006
	cmdUnbindResp      uint32 = 0x80000006
	cmdBindTransceiver uint32 = 0x00000009
	cmdEnquireLink     uint32 = 0x00000015
	cmdEnquireLinkResp uint32 = 0x80000015
	respBit            uint32 = 0x80000000

	statusInvMsgLen   uint32 = 0x01
	statusInvCmdLen   uint32 = 0x02
	statusInvCmdID    uint32 = 0x03
	statusInvBndSts   uint32 = 0x04
	statusAlyBnd      uint32 = 0x05
	statusInvPaswd    uint32 = 0x0E
	statusInvSysID    uint32 = 0x0F
	statusRSysErr     uint32 = 0x08
	maxPDULen                = 64 << 10
	tagReceiptedMsgID        = uint16(pdu.TagReceiptedMessageID)
	tagMessageState          = uint16(pdu.TagMessageStateOption)
)

var errMalformed = errors.New("smsc: malformed PDU body")

// headerOnly encodes a body-less PDU (enquire_link_resp, unbind_resp,
// generic_nack).
func headerOnly(cmd, status, seq uint32) []byte {
	b := make([]byte, 16)
	putHeader(b, cmd, status, seq)
	return b
}

func putHeader(b []byte, cmd, status, seq uint32) {
	binary.BigEndian.PutUint32(b[0:], uint32(len(b)))
	binary.BigEndian.PutUint32(b[4:], cmd)
	binary.BigEndian.PutUint32(b[8:], status)
	binary.BigEndian.PutUint32(b[12:], seq)
}

// submitResp encodes a submit_sm_resp; the body is omitted on error, as SMPP
// 3.4 §4.4.2 allows and many SMSCs do.
func submitResp(status, seq uint32, id string) []byte {
	if status != 0 {
		return headerOnly(cmdSubmitSMResp, status, seq)
	}
	b := make([]byte, 16+len(id)+1)
	copy(b[16:], id)
	putHeader(b, cmdSubmitSMResp, status, seq)
	return b
}

// marshal encodes a gosmpp PDU.
func marshal(p pdu.PDU) []byte {
	buf := pdu.NewBuffer(make([]byte, 0, 64))
	p.Marshal(buf)
	return buf.Bytes()
}

// reader walks a PDU body. Parsing the hot submit_sm by hand keeps the raw
// short_message (UDH included) and avoids gosmpp's per-PDU maps.
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

func (r *reader) cstring() string {
	if r.err != nil {
		return ""
	}
	for i, c := range r.b {
		if c == 0 {
			s := string(r.b[:i])
			r.b = r.b[i+1:]
			return s
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

// parseSubmit decodes a submit_sm body (everything after the header).
func parseSubmit(body []byte) (Submit, error) {
	r := reader{b: body}
	var s Submit
	s.ServiceType = r.cstring()
	s.SourceTON, s.SourceNPI, s.Source = r.byte(), r.byte(), r.cstring()
	s.DestTON, s.DestNPI, s.Dest = r.byte(), r.byte(), r.cstring()
	s.ESMClass = r.byte()
	s.ProtocolID = r.byte()
	_ = r.byte()    // priority_flag
	_ = r.cstring() // schedule_delivery_time
	s.ValidityPeriod = r.cstring()
	s.RegisteredDelivery = r.byte()
	_ = r.byte() // replace_if_present_flag
	s.DataCoding = r.byte()
	_ = r.byte() // sm_default_msg_id
	n := int(r.byte())
	s.ShortMessage = r.bytes(n)
	for r.err == nil && len(r.b) > 0 {
		if len(r.b) < 4 {
			r.err = errMalformed
			break
		}
		tag := binary.BigEndian.Uint16(r.b)
		l := int(binary.BigEndian.Uint16(r.b[2:]))
		r.b = r.b[4:]
		v := r.bytes(l)
		if s.TLVs == nil {
			s.TLVs = make(map[uint16][]byte)
		}
		s.TLVs[tag] = v
	}
	return s, r.err
}
