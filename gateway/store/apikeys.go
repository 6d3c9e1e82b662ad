package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// The tenants' stored API keys, in both stores: one statement each, the
// same SQL.

const (
	sqlAddAPIKey = `INSERT INTO api_keys (prefix, tenant, label, hash, created_at, created_by, expires_at, revoked_at, revoked_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0, '')`
	// sqlListAPIKeys lists every tenant's keys when $1 is '', else one's.
	sqlListAPIKeys = `SELECT prefix, tenant, label, hash, created_at, created_by, expires_at, revoked_at, revoked_by FROM api_keys
		WHERE ($1 = '' OR tenant = $1) ORDER BY created_at DESC, prefix`
	sqlRevokeAPIKey = `UPDATE api_keys SET revoked_at = $1, revoked_by = $2 WHERE tenant = $3 AND prefix = $4 AND revoked_at = 0`
)

func apiKeyArgs(k gateway.APIKey, nowNs int64) []any {
	at := nowNs
	if !k.CreatedAt.IsZero() {
		at = k.CreatedAt.UnixNano()
	}
	return []any{k.Prefix, k.Tenant, k.Label, hex.EncodeToString(k.Hash[:]), at, k.CreatedBy, toNanos(k.ExpiresAt)}
}

func checkAPIKey(k gateway.APIKey) error {
	if k.Prefix == "" || k.Tenant == "" {
		return fmt.Errorf("store: create API key: prefix and tenant are required")
	}
	return nil
}

// CreateAPIKey implements gateway.Store.
func (s *sqliteStore) CreateAPIKey(ctx context.Context, k gateway.APIKey) error {
	if err := checkAPIKey(k); err != nil {
		return err
	}
	return s.do(ctx, "api key", func(w *wtx) error {
		if _, err := w.exec(sqlAddAPIKey, apiKeyArgs(k, w.nowNs)...); err != nil {
			return fmt.Errorf("store: create API key: %w", err)
		}
		return nil
	})
}

// CreateAPIKey implements gateway.Store.
func (s *pgStore) CreateAPIKey(ctx context.Context, k gateway.APIKey) error {
	if err := checkAPIKey(k); err != nil {
		return err
	}
	return s.write(ctx, "api key", func(w *ptx) error {
		if _, err := w.exec(sqlAddAPIKey, apiKeyArgs(k, w.nowNs)...); err != nil {
			return fmt.Errorf("store: create API key: %w", err)
		}
		return nil
	})
}

// errNoKey says which key a revoke did not find, as gateway.ErrNotFound.
func errNoKey(tenant, prefix string) error {
	return fmt.Errorf("store: tenant %q has no API key %q in force: %w", tenant, prefix, gateway.ErrNotFound)
}

// RevokeAPIKey implements gateway.Store.
func (s *sqliteStore) RevokeAPIKey(ctx context.Context, tenant, prefix, by string) error {
	return s.do(ctx, "api key", func(w *wtx) error {
		n, err := w.exec(sqlRevokeAPIKey, w.nowNs, by, tenant, prefix)
		if err != nil {
			return fmt.Errorf("store: revoke API key: %w", err)
		}
		if n == 0 {
			return errNoKey(tenant, prefix)
		}
		return nil
	})
}

// RevokeAPIKey implements gateway.Store.
func (s *pgStore) RevokeAPIKey(ctx context.Context, tenant, prefix, by string) error {
	return s.write(ctx, "api key", func(w *ptx) error {
		n, err := w.exec(sqlRevokeAPIKey, w.nowNs, by, tenant, prefix)
		if err != nil {
			return fmt.Errorf("store: revoke API key: %w", err)
		}
		if n == 0 {
			return errNoKey(tenant, prefix)
		}
		return nil
	})
}

func scanAPIKeys(rows rowScanner) ([]gateway.APIKey, error) {
	defer rows.Close()
	var out []gateway.APIKey
	for rows.Next() {
		var k gateway.APIKey
		var hash string
		var created, expires, revoked int64
		if err := rows.Scan(&k.Prefix, &k.Tenant, &k.Label, &hash, &created, &k.CreatedBy, &expires, &revoked, &k.RevokedBy); err != nil {
			return nil, err
		}
		b, err := hex.DecodeString(hash)
		if err != nil || len(b) != len(k.Hash) {
			return nil, fmt.Errorf("API key %q has a malformed hash", k.Prefix)
		}
		copy(k.Hash[:], b)
		k.CreatedAt, k.ExpiresAt = time.Unix(0, created).UTC(), fromNanos(expires)
		if revoked != 0 {
			k.RevokedAt = time.Unix(0, revoked).UTC()
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ListAPIKeys implements gateway.Store on the reader pool.
func (s *sqliteStore) ListAPIKeys(ctx context.Context, tenant string) ([]gateway.APIKey, error) {
	var out []gateway.APIKey
	err := s.read(func() error {
		rows, err := s.rdb.QueryContext(ctx, sqlListAPIKeys, tenant)
		if err != nil {
			return err
		}
		out, err = scanAPIKeys(sqlRows{rows})
		return err
	})
	return out, wrapRead("list API keys", err)
}

// ListAPIKeys implements gateway.Store.
func (s *pgStore) ListAPIKeys(ctx context.Context, tenant string) ([]gateway.APIKey, error) {
	var out []gateway.APIKey
	err := s.run(func() error {
		rows, err := s.pool.Query(ctx, sqlListAPIKeys, tenant)
		if err != nil {
			return err
		}
		out, err = scanAPIKeys(rows)
		return err
	})
	return out, wrapRead("list API keys", err)
}
