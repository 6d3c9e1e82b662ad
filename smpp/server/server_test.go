package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/internal/testutil"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// TestSubmitAndReceipt binds a transceiver, sends a text and gets its
// receipt: submit_sm_resp carries smsgw's message id, the message is
// stored as sent, and the receipt names that id in its text and TLVs.
func TestSubmitAndReceipt(t *testing.T) {
	a, sim, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{account(t)}})
	e := dial(t, addr).mustBind(pdu.Transceiver)
	resp := e.submit("254712345678", "Your loan repayment of KES 500 is due")
	if resp.CommandStatus != data.ESME_ROK || resp.MessageID == "" {
		t.Fatalf("submit_sm_resp: %v %q", resp.CommandStatus, resp.MessageID)
	}
	m, err := a.Engine().Get(context.Background(), "mfi-a", resp.MessageID)
	if err != nil {
		t.Fatalf("the id answered is not smsgw's: %v", err)
	}
	if m.To != "+254712345678" || m.Text != "Your loan repayment of KES 500 is due" || m.From != "MFI-A" {
		t.Errorf("stored %q → %q: %q", m.From, m.To, m.Text)
	}
	d := e.receiptFor(resp.MessageID)
	body := messageText(t, d)
	for _, want := range []string{"id:" + resp.MessageID + " ", "sub:001 dlvrd:001 ", "stat:DELIVRD err:000 text:Your loan repayment "} {
		if !strings.Contains(body, want) {
			t.Errorf("receipt text %q lacks %q", body, want)
		}
	}
	if st := d.OptionalParameters[pdu.TagMessageStateOption].Data; len(st) != 1 || st[0] != 2 {
		t.Errorf("message_state %v, want [2] (DELIVERED)", st)
	}
	if d.SourceAddr.Address() != "254712345678" || d.DestAddr.Address() != "MFI-A" {
		t.Errorf("receipt from %q to %q", d.SourceAddr.Address(), d.DestAddr.Address())
	}
	if n := len(sim.Submits()); n != 1 {
		t.Errorf("the carrier got %d submits, want 1", n)
	}
}

// TestSubmitRefusals: what the gateway refuses is answered with the
// status naming the field, and nothing is stored.
func TestSubmitRefusals(t *testing.T) {
	_, _, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{account(t)}})
	e := dial(t, addr).mustBind(pdu.Transmitter)
	if r := e.submit("12", "hello"); r.CommandStatus != data.ESME_RINVDSTADR {
		t.Errorf("bad number: %v, want ESME_RINVDSTADR", r.CommandStatus)
	}
	p := submitSM(t, "254712345678", text(t, "hello"))
	p.SourceAddr = address(t, 5, 0, "NOT-MINE")
	e.send(p)
	if r := e.answerTo(p.GetSequenceNumber()); r.GetHeader().CommandStatus != data.ESME_RINVSRCADR {
		t.Errorf("a sender not the tenant's: %v, want ESME_RINVSRCADR", status(r))
	}
	e2 := dial(t, addr)
	if st := e2.bind(pdu.Receiver, "bank", "secret"); st != data.ESME_ROK {
		t.Fatal(st)
	}
	if resp := e2.submit("254712345678", "hello"); resp.CommandStatus != data.ESME_RINVBNDSTS {
		t.Errorf("submit on a receiver: %v, want ESME_RINVBNDSTS", resp.CommandStatus)
	}
}

// TestBindRefusals: a wrong password and an unknown system_id get the
// same ESME_RINVPASWD; past the back-off's free failures even the right
// password is refused for a while; allow_ip and max_binds refuse too.
func TestBindRefusals(t *testing.T) {
	acc := account(t)
	acc.MaxBinds = 1
	other := smppserver.Account{SystemID: "far", PasswordHash: hash(t, "pw"), Tenant: "mfi-a", AllowIP: []string{"10.0.0.0/8"}}
	_, _, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{acc, other}})

	first := dial(t, addr).mustBind(pdu.Transceiver)
	e := dial(t, addr)
	if st := e.bind(pdu.Transmitter, "bank", "secret"); st != data.ESME_RBINDFAIL {
		t.Errorf("a bind over max_binds: %v, want ESME_RBINDFAIL", st)
	}
	if st := dial(t, addr).bind(pdu.Transceiver, "far", "pw"); st != data.ESME_RBINDFAIL {
		t.Errorf("a bind from outside allow_ip: %v, want ESME_RBINDFAIL", st)
	}
	for i, c := range []struct{ id, pw string }{{"bank", "wrong"}, {"nobody", "secret"}} {
		e := dial(t, addr)
		if st := e.bind(pdu.Transceiver, c.id, c.pw); st != data.ESME_RINVPASWD {
			t.Errorf("%d: %v, want ESME_RINVPASWD", i, st)
		}
		e.closed()
	}
	// Three more wrong passwords make five: the next attempt backs off.
	for range 3 {
		dial(t, addr).bind(pdu.Transceiver, "bank", "wrong")
	}
	first.send(pdu.NewUnbind())
	first.closed()
	if st := dial(t, addr).bind(pdu.Transceiver, "bank", "secret"); st != data.ESME_RINVPASWD {
		t.Errorf("the right password while backing off: %v, want ESME_RINVPASWD", st)
	}
}

