package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/openmf/smsgw/internal/testutil"
)

// upConn is a connector that is up or down as told and sends nothing.
type upConn struct{ up atomic.Bool }

func (c *upConn) Name() string                                         { return "a" }
func (c *upConn) Start(Sink) error                                     { return nil }
func (c *upConn) Submit(context.Context, *Message, []int) []PartResult { return nil }
func (c *upConn) Up() bool                                             { return c.up.Load() }
func (c *upConn) Window() int                                          { return 1 }
func (c *upConn) Stop(context.Context) error                           { return nil }

// reserve hands slots over only while the dispatcher runs, a carrier is up
// and no due message waits in the store, and never more than are free.
func TestReserveOnlyWhenNothingWaits(t *testing.T) {
	conn := &upConn{}
	conn.up.Store(true)
	cs, err := newCarriers([]Connector{conn})
	if err != nil {
		t.Fatal(err)
	}
	d := &dispatcher{carriers: cs, slots: make(chan struct{}, 3), handed: make(chan *Message, 3)}
	d.idle.Store(true)
	if n := d.reserve(2); n != 0 {
		t.Errorf("before start reserve = %d, want 0", n)
	}
	d.running.Store(true)
	d.idle.Store(false)
	if n := d.reserve(2); n != 0 {
		t.Errorf("before a claim found the store empty reserve = %d, want 0", n)
	}
	d.idle.Store(true)
	if n := d.reserve(2); n != 2 {
		t.Errorf("idle with 3 free slots reserve(2) = %d, want 2", n)
	}
	if n := d.reserve(2); n != 1 {
		t.Errorf("with 1 free slot reserve(2) = %d, want 1", n)
	}
	d.unreserve(3)
	if len(d.slots) != 0 {
		t.Errorf("%d slots held after unreserve, want 0", len(d.slots))
	}
	conn.up.Store(false)
	if n := d.reserve(1); n != 0 {
		t.Errorf("with every carrier down reserve = %d, want 0", n)
	}
	conn.up.Store(true)
	d.storedWaiting()
	if n := d.reserve(1); n != 0 {
		t.Errorf("with due messages stored unleased reserve = %d, want 0", n)
	}
	d.running.Store(false)
	d.idle.Store(true)
	if n := d.reserve(1); n != 0 {
		t.Errorf("after halt reserve = %d, want 0", n)
	}
}

// stopStore is the little of a store a dispatcher that claims nothing
// uses: it remembers which messages were released for another attempt.
type stopStore struct {
	MessageStore
	mu          sync.Mutex
	rescheduled []string
}

func (s *stopStore) Claim(context.Context, time.Time, int) ([]*Message, error) { return nil, nil }
func (s *stopStore) Backlog(context.Context) (int64, error)                    { return 0, nil }
func (s *stopStore) PruneReceipts(context.Context, ReceiptPrune) (ReceiptsPruned, error) {
	return ReceiptsPruned{}, nil
}

func (s *stopStore) Reschedule(_ context.Context, id string, _, _ time.Time, _ string, _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rescheduled = append(s.rescheduled, id)
	return nil
}

func (s *stopStore) released() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rescheduled)
}

// noPlan is a router with no carrier for anything now: a message a worker
// takes is released for another attempt.
type noPlan struct{ Router }

func (noPlan) Plan(RouteQuery) ([]Candidate, error) { return nil, nil }

