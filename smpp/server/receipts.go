package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/smpp/internal/wire"
	"github.com/openmf/smsgw/smstext"
)

// Cursor names in the event log: one per account and kind, so each
// account's receipts and MO resume where its ESME last acknowledged.
const (
	receiptCursorPrefix = "smpp-server:"
	moCursorPrefix      = "smpp-server-mo:"
)

// ReceiptCursor is the name of an account's receipt cursor in the store:
// a gateway-wide cursor like Kannel's dlr-url follower's, not one of the
// tenant's (which its API clients list and delete).
func ReceiptCursor(systemID string) string { return receiptCursorPrefix + systemID }

// deliverWindow is the most deliver_sm one follower has unanswered.
const deliverWindow = 64

// retryPause is how long a follower waits before sending again what its
// ESME refused or left unanswered.
const retryPause = time.Second

// startFollowers starts the account's followers: its receipts, and its
// MO when it has an mo route. They run until Stop, waiting for a
// receiver bind whenever none is up.
func (s *Server) startFollowers(a *account) {
	follow := func(cursor string, kind gateway.EventKind, fn func(context.Context, *account, []gateway.Event) error) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := s.eng.Follow(s.ctx, cursor, kind, func(ctx context.Context, evs []gateway.Event) error { return fn(ctx, a, evs) })
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, gateway.ErrStopped) {
				s.log.Error("smpp server: follower stopped", "cursor", cursor, "err", err)
			}
		}()
	}
	follow(ReceiptCursor(a.cfg.SystemID), gateway.EventStatus, s.receipts)
	if a.cfg.MO != nil {
		follow(moCursorPrefix+a.cfg.SystemID, gateway.EventInbound, s.inbound)
	}
}

// delivery is one deliver_sm to an account: its PDU given a sequence
// number.
type delivery struct {
	build func(seq uint32) []byte
}

// receipts turns the status events of the account's messages into
// receipts and returns once the ESME acknowledged every one, so the
// cursor moves only past what the ESME has.
func (s *Server) receipts(ctx context.Context, a *account, evs []gateway.Event) error {
	var ds []delivery
	for _, ev := range evs {
		if ev.Message == nil || ev.Message.Meta[metaAccount] != a.cfg.SystemID {
			continue
		}
		stat, state, final := receiptState(ev.Status)
		rd, _ := strconv.Atoi(ev.Message.Meta[metaRD])
		if !final || !wantsReceipt(rd, stat) {
			continue
		}
		n, _ := strconv.Atoi(ev.Message.Meta[metaParts])
		n = max(n, 1)
		for k := 1; k <= n; k++ {
			id := partID(ev.MessageID, k, n)
			if multi := ev.Message.Meta[metaESMEID]; multi != "" {
				id = multi
			}
			r := receipt{id: id, stat: stat, state: state, err: receiptErr(ev.Detail),
				submitted: ev.Message.Meta[metaSubmitted], done: ev.Time.UTC().Format(receiptDateLayout),
				text: ev.Message.Meta[metaPreview], handset: ev.Message.To, esme: ev.Message.From}
			if r.submitted == "" {
				r.submitted = r.done
			}
			ds = append(ds, delivery{build: r.pdu})
		}
	}
	return s.deliverAll(ctx, a, ds)
}

// deliverAll sends the deliveries to the account's receivers until each
// is acknowledged ESME_ROK or ctx ends.
func (s *Server) deliverAll(ctx context.Context, a *account, ds []delivery) error {
	if len(ds) == 0 {
		return nil
	}
	pending := s.metrics.pending.WithLabelValues(a.cfg.SystemID)
	pending.Add(float64(len(ds)))
	defer func() { pending.Sub(float64(len(ds))) }()
	for {
		c, err := a.receiverFor(ctx)
		if err != nil {
			return err
		}
		before := len(ds)
		ds = s.deliverOn(ctx, c, a, ds)
		pending.Sub(float64(before - len(ds)))
		if len(ds) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryPause):
		}
	}
}

