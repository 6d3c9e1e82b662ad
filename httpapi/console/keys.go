package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/guard"
)

// KeyPrefix starts every API key the console makes, so a key found in a
// log, a repository or a ticket is recognisable as this gateway's (and
// secret scanners can be taught it).
const KeyPrefix = "smsgw_"

// keyShown is how much of a key the store keeps and the console shows:
// KeyPrefix and 8 characters (48 random bits), enough to tell a tenant's
// keys apart, far too few to guess the rest (256 bits).
const keyShown = len(KeyPrefix) + 8

// maxLabel bounds a key's label, in characters.
const maxLabel = 80

// keyExpiries are the lifetimes a key may be made with ("" for none): a
// key for a pilot or a contractor should end by itself.
var keyExpiries = []string{"", "7 days", "30 days", "90 days", "365 days"}

// keyExpiry is when a key made at now with the chosen lifetime expires
// (zero for never).
func keyExpiry(choice string, now time.Time) (time.Time, error) {
	if choice == "" {
		return time.Time{}, nil
	}
	days, ok := strings.CutSuffix(choice, " days")
	n, err := strconv.Atoi(days)
	if !ok || err != nil || !slices.Contains(keyExpiries, choice) {
		return time.Time{}, fmt.Errorf("unknown expiry %q: choose one of %s or never", clip(choice), strings.Join(keyExpiries[1:], ", "))
	}
	return now.AddDate(0, 0, n), nil
}

// newAPIKey makes a key: KeyPrefix and 32 random bytes in base64url.
func newAPIKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// checkLabel says what is wrong with a key's label, if anything.
func checkLabel(label string) error {
	if n := len([]rune(label)); n > maxLabel {
		return fmt.Errorf("the label has %d characters, at most %d are allowed", n, maxLabel)
	}
	if strings.IndexFunc(label, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return errors.New("the label has a control character")
	}
	return nil
}

// createdKey is a key just made, shown on the page that answers its form
// and never again.
type createdKey struct {
	Tenant, Label, Key string
}

// keyAction creates or revokes a tenant's API key. A new key is in force
// on this node before the page answers (the gRPC keys are reloaded from
// the store); other nodes of a cluster take it within their poll.
func (c *Console) keyAction(w http.ResponseWriter, r *http.Request, ss *session) {
	tenant, action := r.PostFormValue("tenant"), r.PostFormValue("action")
	t, ok := c.tenant(ss, tenant)
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	var err error
	target := clip(tenant)
	switch {
	case !ok:
		err = fmt.Errorf("no tenant %q", clip(tenant))
	case action == "create-api-key":
		label := strings.TrimSpace(r.PostFormValue("label"))
		if err = checkLabel(label); err != nil {
			break
		}
		now := c.opts.Now()
		var expires time.Time
		if expires, err = keyExpiry(r.PostFormValue("expires"), now); err != nil {
			break
		}
		key := newAPIKey()
		k := gateway.APIKey{Prefix: key[:keyShown], Tenant: t.ID, Label: label, Hash: sha256.Sum256([]byte(key)),
			CreatedAt: now, CreatedBy: ss.user.Username, ExpiresAt: expires}
		target = fmt.Sprintf("%s %s %q", t.ID, k.Prefix, label)
		if !expires.IsZero() {
			target += " expires " + expires.UTC().Format(time.RFC3339)
		}
		if err = c.opts.Store.CreateAPIKey(ctx, k); err == nil {
			err = c.reloadKeys(ctx)
		}
		if err == nil {
			c.audit.record(r.Context(), ss.user, guard.Source(r.RemoteAddr), action, target, "")
			ss.setFlash(fmt.Sprintf("API key %s made for %s. Copy it now: it is shown this once and cannot be shown again.", k.Prefix, t.ID))
			c.renderTenants(w, r, ss, &createdKey{Tenant: t.ID, Label: label, Key: key})
			return
		}
	case action == "revoke-api-key":
		prefix := r.PostFormValue("prefix")
		target = t.ID + " " + clip(prefix)
		if err = c.opts.Store.RevokeAPIKey(ctx, t.ID, prefix, ss.user.Username); errors.Is(err, gateway.ErrNotFound) {
			err = fmt.Errorf("%s has no key %s in force", t.ID, clip(prefix))
		} else if err == nil {
			err = c.reloadKeys(ctx)
		}
	default:
		err = fmt.Errorf("unknown action %q", clip(action))
	}
	c.act(w, r, ss, "/console/tenants#tenant-"+t.ID, action, target, err)
}

// reloadKeys puts the store's keys in force on this node now.
func (c *Console) reloadKeys(ctx context.Context) error {
	if err := c.opts.Keys.LoadStored(ctx, c.opts.Store); err != nil {
		return fmt.Errorf("the key is stored but this node could not reload its keys (it rereads them on its next poll): %w", err)
	}
	return nil
}
