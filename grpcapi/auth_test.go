package grpcapi

import (
	"context"
	"crypto/sha256"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// storedKeys is a store's key list in memory (gateway.APIKeys).
type storedKeys []gateway.APIKey

func (s storedKeys) CreateAPIKey(context.Context, gateway.APIKey) error { return nil }
func (s storedKeys) ListAPIKeys(context.Context, string) ([]gateway.APIKey, error) {
	return s, nil
}
func (s storedKeys) RevokeAPIKey(context.Context, string, string, string) error { return nil }

// Stored keys open the API while in force: a revoked or expired one is
// not loaded, and one that expires after it was loaded is refused from
// its expiry on, without waiting for the next load; a stored key is never
// an admin key, and one without a tenant is skipped.
func TestStoredKeysExpire(t *testing.T) {
	var clock atomic.Pointer[time.Time]
	start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	clock.Store(&start)
	k := NewKeys(map[string][]string{"mfi-a": {"config-key"}}, []string{"admin-key"})
	k.now = func() time.Time { return *clock.Load() }
	key := func(name, tenant string, expires, revoked time.Time) gateway.APIKey {
		return gateway.APIKey{Prefix: name, Tenant: tenant, Hash: sha256.Sum256([]byte(name)), ExpiresAt: expires, RevokedAt: revoked}
	}
	var never time.Time
	if err := k.LoadStored(t.Context(), storedKeys{
		key("forever", "mfi-a", never, never),
		key("for-an-hour", "mfi-b", start.Add(time.Hour), never),
		key("expired", "mfi-a", start.Add(-time.Second), never),
		key("revoked", "mfi-a", never, start.Add(-time.Minute)),
		key("no-tenant", "", never, never),
	}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want map[string]string) {
		t.Helper()
		for _, name := range []string{"forever", "for-an-hour", "expired", "revoked", "no-tenant", "config-key"} {
			tenant, admin, ok := k.lookup(name)
			if wantTenant, in := want[name]; ok != in || tenant != wantTenant || admin {
				t.Errorf("%s: %s = tenant %q, admin %v, ok %v; want ok %v, tenant %q", when, name, tenant, admin, ok, in, wantTenant)
			}
		}
	}
	check("at load", map[string]string{"forever": "mfi-a", "for-an-hour": "mfi-b", "config-key": "mfi-a"})
	end := start.Add(time.Hour)
	clock.Store(&end)
	check("at the expiry", map[string]string{"forever": "mfi-a", "config-key": "mfi-a"})
	if _, admin, ok := k.lookup("admin-key"); !ok || !admin {
		t.Errorf("the admin key: admin %v, ok %v", admin, ok)
	}
}
