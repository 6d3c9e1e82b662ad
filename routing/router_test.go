package routing

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
)

func newRouter(t *testing.T, src string, up func(string) bool) (*Router, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := NewRouter(tableFromYAML(t, src), Options{
		Breaker:    BreakerConfig{ConsecutiveFailures: 3, OpenFor: 50 * time.Millisecond, Probes: 1},
		Registerer: reg, Up: up, Now: func() time.Time { return noon },
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

func fail(t *testing.T, r *Router, carrier string, n int) {
	t.Helper()
	for range n {
		done, ok := r.Admit(carrier)
		if !ok {
			t.Fatalf("%s not admitted while closed", carrier)
		}
		done(false)
	}
}

// A failing carrier trips its breaker, traffic moves to the next
// candidate, and after the open period a successful probe brings it back.
func TestBreakerTripsAndRecovers(t *testing.T) {
	r, reg := newRouter(t, `
- {prefix: "+254", carrier: cheap, cost: 0.5}
- {prefix: "+254", carrier: dear, cost: 0.9}
`, nil)
	fail(t, r, "cheap", 3)
	cs, err := r.Plan(q("+254712345678"))
	if got := carriers(t, cs, err); got != "dear" {
		t.Fatalf("with cheap's breaker open: %s", got)
	}
	if _, ok := r.Admit("cheap"); ok {
		t.Fatal("open breaker admitted a submission")
	}
	if ex := r.Explain(q("+254712345678")); !strings.Contains(ex, "cheap via +254 at 0.5/part, priority 0, weight 1, breaker open: skipped, breaker open") {
		t.Errorf("explain does not show the open breaker:\n%s", ex)
	}
	// After open_for the breaker lets one probe through; its success closes it.
	testutil.Eventually(t, 5*time.Second, func() error {
		if r.BreakerState("cheap") != "half-open" {
			return errors.New("breaker still " + r.BreakerState("cheap"))
		}
		return nil
	})
	done, ok := r.Admit("cheap")
	if !ok {
		t.Fatal("half-open breaker refused the probe")
	}
	if _, ok := r.Admit("cheap"); ok {
		t.Fatal("half-open breaker admitted more than its probes")
	}
	done(true)
	cs, err = r.Plan(q("+254712345678"))
	if got := carriers(t, cs, err); got != "cheap,dear" || r.BreakerState("cheap") != "closed" {
		t.Fatalf("after recovery: %s, breaker %s", got, r.BreakerState("cheap"))
	}
	problems, err := promlint.NewWithMetricFamilies(mustGather(t, reg)).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

// An operator's reset closes an open breaker at once.
func TestResetBreakerCloses(t *testing.T) {
	r, reg := newRouter(t, `[{prefix: "+", carrier: a, cost: 1}]`, nil)
	fail(t, r, "a", 3)
	if r.BreakerState("a") != "open" {
		t.Fatalf("breaker %s after 3 failures", r.BreakerState("a"))
	}
	r.ResetBreaker("a")
	if r.BreakerState("a") != "closed" {
		t.Fatalf("breaker %s after reset", r.BreakerState("a"))
	}
	if _, ok := r.Admit("a"); !ok {
		t.Fatal("a reset breaker refused a submission")
	}
	want := []BreakerChange{{At: noon, From: "open", To: "closed", Reset: true}, {At: noon, From: "closed", To: "open"}}
	if h := r.BreakerHistory("a"); !slices.Equal(h, want) {
		t.Errorf("BreakerHistory = %+v, want %+v", h, want)
	}
	for _, mf := range mustGather(t, reg) {
		if mf.GetName() == "smsgw_routing_breaker_state" && mf.GetMetric()[0].GetGauge().GetValue() != 0 {
			t.Errorf("breaker state metric %v after reset", mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
}

// A breaker keeps its last transitions, newest first, and forgets the
// oldest beyond historyKeep.
func TestBreakerHistoryIsBounded(t *testing.T) {
	r, _ := newRouter(t, `[{prefix: "+", carrier: a, cost: 1}]`, nil)
	for range historyKeep {
		fail(t, r, "a", 3)
		r.ResetBreaker("a")
	}
	h := r.BreakerHistory("a")
	if len(h) != historyKeep || !h[0].Reset || h[1].To != "open" || h[1].Reset {
		t.Fatalf("BreakerHistory = %+v", h)
	}
	if len(r.BreakerHistory("b")) != 0 {
		t.Error("a carrier never tripped has a history")
	}
}

// A permanent refusal of one message is not a carrier failure.
func TestSuccessesKeepBreakerClosed(t *testing.T) {
	r, _ := newRouter(t, `[{prefix: "+", carrier: a, cost: 1}]`, nil)
	for range 10 {
		done, ok := r.Admit("a")
		if !ok {
			t.Fatal("refused")
		}
		done(true)
	}
	fail(t, r, "a", 2)
	if s := r.BreakerState("a"); s != "closed" {
		t.Fatalf("breaker %s after 2 failures (threshold 3)", s)
	}
}

func TestCarrierWithNoBindIsSkipped(t *testing.T) {
	var cheapUp atomic.Bool
	r, _ := newRouter(t, `
- {prefix: "+254", carrier: cheap, cost: 0.5}
- {prefix: "+254", carrier: dear, cost: 0.9}
`, func(c string) bool { return c != "cheap" || cheapUp.Load() })
	cs, err := r.Plan(q("+254712345678"))
	if got := carriers(t, cs, err); got != "dear" {
		t.Fatalf("cheap down: %s", got)
	}
	golden(t, "explain_live", r.Explain(q("+254712345678")))
	cheapUp.Store(true)
	cs, err = r.Plan(q("+254712345678"))
	if got := carriers(t, cs, err); got != "cheap,dear" {
		t.Fatalf("cheap up: %s", got)
	}
}

func TestSwapKeepsBreakers(t *testing.T) {
	r, _ := newRouter(t, `[{prefix: "+", carrier: a, cost: 1}, {prefix: "+", carrier: b, cost: 2}]`, nil)
	fail(t, r, "a", 3)
	r.Swap(tableFromYAML(t, `[{prefix: "+254", carrier: a, cost: 0.1}, {prefix: "+", carrier: b, cost: 2}]`))
	cs, err := r.Plan(q("+254712345678"))
	if got := carriers(t, cs, err); got != "b" {
		t.Fatalf("after swap: %s (a's breaker must still be open)", got)
	}
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// fakeStates stands in for the engine's connector set (gateway.CarrierStates).
type fakeStates struct{ runs, up map[string]bool }

func (f fakeStates) Runs(c string) bool { return f.runs[c] }
func (f fakeStates) Up(c string) bool   { return f.up[c] }

func pinned(to, carrier string) gateway.RouteQuery {
	qq := q(to)
	qq.Pinned = carrier
	return qq
}

// A pinned message is planned through its carrier alone: at the price of
// the route that lists it, at cost 0 where no usable route does (a reply
// leaves through its inbound carrier whatever the routes say), not at all
// while it is down (wait), and it fails only when no route could take it
// and the carrier does not run here. Explain shows each case.
func TestPinnedCarrierIsTheOnlyCandidate(t *testing.T) {
	r, _ := newRouter(t, `
- {prefix: "+254", carrier: cheap, cost: 0.5, currency: KES}
- {prefix: "+254", carrier: dear, cost: 0.9, currency: KES}
`, nil)
	r.UseCarrierStates(fakeStates{
		runs: map[string]bool{"cheap": true, "dear": true, "inbound": true, "asleep": true},
		up:   map[string]bool{"cheap": true, "dear": true, "inbound": true},
	})
	cases := []struct {
		q    gateway.RouteQuery
		want []gateway.Candidate
		err  error
	}{
		{pinned("+254712345678", "dear"), []gateway.Candidate{{Carrier: "dear", Cost: 0.9, Currency: "KES"}}, nil},
		{pinned("+254712345678", "inbound"), []gateway.Candidate{{Carrier: "inbound"}}, nil},
		{pinned("+15551234567", "inbound"), []gateway.Candidate{{Carrier: "inbound"}}, nil},
		{pinned("+254712345678", "asleep"), nil, nil},
		{pinned("+15551234567", "asleep"), nil, nil},
		{pinned("+254712345678", "gone"), nil, nil},
		{pinned("+15551234567", "gone"), nil, gateway.ErrNoRoute},
	}
	var ex strings.Builder
	for _, c := range cases {
		cs, err := r.Plan(c.q)
		if !errors.Is(err, c.err) || !slices.Equal(cs, c.want) {
			t.Errorf("Plan(%s pinned to %s) = %v, %v; want %v, %v", c.q.To, c.q.Pinned, cs, err, c.want, c.err)
		}
		ex.WriteString(r.Explain(c.q))
	}
	// An open breaker leaves the pinned carrier's route out, not the
	// carrier: it goes at cost 0 and Admit asks the breaker again.
	fail(t, r, "dear", 3)
	if cs, err := r.Plan(pinned("+254712345678", "dear")); err != nil || !slices.Equal(cs, []gateway.Candidate{{Carrier: "dear"}}) {
		t.Errorf("pinned to dear with its breaker open: %v, %v", cs, err)
	}
	ex.WriteString(r.Explain(pinned("+254712345678", "dear")))
	golden(t, "explain_pinned", ex.String())
	// Offline, every carrier runs and is up.
	tab := tableFromYAML(t, `[{prefix: "+254", carrier: cheap, cost: 0.5}, {prefix: "+254", carrier: dear, cost: 0.9}]`)
	if cs, err := tab.Plan(pinned("+254712345678", "dear")); err != nil || len(cs) != 1 || cs[0].Carrier != "dear" || cs[0].Cost != 0.9 {
		t.Errorf("offline plan pinned to dear: %v, %v", cs, err)
	}
}

// Once the engine hands its carrier states over, they alone say whether a
// carrier is up: Options.Up is no longer asked.
func TestEngineCarrierStatesReplaceOptionsUp(t *testing.T) {
	r, _ := newRouter(t, `
- {prefix: "+254", carrier: cheap, cost: 0.5}
- {prefix: "+254", carrier: dear, cost: 0.9}
`, func(string) bool { return true })
	r.UseCarrierStates(fakeStates{up: map[string]bool{"dear": true}})
	cs, err := r.Plan(q("+254712345678"))
	if got := carriers(t, cs, err); got != "dear" {
		t.Fatalf("with the engine saying cheap is down: %s", got)
	}
	if ex := r.Explain(q("+254712345678")); !strings.Contains(ex, "cheap via +254 at 0.5/part, priority 0, weight 1, breaker closed: skipped, no bind up") {
		t.Errorf("explain does not show the engine's view:\n%s", ex)
	}
}

// TestRoutableAgreesWithPlan: Routable, which accept asks of every
// message, is false exactly when Plan fails with ErrNoRoute, whatever the
// filters, hours, breakers, binds and pinned carrier.
func TestRoutableAgreesWithPlan(t *testing.T) {
	r, _ := newRouter(t, `
- {prefix: "+254", carrier: night, cost: 0.1, hours: "22:00-06:00", timezone: Africa/Nairobi}
- {prefix: "+2547", carrier: mfi-only, cost: 0.2, tenants: [mfi]}
- {prefix: "+2547", carrier: shortcode, cost: 0.3, senders: ["22555"]}
- {prefix: "+255", carrier: both, cost: 0.4, tenants: [mfi], senders: ["MFI"]}
- {prefix: "+256", carrier: down, cost: 0.5}
- {prefix: "+256", carrier: down, cost: 0.6, tenants: [other]}
`, nil)
	r.UseCarrierStates(fakeStates{
		runs: map[string]bool{"night": true, "mfi-only": true, "shortcode": true, "both": true, "down": true, "inbound": true},
		up:   map[string]bool{"night": true, "mfi-only": true, "shortcode": true, "both": true, "inbound": true},
	})
	fail(t, r, "mfi-only", 3) // its breaker opens: no candidate now, still a route
	var routable, not int
	for _, to := range []string{"+254712345678", "+254201234567", "+255712345678", "+256712345678", "+15551234567"} {
		for _, tenant := range []string{"mfi", "other"} {
			for _, from := range []string{"MFI", "22555"} {
				for _, pin := range []string{"", "night", "down", "inbound", "gone"} {
					for _, at := range []time.Time{noon, time.Date(2026, 11, 26, 20, 30, 0, 0, time.UTC)} {
						qq := gateway.RouteQuery{Tenant: tenant, From: from, To: to, At: at, Key: "k", Pinned: pin}
						_, err := r.Plan(qq)
						want := !errors.Is(err, gateway.ErrNoRoute)
						if got := r.Routable(qq); got != want {
							t.Errorf("Routable(%s tenant %s sender %s pinned %q at %s) = %v; Plan says %v", to, tenant, from, pin, at.Format("15:04"), got, err)
						}
						if want {
							routable++
						} else {
							not++
						}
					}
				}
			}
		}
	}
	if routable == 0 || not == 0 {
		t.Fatalf("the cases cover one answer only: %d routable, %d not", routable, not)
	}
}
