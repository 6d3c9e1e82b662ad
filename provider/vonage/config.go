package vonage

import (
	"fmt"
	"time"

	"github.com/openmf/smsgw/provider"
)

// DefaultBaseURL is the host of Vonage's (formerly Nexmo's) SMS API.
const DefaultBaseURL = "https://rest.nexmo.com"

// Signature methods Vonage offers for signed webhooks (dashboard →
// settings). md5hash, the default, is MD5 over the parameters followed by
// the secret; the others are HMACs keyed with the secret.
const (
	SignMD5Hash = "md5hash"
	SignMD5     = "md5"
	SignSHA1    = "sha1"
	SignSHA256  = "sha256"
	SignSHA512  = "sha512"
)

// Config is the `vonage:` section of one carrier in the gateway's YAML.
// The loader reports errors under `carriers[i].vonage.`; Validate's
// messages start with the field name relative to this section.
type Config struct {
	// BaseURL is where the SMS API is (default https://rest.nexmo.com;
	// tests point it at an httptest server).
	BaseURL string `yaml:"base_url"`
	// APIKey and APISecret authenticate each request (sent in the form, as
	// the SMS API documents).
	APIKey    string `yaml:"api_key"`
	APISecret string `yaml:"api_secret"`
	// From is the sender id or Vonage number to send from. The message's
	// own sender is not used: sender ids belong to the Vonage account.
	From string `yaml:"from"`
	// StatusCallbackURL is the public URL of this connector's delivery
	// receipt webhook, e.g. https://sms.example.org/webhooks/vonage/status,
	// sent as `callback` with every message. Empty: the account's default
	// delivery receipt URL (dashboard) is used.
	StatusCallbackURL string `yaml:"status_callback_url"`
	// SignatureSecret, when set, makes the webhook require Vonage's `sig`
	// on every delivery receipt (signed webhooks must be enabled on the
	// account), computed with SignatureMethod (default md5hash).
	SignatureSecret string `yaml:"signature_secret"`
	SignatureMethod string `yaml:"signature_method"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// TPS caps requests per second; 0 means unlimited. Vonage's default
	// account limit is 30 requests per second.
	TPS float64 `yaml:"tps"`
	// Concurrency is how many requests may be in flight (default 16).
	Concurrency int `yaml:"concurrency"`
}

// MaxTPS is the configured cap on submissions per second (0: none), for
// the operator's view of the carrier (smsgw carriers).
func (c *Config) MaxTPS() float64 { return c.TPS }

// Validate checks the section and fills in defaults (base_url, timeout 10s,
// concurrency 16, signature_method md5hash when signature_secret is set).
// It reports every problem, each message starting with its field name.
func (c *Config) Validate() []error {
	l := c.limits()
	errs := provider.ValidateHTTP(&l, DefaultBaseURL)
	c.BaseURL, c.Timeout, c.Concurrency = l.BaseURL, l.Timeout, l.Concurrency
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.APIKey == "" {
		bad("api_key", "required")
	}
	if c.APISecret == "" {
		bad("api_secret", "required")
	}
	if c.From == "" {
		bad("from", "required")
	}
	if c.StatusCallbackURL != "" {
		if err := provider.CheckURL(c.StatusCallbackURL); err != nil {
			bad("status_callback_url", "%v", err)
		}
	}
	switch c.SignatureMethod {
	case "":
		if c.SignatureSecret != "" {
			c.SignatureMethod = SignMD5Hash
		}
	case SignMD5Hash, SignMD5, SignSHA1, SignSHA256, SignSHA512:
		if c.SignatureSecret == "" {
			bad("signature_method", "set, but signature_secret is empty")
		}
	default:
		bad("signature_method", "must be %s, %s, %s, %s or %s, got %q",
			SignMD5Hash, SignMD5, SignSHA1, SignSHA256, SignSHA512, c.SignatureMethod)
	}
	return errs
}

func (c *Config) limits() provider.Limits {
	return provider.Limits{BaseURL: c.BaseURL, Timeout: c.Timeout, TPS: c.TPS, Concurrency: c.Concurrency}
}
