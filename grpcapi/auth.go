package grpcapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Keys maps API keys to tenants. Only digests are kept, so a heap dump or a
// debug print never shows a key.
type Keys struct {
	digests []keyDigest
}

type keyDigest struct {
	sum    [sha256.Size]byte
	tenant string
}

// NewKeys builds the key set from tenant id → plain keys.
func NewKeys(byTenant map[string][]string) *Keys {
	k := &Keys{}
	for tenant, keys := range byTenant {
		for _, key := range keys {
			k.digests = append(k.digests, keyDigest{sha256.Sum256([]byte(key)), tenant})
		}
	}
	return k
}

// Tenant returns the tenant a key belongs to. Every digest is compared, so
// the time taken does not tell which key nearly matched.
func (k *Keys) Tenant(key string) (string, bool) {
	sum := sha256.Sum256([]byte(key))
	found := ""
	for _, d := range k.digests {
		if subtle.ConstantTimeCompare(sum[:], d.sum[:]) == 1 {
			found = d.tenant
		}
	}
	return found, found != ""
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

func (k *Keys) authenticate(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, "missing authorization metadata: send `authorization: Bearer <API key>`")
	}
	key, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "authorization metadata must be `Bearer <API key>`")
	}
	tenant, ok := k.Tenant(strings.TrimSpace(key))
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "unknown API key")
	}
	return context.WithValue(ctx, tenantKey{}, tenant), nil
}

func (k *Keys) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if exempt(info.FullMethod) {
		return h(ctx, req)
	}
	ctx, err := k.authenticate(ctx)
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
	ctx, err := k.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return h(srv, authedStream{ss, ctx})
}
