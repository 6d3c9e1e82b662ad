package smpp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/smstext"
)

// fakeSink stores what the pool hands it. With gate set, each call blocks
// until the test sends on gate; with fail set, it refuses.
type fakeSink struct {
	mu       sync.Mutex
	receipts []gateway.Receipt
	inbound  []*gateway.Inbound
	fail     atomic.Bool
	gate     chan struct{}
	entered  chan struct{}
	onEnter  func()
}

func (s *fakeSink) enter() error {
	if s.onEnter != nil {
		s.onEnter()
	}
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.gate != nil {
		<-s.gate
	}
	if s.fail.Load() {
		return errors.New("disk full")
	}
	return nil
}

func (s *fakeSink) HandleReceipts(_ context.Context, rs []gateway.Receipt) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.receipts = append(s.receipts, rs...)
	return nil
}

func (s *fakeSink) HandleInbound(_ context.Context, in []*gateway.Inbound) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inbound = append(s.inbound, in...)
	return nil
}

func (s *fakeSink) Receipts() []gateway.Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gateway.Receipt(nil), s.receipts...)
}

func (s *fakeSink) Inbound() []*gateway.Inbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*gateway.Inbound(nil), s.inbound...)
}

func simConfig(t testing.TB, addr string) Config {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return Config{
		Host: host, Port: port, SystemID: "mfi", Password: "secret",
		ResponseTimeout: 5 * time.Second, RebindInterval: 50 * time.Millisecond,
	}
}

// startPool starts a pool against sim and waits for a bind; it is stopped
// when the test ends.
func startPool(t testing.TB, sim *smsc.Server, sink gateway.Sink, edit func(*Config)) *Pool {
	t.Helper()
	return startPoolWith(t, sim, sink, Options{}, edit)
}

// startPoolWith is startPool with the pool's options; its tenant is mfi-a.
func startPoolWith(t testing.TB, sim *smsc.Server, sink gateway.Sink, opts Options, edit func(*Config)) *Pool {
	t.Helper()
	cfg := simConfig(t, sim.Addr())
	if edit != nil {
		edit(&cfg)
	}
	opts.Tenant = "mfi-a"
	p := newPool(t, "sim", cfg, opts, sink)
	testutil.Eventually(t, 5*time.Second, func() error {
		if !p.Up() {
			return errors.New("pool not up")
		}
		return nil
	})
	return p
}

var msgSeq atomic.Int64

func message(text string) *gateway.Message {
	return &gateway.Message{
		ID:   fmt.Sprintf("0190a1b2-msg-%d", msgSeq.Add(1)),
		From: "MFI", To: "+254712345678", Text: text,
	}
}

func submitOne(t testing.TB, p *Pool, m *gateway.Message) gateway.PartResult {
	t.Helper()
	rs := p.Submit(context.Background(), m, []int{0})
	if len(rs) != 1 {
		t.Fatalf("%d results", len(rs))
	}
	return rs[0]
}

func TestSubmitSinglePart(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, nil)

	r := submitOne(t, p, message("Your loan repayment of KES 1,000 is due."))
	if r.Err != nil || r.Index != 0 {
		t.Fatalf("result %+v", r)
	}
	subs := sim.Submits()
	if len(subs) != 1 {
		t.Fatalf("%d submits", len(subs))
	}
	s := subs[0]
	if r.CarrierID != s.MessageID {
		t.Errorf("carrier id %q, simulator assigned %q", r.CarrierID, s.MessageID)
	}
	if s.Source != "MFI" || s.SourceTON != 5 || s.SourceNPI != 0 {
		t.Errorf("source %q TON %d NPI %d", s.Source, s.SourceTON, s.SourceNPI)
	}
	if s.Dest != "254712345678" || s.DestTON != 1 || s.DestNPI != 1 {
		t.Errorf("dest %q TON %d NPI %d", s.Dest, s.DestTON, s.DestNPI)
	}
	if s.RegisteredDelivery != 1 || s.ESMClass != 0 || s.DataCoding != 0 {
		t.Errorf("registered_delivery %d esm_class %#x data_coding %#x", s.RegisteredDelivery, s.ESMClass, s.DataCoding)
	}
	if string(s.ShortMessage) != "Your loan repayment of KES 1,000 is due." {
		t.Errorf("short_message %q", s.ShortMessage)
	}
}

