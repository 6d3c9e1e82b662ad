package gateway

import (
	"fmt"
	"slices"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// tenantSet is the engine's view of the configured tenants: by id, in the
// configured order (the first is the fallback for inbound messages), and
// the rate limiter of each tenant with a Rate. The acceptor and the
// inbound router read it through a tenants holder; SetTenants swaps it
// whole, so a caller sees the old set or the new one, never a mix.
type tenantSet struct {
	byID   map[string]*Tenant
	order  []Tenant
	limits map[string]*rate.Limiter
}

// tenants holds the set in force.
type tenants struct{ set atomic.Pointer[tenantSet] }

func (t *tenants) load() *tenantSet { return t.set.Load() }

// newTenantSet checks and indexes the configured tenants, keeping the
// limiters of prev for tenants whose rate stays on: their budget carries
// over a reload, with the new rate and burst.
func newTenantSet(list []Tenant, prev *tenantSet) (*tenantSet, error) {
	s := &tenantSet{byID: map[string]*Tenant{}, order: slices.Clone(list), limits: map[string]*rate.Limiter{}}
	for i := range s.order {
		t := &s.order[i]
		t.OptOut.setDefaults()
		if _, dup := s.byID[t.ID]; dup {
			return nil, fmt.Errorf("gateway: tenant %q configured twice", t.ID)
		}
		s.byID[t.ID] = t
		if t.Rate <= 0 {
			continue
		}
		limit, burst := rate.Limit(t.Rate), max(t.Burst, int(t.Rate), 1)
		if lim := prev.limiter(t.ID); lim != nil {
			lim.SetLimit(limit)
			lim.SetBurst(burst)
			s.limits[t.ID] = lim
			continue
		}
		s.limits[t.ID] = rate.NewLimiter(limit, burst)
	}
	return s, nil
}

func (s *tenantSet) limiter(id string) *rate.Limiter {
	if s == nil {
		return nil
	}
	return s.limits[id]
}

// SetTenants replaces the tenants' settings while the engine runs (a
// config reload): senders, rates, opt-out words and replies. The set of
// tenant ids must stay the same: a message stored for a tenant must keep
// finding it.
func (e *Engine) SetTenants(list []Tenant) error {
	old := e.tenants.load()
	s, err := newTenantSet(list, old)
	if err != nil {
		return err
	}
	if len(s.byID) != len(old.byID) {
		return fmt.Errorf("gateway: set tenants: %d tenants instead of %d: adding or removing one needs a restart", len(s.byID), len(old.byID))
	}
	for id := range s.byID {
		if old.byID[id] == nil {
			return fmt.Errorf("gateway: set tenants: tenant %q is new: adding one needs a restart", id)
		}
	}
	e.tenants.set.Store(s)
	return nil
}
