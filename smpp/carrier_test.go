package smpp

// Tests of the carrier-grade behaviour, one group per area (bind pool, flow
// control, link health, text, long messages, receipts, MO reassembly,
// addresses), each against the simulator over loopback.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/smstext"
)

// newPool builds and starts a pool without waiting for it to bind.
func newPool(t testing.TB, name string, cfg Config, opts Options, sink gateway.Sink) *Pool {
	t.Helper()
	if sink == nil {
		sink = &fakeSink{}
	}
	p, err := NewPool(name, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Stop(ctx)
	})
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() error {
		if !cond() {
			return errors.New(what)
		}
		return nil
	})
}

// Bind pool.

func TestBindParameters(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	startPool(t, sim, nil, func(c *Config) {
		c.Binds, c.SystemType, c.AddressRange = 3, "VMA", "^22345$"
	})
	waitFor(t, "3 binds", func() bool { return sim.Stats().Bound == 3 })
	for _, b := range sim.Binds() {
		if b.Type != "transceiver" || b.SystemID != "mfi" || b.SystemType != "VMA" || b.InterfaceVersion != 0x34 ||
			b.AddressRange != "^22345$" {
			t.Errorf("bind %+v", b)
		}
	}
}

func TestTransmitterReceiverPairs(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 0))
	defer sim.Close()
	sink := &fakeSink{}
	host, port, _ := net.SplitHostPort(sim.Addr())
	p := startPool(t, sim, sink, func(c *Config) {
		c.Bind, c.Binds = BindPair, 2
		c.ReceiverHost = host
		c.ReceiverPort, _ = strconv.Atoi(port)
		c.Host = "localhost" // the transmitters dial by name, the receivers by address
	})
	waitFor(t, "2 transmitters and 2 receivers", func() bool { return sim.Stats().Bound == 4 })
	types := map[string]int{}
	for _, b := range sim.Binds() {
		types[b.Type]++
	}
	if types["transmitter"] != 2 || types["receiver"] != 2 || types["transceiver"] != 0 {
		t.Fatalf("binds %v", types)
	}
	r := submitOne(t, p, message("pair"))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	waitFor(t, "receipt on the receiver", func() bool { return len(sink.Receipts()) == 1 })
	waitFor(t, "receipt acknowledged", func() bool { return sim.Stats().DeliverResps == 1 })
	if got := sink.Receipts()[0].CarrierID; got != r.CarrierID {
		t.Fatalf("receipt %q for %q", got, r.CarrierID)
	}
}

// selfSigned writes a CA-less self-signed certificate for name and
// 127.0.0.1 to dir and returns the server's TLS config and the PEM path.
func selfSigned(t *testing.T, name string) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, path
}

func TestTLS(t *testing.T) {
	srvTLS, caFile := selfSigned(t, "smsc.test")
	sim := smsc.NewServer(smsc.WithTLS(srvTLS))
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { c.TLS, c.CAFile, c.ServerName = true, caFile, "smsc.test" })
	if r := submitOne(t, p, message("over TLS")); r.Err != nil {
		t.Fatal(r.Err)
	}

	// A certificate for another name never binds.
	cfg := simConfig(t, sim.Addr())
	cfg.TLS, cfg.CAFile, cfg.ServerName = true, caFile, "other.test"
	before := sim.Stats().Binds
	// The bind tries for one second of its clock, then waits at the horizon.
	clock := newFakeClock()
	clock.stopAt(time.Second)
	bad := newPool(t, "bad-tls", cfg, Options{clock: clock}, nil)
	waitFor(t, "the bad bind waiting past 1s", func() bool { return clock.sleepers() == 1 })
	if bad.Up() || sim.Stats().Binds != before {
		t.Fatal("bound with a certificate for another name")
	}
	if _, err := NewPool("x", Config{Host: "h", Port: 1, SystemID: "s", TLS: true, CAFile: filepath.Join(t.TempDir(), "none.pem")}, Options{}); err == nil ||
		!strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("missing CA file: %v", err)
	}
}

// fakeSlots is an in-memory gateway.BindSlots shared by pools of "nodes".
type fakeSlots struct {
	mu   sync.Mutex
	held map[string]map[int]bool
	free chan struct{} // signalled on every release
}

func newFakeSlots() *fakeSlots {
	return &fakeSlots{held: map[string]map[int]bool{}, free: make(chan struct{}, 16)}
}

