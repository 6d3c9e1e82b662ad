package smsc

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// receiptDateLayout is Appendix B's YYMMDDhhmm.
const receiptDateLayout = "0601021504"

// messageStates maps a receipt's stat word to the message_state TLV value
// (SMPP 3.4 §5.2.28).
var messageStates = map[string]byte{
	"ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4,
	"UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7, "REJECTD": 8,
}

// formatReceiptText writes a delivery receipt's short_message in the SMPP 3.4
// Appendix B form carriers use; text is cut to its first 20 characters.
func formatReceiptText(id string, submitted, done time.Time, stat, errCode, text string) string {
	dlvrd := "000"
	if stat == "DELIVRD" {
		dlvrd = "001"
	}
	if len(text) > 20 {
		text = text[:20]
	}
	return fmt.Sprintf("id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%s text:%s",
		id, dlvrd, submitted.Format(receiptDateLayout), done.Format(receiptDateLayout), stat, errCode, text)
}

// receiptFor builds the receipt of an accepted submit.
func (s *Server) receiptFor(sub *Submit, act Action) receipt {
	stat, errCode := act.ReceiptStat, act.ReceiptErr
	if stat == "" {
		stat = "DELIVRD"
	}
	if errCode == "" {
		errCode = "000"
	}
	return receipt{
		systemID: sub.SystemID, id: sub.ReceiptID, stat: stat, errCode: errCode,
		from: sub.Dest, fromTON: sub.DestTON, fromNPI: sub.DestNPI,
		to: sub.Source, toTON: sub.SourceTON, toNPI: sub.SourceNPI,
		submitted: sub.Time, text: preview(sub),
	}
}

func (s *Server) scheduleReceipt(origin *session, sub *Submit, act Action) {
	d := s.opts.receiptMin
	if span := s.opts.receiptMax - s.opts.receiptMin; span > 0 {
		d += rand.N(span)
	}
	r := s.receiptFor(sub, act)
	if d <= 0 {
		s.sendReceipt(origin, r)
		return
	}
	time.AfterFunc(d, func() { s.sendReceipt(origin, r) })
}

// scheduleIntermediate sends an intermediate notification after a receipt
// delay, then schedules the final receipt (when one is wanted) after
// another: the notification always comes first.
func (s *Server) scheduleIntermediate(origin *session, sub *Submit, act Action, final bool) {
	d := s.opts.receiptMin
	if span := s.opts.receiptMax - s.opts.receiptMin; span > 0 {
		d += rand.N(span)
	}
	r := s.receiptFor(sub, act)
	r.stat, r.errCode = act.Intermediate, "000"
	time.AfterFunc(d, func() {
		s.sendReceipt(origin, r)
		if final {
			s.scheduleReceipt(origin, sub, act)
		}
	})
}

type receipt struct {
	systemID, id, stat, errCode string
	from, to                    string
	fromTON, fromNPI            byte
	toTON, toNPI                byte
	submitted                   time.Time
	text                        string
	attempts                    int
}

// redeliverAfter is how long a receipt refused by the client waits before it
// is sent again.
const redeliverAfter = 200 * time.Millisecond

// unackedReceipt is a receipt sent on a session and not yet answered.
type unackedReceipt struct {
	receipt receipt
	session *session
}

// sendReceipt sends r to a receiver of its system_id, or queues it until one
// binds. It stays tracked until the client answers ESME_ROK.
func (s *Server) sendReceipt(origin *session, r receipt) {
	c := s.receiver(origin, r.systemID)
	if c == nil {
		s.queue(r)
		return
	}
	s.sendOn(c, r)
}

// queue keeps r for the next bind of its system_id. A session that bound
// after the caller found none to send r on has flushed the queue already:
// one that can receive now takes r at once.
func (s *Server) queue(r receipt) {
	s.mu.Lock()
	s.queued = append(s.queued, r)
	s.mu.Unlock()
	if c := s.receiver(nil, r.systemID); c != nil {
		s.flushQueued(c, r.systemID)
	}
}

