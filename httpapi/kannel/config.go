package kannel

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// DefaultListen is Kannel's usual sendsms port on the loopback interface:
// apps written for Kannel keep their URL, and nothing outside the host
// reaches the interface until an operator says so.
const DefaultListen = "127.0.0.1:13013"

// Config is the `kannel` section: the listener, the sendsms users and the
// status passwords, shaped after Kannel's `smsbox`, `sendsms-user` and
// `core` groups so a kannel.conf translates line by line (docs/kannel.md).
type Config struct {
	// Listen is where the Kannel-compatible interface answers; default
	// DefaultListen.
	Listen string `yaml:"listen"`
	// Users are Kannel's sendsms-user groups: who may call sendsms and for
	// which tenant.
	Users []User `yaml:"users"`
	// AdminPassword opens /status when StatusPassword is set (Kannel's
	// admin-password).
	AdminPassword string `yaml:"admin_password"`
	// StatusPassword, when set, is required (or AdminPassword) as
	// ?password= on /status; empty leaves /status open, as in Kannel.
	StatusPassword string `yaml:"status_password"`
}

// User is one sendsms-user. Kannel users map onto smsgw tenants: a message
// sent by a user is the tenant's message (its quota, its senders, its
// opt-out list).
type User struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Tenant is the smsgw tenant id the user sends for.
	Tenant string `yaml:"tenant"`
	// DefaultSender is used when a request has no from (Kannel's
	// default-sender); empty falls back to the tenant's sender.
	DefaultSender string `yaml:"default_sender"`
	// ForcedSender replaces any from (Kannel's faked-sender).
	ForcedSender string `yaml:"forced_sender"`
	// AllowedSMSC lists the carriers the user may name with smsc=; empty
	// allows any. (smsgw's own: Kannel's sendsms-user has no such list.)
	AllowedSMSC []string `yaml:"allowed_smsc"`
	// ForcedSMSC replaces any smsc= (Kannel's forced-smsc); DefaultSMSC is
	// used when a request names none (default-smsc).
	ForcedSMSC  string `yaml:"forced_smsc"`
	DefaultSMSC string `yaml:"default_smsc"`
	// AllowIP limits the addresses (IPs or CIDRs) the user may call from
	// (Kannel's user-allow-ip); empty allows any.
	AllowIP []string `yaml:"allow_ip"`
	// Concatenation false sends a long text as separate SMS, each without
	// a concatenation header, as Kannel's sendsms-user does with
	// concatenation = false; unset or true sends one concatenated message.
	Concatenation *bool `yaml:"concatenation"`
	// MaxMessages caps the SMS a text becomes (max-messages): the rest of
	// the text is dropped. Unset: no cap when concatenating, 1 (Kannel's
	// default) when not.
	MaxMessages *int `yaml:"max_messages"`
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
}

// Validate reports every problem with its key, relative to the section
// (the caller prefixes "kannel.").
func (c *Config) Validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			add("listen: %q is not host:port", c.Listen)
		}
	}
	if c.StatusPassword != "" && c.AdminPassword == "" {
		add("admin_password: must be set when status_password is")
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		at := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Username == "":
			add("%s.username: must not be empty", at)
		case seen[u.Username]:
			add("%s.username: %q is used twice", at, u.Username)
		}
		seen[u.Username] = true
		if u.Password == "" {
			add("%s.password: must not be empty", at)
		}
		if u.Tenant == "" {
			add("%s.tenant: must name a tenant", at)
		}
		if u.MaxMessages != nil && *u.MaxMessages < 1 {
			add("%s.max_messages: must be ≥ 1, got %d", at, *u.MaxMessages)
		}
		for j, ip := range u.AllowIP {
			if _, _, err := net.ParseCIDR(ip); err != nil && net.ParseIP(ip) == nil {
				add("%s.allow_ip[%d]: %q is neither an IP nor a CIDR", at, j, ip)
			}
		}
	}
	return errs
}