func (f *fakeSlots) AcquireBindSlot(ctx context.Context, carrier string, slots int) (int, func(), error) {
	for {
		f.mu.Lock()
		if f.held[carrier] == nil {
			f.held[carrier] = map[int]bool{}
		}
		for i := range slots {
			if !f.held[carrier][i] {
				f.held[carrier][i] = true
				f.mu.Unlock()
				var once sync.Once
				return i, func() {
					once.Do(func() {
						f.mu.Lock()
						delete(f.held[carrier], i)
						f.mu.Unlock()
						select {
						case f.free <- struct{}{}:
						default:
						}
					})
				}, nil
			}
		}
		f.mu.Unlock()
		select {
		case <-f.free:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestBindSlotsCapBindsAcrossPools(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	slots := newFakeSlots()
	cfg := simConfig(t, sim.Addr())
	cfg.Binds = 1
	a := newPool(t, "sim", cfg, Options{BindSlots: slots}, nil)
	b := newPool(t, "sim", cfg, Options{BindSlots: slots}, nil)
	waitFor(t, "one pool bound", func() bool { return a.Up() || b.Up() })
	first, second := a, b
	if b.Up() {
		first, second = b, a
	}
	time.Sleep(100 * time.Millisecond) // a negative: the second must stay unbound
	if second.Up() || sim.Stats().Binds != 1 {
		t.Fatalf("both pools bound over a 1-slot cap (binds %d)", sim.Stats().Binds)
	}
	if err := first.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other pool takes the slot", second.Up)
	// The slot is free once Stop returns; the simulator may still count the
	// first session bound until it has read the unbind.
	waitFor(t, "the simulator sees one session bound", func() bool { return sim.Stats().Bound == 1 })
	if st := sim.Stats(); st.Binds != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// Flow control.

func TestThrottlePausesCarrierAndRetries(t *testing.T) {
	var n atomic.Int64
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour), smsc.WithHandler(func(*smsc.Submit) smsc.Action {
		if n.Add(1) <= 2 {
			return smsc.Action{Status: uint32(data.ESME_RTHROTTLED)}
		}
		return smsc.Action{}
	}))
	defer sim.Close()
	clock := newFakeClock()
	p := startPoolWith(t, sim, nil, Options{clock: clock}, func(c *Config) { c.ThrottlePause = 100 * time.Millisecond })
	start := clock.now()
	r := submitOne(t, p, message("slow down"))
	if r.Err != nil {
		t.Fatalf("throttled part not retried: %v", r.Err)
	}
	if el := clock.since(start); el < 200*time.Millisecond {
		t.Fatalf("two throttles paused only %v", el)
	}
	if got := value(t, p.m.throttled); got != 2 {
		t.Fatalf("throttled metric %v", got)
	}

	// Throttled beyond the retries: the engine gets a Retry, never a drop.
	n.Store(-100)
	r = submitOne(t, p, message("still too fast"))
	if gateway.DecisionOf(r.Err) != gateway.Retry || !strings.Contains(r.Err.Error(), "ESME_RTHROTTLED") {
		t.Fatalf("err %v", r.Err)
	}
}

func TestThrottlingFromTPSCap(t *testing.T) {
	sim := smsc.NewServer(smsc.WithTPS(200), smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { c.ThrottlePause = 20 * time.Millisecond; c.Window = 50 })
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 100 {
		wg.Go(func() {
			if r := submitOne(t, p, message("burst")); r.Err != nil {
				failed.Add(1)
				if gateway.DecisionOf(r.Err) != gateway.Retry {
					t.Errorf("throttled part failed for good: %v", r.Err)
				}
			}
		})
	}
	wg.Wait()
	st := sim.Stats()
	if st.Throttled == 0 {
		t.Fatal("the TPS cap never throttled: the test proves nothing")
	}
	t.Logf("%d submits, %d throttled, %d parts handed back to the engine for a later retry", st.Submits, st.Throttled, failed.Load())
	if failed.Load() == 100 {
		t.Fatal("no part got through after a pause")
	}
}

func TestOutOfOrderResponses(t *testing.T) {
	sim := smsc.NewServer(smsc.WithResponseDelay(0, 20*time.Millisecond), smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { c.Window = 50 })
	var wg sync.WaitGroup
	got := make([]string, 200)
	for i := range got {
		wg.Go(func() {
			r := submitOne(t, p, message(fmt.Sprintf("message %d", i)))
			if r.Err != nil {
				t.Error(r.Err)
			}
			got[i] = r.CarrierID
		})
	}
	wg.Wait()
	idOf := map[string]string{}
	for _, s := range sim.Submits() {
		idOf[string(s.ShortMessage)] = s.MessageID
	}
	for i, id := range got {
		if want := idOf[fmt.Sprintf("message %d", i)]; id != want {
			t.Fatalf("message %d got id %q, simulator gave %q", i, id, want)
		}
	}
}

// Link health.

func TestSilentLinkDeclaredDeadAndRebound(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) {
		c.EnquireLink, c.ResponseTimeout = 50*time.Millisecond, 100*time.Millisecond
	})
	sim.Stall(true)
	waitFor(t, "the silent link declared dead", func() bool { return !p.Up() })
	waitFor(t, "an enquire_link timeout in the history", func() bool {
		return hasChange(p.Binds()[0], gateway.BindDown, "enquire_link timeout: nothing received for 150ms")
	})
	sim.Stall(false)
	waitFor(t, "rebound", p.Up)
	waitFor(t, "enquire_link answered", func() bool { return sim.Stats().EnquireLinks > 0 })
}

