package messagegateway

import (
	"fmt"
	"strings"

	"github.com/openmf/smsgw/gateway"
)

// TenantConfig is what one smsgw tenant accepts from Fineract: the
// tenant ids and app keys Fineract's headers must carry, and the bridges
// (senders) its campaigns may pick. It is the `fineract` section of a tenant
// in the YAML config.
type TenantConfig struct {
	// TenantIDs are values of the Fineract-Platform-TenantId header that
	// name this tenant (Fineract's tenant identifier, "default" on a
	// single-tenant Fineract). Each may belong to one smsgw tenant only.
	TenantIDs []string `yaml:"tenant_ids"`
	// AppKeys are accepted values of Fineract-Tenant-App-Key (Fineract's
	// MESSAGE_GATEWAY tenant_app_key). Several allow rotating a key without
	// downtime. Secrets: only their digests are kept once New returns.
	AppKeys []string `yaml:"app_keys"`
	// Bridges are listed by GET /smsbridges; a campaign's providerId picks
	// one.
	Bridges []Bridge `yaml:"bridges"`
}

// Bridge is one sender a Fineract campaign may pick, shown in Fineract's
// campaign screen as an "SMS provider".
type Bridge struct {
	// ID is the providerId Fineract sends back with each message.
	ID int64 `yaml:"id"`
	// PhoneNo is the sender id or shortcode messages through this bridge go
	// from; empty means the tenant's default sender. The engine refuses a
	// sender the smsgw tenant may not use (its sender and senders).
	PhoneNo string `yaml:"phone_no"`
	// ProviderName and Description are what Fineract's screen shows.
	ProviderName string `yaml:"provider_name"`
	Description  string `yaml:"description"`
	// Category is what messages sent through this bridge are: marketing
	// (the default) or transactional, which may reach numbers that sent
	// STOP when the tenant allows it. Fineract cannot say so itself, so an
	// MFI gives receipts and reminders their own bridge.
	Category gateway.Category `yaml:"category"`
}

// Validate reports every problem with the tenant's Fineract settings, each
// naming its key ("bridges[1].id: ...") so the config loader can prefix the
// tenant's path.
func (c *TenantConfig) Validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(c.TenantIDs) == 0 {
		bad("tenant_ids", "required: the Fineract-Platform-TenantId values (Fineract's tenant identifier) of this tenant")
	}
	seen := map[string]bool{}
	for i, id := range c.TenantIDs {
		switch {
		case strings.TrimSpace(id) == "":
			bad(fmt.Sprintf("tenant_ids[%d]", i), "is empty")
		case id != strings.TrimSpace(id):
			bad(fmt.Sprintf("tenant_ids[%d]", i), "%q has leading or trailing spaces", id)
		case seen[id]:
			bad(fmt.Sprintf("tenant_ids[%d]", i), "%q is listed twice", id)
		}
		seen[id] = true
	}
	if len(c.AppKeys) == 0 {
		bad("app_keys", "required: Fineract sends its MESSAGE_GATEWAY tenant_app_key with every call")
	}
	for i, k := range c.AppKeys {
		// Never print a key: the error may end up in a log.
		if strings.TrimSpace(k) == "" {
			bad(fmt.Sprintf("app_keys[%d]", i), "is empty")
		} else if k != strings.TrimSpace(k) {
			bad(fmt.Sprintf("app_keys[%d]", i), "has leading or trailing spaces")
		}
	}
	ids := map[int64]int{}
	for i, b := range c.Bridges {
		p := fmt.Sprintf("bridges[%d]", i)
		if b.ID < 1 {
			bad(p+".id", "must be ≥ 1, got %d", b.ID)
		} else if j, dup := ids[b.ID]; dup {
			bad(p+".id", "%d is also bridges[%d].id", b.ID, j)
		} else {
			ids[b.ID] = i
		}
		if b.PhoneNo != strings.TrimSpace(b.PhoneNo) {
			bad(p+".phone_no", "%q has leading or trailing spaces", b.PhoneNo)
		}
		if strings.TrimSpace(b.ProviderName) == "" {
			bad(p+".provider_name", "required: Fineract's campaign screen lists bridges by it")
		}
		switch b.Category {
		case "", gateway.CategoryMarketing, gateway.CategoryTransactional:
		default:
			bad(p+".category", "must be %q or %q, got %q", gateway.CategoryMarketing, gateway.CategoryTransactional, b.Category)
		}
	}
	return errs
}

// bridge returns the bridge with the given providerId.
func (c *TenantConfig) bridge(id int64) (Bridge, bool) {
	for _, b := range c.Bridges {
		if b.ID == id {
			return b, true
		}
	}
	return Bridge{}, false
}