// sendOn sends r on c, which could receive when it was chosen but may have
// closed since.
func (s *Server) sendOn(c *session, r receipt) {
	if r.attempts > 0 {
		s.st.redelivered.Add(1)
	}
	r.attempts++
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	seq := s.seq()
	d.SetSequenceNumber(int32(seq))
	d.SourceAddr = pdu.NewAddressWithTonNpi(r.fromTON, r.fromNPI)
	_ = d.SourceAddr.SetAddress(r.from)
	d.DestAddr = pdu.NewAddressWithTonNpi(r.toTON, r.toNPI)
	_ = d.DestAddr.SetAddress(r.to)
	d.EsmClass = data.SM_SMSC_DLV_RCPT_TYPE
	text := formatReceiptText(r.id, r.submitted, time.Now(), r.stat, r.errCode, r.text)
	if err := d.Message.SetMessageDataWithEncoding([]byte(text), data.GSM7BIT); err != nil {
		return
	}
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: append([]byte(r.id), 0)})
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{messageStates[r.stat]}})
	s.mu.Lock()
	if _, open := s.sessions[c]; !open {
		// Closed since it was chosen: removeSession has moved c's
		// receipts to the queue already and would never move this one,
		// which would wait for an answer for ever.
		s.mu.Unlock()
		s.queue(r)
		return
	}
	// Registered while c is a session: its close moves r to the queue.
	s.unacked[seq] = unackedReceipt{r, c}
	s.mu.Unlock()
	if !s.deliver(c, d, true, r.id) {
		// The session died under us; its close moved the receipt to the
		// queue, or will.
		s.mu.Lock()
		_, still := s.unacked[seq]
		delete(s.unacked, seq)
		s.mu.Unlock()
		if still {
			s.queue(r)
		}
	}
}

// flushQueued sends the receipts waiting for system_id on a session that
// just bound.
func (s *Server) flushQueued(c *session, systemID string) {
	s.mu.Lock()
	var mine []receipt
	rest := s.queued[:0]
	for _, r := range s.queued {
		if r.systemID == systemID {
			mine = append(mine, r)
		} else {
			rest = append(rest, r)
		}
	}
	s.queued = rest
	s.mu.Unlock()
	for _, r := range mine {
		s.sendReceipt(c, r)
	}
}

// deliver records and queues one deliver_sm on c. It is counted before it
// is queued (and uncounted if the session is gone), so a test that reads
// the deliver_sm also sees it in Stats.
func (s *Server) deliver(c *session, d *pdu.DeliverSM, isReceipt bool, id string) bool {
	seq := uint32(d.GetSequenceNumber())
	s.recordDeliver(Deliver{SystemID: c.systemIDNow(), Seq: seq, Receipt: isReceipt, MessageID: id, Sent: time.Now()})
	count := &s.st.mos
	if isReceipt {
		count = &s.st.receipts
	}
	count.Add(1)
	if !c.send(marshal(d)) {
		count.Add(-1)
		return false
	}
	return true
}

