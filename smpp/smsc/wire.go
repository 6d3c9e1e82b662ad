package smsc

import (
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/smpp/internal/wire"
)

// Command statuses the simulator answers (SMPP 3.4 §5.1.3); the command
// ids and framing are package wire's, shared with smsgw's SMPP server.
const (
	statusInvMsgLen   uint32 = 0x01
	statusInvCmdLen   uint32 = 0x02
	statusInvCmdID    uint32 = 0x03
	statusInvBndSts   uint32 = 0x04
	statusAlyBnd      uint32 = 0x05
	statusInvPaswd    uint32 = 0x0E
	statusInvSysID    uint32 = 0x0F
	statusRSysErr     uint32 = 0x08
	tagReceiptedMsgID        = uint16(pdu.TagReceiptedMessageID)
	tagMessageState          = uint16(pdu.TagMessageStateOption)
)

// marshal encodes a gosmpp PDU.
func marshal(p pdu.PDU) []byte {
	buf := pdu.NewBuffer(make([]byte, 0, 64))
	p.Marshal(buf)
	return buf.Bytes()
}

// parseSubmit decodes a submit_sm body (everything after the header).
func parseSubmit(body []byte) (Submit, error) {
	r := wire.NewReader(body)
	var s Submit
	s.ServiceType = r.CString(wire.MaxPDULen)
	s.SourceTON, s.SourceNPI, s.Source = r.Byte(), r.Byte(), r.CString(wire.MaxPDULen)
	s.DestTON, s.DestNPI, s.Dest = r.Byte(), r.Byte(), r.CString(wire.MaxPDULen)
	s.ESMClass = r.Byte()
	s.ProtocolID = r.Byte()
	_ = r.Byte()                  // priority_flag
	_ = r.CString(wire.MaxPDULen) // schedule_delivery_time
	s.ValidityPeriod = r.CString(wire.MaxPDULen)
	s.RegisteredDelivery = r.Byte()
	_ = r.Byte() // replace_if_present_flag
	s.DataCoding = r.Byte()
	_ = r.Byte() // sm_default_msg_id
	n := int(r.Byte())
	s.ShortMessage = r.Bytes(n)
	s.TLVs = r.TLVs()
	return s, r.Err()
}
