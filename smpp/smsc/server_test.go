package smsc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/internal/wire"
)

// client is a raw SMPP peer for the tests: gosmpp PDUs over a net.Conn, so
// every byte the simulator sends is visible.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, s *Server) *client {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *client) write(p pdu.PDU) {
	c.t.Helper()
	if _, err := c.conn.Write(marshal(p)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() pdu.PDU {
	c.t.Helper()
	p, err := c.readErr()
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *client) readErr() (pdu.PDU, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	return pdu.Parse(c.r)
}

func (c *client) bind(t pdu.BindingType, systemID, password string) *pdu.BindResp {
	c.t.Helper()
	b := pdu.NewBindRequest(t)
	b.SystemID, b.Password = systemID, password
	c.write(b)
	resp, ok := c.read().(*pdu.BindResp)
	if !ok {
		c.t.Fatalf("want bind_resp")
	}
	if resp.SequenceNumber != b.SequenceNumber {
		c.t.Fatalf("bind_resp seq %d, want %d", resp.SequenceNumber, b.SequenceNumber)
	}
	return resp
}

func newSubmit(t testing.TB, to, text string, rd byte) *pdu.SubmitSM {
	t.Helper()
	p := pdu.NewSubmitSM().(*pdu.SubmitSM)
	p.SourceAddr = pdu.NewAddressWithTonNpi(5, 0)
	_ = p.SourceAddr.SetAddress("MFI")
	p.DestAddr = pdu.NewAddressWithTonNpi(1, 1)
	_ = p.DestAddr.SetAddress(to)
	p.RegisteredDelivery = rd
	if err := p.Message.SetMessageDataWithEncoding([]byte(text), data.GSM7BIT); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBind(t *testing.T) {
	s := NewServer(WithCredentials("mfi", "secret"))
	defer s.Close()

	for _, bt := range []pdu.BindingType{pdu.Transceiver, pdu.Transmitter, pdu.Receiver} {
		c := dial(t, s)
		if r := c.bind(bt, "mfi", "secret"); r.CommandStatus != data.ESME_ROK {
			t.Fatalf("bind %v: status %v", bt, r.CommandStatus)
		}
	}
	if st := s.Stats(); st.Binds != 3 || st.Bound != 3 {
		t.Fatalf("stats %+v", st)
	}

	tests := []struct {
		bt          pdu.BindingType
		sysID, pass string
		want        data.CommandStatusType
	}{
		{pdu.Transceiver, "mfi", "wrong", data.ESME_RINVPASWD},
		{pdu.Transmitter, "mfi", "wrong", data.ESME_RINVPASWD},
		{pdu.Transceiver, "other", "secret", data.ESME_RINVSYSID},
	}
	for _, tc := range tests {
		c := dial(t, s)
		if r := c.bind(tc.bt, tc.sysID, tc.pass); r.CommandStatus != tc.want {
			t.Errorf("bind %v %s/%s: status %v, want %v", tc.bt, tc.sysID, tc.pass, r.CommandStatus, tc.want)
		}
		if _, err := c.readErr(); !errors.Is(err, io.EOF) {
			t.Errorf("after a refused bind the server should hang up, read: %v", err)
		}
	}
	if st := s.Stats(); st.BindFailures != 3 {
		t.Fatalf("bind failures %d, want 3", st.BindFailures)
	}
}

func TestBindTwiceAndSubmitUnbound(t *testing.T) {
	s := NewServer()
	defer s.Close()
	c := dial(t, s)

	c.write(newSubmit(t, "254712345678", "hi", 0))
	if r := c.read().(*pdu.SubmitSMResp); r.CommandStatus != data.ESME_RINVBNDSTS {
		t.Fatalf("submit before bind: %v", r.CommandStatus)
	}
	c.bind(pdu.Transceiver, "a", "b")
	if r := c.bind(pdu.Transceiver, "a", "b"); r.CommandStatus != data.ESME_RALYBND {
		t.Fatalf("second bind: %v", r.CommandStatus)
	}
	rx := dial(t, s)
	rx.bind(pdu.Receiver, "a", "b")
	rx.write(newSubmit(t, "254712345678", "hi", 0))
	if r := rx.read().(*pdu.SubmitSMResp); r.CommandStatus != data.ESME_RINVBNDSTS {
		t.Fatalf("submit on a receiver: %v", r.CommandStatus)
	}
}

func TestSubmitUniqueIDs(t *testing.T) {
	s := NewServer()
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")

	const n = 200
	seqs := map[int32]bool{}
	for i := 0; i < n; i++ {
		p := newSubmit(t, "254712345678", "hello "+strconv.Itoa(i), 0)
		seqs[p.SequenceNumber] = true
		c.write(p)
	}
	ids := map[string]bool{}
	for i := 0; i < n; i++ {
		r, ok := c.read().(*pdu.SubmitSMResp)
		if !ok || r.CommandStatus != data.ESME_ROK || !seqs[r.SequenceNumber] {
			t.Fatalf("resp %d: %+v", i, r)
		}
		delete(seqs, r.SequenceNumber)
		if ids[r.MessageID] {
			t.Fatalf("duplicate id %q", r.MessageID)
		}
		ids[r.MessageID] = true
	}
	subs := s.Submits()
	if len(subs) != n {
		t.Fatalf("%d submits recorded", len(subs))
	}
	first := subs[0]
	if first.Source != "MFI" || first.SourceTON != 5 || first.Dest != "254712345678" || first.DestTON != 1 ||
		first.DestNPI != 1 || first.SystemID != "mfi" || string(first.ShortMessage) != "hello 0" ||
		first.DataCoding != 0 || !ids[first.MessageID] || first.ReceiptID != first.MessageID {
		t.Fatalf("first submit %+v", first)
	}
	if st := s.Stats(); st.Submits != n || st.SubmitErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSubmitKeepsUDH(t *testing.T) {
	s := NewServer()
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")

	p := newSubmit(t, "254712345678", "", 1)
	p.EsmClass = 0x40
	raw := append([]byte{0x05, 0x00, 0x03, 0x2A, 0x02, 0x01}, "part one"...)
	if err := p.Message.SetMessageDataWithEncoding(raw, data.GSM7BIT); err != nil {
		t.Fatal(err)
	}
	c.write(p)
	c.read()
	got := s.Submits()[0]
	if string(got.ShortMessage) != string(raw) || got.ESMClass != 0x40 || got.RegisteredDelivery != 1 {
		t.Fatalf("submit %+v", got)
	}
	// The receipt's text field skips the UDH.
	d := c.read().(*pdu.DeliverSM)
	text, _ := d.Message.GetMessage()
	if !strings.HasSuffix(text, "text:part one") {
		t.Fatalf("receipt text %q", text)
	}
}

func TestReceipt(t *testing.T) {
	s := NewServer(WithReceiptDelay(0, 0))
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")

	c.write(newSubmit(t, "254712345678", "Your loan is due", 1))
	resp := c.read().(*pdu.SubmitSMResp)
	d, ok := c.read().(*pdu.DeliverSM)
	if !ok {
		t.Fatal("want deliver_sm")
	}
	if d.EsmClass != 0x04 {
		t.Fatalf("esm_class %#x", d.EsmClass)
	}
	if d.SourceAddr.Address() != "254712345678" || d.DestAddr.Address() != "MFI" {
		t.Fatalf("addresses %s → %s", d.SourceAddr.Address(), d.DestAddr.Address())
	}
	text, _ := d.Message.GetMessage()
	for _, want := range []string{"id:" + resp.MessageID + " ", "sub:001 dlvrd:001 submit date:", " stat:DELIVRD err:000 text:Your loan is due"} {
		if !strings.Contains(text, want) {
			t.Errorf("receipt text %q lacks %q", text, want)
		}
	}
	rid := d.OptionalParameters[pdu.TagReceiptedMessageID]
	if rid.String() != resp.MessageID || rid.Data[len(rid.Data)-1] != 0 {
		t.Errorf("receipted_message_id %q", rid.Data)
	}
	if st := d.OptionalParameters[pdu.TagMessageStateOption]; len(st.Data) != 1 || st.Data[0] != 2 {
		t.Errorf("message_state %v", st.Data)
	}
	if st := s.Stats(); st.ReceiptsSent != 1 || st.DeliverResps != 0 {
		t.Fatalf("stats %+v", st)
	}
	r := d.GetResponse().(*pdu.DeliverSMResp)
	r.CommandStatus = data.ESME_RX_T_APPN
	c.write(r)
	testutil.Eventually(t, 5*time.Second, func() error {
		if st := s.Stats(); st.DeliverResps != 1 || st.DeliverRespErrors != 1 {
			return errors.New("deliver_sm_resp not counted")
		}
		return nil
	})
	ds := s.Delivers()
	if len(ds) < 1 || !ds[0].Receipt || !ds[0].Answered || ds[0].Status != 0x64 || ds[0].MessageID != resp.MessageID {
		t.Fatalf("delivers %+v", ds)
	}
	// A refused receipt comes again, like an SMSC's retry; acknowledged, it
	// stops.
	again, ok := c.read().(*pdu.DeliverSM)
	if !ok {
		t.Fatal("want the receipt again")
	}
	if f := again.OptionalParameters[pdu.TagReceiptedMessageID]; f.String() != resp.MessageID {
		t.Fatalf("want the receipt again, got %v", again)
	}
	c.write(again.GetResponse())
	testutil.Eventually(t, 5*time.Second, func() error {
		if st := s.Stats(); st.ReceiptsSent != 2 || st.ReceiptsRedelivered != 1 || st.DeliverResps != 2 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// A receipt the client never answered is sent again when the account binds
// next: what lets a gateway that crashed before storing it catch up.
func TestUnansweredReceiptRedeliveredOnRebind(t *testing.T) {
	s := NewServer(WithReceiptDelay(0, 0))
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")
	c.write(newSubmit(t, "254712345678", "Your loan is due", 1))
	resp := c.read().(*pdu.SubmitSMResp)
	if _, ok := c.read().(*pdu.DeliverSM); !ok {
		t.Fatal("want deliver_sm")
	}
	c.conn.Close() // dies without answering

	testutil.Eventually(t, 5*time.Second, func() error {
		if s.Stats().Bound != 0 {
			return errors.New("session still bound")
		}
		return nil
	})
	c2 := dial(t, s)
	c2.bind(pdu.Transceiver, "mfi", "x")
	d, ok := c2.read().(*pdu.DeliverSM)
	if !ok {
		t.Fatal("want the receipt again after rebind")
	}
	if f := d.OptionalParameters[pdu.TagReceiptedMessageID]; f.String() != resp.MessageID {
		t.Fatalf("want the receipt again after rebind, got %v", d)
	}
	if st := s.Stats(); st.ReceiptsRedelivered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestReceiptOnClosedSessionFollowsOnNextBind sends receipts on a session
// that closed after it was chosen to receive them (a link drop between the
// choice and the send, as receipts timers and submits race in make soak):
// each must wait for the next bind, none stay waiting for an answer the
// dead link cannot give (TestSoak then waited for ever for its message).
func TestReceiptOnClosedSessionFollowsOnNextBind(t *testing.T) {
	s := NewServer()
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")
	s.mu.Lock()
	sessions := s.sessionList()
	s.mu.Unlock()
	if len(sessions) != 1 || !sessions[0].canReceive() {
		t.Fatalf("%d sessions, want the one bound", len(sessions))
	}
	dead := sessions[0]
	dead.close()
	const n = 32
	for i := range n {
		s.sendOn(dead, receipt{systemID: "mfi", id: fmt.Sprint(i), stat: "DELIVRD", errCode: "000",
			from: "254700000001", to: "MFI", submitted: time.Now()})
	}
	s.mu.Lock()
	for _, u := range s.unacked {
		t.Errorf("receipt %s waits for an answer on a closed session", u.receipt.id)
	}
	s.mu.Unlock()

	c2 := dial(t, s)
	c2.bind(pdu.Transceiver, "mfi", "x")
	got := map[string]bool{}
	for range n {
		d, ok := c2.read().(*pdu.DeliverSM)
		if !ok {
			t.Fatalf("want deliver_sm, got %T", d)
		}
		f := d.OptionalParameters[pdu.TagReceiptedMessageID]
		got[f.String()] = true
		c2.write(d.GetResponse())
	}
	if len(got) != n {
		t.Fatalf("%d distinct receipts on the next bind, want %d", len(got), n)
	}
}

func TestReceiptOnlyWhenAsked(t *testing.T) {
	s := NewServer(WithReceiptDelay(0, 0), WithHandler(func(sub *Submit) Action {
		if string(sub.ShortMessage) == "fail" {
			return Action{ReceiptStat: "UNDELIV", ReceiptErr: "001"}
		}
		return Action{}
	}))
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")
	c.write(newSubmit(t, "1", "none", 0)) // no receipt asked
	c.write(newSubmit(t, "1", "ok", 2))   // failure only, and it succeeded
	c.write(newSubmit(t, "1", "fail", 2)) // failure only, and it failed
	var receipts []string
	for len(receipts) < 1 {
		switch p := c.read().(type) {
		case *pdu.DeliverSM:
			text, _ := p.Message.GetMessage()
			receipts = append(receipts, text)
			if st := p.OptionalParameters[pdu.TagMessageStateOption]; st.Data[0] != 5 {
				t.Errorf("message_state %v, want 5 (UNDELIVERABLE)", st.Data)
			}
		}
	}
	if !strings.Contains(receipts[0], "dlvrd:000") || !strings.Contains(receipts[0], "stat:UNDELIV err:001") {
		t.Fatalf("receipt %q", receipts[0])
	}
	if st := s.Stats(); st.ReceiptsSent != 1 {
		t.Fatalf("receipts sent %d", st.ReceiptsSent)
	}
}

func TestReceiptGoesToReceiverOfSameAccount(t *testing.T) {
	s := NewServer(WithReceiptDelay(0, 0))
	defer s.Close()
	other := dial(t, s)
	other.bind(pdu.Receiver, "someone-else", "x")
	rx := dial(t, s)
	rx.bind(pdu.Receiver, "mfi", "x")
	tx := dial(t, s)
	tx.bind(pdu.Transmitter, "mfi", "x")

	tx.write(newSubmit(t, "254712345678", "hi", 1))
	resp := tx.read().(*pdu.SubmitSMResp)
	d := rx.read().(*pdu.DeliverSM)
	if id := d.OptionalParameters[pdu.TagReceiptedMessageID]; id.String() != resp.MessageID {
		t.Fatalf("receipt for %q, want %q", id.String(), resp.MessageID)
	}
}

func TestHexIDs(t *testing.T) {
	s := NewServer(WithIDFormat(IDHexResp), WithReceiptDelay(0, 0))
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")
	c.write(newSubmit(t, "254712345678", "hi", 1))
	resp := c.read().(*pdu.SubmitSMResp)
	d := c.read().(*pdu.DeliverSM)
	hex, err := strconv.ParseUint(resp.MessageID, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	ridField := d.OptionalParameters[pdu.TagReceiptedMessageID]
	rid := ridField.String()
	dec, err := strconv.ParseUint(rid, 10, 64)
	if err != nil || dec != hex || rid == resp.MessageID {
		t.Fatalf("resp id %q (hex), receipt id %q (decimal) should name the same number", resp.MessageID, rid)
	}
	text, _ := d.Message.GetMessage()
	if !strings.HasPrefix(text, "id:"+rid+" ") {
		t.Fatalf("receipt text %q", text)
	}
}

func TestEnquireLinkAndUnbind(t *testing.T) {
	s := NewServer()
	defer s.Close()
	c := dial(t, s)
	e := pdu.NewEnquireLink()
	c.write(e) // answered even before bind
	if r, ok := c.read().(*pdu.EnquireLinkResp); !ok || r.SequenceNumber != e.GetSequenceNumber() {
		t.Fatalf("enquire_link_resp %+v", r)
	}
	c.bind(pdu.Transceiver, "mfi", "x")
	u := pdu.NewUnbind()
	c.write(u)
	if r, ok := c.read().(*pdu.UnbindResp); !ok || r.SequenceNumber != u.GetSequenceNumber() {
		t.Fatalf("unbind_resp %+v", r)
	}
	if _, err := c.readErr(); !errors.Is(err, io.EOF) {
		t.Fatalf("after unbind_resp: %v", err)
	}
	if st := s.Stats(); st.EnquireLinks != 1 {
		t.Fatalf("enquire links %d", st.EnquireLinks)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if s.Stats().Bound != 0 {
			return errors.New("session still bound")
		}
		return nil
	})
}

func TestGarbage(t *testing.T) {
	s := NewServer()
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")

	// An unknown command id: generic_nack with its sequence number, session stays up.
	frame := wire.HeaderOnly(0x00000099, 0, 4242)
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	n, ok := c.read().(*pdu.GenericNack)
	if !ok || n.CommandStatus != data.ESME_RINVCMDID || n.SequenceNumber != 4242 {
		t.Fatalf("generic_nack %+v", n)
	}
	// A truncated submit_sm body: answered with an error, session stays up.
	bad := wire.New(wire.CmdSubmitSM, 0, 4243).Byte(0).Byte(1).Byte(1).Done()
	_, _ = c.conn.Write(bad)
	if r := c.read().(*pdu.SubmitSMResp); r.CommandStatus != data.ESME_RINVMSGLEN || r.SequenceNumber != 4243 {
		t.Fatalf("bad submit_sm answered %+v", r)
	}
	c.write(pdu.NewEnquireLink())
	if _, ok := c.read().(*pdu.EnquireLinkResp); !ok {
		t.Fatal("session should survive an unknown command")
	}
	// An impossible command_length: nack, then hang up (no way to resync).
	frame = wire.HeaderOnly(wire.CmdSubmitSM, 0, 4244)
	frame[0], frame[1], frame[2], frame[3] = 0, 0, 0, 3
	_, _ = c.conn.Write(frame)
	n, ok = c.read().(*pdu.GenericNack)
	if !ok || n.CommandStatus != data.ESME_RINVCMDLEN {
		t.Fatalf("generic_nack %+v", n)
	}
	if _, err := c.readErr(); !errors.Is(err, io.EOF) {
		t.Fatalf("after garbled length: %v", err)
	}
	if st := s.Stats(); st.GenericNacks != 2 {
		t.Fatalf("nacks %d", st.GenericNacks)
	}
}

func TestFaults(t *testing.T) {
	var mu sync.Mutex
	count := 0
	s := NewServer(WithHandler(func(sub *Submit) Action {
		mu.Lock()
		defer mu.Unlock()
		count++
		switch count {
		case 1:
			return Action{Status: uint32(data.ESME_RTHROTTLED)}
		case 2:
			return Action{Drop: true}
		case 3:
			return Action{Delay: 20 * time.Millisecond}
		default:
			return Action{Close: true}
		}
	}))
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")
	p1, p2, p3 := newSubmit(t, "1", "a", 1), newSubmit(t, "1", "b", 1), newSubmit(t, "1", "c", 0)
	c.write(p1)
	c.write(p2)
	c.write(p3)
	r1 := c.read().(*pdu.SubmitSMResp)
	if r1.SequenceNumber != p1.SequenceNumber || r1.CommandStatus != data.ESME_RTHROTTLED || r1.MessageID != "" {
		t.Fatalf("throttled resp %+v", r1)
	}
	r3 := c.read().(*pdu.SubmitSMResp) // p2 is never answered
	if r3.SequenceNumber != p3.SequenceNumber || r3.CommandStatus != 0 {
		t.Fatalf("delayed resp %+v", r3)
	}
	c.write(newSubmit(t, "1", "d", 0))
	if _, err := c.readErr(); err == nil {
		t.Fatal("want the connection closed")
	}
	st := s.Stats()
	if st.Submits != 4 || st.SubmitErrors != 1 || st.Dropped != 2 || st.ReceiptsSent != 0 {
		t.Fatalf("stats %+v", st)
	}
	if subs := s.Submits(); subs[0].Status != 0x58 || subs[0].MessageID != "" || subs[2].MessageID == "" {
		t.Fatalf("submits %+v", subs)
	}
}

func TestMaxInFlight(t *testing.T) {
	s := NewServer(WithHandler(func(*Submit) Action { return Action{Delay: 30 * time.Millisecond} }))
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")
	for i := 0; i < 7; i++ {
		c.write(newSubmit(t, "1", "x", 0))
	}
	for i := 0; i < 7; i++ {
		c.read()
	}
	if got := s.Stats().MaxInFlight; got != 7 {
		t.Fatalf("max in flight %d, want 7", got)
	}
}

func TestMO(t *testing.T) {
	s := NewServer()
	defer s.Close()
	if err := s.SendMO("+254712345678", "22345", "BAL"); !errors.Is(err, ErrNoReceiver) {
		t.Fatalf("MO without receiver: %v", err)
	}
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")

	tests := []struct {
		text string
		dc   byte
	}{
		{"BAL 1234", 0x00},
		{"Salio ¿€?", 0x00}, // GSM 03.38 incl. extension table
		{"Баланс 💰", 0x08},
	}
	for _, tc := range tests {
		if err := s.SendMO("+254712345678", "22345", tc.text); err != nil {
			t.Fatal(err)
		}
		d := c.read().(*pdu.DeliverSM)
		if d.EsmClass != 0 || d.SourceAddr.Address() != "254712345678" || d.SourceAddr.Ton() != 1 ||
			d.DestAddr.Address() != "22345" {
			t.Fatalf("MO %+v", d)
		}
		if dc := d.Message.Encoding().DataCoding(); dc != tc.dc {
			t.Errorf("%q: data_coding %#x, want %#x", tc.text, dc, tc.dc)
		}
		if got, err := d.Message.GetMessage(); err != nil || got != tc.text {
			t.Errorf("MO text %q (%v), want %q", got, err, tc.text)
		}
		c.write(d.GetResponse())
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if st := s.Stats(); st.MOSent != 3 || st.DeliverResps != 3 || st.DeliverRespErrors != 0 {
			return errors.New("MO responses not counted")
		}
		return nil
	})
	if err := s.SendMO("+1", "2", strings.Repeat("x", 300)); err == nil {
		t.Fatal("want an error for an MO longer than one deliver_sm")
	}
}

func TestCloseWhileBound(t *testing.T) {
	s := NewServer()
	clients := []*client{dial(t, s), dial(t, s)}
	for _, c := range clients {
		c.bind(pdu.Transceiver, "mfi", "x")
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, c := range clients {
		if _, err := c.readErr(); err == nil {
			t.Fatal("want the connection closed")
		}
	}
	s.Close() // idempotent
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("listener still open")
	}
	if err := s.SendMO("+1", "2", "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("SendMO after Close: %v", err)
	}
}

func TestKillConnectionsKeepsListening(t *testing.T) {
	s := NewServer()
	defer s.Close()
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")
	s.KillConnections()
	if _, err := c.readErr(); err == nil {
		t.Fatal("want the connection closed")
	}
	c2 := dial(t, s)
	if r := c2.bind(pdu.Transceiver, "mfi", "x"); r.CommandStatus != 0 {
		t.Fatal("rebind refused")
	}
}

func TestListenFixedAddress(t *testing.T) {
	probe := NewUnstartedServer()
	addr := probe.Addr()
	probe.Close()
	s, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Addr() != addr {
		t.Fatalf("addr %s, want %s", s.Addr(), addr)
	}
	dial(t, s).bind(pdu.Transceiver, "mfi", "x")
	if _, err := Listen(addr); err == nil {
		t.Fatal("want an error for an address in use")
	}
}

// BenchmarkServerSubmit measures the simulator alone: one pipelined client
// writing submit_sm and reading the answers.
func BenchmarkServerSubmit(b *testing.B) {
	s := NewServer(WithoutRecording())
	defer s.Close()
	c := dial(b, s)
	c.bind(pdu.Transceiver, "mfi", "x")
	frame := marshal(newSubmit(b, "254712345678", "Your repayment of KES 1,000 is due on 5 May.", 0))

	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(c.conn, 64<<10)
		for i := 0; i < b.N; i++ {
			if _, err := w.Write(frame); err != nil {
				errc <- err
				return
			}
		}
		errc <- w.Flush()
	}()
	for i := 0; i < b.N; i++ {
		if _, err := c.readErr(); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestCarrierFaults covers the simulator's fault options on the wire: throttling, link drops with the receipt on the next bind, receipts
// before responses, id formats and the SMSC's own enquire_link and unbind.
func TestCarrierFaults(t *testing.T) {
	t.Run("throttle", func(t *testing.T) {
		s := NewServer(WithThrottle(1))
		defer s.Close()
		c := dial(t, s)
		c.bind(pdu.Transceiver, "mfi", "x")
		c.write(newSubmit(t, "254700000001", "hi", 1))
		if r := c.read().(*pdu.SubmitSMResp); r.CommandStatus != data.ESME_RTHROTTLED || s.Stats().Throttled != 1 {
			t.Fatalf("status %v", r.CommandStatus)
		}
	})
	t.Run("link drop", func(t *testing.T) {
		s := NewServer(WithLinkDrops(1), WithReceiptDelay(0, 0))
		defer s.Close()
		c := dial(t, s)
		c.bind(pdu.Transceiver, "mfi", "x")
		c.write(newSubmit(t, "254700000001", "hi", 1))
		if _, err := c.readErr(); err == nil {
			t.Fatal("the link survived")
		}
		c2 := dial(t, s)
		c2.bind(pdu.Transceiver, "mfi", "x")
		d, ok := c2.read().(*pdu.DeliverSM)
		if !ok || s.Stats().LinkDrops != 1 || s.Submits()[0].MessageID == "" {
			t.Fatalf("no receipt on the next bind: %T", d)
		}
	})
	t.Run("receipt first and hex receipt ids", func(t *testing.T) {
		s := NewServer(WithReceiptsFirst(1), WithIDFormat(IDHexReceipt))
		defer s.Close()
		c := dial(t, s)
		c.bind(pdu.Transceiver, "mfi", "x")
		c.write(newSubmit(t, "254700000001", "hi", 1))
		if _, ok := c.read().(*pdu.DeliverSM); !ok {
			t.Fatal("the receipt did not come first")
		}
		r, ok := c.read().(*pdu.SubmitSMResp)
		sub := s.Submits()[0]
		if !ok || r.MessageID != sub.MessageID || sub.ReceiptID != strings.ToUpper(strconv.FormatUint(mustUint(t, sub.MessageID), 16)) {
			t.Fatalf("resp %v, ids %q %q", r, sub.MessageID, sub.ReceiptID)
		}
	})
	t.Run("enquire_link and unbind from the SMSC", func(t *testing.T) {
		s := NewServer()
		defer s.Close()
		c := dial(t, s)
		c.bind(pdu.Transceiver, "mfi", "x")
		if s.EnquireLinkClients() != 1 {
			t.Fatal("no bound session")
		}
		e, ok := c.read().(*pdu.EnquireLink)
		if !ok {
			t.Fatal("no enquire_link")
		}
		c.write(e.GetResponse())
		s.UnbindClients()
		u, ok := c.read().(*pdu.Unbind)
		if !ok {
			t.Fatal("no unbind")
		}
		c.write(u.GetResponse())
		testutil.Eventually(t, 5*time.Second, func() error {
			if st := s.Stats(); st.EnquireLinkResps != 1 || st.UnbindResps != 1 || st.Bound != 0 {
				return fmt.Errorf("stats %+v", st)
			}
			return nil
		})
	})
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// MaxBound is the peak of sessions bound at once: what a bind-cap test
// checks against the carrier's limit.
func TestMaxBound(t *testing.T) {
	s := NewServer()
	defer s.Close()
	a, b := dial(t, s), dial(t, s)
	a.bind(pdu.Transceiver, "mfi", "x")
	b.bind(pdu.Transceiver, "mfi", "x")
	a.conn.Close()
	testutil.Eventually(t, 5*time.Second, func() error {
		if st := s.Stats(); st.Bound != 1 {
			return fmt.Errorf("%d bound", st.Bound)
		}
		return nil
	})
	c := dial(t, s)
	c.bind(pdu.Transceiver, "mfi", "x")
	if st := s.Stats(); st.MaxBound != 2 || st.Bound != 2 {
		t.Fatalf("stats %+v: want 2 bound now and at most", st)
	}
}

func TestControlHandlerSendsMO(t *testing.T) {
	s := NewServer()
	defer s.Close()
	h := s.ControlHandler()
	post := func(form string) int {
		req := httptest.NewRequest("POST", "/mo", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post("from=%2B254712345678&to=22555&text=BAL"); code != http.StatusServiceUnavailable {
		t.Errorf("with nobody bound: %d, want 503", code)
	}
	if code := post("from=%2B254712345678&to=22555"); code != http.StatusBadRequest {
		t.Errorf("without text: %d, want 400", code)
	}
}
