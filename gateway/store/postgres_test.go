package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store/pgtest"
	"github.com/openmf/smsgw/gateway/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestPostgresContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() gateway.Store {
		dsn := pgtest.NewDatabase(t)
		return func() gateway.Store {
			s, err := Open(context.Background(), Config{Driver: DriverPostgres, DSN: dsn}, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	})
}

// openPG opens a PostgreSQL store on dsn, closed at cleanup.
func openPG(t testing.TB, dsn string, opts Options) *pgStore {
	t.Helper()
	s, err := Open(context.Background(), Config{Driver: DriverPostgres, DSN: dsn}, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*pgStore)
}

// Nodes starting together migrate once, under the lock, and agree on the
// version.
func TestPostgresConcurrentMigrate(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := Open(t.Context(), Config{Driver: DriverPostgres, DSN: dsn}, Options{})
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	s := openPG(t, dsn, Options{})
	var n, version int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &version); err != nil {
		t.Fatal(err)
	}
	if n != schemaVersion || version != schemaVersion {
		t.Errorf("schema_migrations has %d rows, version %d; want %d of each (one row a migration)", n, version, schemaVersion)
	}
}

// Two nodes: leases are not cleared when a node opens (the other is alive),
// claims are disjoint, a lapsed lease is taken over by the other node, and a
// receipt arriving on one node matches a part the other submitted.
func TestPostgresTwoNodes(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a := openPG(t, dsn, Options{})
	msgs := make([]*gateway.Message, 20)
	for i := range msgs {
		msgs[i] = oneMsg("t1")
	}
	if _, err := a.Accept(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	heldByA, err := a.Claim(t.Context(), now, 5)
	if err != nil || len(heldByA) != 5 {
		t.Fatalf("node a claimed %d, %v", len(heldByA), err)
	}
	b := openPG(t, dsn, Options{}) // opening b must not free a's leases
	var ownerA string
	if err := b.pool.QueryRow(t.Context(), "SELECT lease_owner FROM messages WHERE id = $1", heldByA[0].ID).Scan(&ownerA); err != nil || ownerA != a.node {
		t.Errorf("lease_owner %q (%v), want node a %q", ownerA, err, a.node)
	}
	got, err := b.Claim(t.Context(), now, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 15 {
		t.Errorf("node b claimed %d, want the 15 not leased by a", len(got))
	}
	for _, m := range got {
		if slices.Contains(ids(heldByA), m.ID) {
			t.Errorf("node b claimed %s, leased by a", m.ID)
		}
	}
	// a dies; once its leases lapse b takes its work over.
	a.Close()
	later := now.Add(DefaultLeaseDuration + time.Second)
	got, err = b.Claim(t.Context(), later, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Errorf("after every lease lapsed b claimed %d, want all %d", len(got), len(msgs))
	}
	for _, id := range ids(heldByA) {
		if !slices.Contains(ids(got), id) {
			t.Errorf("a's lapsed lease on %s was not taken over", id)
		}
	}

	// Submitted on b, receipted on c.
	c := openPG(t, dsn, Options{})
	m := got[0]
	if err := b.RecordSubmits(t.Context(), []gateway.SubmitRecord{{MessageID: m.ID, Carrier: "c1", CarrierID: "X9"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.RecordReceipts(t.Context(), []gateway.Receipt{{Carrier: "c1", CarrierID: "X9", Status: gateway.StatusDelivered, State: "DELIVRD"}}); err != nil || n.Matched != 1 {
		t.Fatalf("receipt on another node matched %+v, %v", n, err)
	}
	if g, err := b.Get(t.Context(), "t1", m.ID); err != nil || g.Status != gateway.StatusDelivered {
		t.Errorf("message after a receipt on another node: %+v, %v", g, err)
	}
}

func ids(ms []*gateway.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// A receipt and the submit record of its id race on two nodes: whichever
// commits first, the receipt ends applied, never stranded as unmatched.
func TestPostgresReceiptSubmitRace(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := openPG(t, dsn, Options{}), openPG(t, dsn, Options{})
	const n = 60
	msgs := make([]*gateway.Message, n)
	for i := range msgs {
		msgs[i] = oneMsg("t1")
	}
	if _, err := a.Accept(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, m := range msgs {
		id := fmt.Sprintf("race-%d", i)
		wg.Go(func() {
			if err := a.RecordSubmits(t.Context(), []gateway.SubmitRecord{{MessageID: m.ID, Carrier: "c1", CarrierID: id}}); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := b.RecordReceipts(t.Context(), []gateway.Receipt{{Carrier: "c1", CarrierID: id, Status: gateway.StatusDelivered}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, m := range msgs {
		if g, err := b.Get(t.Context(), "", m.ID); err != nil || g.Status != gateway.StatusDelivered {
			t.Errorf("%s: %s, %v; want DELIVERED", m.ID, g.Status, err)
		}
	}
}

// EventsChanged wakes a node when another node appends events.
func TestPostgresEventsChanged(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := openPG(t, dsn, Options{}), openPG(t, dsn, Options{})
	var n gateway.EventNotifier = a
	ch := n.EventsChanged()
	select {
	case <-ch:
		t.Fatal("woken before any event")
	default:
	}
	if _, err := b.Accept(t.Context(), []*gateway.Message{oneMsg("t1")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("node a not woken by node b's event")
	}
	// Claims append no events and wake nobody.
	ch = a.EventsChanged()
	if _, err := b.Claim(t.Context(), time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RecordInbound(t.Context(), []*gateway.Inbound{{Tenant: "t1", Carrier: "c1", Text: "BAL"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("node a not woken by an inbound event")
	}
}

// A carrier's binds are capped across nodes: with 2 slots, a third
// acquisition waits until a slot is released, and the slots of a store that
// closes (a node that dies) free up.
func TestPostgresBindSlots(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	opts := Options{BindSlotPoll: 10 * time.Millisecond}
	a, b := openPG(t, dsn, opts), openPG(t, dsn, opts)
	var slots gateway.BindSlots = a
	s1, rel1, err := slots.AcquireBindSlot(t.Context(), "acme", 2)
	if err != nil {
		t.Fatal(err)
	}
	s2, rel2, err := b.AcquireBindSlot(t.Context(), "acme", 2)
	if err != nil {
		t.Fatal(err)
	}
	if s1 == s2 {
		t.Fatalf("both nodes hold slot %d", s1)
	}
	// Another carrier's slots are separate.
	_, relOther, err := b.AcquireBindSlot(t.Context(), "other", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer relOther()

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	if _, _, err := b.AcquireBindSlot(ctx, "acme", 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third slot of two: %v, want to wait until the deadline", err)
	}
	cancel()

	type got struct {
		slot    int
		release func()
		err     error
	}
	third := make(chan got, 1)
	go func() {
		s, rel, err := b.AcquireBindSlot(t.Context(), "acme", 2)
		third <- got{s, rel, err}
	}()
	select {
	case g := <-third:
		t.Fatalf("third acquisition did not wait: %+v", g)
	case <-time.After(100 * time.Millisecond):
	}
	rel2()
	rel2() // idempotent
	var g got
	select {
	case g = <-third:
	case <-time.After(10 * time.Second):
		t.Fatal("third acquisition still waiting after a release")
	}
	if g.err != nil || g.slot != s2 {
		t.Fatalf("third acquisition: slot %d, %v; want the released slot %d", g.slot, g.err, s2)
	}

	// Node a dies: its slot frees without a release.
	_ = rel1
	fourth := make(chan got, 1)
	go func() {
		s, rel, err := b.AcquireBindSlot(t.Context(), "acme", 2)
		fourth <- got{s, rel, err}
	}()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case g = <-fourth:
	case <-time.After(10 * time.Second):
		t.Fatal("a closed store's slot was not freed")
	}
	if g.err != nil || g.slot != s1 {
		t.Errorf("after node a closed: slot %d, %v; want %d", g.slot, g.err, s1)
	}
	if _, _, err := a.AcquireBindSlot(t.Context(), "acme", 2); !errors.Is(err, ErrClosed) {
		t.Errorf("AcquireBindSlot after Close: %v, want ErrClosed", err)
	}
}

// Events read from a follower wait out writers that drew a smaller seq:
// here a writer holds its transaction open, and the reader sees nothing past
// it until it commits.
func TestPostgresEventsWaitForEarlierSeq(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s := openPG(t, dsn, Options{})
	if _, err := s.Accept(t.Context(), []*gateway.Message{oneMsg("t1")}); err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	commit := make(chan struct{})
	var release sync.Once
	// Runs before the store's Close (cleanups run last in, first out), which
	// waits for the held transaction.
	t.Cleanup(func() { release.Do(func() { close(commit) }) })
	done := make(chan error, 1)
	go func() {
		// A transaction of its own, as another node's (or another writer's)
		// would be: the store's own batches go on meanwhile.
		done <- s.writeAlone(context.Background(), "slow", func(w *ptx) error {
			w.event("t1", "slow", gateway.StatusFailed, "")
			if err := w.flushEvents(); err != nil {
				return err
			}
			w.events = nil
			close(held)
			<-commit
			return nil
		})
	}()
	<-held
	fast := oneMsg("t1")
	if _, err := s.Accept(t.Context(), []*gateway.Message{fast}); err != nil {
		t.Fatal(err)
	}
	read := make(chan []gateway.Event, 1)
	go func() {
		evs, err := s.Events(context.Background(), "", 2, 10)
		if err != nil {
			t.Error(err)
		}
		read <- evs
	}()
	select {
	case evs := <-read:
		t.Fatalf("Events returned %+v while seq 2 was uncommitted", evs)
	case <-time.After(200 * time.Millisecond):
	}
	release.Do(func() { close(commit) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs := <-read
	if len(evs) != 2 || evs[0].MessageID != "slow" || evs[1].MessageID != fast.ID {
		t.Errorf("Events after the commit: %+v, want the slow event then the fast one", evs)
	}
}

func TestPostgresCloseIdempotentAndErrClosed(t *testing.T) {
	checkCloseIdempotentAndErrClosed(t, openPG(t, pgtest.NewDatabase(t), Options{}))
}

func TestPostgresRefusesNonDurable(t *testing.T) {
	dsn := pgtest.NewDatabase(t) + " options='-c synchronous_commit=off'"
	_, err := Open(t.Context(), Config{Driver: DriverPostgres, DSN: dsn}, Options{})
	if err == nil {
		t.Fatal("Open with synchronous_commit=off succeeded")
	}
}

// Cancel on one node races Claim on another: each message ends up either
// claimed (and its Cancel refused) or canceled (and never claimed), never
// both, whatever the interleaving.
func TestPostgresCancelClaimRace(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a := openPG(t, dsn, Options{})
	b := openPG(t, dsn, Options{})
	msgs := make([]*gateway.Message, 60)
	for i := range msgs {
		msgs[i] = oneMsg("t1")
	}
	if _, err := a.Accept(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var (
		mu       sync.Mutex
		claimed  = map[string]bool{}
		canceled = map[string]bool{}
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for range 30 {
			ms, err := a.Claim(t.Context(), now, 3)
			if err != nil {
				t.Errorf("Claim: %v", err)
				return
			}
			mu.Lock()
			for _, m := range ms {
				claimed[m.ID] = true
			}
			mu.Unlock()
		}
	})
	wg.Go(func() {
		for _, m := range msgs {
			err := b.Cancel(t.Context(), "t1", m.ID, now)
			switch {
			case err == nil:
				mu.Lock()
				canceled[m.ID] = true
				mu.Unlock()
			case !errors.Is(err, gateway.ErrNotCancelable):
				t.Errorf("Cancel %s: %v", m.ID, err)
			}
		}
	})
	wg.Wait()
	for _, m := range msgs {
		g, err := a.Get(t.Context(), "t1", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case claimed[m.ID] && canceled[m.ID]:
			t.Errorf("%s was both claimed and canceled", m.ID)
		case !claimed[m.ID] && !canceled[m.ID]:
			t.Errorf("%s was neither claimed nor canceled", m.ID)
		case canceled[m.ID] && g.Status != gateway.StatusCanceled:
			t.Errorf("%s canceled but %s", m.ID, g.Status)
		case claimed[m.ID] && g.Status != gateway.StatusAccepted:
			t.Errorf("%s claimed but %s", m.ID, g.Status)
		}
	}
	if len(canceled) == 0 || len(claimed) == 0 {
		t.Logf("no overlap exercised: %d claimed, %d canceled", len(claimed), len(canceled))
	}
}

// The task outbox shared by two nodes: keys deduplicate across them (also
// when both enqueue at once, and when both record the same inbound
// message), their claims are disjoint, and a task whose node died is taken
// over once its lease lapses.
func TestPostgresTasksTwoNodes(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := openPG(t, dsn, Options{}), openPG(t, dsn, Options{})
	ctx := t.Context()
	batch := func(from, to int) []gateway.Task {
		var out []gateway.Task
		for i := from; i < to; i++ {
			out = append(out, gateway.Task{Key: fmt.Sprint("k", i), Kind: "webhook", Tenant: "t1"})
		}
		return out
	}
	var (
		wg             sync.WaitGroup
		addedA, addedB int
	)
	wg.Go(func() {
		var err error
		if addedA, err = a.EnqueueTasks(ctx, batch(0, 60)); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		var err error
		if addedB, err = b.EnqueueTasks(ctx, batch(40, 100)); err != nil {
			t.Error(err)
		}
	})
	in := func() []*gateway.Inbound {
		return []*gateway.Inbound{{Tenant: "t1", Carrier: "c1", CarrierRef: "mo1", From: "+254700000002", To: "22333",
			Text: "STOP", Tasks: []gateway.Task{{Key: "mo:c1:mo1", Kind: "optout", Tenant: "t1"}}}}
	}
	var inA, inB int
	wg.Go(func() {
		var err error
		if inA, err = a.RecordInbound(ctx, in()); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		var err error
		if inB, err = b.RecordInbound(ctx, in()); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if addedA+addedB != 100 || inA+inB != 1 {
		t.Fatalf("nodes added %d+%d tasks, want 100 in all; recorded the inbound message %d+%d times, want once",
			addedA, addedB, inA, inB)
	}
	var n int
	if err := a.pool.QueryRow(ctx, "SELECT count(*) FROM tasks").Scan(&n); err != nil || n != 101 {
		t.Fatalf("%d tasks stored (%v), want 101", n, err)
	}

	now := time.Now()
	var (
		mu    sync.Mutex
		owner = map[int64]*pgStore{}
		held  = map[int64]gateway.Task{}
	)
	for _, s := range []*pgStore{a, b, a, b} {
		wg.Go(func() {
			for {
				got, err := s.ClaimTasks(ctx, now, 5, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, tk := range got {
					if owner[tk.ID] != nil {
						t.Errorf("task %d (%s) claimed twice", tk.ID, tk.Key)
					}
					owner[tk.ID] = s
					held[tk.ID] = tk
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(owner) != 101 {
		t.Fatalf("claimed %d tasks, want 101", len(owner))
	}
	// a dies with its tasks unfinished; b finishes its own, then takes
	// a's over when their leases lapse.
	a.Close()
	heldByA := 0
	for id, s := range owner {
		if s == a {
			heldByA++
			continue
		}
		if err := b.FinishTasks(ctx, []gateway.TaskOutcome{{Task: held[id], Done: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if early, err := b.ClaimTasks(ctx, now.Add(30*time.Second), 200, time.Minute); err != nil || len(early) != 0 {
		t.Errorf("claimed %d of a's tasks while its leases held (%v)", len(early), err)
	}
	late, err := b.ClaimTasks(ctx, now.Add(time.Minute+time.Second), 200, time.Minute)
	if err != nil || len(late) != heldByA {
		t.Fatalf("after a's leases lapsed b claimed %d, %v; want a's %d", len(late), err, heldByA)
	}
	for _, tk := range late {
		if owner[tk.ID] != a {
			t.Errorf("task %s was not a's", tk.Key)
		}
	}
}

// ClaimTasks passes over a task another transaction holds instead of
// waiting for it (SKIP LOCKED), and returns what it claims oldest first.
func TestPostgresClaimTasksSkipsLocked(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s := openPG(t, dsn, Options{})
	ctx := t.Context()
	now := time.Now()
	tasks := []gateway.Task{
		{Key: "late", Kind: "k", NotBefore: now.Add(-time.Second)},
		{Key: "held", Kind: "k", NotBefore: now.Add(-time.Hour)},
		{Key: "early", Kind: "k", NotBefore: now.Add(-time.Minute)},
		{Key: "first", Kind: "k"},
	}
	if n, err := s.EnqueueTasks(ctx, tasks); err != nil || n != 4 {
		t.Fatalf("EnqueueTasks = %d, %v", n, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT id FROM tasks WHERE key = 'held' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	claimCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := s.ClaimTasks(claimCtx, now, 10, time.Minute)
	if err != nil {
		t.Fatalf("ClaimTasks beside a locked task: %v", err)
	}
	var keys []string
	for _, tk := range got {
		keys = append(keys, tk.Key)
	}
	if want := []string{"first", "early", "late"}; !slices.Equal(keys, want) {
		t.Errorf("claimed %v, want %v (oldest first, the locked one skipped)", keys, want)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimTasks(ctx, now, 10, time.Minute); err != nil || len(got) != 1 || got[0].Key != "held" {
		t.Errorf("after the lock went: %+v, %v; want held", got, err)
	}
}
