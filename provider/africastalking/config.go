package africastalking

import (
	"fmt"
	"time"

	"github.com/openmf/smsgw/provider"
)

// Hosts of Africa's Talking's API: production, and the sandbox whose
// username is always "sandbox".
const (
	DefaultBaseURL = "https://api.africastalking.com"
	SandboxBaseURL = "https://api.sandbox.africastalking.com"
)

// Config is the `africastalking:` section of one carrier in the gateway's
// YAML. The loader reports errors under `carriers[i].africastalking.`;
// Validate's messages start with the field name relative to this section.
type Config struct {
	// BaseURL is where the API is (default the production host; the sandbox
	// is SandboxBaseURL; tests point it at an httptest server).
	BaseURL string `yaml:"base_url"`
	// Username is the application's username ("sandbox" in the sandbox);
	// APIKey its key, sent in the apiKey header.
	Username string `yaml:"username"`
	APIKey   string `yaml:"api_key"`
	// From is the registered sender id or shortcode to send from; empty
	// uses the account's default sender. The message's own sender is not
	// used: sender ids belong to the Africa's Talking account.
	From string `yaml:"from"`
	// CallbackToken, when set, must arrive as the `token` query parameter
	// of every delivery report: Africa's Talking does not sign its
	// callbacks, so the delivery reports URL registered in its dashboard
	// carries this shared secret, e.g.
	// https://sms.example.org/webhooks/africastalking/status?token=…
	CallbackToken string `yaml:"callback_token"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// TPS caps requests per second; 0 means unlimited.
	TPS float64 `yaml:"tps"`
	// Concurrency is how many requests may be in flight (default 16).
	Concurrency int `yaml:"concurrency"`
}

// minTokenLen keeps callback tokens out of guessing range.
const minTokenLen = 16

// MaxTPS is the configured cap on submissions per second (0: none), for
// the operator's view of the carrier (smsgw carriers).
func (c *Config) MaxTPS() float64 { return c.TPS }

// Validate checks the section and fills in defaults (base_url, timeout 10s,
// concurrency 16). It reports every problem, each message starting with
// its field name.
func (c *Config) Validate() []error {
	l := c.limits()
	errs := provider.ValidateHTTP(&l, DefaultBaseURL)
	c.BaseURL, c.Timeout, c.Concurrency = l.BaseURL, l.Timeout, l.Concurrency
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Username == "" {
		bad("username", "required")
	}
	if c.APIKey == "" {
		bad("api_key", "required")
	}
	if c.CallbackToken != "" && len(c.CallbackToken) < minTokenLen {
		bad("callback_token", "must be at least %d characters, got %d", minTokenLen, len(c.CallbackToken))
	}
	return errs
}

func (c *Config) limits() provider.Limits {
	return provider.Limits{BaseURL: c.BaseURL, Timeout: c.Timeout, TPS: c.TPS, Concurrency: c.Concurrency}
}