func TestBindRefusalBacksOff(t *testing.T) {
	sim := smsc.NewServer(smsc.WithCredentials("mfi", "right"))
	defer sim.Close()
	cfg := simConfig(t, sim.Addr()) // password "secret": refused
	// Count the attempts over one second of the pool's clock: the bind
	// waits at the horizon once its next attempt would come after it.
	clock := newFakeClock()
	clock.stopAt(time.Second)
	p := newPool(t, "sim", cfg, Options{clock: clock}, nil)
	waitFor(t, "the bind waiting past 1s", func() bool { return clock.sleepers() == 1 })
	n := sim.Stats().BindFailures
	// rebind_interval 50ms: waits of ≥25, 50, 100, 200, 300 ms… at most
	// about 6 attempts in a second, where a tight loop makes hundreds.
	if n < 2 || n > 8 {
		t.Fatalf("%d refused binds in 1s", n)
	}
	if p.Up() || value(t, p.m.bindRefused) != float64(n) {
		t.Fatalf("up %v, refused metric %v, simulator %d", p.Up(), value(t, p.m.bindRefused), n)
	}
}

func TestAnswersCarrierPDUs(t *testing.T) {
	var nack atomic.Bool
	sim := smsc.NewServer(smsc.WithHandler(func(*smsc.Submit) smsc.Action {
		if nack.Load() {
			return smsc.Action{Nack: uint32(data.ESME_RINVCMDLEN)}
		}
		return smsc.Action{}
	}))
	defer sim.Close()
	p := startPool(t, sim, nil, nil)

	if sim.EnquireLinkClients() != 1 {
		t.Fatal("no bound session")
	}
	waitFor(t, "enquire_link_resp", func() bool { return sim.Stats().EnquireLinkResps == 1 })

	nack.Store(true)
	r := submitOne(t, p, message("nacked"))
	if r.Err == nil || !strings.Contains(r.Err.Error(), "ESME_RINVCMDLEN") {
		t.Fatalf("generic_nack gave %v", r.Err)
	}
	nack.Store(false)

	sim.UnbindClients()
	waitFor(t, "unbind_resp", func() bool { return sim.Stats().UnbindResps == 1 })
	waitFor(t, "rebound after the SMSC's unbind", func() bool { return sim.Stats().Binds == 2 && p.Up() })
	if r := submitOne(t, p, message("after unbind")); r.Err != nil {
		t.Fatal(r.Err)
	}
}

// Text.

func TestDefaultAlphabetOverride(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	sink := &fakeSink{}
	p := startPool(t, sim, sink, func(c *Config) { c.DefaultAlphabet = smstext.AlphabetLatin1 })
	if r := submitOne(t, p, message("@ {é}")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if s := sim.Submits()[0]; s.DataCoding != 0 || string(s.ShortMessage) != "@ {\xe9}" {
		t.Fatalf("data_coding %d short_message %q", s.DataCoding, s.ShortMessage)
	}
	// Δ has no Latin-1 form: another route may take it.
	r := submitOne(t, p, message("Δ"))
	if gateway.DecisionOf(r.Err) != gateway.NextRoute || !errors.Is(r.Err, smstext.ErrAlphabet) {
		t.Fatalf("err %v", r.Err)
	}
	// MO with data_coding 0 is read as Latin-1 too.
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	_ = d.SourceAddr.SetAddress("254712345678")
	if err := d.Message.SetMessageDataWithEncoding([]byte("caf\xe9"), data.GSM7BIT); err != nil {
		t.Fatal(err)
	}
	if err := sim.SendDeliverSM(d); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "MO", func() bool { return len(sink.Inbound()) == 1 })
	if got := sink.Inbound()[0].Text; got != "café" {
		t.Fatalf("MO %q", got)
	}
}

