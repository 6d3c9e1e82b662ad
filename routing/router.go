package routing

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/openmf/smsgw/gateway"
)

// BreakerConfig says when a carrier is considered failing. Zero fields take
// the defaults documented on each.
type BreakerConfig struct {
	ConsecutiveFailures uint32        `yaml:"consecutive_failures"` // trip after this many in a row; default 5
	FailureRatio        float64       `yaml:"failure_ratio"`        // or this share of failures...; default 0.5
	MinRequests         uint32        `yaml:"min_requests"`         // ...over at least this many requests; default 20
	Window              time.Duration `yaml:"window"`               // in this rolling window; default 30s
	OpenFor             time.Duration `yaml:"open_for"`             // stay open this long before probing; default 15s
	Probes              uint32        `yaml:"probes"`               // submissions let through while half-open; default 3
}

func (c *BreakerConfig) setDefaults() {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = 5
	}
	if c.FailureRatio == 0 {
		c.FailureRatio = 0.5
	}
	if c.MinRequests == 0 {
		c.MinRequests = 20
	}
	if c.Window == 0 {
		c.Window = 30 * time.Second
	}
	if c.OpenFor == 0 {
		c.OpenFor = 15 * time.Second
	}
	if c.Probes == 0 {
		c.Probes = 3
	}
}

// Validate reports settings that cannot work, field names first.
func (c BreakerConfig) Validate() []error {
	var errs []error
	if c.FailureRatio < 0 || c.FailureRatio > 1 {
		errs = append(errs, errors.New("failure_ratio: must be between 0 and 1"))
	}
	if c.Window < 0 || c.OpenFor < 0 {
		errs = append(errs, errors.New("window, open_for: must be ≥ 0"))
	}
	return errs
}

// Options wires a Router.
type Options struct {
	Breaker    BreakerConfig
	Registerer prometheus.Registerer // nil: metrics are not registered
	// Up reports whether a carrier has a bind (or client) ready; nil:
	// always. It serves only until an engine hands the router its own
	// carrier states (UseCarrierStates; gateway.New does): the engine owns
	// its connectors, so from then on its answer is the only one.
	Up func(carrier string) bool
	// Now is the clock for hours-of-day filters; nil: time.Now.
	Now func() time.Time
}

// Router is the live routing layer: the current Table (swapped on reload)
// and one circuit breaker per carrier.
type Router struct {
	table    atomic.Pointer[Table]
	opts     Options
	mu       sync.Mutex
	breakers map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]
	state    *prometheus.GaugeVec
	carriers atomic.Pointer[gateway.CarrierStates] // the engine's, once it handed them over

	histMu  sync.Mutex
	history map[string][]BreakerChange // per carrier, oldest first, at most historyKeep
}

// BreakerChange is one transition of a carrier's breaker, kept so an
// operator can see when a carrier started failing and when it recovered.
type BreakerChange struct {
	At       time.Time
	From, To string // closed, half-open or open
	Reset    bool   // an operator's ResetBreaker, not the breaker itself
}

// historyKeep is how many transitions each carrier keeps in memory.
const historyKeep = 20

var (
	_ gateway.Router       = (*Router)(nil)
	_ gateway.CarrierAware = (*Router)(nil)
)

// NewRouter starts routing with t.
func NewRouter(t *Table, opts Options) (*Router, error) {
	opts.Breaker.setDefaults()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Router{opts: opts, breakers: map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]{}, history: map[string][]BreakerChange{}}
	r.table.Store(t)
	r.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "smsgw_routing_breaker_state",
		Help: "Circuit breaker state per carrier: 0 closed, 1 half-open, 2 open.",
	}, []string{"carrier"})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(r.state); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Swap replaces the table; plans already made keep the old one.
func (r *Router) Swap(t *Table) { r.table.Store(t) }

// Table is the table in force.
func (r *Router) Table() *Table { return r.table.Load() }

func (r *Router) breaker(carrier string) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.breakers[carrier]; ok {
		return b
	}
	c := r.opts.Breaker
	b := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         carrier,
		MaxRequests:  c.Probes,
		Interval:     c.Window,
		BucketPeriod: c.Window / 10,
		Timeout:      c.OpenFor,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			return n.ConsecutiveFailures >= c.ConsecutiveFailures ||
				(n.Requests >= c.MinRequests && float64(n.TotalFailures)/float64(n.Requests) >= c.FailureRatio)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			r.state.WithLabelValues(name).Set(float64(to))
			r.note(name, BreakerChange{From: from.String(), To: to.String()})
		},
	})
	r.state.WithLabelValues(carrier).Set(0)
	r.breakers[carrier] = b
	return b
}

