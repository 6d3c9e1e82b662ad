package console

import (
	"context"
	"log/slog"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// auditLog writes every entry as one structured log line at info level
// (numbers masked before they get here) and, through the engine, to the
// store's audit trail, which the audit page reads (durable, shared by the
// nodes of a cluster), and to the event log as an audit event.
type auditLog struct {
	log    *slog.Logger
	now    func() time.Time
	engine *gateway.Engine
	store  gateway.AuditTrail
}

// auditKeep is how many entries the audit page shows.
const auditKeep = 500

// record notes what u did; target must already be masked if it is a
// number. A failure to store the entry is logged: the action is done and
// the log line has it.
func (a *auditLog) record(ctx context.Context, u User, source, action, target, outcome string) {
	if outcome == "" {
		outcome = "done"
	}
	e := gateway.AuditEntry{At: a.now(), User: u.Username, Role: string(u.Role), Tenant: u.Tenant, Source: source,
		Action: action, Target: target, Outcome: outcome}
	a.log.Info("console audit", "user", e.User, "role", e.Role, "tenant", e.Tenant, "source", e.Source,
		"action", e.Action, "target", e.Target, "outcome", e.Outcome)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
	defer cancel()
	if err := a.engine.RecordAudit(ctx, e); err != nil {
		a.log.Error("console audit entry not stored", "user", e.User, "action", e.Action, "err", err)
	}
}

// list returns the entries a user may see, newest first: a user limited
// to a tenant sees only that tenant's users' entries.
func (a *auditLog) list(ctx context.Context, tenant string) ([]gateway.AuditEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return a.store.ListAudit(ctx, tenant, auditKeep)
}