func TestLatin1SameCountOnly(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { c.Latin1 = true })
	for _, text := range []string{"ação", strings.Repeat("ã", 71)} {
		m := message(text)
		_, n, _ := smstext.Count[gateway.Encoding](text)
		m.Parts = make([]gateway.Part, n)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		for _, r := range p.Submit(context.Background(), m, idx) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	subs := sim.Submits()
	if subs[0].DataCoding != smstext.DataCodingLatin1 || len(subs) != 3 || subs[1].DataCoding != smstext.DataCodingUCS2 {
		t.Fatalf("%d submits, data_coding %d then %d", len(subs), subs[0].DataCoding, subs[1].DataCoding)
	}
}

// Long messages.

func submitAll(t *testing.T, p *Pool, m *gateway.Message) []gateway.PartResult {
	t.Helper()
	_, n, err := smstext.Count[gateway.Encoding](m.Text)
	if err != nil {
		t.Fatal(err)
	}
	m.Parts = make([]gateway.Part, n)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	rs := p.Submit(context.Background(), m, idx)
	if len(rs) != n {
		t.Fatalf("%d results for %d parts", len(rs), n)
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return rs
}

func TestConcatModes(t *testing.T) {
	long := strings.Repeat("abcdefghij", 30) // 300 septets: 2 parts at 153 and at 152
	edge := strings.Repeat("a", 306)         // 2 parts at 153, 3 at 152: falls back to the 8-bit UDH
	for _, tc := range []struct {
		mode, text string
		check      func(t *testing.T, subs []smsc.Submit, rs []gateway.PartResult)
	}{
		{smstext.ConcatUDH16, long, func(t *testing.T, subs []smsc.Submit, _ []gateway.PartResult) {
			for _, s := range subs {
				if s.ESMClass != 0x40 || s.ShortMessage[0] != 6 || s.ShortMessage[1] != 8 || s.ShortMessage[5] != 2 {
					t.Fatalf("16-bit UDH % x", s.ShortMessage[:7])
				}
			}
		}},
		{smstext.ConcatUDH16, edge, func(t *testing.T, subs []smsc.Submit, _ []gateway.PartResult) {
			if len(subs) != 2 || subs[0].ShortMessage[0] != 5 || subs[0].ShortMessage[1] != 0 {
				t.Fatalf("%d parts, UDH % x: want the 8-bit fallback", len(subs), subs[0].ShortMessage[:6])
			}
		}},
		{smstext.ConcatSAR, long, func(t *testing.T, subs []smsc.Submit, _ []gateway.PartResult) {
			for _, s := range subs {
				if s.ESMClass != 0 || len(s.TLVs[uint16(pdu.TagSarMsgRefNum)]) != 2 ||
					s.TLVs[uint16(pdu.TagSarTotalSegments)][0] != 2 || len(s.ShortMessage) > 153 {
					t.Fatalf("SAR part %+v", s)
				}
			}
			a, b := subs[0].TLVs[uint16(pdu.TagSarMsgRefNum)], subs[1].TLVs[uint16(pdu.TagSarMsgRefNum)]
			if string(a) != string(b) {
				t.Fatal("parts with different SAR references")
			}
		}},
		{smstext.ConcatPayload, long, func(t *testing.T, subs []smsc.Submit, rs []gateway.PartResult) {
			if len(subs) != 1 || len(subs[0].ShortMessage) != 0 || string(subs[0].TLVs[uint16(pdu.TagMessagePayload)]) != long {
				t.Fatalf("%d submits", len(subs))
			}
			if rs[0].CarrierID == "" || rs[0].CarrierID != rs[1].CarrierID || rs[1].Index != 1 {
				t.Fatalf("results %+v", rs)
			}
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
			defer sim.Close()
			p := startPool(t, sim, nil, func(c *Config) { c.Concat = tc.mode })
			rs := submitAll(t, p, message(tc.text))
			subs := sim.Submits()
			for _, s := range subs {
				if s.RegisteredDelivery != 1 {
					t.Fatal("a part without a receipt request")
				}
			}
			tc.check(t, subs, rs)
		})
	}
}

func TestConcatRefPerDestination(t *testing.T) {
	refs := newRefTable()
	seen := map[uint16]bool{}
	for i := range 200 {
		r := refs.get("+254700000001", fmt.Sprintf("msg-%d", i), false)
		if i < refsPerDest && seen[r] {
			t.Fatalf("message %d reuses reference %d among the last %d to one number", i, r, refsPerDest)
		}
		seen[r] = true
		if r > 0xFF {
			t.Fatalf("8-bit reference %d", r)
		}
		if i >= refsPerDest {
			clear(seen)
		}
	}
	a := refs.get("+254700000002", "msg-x", true)
	if refs.get("+254700000002", "msg-x", true) != a {
		t.Fatal("a resend got another reference")
	}
	if fresh := newRefTable().get("+1", "msg-x", true); fresh != a {
		t.Fatal("a restart should start from the message's hash")
	}
}

func TestConcatRefsForgetIdleDestinations(t *testing.T) {
	refs := newRefTable()
	now := time.Unix(1_800_000_000, 0)
	refs.now = func() time.Time { return now }
	for i := range sweepEvery {
		refs.get(fmt.Sprintf("+2547%08d", i), "m", false)
	}
	kept := refs.get("+254799999999", "kept", false)
	if len(refs.dests) != sweepEvery+1 {
		t.Fatalf("%d destinations, want %d", len(refs.dests), sweepEvery+1)
	}
	now = now.Add(refTTL + time.Minute)
	if refs.get("+254799999999", "kept", false) != kept {
		t.Fatal("a destination in use lost its reference")
	}
	// The next new destinations trigger a sweep of the idle ones.
	for i := range sweepEvery {
		refs.get(fmt.Sprintf("+2557%08d", i), "m", false)
	}
	if n := len(refs.dests); n > sweepEvery+1 {
		t.Errorf("%d destinations after a sweep, want the idle ones gone (≤ %d)", n, sweepEvery+1)
	}
	if _, ok := refs.dests["+254799999999"]; !ok {
		t.Error("the destination used within the TTL was dropped")
	}
}

// Receipts.

func TestReceiptIntermediateAndNetworkError(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	sink := &fakeSink{}
	startPool(t, sim, sink, nil)
	send := func(text string, state byte, nec []byte) {
		d := pdu.NewDeliverSM().(*pdu.DeliverSM)
		d.EsmClass = data.SM_SMSC_DLV_RCPT_TYPE
		_ = d.SourceAddr.SetAddress("254712345678")
		if err := d.Message.SetMessageDataWithEncoding([]byte(text), data.GSM7BIT); err != nil {
			t.Fatal(err)
		}
		if state != 0 {
			d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{state}})
		}
		if nec != nil {
			d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagNetworkErrorCode, Data: nec})
		}
		if err := sim.SendDeliverSM(d); err != nil {
			t.Fatal(err)
		}
	}
	send("id:77 stat:ENROUTE", StateEnroute, nil)
	send("ID:77 Stat:acceptd err:", 0, nil)
	send("id:77 stat:UNDELIV", StateUndeliverable, []byte{3, 0, 17})
	send("id:77 stat:UNDELIV err:034", 0, []byte{3, 0, 17})
	waitFor(t, "4 receipts", func() bool { return len(sink.Receipts()) == 4 })
	rs := sink.Receipts()
	if rs[0].Status != "" || rs[0].State != "ENROUTE" || rs[1].Status != "" || rs[1].State != "acceptd" {
		t.Fatalf("intermediate receipts %+v %+v", rs[0], rs[1])
	}
	if rs[2].Status != gateway.StatusUndelivered || rs[2].Error != "3:17" {
		t.Fatalf("network_error_code: %+v", rs[2])
	}
	if rs[3].Error != "034" {
		t.Fatalf("the text's err should win: %+v", rs[3])
	}
}

