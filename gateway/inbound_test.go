package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/keyword"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/routing"
)

// inboundHarness is an engine with two tenants (the second owns shortcode
// 22555), opt-out wording and keyword rules, and a carrier that records what
// it is asked to send.
type inboundHarness struct {
	*harness
	carrier *fakeConnector
	mu      sync.Mutex
	sent    []*gateway.Message
}

func newInboundHarness(t *testing.T, allowTransactional bool, rules ...keyword.Rule) *inboundHarness {
	t.Helper()
	return newInboundHarnessWith(t, allowTransactional, nil, rules...)
}

// newInboundHarnessTuned is newInboundHarness with further options.
func newInboundHarnessTuned(t *testing.T, tune func(*gateway.Options), rules ...keyword.Rule) *inboundHarness {
	t.Helper()
	return newInboundHarnessWith(t, false, tune, rules...)
}

func newInboundHarnessWith(t *testing.T, allowTransactional bool, tune func(*gateway.Options), rules ...keyword.Rule) *inboundHarness {
	t.Helper()
	ih := &inboundHarness{}
	ih.carrier = newFake("c", 10, func(m *gateway.Message, idx int) gateway.PartResult {
		ih.mu.Lock()
		ih.sent = append(ih.sent, m)
		ih.mu.Unlock()
		return ok(m, idx)
	})
	table, err := keyword.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	ih.harness = newHarnessWith(t, []routing.Route{route("+", "c", 1)}, 0, func(o *gateway.Options) {
		o.Tenants = []gateway.Tenant{
			{ID: "t", DefaultRegion: "KE", Sender: "MFI"},
			{ID: "mfi-b", DefaultRegion: "KE", Sender: "MFIB", Senders: []string{"22555"}, OptOut: gateway.OptOut{
				StopReply: "Stopped.", StartReply: "Welcome back.", HelpReply: "Text STOP to stop.",
				AllowTransactional: allowTransactional,
			}},
		}
		o.Keywords = table
		o.TaskRetryBase = 5 * time.Millisecond
		o.TaskRetryMax = 20 * time.Millisecond
		o.TaskAttempts = 4
		if tune != nil {
			tune(o)
		}
	}, ih.carrier)
	return ih
}

// mo delivers an inbound message the way a connector does.
func (ih *inboundHarness) mo(t *testing.T, ref, from, to, text string) *gateway.Inbound {
	t.Helper()
	in := &gateway.Inbound{Carrier: "c", CarrierRef: ref, From: from, To: to, Text: text}
	if err := ih.carrier.sink.HandleInbound(context.Background(), []*gateway.Inbound{in}); err != nil {
		t.Fatal(err)
	}
	return in
}

// sentTo returns the texts of the messages the carrier was asked to send to
// a number (once per message, however many parts).
func (ih *inboundHarness) sentTo(to string) []string {
	ih.mu.Lock()
	defer ih.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, m := range ih.sent {
		if m.To == to && !seen[m.ID] {
			seen[m.ID] = true
			out = append(out, m.Text)
		}
	}
	return out
}

func (ih *inboundHarness) waitSent(t *testing.T, to string, want ...string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := ih.sentTo(to); !slices.Equal(got, want) {
			return fmt.Errorf("sent to %s: %q, want %q", to, got, want)
		}
		return nil
	})
}

const client = "+254712345678"

