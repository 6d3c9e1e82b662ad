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
	Tenants []TenantConfig `yaml:"tenants"`
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
}

// KeywordConfig adds words to BAL and DUE, e.g. SALDO or DENI.
type KeywordConfig struct {
	Balance []string `yaml:"balance"`
	Due     []string `yaml:"due"`
}

// FineractConfig reaches one Fineract tenant.
type FineractConfig struct {
	URL         string        `yaml:"url"`    // https://host:8443/fineract-provider/api
	Tenant      string        `yaml:"tenant"` // Fineract-Platform-TenantId; default "default"
	Username    string        `yaml:"username"`
	Password    string        `yaml:"password"`
	PasswordEnv string        `yaml:"password_env"`
	InsecureTLS bool          `yaml:"insecure_tls"`
	Timeout     time.Duration `yaml:"timeout"` // per request; default 10s
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
		switch {
		case t.APIKey != "" && t.APIKeyEnv != "":
			bad(p+".api_key", "give api_key or api_key_env, not both")
		case t.APIKeyEnv != "":
			if t.APIKey = getenv(t.APIKeyEnv); t.APIKey == "" {
				bad(p+".api_key_env", "$%s is empty", t.APIKeyEnv)
			}
		case t.APIKey == "":
			bad(p+".api_key", "required (or api_key_env)")
		}
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
		if f.Username == "" {
			bad(fp+".username", "required")
		}
		switch {
		case f.Password != "" && f.PasswordEnv != "":
			bad(fp+".password", "give password or password_env, not both")
		case f.PasswordEnv != "":
			if f.Password = getenv(f.PasswordEnv); f.Password == "" {
				bad(fp+".password_env", "$%s is empty", f.PasswordEnv)
			}
		case f.Password == "":
			bad(fp+".password", "required (or password_env)")
		}
		if f.Timeout == 0 {
			f.Timeout = 10 * time.Second
		}
		if f.Timeout < 0 {
			bad(fp+".timeout", "must be positive")
		}
		if _, err := NewTexts(t.Texts); err != nil {
			bad(p, "%v", err)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// NewTenantAdapter builds the whole chain for one tenant: Fineract client,
// texts, responder and adapter, reading and answering through gw.
func NewTenantAdapter(t TenantConfig, gw Gateway, m *Metrics, log *slog.Logger) (*Adapter, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("tenant", t.Name)
	fc, err := NewClient(ClientConfig{
		BaseURL: t.Fineract.URL, Tenant: t.Fineract.Tenant,
		Username: t.Fineract.Username, Password: t.Fineract.Password,
		Timeout: t.Fineract.Timeout, InsecureTLS: t.Fineract.InsecureTLS,
	}, m)
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
