package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
)

// taskSpy is the store as the outbox uses it, recording the claim calls,
// the tasks each claim returned and the tasks enqueues returned leased.
type taskSpy struct {
	gateway.Store
	calls atomic.Int32

	mu      sync.Mutex
	claimed map[string]int
	leased  map[string]int
}

func newTaskSpy(st gateway.Store) *taskSpy {
	return &taskSpy{Store: st, claimed: map[string]int{}, leased: map[string]int{}}
}

func (s *taskSpy) ClaimTasks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]gateway.Task, error) {
	tasks, err := s.Store.ClaimTasks(ctx, now, limit, lease)
	s.mu.Lock()
	for _, t := range tasks {
		s.claimed[t.Key]++
	}
	s.mu.Unlock()
	s.calls.Add(1)
	return tasks, err
}

func (s *taskSpy) EnqueueLeasedTasks(ctx context.Context, tasks []gateway.Task, now time.Time, claim int, lease time.Duration) ([]gateway.Task, int, error) {
	leased, added, err := s.Store.EnqueueLeasedTasks(ctx, tasks, now, claim, lease)
	s.mu.Lock()
	for _, t := range leased {
		s.leased[t.Key]++
	}
	s.mu.Unlock()
	return leased, added, err
}

// counts says how many times a key was claimed and returned leased.
func (s *taskSpy) counts(key string) (claimed, leased int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claimed[key], s.leased[key]
}

// taskRuns is the handler of tasks of kinds "test.run" and "test.hold":
// it counts runs by key, and holds a test.hold run until gate is closed.
type taskRuns struct {
	mu            sync.Mutex
	ran           map[string]int
	running, most atomic.Int32
	gate          chan struct{}
}

func (r *taskRuns) handle(ctx context.Context, t gateway.Task) error {
	r.mu.Lock()
	r.ran[t.Key]++
	r.mu.Unlock()
	if t.Kind == "test.hold" {
		n := r.running.Add(1)
		defer r.running.Add(-1)
		for m := r.most.Load(); n > m && !r.most.CompareAndSwap(m, n); m = r.most.Load() {
		}
		select {
		case <-r.gate:
		case <-ctx.Done():
		}
	}
	return nil
}

func (r *taskRuns) runs(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ran[key]
}

// waitRan waits until the task ran, and says whether it ran once.
func (r *taskRuns) waitRan(t *testing.T, key string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if r.runs(key) == 0 {
			return fmt.Errorf("task %s has not run", key)
		}
		return nil
	})
	if n := r.runs(key); n != 1 {
		t.Errorf("task %s ran %d times, want once", key, n)
	}
}

// newOutboxHarness is an engine whose store is spied on, with the
// handler of kinds test.run and test.hold; poll is how often its runner
// claims without a wake-up, tune (if any) sets more options.
func newOutboxHarness(t *testing.T, poll time.Duration, tune func(*gateway.Options)) (*inboundHarness, *taskSpy, *taskRuns) {
	t.Helper()
	var spy *taskSpy
	ih := newInboundHarnessTuned(t, func(o *gateway.Options) {
		spy = newTaskSpy(o.Store)
		o.Store = spy
		o.PollEvery = poll
		if tune != nil {
			tune(o)
		}
	})
	runs := &taskRuns{ran: map[string]int{}, gate: make(chan struct{})}
	for _, kind := range []string{"test.run", "test.hold"} {
		if err := ih.engine.HandleTasks(kind, runs.handle); err != nil {
			t.Fatal(err)
		}
	}
	// The runner's first claim (tasks a previous run left) has been made.
	testutil.Eventually(t, 10*time.Second, func() error {
		if spy.calls.Load() == 0 {
			return fmt.Errorf("no claim yet")
		}
		return nil
	})
	return ih, spy, runs
}

