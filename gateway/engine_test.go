package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/routing"
)

// fakeConnector answers submissions with a function, so each test decides
// what the carrier does.
type fakeConnector struct {
	name   string
	up     atomic.Bool
	window int
	answer func(m *gateway.Message, idx int) gateway.PartResult
	// submit, when set, runs first; a nil result falls through to answer.
	submit func(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult

	mu       sync.Mutex
	calls    int
	inFlight int
	maxIn    int
	sink     gateway.Sink
}

func newFake(name string, window int, answer func(*gateway.Message, int) gateway.PartResult) *fakeConnector {
	if answer == nil {
		answer = ok
	}
	f := &fakeConnector{name: name, window: window, answer: answer}
	f.up.Store(true)
	return f
}

func (f *fakeConnector) Name() string                   { return f.name }
func (f *fakeConnector) Start(s gateway.Sink) error     { f.sink = s; return nil }
func (f *fakeConnector) Up() bool                       { return f.up.Load() }
func (f *fakeConnector) Window() int                    { return f.window }
func (f *fakeConnector) Stop(ctx context.Context) error { return nil }

// callCount is how many times Submit ran.
func (f *fakeConnector) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeConnector) Submit(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult {
	if f.submit != nil {
		if out := f.submit(ctx, m, parts); out != nil {
			return out
		}
	}
	f.mu.Lock()
	f.calls++
	f.inFlight += len(parts)
	f.maxIn = max(f.maxIn, f.inFlight)
	f.mu.Unlock()
	out := make([]gateway.PartResult, len(parts))
	for i, p := range parts {
		out[i] = f.answer(m, p)
		out[i].Index = p
	}
	f.mu.Lock()
	f.inFlight -= len(parts)
	f.mu.Unlock()
	return out
}

var idSeq atomic.Int64

func ok(*gateway.Message, int) gateway.PartResult {
	return gateway.PartResult{CarrierID: fmt.Sprint(idSeq.Add(1))}
}

func failWith(d gateway.Decision, code string) func(*gateway.Message, int) gateway.PartResult {
	return func(*gateway.Message, int) gateway.PartResult {
		return gateway.PartResult{Err: &gateway.SubmitError{Decision: d, Code: code}}
	}
}

// segmentByLength stands in for the SMPP segmenter: 10 characters a part.
func segmentByLength(text string) (gateway.Encoding, int, error) {
	return gateway.EncodingGSM7, (len(text) + 9) / 10, nil
}

type harness struct {
	engine *gateway.Engine
	store  gateway.Store
}

func newHarness(t *testing.T, routes []routing.Route, conns ...gateway.Connector) *harness {
	t.Helper()
	return newHarnessLease(t, routes, 0, conns...)
}

// newHarnessLease is newHarness with the store's claim lease (0: default).
func newHarnessLease(t *testing.T, routes []routing.Route, lease time.Duration, conns ...gateway.Connector) *harness {
	t.Helper()
	return newHarnessWith(t, routes, lease, nil, conns...)
}

// newHarnessWith is newHarnessLease with a last say on the engine's options.
func newHarnessWith(t *testing.T, routes []routing.Route, lease time.Duration, tune func(*gateway.Options), conns ...gateway.Connector) *harness {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "s.db")}, store.Options{LeaseDuration: lease})
	if err != nil {
		t.Fatal(err)
	}
	table, err := routing.NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]gateway.Connector{}
	for _, c := range conns {
		byName[c.Name()] = c
	}
	router, err := routing.NewRouter(table, routing.Options{
		Breaker: routing.BreakerConfig{ConsecutiveFailures: 100},
		Up:      func(name string) bool { return byName[name] != nil && byName[name].Up() },
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := gateway.Options{
		Store: st, Router: router, Connectors: conns, Segment: segmentByLength,
		Tenants:   []gateway.Tenant{{ID: "t", DefaultRegion: "KE", Sender: "MFI"}},
		RetryBase: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond, MaxAttempts: 3,
		PollEvery: 10 * time.Millisecond, MaxParts: 5,
	}
	if tune != nil {
		tune(&opts)
	}
	e, err := gateway.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return &harness{e, st}
}

func (h *harness) send(t *testing.T, r gateway.SendRequest) string {
	t.Helper()
	out, err := h.engine.Accept(context.Background(), "t", []gateway.SendRequest{r})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil {
		t.Fatal(out[0].Err)
	}
	return out[0].ID
}

// waitStatus polls the store until the message reaches want.
func (h *harness) waitStatus(t *testing.T, id string, want gateway.Status) *gateway.Message {
	t.Helper()
	var m *gateway.Message
	testutil.Eventually(t, 10*time.Second, func() error {
		var err error
		if m, err = h.store.Get(context.Background(), "t", id); err != nil {
			t.Fatal(err)
		}
		if m.Status == want {
			return nil
		}
		if m.Status.Final() {
			t.Fatalf("message is %s (%s), want %s", m.Status, m.LastError, want)
		}
		return fmt.Errorf("message is %s (%s), want %s", m.Status, m.LastError, want)
	})
	return m
}

func route(prefix, carrier string, cost float64) routing.Route {
	return routing.Route{Prefix: prefix, Carrier: carrier, Cost: cost, Currency: "KES"}
}

func TestSubmitThenReceiptDelivers(t *testing.T) {
	a := newFake("a", 10, ok)
	h := newHarness(t, []routing.Route{route("+", "a", 0.5)}, a)
	id := h.send(t, gateway.SendRequest{To: "0712345678", Text: "twenty-five characters!!!"})
	m := h.waitStatus(t, id, gateway.StatusSubmitted)
	if len(m.Parts) != 3 || m.To != "+254712345678" || m.Cost != 1.5 || m.Carrier != "a" {
		t.Fatalf("submitted message %+v", m)
	}
	var rs []gateway.Receipt
	for _, p := range m.Parts {
		rs = append(rs, gateway.Receipt{Carrier: "a", CarrierID: p.CarrierID, Status: gateway.StatusDelivered, State: "DELIVRD"})
	}
	if err := a.sink.HandleReceipts(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, id, gateway.StatusDelivered)
}

func TestNextRouteFailover(t *testing.T) {
	cheap := newFake("cheap", 10, failWith(gateway.NextRoute, "ESME_RSUBMITFAIL"))
	dear := newFake("dear", 10, ok)
	h := newHarness(t, []routing.Route{route("+254", "cheap", 0.5), route("+254", "dear", 0.9)}, cheap, dear)
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello"})
	m := h.waitStatus(t, id, gateway.StatusSubmitted)
	if m.Carrier != "dear" || m.Cost != 0.9 || cheap.callCount() != 1 {
		t.Fatalf("message went %s at %v after %d calls to cheap", m.Carrier, m.Cost, cheap.callCount())
	}
	// The history shows both tries.
	testutil.Eventually(t, 5*time.Second, func() error {
		m, err := h.store.Get(context.Background(), "t", id)
		if err != nil {
			return err
		}
		if len(m.Attempts) != 2 || m.Attempts[0].Carrier != "cheap" || m.Attempts[0].Outcome != "next_route" ||
			!strings.Contains(m.Attempts[0].Detail, "ESME_RSUBMITFAIL") || m.Attempts[1].Carrier != "dear" || m.Attempts[1].Outcome != "submitted" {
			return fmt.Errorf("attempts %+v", m.Attempts)
		}
		return nil
	})
}

func TestDownCarrierIsSkipped(t *testing.T) {
	cheap := newFake("cheap", 10, ok)
	cheap.up.Store(false)
	dear := newFake("dear", 10, ok)
	h := newHarness(t, []routing.Route{route("+254", "cheap", 0.5), route("+254", "dear", 0.9)}, cheap, dear)
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello"})
	if m := h.waitStatus(t, id, gateway.StatusSubmitted); m.Carrier != "dear" || cheap.callCount() != 0 {
		t.Fatalf("went to %s; cheap called %d times while down", m.Carrier, cheap.callCount())
	}
}

// A paused carrier is skipped like a down one while its link stays up, and
// takes messages again once resumed.
func TestPausedCarrierIsSkippedUntilResumed(t *testing.T) {
	cheap := newFake("cheap", 10, ok)
	dear := newFake("dear", 10, ok)
	h := newHarness(t, []routing.Route{route("+254", "cheap", 0.5), route("+254", "dear", 0.9)}, cheap, dear)
	if err := h.engine.PauseCarrier("nowhere", true); err == nil {
		t.Fatal("an unknown carrier was paused")
	}
	if err := h.engine.PauseCarrier("cheap", true); err != nil {
		t.Fatal(err)
	}
	if !h.engine.CarrierPaused("cheap") || h.engine.CarrierPaused("dear") {
		t.Fatal("CarrierPaused does not report the pause")
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if h.engine.CarrierDownSince("cheap").IsZero() {
			return errors.New("the paused carrier is not seen down")
		}
		return nil
	})
	if !h.engine.CarrierDownSince("dear").IsZero() {
		t.Fatal("a carrier that is up has a down-since time")
	}
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello"})
	if m := h.waitStatus(t, id, gateway.StatusSubmitted); m.Carrier != "dear" || cheap.callCount() != 0 {
		t.Fatalf("went to %s; cheap called %d times while paused", m.Carrier, cheap.callCount())
	}
	if err := h.engine.PauseCarrier("cheap", false); err != nil {
		t.Fatal(err)
	}
	id = h.send(t, gateway.SendRequest{To: "+254712345678", Text: "again"})
	if m := h.waitStatus(t, id, gateway.StatusSubmitted); m.Carrier != "cheap" {
		t.Fatalf("after resuming went to %s", m.Carrier)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if !h.engine.CarrierDownSince("cheap").IsZero() {
			return errors.New("the resumed carrier is still seen down")
		}
		return nil
	})
}

