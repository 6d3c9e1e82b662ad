package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"golang.org/x/crypto/bcrypt"

	"github.com/openmf/smsgw/smpp/smsc"
)

// esmeConn is a bare ESME for the crash test: PDUs written and read one at
// a time on a loopback connection.
type esmeConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialESME(t *testing.T, addr string) *esmeConn {
	t.Helper()
	var conn net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for { // the restarted gateway may not listen yet
		var err error
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("dial the SMPP server: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e := &esmeConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	b := pdu.NewBindRequest(pdu.Transceiver)
	b.SystemID, b.Password = "bank", "secret"
	e.write(b)
	if resp := e.read(); resp.GetHeader().CommandStatus != data.ESME_ROK {
		t.Fatalf("bind: %v", resp.GetHeader().CommandStatus)
	}
	return e
}

func (e *esmeConn) write(p pdu.PDU) {
	e.t.Helper()
	buf := pdu.NewBuffer(nil)
	p.Marshal(buf)
	if _, err := e.conn.Write(buf.Bytes()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *esmeConn) read() pdu.PDU {
	e.t.Helper()
	_ = e.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	p, err := pdu.Parse(e.r)
	if err != nil {
		e.t.Fatalf("read a PDU: %v", err)
	}
	return p
}

// TestSMPPServerReceiptSurvivesCrash: an application's message is accepted
// through smsgw's SMPP server, smsgw is killed (SIGKILL) before the
// carrier's receipt comes back, and after a restart on the same store the
// application, bound again, gets the receipt naming the id it was given.
func TestSMPPServerReceiptSurvivesCrash(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(3*time.Second, 3*time.Second))
	defer sim.Close()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0") // a free port for both runs
	if err != nil {
		t.Fatal(err)
	}
	smppAddr := free.Addr().String()
	free.Close()
	path := writeConfig(t, dir, sim.Addr(), 8)
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg = fmt.Appendf(cfg, "smpp_server:\n  listen: %q\n  accounts:\n    - {system_id: bank, password_hash: %q, tenant: default}\n", smppAddr, hash)
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}

	first, _ := startGateway(t, path)
	e := dialESME(t, smppAddr)
	sub := pdu.NewSubmitSM().(*pdu.SubmitSM)
	_ = sub.SourceAddr.SetAddress("MFI")
	sub.DestAddr.SetTon(1)
	sub.DestAddr.SetNpi(1)
	_ = sub.DestAddr.SetAddress("254712345678")
	sm, err := pdu.NewShortMessage("Your repayment is due tomorrow")
	if err != nil {
		t.Fatal(err)
	}
	sub.Message = sm
	sub.RegisteredDelivery = 1
	e.write(sub)
	resp, ok := e.read().(*pdu.SubmitSMResp)
	if !ok || resp.CommandStatus != data.ESME_ROK || resp.MessageID == "" {
		t.Fatalf("submit_sm_resp %+v", resp)
	}
	// Accepted and answered: kill smsgw before the carrier's receipt.
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if st := sim.Stats(); st.ReceiptsSent != 0 {
		t.Fatalf("the carrier sent %d receipts before the kill; the test wants none", st.ReceiptsSent)
	}

	startGateway(t, path)
	e = dialESME(t, smppAddr)
	for {
		switch p := e.read().(type) {
		case *pdu.DeliverSM:
			e.write(p.GetResponse())
			id := p.OptionalParameters[pdu.TagReceiptedMessageID]
			if p.EsmClass&0x04 == 0 || string(trimNUL(id.Data)) != resp.MessageID {
				t.Fatalf("deliver_sm esm_class %#x receipted_message_id %q, want the receipt of %q", p.EsmClass, id.Data, resp.MessageID)
			}
			return
		case *pdu.EnquireLink:
			e.write(p.GetResponse())
		}
	}
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