// preview is the first characters of a submitted text for the receipt's
// text field, when its coding is readable as ASCII.
func preview(sub *Submit) string {
	body := sub.ShortMessage
	if sub.ESMClass&0x40 != 0 && len(body) > 0 {
		if n := int(body[0]) + 1; n <= len(body) {
			body = body[n:]
		}
	}
	if sub.DataCoding != 0 && sub.DataCoding != 1 && sub.DataCoding != 3 {
		return ""
	}
	if len(body) > 20 {
		body = body[:20]
	}
	var b strings.Builder
	for _, ch := range body {
		if ch >= 0x20 && ch < 0x7F {
			b.WriteByte(ch)
		} else {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// SendMO injects a mobile-originated message from the handset number from to
// the ESME address to (a shortcode), on any bound receiver or transceiver.
// The text goes as unpacked GSM 7-bit when every character has a GSM 03.38
// code, else as UCS-2; it must fit one deliver_sm (no concatenation).
// A from starting with '+' goes out as international (TON 1, NPI 1) without
// the '+'.
func (s *Server) SendMO(from, to, text string) error {
	enc := data.GSM7BIT
	if len(data.ValidateGSM7String(text)) > 0 {
		enc = data.UCS2
	}
	payload, err := enc.Encode(text)
	if err != nil {
		return fmt.Errorf("smsc: encode MO: %w", err)
	}
	if len(payload) > 254 {
		return fmt.Errorf("smsc: MO text too long for one deliver_sm (%d octets)", len(payload))
	}
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	d.SourceAddr = addressFor(from)
	d.DestAddr = addressFor(to)
	if err := d.Message.SetMessageDataWithEncoding(payload, enc); err != nil {
		return fmt.Errorf("smsc: MO: %w", err)
	}
	return s.SendDeliverSM(d)
}

// SendDeliverSM sends a deliver_sm built by the caller (a receipt without
// TLVs, an odd data_coding, a concatenated MO part) on any bound receiver or
// transceiver, with a fresh server sequence number. It is counted as a
// receipt when its esm_class says so, else as an MO.
func (s *Server) SendDeliverSM(d *pdu.DeliverSM) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	c := s.receiver(nil, "")
	if c == nil {
		return ErrNoReceiver
	}
	d.SetSequenceNumber(int32(s.seq()))
	isReceipt := d.EsmClass&0x3C == data.SM_SMSC_DLV_RCPT_TYPE
	id := ""
	if f, ok := d.OptionalParameters[pdu.TagReceiptedMessageID]; ok {
		id = f.String()
	}
	if !s.deliver(c, d, isReceipt, id) {
		return ErrNoReceiver
	}
	return nil
}

func addressFor(number string) pdu.Address {
	var a pdu.Address
	switch {
	case strings.HasPrefix(number, "+"):
		a = pdu.NewAddressWithTonNpi(1, 1)
		number = number[1:]
	case isDigits(number):
		a = pdu.NewAddressWithTonNpi(0, 1)
	default:
		a = pdu.NewAddressWithTonNpi(5, 0)
	}
	_ = a.SetAddress(number)
	return a
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// ConcatMode is how SendConcatMO ties the parts of a long MO together.
type ConcatMode int

// The concatenation forms handsets and SMSCs use for MO.
const (
	ConcatUDH8  ConcatMode = iota // UDH IE 0x00, 8-bit reference
	ConcatUDH16                   // UDH IE 0x08, 16-bit reference
	ConcatSAR                     // sar_* TLVs, no UDH
)

// ConcatMO describes a concatenated mobile-originated message for
// SendConcatMO.
type ConcatMO struct {
	From, To string
	Text     string
	Mode     ConcatMode
	Ref      uint16
	// PartSize is the octets of text per part (default 153 for GSM 7-bit,
	// 134 for UCS-2); odd sizes let a test split an escape or a surrogate
	// pair across parts, as some handsets do.
	PartSize int
	// Order lists the parts to send, 1-based, in sending order; repeats
	// send a part again (a carrier resend) and absent parts are never sent.
	// Empty sends every part in order.
	Order []int
}

// SendConcatMO injects a long MO as several deliver_sm, the text as
// unpacked GSM 7-bit when it has a GSM 03.38 code for every character, else
// UCS-2. It returns how many parts the text has.
func (s *Server) SendConcatMO(m ConcatMO) (int, error) {
	enc, size := data.GSM7BIT, 153
	if len(data.ValidateGSM7String(m.Text)) > 0 {
		enc, size = data.UCS2, 134
	}
	if m.PartSize > 0 {
		size = m.PartSize
	}
	payload, err := enc.Encode(m.Text)
	if err != nil {
		return 0, fmt.Errorf("smsc: encode MO: %w", err)
	}
	var parts [][]byte
	for len(payload) > 0 {
		n := min(size, len(payload))
		parts = append(parts, payload[:n])
		payload = payload[n:]
	}
	total := len(parts)
	order := m.Order
	if len(order) == 0 {
		for i := range total {
			order = append(order, i+1)
		}
	}
	for _, seq := range order {
		if seq < 1 || seq > total {
			return total, fmt.Errorf("smsc: part %d of %d", seq, total)
		}
		d := pdu.NewDeliverSM().(*pdu.DeliverSM)
		d.SourceAddr = addressFor(m.From)
		d.DestAddr = addressFor(m.To)
		body := parts[seq-1]
		switch m.Mode {
		case ConcatUDH8:
			body = append([]byte{5, 0, 3, byte(m.Ref), byte(total), byte(seq)}, body...)
			d.EsmClass = data.SM_UDH_GSM
		case ConcatUDH16:
			body = append([]byte{6, 8, 4, byte(m.Ref >> 8), byte(m.Ref), byte(total), byte(seq)}, body...)
			d.EsmClass = data.SM_UDH_GSM
		case ConcatSAR:
			d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarMsgRefNum, Data: []byte{byte(m.Ref >> 8), byte(m.Ref)}})
			d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarTotalSegments, Data: []byte{byte(total)}})
			d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarSegmentSeqnum, Data: []byte{byte(seq)}})
		}
		if err := d.Message.SetMessageDataWithEncoding(body, enc); err != nil {
			return total, fmt.Errorf("smsc: MO part %d: %w", seq, err)
		}
		if err := s.SendDeliverSM(d); err != nil {
			return total, err
		}
	}
	return total, nil
}
