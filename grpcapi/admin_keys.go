package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/gateway"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// adminUser is who the audit trail and a key's created_by/revoked_by name
// for what an admin API key did: admin keys carry no person's name.
const adminUser = "admin-api"

func toStoredKey(k gateway.APIKey) *pb.StoredAPIKey {
	return &pb.StoredAPIKey{Prefix: k.Prefix, Tenant: k.Tenant, Label: k.Label, CreateTime: ts(k.CreatedAt), CreatedBy: k.CreatedBy,
		ExpireTime: ts(k.ExpiresAt), RevokeTime: ts(k.RevokedAt), RevokedBy: k.RevokedBy}
}

// ListAPIKeys implements smsgw.v1.Admin.
func (a adminServer) ListAPIKeys(ctx context.Context, r *pb.ListAPIKeysRequest) (*pb.ListAPIKeysResponse, error) {
	if r.GetTenant() != "" {
		if err := a.knownTenant(r.GetTenant()); err != nil {
			return nil, err
		}
	}
	ks, err := a.op.StoredKeys().ListAPIKeys(ctx, r.GetTenant())
	if err != nil {
		return nil, adminErr(err)
	}
	out := &pb.ListAPIKeysResponse{}
	for _, k := range ks {
		out.Keys = append(out.Keys, toStoredKey(k))
	}
	return out, nil
}

// CreateAPIKey implements smsgw.v1.Admin.
func (a adminServer) CreateAPIKey(ctx context.Context, r *pb.CreateAPIKeyRequest) (*pb.CreateAPIKeyResponse, error) {
	if err := a.knownTenant(r.GetTenant()); err != nil {
		return nil, err
	}
	now := time.Now()
	var expires time.Time
	if ttl := r.GetTtl(); ttl != nil {
		d := ttl.AsDuration()
		if d < time.Minute {
			return nil, fieldStatus(&gateway.FieldError{Field: "ttl", Reason: fmt.Sprintf("is %s; a key must live at least a minute (unset: for ever)", d)}).Err()
		}
		expires = now.Add(d)
	}
	key, k, err := NewStoredKey(r.GetTenant(), r.GetLabel(), adminUser, now, expires)
	if err != nil {
		return nil, fieldStatus(&gateway.FieldError{Field: "label", Reason: err.Error()}).Err()
	}
	target := fmt.Sprintf("%s %s %q", k.Tenant, k.Prefix, k.Label)
	if !expires.IsZero() {
		target += " expires " + expires.UTC().Format(time.RFC3339)
	}
	if err := a.op.StoredKeys().CreateAPIKey(ctx, k); err != nil {
		a.audit(ctx, "create-api-key", target, err)
		return nil, adminErr(err)
	}
	a.audit(ctx, "create-api-key", target, nil)
	if err := a.keys.LoadStored(ctx, a.op.StoredKeys()); err != nil {
		return nil, adminErr(err)
	}
	return &pb.CreateAPIKeyResponse{Key: key, Stored: toStoredKey(k)}, nil
}

// RevokeAPIKey implements smsgw.v1.Admin.
func (a adminServer) RevokeAPIKey(ctx context.Context, r *pb.RevokeAPIKeyRequest) (*pb.RevokeAPIKeyResponse, error) {
	if err := a.knownTenant(r.GetTenant()); err != nil {
		return nil, err
	}
	target := r.GetTenant() + " " + r.GetPrefix()
	err := a.op.StoredKeys().RevokeAPIKey(ctx, r.GetTenant(), r.GetPrefix(), adminUser)
	a.audit(ctx, "revoke-api-key", target, err)
	if errors.Is(err, gateway.ErrNotFound) {
		return nil, statusErr(codes.NotFound, "API_KEY_NOT_FOUND", fmt.Sprintf("tenant %q has no stored API key %q in force", r.GetTenant(), r.GetPrefix()))
	}
	if err == nil {
		err = a.keys.LoadStored(ctx, a.op.StoredKeys())
	}
	if err != nil {
		return nil, adminErr(err)
	}
	return &pb.RevokeAPIKeyResponse{}, nil
}

// adminErr answers a failure of the store to an operator, who may read
// its text (as the other Admin calls do).
func adminErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// knownTenant refuses a tenant the config does not have.
func (a adminServer) knownTenant(tenant string) error {
	if tenant == "" {
		return fieldStatus(&gateway.FieldError{Field: "tenant", Reason: "is empty"}).Err()
	}
	if _, err := a.op.TenantLimits(tenant); err != nil {
		return fieldStatus(&gateway.FieldError{Field: "tenant", Reason: fmt.Sprintf("no tenant %q", tenant)}).Err()
	}
	return nil
}

// audit records what an admin key did, as the console records its users'
// actions (a gateway-wide entry: on no tenant's event stream).
func (a adminServer) audit(ctx context.Context, action, target string, err error) {
	outcome, source := "done", ""
	if err != nil {
		outcome = "failed: " + err.Error()
	}
	if p, ok := peer.FromContext(ctx); ok {
		source = p.Addr.String()
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = a.engine.RecordAudit(actx, gateway.AuditEntry{At: time.Now(), User: adminUser, Role: "admin", Source: source,
		Action: action, Target: target, Outcome: outcome})
}
