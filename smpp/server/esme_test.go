package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"golang.org/x/crypto/bcrypt"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	smppserver "github.com/openmf/smsgw/smpp/server"
	"github.com/openmf/smsgw/smpp/smsc"
)

// wait bounds every wait for an answer: generous, since -race on a busy
// box is slow, and never reached when things work.
const wait = 10 * time.Second

// hash is a bcrypt hash at the lowest cost, so binds stay fast in tests.
func hash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// account is the test account "bank" of tenant mfi-a, password "secret".
func account(t testing.TB) smppserver.Account {
	return smppserver.Account{SystemID: "bank", PasswordHash: hash(t, "secret"), Tenant: "mfi-a"}
}

// gatewayConfig is apptest's gateway with an SMPP server on a free
// loopback port for the accounts, its store under dir.
func gatewayConfig(t testing.TB, simAddr, dir string, sc smppserver.Config) *config.Config {
	t.Helper()
	cfg := apptest.Config(t, simAddr, dir)
	sc.Listen = "127.0.0.1:0"
	cfg.SMPPServer = &sc
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startGateway runs a real gateway (SQLite, bound to a simulator that
// sends receipts at once) with the SMPP server and returns it and the
// server's address.
func startGateway(t testing.TB, sc smppserver.Config, simOpts ...smsc.Option) (*app.App, *smsc.Server, string) {
	t.Helper()
	return startGatewayWith(t, sc, app.Options{}, simOpts...)
}

// startGatewayWith is startGateway with the app's options (a registry).
func startGatewayWith(t testing.TB, sc smppserver.Config, opts app.Options, simOpts ...smsc.Option) (*app.App, *smsc.Server, string) {
	t.Helper()
	sim := smsc.NewServer(append([]smsc.Option{smsc.WithReceiptDelay(0, 5*time.Millisecond)}, simOpts...)...)
	t.Cleanup(sim.Close)
	a := apptest.StartWith(t, gatewayConfig(t, sim.Addr(), t.TempDir(), sc), opts)
	return a, sim, a.SMPPServer().Addr().String()
}

// esme is an ESME built on gosmpp's PDU layer over a plain connection,
// so a test controls every PDU: when it is sent, whether a deliver_sm is
// answered, what garbage goes on the wire.
type esme struct {
	t    testing.TB
	conn net.Conn
	in   chan pdu.PDU
	seen []pdu.PDU // received, not yet taken by next
	wmu  sync.Mutex

	mu       sync.Mutex
	autoAck  bool
	delivers []*pdu.DeliverSM
}

func dial(t testing.TB, addr string) *esme {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e := &esme{t: t, conn: conn, in: make(chan pdu.PDU, 100000), autoAck: true}
	t.Cleanup(func() { _ = conn.Close() })
	go e.read()
	return e
}

func (e *esme) read() {
	defer close(e.in)
	r := bufio.NewReader(e.conn)
	for {
		p, err := pdu.Parse(r)
		if err != nil {
			e.t.Logf("esme read: %v", err)
			return
		}
		if d, ok := p.(*pdu.DeliverSM); ok {
			e.mu.Lock()
			e.delivers = append(e.delivers, d)
			ack := e.autoAck
			e.mu.Unlock()
			if ack {
				e.send(d.GetResponse())
			}
		}
		e.in <- p
	}
}

func (e *esme) setAutoAck(on bool) {
	e.mu.Lock()
	e.autoAck = on
	e.mu.Unlock()
}

func (e *esme) send(p pdu.PDU) {
	buf := pdu.NewBuffer(nil)
	p.Marshal(buf)
	e.write(buf.Bytes())
}

func (e *esme) write(b []byte) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if _, err := e.conn.Write(b); err != nil {
		e.t.Logf("esme write: %v", err)
	}
}

// next returns the first PDU received that match accepts and no earlier
// call took, failing after wait.
func (e *esme) next(match func(pdu.PDU) bool) pdu.PDU {
	e.t.Helper()
	for i, p := range e.seen {
		if match(p) {
			e.seen = append(e.seen[:i], e.seen[i+1:]...)
			return p
		}
	}
	timeout := time.After(wait)
	for {
		select {
		case p, ok := <-e.in:
			if !ok {
				e.t.Fatal("esme: connection closed")
			}
			if match(p) {
				return p
			}
			e.seen = append(e.seen, p)
		case <-timeout:
			e.t.Fatalf("esme: no matching PDU after %v", wait)
		}
	}
}

// answerTo returns the response to the request with sequence number seq.
func (e *esme) answerTo(seq int32) pdu.PDU {
	e.t.Helper()
	return e.next(func(p pdu.PDU) bool { return p.GetSequenceNumber() == seq && !p.CanResponse() })
}

// closed waits for the server to hang up.
func (e *esme) closed() {
	e.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-e.in:
			if !ok {
				return
			}
		case <-timeout:
			e.t.Fatal("esme: the server did not close the connection")
		}
	}
}