// TestEnquireLinkAndUnbind: enquire_link is answered; unbind is answered
// and the connection closed.
func TestEnquireLinkAndUnbind(t *testing.T) {
	_, _, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{account(t)}})
	e := dial(t, addr).mustBind(pdu.Transceiver)
	el := pdu.NewEnquireLink()
	e.send(el)
	if _, ok := e.answerTo(el.GetSequenceNumber()).(*pdu.EnquireLinkResp); !ok {
		t.Error("enquire_link not answered with enquire_link_resp")
	}
	u := pdu.NewUnbind()
	e.send(u)
	if _, ok := e.answerTo(u.GetSequenceNumber()).(*pdu.UnbindResp); !ok {
		t.Error("unbind not answered with unbind_resp")
	}
	e.closed()
}

// TestMORouted: an inbound message to the account's shortcode reaches
// its receiver bind as deliver_sm, and stays until acknowledged (a
// second bind gets it again after the first left it unanswered).
func TestMORouted(t *testing.T) {
	acc := smppserver.Account{SystemID: "reseller", PasswordHash: hash(t, "pw"), Tenant: "mfi-b",
		MO: &smppserver.MORoute{Shortcodes: []string{"22555"}}}
	_, sim, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{acc}})
	e := dial(t, addr)
	if st := e.bind(pdu.Receiver, "reseller", "pw"); st != data.ESME_ROK {
		t.Fatal(st)
	}
	e.setAutoAck(false)
	if err := sim.SendMO("+255712345678", "22555", "JOIN savings group"); err != nil {
		t.Fatal(err)
	}
	isMO := func(p pdu.PDU) bool { d, ok := p.(*pdu.DeliverSM); return ok && d.EsmClass&0x04 == 0 }
	d := e.next(isMO).(*pdu.DeliverSM)
	if got := messageText(t, d); got != "JOIN savings group" || d.SourceAddr.Address() != "255712345678" || d.DestAddr.Address() != "22555" {
		t.Errorf("MO %q from %q to %q", got, d.SourceAddr.Address(), d.DestAddr.Address())
	}
	e.send(pdu.NewUnbind())
	e.closed()
	again := dial(t, addr)
	if st := again.bind(pdu.Transceiver, "reseller", "pw"); st != data.ESME_ROK {
		t.Fatal(st)
	}
	if got := messageText(t, again.next(isMO).(*pdu.DeliverSM)); got != "JOIN savings group" {
		t.Errorf("redelivered MO %q", got)
	}
}

// TestLogsMaskNumbers: at info and above, the server's logs never carry a
// full phone number or a message body, whatever the ESME sent.
func TestLogsMaskNumbers(t *testing.T) {
	logs := &testutil.Logs{}
	_, _, addr := startGatewayWith(t, smppserver.Config{Accounts: []smppserver.Account{account(t)}}, app.Options{Logger: logs.Logger()})
	e := dial(t, addr).mustBind(pdu.Transceiver)
	const bad, good, body = "25471234567890123", "254712345678", "secret balance 1234"
	if r := e.submit(bad, body); r.CommandStatus != data.ESME_RINVDSTADR {
		t.Fatalf("an impossible number: %v", r.CommandStatus)
	}
	r := e.submit(good, body)
	e.receiptFor(r.MessageID)
	if _, ok := logs.Find("smpp submit refused"); !ok {
		t.Fatal("the refusal was not logged")
	}
	for line := range strings.SplitSeq(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["level"] == "DEBUG" {
			continue
		}
		for _, secret := range []string{bad, good, body} {
			if strings.Contains(line, secret) {
				t.Errorf("an info record carries %q: %s", secret, line)
			}
		}
	}
}