func TestInboundTenantByShortcodeAndKeywordReply(t *testing.T) {
	ih := newInboundHarness(t, false,
		keyword.Rule{Keywords: []string{"BAL"}, Tenants: []string{"mfi-b"}, Reply: "Your balance is KES 100."},
		keyword.Rule{Name: "hours", Keywords: []string{"HOURS"}, Reply: "Open 8 to 5."},
	)
	in := ih.mo(t, "r1", client, "22555", "bal please")
	if in.Tenant != "mfi-b" || in.Keyword != "BAL" {
		t.Fatalf("inbound to 22555: tenant %q keyword %q, want mfi-b BAL", in.Tenant, in.Keyword)
	}
	ih.waitSent(t, client, "Your balance is KES 100.")
	// The carrier resends the same MO (its ack was lost): no second reply.
	ih.mo(t, "r1", client, "22555", "bal please")
	other := ih.mo(t, "r2", client, "40404", "HOURS")
	if other.Tenant != "t" || other.Keyword != "hours" {
		t.Errorf("inbound to an unknown number: tenant %q keyword %q, want the first tenant and hours", other.Tenant, other.Keyword)
	}
	ih.waitSent(t, client, "Your balance is KES 100.", "Open 8 to 5.")
	ih.mu.Lock()
	reply := ih.sent[0]
	ih.mu.Unlock()
	if reply.From != "22555" || reply.PinnedCarrier != "c" || reply.Tenant != "mfi-b" {
		t.Errorf("reply from %q via %q for %q, want from the shortcode, through the inbound carrier, for mfi-b", reply.From, reply.PinnedCarrier, reply.Tenant)
	}
	// A tenant's rule does not answer another tenant's clients.
	none := ih.mo(t, "r3", client, "40404", "BAL")
	if none.Keyword != "" {
		t.Errorf("mfi-b's BAL matched for tenant t: %q", none.Keyword)
	}
}

func TestStopStartHelp(t *testing.T) {
	ih := newInboundHarness(t, false)
	ctx := context.Background()
	accept := func(cat gateway.Category) gateway.AcceptOutcome {
		t.Helper()
		out, err := ih.engine.Accept(ctx, "mfi-b", []gateway.SendRequest{{To: "0712345678", Text: "Promo", Category: cat}})
		if err != nil || out[0].Err != nil {
			t.Fatalf("Accept: %v %v", err, out[0].Err)
		}
		return out[0]
	}
	stop := ih.mo(t, "s1", client, "22555", "stop")
	if stop.Keyword != gateway.KeywordStop {
		t.Fatalf("STOP matched %q", stop.Keyword)
	}
	ih.waitSent(t, client, "Stopped.")
	for _, cat := range []gateway.Category{"", gateway.CategoryMarketing, gateway.CategoryTransactional} {
		o := accept(cat)
		if o.Status != gateway.StatusOptedOut {
			t.Errorf("%q message to an opted-out number: %s, want OPTED_OUT", cat, o.Status)
		}
		m, err := ih.engine.Get(ctx, "mfi-b", o.ID)
		if err != nil || m.Status != gateway.StatusOptedOut || m.LastError == "" {
			t.Errorf("stored as %+v, %v", m, err)
		}
	}
	// HELP is answered even to a number that opted out: it answers them.
	ih.mo(t, "h1", client, "22555", "Help")
	ih.waitSent(t, client, "Stopped.", "Text STOP to stop.")
	// Another tenant's list is its own.
	out, err := ih.engine.Accept(ctx, "t", []gateway.SendRequest{{To: client, Text: "Hi"}})
	if err != nil || out[0].Status != gateway.StatusAccepted {
		t.Errorf("tenant t's message: %+v, %v", out, err)
	}
	ih.mo(t, "s2", client, "22555", "START")
	ih.waitSent(t, client, "Stopped.", "Text STOP to stop.", "Hi", "Welcome back.")
	if o := accept(gateway.CategoryMarketing); o.Status != gateway.StatusAccepted {
		t.Errorf("after START: %s, want ACCEPTED", o.Status)
	}
	// The SQLite store answered every check from its list in memory.
	if n := ih.store.(gateway.OptOutMemory).OptOutDatabaseReads(); n != 0 {
		t.Errorf("%d opt-out checks read the database, want 0", n)
	}
}

