package gateway_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/routing"
)

// The engine's connector set is the one owner of whether a carrier is up:
// a router built with no view of its own (no Options.Up) takes the
// engine's once New hands it over, so its plans and explanations leave out
// the carrier the dispatcher and Ready consider down.
func TestRouterAsksTheEngineWhetherACarrierIsUp(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "s.db")}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := newFake("a", 10, ok), newFake("b", 10, ok)
	a.up.Store(false)
	table, err := routing.NewTable([]routing.Route{route("+", "a", 0.1), route("+", "b", 0.9)})
	if err != nil {
		t.Fatal(err)
	}
	router, err := routing.NewRouter(table, routing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := gateway.New(gateway.Options{
		Store: st, Router: router, Connectors: []gateway.Connector{a, b}, Segment: segmentByLength,
		Tenants: []gateway.Tenant{{ID: "t", DefaultRegion: "KE", Sender: "MFI"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := gateway.RouteQuery{Tenant: "t", From: "MFI", To: "+254712345678", Key: "k"}
	cs, err := router.Plan(q)
	if err != nil || len(cs) != 1 || cs[0].Carrier != "b" {
		t.Errorf("Plan with a down: %v, %v; want b alone", cs, err)
	}
	if ex := router.Explain(q); !strings.Contains(ex, "a via + at 0.1 KES/part, priority 0, weight 1, breaker closed: skipped, no bind up") {
		t.Errorf("explain does not show a down:\n%s", ex)
	}
	if !e.Ready() {
		t.Error("not ready with b up")
	}
	b.up.Store(false)
	if cs, err := router.Plan(q); err != nil || len(cs) != 0 || e.Ready() {
		t.Errorf("every carrier down: plan %v, %v, ready %v; want none and not ready", cs, err, e.Ready())
	}
}

// A message pinned to a carrier that no route lists leaves through it, at
// cost 0: the router plans the pinned carrier, the dispatcher just walks
// the plan.
func TestPinnedCarrierWithoutARouteGoesAtCostZero(t *testing.T) {
	a, b := newFake("a", 10, ok), newFake("b", 10, ok)
	h := newHarness(t, []routing.Route{route("+", "a", 0.1)}, a, b)
	id := h.send(t, gateway.SendRequest{To: client, Text: "pinned", Carrier: "b"})
	if m := h.waitStatus(t, id, gateway.StatusSubmitted); m.Carrier != "b" || m.Cost != 0 || a.callCount() != 0 {
		t.Errorf("sent through %q at %v (a called %d times), want b at cost 0", m.Carrier, m.Cost, a.callCount())
	}
}
