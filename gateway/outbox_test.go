package gateway_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// taskRuns is a task handler that counts runs by key and, while gate is
// open, holds each run until gate is closed.
type taskRuns struct {
	mu      sync.Mutex
	ran     map[string]int
	running atomic.Int32
	gate    chan struct{}
}

func (r *taskRuns) handle(ctx context.Context, t gateway.Task) error {
	r.mu.Lock()
	r.ran[t.Key]++
	r.mu.Unlock()
	if r.gate != nil {
		r.running.Add(1)
		defer r.running.Add(-1)
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

// newOutboxHarness is an engine whose store is spied on, with a handler of
// kind "test.run"; poll is how often its runner claims without a wake-up.
func newOutboxHarness(t *testing.T, poll time.Duration, gate chan struct{}) (*inboundHarness, *taskSpy, *taskRuns) {
	t.Helper()
	var spy *taskSpy
	ih := newInboundHarnessTuned(t, func(o *gateway.Options) {
		spy = newTaskSpy(o.Store)
		o.Store = spy
		o.PollEvery = poll
	})
	runs := &taskRuns{ran: map[string]int{}, gate: gate}
	if err := ih.engine.HandleTasks("test.run", runs.handle); err != nil {
		t.Fatal(err)
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

// TestEnqueuedTaskRunsWithoutAClaim: with a worker free, an enqueued task
// is written leased to it and runs once, with no claim call at all from
// the enqueue to its run. (The first attempts may meet the runner still
// settling after its start-up claim; each attempt is a new task.)
func TestEnqueuedTaskRunsWithoutAClaim(t *testing.T) {
	ih, spy, runs := newOutboxHarness(t, time.Minute, nil)
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
	for _, key := range attempts {
		if n := runs.runs(key); n != 1 {
			t.Errorf("task %s ran %d times, want once", key, n)
		}
	}
}

// TestEnqueuedWithThePoolFullIsClaimedLater: with every worker busy, an
// enqueued task is written unleased and runs once a worker is free,
// through a claim.
func TestEnqueuedWithThePoolFullIsClaimedLater(t *testing.T) {
	gate := make(chan struct{})
	ih, spy, runs := newOutboxHarness(t, time.Minute, gate)
	const slots = 32
	var busy []gateway.Task
	for i := range slots {
		busy = append(busy, gateway.Task{Key: fmt.Sprintf("busy-%d", i), Kind: "test.run"})
	}
	if n, err := ih.engine.EnqueueTasks(t.Context(), busy); err != nil || n != slots {
		t.Fatalf("EnqueueTasks = %d, %v", n, err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := runs.running.Load(); n != slots {
			return fmt.Errorf("%d tasks running, want %d", n, slots)
		}
		return nil
	})
	if n, err := ih.engine.EnqueueTasks(t.Context(), []gateway.Task{{Key: "extra", Kind: "test.run"}}); err != nil || n != 1 {
		t.Fatalf("EnqueueTasks = %d, %v", n, err)
	}
	if _, leased := spy.counts("extra"); leased != 0 {
		t.Fatalf("extra was leased with every worker busy")
	}
	if n := runs.runs("extra"); n != 0 {
		t.Fatalf("extra ran %d times with every worker busy", n)
	}
	close(gate)
	runs.waitRan(t, "extra")
	if claimed, _ := spy.counts("extra"); claimed != 1 {
		t.Errorf("extra was claimed %d times, want once", claimed)
	}
	for _, b := range busy {
		if n := runs.runs(b.Key); n != 1 {
			t.Errorf("task %s ran %d times, want once", b.Key, n)
		}
	}
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
