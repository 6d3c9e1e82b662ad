package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestSmokeScenario runs bench/scenarios/smoke.yaml through a real
// in-process gateway and checks the account: every accepted message was
// delivered, no carrier missed one or took one twice.
func TestSmokeScenario(t *testing.T) {
	sc, err := LoadScenario("scenarios/smoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	r, err := Run(ctx, sc, RunOptions{Progress: &progress, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var sum bytes.Buffer
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", sum.String())
	want := sc.Load.Count
	if r.Sent != want || r.Accepted != want || r.Refused != 0 {
		t.Errorf("sent %d, accepted %d, refused %d; want %d, %d, 0 (errors %v)", r.Sent, r.Accepted, r.Refused, want, want, r.Errors)
	}
	if r.Delivered != r.Accepted || r.Undelivered != 0 || r.Unfinished != 0 {
		t.Errorf("delivered %d, undelivered %d, unfinished %d of %d accepted", r.Delivered, r.Undelivered, r.Unfinished, r.Accepted)
	}
	if !r.Ledger || r.Lost != 0 || r.Duplicated != 0 {
		t.Errorf("ledger %v: lost %d, duplicated %d; want 0, 0", r.Ledger, r.Lost, r.Duplicated)
	}
	if r.Submitted != r.Accepted || r.Submit.Count != r.Accepted || r.EndToEnd.Count != r.Accepted || r.Accept.Count != r.Accepted {
		t.Errorf("submitted %d, latencies counted accept %d submit %d e2e %d; want %d each", r.Submitted, r.Accept.Count, r.Submit.Count, r.EndToEnd.Count, r.Accepted)
	}
	var parts int64
	for _, c := range r.Carriers {
		parts += c.Accepted
		if c.Submits == 0 {
			t.Errorf("carrier %s took nothing; the routes should spread the load", c.Name)
		}
	}
	if parts != r.Parts {
		t.Errorf("carriers accepted %d parts, the gateway said %d", parts, r.Parts)
	}
	if !r.Gateway.Measured || len(r.Series) == 0 {
		t.Errorf("gateway process not measured (%+v) or no series (%d samples)", r.Gateway, len(r.Series))
	}
}

// TestKannelScenario drives the gateway through Kannel's sendsms: every
// message accepted over HTTP is delivered once. (The Kannel answer names no
// message id, so per-message latencies are not measured.)
func TestKannelScenario(t *testing.T) {
	sc, err := LoadScenario("scenarios/kannel.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, sc, RunOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := sc.Load.Count
	if r.Sent != want || r.Accepted != want || r.Refused != 0 {
		t.Errorf("sent %d, accepted %d, refused %d; want %d, %d, 0 (errors %v)", r.Sent, r.Accepted, r.Refused, want, want, r.Errors)
	}
	if !r.Ledger || r.Lost != 0 || r.Duplicated != 0 {
		t.Errorf("ledger %v: lost %d, duplicated %d; want 0, 0", r.Ledger, r.Lost, r.Duplicated)
	}
}

// TestScenarioFaults runs a scenario with a throttling carrier (switched on
// by the timeline), a share of undeliverable receipts and MO traffic: the
// account must still balance.
func TestScenarioFaults(t *testing.T) {
	sc, err := ParseScenario(strings.NewReader(`
name: faults
gateway: {binds: 1, window: 16, throttle_pause: 10ms, retry_base: 50ms, retry_max: 200ms}
carriers:
  - {name: alpha, prefixes: ["+254"], outcomes: {DELIVRD: 0.7, UNDELIV: 0.3}, mo_rate: 50}
  - {name: beta, prefixes: ["+255"], latency: "1ms..3ms"}
load: {driver: grpc-batch, batch: 10, clients: 2, rate: 200, count: 200, prefixes: ["+25471", "+25575"], drain: 1m}
timeline:
  - {at: 0s, carrier: alpha, throttle: 0.3}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, sc, RunOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Accepted != 200 || r.Delivered+r.Undelivered != 200 || r.Unfinished != 0 {
		t.Errorf("accepted %d, delivered %d, undelivered %d, unfinished %d; want 200 all ended", r.Accepted, r.Delivered, r.Undelivered, r.Unfinished)
	}
	if r.Undelivered == 0 || r.Final["UNDELIVERED"] != r.Undelivered {
		t.Errorf("no UNDELIVERED from a carrier with 30%% UNDELIV receipts: %v", r.Final)
	}
	if r.Lost != 0 || r.Duplicated != 0 {
		t.Errorf("lost %d, duplicated %d", r.Lost, r.Duplicated)
	}
	alpha := r.Carriers[0]
	if alpha.Throttled == 0 || alpha.MOSent == 0 {
		t.Errorf("alpha throttled %d, MO sent %d; want both > 0", alpha.Throttled, alpha.MOSent)
	}
	if len(r.Marks) != 1 || r.Marks[0].What != "alpha throttle 30%" {
		t.Errorf("marks %+v", r.Marks)
	}
}