// Waiting for a carrier that is down uses up none of a message's attempts.
func TestDownCarrierDoesNotUseAttempts(t *testing.T) {
	a := newFake("a", 10, ok)
	a.up.Store(false)
	other := newFake("other", 10, ok) // up, so the engine keeps claiming
	clock := testutil.NewClock(time.Now())
	h := newHarnessWith(t, []routing.Route{route("+254", "a", 1), route("+1", "other", 1)}, 0,
		func(o *gateway.Options) { o.Now = clock.Now }, a, other)
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello"})
	// Twice MaxAttempts turns, each ending in a reschedule (the store
	// stamps UpdatedAt); after each, the clock moves by RetryMax, which
	// makes the message due again.
	var m *gateway.Message
	var last time.Time
	for turn := range 6 {
		testutil.Eventually(t, 10*time.Second, func() error {
			var err error
			if m, err = h.store.Get(context.Background(), "t", id); err != nil {
				t.Fatal(err)
			}
			if m.LastError == "" || !m.UpdatedAt.After(last) {
				return fmt.Errorf("turn %d not taken: %s, %d attempts, %q", turn+1, m.Status, m.Tries, m.LastError)
			}
			return nil
		})
		last = m.UpdatedAt
		clock.Advance(50 * time.Millisecond)
	}
	if m.Status != gateway.StatusAccepted || m.Tries != 0 || !strings.HasPrefix(m.LastError, "no carrier can take") {
		t.Fatalf("while the carrier is down: %s, %d attempts, %q", m.Status, m.Tries, m.LastError)
	}
	a.up.Store(true)
	h.waitStatus(t, id, gateway.StatusSubmitted)
}

