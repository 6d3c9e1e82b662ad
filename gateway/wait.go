package gateway

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// A message nothing can send must say so, not sit ACCEPTED in silence: one
// that no route could ever take ends FAILED when it is accepted (and when
// a reload removed its route by the time it is claimed); one that waits
// for a carrier shows why in its last_error whenever it is read.

// noRouteDetail is the last_error of a message no route can take.
func noRouteDetail(m *Message, err error) string {
	if !errors.Is(err, ErrNoRoute) {
		return err.Error()
	}
	return fmt.Sprintf("no route for %s (tenant %s, sender %s): no configured route covers it", m.To, m.Tenant, m.From)
}

// plan asks the router for m's candidates now.
func plan(r Router, m *Message, now time.Time) ([]Candidate, error) {
	return r.Plan(RouteQuery{Tenant: m.Tenant, From: m.From, To: m.To, At: now, Key: m.ID, Pinned: m.PinnedCarrier})
}

// waitReason says why a message no carrier has taken yet cannot leave now,
// or "" when a carrier could take it (it is merely due later, or queued).
// The reason is worked out when the message is read, from the carriers'
// state then: waiting writes nothing, however long it lasts.
func (e *Engine) waitReason(m *Message) string {
	cands, err := plan(e.opts.Router, m, e.opts.Now())
	switch {
	case err != nil:
		return noRouteDetail(m, err)
	case len(cands) > 0:
		return ""
	}
	var parts []string
	for _, c := range e.carriers.down() {
		if m.PinnedCarrier != "" && c.name != m.PinnedCarrier {
			continue
		}
		s := "carrier " + c.name + " has no bound link"
		if !c.since.IsZero() {
			s += " since " + c.since.UTC().Format(time.RFC3339)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "waiting: no carrier can take it now (circuit breakers open or outside route hours)"
	}
	return "waiting: " + strings.Join(parts, "; ")
}
