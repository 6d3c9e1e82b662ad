package fineract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"go.yaml.in/yaml/v3"
)

// Config is the adapter's YAML file: one gateway, and one entry per smsgw
// tenant (API key) with the Fineract tenant that answers for it. Unknown
// keys are errors; secrets may come from the environment (*_env keys).
type Config struct {
	Gateway GatewayConfig  `yaml:"gateway"`
	Metrics MetricsConfig  `yaml:"metrics"`
	Hooks   HooksConfig    `yaml:"hooks"`
	Tenants []TenantConfig `yaml:"tenants"`
}

// HooksConfig is the listener Fineract's Web hooks post to; each tenant's
// URL is http://<listen>/fineract/hooks/<tenant name>/<events.secret>/.
type HooksConfig struct {
	Listen string `yaml:"listen"` // default "off"; e.g. 0.0.0.0:9193
	// MaxBodyBytes caps a hook's body; default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// TLSCert and TLSKey serve HTTPS (PEM files); without them the
	// listener is plain HTTP, for a reverse proxy or a private network.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// SpoolDir keeps each accepted hook on disk (in a directory per
	// tenant) until it is handled, so a stop or a crash loses none:
	// Fineract never posts a hook again. Empty keeps them in memory.
	SpoolDir string `yaml:"spool_dir"`
}

// GatewayConfig is where smsgw's gRPC API listens.
type GatewayConfig struct {
	Addr string `yaml:"addr"` // default 127.0.0.1:9190
}

// MetricsConfig is the adapter's own /metrics listener.
type MetricsConfig struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:9192; "off" disables
}

// TenantConfig pairs an smsgw tenant with a Fineract tenant and says how to
// answer its clients.
type TenantConfig struct {
	Name      string `yaml:"name"` // for logs
	APIKey    string `yaml:"api_key"`
	APIKeyEnv string `yaml:"api_key_env"` // read the API key from this variable
	// Region reads national numbers stored in Fineract (ISO 3166, "KE").
	Region string `yaml:"region"`
	// Cursor is the durable position on the gateway; default
	// "smsgw-fineract". Two adapters for one tenant need two names.
	Cursor   string         `yaml:"cursor"`
	MaxAge   time.Duration  `yaml:"max_age"`   // default 1h; see AdapterOptions
	MaxParts int            `yaml:"max_parts"` // default 3
	Keywords KeywordConfig  `yaml:"keywords"`
	Fineract FineractConfig `yaml:"fineract"`
	Texts    TextConfig     `yaml:",inline"`
	// Events sends receipts and staff alerts from Fineract's hooks, and
	// the loan officers' daily digest; absent, the tenant only answers
	// BAL and DUE.
	Events *EventsConfig `yaml:"events"`
}

// KeywordConfig adds words to BAL and DUE, e.g. SALDO or DENI.
type KeywordConfig struct {
	Balance []string `yaml:"balance"`
	Due     []string `yaml:"due"`
}

// FineractConfig reaches one Fineract tenant. It authenticates with HTTP
// Basic (username and password or password_env, Fineract's default) or,
// for a Fineract run as an OAuth2 resource server, with bearer tokens
// (oauth2); exactly one of the two.
type FineractConfig struct {
	URL         string        `yaml:"url"`    // https://host:8443/fineract-provider/api
	Tenant      string        `yaml:"tenant"` // Fineract-Platform-TenantId; default "default"
	Username    string        `yaml:"username"`
	Password    string        `yaml:"password"`
	PasswordEnv string        `yaml:"password_env"`
	OAuth2      *OAuth2Config `yaml:"oauth2"`
	InsecureTLS bool          `yaml:"insecure_tls"` // also for the token endpoint
	Timeout     time.Duration `yaml:"timeout"`      // per request, token requests too; default 10s
}

// OAuth2Config gets bearer tokens for Fineract from an identity provider
// such as Keycloak. Without a username it uses the client credentials
// grant (a confidential client: client_secret is required); with one, the
// resource-owner password grant, which Keycloak's "community-app" client
// for Fineract often uses (client_secret optional for a public client).
// Tokens are cached and fetched again before they expire.
type OAuth2Config struct {
	// TokenURL is the token endpoint, e.g.
	// https://keycloak:8443/realms/fineract/protocol/openid-connect/token.
	TokenURL        string   `yaml:"token_url"`
	ClientID        string   `yaml:"client_id"`
	ClientSecret    string   `yaml:"client_secret"`
	ClientSecretEnv string   `yaml:"client_secret_env"` // read the secret from this variable
	Scopes          []string `yaml:"scopes"`
	// Username and Password (or PasswordEnv) select the password grant.
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	PasswordEnv string `yaml:"password_env"`
}

