package routing

import (
	"fmt"
	"sort"
	"strings"

	"github.com/openmf/smsgw/gateway"
)

// Route is one line of the routing table as configured.
type Route struct {
	Prefix   string  `yaml:"prefix"`   // "+" alone matches every number; "+2547" Kenyan mobiles
	Carrier  string  `yaml:"carrier"`  // a configured carrier name
	Cost     float64 `yaml:"cost"`     // per SMS part
	Currency string  `yaml:"currency"` // ISO 4217
	Priority int     `yaml:"priority"` // breaks cost ties: higher first
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
	return errs
}

// Table is an immutable routing table.
type Table struct {
	routes []Route // sorted: longest prefix first, then cost, then priority
}

var _ gateway.Router = (*Table)(nil)

// NewTable builds a table; it returns every route's errors with its index.
func NewTable(routes []Route) (*Table, error) {
	var errs []string
	for i, r := range routes {
		for _, err := range r.Validate() {
			errs = append(errs, fmt.Sprintf("routes[%d].%v", i, err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("routing: %s", strings.Join(errs, "; "))
	}
	sorted := append([]Route(nil), routes...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if len(a.Prefix) != len(b.Prefix) {
			return len(a.Prefix) > len(b.Prefix)
		}
		if a.Cost != b.Cost {
			return a.Cost < b.Cost
		}
		return a.Priority > b.Priority
	})
	return &Table{routes: sorted}, nil
}

// Plan returns the carriers that may take a message to the E.164 number to,
// best first. A carrier appears once, at its best position.
func (t *Table) Plan(tenant, to string) []gateway.Candidate {
	var out []gateway.Candidate
	seen := make(map[string]bool)
	for _, r := range t.routes {
		if !strings.HasPrefix(to, r.Prefix) || seen[r.Carrier] {
			continue
		}
		seen[r.Carrier] = true
		out = append(out, gateway.Candidate{Carrier: r.Carrier, Cost: r.Cost, Currency: r.Currency})
	}
	return out
}

// Explain prints the decision Plan makes for a number, one candidate a line,
// with the routes that matched but were shadowed by a better one.
func (t *Table) Explain(tenant, to string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n", to)
	seen := make(map[string]bool)
	n := 0
	for _, r := range t.routes {
		if !strings.HasPrefix(to, r.Prefix) {
			continue
		}
		if seen[r.Carrier] {
			fmt.Fprintf(&b, "  -  %s via prefix %s at %g %s skipped: carrier already listed\n", r.Carrier, r.Prefix, r.Cost, r.Currency)
			continue
		}
		seen[r.Carrier] = true
		n++
		fmt.Fprintf(&b, "  %d. %s via prefix %s at %g %s\n", n, r.Carrier, r.Prefix, r.Cost, r.Currency)
	}
	if n == 0 {
		b.WriteString("  no route matches\n")
	}
	return b.String()
}
