package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openmf/smsgw/gateway"
)

// The PostgreSQL store's inbound services: lookups by client_ref, the
// opt-out list and the task outbox, which the nodes share. The unique key
// deduplicates tasks across nodes (a second enqueue of a key waits for the
// first transaction and then skips it), and ClaimTasks takes due tasks with
// FOR UPDATE SKIP LOCKED, so nodes claim side by side without overlapping;
// a task whose lease lapsed (its node died or hung) is due again for any.

// sqlEnqueueTasksPG inserts many tasks in one statement, in the given order
// (so ids, which order claims among tasks due at once, follow it), skipping
// known keys: $1 keys, $2 kinds, $3 tenants, $4 payloads, $5 not_before,
// $6 now.
const sqlEnqueueTasksPG = `INSERT INTO tasks (key, kind, tenant, payload, attempts, not_before, lease_until,
		last_error, created_at, done_at)
	SELECT k, kd, t, p, 0, nb, 0, '', $6, 0
	FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::int8[])
		WITH ORDINALITY AS u(k, kd, t, p, nb, n)
	ORDER BY n
	ON CONFLICT (key) DO NOTHING`

// sqlClaimTasksPG leases due tasks with SKIP LOCKED: a row another node is
// claiming right now is passed over, not waited for, and a row it claimed
// meanwhile fails the lease check when rechecked. $1 now, $2 lease end, $3
// limit.
const sqlClaimTasksPG = `WITH c AS (
		SELECT id FROM tasks WHERE done_at = 0 AND not_before <= $1 AND lease_until <= $1
		ORDER BY not_before, id LIMIT $3
		FOR UPDATE SKIP LOCKED)
	UPDATE tasks t SET lease_until = $2 FROM c WHERE t.id = c.id
	RETURNING t.id, t.key, t.kind, t.tenant, t.payload, t.attempts, t.not_before, t.last_error, t.lease_until`

// sqlNoteMissingPG notes the refs ($2, sorted) with their reasons ($4)
// for tenant $1 at $3, in the given order.
const sqlNoteMissingPG = `INSERT INTO missing_refs (tenant, client_ref, first_seen, reason)
	SELECT $1, r, $3, why FROM unnest($2::text[], $4::text[]) WITH ORDINALITY AS u(r, why, n)
	ORDER BY n
	` + sqlNoteMissingConflict

