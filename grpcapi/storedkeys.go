package grpcapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/openmf/smsgw/gateway"
)

// KeyPrefix starts every API key the gateway makes (the console, the Admin
// API), so a key found in a log, a repository or a ticket is recognisable
// as this gateway's (and secret scanners can be taught it).
const KeyPrefix = "smsgw_"

// keyShown is how much of a key the store keeps and operators see:
// KeyPrefix and 8 characters (48 random bits), enough to tell a tenant's
// keys apart, far too few to guess the rest (256 bits).
const keyShown = len(KeyPrefix) + 8

// MaxKeyLabel bounds a key's label, in characters.
const MaxKeyLabel = 80

// NewStoredKey makes a tenant's key: KeyPrefix and 32 random bytes in
// base64url, returned once, and what the store keeps of it (its SHA-256
// and first characters, never the key). A zero expires is never.
func NewStoredKey(tenant, label, by string, now, expires time.Time) (key string, k gateway.APIKey, err error) {
	if tenant == "" {
		return "", k, errors.New("a key needs a tenant")
	}
	if n := len([]rune(label)); n > MaxKeyLabel {
		return "", k, fmt.Errorf("the label has %d characters, at most %d are allowed", n, MaxKeyLabel)
	}
	if strings.IndexFunc(label, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", k, errors.New("the label has a control character")
	}
	if !expires.IsZero() && !expires.After(now) {
		return "", k, fmt.Errorf("the expiry %s is not after now", expires.UTC().Format(time.RFC3339))
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, gateway.APIKey{Prefix: key[:keyShown], Tenant: tenant, Label: label, Hash: sha256.Sum256([]byte(key)),
		CreatedAt: now, CreatedBy: by, ExpiresAt: expires}, nil
}