func TestPermanentErrorRejects(t *testing.T) {
	a := newFake("a", 10, failWith(gateway.Permanent, "ESME_RINVDSTADR"))
	h := newHarness(t, []routing.Route{route("+", "a", 1)}, a)
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello"})
	m := h.waitStatus(t, id, gateway.StatusRejected)
	if a.callCount() != 1 || m.LastError == "" {
		t.Fatalf("calls %d, last error %q", a.callCount(), m.LastError)
	}
}

func TestRetriesThenFails(t *testing.T) {
	a := newFake("a", 10, failWith(gateway.Retry, "ESME_RTHROTTLED"))
	h := newHarness(t, []routing.Route{route("+", "a", 1)}, a)
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello"})
	m := h.waitStatus(t, id, gateway.StatusFailed)
	if a.callCount() != 3 || m.Tries != 2 {
		t.Fatalf("calls %d, attempts %d, want 3 calls (MaxAttempts) and 2 reschedules", a.callCount(), m.Tries)
	}
}

func TestRetrySucceedsLater(t *testing.T) {
	var n atomic.Int32
	a := newFake("a", 10, func(m *gateway.Message, i int) gateway.PartResult {
		if n.Add(1) == 1 {
			return gateway.PartResult{Err: errors.New("response timeout")}
		}
		return ok(m, i)
	})
	h := newHarness(t, []routing.Route{route("+", "a", 1)}, a)
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello"})
	if m := h.waitStatus(t, id, gateway.StatusSubmitted); m.Tries != 1 {
		t.Fatalf("attempts %d, want 1", m.Tries)
	}
}

