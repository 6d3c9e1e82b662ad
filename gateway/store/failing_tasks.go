package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/openmf/smsgw/gateway"
)

// sqlFailingTasks lists the tasks whose last run failed (index
// tasks_failing), every tenant's when $1 is ”.
const sqlFailingTasks = `SELECT id, key, kind, tenant, attempts, last_error, not_before, created_at, done_at FROM tasks
	WHERE last_error <> '' AND ($1 = '' OR tenant = $1) ORDER BY id DESC LIMIT $2`

func scanFailingTasks(rows rowScanner) ([]gateway.FailingTask, error) {
	defer rows.Close()
	var out []gateway.FailingTask
	for rows.Next() {
		var t gateway.FailingTask
		var next, created, done int64
		if err := rows.Scan(&t.ID, &t.Key, &t.Kind, &t.Tenant, &t.Attempts, &t.LastError, &next, &created, &done); err != nil {
			return nil, err
		}
		t.CreatedAt, t.GaveUpAt = fromNanos(created), fromNanos(done)
		if done == 0 {
			t.NextRun = fromNanos(next)
		} else {
			t.Attempts++ // the run that gave up is not counted in attempts
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ListFailingTasks implements gateway.Store on the reader pool.
func (s *sqliteStore) ListFailingTasks(ctx context.Context, tenant string, limit int) ([]gateway.FailingTask, error) {
	var out []gateway.FailingTask
	err := s.read(func() error {
		rows, err := s.rdb.QueryContext(ctx, sqlFailingTasks, tenant, listLimit(limit))
		if err != nil {
			return err
		}
		out, err = scanFailingTasks(sqlRows{rows})
		return err
	})
	return out, wrapRead("list failing tasks", err)
}

// ListFailingTasks implements gateway.Store.
func (s *pgStore) ListFailingTasks(ctx context.Context, tenant string, limit int) ([]gateway.FailingTask, error) {
	var out []gateway.FailingTask
	err := s.run(func() error {
		rows, err := s.pool.Query(ctx, sqlFailingTasks, tenant, listLimit(limit))
		if err != nil {
			return err
		}
		out, err = scanFailingTasks(rows)
		return err
	})
	return out, wrapRead("list failing tasks", err)
}

// sqlTaskState and sqlRetryTaskNow/sqlDropTask are an operator's actions
// on a failing task: read its state, then change it in the same write. A
// done task's attempts leave out the run that gave up (FinishTask does not
// count it, scanFailingTasks adds it): a retry of a given-up task counts
// that run, and a drop, which runs nothing, takes one off, so the failed
// runs listed stay the same through both.
const (
	sqlTaskState    = "SELECT tenant, last_error, done_at, lease_until FROM tasks WHERE id = $1"
	sqlRetryTaskNow = `UPDATE tasks SET attempts = attempts + CASE WHEN done_at > 0 THEN 1 ELSE 0 END,
		not_before = $2, done_at = 0, lease_until = 0 WHERE id = $1`
	sqlDropTask = `UPDATE tasks SET attempts = attempts - 1, done_at = $2, last_error = $3, lease_until = 0
		WHERE id = $1`
)

// taskAction runs RetryTaskNow (by == "") or DropTask on one write
// transaction of either store: row reads the task's state, exec writes.
func taskAction(tenant string, id int64, nowNs int64, drop bool, by string,
	row func(query string, args ...any) scanner, exec func(query string, args ...any) (int64, error)) error {
	var (
		owner, lastErr string
		done, lease    int64
	)
	err := row(sqlTaskState, id).Scan(&owner, &lastErr, &done, &lease)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) || err == nil && tenant != "" && owner != tenant {
		return taskNotFound{id, tenant}
	}
	if err != nil {
		return err
	}
	switch {
	case lastErr == "":
		return fmt.Errorf("task %d has not failed", id)
	case done == 0 && lease > nowNs:
		return fmt.Errorf("task %d is running now: see how this run ends", id)
	case drop && done > 0:
		return fmt.Errorf("task %d was given up already", id)
	}
	if drop {
		_, err = exec(sqlDropTask, id, nowNs, fmt.Sprintf("given up by %s (last error: %s)", by, lastErr))
	} else {
		_, err = exec(sqlRetryTaskNow, id, nowNs)
	}
	return err
}

// taskNotFound is gateway.ErrNotFound for a task, saying so (that error's
// own text speaks of a message).
type taskNotFound struct {
	id     int64
	tenant string
}

func (e taskNotFound) Error() string {
	if e.tenant == "" {
		return fmt.Sprintf("no task %d", e.id)
	}
	return fmt.Sprintf("no task %d of tenant %s", e.id, e.tenant)
}

func (e taskNotFound) Is(target error) bool { return target == gateway.ErrNotFound }

// RetryTaskNow implements gateway.Store.
func (s *sqliteStore) RetryTaskNow(ctx context.Context, tenant string, id int64) error {
	return s.do(ctx, "retry task", func(w *wtx) error {
		return wrapTask("retry", taskAction(tenant, id, w.nowNs, false, "", w.queryRow, w.exec))
	})
}

// DropTask implements gateway.Store.
func (s *sqliteStore) DropTask(ctx context.Context, tenant string, id int64, by string) error {
	return s.do(ctx, "drop task", func(w *wtx) error {
		return wrapTask("drop", taskAction(tenant, id, w.nowNs, true, by, w.queryRow, w.exec))
	})
}

// RetryTaskNow implements gateway.Store.
func (s *pgStore) RetryTaskNow(ctx context.Context, tenant string, id int64) error {
	return s.write(ctx, "retry task", func(w *ptx) error {
		return wrapTask("retry", taskAction(tenant, id, w.nowNs, false, "", w.pgRow, w.exec))
	})
}

// DropTask implements gateway.Store.
func (s *pgStore) DropTask(ctx context.Context, tenant string, id int64, by string) error {
	return s.write(ctx, "drop task", func(w *ptx) error {
		return wrapTask("drop", taskAction(tenant, id, w.nowNs, true, by, w.pgRow, w.exec))
	})
}

// pgRow is queryRow as taskAction takes it.
func (w *ptx) pgRow(query string, args ...any) scanner { return w.queryRow(query, args...) }

// wrapTask names the store and the action in an error, leaving ErrClosed
// and ErrNotFound matchable.
func wrapTask(action string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s task: %w", action, err)
}