func TestReceiptIDFormats(t *testing.T) {
	for _, tc := range []struct {
		name          string
		sim           smsc.IDFormat
		submit, rcpt  smstext.IDFormat
		sameOnTheWire bool
	}{
		{"hex response, decimal receipt", smsc.IDHexResp, smstext.IDHex, smstext.IDDec, false},
		{"decimal response, upper hex receipt", smsc.IDHexReceipt, smstext.IDDec, smstext.IDHex, false},
		{"decimal response, zero-padded receipt", smsc.IDPaddedReceipt, smstext.IDDec, smstext.IDDec, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := smsc.NewServer(smsc.WithIDFormat(tc.sim), smsc.WithReceiptDelay(0, 0))
			defer sim.Close()
			sink := &fakeSink{}
			p := startPool(t, sim, sink, func(c *Config) { c.SubmitIDFormat, c.ReceiptIDFormat = tc.submit, tc.rcpt })
			r := submitOne(t, p, message("ids"))
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			waitFor(t, "receipt", func() bool { return len(sink.Receipts()) == 1 })
			s := sim.Submits()[0]
			if s.MessageID == s.ReceiptID {
				t.Fatalf("the simulator wrote %q both times", s.MessageID)
			}
			if got := sink.Receipts()[0].CarrierID; got != r.CarrierID {
				t.Fatalf("receipt id %q (wire %q) does not match the part's %q (wire %q)", got, s.ReceiptID, r.CarrierID, s.MessageID)
			}
		})
	}
}