// GetByClientRef implements gateway.Store.
func (s *pgStore) GetByClientRef(ctx context.Context, tenant, clientRef string) (*gateway.Message, error) {
	if tenant == "" || clientRef == "" {
		return nil, fmt.Errorf("store: get by client_ref: tenant and client_ref are required")
	}
	var id string
	err := s.run(func() error {
		return s.pool.QueryRow(ctx, sqlByClientRef, tenant, clientRef).Scan(&id)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("store: get by client_ref %q: %w", clientRef, gateway.ErrNotFound)
	case errors.Is(err, ErrClosed):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("store: get by client_ref %q: %w", clientRef, err)
	}
	return s.Get(ctx, tenant, id)
}

// SetOptOut implements gateway.Store. The upsert on (tenant, number) is
// safe against the same number opting out on two nodes at once.
func (s *pgStore) SetOptOut(ctx context.Context, tenant, number string, out bool, keyword string) error {
	if tenant == "" || number == "" {
		return fmt.Errorf("store: opt-out: tenant and number are required")
	}
	return s.write(ctx, "opt-out", func(w *ptx) error {
		var err error
		if out {
			_, err = w.exec(sqlSetOptOut, tenant, number, keyword, w.nowNs)
		} else {
			_, err = w.exec(sqlSetOptIn, tenant, number)
		}
		if err != nil {
			return fmt.Errorf("store: opt-out %s: %w", tenant, err)
		}
		return nil
	})
}

// OptedOut implements gateway.Store; the calls waiting at once share one
// query (see optOutReads).
func (s *pgStore) OptedOut(ctx context.Context, tenant string, numbers []string) (map[string]bool, error) {
	if len(numbers) == 0 {
		return map[string]bool{}, nil
	}
	c := &optOutCall{tenant: tenant, numbers: numbers}
	if err := s.optOuts.lookup(ctx, c); err != nil {
		return nil, err
	}
	return c.out, nil
}

// EnqueueTasks implements gateway.Store.
func (s *pgStore) EnqueueTasks(ctx context.Context, tasks []gateway.Task) (int, error) {
	if len(tasks) == 0 {
		return 0, nil
	}
	if err := checkTasks(tasks); err != nil {
		return 0, err
	}
	var added int
	err := s.submit(&pgOp{ctx: ctx, name: "enqueue tasks", rank: pgRankTasks, run: func(w *ptx) error {
		var err error
		added, err = w.enqueueTasks(tasks)
		return err
	}})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// enqueueTasks inserts tasks in the transaction, skipping known keys, and
// returns how many were new.
func (w *ptx) enqueueTasks(tasks []gateway.Task) (int, error) {
	if len(tasks) == 0 {
		return 0, nil
	}
	if err := checkTasks(tasks); err != nil {
		return 0, err
	}
	n := len(tasks)
	keys, kinds, tenants := make([]string, n), make([]string, n), make([]string, n)
	payloads, notBefore := make([][]byte, n), make([]int64, n)
	for i, t := range tasks {
		keys[i], kinds[i], tenants[i], notBefore[i] = t.Key, t.Kind, t.Tenant, toNanos(t.NotBefore)
		payloads[i] = taskPayload(t) // a nil element would be a NULL
	}
	added, err := w.exec(sqlEnqueueTasksPG, keys, kinds, tenants, payloads, notBefore, w.nowNs)
	if err != nil {
		return 0, fmt.Errorf("store: enqueue tasks: %w", err)
	}
	return int(added), nil
}

// sqlEnqueueLeasedTasksPG is sqlEnqueueTasksPG with a lease end per task
// ($7, 0 for a task not leased), answering how many tasks were new and
// the ids and keys of the leased ones among them.
const sqlEnqueueLeasedTasksPG = `WITH ins AS (
		INSERT INTO tasks (key, kind, tenant, payload, attempts, not_before, lease_until,
			last_error, created_at, done_at)
		SELECT k, kd, t, p, 0, nb, lu, '', $6, 0
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::int8[], $7::int8[])
			WITH ORDINALITY AS u(k, kd, t, p, nb, lu, n)
		ORDER BY n
		ON CONFLICT (key) DO NOTHING
		RETURNING id, key, lease_until)
	SELECT count(*), COALESCE(array_agg(id) FILTER (WHERE lease_until > 0), '{}'),
		COALESCE(array_agg(key) FILTER (WHERE lease_until > 0), '{}')
	FROM ins`

// EnqueueLeasedTasks implements gateway.Store in one statement. The tasks
// to lease are chosen before the insert (the first claim due ones, each
// key once), so one whose key is known is skipped unleased and the batch
// leases fewer. A leased task keeps its not_before, as ClaimTasks leaves
// it here.
func (s *pgStore) EnqueueLeasedTasks(ctx context.Context, tasks []gateway.Task, now time.Time, claim int, lease time.Duration) ([]gateway.Task, int, error) {
	if len(tasks) == 0 {
		return nil, 0, nil
	}
	if err := checkTasks(tasks); err != nil {
		return nil, 0, err
	}
	nowNs := toNanos(now)
	until := nowNs + int64(lease)
	n := len(tasks)
	keys, kinds, tenants := make([]string, n), make([]string, n), make([]string, n)
	payloads, notBefore, leaseUntil := make([][]byte, n), make([]int64, n), make([]int64, n)
	toLease := make(map[string]int) // key → its task's index
	for i, t := range tasks {
		keys[i], kinds[i], tenants[i], notBefore[i] = t.Key, t.Kind, t.Tenant, toNanos(t.NotBefore)
		payloads[i] = taskPayload(t)
		if _, dup := toLease[t.Key]; !dup && len(toLease) < claim && notBefore[i] <= nowNs {
			toLease[t.Key], leaseUntil[i] = i, until
		}
	}
	var (
		leased []gateway.Task
		added  int
	)
	err := s.submit(&pgOp{ctx: ctx, name: "enqueue tasks", rank: pgRankTasks, run: func(w *ptx) error {
		var (
			count int64
			ids   []int64
			got   []string
		)
		err := w.queryRow(sqlEnqueueLeasedTasksPG, keys, kinds, tenants, payloads, notBefore, w.nowNs, leaseUntil).
			Scan(&count, &ids, &got)
		if err != nil {
			return fmt.Errorf("store: enqueue tasks: %w", err)
		}
		if count > 0 {
			w.dirty = true
		}
		added = int(count)
		leased = leased[:0] // a retry starts over
		for j, key := range got {
			t := tasks[toLease[key]]
			t.ID, t.Attempts, t.LastError, t.LeaseUntil = ids[j], 0, "", fromNanos(until)
			leased = append(leased, t)
		}
		return nil
	}})
	if err != nil {
		return nil, 0, err
	}
	// The aggregate has no order: give them in the batch's.
	slices.SortFunc(leased, func(a, b gateway.Task) int { return cmp.Compare(toLease[a.Key], toLease[b.Key]) })
	return leased, added, nil
}

// ClaimTasks implements gateway.Store. Nodes claim side by side (see
// sqlClaimTasksPG); a task is returned by one claim per lease.
func (s *pgStore) ClaimTasks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]gateway.Task, error) {
	if limit <= 0 {
		return nil, nil
	}
	nowNs := toNanos(now)
	var out []gateway.Task
	err := s.write(ctx, "claim tasks", func(w *ptx) error {
		w.dirty = true // the leases, whatever fails after
		rows, err := w.query(sqlClaimTasksPG, nowNs, nowNs+int64(lease), limit)
		if err != nil {
			return fmt.Errorf("store: claim tasks: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Task, error) { return scanTask(r) })
		if err != nil {
			return fmt.Errorf("store: claim tasks: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// RETURNING has no order: restore the claim order, oldest first.
	slices.SortFunc(out, func(a, b gateway.Task) int {
		if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// FinishTasks implements gateway.Store: one write for the batch.
func (s *pgStore) FinishTasks(ctx context.Context, outcomes []gateway.TaskOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	return s.write(ctx, "finish tasks", func(w *ptx) error {
		for _, o := range outcomes {
			var err error
			if o.Done {
				_, err = w.exec(sqlFinishTask, o.Task.ID, w.nowNs, o.LastErr, toNanos(o.Task.LeaseUntil))
			} else {
				_, err = w.exec(sqlRetryTask, o.Task.ID, toNanos(o.RetryAt), o.LastErr, toNanos(o.Task.LeaseUntil))
			}
			if err != nil {
				return fmt.Errorf("store: finish task %d: %w", o.Task.ID, err)
			}
		}
		return nil
	})
}

// PruneTasks implements gateway.Store.
func (s *pgStore) PruneTasks(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "tasks", before, sqlPruneTasks)
}

// NoteMissing implements gateway.Store in one transaction of two
// statements. The SELECT is a statement of its own so that, under READ
// COMMITTED, it sees a row another node committed while this INSERT waited
// for it; one statement with a CTE would read from a snapshot taken before
// and miss that row. The refs are sorted, so two nodes noting overlapping
// sets lock the keys in the same order.
func (s *pgStore) NoteMissing(ctx context.Context, tenant string, notes map[string]string, now time.Time) (map[string]gateway.Missing, error) {
	refs, reasons, err := missingNotes(tenant, notes, now)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return map[string]gateway.Missing{}, nil
	}
	var out map[string]gateway.Missing
	err = s.writeAlone(ctx, "note missing", func(w *ptx) error {
		out = make(map[string]gateway.Missing, len(refs)) // a retry starts over
		if _, err := w.exec(sqlNoteMissingPG, tenant, refs, now.UnixNano(), reasons); err != nil {
			return fmt.Errorf("store: note missing: %w", err)
		}
		rows, err := w.query("SELECT client_ref, first_seen, reason FROM missing_refs WHERE tenant = $1 AND client_ref = ANY($2)", tenant, refs)
		if err != nil {
			return fmt.Errorf("store: note missing: %w", err)
		}
		var (
			ref, why string
			at       int64
		)
		_, err = pgx.ForEachRow(rows, []any{&ref, &at, &why}, func() error {
			out[ref] = gateway.Missing{Since: fromNanos(at), Reason: why}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: note missing: %w", err)
		}
		return missingDone(refs, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PruneMissing implements gateway.Store.
func (s *pgStore) PruneMissing(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "missing", before, sqlPruneMissing)
}

// Backlog implements gateway.Store.
func (s *pgStore) Backlog(ctx context.Context) (int64, error) {
	var n int64
	err := s.run(func() error { return s.pool.QueryRow(ctx, sqlBacklog).Scan(&n) })
	if err != nil {
		return 0, fmt.Errorf("store: backlog: %w", err)
	}
	return n, nil
}