// BreakerState names the carrier's breaker state: closed, half-open or open.
func (r *Router) BreakerState(carrier string) string {
	return r.breaker(carrier).State().String()
}

// ResetBreaker closes a carrier's breaker now, forgetting its counts: the
// operator's answer once a carrier is known to be fixed, instead of waiting
// out open_for and its probes. Outcomes of submissions admitted before the
// reset count against the breaker they were admitted by, not the new one.
func (r *Router) ResetBreaker(carrier string) {
	from := r.BreakerState(carrier)
	r.mu.Lock()
	delete(r.breakers, carrier)
	r.mu.Unlock()
	r.breaker(carrier)
	r.note(carrier, BreakerChange{From: from, To: gobreaker.StateClosed.String(), Reset: true})
}

// note appends a transition to the carrier's history, now.
func (r *Router) note(carrier string, c BreakerChange) {
	c.At = r.opts.Now()
	r.histMu.Lock()
	defer r.histMu.Unlock()
	h := append(r.history[carrier], c)
	if len(h) > historyKeep {
		h = h[len(h)-historyKeep:]
	}
	r.history[carrier] = h
}

// BreakerHistory returns the carrier's last breaker transitions on this
// node since it started, newest first (at most 20).
func (r *Router) BreakerHistory(carrier string) []BreakerChange {
	r.histMu.Lock()
	defer r.histMu.Unlock()
	h := slices.Clone(r.history[carrier])
	slices.Reverse(h)
	return h
}

// UseCarrierStates implements gateway.CarrierAware: from now on the
// engine decides which carriers run here and which are up (Options.Up is
// no longer asked), so a plan never lists a carrier the engine considers
// down, and a pinned carrier that does not run here is known as such.
func (r *Router) UseCarrierStates(s gateway.CarrierStates) {
	if s == nil {
		r.carriers.Store(nil)
		return
	}
	r.carriers.Store(&s)
}

// view is what this router knows of carriers now, read once per decision.
func (r *Router) view() carrierView {
	up, runs := r.opts.Up, func(string) bool { return true }
	if s := r.carriers.Load(); s != nil {
		up, runs = (*s).Up, (*s).Runs
	}
	return carrierView{
		state: func(carrier string) string {
			if r.breaker(carrier).State() == gobreaker.StateOpen {
				return "breaker open"
			}
			if up != nil && !up(carrier) {
				return "no bind up"
			}
			return ""
		},
		runs: runs,
		up:   up,
	}
}

func (r *Router) query(q gateway.RouteQuery) gateway.RouteQuery {
	if q.At.IsZero() {
		q.At = r.opts.Now()
	}
	return q
}

// Plan implements gateway.Router, pinned carriers included.
func (r *Router) Plan(q gateway.RouteQuery) ([]gateway.Candidate, error) {
	p := r.Table().plan(r.query(q), r.view())
	return p.cands, p.err
}

// Routable implements gateway.Router: Plan fails with ErrNoRoute only when
// no route passes its filters and the pinned carrier, if any, does not run
// here (see plan.pin).
func (r *Router) Routable(q gateway.RouteQuery) bool {
	if r.Table().routable(q) {
		return true
	}
	return q.Pinned != "" && r.view().runs(q.Pinned)
}

// Closed implements gateway.Router.
func (r *Router) Closed(carrier string) bool {
	return r.breaker(carrier).State() == gobreaker.StateClosed
}

// Admit implements gateway.Router.
func (r *Router) Admit(carrier string) (func(success bool), bool) {
	done, err := r.breaker(carrier).Allow()
	if err != nil {
		return nil, false
	}
	return func(success bool) {
		if success {
			done(nil)
		} else {
			done(errFailed)
		}
	}, true
}

var errFailed = errors.New("routing: submission failed")

// Explain says what Plan decides for q now and why, breakers and a pinned
// carrier included.
func (r *Router) Explain(q gateway.RouteQuery) string {
	q = r.query(q)
	return explain(q, r.Table().plan(q, r.view()), r.BreakerState)
}