func TestReceiptBeforeResponse(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptsFirst(1))
	defer sim.Close()
	sink := &fakeSink{}
	p := startPool(t, sim, sink, nil)
	r := submitOne(t, p, message("early receipt"))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	waitFor(t, "receipt", func() bool { return len(sink.Receipts()) == 1 })
	if got := sink.Receipts()[0]; got.CarrierID != r.CarrierID || got.Status != gateway.StatusDelivered {
		t.Fatalf("receipt %+v for %q", got, r.CarrierID)
	}
	waitFor(t, "receipt acknowledged", func() bool { return sim.Stats().DeliverResps == 1 })
	if d := sim.Delivers()[0]; !d.Answered || d.Status != 0 {
		t.Fatalf("deliver %+v", d)
	}
}

// MO reassembly.

func TestMOReassembly(t *testing.T) {
	long := strings.Repeat("Balance please ", 20) // 300 septets: 2 parts
	uni := strings.Repeat("Баланс 💰 ", 20)
	esc := strings.Repeat("a", 152) + "€" + "tail" // escape pair split across parts at 153 octets
	for _, tc := range []struct {
		name string
		mo   smsc.ConcatMO
		want string
	}{
		{"udh8", smsc.ConcatMO{Text: long, Mode: smsc.ConcatUDH8, Ref: 7}, long},
		{"udh16 reversed with a resent part", smsc.ConcatMO{Text: long, Mode: smsc.ConcatUDH16, Ref: 0x1234, Order: []int{2, 2, 1}}, long},
		{"sar ucs2", smsc.ConcatMO{Text: uni, Mode: smsc.ConcatSAR, Ref: 9}, uni},
		{"surrogate pair split", smsc.ConcatMO{Text: uni, Mode: smsc.ConcatUDH8, Ref: 3, PartSize: 14}, uni},
		{"escape pair split", smsc.ConcatMO{Text: esc, Mode: smsc.ConcatUDH8, Ref: 4}, esc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := smsc.NewServer()
			defer sim.Close()
			sink := &fakeSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
			startPool(t, sim, sink, nil)
			tc.mo.From, tc.mo.To = "+254712345678", "22345"
			n, err := sim.SendConcatMO(tc.mo)
			if err != nil {
				t.Fatal(err)
			}
			sent := max(n, len(tc.mo.Order))
			<-sink.entered
			// The joined message is being stored: no part is answered yet.
			if st := sim.Stats(); st.DeliverResps != 0 {
				t.Fatalf("%d parts answered before the message was stored", st.DeliverResps)
			}
			close(sink.gate)
			waitFor(t, "every part answered", func() bool { return sim.Stats().DeliverResps == int64(sent) })
			in := sink.Inbound()
			if len(in) != 1 || in[0].Text != tc.want || in[0].From != "+254712345678" || in[0].To != "22345" ||
				!strings.HasPrefix(in[0].CarrierRef, "mo:") {
				t.Fatalf("inbound %+v", in)
			}
			if st := sim.Stats(); st.DeliverRespErrors != 0 {
				t.Fatalf("%d parts refused", st.DeliverRespErrors)
			}
		})
	}
}

