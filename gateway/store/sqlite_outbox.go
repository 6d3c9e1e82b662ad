package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// The SQLite store's inbound services: lookups by client_ref, the opt-out
// list and the task outbox (see doc.go, "Opt-outs and the task outbox").

// GetByClientRef implements gateway.Store.
func (s *sqliteStore) GetByClientRef(ctx context.Context, tenant, clientRef string) (*gateway.Message, error) {
	if tenant == "" || clientRef == "" {
		return nil, fmt.Errorf("store: get by client_ref: tenant and client_ref are required")
	}
	if err := s.visible(ctx, true); err != nil {
		return nil, err
	}
	var id string
	err := s.read(func() error {
		return s.rdb.QueryRowContext(ctx, sqlByClientRef, tenant, clientRef).Scan(&id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get by client_ref %q: %w", clientRef, gateway.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get by client_ref %q: %w", clientRef, err)
	}
	return s.Get(ctx, tenant, id)
}

// EnqueueTasks implements gateway.Store.
func (s *sqliteStore) EnqueueTasks(ctx context.Context, tasks []gateway.Task) (int, error) {
	if len(tasks) == 0 {
		return 0, nil
	}
	if err := checkTasks(tasks); err != nil {
		return 0, err
	}
	var added int
	err := s.doBeside(ctx, "enqueue tasks", func(w *wtx) error {
		var err error
		added, err = w.enqueueTasks(tasks)
		return err
	})
	return added, err
}

// enqueueTasks inserts tasks in the writer's transaction, skipping known keys.
func (w *wtx) enqueueTasks(tasks []gateway.Task) (int, error) {
	if err := checkTasks(tasks); err != nil {
		return 0, err
	}
	added := 0
	for _, t := range tasks {
		n, err := w.exec(sqlInsertTask, t.Key, t.Kind, t.Tenant, taskPayload(t), toNanos(t.NotBefore), w.nowNs)
		if err != nil {
			return added, fmt.Errorf("store: enqueue task %q: %w", t.Key, err)
		}
		added += int(n)
	}
	return added, nil
}

// EnqueueLeasedTasks implements gateway.Store. A leased task is inserted
// as ClaimTasks leaves a claimed one, with its not_before at the lease
// end; the others as EnqueueTasks inserts them. Each task is inserted on
// its own, so exactly the first claim new due tasks are leased.
func (s *sqliteStore) EnqueueLeasedTasks(ctx context.Context, tasks []gateway.Task, now time.Time, claim int, lease time.Duration) ([]gateway.Task, int, error) {
	if len(tasks) == 0 {
		return nil, 0, nil
	}
	if err := checkTasks(tasks); err != nil {
		return nil, 0, err
	}
	nowNs := toNanos(now)
	until := nowNs + int64(lease)
	var (
		leased []gateway.Task
		added  int
	)
	err := s.doBeside(ctx, "enqueue tasks", func(w *wtx) error {
		leased, added = leased[:0], 0 // a replay starts over
		for _, t := range tasks {
			if len(leased) >= claim || toNanos(t.NotBefore) > nowNs {
				n, err := w.exec(sqlInsertTask, t.Key, t.Kind, t.Tenant, taskPayload(t), toNanos(t.NotBefore), w.nowNs)
				if err != nil {
					return fmt.Errorf("store: enqueue task %q: %w", t.Key, err)
				}
				added += int(n)
				continue
			}
			err := w.queryRow(sqlInsertLeasedTaskSQLite, t.Key, t.Kind, t.Tenant, taskPayload(t), until, w.nowNs).Scan(&t.ID)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				continue // a known key
			case err != nil:
				return fmt.Errorf("store: enqueue task %q: %w", t.Key, err)
			}
			w.dirty = true
			t.Attempts, t.LastError, t.LeaseUntil = 0, "", fromNanos(until)
			leased = append(leased, t)
			added++
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return leased, added, nil
}

// sqlInsertLeasedTaskSQLite inserts a task leased until $5, which is also
// its not_before (as a claim sets it), and returns its id; no row when the
// key is known. $1 key, $2 kind, $3 tenant, $4 payload, $6 now.
const sqlInsertLeasedTaskSQLite = `INSERT INTO tasks (key, kind, tenant, payload, attempts, not_before, lease_until, last_error, created_at, done_at)
		VALUES ($1, $2, $3, $4, 0, $5, $5, '', $6, 0) ON CONFLICT (key) DO NOTHING RETURNING id`

// ClaimTasks implements gateway.Store. It writes (the lease), so it runs on
// the writer and two claims never overlap. The lease also moves the task's
// not_before to the lease end: tasks_due is ordered by not_before, so the
// running tasks leave its front, and a claim reads the due tasks without
// stepping over every task still running (it did, each time the outbox
// freed a slot: the largest writer operation of a Kannel dlr-url load). A
// task whose lease lapses is due again at the lease end, as before, and
// FinishTask's retry sets not_before anew. The tasks are returned with the
// not_before they were claimed at.
func (s *sqliteStore) ClaimTasks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]gateway.Task, error) {
	if limit <= 0 {
		return nil, nil
	}
	nowNs := toNanos(now)
	until := nowNs + int64(lease)
	var out []gateway.Task
	err := s.doBeside(ctx, "claim tasks", func(w *wtx) error {
		out = out[:0]
		rows, err := w.query(sqlDueTasks+literalLimit(limit), nowNs)
		if err != nil {
			return fmt.Errorf("store: claim tasks: %w", err)
		}
		ids := make([]int64, 0, limit)
		for len(out) < limit && rows.Next() {
			t, err := scanTask(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("store: claim tasks: %w", err)
			}
			t.LeaseUntil = fromNanos(until)
			out = append(out, t)
			ids = append(ids, t.ID)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		list, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("store: claim tasks: %w", err)
		}
		if _, err := w.exec(sqlLeaseTasks, until, string(list)); err != nil {
			return fmt.Errorf("store: claim tasks: %w", err)
		}
		return nil
	})
	return out, err
}

// The SQLite task claim (see ClaimTasks): the due tasks ($1 now; the
// limit follows, see literalLimit), then their lease ($1 lease end, $2 a
// JSON array of task ids).
const (
	sqlDueTasks = `SELECT id, key, kind, tenant, payload, attempts, not_before, last_error, lease_until
		FROM tasks WHERE done_at = 0 AND not_before <= $1 AND lease_until <= $1
		ORDER BY not_before, id LIMIT `
	sqlLeaseTasks = "UPDATE tasks SET lease_until = $1, not_before = $1 WHERE id IN (SELECT value FROM json_each($2))"
)

// FinishTasks implements gateway.Store: one write for the batch.
func (s *sqliteStore) FinishTasks(ctx context.Context, outcomes []gateway.TaskOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	return s.doBeside(ctx, "finish tasks", func(w *wtx) error {
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
func (s *sqliteStore) PruneTasks(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "tasks", before, sqlPruneTasks)
}

// NoteMissing's statements: the notes are one JSON array of [ref, reason]
// pairs ($2), so any number of them binds three variables, far below
// SQLite's limit. "WHERE true" lets SQLite parse ON CONFLICT after INSERT
// ... SELECT.
const (
	sqlNoteMissingSQLite = `INSERT INTO missing_refs (tenant, client_ref, first_seen, reason)
		SELECT $1, value->>0, $3, value->>1 FROM json_each($2) WHERE true
		` + sqlNoteMissingConflict
	sqlMissingSQLite = `SELECT client_ref, first_seen, reason FROM missing_refs
		WHERE tenant = $1 AND client_ref IN (SELECT value->>0 FROM json_each($2))`
)

// NoteMissing implements gateway.Store: one writer operation notes the
// refs and reads every ref's record back in the same transaction.
func (s *sqliteStore) NoteMissing(ctx context.Context, tenant string, notes map[string]string, now time.Time) (map[string]gateway.Missing, error) {
	refs, reasons, err := missingNotes(tenant, notes, now)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return map[string]gateway.Missing{}, nil
	}
	pairs := make([][2]string, len(refs))
	for i := range refs {
		pairs[i] = [2]string{refs[i], reasons[i]}
	}
	list, err := json.Marshal(pairs)
	if err != nil {
		return nil, fmt.Errorf("store: note missing: %w", err)
	}
	var out map[string]gateway.Missing
	err = s.do(ctx, "note missing", func(w *wtx) error {
		out = make(map[string]gateway.Missing, len(refs)) // a replay starts over
		if _, err := w.exec(sqlNoteMissingSQLite, tenant, string(list), now.UnixNano()); err != nil {
			return fmt.Errorf("store: note missing: %w", err)
		}
		rows, err := w.query(sqlMissingSQLite, tenant, string(list))
		if err != nil {
			return fmt.Errorf("store: note missing: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				ref, why string
				at       int64
			)
			if err := rows.Scan(&ref, &at, &why); err != nil {
				return fmt.Errorf("store: note missing: %w", err)
			}
			out[ref] = gateway.Missing{Since: fromNanos(at), Reason: why}
		}
		if err := rows.Err(); err != nil {
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
func (s *sqliteStore) PruneMissing(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "missing", before, sqlPruneMissing)
}

// Backlog implements gateway.Store on the reader pool; the partial index
// messages_due holds exactly the rows it counts.
func (s *sqliteStore) Backlog(ctx context.Context) (int64, error) {
	if err := s.visible(ctx, true); err != nil {
		return 0, err
	}
	var n int64
	err := s.read(func() error { return s.rdb.QueryRowContext(ctx, sqlBacklog).Scan(&n) })
	if err != nil {
		return 0, fmt.Errorf("store: backlog: %w", err)
	}
	return n, nil
}