func TestSourceAddressing(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { ton, npi := 3, 0; c.SourceTON, c.SourceNPI = &ton, &npi })
	for _, from := range []string{"+254700000001", "22345"} {
		m := message("hi")
		m.From = from
		if r := submitOne(t, p, m); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	subs := sim.Submits()
	if s := subs[0]; s.Source != "254700000001" || s.SourceTON != 1 || s.SourceNPI != 1 {
		t.Errorf("international sender: %q %d/%d", s.Source, s.SourceTON, s.SourceNPI)
	}
	if s := subs[1]; s.Source != "22345" || s.SourceTON != 3 || s.SourceNPI != 0 {
		t.Errorf("short code sender: %q %d/%d", s.Source, s.SourceTON, s.SourceNPI)
	}
}

func TestSubmitMultiPart(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, nil)

	tests := []struct {
		name string
		text string
		dc   byte
	}{
		{"gsm7", strings.Repeat("Repay 1000 by Friday. ", 18), 0x00}, // 396 septets: 3 parts
		{"ucs2", strings.Repeat("Малипо 💰 ", 20), 0x08},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			segs, err := smstext.Segment(tc.text, smstext.TextOptions{})
			if err != nil || len(segs.Parts) < 2 {
				t.Fatalf("segments %d, %v", len(segs.Parts), err)
			}
			n := len(segs.Parts)
			m := message(tc.text)
			m.Parts = make([]gateway.Part, n)
			before := len(sim.Submits())
			idx := make([]int, n)
			for i := range idx {
				idx[i] = i
			}
			rs := p.Submit(context.Background(), m, idx)
			ids := map[string]bool{}
			for i, r := range rs {
				if r.Err != nil || r.Index != i || r.CarrierID == "" || ids[r.CarrierID] {
					t.Fatalf("result %d: %+v", i, r)
				}
				ids[r.CarrierID] = true
			}
			subs := sim.Submits()[before:]
			if len(subs) != n {
				t.Fatalf("simulator got %d parts, want %d", len(subs), n)
			}
			ref := subs[0].ShortMessage[3]
			bodies := make([][]byte, n)
			for _, s := range subs {
				if s.ESMClass != 0x40 || s.RegisteredDelivery != 1 || s.DataCoding != tc.dc {
					t.Fatalf("part esm_class %#x registered_delivery %d data_coding %#x", s.ESMClass, s.RegisteredDelivery, s.DataCoding)
				}
				udh := s.ShortMessage[:6]
				if udh[0] != 5 || udh[1] != 0 || udh[2] != 3 || udh[3] != ref || int(udh[4]) != n {
					t.Fatalf("UDH % x (ref %#x, %d parts)", udh, ref, n)
				}
				seq := int(udh[5])
				if seq < 1 || seq > n || bodies[seq-1] != nil {
					t.Fatalf("UDH seq %d", seq)
				}
				bodies[seq-1] = s.ShortMessage[6:]
				if !ids[s.MessageID] {
					t.Fatalf("simulator id %q not among results", s.MessageID)
				}
			}
			for i, b := range bodies {
				if !bytes.Equal(b, segs.Parts[i]) {
					t.Fatalf("part %d body differs from the segmentation", i+1)
				}
			}
		})
	}

	// Only the asked parts go out.
	m := message(tests[0].text)
	before := len(sim.Submits())
	rs := p.Submit(context.Background(), m, []int{2})
	if len(rs) != 1 || rs[0].Err != nil || rs[0].Index != 2 {
		t.Fatalf("results %+v", rs)
	}
	subs := sim.Submits()[before:]
	if len(subs) != 1 || subs[0].ShortMessage[5] != 3 {
		t.Fatalf("want only part 3, got %d submits", len(subs))
	}
}

