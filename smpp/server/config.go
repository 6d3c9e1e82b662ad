package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// DefaultListen is SMPP's registered port on the loopback interface:
// nothing outside the host binds until an operator opens it.
const DefaultListen = "127.0.0.1:2775"

// Defaults of an account and of the listener.
const (
	DefaultWindow         = 10 // Kannel's max-pending-submits
	DefaultMaxBinds       = 4
	DefaultBindTimeout    = 30 * time.Second
	DefaultIdleTimeout    = 5 * time.Minute
	DefaultResponseWait   = 30 * time.Second
	DefaultReassemblyWait = 30 * time.Second
)

// Config is the `smpp_server` section: where downstream applications
// (ESMEs) bind to smsgw as to a carrier, and who may.
type Config struct {
	// Listen is the SMPP listener's address; default DefaultListen.
	Listen string `yaml:"listen"`
	// TLS, when set, serves SMPP over TLS only (no plain listener).
	TLS *TLS `yaml:"tls"`
	// BindTimeout closes a connection that has not bound this long after
	// it opened; default 30s.
	BindTimeout time.Duration `yaml:"bind_timeout"`
	// IdleTimeout closes a bind that sent nothing (not even enquire_link)
	// for this long; default 5m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ResponseWait is how long a deliver_sm waits for its deliver_sm_resp
	// before it is sent again; default 30s.
	ResponseWait time.Duration `yaml:"response_wait"`
	// ReassemblyWait is how long the parts of a concatenated message wait
	// for the rest; past it each part is sent on its own, UDH kept, and
	// answered; default 30s.
	ReassemblyWait time.Duration `yaml:"reassembly_wait"`
	// Accounts are the ESMEs that may bind.
	Accounts []Account `yaml:"accounts"`
}

// TLS is the listener's certificate.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// ServerConfig loads the certificate.
func (t *TLS) ServerConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file, key_file: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Account is one ESME's credentials and limits. Its messages are its
// tenant's: the tenant's senders, rate, opt-out list and routes apply on
// top of the account's own limits.
type Account struct {
	SystemID string `yaml:"system_id"`
	// PasswordHash is the bcrypt hash of the bind password (SMPP passwords
	// are at most 8 characters), from `smsgw hash-password`. The password
	// itself is never stored.
	PasswordHash string `yaml:"password_hash"`
	Tenant       string `yaml:"tenant"`
	// AllowIP limits the addresses (IPs or CIDRs) the account may bind
	// from; empty allows any.
	AllowIP []string `yaml:"allow_ip"`
	// MaxBinds caps the account's binds at once; default 4.
	MaxBinds int `yaml:"max_binds"`
	// Rate caps the account's submit_sm per second over all its binds
	// (0: only the tenant's rate applies); Burst is what may come at once
	// above it (default: Rate). Over it, submit_sm is answered
	// ESME_RTHROTTLED.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// Window is the most submit_sm one bind may have unanswered; one more
	// is answered ESME_RTHROTTLED; default 10.
	Window int `yaml:"window"`
	// MO routes the tenant's inbound messages to this account as
	// deliver_sm: those sent to one of Shortcodes or matching one of the
	// keyword rules named in Keywords.
	MO *MORoute `yaml:"mo"`

	prefixes []netip.Prefix
}

// MORoute says which inbound messages an account receives.
type MORoute struct {
	Shortcodes []string `yaml:"shortcodes"`
	Keywords   []string `yaml:"keywords"` // keyword rule names, as keywords[].name
}

// SetDefaults fills every zero field.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.BindTimeout == 0 {
		c.BindTimeout = DefaultBindTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ResponseWait == 0 {
		c.ResponseWait = DefaultResponseWait
	}
	if c.ReassemblyWait == 0 {
		c.ReassemblyWait = DefaultReassemblyWait
	}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		if a.MaxBinds == 0 {
			a.MaxBinds = DefaultMaxBinds
		}
		if a.Window == 0 {
			a.Window = DefaultWindow
		}
		if a.Burst == 0 && a.Rate > 0 {
			a.Burst = max(1, int(a.Rate))
		}
	}
}

// Validate reports every problem with its key, relative to the section
// (the caller prefixes "smpp_server."). Tenants are checked by the caller,
// which knows them.
func (c *Config) Validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			add("listen: %q is not host:port", c.Listen)
		}
	}
	if c.TLS != nil {
		if _, err := c.TLS.ServerConfig(); err != nil {
			add("tls.%v", err)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"bind_timeout", c.BindTimeout}, {"idle_timeout", c.IdleTimeout}, {"response_wait", c.ResponseWait}, {"reassembly_wait", c.ReassemblyWait}} {
		if d.v < 0 {
			add("%s: must be ≥ 0", d.name)
		}
	}
	if len(c.Accounts) == 0 {
		add("accounts: at least one account is required (or remove the section)")
	}
	seen := map[string]bool{}
	for i, a := range c.Accounts {
		at := fmt.Sprintf("accounts[%d]", i)
		switch {
		case a.SystemID == "":
			add("%s.system_id: must not be empty", at)
		case len(a.SystemID) > 15:
			add("%s.system_id: %q is longer than SMPP's 15 characters", at, a.SystemID)
		case seen[a.SystemID]:
			add("%s.system_id: %q is used twice", at, a.SystemID)
		}
		seen[a.SystemID] = true
		if a.PasswordHash == "" {
			add("%s.password_hash: required (a bcrypt hash: smsgw hash-password)", at)
		} else if _, err := bcrypt.Cost([]byte(a.PasswordHash)); err != nil {
			add("%s.password_hash: is not a bcrypt hash ($2a$, $2b$ or $2y$ followed by the cost), never the password", at)
		}
		if a.Tenant == "" {
			add("%s.tenant: must name a tenant", at)
		}
		for j, ip := range a.AllowIP {
			if _, err := parsePrefix(ip); err != nil {
				add("%s.allow_ip[%d]: %q is neither an IP nor a CIDR", at, j, ip)
			}
		}
		if a.MaxBinds < 0 {
			add("%s.max_binds: must be ≥ 1", at)
		}
		if a.Window < 0 || a.Window > 10000 {
			add("%s.window: must be 1 to 10000", at)
		}
		if a.Rate < 0 || a.Burst < 0 {
			add("%s.rate, burst: must be ≥ 0", at)
		}
	}
	return errs
}

// parsePrefix reads an allow_ip entry: a CIDR or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// allows says whether the account may bind from addr ("ip:port").
func (a *Account) allows(remote net.Addr) bool {
	if len(a.prefixes) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// errNoAccounts refuses a server built without any account.
var errNoAccounts = errors.New("smpp server: no accounts")