// Service is a keyword rule's Kannel sms-service (keyword.Rule.Service =
// ServiceKind, this in Services.SMS under the rule's name): the inbound
// message is turned into a get-url or post-url call with Kannel's escapes,
// and the answer's body becomes the reply SMS. Field names follow the
// sms-service group.
type Service struct {
	// GetURL is called with GET after escape expansion (get-url).
	GetURL string `yaml:"get_url"`
	// PostURL is called with POST, the message text as body (post-url).
	PostURL string `yaml:"post_url"`
	// MaxMessages caps the reply SMS (max-messages); nil means Kannel's
	// default 1, 0 sends no reply at all.
	MaxMessages *int `yaml:"max_messages"`
	// Concatenation sends a long reply as one concatenated SMS rather than
	// as separate messages (concatenation).
	Concatenation bool `yaml:"concatenation"`
	// SplitChars are where a long reply may be cut (split-chars);
	// SplitSuffix ends every part but the last (split-suffix).
	SplitChars  string `yaml:"split_chars"`
	SplitSuffix string `yaml:"split_suffix"`
	// Header and Footer wrap every reply part (header, footer).
	Header string `yaml:"header"`
	Footer string `yaml:"footer"`
	// OmitEmpty sends nothing when the answer is empty (omit-empty);
	// otherwise Kannel's "<Empty reply from service provider>" goes out.
	OmitEmpty bool `yaml:"omit_empty"`
	// AcceptXKannelHeaders lets the answer's X-Kannel-To, X-Kannel-DLR-URL
	// and X-Kannel-DLR-Mask headers change the reply
	// (accept-x-kannel-headers).
	AcceptXKannelHeaders bool `yaml:"accept_x_kannel_headers"`
	// SendSender adds X-Kannel-From to the call (send-sender).
	SendSender bool `yaml:"send_sender"`
	// StripKeyword posts the text without its keyword (strip-keyword).
	StripKeyword bool `yaml:"strip_keyword"`
}

// Validate reports problems with the service's keys.
func (s *Service) Validate() []error {
	var errs []error
	switch {
	case s.GetURL == "" && s.PostURL == "":
		errs = append(errs, errors.New("get_url or post_url: one must be set"))
	case s.GetURL != "" && s.PostURL != "":
		errs = append(errs, errors.New("get_url and post_url: set only one"))
	}
	for key, u := range map[string]string{"get_url": s.GetURL, "post_url": s.PostURL} {
		if u != "" {
			if err := checkPattern(u); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
			}
		}
	}
	if s.MaxMessages != nil && *s.MaxMessages < 0 {
		errs = append(errs, errors.New("max_messages: must be ≥ 0"))
	}
	return errs
}

// Frontline forwards a keyword rule's inbound messages to FrontlineSMS
// (keyword.Rule.Service = FrontlineKind, this in Services.Frontline under
// the rule's name).
type Frontline struct {
	// URL receives the messages; default FrontlineCloudURL, the Frontline
	// API webhook endpoint, or a custom connection's receive URL.
	URL string `yaml:"url"`
	// APIKey is the Frontline API key, sent as the body's apiKey (format
	// json) or the api_key field (format form).
	APIKey string `yaml:"api_key"`
	// Format is "json" (default: {"apiKey", "payload": {...}}, what the
	// Frontline API webhook takes) or "form" (url-encoded fields, for a
	// custom connection's receive URL).
	Format string `yaml:"format"`
}

// FrontlineCloudURL is the Frontline API's webhook endpoint.
const FrontlineCloudURL = "https://cloud.frontlinesms.com/api/1/webhook"

// Validate reports problems with the forward's keys.
func (f *Frontline) Validate() []error {
	var errs []error
	if f.URL != "" {
		if err := checkPattern(f.URL); err != nil {
			errs = append(errs, fmt.Errorf("url: %w", err))
		}
	}
	switch f.Format {
	case "", "json", "form":
	default:
		errs = append(errs, fmt.Errorf("format: %q is not json or form", f.Format))
	}
	if f.APIKey == "" && (f.URL == "" || f.URL == FrontlineCloudURL) {
		errs = append(errs, errors.New("api_key: Frontline Cloud needs the workspace's API key"))
	}
	return errs
}

// checkPattern checks an URL that may still hold %-escapes.
func checkPattern(raw string) error {
	lower := strings.ToLower(raw)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return fmt.Errorf("%q must start with http:// or https://", raw)
	}
	// Escapes are not URL syntax; replace them before parsing.
	if _, err := url.Parse(strings.ReplaceAll(raw, "%", "x")); err != nil {
		return fmt.Errorf("%q: %v", raw, err)
	}
	return nil
}
