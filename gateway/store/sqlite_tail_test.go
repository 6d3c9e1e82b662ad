package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// openTail opens a SQLite store on path whose event tail holds n events.
func openTail(t *testing.T, path string, n int) *sqliteStore {
	t.Helper()
	s, err := Open(context.Background(), Config{Path: path}, Options{EventTail: n})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*sqliteStore)
}

// sameAsSQLite checks reads of the log (each tenant, fromSeq at and
// around every boundary, several limits, with and without messages)
// against the same read from SQLite, and that the tail answered exactly
// the reads from its first seq on. It returns how many reads the tail
// answered.
func sameAsSQLite(t *testing.T, s *sqliteStore, step string) int {
	t.Helper()
	ctx := t.Context()
	var last int64
	if err := s.rdb.QueryRowContext(ctx, sqlLastSeq).Scan(&last); err != nil {
		t.Fatal(err)
	}
	through, err := s.PrunedThrough(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.tail.mu.RLock()
	start := s.tail.start
	s.tail.mu.RUnlock()
	// Every boundary: the log's start, the pruned prefix, the tail's
	// first seq, the log's end (and past it), one seq in the tail.
	froms := map[int64]bool{(start + last) / 2: true, last + 2: true}
	for _, at := range []int64{0, through, start, last} {
		for d := int64(-1); d <= 1; d++ {
			froms[max(at+d, 0)] = true
		}
	}
	answered := 0
	for _, tenant := range []string{"", "t1", "t2", "nobody"} {
		limits := []int{1, 1000}
		if tenant == "nobody" {
			limits = limits[1:]
		}
		for from := range froms {
			for _, limit := range limits {
				for v := range 2 {
					_, _, fromTail := s.tail.events(tenant, from, limit, v == 1)
					s.tail.mu.RLock()
					want := s.tail.valid && from >= s.tail.start
					s.tail.mu.RUnlock()
					if fromTail != want {
						t.Fatalf("%s: tail answers fromSeq %d: %v, want %v (tail from %d)", step, from, fromTail, want, s.tail.start)
					}
					if fromTail {
						answered++
					}
					got, err := s.events(ctx, tenant, from, limit, v)
					if err != nil {
						t.Fatalf("%s: events: %v", step, err)
					}
					sql, err := s.queryEvents(ctx, tenant, from, limit, v)
					if err != nil {
						t.Fatalf("%s: queryEvents: %v", step, err)
					}
					if !reflect.DeepEqual(got, sql) {
						t.Fatalf("%s: tenant %q from %d limit %d messages %v:\ngot  %s\nwant %s", step, tenant, from, limit, v == 1,
							dumpEvents(got), dumpEvents(sql))
					}
				}
			}
		}
	}
	return answered
}

func dumpEvents(evs []gateway.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %d %s %s %s %s %q ref=%q", e.Seq, e.Kind, e.Tenant, e.MessageID, e.Status, e.Detail, e.ClientRef)
		if e.Message != nil {
			fmt.Fprintf(&b, " msg=%+v", *e.Message)
		}
		if e.Inbound != nil {
			fmt.Fprintf(&b, " in=%+v", *e.Inbound)
		}
		if e.Audit != nil {
			fmt.Fprintf(&b, " audit=%+v", *e.Audit)
		}
	}
	return b.String()
}

// TestEventTailAnswersAsSQLite runs every kind of write that appends
// events, alone and grouped in one batch, a failed operation, retention
// and a restart, and compares after each what the tail answers with what
// SQLite answers, for a tail shorter than the log and one that holds it all.
func TestEventTailAnswersAsSQLite(t *testing.T) {
	for _, size := range []int{8, DefaultEventTail} {
		t.Run(fmt.Sprint(size), func(t *testing.T) { tailScenario(t, size) })
	}
}

