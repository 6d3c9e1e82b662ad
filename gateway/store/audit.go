package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// The audit trail and the opt-out list's listing, in both stores: one
// statement each, the same SQL (shared.go).

// auditAt is when an entry happened: its own time, else the write's.
func auditAt(e gateway.AuditEntry, nowNs int64) int64 {
	if e.At.IsZero() {
		return nowNs
	}
	return e.At.UnixNano()
}

func auditArgs(e gateway.AuditEntry, nowNs int64) []any {
	return []any{auditAt(e, nowNs), e.User, e.Role, e.Tenant, e.Source, e.Action, e.Target, e.Outcome}
}

func listLimit(limit int) int {
	if limit <= 0 {
		return 100
	}
	return limit
}

// auditDetail is an audit event's entry as it travels in the event's
// detail column. The event log keeps its columns and joins (followers of
// status events read it on every commit) instead of growing a join for a
// kind that comes once per human action; the audit table stays the trail of
// record, the event a copy of the entry as it was written.
type auditDetail struct {
	At      int64  `json:"at"` // UTC unix nanoseconds
	User    string `json:"user"`
	Role    string `json:"role"`
	Source  string `json:"source"`
	Action  string `json:"action"`
	Target  string `json:"target"`
	Outcome string `json:"outcome"`
}

// auditEvent is the event appended with an audit row.
func auditEvent(e gateway.AuditEntry, nowNs int64) (eventRow, error) {
	b, err := json.Marshal(auditDetail{At: auditAt(e, nowNs), User: e.User, Role: e.Role, Source: e.Source,
		Action: e.Action, Target: e.Target, Outcome: e.Outcome})
	if err != nil {
		return eventRow{}, err
	}
	e.At = time.Unix(0, auditAt(e, nowNs)).UTC()
	return eventRow{kind: gateway.EventAudit, tenant: e.Tenant, detail: string(b), audit: &e}, nil
}

// readAuditEvent fills an audit event's Audit from its detail, which then
// says nothing more.
func readAuditEvent(ev *gateway.Event) error {
	if ev.Kind != gateway.EventAudit {
		return nil
	}
	var d auditDetail
	if err := json.Unmarshal([]byte(ev.Detail), &d); err != nil {
		return fmt.Errorf("audit event %d: %w", ev.Seq, err)
	}
	ev.Audit = &gateway.AuditEntry{At: time.Unix(0, d.At).UTC(), User: d.User, Role: d.Role, Tenant: ev.Tenant,
		Source: d.Source, Action: d.Action, Target: d.Target, Outcome: d.Outcome}
	ev.Detail = ""
	return nil
}

// RecordAudit implements gateway.Store.
func (s *sqliteStore) RecordAudit(ctx context.Context, e gateway.AuditEntry) error {
	return s.do(ctx, "audit", func(w *wtx) error {
		ev, err := auditEvent(e, w.nowNs)
		if err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
		if _, err := w.exec(sqlAddAudit, auditArgs(e, w.nowNs)...); err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
		w.events = append(w.events, ev)
		return nil
	})
}

// RecordAudit implements gateway.Store.
func (s *pgStore) RecordAudit(ctx context.Context, e gateway.AuditEntry) error {
	return s.write(ctx, "audit", func(w *ptx) error {
		ev, err := auditEvent(e, w.nowNs)
		if err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
		if _, err := w.exec(sqlAddAudit, auditArgs(e, w.nowNs)...); err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
		w.events = append(w.events, ev)
		return nil
	})
}

func scanAudit(rows rowScanner) ([]gateway.AuditEntry, error) {
	defer rows.Close()
	var out []gateway.AuditEntry
	for rows.Next() {
		var e gateway.AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.User, &e.Role, &e.Tenant, &e.Source, &e.Action, &e.Target, &e.Outcome); err != nil {
			return nil, err
		}
		e.At = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanOptOuts(rows rowScanner) ([]gateway.OptOutEntry, error) {
	defer rows.Close()
	var out []gateway.OptOutEntry
	for rows.Next() {
		var e gateway.OptOutEntry
		var at int64
		if err := rows.Scan(&e.Number, &e.Keyword, &at); err != nil {
			return nil, err
		}
		e.At = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListAudit implements gateway.Store on the reader pool.
func (s *sqliteStore) ListAudit(ctx context.Context, tenant string, limit int) ([]gateway.AuditEntry, error) {
	var out []gateway.AuditEntry
	err := s.read(func() error {
		rows, err := s.rdb.QueryContext(ctx, sqlListAudit, tenant, listLimit(limit))
		if err != nil {
			return err
		}
		out, err = scanAudit(sqlRows{rows})
		return err
	})
	return out, wrapRead("list audit", err)
}

// ListOptOuts implements gateway.Store on the reader pool.
func (s *sqliteStore) ListOptOuts(ctx context.Context, tenant string, limit int) ([]gateway.OptOutEntry, error) {
	var out []gateway.OptOutEntry
	err := s.read(func() error {
		rows, err := s.rdb.QueryContext(ctx, sqlListOptOuts, tenant, listLimit(limit))
		if err != nil {
			return err
		}
		out, err = scanOptOuts(sqlRows{rows})
		return err
	})
	return out, wrapRead("list opt-outs", err)
}

// ListAudit implements gateway.Store.
func (s *pgStore) ListAudit(ctx context.Context, tenant string, limit int) ([]gateway.AuditEntry, error) {
	var out []gateway.AuditEntry
	err := s.run(func() error {
		rows, err := s.pool.Query(ctx, sqlListAudit, tenant, listLimit(limit))
		if err != nil {
			return err
		}
		out, err = scanAudit(rows)
		return err
	})
	return out, wrapRead("list audit", err)
}

// ListOptOuts implements gateway.Store.
func (s *pgStore) ListOptOuts(ctx context.Context, tenant string, limit int) ([]gateway.OptOutEntry, error) {
	var out []gateway.OptOutEntry
	err := s.run(func() error {
		rows, err := s.pool.Query(ctx, sqlListOptOuts, tenant, listLimit(limit))
		if err != nil {
			return err
		}
		out, err = scanOptOuts(rows)
		return err
	})
	return out, wrapRead("list opt-outs", err)
}

// wrapRead names a failed read, leaving ErrClosed as it is.
func wrapRead(what string, err error) error {
	if err == nil || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("store: %s: %w", what, err)
}
