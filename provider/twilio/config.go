package twilio

import (
	"fmt"
	"strings"
	"time"

	"github.com/openmf/smsgw/provider"
)

// DefaultBaseURL is Twilio's REST API host.
const DefaultBaseURL = "https://api.twilio.com"

// Config is the `twilio:` section of one carrier in the gateway's YAML.
// The loader reports errors under `carriers[i].twilio.`; Validate's
// messages start with the field name relative to this section.
type Config struct {
	// BaseURL is where the Messages API is (default https://api.twilio.com;
	// tests point it at an httptest server).
	BaseURL string `yaml:"base_url"`
	// AccountSID ("AC" + 32 hex digits) and AuthToken authenticate requests
	// (HTTP Basic) and key the callback signatures.
	AccountSID string `yaml:"account_sid"`
	AuthToken  string `yaml:"auth_token"`
	// From is the Twilio number or sender id to send from, and
	// MessagingServiceSID the Messaging Service to send through; at least
	// one is required. The message's own sender is not used: sender ids
	// belong to the Twilio account.
	From                string `yaml:"from"`
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	// StatusCallbackURL is the public URL of this connector's status
	// webhook, e.g. https://sms.example.org/webhooks/twilio/status. It is
	// sent as StatusCallback with every message, and it is the URL the
	// X-Twilio-Signature of each callback is checked against, so it must
	// be exactly what Twilio calls.
	StatusCallbackURL string `yaml:"status_callback_url"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// TPS caps requests per second; 0 means unlimited.
	TPS float64 `yaml:"tps"`
	// Concurrency is how many requests may be in flight (default 16).
	Concurrency int `yaml:"concurrency"`
}

// MaxTPS is the configured cap on submissions per second (0: none), for
// the operator's view of the carrier (smsgw carriers).
func (c *Config) MaxTPS() float64 { return c.TPS }

// Validate checks the section and fills in defaults (base_url, timeout 10s,
// concurrency 16). It reports every problem, each message starting with
// its field name (e.g. "account_sid: required").
func (c *Config) Validate() []error {
	l := c.limits()
	errs := provider.ValidateHTTP(&l, DefaultBaseURL)
	c.BaseURL, c.Timeout, c.Concurrency = l.BaseURL, l.Timeout, l.Concurrency
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.AccountSID == "":
		bad("account_sid", "required")
	case !strings.HasPrefix(c.AccountSID, "AC") || len(c.AccountSID) != 34:
		bad("account_sid", "must be \"AC\" followed by 32 characters, as in the Twilio console")
	}
	if c.AuthToken == "" {
		bad("auth_token", "required")
	}
	if c.From == "" && c.MessagingServiceSID == "" {
		bad("from", "required unless messaging_service_sid is set")
	}
	if c.MessagingServiceSID != "" && !strings.HasPrefix(c.MessagingServiceSID, "MG") {
		bad("messaging_service_sid", "must start with \"MG\"")
	}
	switch {
	case c.StatusCallbackURL == "":
		bad("status_callback_url", "required: without it no delivery status ever arrives")
	default:
		if err := provider.CheckURL(c.StatusCallbackURL); err != nil {
			bad("status_callback_url", "%v", err)
		}
	}
	return errs
}

func (c *Config) limits() provider.Limits {
	return provider.Limits{BaseURL: c.BaseURL, Timeout: c.Timeout, TPS: c.TPS, Concurrency: c.Concurrency}
}