func tailScenario(t *testing.T, size int) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tail.db")
	s := openTail(t, path, size)
	id := func(n int) string { return fmt.Sprintf("01900000-0000-7000-8000-%012d", n) }
	msg := func(n int, tenant string, parts int) *gateway.Message {
		m := oneMsg(tenant)
		m.ID, m.ClientRef = id(n), fmt.Sprintf("ref-%d", n)
		m.To = fmt.Sprintf("+2547000000%02d", n)
		m.Meta = map[string]string{"dlr-url": fmt.Sprintf("http://app/dlr?id=%d&s=%%d", n)}
		m.Parts = nil
		for i := range parts {
			m.Parts = append(m.Parts, gateway.Part{Index: i})
		}
		return m
	}
	if got := sameAsSQLite(t, s, "empty"); got == 0 {
		t.Fatal("the tail answered no read of an empty log")
	}

	// Accepts: two tenants, metadata JSON changes (invalid UTF-8), no
	// metadata, a duplicate client ref (no event).
	m1, m2, m3 := msg(1, "t1", 1), msg(2, "t2", 3), msg(3, "t1", 2)
	m2.Meta["bad"] = "caf\xe9"
	m3.Meta, m3.ClientRef = nil, ""
	if _, err := s.Accept(ctx, []*gateway.Message{m1, m2, m3}); err != nil {
		t.Fatal(err)
	}
	dup := msg(1, "t1", 1)
	dup.ID = id(50)
	if res, err := s.Accept(ctx, []*gateway.Message{dup, msg(4, "t2", 1), msg(5, "t1", 1)}); err != nil || !res[0].Duplicate {
		t.Fatalf("Accept = %+v, %v; want the first a duplicate", res, err)
	}
	sameAsSQLite(t, s, "accepted")
	cut := time.Now()
	testSleepPastClock(cut)

	// Submits: part 1 before part 0 (the message's carrier, then part 0's).
	sub := func(n, part int, carrier, cid string) gateway.SubmitRecord {
		return gateway.SubmitRecord{MessageID: id(n), Index: part, Carrier: carrier, CarrierID: cid, Cost: 0.1, Currency: "KES"}
	}
	for _, recs := range [][]gateway.SubmitRecord{
		{sub(2, 1, "c1", "b2-1")},
		{sub(2, 0, "c2", "b2-0"), sub(2, 2, "", "b2-2")},
		{sub(1, 0, "c1", "b1")},
	} {
		if err := s.RecordSubmits(ctx, recs); err != nil {
			t.Fatal(err)
		}
		sameAsSQLite(t, s, fmt.Sprintf("submits %+v", recs))
	}

	// One batch of every kind: grouped submits (one message twice, so one
	// runs alone; one unknown part, replayed without it), receipts, an
	// inbound message, a finish, a cancel and an audit entry.
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	var errs [9]error
	calls := []func() error{
		func() error { return s.RecordSubmits(ctx, []gateway.SubmitRecord{sub(3, 0, "c1", "b3-0")}) },
		func() error {
			return s.RecordSubmits(ctx, []gateway.SubmitRecord{sub(3, 1, "c2", "b3-1"), sub(3, 0, "c2", "b3-0x")})
		},
		func() error { return s.RecordSubmits(ctx, []gateway.SubmitRecord{sub(99, 0, "c1", "ghost")}) },
		func() error {
			_, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c1", CarrierID: "b1", Status: gateway.StatusDelivered, State: "DELIVRD"}})
			return err
		},
		func() error {
			_, err := s.RecordInbound(ctx, []*gateway.Inbound{{Tenant: "t2", Carrier: "c1", CarrierRef: "mo-1",
				From: "+254700000099", To: "4040", Text: "STOP", Keyword: "stop"}})
			return err
		},
		func() error { return s.Finish(ctx, id(4), time.Time{}, gateway.StatusFailed, "no route") },
		func() error { return s.Cancel(ctx, "t1", id(5), time.Now()) },
		func() error {
			_, err := s.Accept(ctx, []*gateway.Message{msg(6, "t2", 1)})
			return err
		},
		func() error {
			return s.RecordAudit(ctx, gateway.AuditEntry{User: "noc", Role: "operator", Tenant: "t2", Source: "10.0.0.1",
				Action: "opt-out", Target: "t2 +2547*****099", Outcome: "done"})
		},
	}
	for i, call := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = call() }()
	}
	waitQueued(t, s, len(calls))
	release()
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 2) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	sameAsSQLite(t, s, "one batch")

	// A failed operation's events, queued or already inserted, never reach
	// the tail; the seqs its rollback gave back are used again.
	boom := errors.New("boom")
	if err := s.do(ctx, "fail", func(w *wtx) error {
		w.event("t1", id(1), gateway.StatusDelivered, "never")
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing op: %v", err)
	}
	if err := s.do(ctx, "fail after insert", func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO events (kind, tenant, message_id, status, detail, at) VALUES ('status', 't1', $1, 'DELIVERED', 'never', 0)`, id(1)); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing op: %v", err)
	}
	if _, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c2", CarrierID: "b2-0", Status: gateway.StatusDelivered, State: "DELIVRD"}}); err != nil {
		t.Fatal(err)
	}
	sameAsSQLite(t, s, "after failed operations")
	evs, err := s.Events(ctx, "", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.Detail == "never" {
			t.Fatalf("a failed operation's event %d is in the log", e.Seq)
		}
		if i > 0 && e.Seq != evs[i-1].Seq+1 {
			t.Fatalf("seq %d after %d: a rolled-back batch's seqs should be used again", e.Seq, evs[i-1].Seq)
		}
	}

	// Retention: the accepts' events go, from SQLite and from the tail.
	n, err := s.PruneEvents(ctx, cut)
	if err != nil || n != 5 {
		t.Fatalf("PruneEvents = %d, %v; want the 5 ACCEPTED events", n, err)
	}
	through, err := s.PrunedThrough(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameAsSQLite(t, s, "pruned")
	for _, from := range []int64{0, through, through + 1} {
		evs, err := s.EventsWithMessages(ctx, "", from, 1000)
		if err != nil || len(evs) == 0 || evs[0].Seq <= through {
			t.Fatalf("after prune through %d, from %d: %s, %v", through, from, dumpEvents(evs), err)
		}
	}

	// A restart: the tail starts empty after the last seq, older reads go
	// to SQLite; new events of messages accepted before it are completed
	// from SQLite.
	last := evs[len(evs)-1].Seq
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTail(t, path, size)
	if s.tail.n != 0 || s.tail.start != last+1 {
		t.Fatalf("reopened tail: %d events from %d, want none from %d", s.tail.n, s.tail.start, last+1)
	}
	sameAsSQLite(t, s, "reopened")
	if _, err := s.RecordReceipts(ctx, []gateway.Receipt{
		{Carrier: "c1", CarrierID: "b2-1", Status: gateway.StatusDelivered, State: "DELIVRD"},
		{Carrier: "c2", CarrierID: "b3-1", Status: gateway.StatusUndelivered, State: "UNDELIV", Error: "034"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSubmits(ctx, []gateway.SubmitRecord{sub(6, 0, "c2", "b6")}); err != nil {
		t.Fatal(err)
	}
	if got := sameAsSQLite(t, s, "events after reopening"); got == 0 {
		t.Fatal("the tail answered nothing after reopening")
	}
	if _, miss, _ := s.tail.events("", last+1, 1000, true); len(miss) == 0 {
		t.Fatal("no event after reopening needed its message from SQLite")
	}
}

// testSleepPastClock waits until the clock reads after t, so that events
// appended from now on are dated after it.
func testSleepPastClock(t time.Time) {
	for !time.Now().After(t) {
		time.Sleep(time.Millisecond)
	}
}

// TestEventTailBounds checks the ring on its own: eviction by count and by
// bytes, messages kept while in flight or pointed to, and forgotten past
// their bound, a failed COMMIT, a batch that does not follow the last.
func TestEventTailBounds(t *testing.T) {
	row := func(msg string, st gateway.Status, accepted bool) eventRow {
		r := eventRow{kind: gateway.EventStatus, tenant: "t1", msgID: msg, status: st}
		if accepted {
			r.accepted = oneMsg("t1")
		}
		return r
	}
	seqs := func(tl *eventTail, from int64) []int64 {
		evs, _, ok := tl.events("", from, 100, true)
		if !ok {
			return nil
		}
		var out []int64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	tl := newEventTail(4, 10)
	tl.markRead()         // a follower reads: the tail keeps messages
	tl.maxBytes = 1 << 20 // the count first
	tl.commit(10, []eventRow{row("a", gateway.StatusAccepted, true), row("b", gateway.StatusAccepted, true),
		row("a", gateway.StatusDelivered, false)}, 1, nil)
	if got := seqs(tl, 10); !reflect.DeepEqual(got, []int64{10, 11, 12}) {
		t.Fatalf("seqs = %v", got)
	}
	if a := tl.msgs["a"]; a == nil || a.refs != 2 || a.live {
		t.Fatalf("message a: %+v; want 2 events, finished", a)
	}
	tl.commit(13, []eventRow{row("c", gateway.StatusAccepted, true), row("d", gateway.StatusAccepted, true)}, 1, nil)
	if got := seqs(tl, 11); !reflect.DeepEqual(got, []int64{11, 12, 13, 14}) {
		t.Fatalf("after eviction seqs = %v, want 11..14", got)
	}
	if _, _, ok := tl.events("", 10, 1, false); ok {
		t.Fatal("the tail answers for an evicted seq")
	}
	tl.commit(15, []eventRow{row("e", gateway.StatusSubmitted, false), row("b", gateway.StatusSubmitted, false)}, 1, nil)
	if _, ok := tl.msgs["a"]; ok {
		t.Fatal("message a kept after it finished and its last event left")
	}
	if b := tl.msgs["b"]; b == nil || b.refs != 1 || !b.live {
		t.Fatalf("message b: %+v; want kept in flight, with its new event", b)
	}
	evs, miss, _ := tl.events("", 15, 2, false)
	if len(evs) != 2 || !reflect.DeepEqual(miss, []int{0}) {
		t.Fatalf("read %s, miss %v; want e's message to read from SQLite", dumpEvents(evs), miss)
	}

	// Bytes: a long inbound text pushes older events out until they hold
	// a third of the bound; the messages in flight stay.
	tl.maxBytes = 1850
	big := eventRow{kind: gateway.EventInbound, tenant: "t1", inbound: &gateway.Inbound{Text: strings.Repeat("x", 200)}}
	tl.commit(17, []eventRow{big}, 1, nil)
	if got := seqs(tl, tl.start); !reflect.DeepEqual(got, []int64{16, 17}) || tl.bytes > tl.maxBytes/3 {
		t.Fatalf("seqs = %v (%d bytes of %d), want 16 and 17", got, tl.bytes, tl.maxBytes)
	}
	if len(tl.msgs) != 3 || len(tl.live) != 3 {
		t.Fatalf("messages %v, %d in flight; want b, c and d in flight", tl.msgs, len(tl.live))
	}
	// With no room left in the messages' two thirds, a new message is not
	// kept; when one is needed, those in flight past tailStale go, the
	// oldest first, until there is room.
	n := row("n", gateway.StatusAccepted, true)
	n.accepted.ClientRef = "loan-n"
	tl.commit(18, []eventRow{n}, 1, nil)
	if _, ok := tl.msgs["n"]; ok {
		t.Fatal("message n kept with no room left")
	}
	if _, miss, _ := tl.events("", 18, 1, true); !reflect.DeepEqual(miss, []int{0}) {
		t.Fatalf("n's event: miss %v, want its message read from SQLite", miss)
	}
	// Its client ref, all that Events needs, is remembered.
	if evs, miss, _ := tl.events("", 18, 1, false); len(miss) != 0 || evs[0].ClientRef != "loan-n" {
		t.Fatalf("n's event without its message: %s, miss %v; want its client ref remembered", dumpEvents(evs), miss)
	}
	tl.maxBytes = 2600
	tl.commit(19, nil, 1+tailStale+1, nil)
	b, c, d := tl.msgs["b"], tl.msgs["c"], tl.msgs["d"]
	if b != nil || c == nil || d == nil || len(tl.live) != 2 {
		t.Fatalf("messages %v, %d in flight; want b forgotten, c and d in flight", tl.msgs, len(tl.live))
	}
	if room := tl.msgRoom(); room < 512 || tl.heldBytes != 0 || tl.liveBytes != c.size+d.size {
		t.Fatalf("room %d, held %d, live %d", room, tl.heldBytes, tl.liveBytes)
	}

	tl.fail()
	if _, _, ok := tl.events("", 19, 1, false); ok {
		t.Fatal("the tail answers after a failed commit")
	}
	tl.commit(18, nil, 1, nil)
	if _, _, ok := tl.events("", 18, 1, false); ok {
		t.Fatal("the tail answers after a failed commit and one without events")
	}
	tl.commit(20, []eventRow{row("f", gateway.StatusSubmitted, false)}, 1, nil)
	if got := seqs(tl, 20); !reflect.DeepEqual(got, []int64{20}) {
		t.Fatalf("seqs = %v, want 20", got)
	}
	if _, _, ok := tl.events("", 19, 1, false); ok {
		t.Fatal("the tail answers for a seq before the batch that made it valid again")
	}
	tl.commit(22, []eventRow{row("g", gateway.StatusSubmitted, false)}, 1, nil) // 21 never seen: start again
	if got, _, ok := tl.events("", 20, 5, false); ok {
		t.Fatalf("the tail answers across a hole: %v", got)
	}
	tl.dropThrough(25)
	if tl.n != 0 || tl.start != 26 {
		t.Fatalf("after dropping through 25: %d events from %d", tl.n, tl.start)
	}
}

// TestEventTailRemembersSubmittedRefs: a submit of a message the tail
// does not keep (accepted before the store opened, or with no room left)
// leaves its client ref, read with the submit, for Events; not while
// nobody reads the tail.
func TestEventTailRemembersSubmittedRefs(t *testing.T) {
	sub := eventRow{kind: gateway.EventStatus, tenant: "t1", msgID: "x", status: gateway.StatusSubmitted}
	set := carrierSet{msgID: "x", carrier: "alpha", part0: true, partCarrier: "alpha", carrierID: "c-1", clientRef: "loan-x"}

	unread := newEventTail(8, 1)
	unread.commit(1, []eventRow{sub}, 1, []carrierSet{set})
	if _, miss, _ := unread.events("", 1, 10, false); !reflect.DeepEqual(miss, []int{0}) {
		t.Fatalf("unread tail: miss %v, want the client ref read from SQLite", miss)
	}

	tl := newEventTail(8, 1)
	tl.markRead()
	tl.commit(1, []eventRow{sub}, 1, []carrierSet{set})
	if evs, miss, ok := tl.events("", 1, 10, false); !ok || len(miss) != 0 || len(evs) != 1 || evs[0].ClientRef != "loan-x" {
		t.Fatalf("events %s, miss %v; want x's client ref from its submit", dumpEvents(evs), miss)
	}
	if _, miss, _ := tl.events("", 1, 10, true); !reflect.DeepEqual(miss, []int{0}) {
		t.Fatalf("with messages: miss %v, want x's message read from SQLite", miss)
	}
}

// TestClientRefsBounded checks that the remembered client refs stay
// within two generations and that the newest generation answers, an empty
// ref as well as any other.
func TestClientRefsBounded(t *testing.T) {
	var c clientRefs
	const n = 3*refGeneration + 5
	for i := range n {
		c.put(fmt.Sprint("m", i), fmt.Sprint("ref-", i))
	}
	c.putAll(map[string]string{"none": ""})
	if size := len(c.cur) + len(c.old); size > 2*refGeneration {
		t.Fatalf("%d refs kept, want at most %d", size, 2*refGeneration)
	}
	evs := []gateway.Event{{MessageID: "m0"}, {MessageID: fmt.Sprint("m", n-refGeneration)}, {MessageID: fmt.Sprint("m", n-1)},
		{MessageID: "none", ClientRef: "stale"}}
	left := c.resolve(evs, []int{0, 1, 2, 3})
	if !reflect.DeepEqual(left, []int{0}) || evs[0].ClientRef != "" || evs[1].ClientRef != fmt.Sprint("ref-", n-refGeneration) ||
		evs[2].ClientRef != fmt.Sprint("ref-", n-1) || evs[3].ClientRef != "" {
		t.Fatalf("left %v, events %+v; want m0 forgotten and the newest answered", left, evs)
	}
	c.forget()
	if left := c.resolve(evs, []int{1}); !reflect.DeepEqual(left, []int{1}) {
		t.Fatalf("left %v after forget, want [1]", left)
	}
}

// TestEventTailGrows checks that the ring, small at first, doubles in
// order when its oldest event is not at its start.
func TestEventTailGrows(t *testing.T) {
	tl := newEventTail(2*minTailRing, 1)
	tl.markRead()
	if len(tl.ring) != minTailRing {
		t.Fatalf("ring of %d, want %d at first", len(tl.ring), minTailRing)
	}
	rows := func(n int) []eventRow {
		out := make([]eventRow, n)
		for i := range out {
			out[i] = eventRow{kind: gateway.EventStatus, tenant: "t1", msgID: fmt.Sprint(i), status: gateway.StatusSubmitted}
		}
		return out
	}
	tl.commit(1, rows(1000), 1, nil)
	tl.dropThrough(500)
	tl.commit(1001, rows(1000), 1, nil)
	if len(tl.ring) != 2*minTailRing {
		t.Fatalf("ring of %d, want %d", len(tl.ring), 2*minTailRing)
	}
	evs, _, ok := tl.events("", 0+501, 5000, false)
	if !ok || len(evs) != 1500 {
		t.Fatalf("read from 501: %d events, %v; want 1500", len(evs), ok)
	}
	for i, e := range evs {
		if e.Seq != int64(501+i) || e.MessageID != fmt.Sprint((500+i)%1000) {
			t.Fatalf("event %d: seq %d message %s", i, e.Seq, e.MessageID)
		}
	}
}

// TestEventTailManyInFlight runs a tail of 8 events (a few messages) under
// hundreds of messages in flight, accepted, submitted out of order and
// finished by receipts in random order, while followers read the log
// (from its start, for one tenant, from the middle, with and without
// messages, a few events at a time). After every write the tail's answers
// around its start and the log's end match SQLite's; at the end every
// follower has seen every event from where it began exactly once, in
// order, as SQLite has it.
func TestEventTailManyInFlight(t *testing.T) {
	ctx := t.Context()
	s := openTail(t, filepath.Join(t.TempDir(), "tail.db"), 8)
	const n = 96
	rng := rand.New(rand.NewPCG(15, 2))
	id := func(i int) string { return fmt.Sprintf("01900000-0000-7000-8000-%012d", i) }
	tenant := func(i int) string { return []string{"t1", "t2"}[i%2] }

	type follower struct {
		tenant  string
		from    int64
		withMsg bool
		got     []gateway.Event
		err     error
	}
	var (
		wg        sync.WaitGroup
		done      = make(chan struct{})
		followers []*follower
	)
	follow := func(f *follower) {
		followers = append(followers, f)
		wg.Go(func() {
			next, finished := f.from, false
			for {
				read := s.Events
				if f.withMsg {
					read = s.EventsWithMessages
				}
				evs, err := read(ctx, f.tenant, next, 1+len(f.got)%7)
				if err != nil {
					f.err = err
					return
				}
				if len(evs) == 0 {
					if finished {
						return
					}
					select {
					case <-done:
						finished = true // one more read sees what the last write appended
					case <-time.After(time.Millisecond):
					}
					continue
				}
				f.got = append(f.got, evs...)
				next = evs[len(evs)-1].Seq + 1
			}
		})
	}
	follow(&follower{from: 1, withMsg: true})
	follow(&follower{tenant: "t2", from: 0})

	var kept, missed bool // the tail held messages; it lacked some
	check := func(step string) {
		t.Helper()
		s.tail.mu.RLock()
		kept = kept || len(s.tail.msgs) > 0
		start := s.tail.start
		s.tail.mu.RUnlock()
		if _, miss, _ := s.tail.events("", start, 8, true); len(miss) > 0 {
			missed = true
		}
		var last int64
		if err := s.rdb.QueryRowContext(ctx, sqlLastSeq).Scan(&last); err != nil {
			t.Fatal(err)
		}
		for _, from := range []int64{start - 1, start, last - 1, last + 1} {
			for _, ten := range []string{"", "t1"} {
				for v := range 2 {
					got, err := s.events(ctx, ten, from, 5, v)
					if err != nil {
						t.Fatalf("%s: events: %v", step, err)
					}
					want, err := s.queryEvents(ctx, ten, from, 5, v)
					if err != nil {
						t.Fatalf("%s: queryEvents: %v", step, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: tenant %q from %d messages %v (tail from %d):\ngot  %s\nwant %s", step, ten, from, v == 1,
							start, dumpEvents(got), dumpEvents(want))
					}
				}
			}
		}
	}

	// Accept every message, 8 a call, two parts for every third one.
	for i := 0; i < n; i += 8 {
		var msgs []*gateway.Message
		for j := i; j < i+8; j++ {
			m := oneMsg(tenant(j))
			m.ID, m.ClientRef = id(j), fmt.Sprintf("ref-%d", j)
			m.To = fmt.Sprintf("+2547%08d", j)
			m.Meta = map[string]string{"dlr-url": fmt.Sprintf("http://app/dlr?id=%d", j)}
			if j%3 == 0 {
				m.Parts = append(m.Parts, gateway.Part{Index: 1})
			}
			msgs = append(msgs, m)
		}
		if _, err := s.Accept(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("accepted %d", i+8))
		if i == n/2 {
			follow(&follower{from: s.tail.start + 3, withMsg: true})
		}
	}
	// Submit every part, in random order, a few a call; finish some
	// messages by receipts as soon as their parts are out, the rest
	// after, in random order; fail a few outright.
	type part struct{ msg, idx int }
	var parts []part
	for i := range n {
		if i%17 == 5 {
			continue // failed below, never submitted
		}
		parts = append(parts, part{i, 0})
		if i%3 == 0 {
			parts = append(parts, part{i, 1})
		}
	}
	rng.Shuffle(len(parts), func(a, b int) { parts[a], parts[b] = parts[b], parts[a] })
	cid := func(p part) string { return fmt.Sprintf("c-%d-%d", p.msg, p.idx) }
	var sent []part
	// deliver reports receipts for the first few parts sent.
	deliver := func(step string) {
		k := min(len(sent), 1+rng.IntN(8))
		var rs []gateway.Receipt
		for _, p := range sent[:k] {
			rs = append(rs, gateway.Receipt{Carrier: []string{"c1", "c2"}[p.msg%2], CarrierID: cid(p),
				Status: gateway.StatusDelivered, State: "DELIVRD"})
		}
		sent = sent[k:]
		if _, err := s.RecordReceipts(ctx, rs); err != nil {
			t.Fatal(err)
		}
		check(step)
	}
	for len(parts) > 0 {
		k := min(len(parts), 1+rng.IntN(6))
		var recs []gateway.SubmitRecord
		for _, p := range parts[:k] {
			recs = append(recs, gateway.SubmitRecord{MessageID: id(p.msg), Index: p.idx, Carrier: []string{"c1", "c2"}[p.msg%2],
				CarrierID: cid(p), Cost: 0.1, Currency: "KES"})
		}
		sent, parts = append(sent, parts[:k]...), parts[k:]
		if err := s.RecordSubmits(ctx, recs); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("%d parts submitted", len(sent)))
		if rng.IntN(3) == 0 && len(sent) > 0 {
			deliver("receipts")
		}
	}
	for i := range n {
		if i%17 == 5 {
			if err := s.Finish(ctx, id(i), time.Time{}, gateway.StatusFailed, "no route"); err != nil {
				t.Fatal(err)
			}
		}
	}
	rng.Shuffle(len(sent), func(a, b int) { sent[a], sent[b] = sent[b], sent[a] })
	for len(sent) > 0 {
		deliver("late receipts")
	}
	close(done)
	wg.Wait()
	if !kept || !missed {
		t.Fatalf("the tail kept messages: %v; lacked some: %v; want both", kept, missed)
	}

	// Every message ends final; each follower saw the log from its start
	// exactly once, as SQLite holds it (a message's carrier as it stood
	// when the follower read it: none yet, or the one it ends with).
	var open int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE status NOT IN ('DELIVERED', 'FAILED')`).Scan(&open); err != nil || open != 0 {
		t.Fatalf("%d messages not final (%v)", open, err)
	}
	for _, f := range followers {
		if f.err != nil {
			t.Fatal(f.err)
		}
		v := 0
		if f.withMsg {
			v = 1
		}
		want, err := s.queryEvents(ctx, f.tenant, f.from, 1<<20, v)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.got) != len(want) {
			t.Fatalf("follower from %d (tenant %q): %d events, want %d", f.from, f.tenant, len(f.got), len(want))
		}
		for i, g := range f.got {
			w := want[i]
			if g.Message != nil && w.Message != nil && g.Message.Carrier == "" {
				gm, wm := *g.Message, *w.Message
				gm.Carrier, gm.CarrierID, wm.Carrier, wm.CarrierID = "", "", "", ""
				g.Message, w.Message = &gm, &wm
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("follower from %d (tenant %q), event %d:\ngot  %s\nwant %s", f.from, f.tenant, i,
					dumpEvents([]gateway.Event{g}), dumpEvents([]gateway.Event{w}))
			}
		}
	}
}