// LoadConfig reads and checks a config file; environment variables named
// by *_env keys are read with getenv (os.Getenv when nil).
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(b, getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes YAML strictly, fills defaults and checks everything,
// reporting every problem with its path in one error.
func ParseConfig(b []byte, getenv func(string) string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := cfg.Complete(getenv); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Complete fills defaults, resolves *_env secrets and checks the config.
func (c *Config) Complete(getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []string
	bad := func(path, format string, args ...any) {
		errs = append(errs, path+": "+fmt.Sprintf(format, args...))
	}
	if c.Gateway.Addr == "" {
		c.Gateway.Addr = "127.0.0.1:9190"
	}
	if c.Metrics.Listen == "" {
		c.Metrics.Listen = "127.0.0.1:9192"
	}
	if c.Hooks.Listen == "" {
		c.Hooks.Listen = "off"
	}
	if c.Hooks.MaxBodyBytes == 0 {
		c.Hooks.MaxBodyBytes = 1 << 20
	}
	if c.Hooks.MaxBodyBytes < 0 {
		bad("hooks.max_body_bytes", "must be positive")
	}
	if (c.Hooks.TLSCert == "") != (c.Hooks.TLSKey == "") {
		bad("hooks", "give tls_cert and tls_key together")
	}
	if len(c.Tenants) == 0 {
		bad("tenants", "at least one tenant is needed")
	}
	cursors := map[string]int{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		p := fmt.Sprintf("tenants[%d]", i)
		if t.Name == "" {
			t.Name = fmt.Sprintf("tenant-%d", i)
		}
		secret(&t.APIKey, t.APIKeyEnv, p+".api_key", getenv, bad)
		if t.Region = strings.ToUpper(t.Region); phonenumbers.GetCountryCodeForRegion(t.Region) == 0 {
			bad(p+".region", "%q is not an ISO 3166 region with a calling code (e.g. KE)", t.Region)
		}
		if t.Cursor == "" {
			t.Cursor = "smsgw-fineract"
		}
		key := t.APIKey + "\x00" + t.Cursor
		if j, ok := cursors[key]; ok && t.APIKey != "" {
			bad(p+".cursor", "tenants[%d] already follows this API key with cursor %q", j, t.Cursor)
		}
		cursors[key] = i
		if t.MaxAge == 0 {
			t.MaxAge = time.Hour
		}
		if t.MaxParts == 0 {
			t.MaxParts = 3
		}
		if t.MaxParts < 1 || t.MaxParts > 10 {
			bad(p+".max_parts", "must be 1 to 10")
		}
		if _, err := NewKeywords(t.Keywords.Balance, t.Keywords.Due); err != nil {
			bad(p+".keywords", "%v", err)
		}
		f := &t.Fineract
		fp := p + ".fineract"
		if u, err := url.Parse(f.URL); f.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(fp+".url", "want http(s)://host[:port]/fineract-provider/api, got %q", f.URL)
		}
		if f.Tenant == "" {
			f.Tenant = "default"
		}
		if f.OAuth2 != nil {
			if f.Username != "" || f.Password != "" || f.PasswordEnv != "" {
				bad(fp, "give username and password (HTTP Basic) or oauth2, not both")
			}
			f.OAuth2.complete(fp+".oauth2", getenv, bad)
		} else {
			if f.Username == "" {
				bad(fp+".username", "required (or an oauth2 section)")
			}
			secret(&f.Password, f.PasswordEnv, fp+".password", getenv, bad)
		}
		if f.Timeout == 0 {
			f.Timeout = 10 * time.Second
		}
		if f.Timeout < 0 {
			bad(fp+".timeout", "must be positive")
		}
		texts, err := NewTexts(t.Texts)
		if err != nil {
			bad(p, "%v", err)
		}
		if e := t.Events; e != nil {
			ep := p + ".events"
			if strings.ContainsAny(t.Name, "/\\?#% ") || t.Name == "." || t.Name == ".." {
				bad(p+".name", "%q: with events, the name is part of the hook URL and a spool directory: no / \\ ? # %% or spaces", t.Name)
			}
			if len(e.Rules) > 0 {
				secret(&e.Secret, e.SecretEnv, ep+".secret", getenv, bad)
				if c.Hooks.Listen == "off" {
					bad(ep+".rules", "Fineract's hooks need a listener: set hooks.listen")
				}
			}
			if e.RetryFor < 0 {
				bad(ep+".retry_for", "must be positive")
			}
			if texts != nil {
				r := &Responder{region: t.Region}
				if _, err := newEventSettings(e, texts, r.normalize); err != nil {
					for _, line := range strings.Split(err.Error(), "\n") {
						path, msg, _ := strings.Cut(line, ": ")
						bad(ep+"."+path, "%s", msg)
					}
				}
			}
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// secret resolves a secret given as key or as key_env: not both, the
// variable set, and required.
func secret(value *string, env, path string, getenv func(string) string, bad func(path, format string, args ...any)) {
	switch {
	case *value != "" && env != "":
		bad(path, "give %s or %s_env, not both", lastKey(path), lastKey(path))
	case env != "":
		if *value = getenv(env); *value == "" {
			bad(path+"_env", "$%s is empty", env)
		}
	case *value == "":
		bad(path, "required (or %s_env)", lastKey(path))
	}
}

func lastKey(path string) string { return path[strings.LastIndex(path, ".")+1:] }

// complete checks an oauth2 section and resolves its secrets; path is
// where it sits in the file.
func (o *OAuth2Config) complete(path string, getenv func(string) string, bad func(path, format string, args ...any)) {
	if u, err := url.Parse(o.TokenURL); o.TokenURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad(path+".token_url", "want http(s)://host/…/token, got %q", o.TokenURL)
	}
	if o.ClientID == "" {
		bad(path+".client_id", "required")
	}
	switch {
	case o.Username != "":
		// The password grant; a public client has no secret.
		if o.ClientSecret != "" || o.ClientSecretEnv != "" {
			secret(&o.ClientSecret, o.ClientSecretEnv, path+".client_secret", getenv, bad)
		}
		secret(&o.Password, o.PasswordEnv, path+".password", getenv, bad)
	case o.Password != "" || o.PasswordEnv != "":
		bad(path+".username", "required with a password (the password grant)")
	default:
		secret(&o.ClientSecret, o.ClientSecretEnv, path+".client_secret", getenv, bad)
	}
	for i, s := range o.Scopes {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t") {
			bad(fmt.Sprintf("%s.scopes[%d]", path, i), "%q is not one scope", s)
		}
	}
}

// NewFineractClient is the Fineract client of a tenant's config.
func NewFineractClient(t TenantConfig, m *Metrics) (*Client, error) {
	return NewClient(ClientConfig{
		BaseURL: t.Fineract.URL, Tenant: t.Fineract.Tenant,
		Username: t.Fineract.Username, Password: t.Fineract.Password, OAuth2: t.Fineract.OAuth2,
		Timeout: t.Fineract.Timeout, InsecureTLS: t.Fineract.InsecureTLS,
	}, m)
}

// NewTenantNotifier builds a tenant's events side (the tenant must have
// an events section): its notifier, sending through gw and spooling
// accepted hooks in spool (empty: none), and its digest when one is
// configured (nil otherwise).
func NewTenantNotifier(t TenantConfig, gw Sender, spool string, m *Metrics, log *slog.Logger) (*Notifier, *Digest, error) {
	if t.Events == nil {
		return nil, nil, fmt.Errorf("fineract: tenant %s has no events section", t.Name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("tenant", t.Name)
	fc, err := NewFineractClient(t, m)
	if err != nil {
		return nil, nil, err
	}
	texts, err := NewTexts(t.Texts)
	if err != nil {
		return nil, nil, fmt.Errorf("fineract: tenant %s: %w", t.Name, err)
	}
	n, err := NewNotifier(NotifierOptions{Gateway: gw, Fineract: fc, Region: t.Region, Spool: spool, Metrics: m, Log: log}, t.Events, texts)
	if err != nil {
		return nil, nil, fmt.Errorf("fineract: tenant %s: events: %w", t.Name, err)
	}
	var d *Digest
	if t.Events.Digest != nil {
		if d, err = NewDigest(DigestOptions{Notifier: n, Fineract: fc, Gateway: gw, Metrics: m, Log: log}); err != nil {
			return nil, nil, err
		}
	}
	return n, d, nil
}

// NewTenantAdapter builds the whole chain for one tenant: Fineract client,
// texts, responder and adapter, reading and answering through gw.
func NewTenantAdapter(t TenantConfig, gw Gateway, m *Metrics, log *slog.Logger) (*Adapter, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("tenant", t.Name)
	fc, err := NewFineractClient(t, m)
	if err != nil {
		return nil, err
	}
	texts, err := NewTexts(t.Texts)
	if err != nil {
		return nil, fmt.Errorf("fineract: tenant %s: %w", t.Name, err)
	}
	kw, err := NewKeywords(t.Keywords.Balance, t.Keywords.Due)
	if err != nil {
		return nil, fmt.Errorf("fineract: tenant %s: %w", t.Name, err)
	}
	r, err := NewResponder(ResponderOptions{Fineract: fc, Texts: texts, Region: t.Region, MaxParts: t.MaxParts, Metrics: m, Log: log})
	if err != nil {
		return nil, err
	}
	return NewAdapter(AdapterOptions{Gateway: gw, Answerer: r, Keywords: kw, Cursor: t.Cursor, MaxAge: t.MaxAge, Metrics: m, Log: log})
}
