package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway/store/pgtest"
	"github.com/openmf/smsgw/internal/testutil"
)

// queuedCalls is how many calls wait behind the running read.
func (r *optOutReads) queuedCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queued)
}

// Calls that arrive while a read runs share the next one, and each is
// answered by a read that began after it called: an opt-out committed
// before an accept began is always seen. A queued caller that gives up
// leaves the queue.
func TestOptOutReadsShareAQuery(t *testing.T) {
	gate := make(chan struct{})
	var (
		mu     sync.Mutex
		groups [][]string // each read's callers (their tenants), in order
	)
	r := &optOutReads{read: func(ctx context.Context, calls []*optOutCall) {
		mu.Lock()
		n := len(groups)
		var who []string
		for _, c := range calls {
			who = append(who, c.tenant)
		}
		groups = append(groups, who)
		mu.Unlock()
		if n == 0 {
			<-gate // the first read is slow: the others queue behind it
		}
		for _, c := range calls {
			c.out = map[string]bool{c.numbers[0]: true}
			c.err = nil
		}
	}}
	lookup := func(ctx context.Context, tenant string) (map[string]bool, error) {
		c := &optOutCall{tenant: tenant, numbers: []string{"+" + tenant}}
		err := r.lookup(ctx, c)
		return c.out, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	answer := func(tenant string) {
		defer wg.Done()
		out, err := lookup(context.Background(), tenant)
		if err != nil || !out["+"+tenant] || len(out) != 1 {
			errs <- fmt.Errorf("%s answered %v, %v; want its own number", tenant, out, err)
		}
	}
	wg.Add(1)
	go answer("first")
	testutil.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(groups) != 1 {
			return errors.New("the first read has not started")
		}
		return nil
	})
	var later []string
	for i := range 10 {
		tenant := fmt.Sprintf("t%02d", i)
		later = append(later, tenant)
		wg.Add(1)
		go answer(tenant)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := lookup(ctx, "gave-up")
		gaveUp <- err
	}()
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := r.queuedCalls(); n != 11 {
			return fmt.Errorf("%d calls queued, want 11", n)
		}
		return nil
	})
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("a queued call whose context ended returned %v, want context.Canceled", err)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(groups) != 2 {
		t.Fatalf("%d reads %v, want 2: the first, then one for the 10 queued behind it", len(groups), groups)
	}
	got := slices.Sorted(slices.Values(groups[1]))
	if !slices.Equal(got, later) {
		t.Errorf("the second read answered %v, want the calls queued during the first %v", got, later)
	}
	if r.reading || len(r.queued) != 0 {
		t.Errorf("after the reads: reading %v, %d queued; want idle", r.reading, len(r.queued))
	}
}

// A call chosen to read next that gives up at that moment passes the turn
// on: the calls queued behind it are still answered.
func TestOptOutReadsTurnPassedOnWhenTheChosenGivesUp(t *testing.T) {
	for range 50 {
		r := &optOutReads{read: func(ctx context.Context, calls []*optOutCall) {
			for _, c := range calls {
				c.out, c.err = map[string]bool{}, nil
			}
		}}
		r.reading = true // a read runs: the calls below queue
		ctx, cancel := context.WithCancel(context.Background())
		results := make(chan error, 2)
		go func() { results <- r.lookup(ctx, &optOutCall{tenant: "a", numbers: []string{"+1"}}) }()
		testutil.Eventually(t, 5*time.Second, func() error {
			if r.queuedCalls() != 1 {
				return errors.New("a has not queued")
			}
			return nil
		})
		go func() { results <- r.lookup(context.Background(), &optOutCall{tenant: "b", numbers: []string{"+2"}}) }()
		testutil.Eventually(t, 5*time.Second, func() error {
			if r.queuedCalls() != 2 {
				return errors.New("b has not queued")
			}
			return nil
		})
		r.mu.Lock()
		cancel() // a gives up and waits for r.mu to leave the queue...
		// ...(the pause lets it get there; either order is correct)...
		time.Sleep(time.Millisecond)
		r.passTurn() // ...while the running read ends and gives a the turn
		r.mu.Unlock()
		for range 2 {
			select {
			case err := <-results:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Fatalf("lookup: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a call queued behind one that gave up was never answered")
			}
		}
		r.mu.Lock()
		idle := !r.reading && len(r.queued) == 0
		r.mu.Unlock()
		if !idle {
			t.Fatal("reads did not end after the last call")
		}
	}
}

// Against PostgreSQL, many concurrent calls over several tenants each get
// exactly their own numbers' opt-outs.
func TestPostgresOptedOutConcurrent(t *testing.T) {
	s := openPG(t, pgtest.NewDatabase(t), Options{})
	for i := range 8 {
		if err := s.SetOptOut(t.Context(), fmt.Sprintf("t%d", i%2), fmt.Sprintf("+25470000%04d", i), true, "STOP"); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			tenant := fmt.Sprintf("t%d", g%2)
			// Number i opted out of tenant t(i%2) only: the first is this
			// tenant's, the second the other tenant's, the third nobody's.
			numbers := []string{fmt.Sprintf("+25470000%04d", g%8), fmt.Sprintf("+25470000%04d", (g+1)%8),
				fmt.Sprintf("+25470000%04d", 100+g)}
			out, err := s.OptedOut(t.Context(), tenant, numbers)
			if err != nil {
				errs <- err
				return
			}
			want := map[string]bool{numbers[0]: true}
			if len(out) != len(want) || !out[numbers[0]] {
				errs <- fmt.Errorf("call %d (%s, %v) = %v, want %v", g, tenant, numbers, out, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Against PostgreSQL, with other calls keeping shared reads running all
// the time, an opt-out (or opt-in) that SetOptOut returned is always in
// the next OptedOut's answer: no call is answered by a read that began
// before it.
func TestPostgresOptedOutSeesWhatReturnedBefore(t *testing.T) {
	s := openPG(t, pgtest.NewDatabase(t), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := s.OptedOut(ctx, "t", []string{fmt.Sprintf("+25471000%04d", g)}); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	for i := range 100 {
		n := fmt.Sprintf("+25470000%04d", i)
		for _, out := range []bool{true, false} {
			if err := s.SetOptOut(t.Context(), "t", n, out, "STOP"); err != nil {
				t.Fatal(err)
			}
			got, err := s.OptedOut(t.Context(), "t", []string{n})
			if err != nil {
				t.Fatal(err)
			}
			if got[n] != out {
				t.Fatalf("after SetOptOut(%s, %v) returned, OptedOut = %v", n, out, got)
			}
		}
	}
}
