package server_test

import (
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	smppserver "github.com/openmf/smsgw/smpp/server"
)

// udhPart is part seq of total of a concatenated message with reference
// ref, as an ESME that segments itself sends it.
func udhPart(t testing.TB, ref byte, total, seq int, body string) *pdu.SubmitSM {
	t.Helper()
	p := submitSM(t, "254712345678", pdu.ShortMessage{})
	sm, err := pdu.NewBinaryShortMessageWithEncoding(append([]byte{5, 0, 3, ref, byte(total), byte(seq)}, body...), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Message = sm
	p.EsmClass = 0x40
	return p
}

// TestWindow: with a window of 2, two parts of messages that wait for
// their other parts fill the bind's window, so the next submit is
// answered ESME_RTHROTTLED; once the reassembly wait passes, the held
// parts go on their own and are answered with ids.
func TestWindow(t *testing.T) {
	acc := account(t)
	acc.Window = 2
	_, sim, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{acc}, ReassemblyWait: 300 * time.Millisecond})
	e := dial(t, addr).mustBind(pdu.Transceiver)
	held := []*pdu.SubmitSM{udhPart(t, 1, 2, 1, "first half of one"), udhPart(t, 2, 2, 1, "first half of two")}
	for _, p := range held {
		e.send(p)
	}
	p := submitSM(t, "254712345678", text(t, "over the window"))
	e.send(p)
	if r := e.answerTo(p.GetSequenceNumber()); r.GetHeader().CommandStatus != data.ESME_RTHROTTLED {
		t.Fatalf("a submit over the window: %s, want ESME_RTHROTTLED", status(r))
	}
	for _, p := range held {
		r := e.answerTo(p.GetSequenceNumber()).(*pdu.SubmitSMResp)
		if r.CommandStatus != data.ESME_ROK || r.MessageID == "" {
			t.Errorf("a part held past the wait: %v %q, want accepted on its own", r.CommandStatus, r.MessageID)
		}
		e.receiptFor(r.MessageID)
	}
	if r := e.submit("254712345678", "the window is free again"); r.CommandStatus != data.ESME_ROK {
		t.Errorf("after the window drained: %v", r.CommandStatus)
	}
	// The held parts reached the carrier with their UDH, so the handset
	// still joins them.
	n := 0
	for _, s := range sim.Submits() {
		if s.ESMClass&0x40 != 0 && len(s.ShortMessage) > 6 && s.ShortMessage[1] == 0 {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d parts reached the carrier with their UDH, want 2", n)
	}
}

// TestThrottle: the account's rate answers the submit over it
// ESME_RTHROTTLED and stores nothing of it.
func TestThrottle(t *testing.T) {
	acc := account(t)
	acc.Rate, acc.Burst = 0.001, 2
	_, sim, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{acc}})
	e := dial(t, addr).mustBind(pdu.Transceiver)
	var ids []string
	for i := range 3 {
		r := e.submit("254712345678", "hello")
		switch {
		case i < 2 && r.CommandStatus != data.ESME_ROK:
			t.Fatalf("submit %d within the burst: %v", i, r.CommandStatus)
		case i == 2 && r.CommandStatus != data.ESME_RTHROTTLED:
			t.Fatalf("submit over the rate: %v, want ESME_RTHROTTLED", r.CommandStatus)
		case i < 2:
			ids = append(ids, r.MessageID)
		}
	}
	for _, id := range ids {
		e.receiptFor(id)
	}
	if n := len(sim.Submits()); n != 2 {
		t.Errorf("the carrier got %d messages, want the 2 accepted", n)
	}
}
