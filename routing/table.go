package routing

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/openmf/smsgw/gateway"
)

// route is a validated Route with its parsed hours.
type route struct {
	Route
	hours *window
}

// Table is an immutable routing table.
type Table struct {
	routes   []route          // sorted: longest prefix first, then cost, then priority
	byPrefix map[string][]int // prefix → indexes into routes, in table order
}

// NewTable builds a table; it returns every route's errors with its index.
func NewTable(routes []Route) (*Table, error) {
	var errs []string
	t := &Table{}
	for i, r := range routes {
		for _, err := range r.Validate() {
			errs = append(errs, fmt.Sprintf("routes[%d].%v", i, err))
		}
		w, _ := r.window()
		if r.Weight == 0 {
			r.Weight = 1
		}
		t.routes = append(t.routes, route{r, w})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("routing: %s", strings.Join(errs, "; "))
	}
	sort.SliceStable(t.routes, func(i, j int) bool { return t.routes[i].before(t.routes[j]) })
	t.byPrefix = make(map[string][]int)
	for i, r := range t.routes {
		t.byPrefix[r.Prefix] = append(t.byPrefix[r.Prefix], i)
	}
	return t, nil
}

// before is the table order without weights: longest prefix, cost, priority.
func (a route) before(b route) bool {
	if len(a.Prefix) != len(b.Prefix) {
		return len(a.Prefix) > len(b.Prefix)
	}
	if a.Cost != b.Cost {
		return a.Cost < b.Cost
	}
	return a.Priority > b.Priority
}

func (a *route) tied(b *route) bool {
	return len(a.Prefix) == len(b.Prefix) && a.Cost == b.Cost && a.Priority == b.Priority
}

// mix is splitmix64's finalizer: FNV alone leaves inputs that differ only
// in their last bytes with correlated high bits, which would skew weights.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// verdict is why a matching route is or is not a candidate.
type verdict struct {
	*route
	reason    string // empty: a candidate
	permanent bool   // the reason will not change by waiting (filters)
}

// carrierState tells Plan about carriers: why one cannot be used now, or "".
type carrierState func(carrier string) string

// decide walks the routes matching q in order and says of each whether it
// is a candidate. Ties are ordered by a weighted draw keyed by q.Key.
func (t *Table) decide(q gateway.RouteQuery, state carrierState) []verdict {
	// One map lookup per prefix length of the number (at most 16 for
	// E.164), longest first: the same order as the sorted table, since two
	// prefixes of one length cannot both match a number.
	matched := make([]*route, 0, 4)
	for l := len(q.To); l >= 1; l-- {
		for _, i := range t.byPrefix[q.To[:l]] {
			matched = append(matched, &t.routes[i])
		}
	}
	// Weighted order among ties (Efraimidis–Spirakis): each route draws
	// u^(1/w) from a hash of (key, carrier); higher first.
	for i := 0; i < len(matched); {
		j := i + 1
		for j < len(matched) && matched[j].tied(matched[i]) {
			j++
		}
		if j-i > 1 {
			// Only ties pay for hashing.
			group := matched[i:j]
			score := func(r *route) float64 {
				h := fnv.New64a()
				h.Write([]byte(q.Key))
				h.Write([]byte{0})
				h.Write([]byte(r.Carrier))
				u := (float64(mix(h.Sum64())>>11) + 0.5) / (1 << 53)
				return math.Pow(u, 1/float64(r.Weight))
			}
			slices.SortStableFunc(group, func(a, b *route) int { return cmp.Compare(score(b), score(a)) })
		}
		i = j
	}
	out := make([]verdict, 0, len(matched))
	listed := map[string]bool{}
	for _, r := range matched {
		v := verdict{route: r}
		switch {
		case listed[r.Carrier]:
			v.reason = "carrier already listed"
		case len(r.Tenants) > 0 && !slices.Contains(r.Tenants, q.Tenant):
			v.reason, v.permanent = fmt.Sprintf("not for tenant %q", q.Tenant), true
		case len(r.Senders) > 0 && !slices.Contains(r.Senders, q.From):
			v.reason, v.permanent = fmt.Sprintf("not for sender %q", q.From), true
		case !r.hours.contains(q.At):
			v.reason = fmt.Sprintf("outside hours %s %s", r.Hours, r.hours.loc)
		default:
			if state != nil {
				v.reason = state(r.Carrier)
			}
		}
		if v.reason == "" {
			listed[r.Carrier] = true
		}
		out = append(out, v)
	}
	return out
}

// carrierView is what a plan knows of carriers beyond the table. Zero
// fields know nothing: every carrier runs, is up and may be used (offline).
type carrierView struct {
	state carrierState              // why a carrier cannot be used now (breaker, bind), or ""
	runs  func(carrier string) bool // whether a connector of that name runs here
	up    func(carrier string) bool // whether it can take a submission now
}

// plan is one routing decision with its reasons: Plan returns its
// candidates and Explain prints it, so the two cannot disagree.
type plan struct {
	verdicts []verdict
	cands    []gateway.Candidate
	err      error
	// For a pinned query whose carrier no usable route lists: unrouted
	// when it is a candidate at cost 0 all the same, else pinNote says why
	// it is not.
	unrouted bool
	pinNote  string
}

