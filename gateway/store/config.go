package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Drivers Config.Driver accepts.
const (
	// DriverSQLite is the embedded single-node store, the default.
	DriverSQLite = "sqlite"
	// DriverPostgres is the scale-out store shared by several nodes.
	DriverPostgres = "postgres"
)

// Config is the `store` section of the gateway configuration. It selects the
// implementation and says where its data lives.
type Config struct {
	// Driver is "sqlite" or "postgres"; empty means "sqlite", so a minimal
	// configuration only names a file.
	Driver string `yaml:"driver"`
	// Path is the SQLite database file. Its directory is created if missing.
	Path string `yaml:"path"`
	// DSN is the PostgreSQL connection string (keep the password in the
	// SMSGW_ environment override, not in the file).
	DSN string `yaml:"dsn"`
	// Lease is how long a node holds a claimed message before another node
	// may take it over (a node that died mid-send); default 60s. It must
	// exceed the longest submission: a window wait plus a response timeout.
	Lease time.Duration `yaml:"lease"`
	// Journal (SQLite only, on unless set to false) makes Accept durable
	// by appending the messages to a journal beside the database
	// (<path>.journal/) with one fsync, and inserts them into the database
	// afterwards, off the caller's path: accepting does not wait for the
	// writer's batch in progress, or for a database grown large. Off,
	// Accept commits to the database itself, as other writes do.
	Journal *bool `yaml:"journal"`
}

// journal says whether the SQLite store accepts through its journal.
func (c Config) journal() bool { return c.Journal == nil || *c.Journal }

// driver returns the effective driver, applying the documented default.
func (c Config) driver() string {
	if c.Driver == "" {
		return DriverSQLite
	}
	return c.Driver
}

// Validate reports every problem in c at once, each error's text starting
// with the field's name relative to the section (the config loader adds the
// "store." prefix), so `smsgw check-config` can point at the line to fix.
func (c Config) Validate() []error {
	var errs []error
	if c.Lease != 0 && c.Lease < 5*time.Second {
		errs = append(errs, fmt.Errorf("lease: %s is shorter than a submission can take; use at least 5s", c.Lease))
	}
	switch c.driver() {
	case DriverSQLite:
		switch {
		case strings.TrimSpace(c.Path) == "":
			errs = append(errs, errors.New("path: required for driver sqlite"))
		case c.Path == ":memory:" || strings.HasPrefix(c.Path, "file::memory:"):
			errs = append(errs, errors.New("path: must be a file, an in-memory database is not durable"))
		case strings.ContainsRune(c.Path, '?'):
			errs = append(errs, errors.New(`path: must not contain "?"`))
		}
		if c.DSN != "" {
			errs = append(errs, errors.New("dsn: only used by driver postgres"))
		}
	case DriverPostgres:
		if strings.TrimSpace(c.DSN) == "" {
			errs = append(errs, errors.New("dsn: required for driver postgres"))
		}
		if c.Journal != nil {
			errs = append(errs, errors.New("journal: only used by driver sqlite (PostgreSQL commits each accept itself)"))
		}
		if c.Path != "" {
			errs = append(errs, errors.New("path: only used by driver sqlite"))
		}
	default:
		errs = append(errs, fmt.Errorf("driver: must be %q or %q, not %q", DriverSQLite, DriverPostgres, c.Driver))
	}
	return errs
}
