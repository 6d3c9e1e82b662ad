package smpp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
)

// lastChange is a bind's newest transition of its transmitting link.
func lastChange(b gateway.BindState) gateway.BindChange {
	for _, h := range b.History {
		if h.Link != bindReceiver {
			return h
		}
	}
	return gateway.BindChange{}
}

// hasChange reports whether a bind's history holds a transition to state
// whose reason starts with reason.
func hasChange(b gateway.BindState, state, reason string) bool {
	for _, h := range b.History {
		if h.State == state && strings.HasPrefix(h.Reason, reason) {
			return true
		}
	}
	return false
}

func TestRebindUnbindsAndBindsAgainAtOnce(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	// A long rebind_interval: binding again within the test's wait shows
	// the rebind skips the backoff a lost link waits.
	p := startPool(t, sim, nil, func(c *Config) { c.Binds, c.RebindInterval = 2, time.Minute })
	allBound := func() bool {
		for _, b := range p.Binds() {
			if b.State != gateway.BindBound {
				return false
			}
		}
		return true
	}
	waitFor(t, "both binds up", allBound)

	if err := p.Rebind(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an unbind per bind", func() bool { return sim.Stats().Unbinds == 2 })
	waitFor(t, "both binds bound again", func() bool { return sim.Stats().Binds == 4 && allBound() })
	for _, b := range p.Binds() {
		if b.State != gateway.BindBound || b.Type != BindTransceiver || b.Window != p.cfg.Window {
			t.Fatalf("bind %+v", b)
		}
		if !hasChange(b, gateway.BindConnecting, "unbound: rebind asked by alice") {
			t.Fatalf("bind %d's history has no rebind: %+v", b.Index, b.History)
		}
	}
	if r := submitOne(t, p, message("after the rebind")); r.Err != nil {
		t.Fatal(r.Err)
	}
}

// A rebind waits for the submits in flight to be answered before it
// unbinds: none of them fails.
func TestRebindWaitsForInFlight(t *testing.T) {
	sim := smsc.NewServer(smsc.WithResponseDelay(300*time.Millisecond, 300*time.Millisecond), smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, nil)

	res := make(chan gateway.PartResult, 1)
	go func() { res <- submitOne(t, p, message("in flight")) }()
	waitFor(t, "the submit in flight", func() bool { return sim.Stats().Submits == 1 })
	if err := p.Rebind(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if r := <-res; r.Err != nil || r.CarrierID == "" {
		t.Fatalf("a submit in flight during a clean rebind: %+v", r)
	}
	waitFor(t, "bound again", func() bool { return p.Up() && sim.Stats().Binds == 2 })
}

// What is still unanswered when the rebind stops waiting fails as on a
// lost link: ErrConnectionLost, a Retry.
func TestRebindFailsUnansweredAsLinkLost(t *testing.T) {
	var hold atomic.Bool
	hold.Store(true)
	sim := smsc.NewServer(smsc.WithHandler(func(*smsc.Submit) smsc.Action { return smsc.Action{Drop: hold.Load()} }),
		smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { c.ResponseTimeout = 30 * time.Second })

	res := make(chan gateway.PartResult, 1)
	go func() { res <- submitOne(t, p, message("never answered")) }()
	waitFor(t, "the submit in flight", func() bool { return sim.Stats().Submits == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Rebind(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if r := <-res; !errors.Is(r.Err, ErrConnectionLost) || gateway.DecisionOf(r.Err) != gateway.Retry {
		t.Fatalf("an unanswered submit at a rebind: %+v", r)
	}
	hold.Store(false)
	waitFor(t, "bound again", p.Up)
	if r := submitOne(t, p, message("again")); r.Err != nil {
		t.Fatal(r.Err)
	}
}

// A bind waiting out its backoff after refusals tries again at once on a
// rebind.
func TestRebindCutsTheBackoffShort(t *testing.T) {
	sim := smsc.NewServer(smsc.WithCredentials("mfi", "right"))
	defer sim.Close()
	cfg := simConfig(t, sim.Addr()) // password "secret": refused
	// A refusal waits at least rebind_interval/2 before the next attempt:
	// 5s here, longer than the wait below.
	cfg.RebindInterval = 10 * time.Second
	p := newPool(t, "sim", cfg, Options{}, nil)
	waitFor(t, "a refusal", func() bool { return sim.Stats().BindFailures == 1 })
	if err := p.Rebind(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 3*time.Second, func() error {
		if n := sim.Stats().BindFailures; n != 2 {
			return fmt.Errorf("%d attempts, want a second one at once", n)
		}
		return nil
	})
	b := p.Binds()[0]
	if b.State != gateway.BindDown || b.Reason != "bind refused: ESME_RINVPASWD (0x0000000E)" {
		t.Fatalf("a refused bind: %+v", b)
	}
	if got := len(b.History); got != 2 {
		// starting, then one entry for every refusal alike
		t.Fatalf("history %+v", b.History)
	}
}

// A rebind asked while an attempt runs (here, before its refusal comes
// back) still cuts the backoff after it short: the kick is taken before
// the attempt. It was lost in that window, and the bind waited the whole
// backoff.
func TestRebindDuringAnAttemptIsKept(t *testing.T) {
	sim := smsc.NewServer(smsc.WithCredentials("mfi", "right"))
	defer sim.Close()
	cfg := simConfig(t, sim.Addr())       // password "secret": refused
	cfg.RebindInterval = 10 * time.Second // a refusal waits 5 s at least
	dialing, release := make(chan struct{}), make(chan struct{})
	var dials atomic.Int32
	dial := func(addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			close(dialing)
			<-release
		}
		return net.Dial("tcp", addr)
	}
	p := newPool(t, "sim", cfg, Options{Dialer: dial}, nil)
	<-dialing
	if err := p.Rebind(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	close(release) // the attempt goes on and is refused
	testutil.Eventually(t, 3*time.Second, func() error {
		if n := sim.Stats().BindFailures; n < 2 {
			return fmt.Errorf("%d attempts, want a second one at once", n)
		}
		return nil
	})
}

func TestBindHistoryRecordsLinkLost(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, nil)
	up := p.Binds()[0]
	if up.State != gateway.BindBound || up.Since.IsZero() || up.Reason != "bound at attempt 1" {
		t.Fatalf("bound bind: %+v", up)
	}

	sim.KillConnections()
	testutil.Eventually(t, 5*time.Second, func() error {
		b := p.Binds()[0]
		if b.State != gateway.BindBound || !hasChange(b, gateway.BindDown, "link lost") {
			return fmt.Errorf("history %+v", b.History)
		}
		return nil
	})
	b := p.Binds()[0]
	// Newest first: bound, link lost, bound, starting.
	if len(b.History) != 4 || b.History[1].State != gateway.BindDown || b.History[0].State != gateway.BindBound ||
		b.History[3].State != gateway.BindConnecting || !b.Since.After(up.Since) {
		t.Fatalf("history %+v", b.History)
	}
	if c := lastChange(b); c.Link != BindTransceiver || c.At.IsZero() {
		t.Fatalf("last change %+v", c)
	}
}

func TestBindHistoryRecordsSMSCUnbind(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, nil)
	sim.UnbindClients()
	waitFor(t, "the SMSC's unbind in the history", func() bool {
		return hasChange(p.Binds()[0], gateway.BindDown, "the SMSC sent unbind")
	})
}

func TestResponseTimesMeasuredPerBind(t *testing.T) {
	sim := smsc.NewServer(smsc.WithResponseDelay(2*time.Millisecond, 5*time.Millisecond), smsc.WithReceiptDelay(time.Hour, time.Hour))
	defer sim.Close()
	p := startPool(t, sim, nil, nil)
	if rt := p.Binds()[0].Responses; rt.Count != 0 || rt.Mean != 0 {
		t.Fatalf("response times before any submit: %+v", rt)
	}
	for range 5 {
		if r := submitOne(t, p, message("timed")); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	rt := p.Binds()[0].Responses
	if rt.Count != 5 || rt.Mean < 2*time.Millisecond || rt.P99 < rt.Mean || rt.Over != time.Minute {
		t.Fatalf("response times %+v", rt)
	}
}

func TestSummarise(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	rt := summarise(ds)
	if rt.Count != 100 || rt.Mean != 50500*time.Microsecond || rt.P99 != 99*time.Millisecond {
		t.Fatalf("%+v", rt)
	}
	if rt := summarise([]time.Duration{7 * time.Millisecond}); rt.P99 != 7*time.Millisecond || rt.Mean != 7*time.Millisecond {
		t.Fatalf("one sample: %+v", rt)
	}
}

// A transmitter_receiver bind rebinds both links; the receiver's changes
// are in the bind's history, its state is the transmitter's.
func TestRebindPair(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	p := startPool(t, sim, nil, func(c *Config) { c.Bind = BindPair })
	waitFor(t, "the receiver bound", func() bool { return hasLink(p.Binds()[0], bindReceiver, gateway.BindBound) })
	if err := p.Rebind(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both links unbound", func() bool { return sim.Stats().Unbinds == 2 })
	waitFor(t, "both links bound again", func() bool { return sim.Stats().Binds == 4 && sim.Stats().Bound == 2 })
	b := p.Binds()[0]
	if b.Type != BindPair || !hasLink(b, bindReceiver, gateway.BindConnecting) || !hasLink(b, bindTransmitter, gateway.BindConnecting) {
		t.Fatalf("bind %+v", b)
	}
	waitFor(t, "the transmitter bound", func() bool { return p.Binds()[0].State == gateway.BindBound })
}

// hasLink reports whether a bind's history has link entering state.
func hasLink(b gateway.BindState, link, state string) bool {
	for _, h := range b.History {
		if h.Link == link && h.State == state {
			return true
		}
	}
	return false
}