func (e *esme) bind(t pdu.BindingType, systemID, password string) data.CommandStatusType {
	e.t.Helper()
	b := pdu.NewBindRequest(t)
	b.SystemID, b.Password, b.SystemType = systemID, password, "test"
	e.send(b)
	return e.answerTo(b.GetSequenceNumber()).GetHeader().CommandStatus
}

// mustBind binds as "bank" and fails the test if refused.
func (e *esme) mustBind(t pdu.BindingType) *esme {
	e.t.Helper()
	if st := e.bind(t, "bank", "secret"); st != data.ESME_ROK {
		e.t.Fatalf("bind: %v", st)
	}
	return e
}

// submitSM builds a submit_sm from the tenant's sender to an
// international number, asking for a receipt.
func submitSM(t testing.TB, to string, sm pdu.ShortMessage) *pdu.SubmitSM {
	t.Helper()
	p := pdu.NewSubmitSM().(*pdu.SubmitSM)
	p.SourceAddr = address(t, 5, 0, "MFI-A")
	p.DestAddr = address(t, 1, 1, to)
	p.Message = sm
	p.RegisteredDelivery = 1
	return p
}

func address(t testing.TB, ton, npi byte, addr string) pdu.Address {
	t.Helper()
	a, err := pdu.NewAddressWithTonNpiAddr(ton, npi, addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func text(t testing.TB, s string) pdu.ShortMessage {
	t.Helper()
	sm, err := pdu.NewShortMessage(s)
	if err != nil {
		t.Fatal(err)
	}
	return sm
}

// submit sends a text and returns its answer.
func (e *esme) submit(to, s string) *pdu.SubmitSMResp {
	e.t.Helper()
	p := submitSM(e.t, to, text(e.t, s))
	e.send(p)
	return e.answerTo(p.GetSequenceNumber()).(*pdu.SubmitSMResp)
}

// receiptFor waits for the receipt whose receipted_message_id is id.
func (e *esme) receiptFor(id string) *pdu.DeliverSM {
	e.t.Helper()
	return e.next(func(p pdu.PDU) bool {
		d, ok := p.(*pdu.DeliverSM)
		return ok && d.EsmClass&0x04 != 0 && receiptedID(d) == id
	}).(*pdu.DeliverSM)
}

func receiptedID(d *pdu.DeliverSM) string {
	f, ok := d.OptionalParameters[pdu.TagReceiptedMessageID]
	if !ok {
		return ""
	}
	return f.String()
}

func messageText(t testing.TB, d *pdu.DeliverSM) string {
	t.Helper()
	s, err := d.Message.GetMessage()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func status(p pdu.PDU) string { return fmt.Sprint(p.GetHeader().CommandStatus) }

// waitDelivered polls until the message is DELIVERED in the store.
func waitDelivered(t testing.TB, get func(context.Context, string, string) (*gateway.Message, error), id string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		m, err := get(context.Background(), "mfi-a", id)
		if err != nil {
			return err
		}
		if m.Status != gateway.StatusDelivered {
			return fmt.Errorf("message %s is %s", id, m.Status)
		}
		return nil
	})
}