func TestSubmitRejectsPartMismatch(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	p := startPool(t, sim, nil, nil)

	m := message("short")
	m.Parts = make([]gateway.Part, 2) // the engine counted 2, the text is 1
	for _, r := range p.Submit(context.Background(), m, []int{0, 1}) {
		if !errors.Is(r.Err, ErrPartCount) || gateway.DecisionOf(r.Err) != gateway.Permanent {
			t.Fatalf("result %+v", r)
		}
	}
	m = message("short")
	if r := p.Submit(context.Background(), m, []int{1})[0]; gateway.DecisionOf(r.Err) != gateway.Permanent {
		t.Fatalf("index out of range: %+v", r)
	}
	m = message("")
	if r := submitOne(t, p, m); !errors.Is(r.Err, smstext.ErrEmptyText) || gateway.DecisionOf(r.Err) != gateway.Permanent {
		t.Fatalf("empty text: %+v", r)
	}
	if n := len(sim.Submits()); n != 0 {
		t.Fatalf("simulator got %d submits", n)
	}
}

func TestReceiptAckedOnlyAfterSinkStored(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 0))
	defer sim.Close()
	var respsAtEntry atomic.Int64
	sink := &fakeSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	sink.onEnter = func() { respsAtEntry.Store(sim.Stats().DeliverResps) }
	p := startPool(t, sim, sink, nil)

	r := submitOne(t, p, message("hello"))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	<-sink.entered // the pool is inside HandleReceipts now
	if st := sim.Stats(); st.ReceiptsSent != 1 || st.DeliverResps != 0 || respsAtEntry.Load() != 0 {
		t.Fatalf("deliver_sm answered before the sink returned: %+v", st)
	}
	sink.gate <- struct{}{}
	testutil.Eventually(t, 5*time.Second, func() error {
		if st := sim.Stats(); st.DeliverResps != 1 || st.DeliverRespErrors != 0 {
			return fmt.Errorf("deliver_sm_resp: %+v", st)
		}
		return nil
	})
	rs := sink.Receipts()
	if len(rs) != 1 {
		t.Fatalf("%d receipts", len(rs))
	}
	got := rs[0]
	if got.Carrier != "sim" || got.CarrierID != r.CarrierID || got.Status != gateway.StatusDelivered ||
		got.State != "DELIVRD" || got.Error != "000" || got.Time.IsZero() {
		t.Fatalf("receipt %+v (part id %q)", got, r.CarrierID)
	}
}

func TestSinkErrorNacksDeliver(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 0))
	defer sim.Close()
	sink := &fakeSink{}
	sink.fail.Store(true)
	p := startPool(t, sim, sink, nil)

	if r := submitOne(t, p, message("hello")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if err := sim.SendMO("+254712345678", "22345", "BAL"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		ds := sim.Delivers()
		if len(ds) != 2 {
			return fmt.Errorf("%d deliver_sm", len(ds))
		}
		for _, d := range ds {
			if !d.Answered || d.Status != uint32(data.ESME_RX_T_APPN) {
				return fmt.Errorf("deliver_sm %+v: want ESME_RX_T_APPN", d)
			}
		}
		return nil
	})
	if len(sink.Receipts())+len(sink.Inbound()) != 0 {
		t.Fatal("sink stored something while failing")
	}
}