// settle enqueues tasks one by one until one runs leased with no claim
// call from its enqueue to its run, and returns their keys: once the
// runner has settled after its start-up claim, an enqueue with a worker
// free is leased to it (each attempt is a new task, each runs once).
func settle(t *testing.T, ih *inboundHarness, spy *taskSpy, runs *taskRuns) []string {
	t.Helper()
	var attempts []string
	testutil.Eventually(t, 10*time.Second, func() error {
		key := fmt.Sprintf("leased-%d", len(attempts))
		attempts = append(attempts, key)
		before := spy.calls.Load()
		if n, err := ih.engine.EnqueueTasks(t.Context(), []gateway.Task{{Key: key, Kind: "test.run"}}); err != nil || n != 1 {
			t.Fatalf("EnqueueTasks = %d, %v", n, err)
		}
		runs.waitRan(t, key)
		claimed, leased := spy.counts(key)
		if calls := spy.calls.Load() - before; leased != 1 || claimed != 0 || calls != 0 {
			return fmt.Errorf("task %s: leased %d times, claimed %d times, %d claim calls meanwhile; want leased once, no claim", key, leased, claimed, calls)
		}
		return nil
	})
	return attempts
}

// TestEnqueuedTaskRunsWithoutAClaim: with a worker free, an enqueued task
// is written leased to it and runs once, with no claim call at all from
// the enqueue to its run. (The first attempts may meet the runner still
// settling after its start-up claim.)
func TestEnqueuedTaskRunsWithoutAClaim(t *testing.T) {
	ih, spy, runs := newOutboxHarness(t, time.Minute, nil)
	for _, key := range settle(t, ih, spy, runs) {
		if n := runs.runs(key); n != 1 {
			t.Errorf("task %s ran %d times, want once", key, n)
		}
	}
}

// TestEnqueuedWithThePoolFullIsClaimedLater: an enqueue leases what the
// pool (the workers and the leased tasks waiting for them) has room for;
// the rest is written unleased and, once workers are free, claimed. Every
// task runs once, at most 32 at a time.
func TestEnqueuedWithThePoolFullIsClaimedLater(t *testing.T) {
	ih, spy, runs := newOutboxHarness(t, time.Minute, nil)
	settle(t, ih, spy, runs)
	const tasks, workers = 1200, 32 // the pool holds 32 running and 1,024 waiting
	var batch []gateway.Task
	for i := range tasks {
		batch = append(batch, gateway.Task{Key: fmt.Sprintf("hold-%d", i), Kind: "test.hold"})
	}
	if n, err := ih.engine.EnqueueTasks(t.Context(), batch); err != nil || n != tasks {
		t.Fatalf("EnqueueTasks = %d, %v", n, err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := runs.running.Load(); n != workers {
			return fmt.Errorf("%d tasks running, want %d", n, workers)
		}
		return nil
	})
	var unleased []string
	for _, b := range batch {
		if _, leased := spy.counts(b.Key); leased == 0 {
			unleased = append(unleased, b.Key)
			if n := runs.runs(b.Key); n != 0 {
				t.Errorf("%s, not leased, ran %d times with the pool full", b.Key, n)
			}
		}
	}
	if len(unleased) == 0 || len(unleased) > tasks-workers {
		t.Fatalf("%d of %d tasks enqueued unleased; want those the pool had no room for", len(unleased), tasks)
	}
	close(runs.gate)
	for _, b := range batch {
		runs.waitRan(t, b.Key)
		claimed, leased := spy.counts(b.Key)
		if claimed+leased != 1 {
			t.Errorf("%s claimed %d times, leased %d; want one or the other once", b.Key, claimed, leased)
		}
	}
	for _, key := range unleased {
		if claimed, _ := spy.counts(key); claimed != 1 {
			t.Errorf("%s, enqueued with the pool full, was claimed %d times; want once", key, claimed)
		}
	}
	if m := runs.most.Load(); m > workers {
		t.Errorf("%d tasks ran at once, want at most %d", m, workers)
	}
}

// TestTaskThatWaitedPastHalfItsLeaseIsLeftForAClaim: a leased task that
// waited for a worker until less than half its lease was left is not run
// on that short lease; it runs once, claimed, after the lease lapsed.
func TestTaskThatWaitedPastHalfItsLeaseIsLeftForAClaim(t *testing.T) {
	var (
		offset atomic.Int64 // added to the engine's clock
		logs   = &syncBuffer{}
	)
	ih, spy, runs := newOutboxHarness(t, 10*time.Millisecond, func(o *gateway.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	settle(t, ih, spy, runs)
	holdWorkers(t, ih, runs, "late")
	if _, leased := spy.counts("late"); leased != 1 {
		t.Fatalf("late was not leased in its enqueue")
	}
	offset.Store(int64(40 * time.Second)) // the lease is a minute
	close(runs.gate)
	testutil.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "key=late") {
			return fmt.Errorf("late not left for a claim yet")
		}
		return nil
	})
	if n := runs.runs("late"); n != 0 {
		t.Fatalf("late ran %d times with 20 s of its lease left", n)
	}
	offset.Store(int64(61 * time.Second))
	runs.waitRan(t, "late")
	if claimed, _ := spy.counts("late"); claimed != 1 {
		t.Errorf("late was claimed %d times, want once", claimed)
	}
}

