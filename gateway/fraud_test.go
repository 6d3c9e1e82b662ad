package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/limits"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/routing"
)

// TestFraudControlsRejectWithReason: +881612345678 was delivered, and
// nothing capped spend. Now a high-risk destination and a message over the
// daily spend cap are stored REJECTED with the reason (final, never sent,
// never silently dropped), and what was accepted before is sent as usual.
func TestFraudControlsRejectWithReason(t *testing.T) {
	var sent atomic.Int64
	carrier := newFake("c", 10, func(m *gateway.Message, idx int) gateway.PartResult {
		sent.Add(1)
		return ok(m, idx)
	})
	h := newHarnessWith(t, []routing.Route{route("+", "c", 2)}, 0, func(o *gateway.Options) {
		o.Tenants[0].Fraud = limits.FraudConfig{DailySpendCap: 5}
		o.Price = func(gateway.RouteQuery) float64 { return 2 }
	}, carrier)
	ctx := context.Background()
	accept := func(to string) gateway.AcceptOutcome {
		t.Helper()
		out, err := h.engine.Accept(ctx, "t", []gateway.SendRequest{{To: to, Text: "Hi"}})
		if err != nil || out[0].Err != nil {
			t.Fatalf("Accept %s: %v %v", to, err, out[0].Err)
		}
		return out[0]
	}
	before := accept("+254712345678")
	if before.Status != gateway.StatusAccepted {
		t.Fatalf("first message: %s", before.Status)
	}
	sat := accept("+881612345678")
	if sat.Status != gateway.StatusRejected || sat.ID == "" {
		t.Fatalf("satellite number: %+v, want stored REJECTED", sat)
	}
	second := accept("+254712345679")
	over := accept("+254712345670") // 3 × 2 = 6 > 5
	if second.Status != gateway.StatusAccepted || over.Status != gateway.StatusRejected {
		t.Fatalf("spend cap: %s then %s, want ACCEPTED then REJECTED", second.Status, over.Status)
	}
	for id, want := range map[string]string{
		sat.ID:  "refused by the tenant's fraud controls: +881… is a high-risk range",
		over.ID: "refused by the tenant's fraud controls: tenant t reached its daily spend cap (4.00 of 5.00",
	} {
		m, err := h.engine.Get(ctx, "t", id)
		if err != nil || m.Status != gateway.StatusRejected || !strings.HasPrefix(m.LastError, want) {
			t.Errorf("stored %+v, %v; want REJECTED with %q", m, err, want)
		}
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, id := range []string{before.ID, second.ID} {
			m, err := h.engine.Get(ctx, "t", id)
			if err != nil || m.Status != gateway.StatusSubmitted && m.Status != gateway.StatusDelivered {
				return fmt.Errorf("message %s: %v %v", id, m.Status, err)
			}
		}
		return nil
	})
	if n := sent.Load(); n != 2 {
		t.Fatalf("%d parts reached the carrier, want the 2 allowed", n)
	}
	if day, _ := h.engine.Spend("t"); day != 4 {
		t.Errorf("spend today %v, want 4", day)
	}
}

// TestFraudCountriesThroughAccept: allow_countries sees each number's
// region, North American regions told apart by their area codes.
func TestFraudCountriesThroughAccept(t *testing.T) {
	carrier := newFake("c", 10, func(m *gateway.Message, idx int) gateway.PartResult { return ok(m, idx) })
	h := newHarnessWith(t, []routing.Route{route("+", "c", 2)}, 0, func(o *gateway.Options) {
		o.Tenants[0].Fraud = limits.FraudConfig{AllowCountries: []string{"KE", "CA"}}
	}, carrier)
	for to, want := range map[string]string{
		"+254712345678": "",
		"+15062345678":  "", // New Brunswick
		"+255712345678": "destination country TZ is not in fraud.allow_countries",
		"+12015550123":  "destination country US is not in fraud.allow_countries",
	} {
		out, err := h.engine.Accept(context.Background(), "t", []gateway.SendRequest{{To: to, Text: "Hi"}})
		if err != nil || out[0].Err != nil {
			t.Fatalf("Accept %s: %v %v", to, err, out[0].Err)
		}
		m, err := h.engine.Get(context.Background(), "t", out[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if want == "" && m.Status == gateway.StatusRejected || want != "" && !strings.HasSuffix(m.LastError, want) {
			t.Errorf("%s: %s %q; want %q", to, m.Status, m.LastError, want)
		}
	}
}