// deliverOn sends ds on c, deliverWindow at a time, and returns those not
// acknowledged ESME_ROK.
func (s *Server) deliverOn(ctx context.Context, c *session, a *account, ds []delivery) []delivery {
	var failed []delivery
	type sent struct {
		d  delivery
		ch <-chan uint32
	}
	for len(ds) > 0 {
		n := min(len(ds), deliverWindow)
		batch := make([]sent, 0, n)
		for _, d := range ds[:n] {
			ch, ok := c.deliver(d.build)
			if !ok {
				failed = append(failed, d)
				continue
			}
			batch = append(batch, sent{d, ch})
		}
		ds = ds[n:]
		timeout := time.NewTimer(s.cfg.ResponseWait)
		for _, b := range batch {
			select {
			case st, ok := <-b.ch:
				if ok && st == statusOK {
					s.metrics.delivered.WithLabelValues(a.cfg.SystemID).Inc()
					continue
				}
				if ok {
					s.log.Info("smpp deliver_sm refused by the ESME; sending it again", "system_id", a.cfg.SystemID, "status", fmt.Sprintf("0x%08X", st))
				}
			case <-timeout.C:
				timeout.Reset(0)
				c.forget(b.ch)
			case <-ctx.Done():
				c.forget(b.ch)
			}
			failed = append(failed, b.d)
		}
		timeout.Stop()
		if len(failed) > 0 {
			return append(failed, ds...)
		}
	}
	return failed
}

// receiptState maps a final status to the receipt's stat word and
// message_state (SMPP 3.4 §5.2.28); final is false for the statuses
// that are not (yet) a receipt.
func receiptState(st gateway.Status) (stat string, state byte, final bool) {
	switch st {
	case gateway.StatusDelivered:
		return "DELIVRD", 2, true
	case gateway.StatusUndelivered, gateway.StatusFailed:
		return "UNDELIV", 5, true
	case gateway.StatusExpired:
		return "EXPIRED", 3, true
	case gateway.StatusRejected, gateway.StatusOptedOut:
		return "REJECTD", 8, true
	case gateway.StatusCanceled:
		return "DELETED", 4, true
	}
	return "", 0, false
}

// wantsReceipt applies registered_delivery's bits 0–1 (§5.2.17): 1 every
// final receipt, 2 failures only, 0 none.
func wantsReceipt(rd int, stat string) bool {
	switch rd & 0x03 {
	case 1:
		return true
	case 2:
		return stat != "DELIVRD"
	}
	return false
}

// receiptErr is the carrier's err: field when the event's detail is its
// receipt text, else 000.
func receiptErr(detail string) string {
	if f, err := smstext.ParseReceipt(detail); err == nil && f.Err != "" && len(f.Err) <= 3 {
		return f.Err
	}
	return "000"
}

// receipt is one delivery receipt as the ESME gets it.
type receipt struct {
	id, stat, err, submitted, done, text string
	state                                byte
	handset, esme                        string // the message's to and from
}

// text is Appendix B's short_message.
func (r receipt) body() string {
	dlvrd := "000"
	if r.stat == "DELIVRD" {
		dlvrd = "001"
	}
	return fmt.Sprintf("id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%s text:%s",
		r.id, dlvrd, r.submitted, r.done, r.stat, r.err, r.text)
}

// pdu is the receipt's deliver_sm: from the handset to the ESME's
// source address, esm_class 0x04, the text and the TLVs
// receipted_message_id and message_state.
func (r receipt) pdu(seq uint32) []byte {
	text := []byte(r.body())
	if len(text) > 254 {
		text = text[:254]
	}
	w := wire.New(wire.CmdDeliverSM, statusOK, seq).CString("")
	ton, npi, addr := smppAddress(r.handset)
	w.Byte(ton).Byte(npi).CString(addr)
	ton, npi, addr = smppAddress(r.esme)
	w.Byte(ton).Byte(npi).CString(addr)
	w.Byte(0x04)                              // esm_class: SMSC delivery receipt
	w.Byte(0).Byte(0).CString("").CString("") // protocol_id, priority_flag, schedule, validity
	w.Byte(0).Byte(0).Byte(0).Byte(0)         // registered_delivery, replace_if_present, data_coding, sm_default_msg_id
	w.Byte(byte(len(text)))
	w.Append([]byte(text))
	w.TLV(tagReceiptedMessageID, append([]byte(r.id), 0))
	w.TLV(tagMessageState, []byte{r.state})
	return w.Done()
}

// smppAddress writes a gateway number as an SMPP address: E.164 as
// international (TON 1, NPI 1, no '+'), other digits as unknown TON with
// ISDN numbering, anything else as alphanumeric (TON 5).
func smppAddress(n string) (ton, npi byte, addr string) {
	switch {
	case strings.HasPrefix(n, "+") && isDigits(n[1:]):
		return 1, 1, n[1:]
	case isDigits(n):
		return 0, 1, n
	}
	return 5, 0, n
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
