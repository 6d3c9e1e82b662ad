package console

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Config is the `console` section: who may sign in to the web console and
// how long a session lasts. Without it the console is not served.
type Config struct {
	// Users are the people who may sign in.
	Users []User `yaml:"users"`
	// SessionTTL is how long a session lasts from sign-in, whatever is
	// done with it; default 8h, at most 7 days.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// IdleTimeout ends a session nobody used for this long; default 30m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SecureCookies marks the session cookie Secure even on plain HTTP: set
	// it when a TLS proxy in front of smsgw serves the console. A request
	// that came over TLS always gets a Secure cookie.
	SecureCookies bool `yaml:"secure_cookies"`
}

// User is one console user.
type User struct {
	Username string `yaml:"username"`
	// PasswordHash is the password's bcrypt hash ($2a$, $2b$ or $2y$;
	// check-config warns below cost 10): `smsgw hash-password` makes one
	// from stdin. Plain passwords are never configured.
	PasswordHash string `yaml:"password_hash"`
	// Role is viewer (reads, numbers masked) or operator (acts, sees full
	// numbers).
	Role Role `yaml:"role"`
	// Tenant, when set, limits the user to that tenant's messages, inbound
	// and opt-outs, and keeps the gateway-wide actions (pausing a carrier,
	// resetting a breaker) from them.
	Tenant string `yaml:"tenant"`
}

// Role says what a console user may do.
type Role string

// The roles, from least to most.
const (
	Viewer   Role = "viewer"
	Operator Role = "operator"
)

// The defaults of Config.
const (
	DefaultSessionTTL  = 8 * time.Hour
	DefaultIdleTimeout = 30 * time.Minute
	maxSessionTTL      = 7 * 24 * time.Hour
	// GoodHashCost is the least bcrypt cost check-config does not warn
	// about: below it a stolen config is cheap to guess passwords from.
	// Lower costs are accepted (tests use them: bcrypt under the race
	// detector takes seconds at cost 10).
	GoodHashCost = 10
)

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// SetDefaults fills every zero field.
func (c *Config) SetDefaults() {
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
}

// Validate reports every problem, each with its path under the section.
// Tenants are checked by the caller, who knows them.
func (c *Config) Validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Users) == 0 {
		add("users: at least one user is required (or leave the console section out)")
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > maxSessionTTL {
		add("session_ttl: must be 1m to %s", maxSessionTTL)
	}
	if c.IdleTimeout < time.Minute || c.IdleTimeout > c.SessionTTL {
		add("idle_timeout: must be 1m to session_ttl (%s)", c.SessionTTL)
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		p := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Username == "":
			add("%s.username: required", p)
		case !usernameRE.MatchString(u.Username):
			add("%s.username: %q may hold only letters, digits and . _ @ - (at most 64)", p, u.Username)
		case seen[u.Username]:
			add("%s.username: %q is used by an earlier user", p, u.Username)
		}
		seen[u.Username] = true
		if err := checkHash(u.PasswordHash); err != nil {
			add("%s.password_hash: %v", p, err)
		}
		if u.Role != Viewer && u.Role != Operator {
			add("%s.role: %q is not viewer or operator", p, u.Role)
		}
	}
	return errs
}

// checkHash says why h is not a usable bcrypt hash.
func checkHash(h string) error {
	if h == "" {
		return errors.New("required (a bcrypt hash of the password, never the password)")
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return errors.New("is not a bcrypt hash ($2a$, $2b$ or $2y$ followed by the cost)")
	}
	return nil
}

// HashCost is the bcrypt cost of a user's hash (0 when it is none).
func (u User) HashCost() int {
	cost, _ := bcrypt.Cost([]byte(u.PasswordHash))
	return cost
}