// holdWorkers enqueues a task for each of the pool's 32 workers that runs
// until runs.gate closes, then a "test.run" task per key (they wait in
// the pool, leased), and returns once the 32 are running.
func holdWorkers(t *testing.T, ih *inboundHarness, runs *taskRuns, keys ...string) {
	t.Helper()
	const workers = 32
	var batch []gateway.Task
	for i := range workers {
		batch = append(batch, gateway.Task{Key: fmt.Sprintf("hold-%d", i), Kind: "test.hold"})
	}
	for _, k := range keys {
		batch = append(batch, gateway.Task{Key: k, Kind: "test.run"})
	}
	if n, err := ih.engine.EnqueueTasks(t.Context(), batch); err != nil || n != len(batch) {
		t.Fatalf("EnqueueTasks = %d, %v", n, err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := runs.running.Load(); n != workers {
			return fmt.Errorf("%d tasks running, want %d", n, workers)
		}
		return nil
	})
}

// syncBuffer is a log destination the test reads while the engine writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLeasedTaskOfADeadNodeRunsAgain: a task a node enqueued leased to
// itself and never ran (it died) is claimed and run once its lease lapsed;
// one whose lease still holds (its node lives) is left to that node.
func TestLeasedTaskOfADeadNodeRunsAgain(t *testing.T) {
	ih, spy, runs := newOutboxHarness(t, 10*time.Millisecond, nil)
	now := time.Now()
	dead, _, err := ih.store.EnqueueLeasedTasks(t.Context(), []gateway.Task{{Key: "orphan", Kind: "test.run"}}, now.Add(-2*time.Minute), 1, time.Minute)
	if err != nil || len(dead) != 1 {
		t.Fatalf("EnqueueLeasedTasks = %+v, %v", dead, err)
	}
	live, _, err := ih.store.EnqueueLeasedTasks(t.Context(), []gateway.Task{{Key: "held", Kind: "test.run"}}, now, 1, time.Hour)
	if err != nil || len(live) != 1 {
		t.Fatalf("EnqueueLeasedTasks = %+v, %v", live, err)
	}
	runs.waitRan(t, "orphan")
	if claimed, _ := spy.counts("orphan"); claimed != 1 {
		t.Errorf("orphan was claimed %d times, want once", claimed)
	}
	// The claim that took orphan took every task due: held was not.
	if claimed, _ := spy.counts("held"); claimed != 0 || runs.runs("held") != 0 {
		t.Errorf("held, leased for another hour, was claimed %d times and ran %d", claimed, runs.runs("held"))
	}
}

// TestTasksLeftForAClaimAreLoggedOnce: a hung receiver leaves many tasks
// past half their lease at once; each is counted
// (smsgw_gateway_tasks_total{result="left_for_claim"}), but the log gets
// one line with the count, not a line a task.
func TestTasksLeftForAClaimAreLoggedOnce(t *testing.T) {
	var (
		offset atomic.Int64
		logs   = &syncBuffer{}
		reg    = prometheus.NewRegistry()
	)
	ih, spy, runs := newOutboxHarness(t, 10*time.Millisecond, func(o *gateway.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
		o.Registerer = reg
	})
	settle(t, ih, spy, runs)
	const late = 20
	var keys []string
	for i := range late {
		keys = append(keys, fmt.Sprintf("late-%d", i))
	}
	holdWorkers(t, ih, runs, keys...)
	offset.Store(int64(40 * time.Second)) // the lease is a minute
	close(runs.gate)
	left := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "smsgw_gateway_tasks_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "left_for_claim" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := left(); n != late {
			return fmt.Errorf("%v tasks counted left for a claim, want %d", n, late)
		}
		return nil
	})
	if n := strings.Count(logs.String(), "left for a claim"); n != 1 {
		t.Errorf("%d log lines about tasks left for a claim, want 1:\n%s", n, logs.String())
	}
}
