package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL's OptedOut: every accept asks it, and a node taking one
// message per call (gRPC Send, Kannel's sendsms) asked once a message, a
// query and a round trip each; under load that was an eighth of the
// node's CPU. The calls waiting at once now share one query: the first
// caller reads for everyone queued, and whoever queued meanwhile reads
// next, for all of them. Each call is still answered by a query that
// began after the call did, so an opt-out committed before an accept
// began is always seen, on any node, exactly as before.

// optOutQueryTimeout bounds one shared query: a caller may be waiting
// for others' numbers, so the query does not run on any one caller's
// context.
const optOutQueryTimeout = 30 * time.Second

// optOutCall is one OptedOut call waiting for a shared query.
type optOutCall struct {
	tenant  string
	numbers []string
	out     map[string]bool
	err     error
	// wake says the call was answered (false) or must read for those
	// queued behind it (true).
	wake chan bool
}

// optOutReads runs the waiting calls' lookups together.
type optOutReads struct {
	mu      sync.Mutex
	reading bool // a caller's query is running
	queued  []*optOutCall
	// read answers a group of calls with one query.
	read func(ctx context.Context, calls []*optOutCall)
}

// lookup answers c, reading for every call queued with it when no read is
// running, else once the running read has answered the calls before it.
func (r *optOutReads) lookup(ctx context.Context, c *optOutCall) error {
	c.wake = make(chan bool, 1)
	r.mu.Lock()
	r.queued = append(r.queued, c)
	if r.reading {
		r.mu.Unlock()
		var lead bool
		select {
		case lead = <-c.wake:
		case <-ctx.Done():
			r.mu.Lock()
			if i := slices.Index(r.queued, c); i >= 0 {
				// Still queued: leave, and pass the turn on if it was
				// given to c just now.
				r.queued = slices.Delete(r.queued, i, i+1)
				select {
				case <-c.wake:
					r.passTurn()
				default:
				}
				r.mu.Unlock()
				return ctx.Err()
			}
			// Taken into a read already: its answer comes at once.
			r.mu.Unlock()
			lead = <-c.wake
		}
		if !lead {
			return c.err
		}
		r.mu.Lock()
	}
	r.reading = true
	group := r.queued
	r.queued = nil
	r.mu.Unlock()

	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), optOutQueryTimeout)
	r.read(qctx, group)
	cancel()
	for _, q := range group {
		if q != c {
			q.wake <- false
		}
	}

	r.mu.Lock()
	r.passTurn()
	r.mu.Unlock()
	return c.err
}

// passTurn gives the next read to the first call queued, which reads for
// everyone queued then, or ends the reading. r.mu is held.
func (r *optOutReads) passTurn() {
	if len(r.queued) > 0 {
		r.queued[0].wake <- true
	} else {
		r.reading = false
	}
}

// readOptOuts answers calls with one query over all their (tenant, number)
// pairs.
func (s *pgStore) readOptOuts(ctx context.Context, calls []*optOutCall) {
	var tenants, numbers []string
	for _, c := range calls {
		c.out = make(map[string]bool)
		for _, n := range c.numbers {
			tenants, numbers = append(tenants, c.tenant), append(numbers, n)
		}
	}
	type key struct{ tenant, number string }
	found := make(map[key]bool)
	err := s.run(func() error {
		rows, err := s.pool.Query(ctx, `SELECT o.tenant, o.number FROM optouts o
			JOIN unnest($1::text[], $2::text[]) AS q(tenant, number) ON o.tenant = q.tenant AND o.number = q.number`,
			tenants, numbers)
		if err != nil {
			return err
		}
		var k key
		_, err = pgx.ForEachRow(rows, []any{&k.tenant, &k.number}, func() error {
			found[k] = true
			return nil
		})
		return err
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("store: opted out: %w", err)
	}
	for _, c := range calls {
		c.err = err
		if err != nil {
			c.out = nil
			continue
		}
		for _, n := range c.numbers {
			if found[key{c.tenant, n}] {
				c.out[n] = true
			}
		}
	}
}