func TestReceiptVariants(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	sink := &fakeSink{}
	startPool(t, sim, sink, func(c *Config) { c.ReceiptIDFormat = smstext.IDDec })

	send := func(text string, tlvs ...pdu.Field) {
		t.Helper()
		d := pdu.NewDeliverSM().(*pdu.DeliverSM)
		d.EsmClass = 0x04
		if err := d.Message.SetMessageDataWithEncoding([]byte(text), data.GSM7BIT); err != nil {
			t.Fatal(err)
		}
		for _, f := range tlvs {
			d.RegisterOptionalParam(f)
		}
		if err := sim.SendDeliverSM(d); err != nil {
			t.Fatal(err)
		}
	}
	// Text only, zero-padded decimal id, undelivered.
	send("id:0000123 sub:001 dlvrd:000 submit date:2401021504 done date:2401021505 stat:UNDELIV err:034 text:x")
	// TLVs only: the id and state come from them, State is spelled from the TLV.
	send("", pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: []byte("456\x00")},
		pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{StateExpired}})
	// TLV state wins over the text.
	send("id:789 stat:DELIVRD err:000", pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{StateEnroute}})
	// No id anywhere: refused for good.
	send("stat:DELIVRD")

	testutil.Eventually(t, 5*time.Second, func() error {
		if ds := sim.Delivers(); len(ds) != 4 || !ds[3].Answered {
			return errors.New("waiting for the answers")
		}
		return nil
	})
	rs := sink.Receipts()
	if len(rs) != 3 {
		t.Fatalf("receipts %+v", rs)
	}
	want := []gateway.Receipt{
		{Carrier: "sim", CarrierID: "123", Status: gateway.StatusUndelivered, State: "UNDELIV", Error: "034",
			Text: "id:0000123 sub:001 dlvrd:000 submit date:2401021504 done date:2401021505 stat:UNDELIV err:034 text:x",
			Time: time.Date(2024, 1, 2, 15, 5, 0, 0, time.UTC)},
		{Carrier: "sim", CarrierID: "456", Status: gateway.StatusExpired, State: "EXPIRED"},
		{Carrier: "sim", CarrierID: "789", Status: "", State: "DELIVRD", Error: "000", Text: "id:789 stat:DELIVRD err:000"},
	}
	for i, w := range want {
		g := rs[i]
		if w.Time.IsZero() {
			w.Time = g.Time // arrival time
		}
		if !g.Time.Equal(w.Time) {
			t.Errorf("receipt %d time %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("receipt %d: %+v, want %+v", i, g, w)
		}
	}
	ds := sim.Delivers()
	for i, wantStatus := range []uint32{0, 0, 0, uint32(data.ESME_RX_P_APPN)} {
		if ds[i].Status != wantStatus {
			t.Errorf("deliver_sm %d answered %#x, want %#x", i, ds[i].Status, wantStatus)
		}
	}
}