func TestMOReassemblyTimeoutAndResend(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	sink := &fakeSink{}
	startPool(t, sim, sink, func(c *Config) { c.MOTimeout = 100 * time.Millisecond })
	text := strings.Repeat("x", 400) // 3 parts
	mo := smsc.ConcatMO{From: "+254712345678", To: "22345", Text: text, Ref: 5, Order: []int{1, 3}}
	if _, err := sim.SendConcatMO(mo); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "incomplete MO stored", func() bool { return len(sink.Inbound()) == 1 })
	waitFor(t, "both parts answered", func() bool { return sim.Stats().DeliverResps == 2 })
	got := sink.Inbound()[0].Text
	if want := strings.Repeat("x", 153) + "[part 2 of 3 missing]" + strings.Repeat("x", 94); got != want {
		t.Fatalf("text %q", got)
	}

	// A carrier resending every part of a stored message: the parts are
	// answered, the message is offered again with the same CarrierRef
	// (the store skips it) and no part's text is doubled.
	mo = smsc.ConcatMO{From: "+254712345678", To: "22345", Text: text, Ref: 6}
	for range 2 {
		if _, err := sim.SendConcatMO(mo); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all parts answered", func() bool { return sim.Stats().DeliverResps == 8 })
	in := sink.Inbound()
	if len(in) != 2 || in[1].Text != text {
		t.Fatalf("%d inbound, last %q", len(in), in[len(in)-1].Text)
	}
}

// Addresses.

func TestAddressKindsOverridable(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	two, zero, one := 2, 0, 1
	p := startPool(t, sim, nil, func(c *Config) {
		c.ShortcodeTON, c.ShortcodeNPI = &zero, &one
		c.AlphaTON = &two
		c.DestTON = &two
	})
	for _, from := range []string{"MFI-A", "22345", "0712345678", "+254700000001"} {
		m := message("hi")
		m.From = from
		if r := submitOne(t, p, m); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	want := []struct{ ton, npi byte }{{2, 0}, {0, 1}, {0, 0}, {1, 1}}
	for i, s := range sim.Submits() {
		if s.SourceTON != want[i].ton || s.SourceNPI != want[i].npi || s.DestTON != 2 || s.DestNPI != 1 {
			t.Errorf("sender %q: source %d/%d dest %d/%d", s.Source, s.SourceTON, s.SourceNPI, s.DestTON, s.DestNPI)
		}
	}
}

// BenchmarkEncodeSubmit measures what a part costs before the socket: pick
// the encoding, segment, and build and marshal every submit_sm of a
// 2-part GSM text.
//
//	go test -run '^$' -bench EncodeSubmit ./smpp/
func BenchmarkEncodeSubmit(b *testing.B) {
	p, err := NewPool("bench", Config{Host: "127.0.0.1", Port: 1, SystemID: "b"}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	m := message(strings.Repeat("Your loan repayment of KES 1,500 is due on 5 May. ", 4))
	b.ReportAllocs()
	for b.Loop() {
		segs, err := smstext.Segment(m.Text, p.text)
		if err != nil {
			b.Fatal(err)
		}
		ref := p.refs.get(m.To, m.ID, false)
		for i := range segs.Parts {
			sm, err := p.buildSubmit(m, &segs, i, ref)
			if err != nil {
				b.Fatal(err)
			}
			buf := pdu.NewBuffer(make([]byte, 0, 256))
			sm.Marshal(buf)
		}
	}
}

// A joined MO the sink could not store is forgotten: the carrier's resend
// assembles it again and it is stored then, never answered OK unstored.
func TestMOResentAfterStoreFailureIsStored(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	sink := &fakeSink{}
	sink.fail.Store(true)
	startPool(t, sim, sink, nil)
	text := strings.Repeat("y", 400) // 3 parts
	mo := smsc.ConcatMO{From: "+254712345678", To: "22345", Text: text, Ref: 9}
	if _, err := sim.SendConcatMO(mo); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the three parts refused", func() bool { return sim.Stats().DeliverRespErrors == 3 })
	sink.fail.Store(false)
	if _, err := sim.SendConcatMO(mo); err != nil { // the carrier resends
		t.Fatal(err)
	}
	waitFor(t, "the resend stored", func() bool { return len(sink.Inbound()) == 1 })
	waitFor(t, "the resend answered OK", func() bool { st := sim.Stats(); return st.DeliverResps == 6 && st.DeliverRespErrors == 3 })
	if got := sink.Inbound()[0].Text; got != text {
		t.Fatalf("stored %q", got)
	}
}