// plan decides q: the routes' verdicts, their candidates, then q.Pinned.
func (t *Table) plan(q gateway.RouteQuery, cv carrierView) plan {
	vs := t.decide(q, cv.state)
	cands, err := candidates(vs)
	p := plan{verdicts: vs, cands: cands, err: err}
	if q.Pinned != "" {
		p.pin(q.Pinned, cv)
	}
	return p
}

// pin narrows p to the one carrier a message may take. Where a route lists
// it now, it keeps that route's price. Where none does (no route covers
// the number, filters or hours exclude it, its breaker is open) it is a
// candidate at cost 0 as long as it is up, since a reply must leave through
// its inbound carrier; its breaker is asked again at Admit. A pinned
// carrier that is down means waiting; the plan fails (ErrNoRoute) only
// when no route could take the message and the carrier does not run here.
func (p *plan) pin(carrier string, cv carrierView) {
	for i := range p.verdicts {
		if v := &p.verdicts[i]; v.reason == "" && v.Carrier != carrier {
			v.reason = "pinned to " + carrier
		}
	}
	runs := cv.runs == nil || cv.runs(carrier)
	if p.err != nil && !runs {
		p.pinNote = "does not run here"
		return
	}
	p.err = nil
	if i := slices.IndexFunc(p.cands, func(c gateway.Candidate) bool { return c.Carrier == carrier }); i >= 0 {
		p.cands = []gateway.Candidate{p.cands[i]}
		return
	}
	p.cands = nil
	switch {
	case !runs:
		p.pinNote = "does not run here"
	case cv.up != nil && !cv.up(carrier):
		p.pinNote = "no bind up"
	default:
		p.unrouted = true
		p.cands = []gateway.Candidate{{Carrier: carrier}}
	}
}

// Plan returns the candidates for q from the table alone (no breakers;
// every carrier counts as running and up).
func (t *Table) Plan(q gateway.RouteQuery) ([]gateway.Candidate, error) {
	p := t.plan(q, carrierView{})
	return p.cands, p.err
}

// routable says whether a route matching q passes its tenant and sender
// filters: the only verdicts that are permanent, so false exactly when
// plan, pinning aside, fails with ErrNoRoute. It reads no carrier state and
// builds nothing, for the accept path's per-message check.
func (t *Table) routable(q gateway.RouteQuery) bool {
	for l := len(q.To); l >= 1; l-- {
		for _, i := range t.byPrefix[q.To[:l]] {
			r := &t.routes[i]
			if (len(r.Tenants) == 0 || slices.Contains(r.Tenants, q.Tenant)) && (len(r.Senders) == 0 || slices.Contains(r.Senders, q.From)) {
				return true
			}
		}
	}
	return false
}

// candidates lists the usable routes, or says that none ever will be.
func candidates(vs []verdict) ([]gateway.Candidate, error) {
	var out []gateway.Candidate
	possible := false
	for _, v := range vs {
		if !v.permanent {
			possible = true
		}
		if v.reason == "" {
			out = append(out, gateway.Candidate{Carrier: v.Carrier, Cost: v.Cost, Currency: v.Currency})
		}
	}
	if !possible {
		return nil, gateway.ErrNoRoute
	}
	return out, nil
}

// explain prints decisions one a line: candidates numbered, the others with
// the reason they were left out; a pinned carrier that no usable route
// lists gets a line of its own after the routes.
func explain(q gateway.RouteQuery, p plan, breaker func(carrier string) string) string {
	var b strings.Builder
	pinned := ""
	if q.Pinned != "" {
		pinned = ", pinned to " + q.Pinned
	}
	fmt.Fprintf(&b, "route for %s (tenant %q, sender %q, at %s%s):\n", q.To, q.Tenant, q.From, q.At.UTC().Format("2006-01-02 15:04 MST"), pinned)
	vs := p.verdicts
	n := 0
	for _, v := range vs {
		cost := strings.TrimSpace(fmt.Sprintf("%g %s", v.Cost, v.Currency))
		desc := fmt.Sprintf("%s via %s at %s/part, priority %d, weight %d, breaker %s", v.Carrier, v.Prefix, cost, v.Priority, v.Weight, breaker(v.Carrier))
		if v.reason == "" {
			n++
			fmt.Fprintf(&b, "  %d. %s\n", n, desc)
		} else {
			fmt.Fprintf(&b, "  -  %s: skipped, %s\n", desc, v.reason)
		}
	}
	switch {
	case p.unrouted:
		n++
		fmt.Fprintf(&b, "  %d. %s (pinned), listed by no usable route: sent at cost 0, breaker %s\n", n, q.Pinned, breaker(q.Pinned))
	case p.pinNote != "":
		fmt.Fprintf(&b, "  -  %s (pinned), listed by no usable route: skipped, %s\n", q.Pinned, p.pinNote)
	}
	if len(vs) == 0 {
		b.WriteString("  no route matches this number\n")
	} else if n == 0 {
		b.WriteString("  no candidate now: the message waits and is retried\n")
	}
	return b.String()
}

// Explain says what Plan decides for q and why, without breakers.
func (t *Table) Explain(q gateway.RouteQuery) string {
	return explain(q, t.plan(q, carrierView{}), func(string) string { return "n/a (offline)" })
}
