package store

import (
	"context"

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
