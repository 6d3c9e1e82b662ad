package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/routing"
)

// messageClaims is a real store that remembers which messages its claims
// returned.
type messageClaims struct {
	gateway.Store
	mu      sync.Mutex
	claimed []string
}

func (c *messageClaims) Claim(ctx context.Context, now time.Time, limit int) ([]*gateway.Message, error) {
	ms, err := c.Store.Claim(ctx, now, limit)
	c.note(ms)
	return ms, err
}

func (c *messageClaims) ClaimFor(ctx context.Context, now time.Time, tenant string, limit int) ([]*gateway.Message, error) {
	ms, err := c.Store.ClaimFor(ctx, now, tenant, limit)
	c.note(ms)
	return ms, err
}

func (c *messageClaims) note(ms []*gateway.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range ms {
		c.claimed = append(c.claimed, m.ID)
	}
}

func (c *messageClaims) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.claimed)
}

// newClaimHarness is a harness whose engine claims through a messageClaims.
func newClaimHarness(t *testing.T, tune func(*gateway.Options), conns ...gateway.Connector) (*harness, *messageClaims) {
	t.Helper()
	var cc *messageClaims
	h := newHarnessWith(t, []routing.Route{route("+", "a", 1)}, 0, func(o *gateway.Options) {
		cc = &messageClaims{Store: o.Store}
		o.Store = cc
		if tune != nil {
			tune(o)
		}
	}, conns...)
	return h, cc
}

// With room in the dispatcher and nothing waiting in the store, what is
// accepted is stored leased and handed to a worker: no claim reads it back
// (the first may race the dispatcher's first claim).
func TestAcceptedHandedOverWithoutAClaim(t *testing.T) {
	a := newFake("a", 10, nil)
	reg := prometheus.NewRegistry()
	h, cc := newClaimHarness(t, func(o *gateway.Options) { o.Registerer = reg }, a)
	var sent []string
	for range 20 {
		id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "hello"})
		h.waitStatus(t, id, gateway.StatusSubmitted)
		sent = append(sent, id)
	}
	if got := cc.ids(); len(got) > 1 {
		t.Errorf("%d of %d messages went through a claim, want at most the first", len(got), len(sent))
	}
	if a.callCount() != len(sent) {
		t.Errorf("carrier saw %d submissions for %d messages", a.callCount(), len(sent))
	}
	via := dispatched(t, reg)
	if via["accept"]+via["claim"] != float64(len(sent)) || via["claim"] != float64(len(cc.ids())) {
		t.Errorf("smsgw_gateway_dispatched_total = %v, want %d in all, %d by claim", via, len(sent), len(cc.ids()))
	}
}

// dispatched reads smsgw_gateway_dispatched_total by its via label.
func dispatched(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "smsgw_gateway_dispatched_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// While messages wait in the store (every worker busy), what is accepted
// is stored unleased behind them and claimed in order; handing over
// resumes once a claim found nothing more.
func TestNoHandOverWhileMessagesWait(t *testing.T) {
	gate := make(chan struct{})
	a := newFake("a", 10, nil)
	var held sync.WaitGroup
	held.Add(2)
	var once sync.Map
	a.submit = func(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult {
		if _, seen := once.LoadOrStore(m.ID, true); !seen {
			select {
			case <-gate:
			default:
				held.Done()
				<-gate
			}
		}
		return nil
	}
	h, cc := newClaimHarness(t, func(o *gateway.Options) { o.Workers, o.ClaimBatch = 2, 2 }, a)
	first := []string{
		h.send(t, gateway.SendRequest{To: "+254712345678", Text: "one"}),
		h.send(t, gateway.SendRequest{To: "+254712345678", Text: "two"}),
	}
	held.Wait() // both workers are inside the carrier
	before := len(cc.ids())
	waiting := []string{
		h.send(t, gateway.SendRequest{To: "+254712345678", Text: "three"}),
		h.send(t, gateway.SendRequest{To: "+254712345678", Text: "four"}),
	}
	close(gate)
	for _, id := range append(first, waiting...) {
		h.waitStatus(t, id, gateway.StatusSubmitted)
	}
	claimed := cc.ids()[before:]
	slices.Sort(claimed)
	if !slices.Equal(claimed, waiting) {
		t.Fatalf("claims after the workers were busy took %v, want the two that waited %v", claimed, waiting)
	}
	// A claim found nothing more: the next message is handed over again.
	testutil.Eventually(t, 5*time.Second, func() error {
		id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "five"})
		h.waitStatus(t, id, gateway.StatusSubmitted)
		if slices.Contains(cc.ids(), id) {
			return errClaimed
		}
		return nil
	})
}

var errClaimed = errors.New("the message went through a claim")