// bareDispatcher is a dispatcher on st with one carrier, up, that takes
// nothing (noPlan), 2 workers and one tenant "t", polling every
// pollEvery; not started.
func bareDispatcher(t *testing.T, st MessageStore, pollEvery time.Duration) *dispatcher {
	t.Helper()
	conn := &upConn{}
	conn.up.Store(true)
	cs, err := newCarriers([]Connector{conn})
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	watch, err := newStoreWatch(nil, time.Now, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &dispatcher{store: st, router: noPlan{}, carriers: cs, feed: newEventFeed(nil, time.Second), metrics: m, log: log,
		now: time.Now, storeWatch: watch, tenants: &tenants{}, maxAttempts: 3, retryBase: time.Second, retryMax: time.Minute,
		claimBatch: 4, workers: 2, pollEvery: pollEvery, receiptKeep: time.Hour, receiptKeepMax: 10, receiptPruneEvery: time.Minute,
		wake: make(chan struct{}, 1)}
	set, err := newTenantSet([]Tenant{{ID: "t"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.tenants.set.Store(set)
	return d
}

// A message the acceptor stored leased in a slot it reserved before the
// dispatcher halted, and hands over after, still reaches a worker (here:
// released for another attempt) instead of staying leased with no one to
// send it; once every reserved slot is handed over or given back the
// workers end.
func TestHandedOverAfterHaltReachesAWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &stopStore{}
		d := bareDispatcher(t, st, time.Second)
		d.start(context.Background())
		synctest.Wait() // the first claim found nothing: idle
		if n := d.reserve(2); n != 2 {
			t.Fatalf("reserve(2) = %d, want 2", n)
		}
		d.halt()
		d.waitLoops()
		synctest.Wait() // whatever the workers do once the claim loop has ended
		now := time.Now()
		d.hand(&Message{ID: "m1", Tenant: "t", To: "+254712345678", Parts: []Part{{Index: 0}},
			LeaseUntil: now.Add(time.Minute), claimedAt: now})
		d.unreserve(1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.drain(ctx); err != nil {
			t.Fatalf("drain: %v", err)
		}
		if got := st.released(); !slices.Equal(got, []string{"m1"}) {
			t.Fatalf("messages a worker took after the halt: %v, want [m1] (a handed message left leased)", got)
		}
	})
}

// racingStore finds no due message; during its first claims an accept
// stores one unleased (as the acceptor does while the dispatcher is not
// idle), which the claim may or may not have seen.
type racingStore struct {
	stopStore
	d      *dispatcher
	races  int // claims left that race a stored message
	claims atomic.Int32
}

func (s *racingStore) Claim(context.Context, time.Time, int) ([]*Message, error) {
	s.claims.Add(1)
	if s.races > 0 {
		s.races--
		s.d.storedWaiting()
	}
	return nil, nil
}

// A claim that found nothing more while a message was stored beside it
// lets the dispatcher hand over again and claims once more at once for
// that message; under a steady flow some claim always raced an accept,
// and nothing was ever handed over.
func TestRacedClaimHandsOverAndClaimsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &racingStore{races: 3}
		d := bareDispatcher(t, st, time.Hour)
		st.d = d
		d.start(context.Background())
		defer func() {
			d.halt()
			d.waitLoops()
		}()
		synctest.Wait()
		// Three raced claims, each run again at once, and a fourth that
		// raced none; no wake-up and no poll (an hour) in between.
		if n := st.claims.Load(); n != 4 {
			t.Errorf("claims = %d, want 4: a raced claim is run again at once", n)
		}
		n := d.reserve(1)
		if n != 1 {
			t.Errorf("after a claim that found nothing reserve(1) = %d, want 1", n)
		}
		d.unreserve(n)
	})
}

// lostStore answers Reschedule and Finish as a store does for a claim
// whose lease passed to another claim, noting the lease each was given.
type lostStore struct {
	MessageStore
	mu     sync.Mutex
	leases []time.Time
}

func (s *lostStore) Reschedule(_ context.Context, _ string, lease, _ time.Time, _ string, _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leases = append(s.leases, lease)
	return fmt.Errorf("store: reschedule: %w", ErrLeaseLost)
}

func (s *lostStore) Finish(_ context.Context, _ string, lease time.Time, _ Status, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leases = append(s.leases, lease)
	return fmt.Errorf("store: finish: %w", ErrLeaseLost)
}

// A turn whose claim lost its lease to another claim (a stall longer than
// the lease) hands the store its own lease, and when the store says the
// message is another claim's, drops its outcome with a warning: no retry
// counted, no ERROR, nothing ended.
func TestLeaseLostOutcomeDropped(t *testing.T) {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Logs{}
	st := &lostStore{}
	d := &dispatcher{store: st, metrics: m, log: logs.Logger(), now: time.Now, feed: newEventFeed(nil, time.Second),
		maxAttempts: 3, retryBase: time.Second, retryMax: time.Minute}
	lease := time.Now().Add(-time.Second)
	msg := &Message{ID: "m1", Tenant: "t", LeaseUntil: lease}
	d.retry(context.Background(), msg, errors.New("carrier busy"), true)
	d.finish(context.Background(), msg, StatusFailed, "gave up")
	if len(st.leases) != 2 || !st.leases[0].Equal(lease) || !st.leases[1].Equal(lease) {
		t.Errorf("leases given to the store %v, want the claim's %v twice", st.leases, lease)
	}
	if n := promtestutil.ToFloat64(m.retries); n != 0 {
		t.Errorf("%v retries counted for an outcome dropped", n)
	}
	for _, what := range []string{"reschedule", "finish"} {
		rec, ok := logs.Find(what + ": the claim's lease lapsed and another claim holds the message; this outcome is dropped")
		if !ok || rec["level"] != "WARN" || rec["msg_id"] != "m1" {
			t.Errorf("%s: logged %v (found %v), want a WARN naming the message", what, rec, ok)
		}
	}
	if _, ok := logs.Find("message ended before delivery"); ok {
		t.Error("a dropped Finish was reported as ending the message")
	}
}