// TestEventTailUnread checks that a tail nobody reads keeps no message and
// no more than minTailRing events, lets go of what it held once its
// readers are gone, and starts keeping messages again at the next read;
// its answers stay those of the events it holds.
func TestEventTailUnread(t *testing.T) {
	rows := func(from, n int) []eventRow {
		out := make([]eventRow, n)
		for i := range out {
			id := fmt.Sprint(from + i)
			out[i] = eventRow{kind: gateway.EventStatus, tenant: "t1", msgID: id, status: gateway.StatusAccepted, accepted: oneMsg("t1")}
		}
		return out
	}
	tl := newEventTail(DefaultEventTail, 1)
	tl.commit(1, rows(1, 3*minTailRing), 1, nil)
	if len(tl.msgs) != 0 || len(tl.ring) != minTailRing || tl.n != minTailRing || tl.start != 2*minTailRing+1 {
		t.Fatalf("unread: %d messages, ring of %d with %d events from %d; want none, %d from %d",
			len(tl.msgs), len(tl.ring), tl.n, tl.start, minTailRing, 2*minTailRing+1)
	}
	if _, miss, ok := tl.events("", tl.start, 10, true); !ok || len(miss) != 10 {
		t.Fatalf("read: ok %v, %d misses; want every message read from SQLite", ok, len(miss))
	}

	// Read: the next events keep their messages, and the ring grows.
	next := int64(3*minTailRing + 1)
	tl.commit(next, rows(int(next), 2*minTailRing), 1, nil)
	if len(tl.msgs) == 0 || len(tl.live) != len(tl.msgs) || len(tl.ring) <= minTailRing {
		t.Fatalf("read: %d messages (%d in flight), ring of %d; want messages kept and a larger ring", len(tl.msgs), len(tl.live), len(tl.ring))
	}
	if _, miss, _ := tl.events("", next, 10, true); len(miss) != 0 {
		t.Fatalf("%d misses after a read, want the messages kept", len(miss))
	}

	// Unread for tailUnread: the next commit lets go of the messages and
	// of the ring beyond minTailRing; the newest events still read right.
	tl.lastRead.Store(time.Now().Add(-tailUnread - time.Second).UnixNano())
	next += 2 * minTailRing
	tl.commit(next, rows(int(next), 1), 1, nil)
	if len(tl.msgs) != 0 || tl.live != nil || tl.liveBytes != 0 || tl.heldBytes != 0 || len(tl.ring) != minTailRing || tl.n != minTailRing {
		t.Fatalf("unread again: %d messages, live %v, %d+%d bytes, ring of %d with %d events",
			len(tl.msgs), tl.live, tl.liveBytes, tl.heldBytes, len(tl.ring), tl.n)
	}
	evs, _, ok := tl.events("", next-minTailRing+1, 2*minTailRing, false)
	if !ok || len(evs) != minTailRing || evs[0].Seq != next-minTailRing+1 || evs[len(evs)-1].Seq != next || evs[len(evs)-1].MessageID != fmt.Sprint(next) {
		t.Fatalf("after shrinking: ok %v, %d events", ok, len(evs))
	}
}