// A call naming one client ref twice stores and hands over one message,
// sent once; the slot reserved for the duplicate goes back, so two
// messages accepted together later are both handed over again.
func TestDuplicateRefInACallGivesItsSlotBack(t *testing.T) {
	a := newFake("a", 10, nil)
	h, cc := newClaimHarness(t, func(o *gateway.Options) { o.Workers = 2 }, a)
	sent, ref := 0, 0
	testutil.Eventually(t, 5*time.Second, func() error {
		ref++
		r := gateway.SendRequest{To: "+254712345678", Text: "same", ClientRef: fmt.Sprint("r", ref)}
		out, err := h.engine.Accept(t.Context(), "t", []gateway.SendRequest{r, r})
		if err != nil {
			t.Fatal(err)
		}
		if out[0].Err != nil || out[1].Err != nil || out[1].ID != out[0].ID || !out[1].Duplicate {
			t.Fatalf("outcomes = %+v, want the second a duplicate of the first", out)
		}
		sent++
		h.waitStatus(t, out[0].ID, gateway.StatusSubmitted)
		if slices.Contains(cc.ids(), out[0].ID) {
			return errClaimed // not handed over yet: the first claim had not run
		}
		return nil
	})
	testutil.Eventually(t, 5*time.Second, func() error {
		pair, err := h.engine.Accept(t.Context(), "t", []gateway.SendRequest{
			{To: "+254712345678", Text: "one"}, {To: "+254712345678", Text: "two"},
		})
		if err != nil {
			t.Fatal(err)
		}
		sent += 2
		for _, o := range pair {
			h.waitStatus(t, o.ID, gateway.StatusSubmitted)
		}
		for _, o := range pair {
			if slices.Contains(cc.ids(), o.ID) {
				return errClaimed
			}
		}
		return nil
	})
	if a.callCount() != sent {
		t.Errorf("carrier saw %d submissions for %d messages", a.callCount(), sent)
	}
}

// stallingAccept is a messageClaims whose Accept, once stall is set, stores
// the messages and then waits for release before it answers: a store that
// stalled (a lock, a slow disk) after the commit.
type stallingAccept struct {
	*messageClaims
	stall   atomic.Bool
	stored  chan string
	release chan struct{}
}

func (s *stallingAccept) Accept(ctx context.Context, msgs []*gateway.Message) ([]gateway.AcceptResult, error) {
	res, err := s.messageClaims.Accept(ctx, msgs)
	if err == nil && s.stall.Load() {
		s.stored <- res[0].ID
		<-s.release
	}
	return res, err
}

// A message whose lease's first half passed while Accept ran cannot be
// sent under that lease any more, and once the lease lapsed a claim may
// have taken it: it is not handed over (a worker would release it for
// another attempt under the claim, and it would be sent twice). It is
// left to its lease, as a claim's is, and sent once.
func TestNotHandedOverWhenTheLeasePassedDuringAccept(t *testing.T) {
	reg := prometheus.NewRegistry()
	var (
		mu     sync.Mutex
		sends  = map[string]int{}
		target atomic.Value // the stalled message's id
	)
	inCarrier, gate := make(chan struct{}), make(chan struct{})
	a := newFake("a", 10, nil)
	a.submit = func(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult {
		mu.Lock()
		sends[m.ID]++
		n := sends[m.ID]
		mu.Unlock()
		if id, _ := target.Load().(string); id == m.ID && n == 1 {
			close(inCarrier) // the claim's turn holds the message here
			<-gate
		}
		return nil
	}
	var st *stallingAccept
	h := newHarnessWith(t, []routing.Route{route("+", "a", 1)}, time.Second, func(o *gateway.Options) {
		st = &stallingAccept{messageClaims: &messageClaims{Store: o.Store}, stored: make(chan string), release: make(chan struct{})}
		o.Store, o.Registerer = st, reg
	}, a)
	testutil.Eventually(t, 5*time.Second, func() error { // handing over has begun
		id := h.send(t, gateway.SendRequest{To: "+254712345678", Text: "warm"})
		h.waitStatus(t, id, gateway.StatusSubmitted)
		if slices.Contains(st.ids(), id) {
			return errClaimed
		}
		return nil
	})
	st.stall.Store(true)
	sent := make(chan string, 1)
	go func() {
		out, err := h.engine.Accept(context.Background(), "t", []gateway.SendRequest{{To: "+254712345678", Text: "stalled"}})
		if err != nil || out[0].Err != nil {
			t.Errorf("accept: %v %v", err, out)
		}
		sent <- out[0].ID
	}()
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("after 10s: %s", what)
		}
	}
	var id string
	stored := make(chan struct{})
	go func() { id = <-st.stored; close(stored) }()
	wait(stored, "the stalled Accept has not stored its message") // leased for a second
	target.Store(id)
	st.stall.Store(false)
	wait(inCarrier, "no claim took the message once its lease lapsed") // its turn is in the carrier
	before := dispatched(t, reg)["accept"]
	close(st.release)
	answered := make(chan struct{})
	go func() { <-sent; close(answered) }()
	wait(answered, "the stalled Accept did not answer")
	if after := dispatched(t, reg)["accept"]; after != before {
		t.Errorf("the message whose lease lapsed during Accept was handed over too (via=accept %v -> %v)", before, after)
	}
	close(gate)
	h.waitStatus(t, id, gateway.StatusSubmitted)
	mu.Lock()
	defer mu.Unlock()
	if sends[id] != 1 {
		t.Errorf("the message was submitted %d times, want once", sends[id])
	}
}
