package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/grpcapi"
	"github.com/openmf/smsgw/internal/guard"
)

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
		now := c.opts.Now()
		var expires time.Time
		if expires, err = keyExpiry(r.PostFormValue("expires"), now); err != nil {
			break
		}
		var (
			key string
			k   gateway.APIKey
		)
		if key, k, err = grpcapi.NewStoredKey(t.ID, label, ss.user.Username, now, expires); err != nil {
			break
		}
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
