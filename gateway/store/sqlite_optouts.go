package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/openmf/smsgw/gateway"
)

// The SQLite store's opt-out list: the optouts table, and a copy of it in
// memory that answers OptedOut (the acceptor asks on every accept) without
// a read of the database (see doc.go, "Opt-outs in memory").

// optOutSet is the SQLite store's opt-out list in memory. It is exact
// because the store is the database's only process (its lock) and every
// change to the table is a SetOptOut, run by the one writer goroutine,
// which applies a batch's changes here only after its COMMIT succeeded.
// When the list holds more than limit numbers it is dropped, for good
// until the store is opened again, and OptedOut reads the table as before.
type optOutSet struct {
	limit int

	mu      sync.RWMutex
	tenants map[string]map[string]struct{} // nil: over limit, ask the database
	size    int                            // numbers in tenants

	// reads counts the OptedOut calls that read the database.
	reads atomic.Uint64
}

// optOutChange is one SetOptOut of a batch, applied once the batch commits.
type optOutChange struct {
	tenant, number string
	out            bool
}

// loadOptOuts reads the optouts table into memory unless it holds more
// than limit numbers. It runs at open, on the writer's connection, before
// the writer goroutine starts.
func loadOptOuts(ctx context.Context, conn *sql.Conn, limit int, log *slog.Logger) (*optOutSet, error) {
	set := &optOutSet{limit: limit}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM optouts").Scan(&n); err != nil {
		return nil, fmt.Errorf("store: load opt-outs: %w", err)
	}
	if n > limit {
		log.Warn("store: opt-out list too long to keep in memory; each accept reads it from the database",
			"optouts", n, "in_memory_max", limit)
		return set, nil
	}
	rows, err := conn.QueryContext(ctx, "SELECT tenant, number FROM optouts")
	if err != nil {
		return nil, fmt.Errorf("store: load opt-outs: %w", err)
	}
	defer rows.Close()
	set.tenants = make(map[string]map[string]struct{})
	for rows.Next() {
		var tenant, number string
		if err := rows.Scan(&tenant, &number); err != nil {
			return nil, fmt.Errorf("store: load opt-outs: %w", err)
		}
		set.add(tenant, number)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load opt-outs: %w", err)
	}
	return set, nil
}

// add puts a number in the set; the caller holds mu or owns the set.
func (o *optOutSet) add(tenant, number string) {
	numbers := o.tenants[tenant]
	if numbers == nil {
		numbers = make(map[string]struct{})
		o.tenants[tenant] = numbers
	}
	if _, ok := numbers[number]; !ok {
		numbers[number] = struct{}{}
		o.size++
	}
}

// apply records a committed batch's changes, in their order. The list
// growing past limit drops it.
func (o *optOutSet) apply(changes []optOutChange, log *slog.Logger) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tenants == nil {
		return
	}
	for _, c := range changes {
		if c.out {
			o.add(c.tenant, c.number)
			continue
		}
		if numbers := o.tenants[c.tenant]; numbers != nil {
			if _, ok := numbers[c.number]; ok {
				delete(numbers, c.number)
				o.size--
				if len(numbers) == 0 {
					delete(o.tenants, c.tenant)
				}
			}
		}
	}
	if o.size > o.limit {
		log.Warn("store: opt-out list too long to keep in memory; each accept reads it from the database until the store is opened again",
			"optouts", o.size, "in_memory_max", o.limit)
		o.tenants, o.size = nil, 0
	}
}

// lookup answers OptedOut from memory; ok is false when the set is over
// its limit. out is nil when no number is opted out (a nil map reads as
// all false), so the common answer allocates nothing.
func (o *optOutSet) lookup(tenant string, numbers []string) (out map[string]bool, ok bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.tenants == nil {
		return nil, false
	}
	listed := o.tenants[tenant]
	if len(listed) == 0 {
		return nil, true
	}
	for _, n := range numbers {
		if _, in := listed[n]; in {
			if out == nil {
				out = make(map[string]bool)
			}
			out[n] = true
		}
	}
	return out, true
}

// OptOutDatabaseReads implements gateway.OptOutMemory.
func (s *sqliteStore) OptOutDatabaseReads() uint64 { return s.optOuts.reads.Load() }

// SetOptOut implements gateway.Store. The change reaches the in-memory
// list when its batch commits (commit, then runBatch's apply).
func (s *sqliteStore) SetOptOut(ctx context.Context, tenant, number string, out bool, keyword string) error {
	if tenant == "" || number == "" {
		return fmt.Errorf("store: opt-out: tenant and number are required")
	}
	return s.do(ctx, "opt-out", func(w *wtx) error {
		var err error
		if out {
			_, err = w.exec(sqlSetOptOut, tenant, number, keyword, w.nowNs)
		} else {
			_, err = w.exec(sqlSetOptIn, tenant, number)
		}
		if err != nil {
			return fmt.Errorf("store: opt-out %s: %w", tenant, err)
		}
		w.optOuts = append(w.optOuts, optOutChange{tenant: tenant, number: number, out: out})
		return nil
	})
}

// optOutLookups is the most numbers OptedOut looks up one by one.
const optOutLookups = 4

// OptedOut implements gateway.Store: from memory, or, when the list
// outgrew it, on the reader pool.
func (s *sqliteStore) OptedOut(ctx context.Context, tenant string, numbers []string) (map[string]bool, error) {
	if len(numbers) == 0 {
		return nil, nil
	}
	var out map[string]bool
	err := s.read(func() error {
		var ok bool
		if out, ok = s.optOuts.lookup(tenant, numbers); ok {
			return nil
		}
		s.optOuts.reads.Add(1)
		out = make(map[string]bool)
		if len(numbers) <= optOutLookups {
			// A few primary-key lookups cost less than reading a list.
			for _, n := range numbers {
				var one int
				err := s.reads.optedOutOne.QueryRowContext(ctx, tenant, n).Scan(&one)
				switch {
				case err == nil:
					out[n] = true
				case !errors.Is(err, sql.ErrNoRows):
					return err
				}
			}
			return nil
		}
		// One prepared statement for any number of numbers (a JSON array):
		// preparing an IN list per call cost more than the lookup.
		list, err := json.Marshal(numbers)
		if err != nil {
			return err
		}
		rows, err := s.reads.optedOut.QueryContext(ctx, tenant, string(list))
		if err != nil {
			return err
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			out[n] = true
		}
		return rows.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("store: opted out: %w", err)
	}
	return out, nil
}

var _ gateway.OptOutMemory = (*sqliteStore)(nil)