func TestTransactionalAllowedWhenTenantSays(t *testing.T) {
	ih := newInboundHarness(t, true)
	ih.mo(t, "s1", client, "22555", "STOP")
	ih.waitSent(t, client, "Stopped.")
	out, err := ih.engine.Accept(context.Background(), "mfi-b", []gateway.SendRequest{
		{To: client, Text: "Receipt: KES 500 received", Category: gateway.CategoryTransactional},
		{To: client, Text: "Promo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Status != gateway.StatusAccepted || out[1].Status != gateway.StatusOptedOut {
		t.Fatalf("transactional %s, marketing %s; want ACCEPTED and OPTED_OUT", out[0].Status, out[1].Status)
	}
	ih.waitSent(t, client, "Stopped.", "Receipt: KES 500 received")
	bad, err := ih.engine.Accept(context.Background(), "mfi-b", []gateway.SendRequest{{To: client, Text: "x", Category: "spam"}})
	var fe *gateway.FieldError
	if err != nil || !errors.As(bad[0].Err, &fe) || fe.Field != "category" {
		t.Errorf("an unknown category: %v, %v; want a category field error", bad, err)
	}
}

func TestTasksRetryThenSucceedOrGiveUp(t *testing.T) {
	ih := newInboundHarness(t, false)
	var (
		runs     atomic.Int32
		failures = int32(2)
		done     = make(chan gateway.Task, 1)
	)
	if err := ih.engine.HandleTasks("test.flaky", func(ctx context.Context, tk gateway.Task) error {
		if runs.Add(1) <= failures {
			return errors.New("HTTP 503")
		}
		done <- tk
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := ih.engine.HandleTasks("test.flaky", nil); err == nil {
		t.Error("a second handler for one kind was accepted")
	}
	var gaveUp atomic.Int32
	if err := ih.engine.HandleTasks("test.bad", func(context.Context, gateway.Task) error {
		gaveUp.Add(1)
		return gateway.GiveUp(errors.New("HTTP 404"))
	}); err != nil {
		t.Fatal(err)
	}
	var always atomic.Int32
	if err := ih.engine.HandleTasks("test.down", func(context.Context, gateway.Task) error {
		always.Add(1)
		return errors.New("connection refused")
	}); err != nil {
		t.Fatal(err)
	}
	n, err := ih.engine.EnqueueTasks(context.Background(), []gateway.Task{
		{Key: "k1", Kind: "test.flaky", Payload: []byte("p")},
		{Key: "k2", Kind: "test.bad"},
		{Key: "k3", Kind: "test.down"},
		{Key: "k1", Kind: "test.flaky"},
	})
	if err != nil || n != 3 {
		t.Fatalf("EnqueueTasks = %d, %v", n, err)
	}
	select {
	case tk := <-done:
		if tk.Attempts != 2 || tk.LastError != "HTTP 503" || string(tk.Payload) != "p" {
			t.Errorf("third run saw %+v", tk)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the flaky task never succeeded")
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if always.Load() != 4 {
			return fmt.Errorf("the failing task ran %d times, want TaskAttempts (4)", always.Load())
		}
		return nil
	})
	if gaveUp.Load() != 1 {
		t.Errorf("a GiveUp task ran %d times, want 1", gaveUp.Load())
	}
}

// TestFollowResumesFromItsCursor: a follower goes on after its cursor's
// acknowledged position, and sees only the kind it follows.
func TestFollowResumesFromItsCursor(t *testing.T) {
	h := newHarness(t, []routing.Route{route("+", "a", 1)}, newFake("a", 10, ok))
	first := h.send(t, gateway.SendRequest{To: client, Text: "one"})
	h.waitStatus(t, first, gateway.StatusSubmitted)
	seen := func(want int) []gateway.Event {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var got []gateway.Event
		errc := make(chan error, 1)
		go func() {
			errc <- h.engine.Follow(ctx, "test", gateway.EventStatus, func(_ context.Context, evs []gateway.Event) error {
				got = append(got, evs...)
				if len(got) >= want {
					cancel()
				}
				return nil
			})
		}()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Follow: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Follow saw %d events, want %d", len(got), want)
		}
		return got
	}
	if evs := seen(2); evs[0].MessageID != first || evs[0].Status != gateway.StatusAccepted || evs[1].Status != gateway.StatusSubmitted {
		t.Fatalf("first follow: %+v", evs)
	}
	// An operator's action between them is on the log, but not for a
	// follower of status events (Kannel's dlr-urls, the SMPP server's
	// receipts): it passes over it.
	if err := h.engine.RecordAudit(t.Context(), gateway.AuditEntry{User: "noc", Role: "operator", Action: "pause-carrier", Target: "a"}); err != nil {
		t.Fatal(err)
	}
	second := h.send(t, gateway.SendRequest{To: client, Text: "two"})
	h.waitStatus(t, second, gateway.StatusSubmitted)
	evs := seen(2)
	for _, ev := range evs {
		if ev.MessageID != second || ev.Kind != gateway.EventStatus || ev.Audit != nil {
			t.Errorf("a resumed follower saw %s again (or another): %+v", first, ev)
		}
	}
}

func TestCarrierPinnedByTheCaller(t *testing.T) {
	a, b := newFake("a", 10, ok), newFake("b", 10, ok)
	h := newHarness(t, []routing.Route{route("+", "a", 0.1), route("+", "b", 0.9)}, a, b)
	id := h.send(t, gateway.SendRequest{To: client, Text: "pinned", Carrier: "b"})
	if m := h.waitStatus(t, id, gateway.StatusSubmitted); m.Carrier != "b" || m.PinnedCarrier != "b" {
		t.Errorf("sent through %q (pinned %q), want the dearer b the caller named", m.Carrier, m.PinnedCarrier)
	}
	out, err := h.engine.Accept(context.Background(), "t", []gateway.SendRequest{{To: client, Text: "x", Carrier: "nope"}})
	var fe *gateway.FieldError
	if err != nil || !errors.As(out[0].Err, &fe) || fe.Field != "carrier" {
		t.Errorf("an unknown carrier: %+v, %v; want a carrier field error", out, err)
	}
}

// claimCounter counts the claims that leased tasks.
type claimCounter struct {
	gateway.Store
	claims atomic.Int32
}

func (c *claimCounter) ClaimTasks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]gateway.Task, error) {
	tasks, err := c.Store.ClaimTasks(ctx, now, limit, lease)
	if len(tasks) > 0 {
		c.claims.Add(1)
	}
	return tasks, err
}

// TestTasksRunOnAPoolClaimedInBatches: 200 tasks run on at most 32 at once
// (and all 32 are used), each once; and as slots free up they are claimed
// several at a time, not one claim (a store write) per task.
func TestTasksRunOnAPoolClaimedInBatches(t *testing.T) {
	var counter *claimCounter
	ih := newInboundHarnessTuned(t, func(o *gateway.Options) {
		counter = &claimCounter{Store: o.Store}
		o.Store = counter
		o.PollEvery = time.Minute // claims come from enqueues and freed slots only
	})
	const tasks, slots = 200, 32
	var (
		running, most atomic.Int32
		mu            sync.Mutex
		ran           = map[string]int{}
		gate          = make(chan struct{})
	)
	if err := ih.engine.HandleTasks("test.slow", func(ctx context.Context, tk gateway.Task) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mu.Lock()
		ran[tk.Key]++
		mu.Unlock()
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var batch []gateway.Task
	for i := range tasks {
		batch = append(batch, gateway.Task{Key: fmt.Sprintf("slow-%d", i), Kind: "test.slow"})
	}
	if n, err := ih.engine.EnqueueTasks(context.Background(), batch); err != nil || n != tasks {
		t.Fatalf("EnqueueTasks = %d, %v", n, err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := running.Load(); n != slots {
			return fmt.Errorf("%d tasks running, want %d", n, slots)
		}
		return nil
	})
	close(gate)
	testutil.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(ran) != tasks {
			return fmt.Errorf("%d of %d tasks ran", len(ran), tasks)
		}
		return nil
	})
	mu.Lock()
	for k, n := range ran {
		if n != 1 {
			t.Errorf("task %s ran %d times", k, n)
		}
	}
	mu.Unlock()
	if m := most.Load(); m > slots {
		t.Errorf("%d tasks ran at once, want at most %d", m, slots)
	}
	// The first claim takes 32; each later one waits for 8 free slots.
	if c := counter.claims.Load(); c > 1+(tasks-slots)/8+1 {
		t.Errorf("%d claims for %d tasks, want at most %d (a claim per 8 freed slots)", c, tasks, 1+(tasks-slots)/8+1)
	}
}