func TestWindowNeverExceeded(t *testing.T) {
	sim := smsc.NewServer(smsc.WithHandler(func(*smsc.Submit) smsc.Action {
		return smsc.Action{Delay: 5 * time.Millisecond}
	}), smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	const window = 4
	p := startPool(t, sim, nil, func(c *Config) { c.Window = window })

	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 60 {
		wg.Go(func() {
			if r := submitOne(t, p, message("hi")); r.Err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	st := sim.Stats()
	if failed.Load() != 0 || st.Submits != 60 {
		t.Fatalf("%d failed, %d submitted", failed.Load(), st.Submits)
	}
	if st.MaxInFlight > window {
		t.Fatalf("simulator saw %d unanswered submit_sm, window is %d", st.MaxInFlight, window)
	}
	if st.MaxInFlight < 2 {
		t.Fatalf("max in flight %d: the window was not used", st.MaxInFlight)
	}
}

func TestCarrierRefusals(t *testing.T) {
	statuses := map[string]uint32{
		"throttle": uint32(data.ESME_RTHROTTLED),
		"baddest":  uint32(data.ESME_RINVDSTADR),
		"nobind":   uint32(data.ESME_RSUBMITFAIL),
	}
	sim := smsc.NewServer(smsc.WithHandler(func(s *smsc.Submit) smsc.Action {
		return smsc.Action{Status: statuses[string(s.ShortMessage)]}
	}))
	defer sim.Close()
	p := startPool(t, sim, nil, nil)

	tests := []struct {
		text string
		want gateway.Decision
		code string
	}{
		{"throttle", gateway.Retry, "ESME_RTHROTTLED"},
		{"baddest", gateway.Permanent, "ESME_RINVDSTADR"},
		{"nobind", gateway.NextRoute, "ESME_RSUBMITFAIL"},
	}
	for _, tc := range tests {
		r := submitOne(t, p, message(tc.text))
		var se *gateway.SubmitError
		var cs CommandStatus
		if !errors.As(r.Err, &se) || se.Decision != tc.want || se.Code != tc.code ||
			!errors.As(r.Err, &cs) || uint32(cs) != statuses[tc.text] || r.CarrierID != "" {
			t.Errorf("%s: %+v (%v)", tc.text, r, r.Err)
		}
	}
}

func TestResponseTimeout(t *testing.T) {
	var drop atomic.Bool
	drop.Store(true)
	sim := smsc.NewServer(smsc.WithHandler(func(*smsc.Submit) smsc.Action { return smsc.Action{Drop: drop.Load()} }))
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { c.ResponseTimeout = 100 * time.Millisecond })

	for range 3 {
		r := submitOne(t, p, message("hi"))
		if !errors.Is(r.Err, ErrResponseTimeout) || gateway.DecisionOf(r.Err) != gateway.Retry {
			t.Fatalf("result %+v", r)
		}
	}
	if !p.Up() {
		t.Fatal("a timeout alone should not drop the bind")
	}
	// The waits of the timed-out submits are reused (their timers fired):
	// each later submit gets its own answer, none a stale timeout.
	drop.Store(false)
	ids := make(chan string, 40)
	var wg sync.WaitGroup
	for range cap(ids) {
		wg.Go(func() {
			r := submitOne(t, p, message("again"))
			if r.Err != nil {
				t.Errorf("after the timeouts: %v", r.Err)
			}
			ids <- r.CarrierID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if id == "" || seen[id] {
			t.Errorf("carrier id %q empty or given twice", id)
		}
		seen[id] = true
	}
}

func TestConnectionKilledFailsPendingAndRebinds(t *testing.T) {
	var hold atomic.Bool
	hold.Store(true)
	arrived := make(chan struct{}, 1)
	sim := smsc.NewServer(smsc.WithHandler(func(*smsc.Submit) smsc.Action {
		if hold.Load() {
			arrived <- struct{}{}
			return smsc.Action{Drop: true}
		}
		return smsc.Action{}
	}), smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { c.ResponseTimeout = 30 * time.Second })

	res := make(chan gateway.PartResult, 1)
	start := time.Now()
	go func() { res <- submitOne(t, p, message("hi")) }()
	<-arrived
	sim.KillConnections()
	r := <-res
	if !errors.Is(r.Err, ErrConnectionLost) || gateway.DecisionOf(r.Err) != gateway.Retry {
		t.Fatalf("result %+v", r)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the pending submit waited for its timeout instead of failing with the link")
	}
	hold.Store(false)
	testutil.Eventually(t, 10*time.Second, func() error {
		if !p.Up() {
			return errors.New("not rebound")
		}
		if r := submitOne(t, p, message("again")); r.Err != nil {
			return r.Err
		}
		return nil
	})
	if st := sim.Stats(); st.Binds < 2 {
		t.Fatalf("binds %d, want a rebind", st.Binds)
	}
}

// The SMSC is not answering when the pool starts (it listens but accepts
// nothing, so no other process can take its port meanwhile): Start still
// succeeds, submits fail with a Retry, and the pool binds once it answers.
func TestSMSCDownAtStart(t *testing.T) {
	sim := smsc.NewUnstartedServer()
	defer sim.Close()

	p, err := NewPool("sim", simConfig(t, sim.Addr()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(&fakeSink{}); err != nil {
		t.Fatalf("Start must not fail while the SMSC is down: %v", err)
	}
	defer func() { _ = p.Stop(context.Background()) }()
	if p.Up() {
		t.Fatal("up without an SMSC")
	}
	if r := submitOne(t, p, message("hi")); !errors.Is(r.Err, ErrNotBound) || gateway.DecisionOf(r.Err) != gateway.Retry {
		t.Fatalf("submit while down: %+v", r)
	}

	sim.Start()
	testutil.Eventually(t, 20*time.Second, func() error {
		if !p.Up() {
			return errors.New("not bound yet")
		}
		return nil
	})
	if r := submitOne(t, p, message("hi")); r.Err != nil {
		t.Fatal(r.Err)
	}
}

func TestBadCredentialsNeverUp(t *testing.T) {
	sim := smsc.NewServer(smsc.WithCredentials("mfi", "right"))
	defer sim.Close()
	p, err := NewPool("sim", simConfig(t, sim.Addr()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(&fakeSink{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if sim.Stats().BindFailures < 2 {
			return errors.New("no retried bind yet")
		}
		return nil
	})
	if p.Up() {
		t.Fatal("up with a wrong password")
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMO(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	sink := &fakeSink{}
	startPool(t, sim, sink, nil)

	texts := []string{"BAL", "Salio ¿€?", "Баланс 💰"}
	for _, text := range texts {
		if err := sim.SendMO("+254712345678", "22345", text); err != nil {
			t.Fatal(err)
		}
	}
	// A lone-part UDH message (1 of 1) is a whole message.
	part := pdu.NewDeliverSM().(*pdu.DeliverSM)
	part.SourceAddr = pdu.NewAddressWithTonNpi(1, 1)
	_ = part.SourceAddr.SetAddress("254712345678")
	_ = part.DestAddr.SetAddress("22345")
	part.EsmClass = 0x40
	if err := part.Message.SetMessageDataWithEncoding(append(smstext.ConcatUDH(7, 1, 1), "DUE 42"...), data.GSM7BIT); err != nil {
		t.Fatal(err)
	}
	if err := sim.SendDeliverSM(part); err != nil {
		t.Fatal(err)
	}
	texts = append(texts, "DUE 42")
	// Binary and unknown data codings cannot be stored as text.
	for _, enc := range []data.Encoding{data.BINARY8BIT2, data.NewCustomEncoding(0x11, nil)} {
		d := pdu.NewDeliverSM().(*pdu.DeliverSM)
		_ = d.SourceAddr.SetAddress("254712345678")
		if err := d.Message.SetMessageDataWithEncoding([]byte{0xDE, 0xAD}, enc); err != nil {
			t.Fatal(err)
		}
		if err := sim.SendDeliverSM(d); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if st := sim.Stats(); st.DeliverResps != 6 {
			return fmt.Errorf("%d deliver_sm_resp", st.DeliverResps)
		}
		return nil
	})
	in := sink.Inbound()
	if len(in) != len(texts) {
		t.Fatalf("%d inbound", len(in))
	}
	for i, m := range in {
		if m.Text != texts[i] || m.From != "+254712345678" || m.To != "22345" || m.Tenant != "mfi-a" ||
			m.Carrier != "sim" || m.ReceivedAt.IsZero() {
			t.Errorf("inbound %d: %+v", i, m)
		}
	}
	for i, d := range sim.Delivers() {
		want := uint32(0)
		if i >= 4 {
			want = uint32(data.ESME_RX_P_APPN)
		}
		if d.Status != want {
			t.Errorf("deliver_sm %d answered %#x, want %#x", i, d.Status, want)
		}
	}
}

func TestHexSubmitIDsMatchDecimalReceipts(t *testing.T) {
	sim := smsc.NewServer(smsc.WithIDFormat(smsc.IDHexResp), smsc.WithReceiptDelay(0, 0))
	defer sim.Close()
	sink := &fakeSink{}
	p := startPool(t, sim, sink, func(c *Config) { c.SubmitIDFormat, c.ReceiptIDFormat = smstext.IDHex, smstext.IDDec })

	r := submitOne(t, p, message("hi"))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if raw := sim.Submits()[0].MessageID; raw == r.CarrierID {
		t.Fatalf("the simulator's hex id %q should differ from the normalized one", raw)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(sink.Receipts()) != 1 {
			return errors.New("no receipt")
		}
		return nil
	})
	if got := sink.Receipts()[0].CarrierID; got != r.CarrierID {
		t.Fatalf("receipt id %q does not match the part's %q", got, r.CarrierID)
	}
}

func TestStopDrainsInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	sim := smsc.NewServer(smsc.WithHandler(func(*smsc.Submit) smsc.Action {
		arrived <- struct{}{}
		return smsc.Action{Delay: 100 * time.Millisecond}
	}), smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, nil)

	res := make(chan gateway.PartResult, 1)
	go func() { res <- submitOne(t, p, message("hi")) }()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r.Err != nil {
			t.Fatalf("in-flight submit should have completed: %v", r.Err)
		}
	default:
		t.Fatal("Stop returned before the in-flight submit finished")
	}
	if p.Up() {
		t.Fatal("up after Stop")
	}
	if r := submitOne(t, p, message("late")); !errors.Is(r.Err, ErrStopped) {
		t.Fatalf("submit after Stop: %+v", r)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if sim.Stats().Bound != 0 {
			return errors.New("still bound at the SMSC")
		}
		return nil
	})
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestStopBoundedByContext(t *testing.T) {
	arrived := make(chan struct{}, 1)
	sim := smsc.NewServer(smsc.WithHandler(func(*smsc.Submit) smsc.Action {
		arrived <- struct{}{}
		return smsc.Action{Drop: true}
	}))
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { c.ResponseTimeout = 30 * time.Second })

	res := make(chan gateway.PartResult, 1)
	go func() { res <- submitOne(t, p, message("hi")) }()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v", err)
	}
	r := <-res
	if !errors.Is(r.Err, ErrStopped) || gateway.DecisionOf(r.Err) != gateway.Retry {
		t.Fatalf("pending submit after Stop: %+v", r)
	}
}

func TestSeveralBindsAndTPS(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	clock := newFakeClock()
	p := startPoolWith(t, sim, nil, Options{clock: clock}, func(c *Config) { c.Binds = 3; c.TPS = 100 })
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := sim.Stats().Bound; n != 3 {
			return fmt.Errorf("%d binds", n)
		}
		return nil
	})
	if p.Window() != 3*DefaultWindow {
		t.Fatalf("window %d", p.Window())
	}
	start := clock.now()
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if r := submitOne(t, p, message("hi")); r.Err != nil {
				t.Error(r.Err)
			}
		})
	}
	wg.Wait()
	// 40 submits at 100/s with a burst of 10 need at least 0.3 s of the
	// pool's clock.
	if el := clock.since(start); el < 250*time.Millisecond {
		t.Fatalf("40 submits at tps 100 took only %v", el)
	}
}

