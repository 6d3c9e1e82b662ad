package grpcapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/guard"
)

// Keys maps API keys to tenants. Only digests are kept, so a heap dump or a
// debug print never shows a key. Set replaces the config's keys all at
// once while requests are served (a config reload adds or revokes keys);
// LoadStored replaces the store's (made in the console), so a call reads
// no store: a node reloads them after its own create or revoke and polls
// for the other nodes' (Follow).
type Keys struct {
	digests atomic.Pointer[[]keyDigest] // the config's
	stored  atomic.Pointer[[]keyDigest] // the store's, not revoked
	loadMu  sync.Mutex                  // one LoadStored at a time: the latest list wins
	backoff *guard.Backoff
	now     func() time.Time // when stored keys' expiry is judged
}

type keyDigest struct {
	sum    [sha256.Size]byte
	tenant string    // empty for an admin key
	until  time.Time // a stored key's expiry; zero for never
}

// NewKeys builds the key set from tenant id → plain keys, and the operators'
// admin keys, which open the Admin service and nothing else.
func NewKeys(byTenant map[string][]string, admin []string) *Keys {
	k := &Keys{now: time.Now}
	k.backoff, _ = guard.NewBackoff(guard.AuthConfig{}, nil, nil) // the defaults are valid
	k.Set(byTenant, admin)
	k.stored.Store(&[]keyDigest{})
	return k
}

// BackOff makes failed logins back off with b (shared with the other
// interfaces) instead of the keys' own table; call it before serving.
func (k *Keys) BackOff(b *guard.Backoff) { k.backoff = b }

// Set replaces every key: a request authenticates against the old set or
// the new one, never a mix.
func (k *Keys) Set(byTenant map[string][]string, admin []string) {
	var ds []keyDigest
	for tenant, keys := range byTenant {
		for _, key := range keys {
			ds = append(ds, keyDigest{sum: sha256.Sum256([]byte(key)), tenant: tenant})
		}
	}
	for _, key := range admin {
		ds = append(ds, keyDigest{sum: sha256.Sum256([]byte(key))})
	}
	k.digests.Store(&ds)
}

// LoadStored replaces the store's keys with its tenants' keys in force
// (neither revoked nor expired), read now; a key's expiry is also checked
// at each lookup, so it ends on time on every node: call it at start, after creating or revoking a key,
// and every so often for the keys other nodes change. A failed read keeps
// the keys in force.
func (k *Keys) LoadStored(ctx context.Context, s gateway.APIKeys) error {
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	all, err := s.ListAPIKeys(ctx, "")
	if err != nil {
		return fmt.Errorf("grpcapi: API keys: %w", err)
	}
	ds := make([]keyDigest, 0, len(all))
	for _, sk := range all {
		if sk.InForce(k.now()) && sk.Tenant != "" { // a stored key is never an admin key
			ds = append(ds, keyDigest{sk.Hash, sk.Tenant, sk.ExpiresAt})
		}
	}
	k.stored.Store(&ds)
	return nil
}

// Follow reloads the store's keys every interval until stop is closed,
// so a key made or revoked on another node of a cluster works or stops
// within that interval here. A failed read is logged and retried.
func (k *Keys) Follow(stop <-chan struct{}, s gateway.APIKeys, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		if err := k.LoadStored(ctx, s); err != nil {
			log.Warn("stored API keys not reloaded; the last ones read stay in force", "err", err)
		}
		cancel()
	}
}

// lookup returns whose key it is. Every digest is compared, so the time
// taken does not tell which key nearly matched.
func (k *Keys) lookup(key string) (tenant string, admin, ok bool) {
	sum := sha256.Sum256([]byte(key))
	for _, d := range *k.digests.Load() {
		if subtle.ConstantTimeCompare(sum[:], d.sum[:]) == 1 {
			tenant, admin, ok = d.tenant, d.tenant == "", true
		}
	}
	now := k.now()
	for _, d := range *k.stored.Load() {
		if subtle.ConstantTimeCompare(sum[:], d.sum[:]) == 1 && (d.until.IsZero() || now.Before(d.until)) {
			tenant, admin, ok = d.tenant, false, true
		}
	}
	return tenant, admin, ok
}

// Admin says whether key is an admin key, for the HTTP endpoints only
// operators may use (the profiler).
func (k *Keys) Admin(key string) bool {
	_, admin, ok := k.lookup(key)
	return ok && admin
}

type tenantKey struct{}

func tenantFrom(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

// healthAndReflection are served without a key: load balancers and grpcurl
// must reach them before anyone has credentials.
func exempt(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.") || strings.HasPrefix(method, "/grpc.reflection.")
}

// authenticate finds the tenant of the call's key. A peer backing off
// after failed logins is refused unchecked (ResourceExhausted with the
// wait); a missing or unknown key counts as a failure.
func (k *Keys) authenticate(ctx context.Context, method string) (context.Context, error) {
	iface, src := callerSource(ctx)
	if err := k.backoff.Check(iface, src, ""); err != nil {
		return nil, statusErr(codes.ResourceExhausted, "AUTH_BACKOFF", err.Error())
	}
	ctx, err := k.check(ctx, method)
	if status.Code(err) == codes.Unauthenticated {
		k.backoff.Fail(iface, src, "")
	}
	return ctx, err
}

func (k *Keys) check(ctx context.Context, method string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, statusErr(codes.Unauthenticated, "API_KEY_MISSING", "missing authorization metadata: send `authorization: Bearer <API key>`")
	}
	key, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return nil, statusErr(codes.Unauthenticated, "API_KEY_MALFORMED", "authorization metadata must be `Bearer <API key>`")
	}
	tenant, admin, ok := k.lookup(strings.TrimSpace(key))
	if !ok {
		return nil, statusErr(codes.Unauthenticated, "API_KEY_UNKNOWN", "unknown API key")
	}
	if wantAdmin := strings.HasPrefix(method, "/smsgw.v1.Admin/"); wantAdmin != admin {
		if wantAdmin {
			return nil, statusErr(codes.PermissionDenied, "ADMIN_KEY_REQUIRED", "the Admin service needs an admin API key (admin.api_keys)")
		}
		return nil, statusErr(codes.PermissionDenied, "TENANT_KEY_REQUIRED", "an admin API key has no tenant: use a tenant's key")
	}
	return context.WithValue(ctx, tenantKey{}, tenant), nil
}

func (k *Keys) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if exempt(info.FullMethod) {
		return h(ctx, req)
	}
	ctx, err := k.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s authedStream) Context() context.Context { return s.ctx }

func (k *Keys) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if exempt(info.FullMethod) {
		return h(srv, ss)
	}
	ctx, err := k.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, authedStream{ss, ctx})
}
