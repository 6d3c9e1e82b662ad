package routing

import (
	"fmt"
	"strings"
	"time"
)

// Route is one line of the routing table as configured.
type Route struct {
	Prefix   string   `yaml:"prefix"`   // "+" alone matches every number; "+2547" Kenyan mobiles
	Carrier  string   `yaml:"carrier"`  // a configured carrier name
	Cost     float64  `yaml:"cost"`     // per SMS part
	Currency string   `yaml:"currency"` // ISO 4217
	Priority int      `yaml:"priority"` // breaks cost ties: higher first
	Weight   int      `yaml:"weight"`   // share among equal candidates; default 1
	Tenants  []string `yaml:"tenants"`  // only these tenants; empty: all
	Senders  []string `yaml:"senders"`  // only these sender ids; empty: all
	Hours    string   `yaml:"hours"`    // "HH:MM-HH:MM" when the route may be used (may wrap midnight); empty: always
	Timezone string   `yaml:"timezone"` // IANA zone of Hours; default UTC
}

// window is a parsed Hours: minutes since midnight in loc.
type window struct {
	from, to int
	loc      *time.Location
}

func (w *window) contains(t time.Time) bool {
	if w == nil {
		return true
	}
	lt := t.In(w.loc)
	m := lt.Hour()*60 + lt.Minute()
	if w.from <= w.to {
		return m >= w.from && m < w.to
	}
	return m >= w.from || m < w.to // wraps midnight
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func (r Route) window() (*window, error) {
	if r.Hours == "" {
		if r.Timezone != "" {
			return nil, fmt.Errorf("timezone: set without hours")
		}
		return nil, nil
	}
	from, to, ok := strings.Cut(r.Hours, "-")
	if !ok {
		return nil, fmt.Errorf("hours: %q must be HH:MM-HH:MM", r.Hours)
	}
	f, err := parseClock(from)
	if err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	t, err := parseClock(to)
	if err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	if f == t {
		return nil, fmt.Errorf("hours: %q is an empty window", r.Hours)
	}
	loc := time.UTC
	if r.Timezone != "" {
		if loc, err = time.LoadLocation(r.Timezone); err != nil {
			return nil, fmt.Errorf("timezone: %q is not a known IANA zone", r.Timezone)
		}
	}
	return &window{f, t, loc}, nil
}

// Validate checks one route on its own; carrier names are checked against
// the configured carriers by the caller, which knows them. Messages start
// with the field name so a config loader can prefix the route's path.
func (r Route) Validate() []error {
	var errs []error
	if !strings.HasPrefix(r.Prefix, "+") {
		errs = append(errs, fmt.Errorf("prefix: %q must start with +", r.Prefix))
	} else if strings.Trim(r.Prefix[1:], "0123456789") != "" {
		errs = append(errs, fmt.Errorf("prefix: %q must be + followed by digits", r.Prefix))
	}
	if r.Carrier == "" {
		errs = append(errs, fmt.Errorf("carrier: required"))
	}
	if r.Cost < 0 {
		errs = append(errs, fmt.Errorf("cost: must be ≥ 0"))
	}
	if r.Currency != "" && len(r.Currency) != 3 {
		errs = append(errs, fmt.Errorf("currency: %q is not an ISO 4217 code", r.Currency))
	}
	if r.Weight < 0 {
		errs = append(errs, fmt.Errorf("weight: must be ≥ 0 (0 means the default, 1)"))
	}
	if _, err := r.window(); err != nil {
		errs = append(errs, err)
	}
	return errs
}