func TestMetrics(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 0), smsc.WithHandler(func(s *smsc.Submit) smsc.Action {
		if string(s.ShortMessage) == "bad" {
			return smsc.Action{Status: uint32(data.ESME_RINVDSTADR)}
		}
		return smsc.Action{}
	}))
	defer sim.Close()
	reg := prometheus.NewRegistry()
	cfg := simConfig(t, sim.Addr())
	p, err := NewPool("sim", cfg, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	// A second pool with the same carrier name on the same registry must not panic.
	if _, err := NewPool("sim", cfg, Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(&fakeSink{}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop(context.Background()) }()
	testutil.Eventually(t, 5*time.Second, func() error {
		if !p.Up() {
			return errors.New("not up")
		}
		return nil
	})
	submitOne(t, p, message("good"))
	submitOne(t, p, message("bad"))
	if err := sim.SendMO("+254712345678", "22345", "BAL"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if sim.Stats().DeliverResps != 2 {
			return errors.New("waiting for acks")
		}
		return nil
	})
	checks := []struct {
		name string
		c    prometheus.Metric
		want float64
	}{
		{"ok", p.m.submitOK, 1},
		{"permanent", p.m.submitPerm, 1},
		{"binds_up", p.m.bindsUp, 1},
		{"window", p.m.window, 0},
		{"receipts", p.m.receipts, 1},
		{"inbound", p.m.inbound, 1},
	}
	for _, c := range checks {
		if got := value(t, c.c); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 10 {
		t.Errorf("%d metric families registered, want 10", len(mfs))
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
}

// value reads a counter or gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// BenchmarkSubmit drives a pool (2 binds, window 100 each) against the
// simulator on loopback with many concurrent callers and reports parts/s.
func BenchmarkSubmit(b *testing.B) {
	sim := smsc.NewServer(smsc.WithoutRecording(), smsc.WithReceiptDelay(0, time.Millisecond))
	defer sim.Close()
	sink := &fakeSink{}
	p := startPool(b, sim, sink, func(c *Config) { c.Binds = 2; c.Window = 100 })
	m := message("Your repayment of KES 1,000 is due on 5 May. Reply BAL for your balance.")

	b.SetParallelism(64) // GOMAXPROCS × 64 callers, like the engine's dispatchers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := p.Submit(context.Background(), m, []int{0}); r[0].Err != nil {
				b.Error(r[0].Err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
