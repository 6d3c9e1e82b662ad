package console

import (
	"log/slog"
	"sync"
	"time"
)

// AuditEntry is one thing a console user did: who, from where, what, to
// what, when.
type AuditEntry struct {
	At     time.Time
	User   string
	Role   Role
	Tenant string // the user's tenant limit ("" for none)
	Source string // the browser's address
	Action string // sign-in, pause-carrier, cancel-message, opt-out, ...
	Target string // carrier name, message id, masked number
	Detail string // the outcome: "done" or why it failed
}

// auditLog writes every entry as one structured log line at info level
// (numbers masked before they get here) and keeps the latest in memory
// for the audit page.
type auditLog struct {
	log *slog.Logger
	now func() time.Time

	mu     sync.Mutex
	recent []AuditEntry // newest last, at most auditKeep
}

// auditKeep is how many entries the audit page shows.
const auditKeep = 500

func newAuditLog(log *slog.Logger, now func() time.Time) *auditLog {
	return &auditLog{log: log, now: now}
}

// record notes what u did; target must already be masked if it is a
// number.
func (a *auditLog) record(u User, source, action, target, detail string) {
	e := AuditEntry{At: a.now(), User: u.Username, Role: u.Role, Tenant: u.Tenant, Source: source,
		Action: action, Target: target, Detail: detail}
	if detail == "" {
		e.Detail = "done"
	}
	a.log.Info("console audit", "user", e.User, "role", string(e.Role), "tenant", e.Tenant, "source", e.Source,
		"action", e.Action, "target", e.Target, "outcome", e.Detail)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recent = append(a.recent, e)
	if len(a.recent) > auditKeep {
		a.recent = append(a.recent[:0:0], a.recent[len(a.recent)-auditKeep:]...)
	}
}

// list returns the entries a user may see, newest first: a user limited
// to a tenant sees only that tenant's users' entries.
func (a *auditLog) list(tenant string) []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []AuditEntry
	for i := len(a.recent) - 1; i >= 0; i-- {
		if tenant == "" || a.recent[i].Tenant == tenant {
			out = append(out, a.recent[i])
		}
	}
	return out
}
