package fineract_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/fineract/fakefineract"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// fakeClock is a Clock the test moves by hand.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// Advance moves the time on and wakes whoever waited until then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// TestDigest: at 17:30 in Nairobi the loan officer Mary gets the day's
// digest, read from the fake Fineract: Peter in arrears, Jane's
// installment due tomorrow (10 April; Peter's is the day after), and the
// Kibera centre's meeting tomorrow (Mathare meets the day after). John, whose client is in
// arrears too, has no mobile number in Fineract: counted, nothing sent. An
// adapter restarted at 17:40 catches up and sends nothing twice.
func TestDigest(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	gw := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	fake, err := fakefineract.New(os.DirFS("testdata/events"))
	if err != nil {
		t.Fatal(err)
	}
	fin := newServer(t, fake)
	cfg := eventsConfig(t, gw.GRPCAddr(), fin.URL)
	cfg.Tenants[0].Events.Digest = &fineract.DigestConfig{At: "17:30", TimeZone: "Africa/Nairobi"}
	nairobi, err := time.LoadLocation("Africa/Nairobi")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2025, 4, 9, 16, 0, 0, 0, nairobi)}

	start := func(t *testing.T) *prometheus.Registry {
		cl, err := client.Dial(cfg.Gateway.Addr, cfg.Tenants[0].APIKey)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		reg := prometheus.NewRegistry()
		m := fineract.NewMetrics(reg)
		gwc := pb.NewMessagingClient(cl.Conn())
		fc, err := fineract.NewFineractClient(cfg.Tenants[0], m)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := fineract.NewTexts(cfg.Tenants[0].Texts)
		if err != nil {
			t.Fatal(err)
		}
		n, err := fineract.NewNotifier(fineract.NotifierOptions{Gateway: gwc, Fineract: fc, Region: "KE", Metrics: m}, cfg.Tenants[0].Events, texts)
		if err != nil {
			t.Fatal(err)
		}
		d, err := fineract.NewDigest(fineract.DigestOptions{Notifier: n, Fineract: fc, Gateway: gwc, Clock: clock, Metrics: m, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = d.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return reg
	}
	reg := start(t)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		testutil.Eventually(t, 15*time.Second, func() error {
			if !cond() {
				return fmt.Errorf("still waiting for %s", what)
			}
			return nil
		})
	}
	waitFor("the digest to wait for 17:30", func() bool { return clock.waiting() == 1 })
	if n := len(sim.Submits()); n != 0 {
		t.Fatalf("%d submits before 17:30", n)
	}
	clock.Advance(90 * time.Minute)

	const want = "254733555111 Mary, 9 Apr 2025: 1 in arrears; Peter Otieno *0022 KES 2,750.00. " +
		"Due tomorrow: 1; Jane Wanjiru *0021 KES 2,750.00. Meetings tomorrow: Kibera Centre."
	waitFor("the digest", func() bool { return len(sim.Submits()) == 1 })
	if got := submitted(t, sim); got[0] != want {
		t.Fatalf("digest %q, want %q", got[0], want)
	}
	waitFor("John's digest to be counted", func() bool {
		v, _ := counter(t, reg, "smsgw_fineract_digests_total", map[string]string{"outcome": "no_mobile"})
		return v == 1
	})
	waitFor("the digest to wait for tomorrow", func() bool { return clock.waiting() == 1 })

	// Restarted ten minutes later: today's digest is sent again at once,
	// and the gateway knows its client_ref.
	clock.Advance(10 * time.Minute)
	reg2 := start(t)
	waitFor("the restarted digest", func() bool {
		v, _ := counter(t, reg2, "smsgw_fineract_digests_total", map[string]string{"outcome": "duplicate"})
		return v == 1
	})
	if n := len(sim.Submits()); n != 1 {
		t.Fatalf("%d submits after a restart, want 1", n)
	}
}

// TestDigestReload: a reload that moves the digest's time applies to the
// wait already under way.
func TestDigestReload(t *testing.T) {
	fake, err := fakefineract.New(os.DirFS("testdata/events"))
	if err != nil {
		t.Fatal(err)
	}
	fc := newClient(t, newServer(t, fake), 5*time.Second, nil)
	gw := &recorder{}
	texts, err := fineract.NewTexts(fineract.TextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	events := &fineract.EventsConfig{Digest: &fineract.DigestConfig{At: "17:30", TimeZone: "Africa/Nairobi"}}
	n, err := fineract.NewNotifier(fineract.NotifierOptions{Gateway: gw, Fineract: fc, Region: "KE"}, events, texts)
	if err != nil {
		t.Fatal(err)
	}
	nairobi, _ := time.LoadLocation("Africa/Nairobi")
	clock := &fakeClock{now: time.Date(2025, 4, 9, 16, 0, 0, 0, nairobi)}
	d, err := fineract.NewDigest(fineract.DigestOptions{Notifier: n, Fineract: fc, Gateway: gw, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	testutil.Eventually(t, 10*time.Second, func() error {
		if clock.waiting() != 1 {
			return fmt.Errorf("%d waiting", clock.waiting())
		}
		return nil
	})
	events.Digest.At = "16:30"
	if err := n.Update(events, texts); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if clock.waiting() != 2 { // the 17:30 wait, abandoned, and 16:30's
			return fmt.Errorf("%d waiting", clock.waiting())
		}
		return nil
	})
	clock.Advance(30 * time.Minute)
	testutil.Eventually(t, 10*time.Second, func() error {
		if sent := gw.all(); len(sent) != 1 || sent[0].GetClientRef() != "fineract-digest:2025-04-09:5" {
			return fmt.Errorf("sent %v", sent)
		}
		return nil
	})
}