// A message no route covers ends FAILED when it is accepted, saying so,
// even while every carrier is down (nothing is claimed then: it once sat
// ACCEPTED with no reason).
func TestNoRouteFails(t *testing.T) {
	a := newFake("a", 10, ok)
	a.up.Store(false)
	h := newHarness(t, []routing.Route{route("+255", "a", 1)}, a)
	out, err := h.engine.Accept(context.Background(), "t", []gateway.SendRequest{{To: "+254712345678", Text: "hello"}})
	if err != nil || out[0].Err != nil || out[0].Status != gateway.StatusFailed {
		t.Fatalf("accept: %+v, %v; want stored FAILED", out, err)
	}
	m, err := h.engine.Get(context.Background(), "t", out[0].ID)
	if err != nil || m.Status != gateway.StatusFailed || !strings.HasPrefix(m.LastError, "no route for +254712345678") ||
		m.Parts[0].Status != gateway.StatusFailed {
		t.Fatalf("stored %+v (%v), want FAILED with \"no route for +254712345678 …\"", m, err)
	}
	evs, err := h.store.Events(context.Background(), "t", 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Status != gateway.StatusFailed || evs[0].Detail != m.LastError {
		t.Fatalf("events %+v (%v), want one FAILED event with the reason", evs, err)
	}
	// A routable message beside it waits for the carrier and says why.
	id := h.send(t, gateway.SendRequest{To: "+255754123456", Text: "hello"})
	testutil.Eventually(t, 5*time.Second, func() error {
		m, err := h.engine.Get(context.Background(), "t", id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != gateway.StatusAccepted || !regexp.MustCompile(`^waiting: carrier a has no bound link since 20\d\d-`).MatchString(m.LastError) {
			return fmt.Errorf("waiting message: %s %q", m.Status, m.LastError)
		}
		return nil
	})
	a.up.Store(true)
	h.waitStatus(t, id, gateway.StatusSubmitted)
}

func TestExpiredBeforeSubmission(t *testing.T) {
	a := newFake("a", 10, ok)
	a.up.Store(false)
	clock := testutil.NewClock(time.Now())
	h := newHarnessWith(t, []routing.Route{route("+", "a", 1)}, 0, func(o *gateway.Options) { o.Now = clock.Now }, a)
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello", ExpiresAt: clock.Now().Add(30 * time.Millisecond)})
	clock.Advance(40 * time.Millisecond)
	a.up.Store(true)
	h.waitStatus(t, id, gateway.StatusExpired)
	if a.callCount() != 0 {
		t.Fatalf("expired message was submitted")
	}
}

func TestScheduledNotSentEarly(t *testing.T) {
	a := newFake("a", 10, ok)
	h := newHarness(t, []routing.Route{route("+", "a", 1)}, a)
	at := time.Now().Add(150 * time.Millisecond)
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello", NotBefore: at})
	m := h.waitStatus(t, id, gateway.StatusSubmitted)
	if m.Parts[0].UpdatedAt.Before(at) {
		t.Fatalf("submitted at %v, before not_before %v", m.Parts[0].UpdatedAt, at)
	}
}

// The engine never has more parts out than a carrier's window, even when
// one message has more parts than the window.
func TestWindowBoundsPartsInFlight(t *testing.T) {
	a := newFake("a", 2, func(m *gateway.Message, i int) gateway.PartResult {
		time.Sleep(time.Millisecond)
		return ok(m, i)
	})
	h := newHarness(t, []routing.Route{route("+", "a", 1)}, a)
	var ids []string
	for i := range 20 {
		ids = append(ids, h.send(t, gateway.SendRequest{To: "+254712345678", Text: fmt.Sprintf("%050d", i)}))
	}
	for _, id := range ids {
		h.waitStatus(t, id, gateway.StatusSubmitted)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxIn > 2 {
		t.Fatalf("%d parts in flight at once, window is 2", a.maxIn)
	}
}

func TestValidation(t *testing.T) {
	a := newFake("a", 10, ok)
	h := newHarness(t, []routing.Route{route("+", "a", 1)}, a)
	cases := []struct {
		r     gateway.SendRequest
		field string
	}{
		{gateway.SendRequest{To: "12", Text: "x"}, "to"},
		{gateway.SendRequest{To: "", Text: "x"}, "to"},
		{gateway.SendRequest{To: "+254712345678"}, "text"},
		{gateway.SendRequest{To: "+254712345678", Text: "\xff\xfe"}, "text"},
		{gateway.SendRequest{To: "+254712345678", Text: fmt.Sprintf("%051d", 0)}, "text"},
		{gateway.SendRequest{To: "+254712345678", Text: "x", From: "OTHER"}, "from"},
		{gateway.SendRequest{To: "+254712345678", Text: "x", NotBefore: time.Now(), ExpiresAt: time.Now().Add(-time.Hour)}, "expires_at"},
		// Past 2262 nanoseconds overflow: 2300 was stored as 1715 (sent at
		// once) or 1677 (expired unsent). Beyond the horizon is refused.
		{gateway.SendRequest{To: "+254712345678", Text: "x", NotBefore: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, "not_before"},
		{gateway.SendRequest{To: "+254712345678", Text: "x", ExpiresAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, "expires_at"},
		{gateway.SendRequest{To: "+254712345678", Text: "x", NotBefore: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)}, "not_before"},
		{gateway.SendRequest{To: "+254712345678", Text: "x", NotBefore: time.Now().Add(gateway.DefaultScheduleHorizon + time.Hour)}, "not_before"},
	}
	for _, c := range cases {
		out, err := h.engine.Accept(context.Background(), "t", []gateway.SendRequest{c.r})
		if err != nil {
			t.Fatal(err)
		}
		var fe *gateway.FieldError
		if !errors.As(out[0].Err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: err %v, want a FieldError on %s", c.r, out[0].Err, c.field)
		}
	}
	evs, err := h.store.Events(context.Background(), "", 0, 10)
	if err != nil || len(evs) != 0 {
		t.Fatalf("refused requests left events %v (%v)", evs, err)
	}
	if _, err := h.engine.Accept(context.Background(), "nobody", []gateway.SendRequest{{To: "+254712345678", Text: "x"}}); err == nil {
		t.Fatal("unknown tenant accepted")
	}
}

func TestNormalizeNumber(t *testing.T) {
	cases := []struct{ in, region, want string }{
		{"0712345678", "KE", "+254712345678"},
		{"0712 345 678", "KE", "+254712345678"},
		{"+254712345678", "TZ", "+254712345678"},
		{"00254712345678", "UG", "+254712345678"},
		{"0754123456", "TZ", "+255754123456"},
	}
	for _, c := range cases {
		got, err := gateway.NormalizeNumber(c.in, c.region)
		if err != nil || got != c.want {
			t.Errorf("NormalizeNumber(%q, %s) = %q, %v; want %q", c.in, c.region, got, err, c.want)
		}
	}
	// Letters are keypad digits to libphonenumber: 0712abc678 would be +254712222678.
	for _, bad := range []string{"12", "+2547", "hello", "+999123456789", "0712abc678", "+254 712 ABC 678", "0712345678 ext. 9"} {
		if _, err := gateway.NormalizeNumber(bad, "KE"); err == nil {
			t.Errorf("NormalizeNumber(%q) accepted", bad)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	if got := gateway.MaskNumber("+254712345678"); got != "+2547*****678" {
		t.Fatalf("MaskNumber = %q", got)
	}
	if got := gateway.MaskNumber("12345"); got != "*****" {
		t.Fatalf("MaskNumber(short) = %q", got)
	}
}

// A submission that waits in the connector past the first half of its
// claim's lease is abandoned before anything is written, so another claim
// can never send the message a second time; the wait costs no attempt.
func TestSubmitAbandonedWhenLeaseHalfPasses(t *testing.T) {
	var blocked atomic.Int32
	a := newFake("a", 10, nil)
	h := newHarnessLease(t, []routing.Route{route("+", "a", 1)}, 200*time.Millisecond, a)
	a.submit = func(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult {
		if blocked.Add(1) == 1 {
			<-ctx.Done() // the carrier's pacing holds the first try past the deadline
			out := make([]gateway.PartResult, len(parts))
			for i, p := range parts {
				out[i] = gateway.PartResult{Index: p, Err: errors.New("rate: Wait(n=1) would exceed context deadline")}
			}
			return out
		}
		return nil
	}
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello"})
	m := h.waitStatus(t, id, gateway.StatusSubmitted)
	if m.Tries != 0 || blocked.Load() != 2 {
		t.Fatalf("tries %d after %d submissions; the abandoned one must not count", m.Tries, blocked.Load())
	}
}

// After Stop, a reader that has everything gets ErrStopped at once instead
// of polling a store that is going away.
func TestEventsEndAfterStop(t *testing.T) {
	a := newFake("a", 10, ok)
	h := newHarness(t, []routing.Route{route("+", "a", 1)}, a)
	if err := h.engine.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.engine.Events(ctx, "t", 1, 10); !errors.Is(err, gateway.ErrStopped) {
		t.Fatalf("Events after Stop: %v, want ErrStopped", err)
	}
}

func TestThrottlingDoesNotOpenTheBreaker(t *testing.T) {
	var throttle atomic.Bool
	throttle.Store(true)
	a := newFake("a", 10, func(m *gateway.Message, idx int) gateway.PartResult {
		if throttle.Load() {
			return gateway.PartResult{Err: &gateway.SubmitError{Decision: gateway.Retry, Code: "ESME_RTHROTTLED", Throttled: true}}
		}
		return ok(m, idx)
	})
	// The harness's breaker opens after 100 consecutive failures; 150
	// throttled attempts must not open it.
	h := newHarnessWith(t, []routing.Route{route("+", "a", 1)}, 0, func(o *gateway.Options) { o.MaxAttempts = 1000 }, a)
	id := h.send(t, gateway.SendRequest{To: "0712345678", Text: "hi"})
	// Each attempt is a claim, a submit and a reschedule commit: a loaded
	// box under -race has made ~14 a second, so the wait is generous.
	testutil.Eventually(t, 45*time.Second, func() error {
		if n := a.callCount(); n < 150 {
			return fmt.Errorf("%d throttled attempts so far", n)
		}
		return nil
	})
	throttle.Store(false)
	h.waitStatus(t, id, gateway.StatusSubmitted)
}

// A Retry answer keeps a message on its carrier only while the carrier's
// breaker is closed: the failure that trips it (or a failed half-open
// probe) sends the message on to the next route at once, so a message does
// not spend its attempts as the breaker's probe.
func TestRetryMovesOnWhenTheBreakerTrips(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "s.db")}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := newFake("a", 10, failWith(gateway.Retry, "ESME_RSYSERR"))
	b := newFake("b", 10, ok)
	table, err := routing.NewTable([]routing.Route{route("+", "a", 0.1), route("+", "b", 0.9)})
	if err != nil {
		t.Fatal(err)
	}
	router, err := routing.NewRouter(table, routing.Options{
		Breaker: routing.BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Hour, Probes: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := gateway.New(gateway.Options{
		Store: st, Router: router, Connectors: []gateway.Connector{a, b}, Segment: segmentByLength,
		Tenants:   []gateway.Tenant{{ID: "t", DefaultRegion: "KE", Sender: "MFI"}},
		RetryBase: time.Hour, RetryMax: time.Hour, PollEvery: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	h := &harness{e, st}
	id := h.send(t, gateway.SendRequest{To: "0712345678", Text: "hi"})
	// With an hour's retry delay, only moving on at once can submit it.
	m := h.waitStatus(t, id, gateway.StatusSubmitted)
	if m.Carrier != "b" || a.callCount() != 1 {
		t.Errorf("submitted through %q after %d tries of a; want b after a's one failure", m.Carrier, a.callCount())
	}
	// The failed try is written to the history once the message's turn ends.
	testutil.Eventually(t, 10*time.Second, func() error {
		m, err := st.Get(context.Background(), "t", id)
		if err != nil {
			return err
		}
		if len(m.Attempts) != 2 || m.Attempts[0].Carrier != "a" || m.Attempts[0].Outcome != "retry" || m.Attempts[1].Carrier != "b" {
			return fmt.Errorf("history %+v, want a's retry then b", m.Attempts)
		}
		return nil
	})
}

// TestAcceptPacedHoldsWhatIsOverTheRate: a caller that cannot retry
// (Fineract) is never refused for the tenant's rate; the messages over it
// are stored at once and held, burst by burst, until the rate allows them,
// and the tenant's other callers then wait for the budget the page used.
func TestAcceptPacedHoldsWhatIsOverTheRate(t *testing.T) {
	a := newFake("a", 10, ok)
	clock := testutil.NewClock(time.Now())
	h := newHarnessWith(t, []routing.Route{route("+", "a", 0.5)}, 0, func(o *gateway.Options) {
		o.Tenants[0].Rate, o.Tenants[0].Burst = 10, 10
		o.Now = clock.Now
	}, a)
	reqs := make([]gateway.SendRequest, 35)
	for i := range reqs {
		reqs[i] = gateway.SendRequest{To: "+254712345678", Text: fmt.Sprintf("page item %d", i)}
	}
	t0 := clock.Now()
	out, err := h.engine.AcceptPaced(context.Background(), "t", reqs)
	if err != nil {
		t.Fatalf("AcceptPaced over the rate: %v, want the page stored", err)
	}
	for i, o := range out {
		if o.Err != nil || o.ID == "" {
			t.Fatalf("item %d: %+v", i, o)
		}
		m, err := h.store.Get(context.Background(), "t", o.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Burst 10 at 10/s: items 0-9 now, 10-19 after 1 s, 20-29 after
		// 2 s, and the last 5 need 5 more tokens: 2.5 s.
		wait := []time.Duration{0, time.Second, 2 * time.Second, 2500 * time.Millisecond}[i/10]
		if wait == 0 {
			if !m.NotBefore.IsZero() && m.NotBefore.After(t0) {
				t.Errorf("item %d held until %v, want sent at once", i, m.NotBefore)
			}
			continue
		}
		lo, hi := t0.Add(wait-time.Millisecond), t0.Add(wait+time.Millisecond)
		if m.NotBefore.Before(lo) || m.NotBefore.After(hi) {
			t.Errorf("item %d not before %v, want %v after the call (between %v and %v)", i, m.NotBefore, wait, lo, hi)
		}
	}
	_, err = h.engine.Accept(context.Background(), "t", reqs[:1])
	var qe *gateway.QuotaError
	if !errors.As(err, &qe) || qe.RetryAfter < 2*time.Second {
		t.Fatalf("Accept after the paced page: %v, want a QuotaError asking to wait ≥ 2 s", err)
	}
}

// TestScheduleHorizon: a date within the configured horizon is kept as
// given (a year ahead by default; here a day), one beyond it refused.
func TestScheduleHorizon(t *testing.T) {
	a := newFake("a", 10, ok)
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	h := newHarnessWith(t, []routing.Route{route("+", "a", 1)}, 0, func(o *gateway.Options) {
		o.ScheduleHorizon = 24 * time.Hour
		o.Now = func() time.Time { return now }
	}, a)
	later := now.Add(23 * time.Hour)
	id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "x", NotBefore: later, ExpiresAt: later.Add(time.Hour)})
	m, err := h.store.Get(context.Background(), "t", id)
	if err != nil || !m.NotBefore.Equal(later) || !m.ExpiresAt.Equal(later.Add(time.Hour)) {
		t.Fatalf("stored %v / %v (%v), want %v / %v", m.NotBefore, m.ExpiresAt, err, later, later.Add(time.Hour))
	}
	out, err := h.engine.Accept(context.Background(), "t", []gateway.SendRequest{{To: "+254712345678", Text: "x", ExpiresAt: now.Add(25 * time.Hour)}})
	var fe *gateway.FieldError
	if err != nil || !errors.As(out[0].Err, &fe) || fe.Field != "expires_at" || !strings.Contains(fe.Reason, "24h0m0s") {
		t.Fatalf("expires_at beyond the horizon: %v %v, want a FieldError naming it and the horizon", out, err)
	}
}

// TestStaleReceiptsCountedAndExplained: a receipt for a part already final
// is never applied; once no part reusing its id was recorded within
// ReceiptRace it is counted stale and, once a minute per carrier, logged
// with a hint at the usual causes (a reused id, an id base).
func TestStaleReceiptsCountedAndExplained(t *testing.T) {
	a := newFake("a", 10, ok)
	logs := &testutil.Logs{}
	reg := prometheus.NewRegistry()
	var skew atomic.Int64 // the engine's clock runs ahead of the store's by this
	h := newHarnessWith(t, []routing.Route{route("+", "a", 0.5)}, 0, func(o *gateway.Options) {
		o.Logger, o.Registerer = logs.Logger(), reg
		o.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		o.ReceiptPruneEvery = 10 * time.Millisecond
	}, a)
	id := h.send(t, gateway.SendRequest{To: "0712345678", Text: "hi"})
	m := h.waitStatus(t, id, gateway.StatusSubmitted)
	r := gateway.Receipt{Carrier: "a", CarrierID: m.Parts[0].CarrierID, Status: gateway.StatusDelivered, State: "DELIVRD"}
	for range 3 {
		if err := a.sink.HandleReceipts(context.Background(), []gateway.Receipt{r}); err != nil {
			t.Fatal(err)
		}
	}
	late := r
	late.Status, late.State = gateway.StatusUndelivered, "UNDELIV"
	if err := a.sink.HandleReceipts(context.Background(), []gateway.Receipt{late}); err != nil {
		t.Fatal(err)
	}
	if g := h.waitStatus(t, id, gateway.StatusDelivered); g.Parts[0].Status != gateway.StatusDelivered {
		t.Fatalf("a stale receipt changed the part: %s", g.Parts[0].Status)
	}
	stale := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "smsgw_gateway_receipts_stale_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	// Within the race they are held, not stale: a part reusing the id
	// may be recorded yet.
	time.Sleep(50 * time.Millisecond) // a few prune rounds
	if n := stale(); n != 0 {
		t.Fatalf("smsgw_gateway_receipts_stale_total = %v within the race, want 0", n)
	}
	skew.Store(int64(gateway.ReceiptRace + time.Second))
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := stale(); n != 3 {
			return fmt.Errorf("smsgw_gateway_receipts_stale_total = %v, want 3", n)
		}
		return nil
	})
	rec, found := logs.Find("counted stale")
	if !found || rec["carrier"] != "a" || !strings.Contains(fmt.Sprint(rec["hint"]), "receipt_id_format") {
		t.Errorf("stale log %v, want one naming the carrier with a hint about the id format", rec)
	}
	if n := strings.Count(logs.String(), "counted stale"); n != 1 {
		t.Errorf("stale receipts logged %d times within a minute, want once", n)
	}
}

// failingWrites is a real store whose writes the test can make fail the
// way a full disk does, reporting them as the stores do (WriteHealth).
type failingWrites struct {
	gateway.Store
	now           func() time.Time
	mu            sync.Mutex
	full          bool
	total         uint64
	since, lastAt time.Time
	last          error
}

func (f *failingWrites) Accept(ctx context.Context, msgs []*gateway.Message) ([]gateway.AcceptResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.full {
		f.total++
		if f.since.IsZero() {
			f.since = f.now()
		}
		f.lastAt, f.last = f.now(), fmt.Errorf("store: commit: database or disk is full (%w)", gateway.ErrUnavailable)
		return nil, f.last
	}
	res, err := f.Store.Accept(ctx, msgs)
	if err == nil {
		f.since = time.Time{}
	}
	return res, err
}

func (f *failingWrites) WriteFailures() (uint64, time.Time, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total, f.since, f.lastAt, f.last
}

// Commits are the wrapped store's.
func (f *failingWrites) Commits() uint64 { return f.Store.(gateway.WriteHealth).Commits() }

// TestStoreWriteFailuresReported: while the store's writes fail, the engine
// logs one ERROR a minute (not one per refused call), counts them, and
// StoreWritable (what /readyz answers) says why; once a write succeeds it
// says so once and is writable again.
func TestStoreWriteFailuresReported(t *testing.T) {
	a := newFake("a", 10, ok)
	clock := testutil.NewClock(time.Now())
	logs := &testutil.Logs{}
	reg := prometheus.NewRegistry()
	var fw *failingWrites
	h := newHarnessWith(t, []routing.Route{route("+", "a", 1)}, 0, func(o *gateway.Options) {
		fw = &failingWrites{Store: o.Store, now: clock.Now}
		o.Store, o.Now, o.Logger, o.Registerer = fw, clock.Now, logs.Logger(), reg
	}, a)
	ctx := context.Background()
	fw.mu.Lock()
	fw.full = true
	fw.mu.Unlock()
	for range 20 {
		if _, err := h.engine.Accept(ctx, "t", []gateway.SendRequest{{To: "+254712345678", Text: "x"}}); !errors.Is(err, gateway.ErrUnavailable) {
			t.Fatalf("accept on a full disk: %v", err)
		}
	}
	if err := h.engine.StoreWritable(); err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("StoreWritable while full: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := strings.Count(logs.String(), "store: writes failing"); n != 1 {
			return fmt.Errorf("%d ERROR lines", n)
		}
		return nil
	})
	gauge := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				if c := mf.GetMetric()[0].GetCounter(); c != nil {
					return c.GetValue()
				}
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	if n, g := gauge("smsgw_store_write_failures_total"), gauge("smsgw_store_write_failing"); n != 20 || g != 1 {
		t.Errorf("failures %v, failing %v; want 20 and 1", n, g)
	}
	// Still failing a minute later: one more line, not twenty.
	clock.Advance(61 * time.Second)
	if _, err := h.engine.Accept(ctx, "t", []gateway.SendRequest{{To: "+254712345678", Text: "x"}}); err == nil {
		t.Fatal("accepted on a full disk")
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := strings.Count(logs.String(), "store: writes failing"); n != 2 {
			return fmt.Errorf("%d ERROR lines after a minute, want 2", n)
		}
		return nil
	})
	rec, _ := logs.Find("store: writes failing")
	if rec["level"] != "ERROR" {
		t.Errorf("logged at %v", rec["level"])
	}
	fw.mu.Lock()
	fw.full = false
	fw.mu.Unlock()
	h.send(t, gateway.SendRequest{To: "+254712345678", Text: "space again"})
	if err := h.engine.StoreWritable(); err != nil {
		t.Errorf("StoreWritable after a write succeeded: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if _, ok := logs.Find("store: writes succeed again"); !ok {
			return errors.New("no recovery line")
		}
		return nil
	})
	// The store's commits are counted (those of the sends that succeeded).
	if c := gauge("smsgw_store_commits_total"); c < 1 {
		t.Errorf("smsgw_store_commits_total %v after a successful send, want ≥ 1", c)
	}
}
