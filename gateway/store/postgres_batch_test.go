package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store/pgtest"
)

// Tests of the PostgreSQL store's group commit: calls that share one batch
// transaction must behave as if each had its own.

// pgMsg is a message of n parts for tenant t1.
func pgMsg(ref string, n int) *gateway.Message {
	m := &gateway.Message{Tenant: "t1", ClientRef: ref, From: "MFI", To: "+254700000001", Text: "hi",
		Encoding: gateway.EncodingGSM7}
	for i := range n {
		m.Parts = append(m.Parts, gateway.Part{Index: i})
	}
	return m
}

// pgBatch makes the calls given run in one batch: it holds the writer
// whose turn it is on an operation of its own (no other writer collects
// until that batch commits), queues the calls one after another (in that
// order), and lets it go once all are queued. The next writer then takes
// them all. It returns each call's error.
func pgBatch(t *testing.T, s *pgStore, calls ...func() error) []error {
	t.Helper()
	release := make(chan struct{})
	var hold sync.WaitGroup
	running := make(chan struct{})
	hold.Go(func() {
		var once sync.Once
		err := s.write(t.Context(), "hold", func(*ptx) error {
			once.Do(func() { close(running) })
			<-release
			return nil
		})
		if err != nil {
			t.Errorf("holding a writer: %v", err)
		}
	})
	<-running
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() { errs[i] = call() })
		deadline := time.Now().Add(5 * time.Second)
		for len(s.ops) != i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("%d calls queued, want %d", len(s.ops), i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	wg.Wait()
	hold.Wait()
	return errs
}

// pgEvents returns the statuses of msgID's events, in order.
func pgEvents(t *testing.T, s *pgStore, msgID string) []gateway.Status {
	t.Helper()
	evs, err := s.Events(t.Context(), "", 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []gateway.Status
	for _, e := range evs {
		if e.MessageID == msgID {
			out = append(out, e.Status)
		}
	}
	return out
}

func pgStatuses(ss ...gateway.Status) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

// A call that fails in a batch fails alone, whether it fails before
// writing (an unknown message), after writing (a preset id that exists,
// beside a new message of the same call) or on a statement the server
// refuses, which aborts the transaction (an attempt for an unknown message
// breaks its foreign key; a receipt's text is not UTF-8, in a statement of
// all the batch's receipts): the others commit, with their events.
func TestPostgresBatchFailsAlone(t *testing.T) {
	s := openPG(t, pgtest.NewDatabase(t), Options{})
	ctx := t.Context()
	old := pgMsg("", 1)
	if _, err := s.Accept(ctx, []*gateway.Message{old}); err != nil {
		t.Fatal(err)
	}
	good1, good2, clash, fresh := pgMsg("r1", 1), pgMsg("", 2), pgMsg("", 1), pgMsg("", 1)
	clash.ID = old.ID
	errs := pgBatch(t, s,
		func() error { _, err := s.Accept(ctx, []*gateway.Message{good1}); return err },
		func() error { _, err := s.Accept(ctx, []*gateway.Message{fresh, clash}); return err },
		func() error {
			return s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: "nope", Carrier: "c1", CarrierID: "n1"}})
		},
		func() error {
			return s.RecordAttempts(ctx, []gateway.AttemptRecord{{MessageID: "nope",
				Attempt: gateway.Attempt{Carrier: "c1", Outcome: "retry"}}})
		},
		func() error {
			return s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: old.ID, Index: 1, Carrier: "c1", CarrierID: "n2"}})
		},
		func() error { _, err := s.Accept(ctx, []*gateway.Message{good2}); return err },
		func() error {
			return s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: old.ID, Carrier: "c1", CarrierID: "ok1"}})
		},
		func() error { // kept unmatched, its text refused by the server
			_, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c1", CarrierID: "zz",
				Status: gateway.StatusDelivered, State: "bad\xff"}})
			return err
		},
	)
	want := []string{"", "exists already", "not found", "foreign key", "not found", "", "", "UTF8"}
	for i, w := range want {
		switch {
		case w == "" && errs[i] != nil:
			t.Errorf("call %d: %v, want success", i, errs[i])
		case w != "" && (errs[i] == nil || !strings.Contains(errs[i].Error(), w)):
			t.Errorf("call %d: %v, want an error with %q", i, errs[i], w)
		}
	}
	if !errors.Is(errs[2], gateway.ErrNotFound) || !errors.Is(errs[4], gateway.ErrNotFound) {
		t.Errorf("unknown message or part: %v, %v; want ErrNotFound", errs[2], errs[4])
	}
	for _, m := range []*gateway.Message{good1, good2} {
		g, err := s.Get(ctx, "t1", m.ID)
		if err != nil || g.Status != gateway.StatusAccepted || len(g.Parts) != len(m.Parts) {
			t.Errorf("accepted beside failures: %+v, %v", g, err)
		}
		if got := pgStatuses(pgEvents(t, s, m.ID)...); got != "ACCEPTED" {
			t.Errorf("events of %s: %s, want ACCEPTED", m.ID, got)
		}
	}
	if _, err := s.Get(ctx, "", fresh.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the new message of the failed call was stored (%v): its call failed", err)
	}
	if got := pgStatuses(pgEvents(t, s, fresh.ID)...); got != "" {
		t.Errorf("events of the failed call's message: %s", got)
	}
	if g, err := s.Get(ctx, "", old.ID); err != nil || g.Status != gateway.StatusSubmitted || g.Parts[0].CarrierID != "ok1" {
		t.Errorf("submitted beside failures: %+v, %v", g, err)
	}
}

// Receipts in one batch see each other and the batch's submit records, as
// if they ran one after another: two parts receipted by two calls finish
// their message once; a receipt for an id recorded in the same batch is
// applied; one for an id not recorded yet is kept and applied by the
// submit that comes later; an intermediate receipt only adds an event.
func TestPostgresBatchReceipts(t *testing.T) {
	s := openPG(t, pgtest.NewDatabase(t), Options{})
	ctx := t.Context()
	two, one, same, later, mixed, early := pgMsg("", 2), pgMsg("", 1), pgMsg("", 1), pgMsg("", 1), pgMsg("", 2), pgMsg("", 2)
	if _, err := s.Accept(ctx, []*gateway.Message{two, one, same, later, mixed, early}); err != nil {
		t.Fatal(err)
	}
	// early's receipts arrive before its submit records: kept, then
	// applied by the records in the batch, beside a receipt that repeats
	// one of them and the receipt of its other part.
	if n, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c1", CarrierID: "early-0",
		Status: gateway.StatusDelivered, State: "DELIVRD"}}); err != nil || n.Matched != 0 {
		t.Fatalf("early receipt: %+v, %v", n, err)
	}
	if err := s.RecordSubmits(ctx, []gateway.SubmitRecord{
		{MessageID: two.ID, Index: 0, Carrier: "c1", CarrierID: "two-0"},
		{MessageID: two.ID, Index: 1, Carrier: "c1", CarrierID: "two-1"},
		{MessageID: one.ID, Carrier: "c1", CarrierID: "one"},
		{MessageID: mixed.ID, Index: 0, Carrier: "c1", CarrierID: "mixed-0"},
		{MessageID: mixed.ID, Index: 1, Carrier: "c1", CarrierID: "mixed-1"},
	}); err != nil {
		t.Fatal(err)
	}
	rcpt := func(id string, st gateway.Status, state string) func() error {
		return func() error {
			_, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c1", CarrierID: id, Status: st, State: state}})
			return err
		}
	}
	errs := pgBatch(t, s,
		rcpt("two-0", gateway.StatusDelivered, "DELIVRD"),
		rcpt("one", "", "ENROUTE"),
		rcpt("same", gateway.StatusDelivered, "DELIVRD"),
		rcpt("two-1", gateway.StatusDelivered, "DELIVRD"),
		func() error {
			return s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: same.ID, Carrier: "c1", CarrierID: "same"}})
		},
		rcpt("later", gateway.StatusUndelivered, "UNDELIV"),
		rcpt("mixed-0", gateway.StatusDelivered, "DELIVRD"),
		rcpt("mixed-1", gateway.StatusUndelivered, "UNDELIV"),
		rcpt("one", gateway.StatusDelivered, "DELIVRD"),
		func() error {
			return s.RecordSubmits(ctx, []gateway.SubmitRecord{
				{MessageID: early.ID, Index: 0, Carrier: "c1", CarrierID: "early-0"},
				{MessageID: early.ID, Index: 1, Carrier: "c1", CarrierID: "early-1"}})
		},
		rcpt("early-0", gateway.StatusDelivered, "DELIVRD"),
		rcpt("early-1", gateway.StatusDelivered, "DELIVRD"),
	)
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if err := s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: later.ID, Carrier: "c1", CarrierID: "later"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m      *gateway.Message
		status gateway.Status
		events string
	}{
		{two, gateway.StatusDelivered, "ACCEPTED,SUBMITTED,DELIVERED"},
		{one, gateway.StatusDelivered, "ACCEPTED,SUBMITTED,SUBMITTED,DELIVERED"},
		{same, gateway.StatusDelivered, "ACCEPTED,SUBMITTED,DELIVERED"},
		{later, gateway.StatusUndelivered, "ACCEPTED,SUBMITTED,UNDELIVERED"},
		{mixed, gateway.StatusUndelivered, "ACCEPTED,SUBMITTED,UNDELIVERED"},
		{early, gateway.StatusDelivered, "ACCEPTED,SUBMITTED,DELIVERED"},
	} {
		g, err := s.Get(ctx, "t1", c.m.ID)
		if err != nil || g.Status != c.status {
			t.Errorf("%s: %+v, %v; want %s", c.m.ID, g, err, c.status)
		}
		if got := pgStatuses(pgEvents(t, s, c.m.ID)...); got != c.events {
			t.Errorf("events of %s: %s, want %s", c.m.ID, got, c.events)
		}
	}
	// The repeated early-0 named a part final by then: stale, and kept
	// (until pruned) in case a reuse of its id is about to be recorded.
	var kept int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM unmatched_receipts").Scan(&kept); err != nil || kept != 1 {
		t.Errorf("%d receipts still kept (%v), want the one stale receipt (every other applied and forgotten)", kept, err)
	}
	if g, _ := s.Get(ctx, "t1", mixed.ID); g != nil && g.LastError != "part 1: UNDELIV" {
		t.Errorf("mixed parts: last error %q, want the failed part's", g.LastError)
	}
}

// Calls of every kind in one batch: a client ref sent twice is stored
// once, the second call told it is a duplicate of the first; two records
// of one part keep the later one, as in call order; claims beside
// operations run one by one each get what they leased.
func TestPostgresBatchOrder(t *testing.T) {
	s := openPG(t, pgtest.NewDatabase(t), Options{})
	ctx := t.Context()
	m, done := pgMsg("", 1), pgMsg("", 1)
	if _, err := s.Accept(ctx, []*gateway.Message{m, done}); err != nil {
		t.Fatal(err)
	}
	a, b := pgMsg("dup", 1), pgMsg("dup", 1)
	var (
		ra, rb         []gateway.AcceptResult
		claim1, claim2 []*gateway.Message
	)
	now := time.Now()
	errs := pgBatch(t, s,
		func() (err error) { ra, err = s.Accept(ctx, []*gateway.Message{a}); return err },
		func() (err error) { claim1, err = s.Claim(ctx, now, 1); return err },
		func() (err error) { rb, err = s.Accept(ctx, []*gateway.Message{b}); return err },
		func() error { return s.Finish(ctx, done.ID, time.Time{}, gateway.StatusFailed, "no route") },
		func() error {
			return s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: m.ID, Carrier: "c1", CarrierID: "first", Cost: 1}})
		},
		func() (err error) { claim2, err = s.Claim(ctx, now, 100); return err },
		func() error { return s.AckEvents(ctx, "t1", "c", 1) },
		func() error {
			return s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: m.ID, Carrier: "c2", CarrierID: "second", Cost: 2}})
		},
	)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	claimed := map[string]bool{}
	for _, c := range append(claim1, claim2...) {
		if claimed[c.ID] || len(c.Parts) != 1 || c.LeaseUntil.IsZero() {
			t.Errorf("claimed %+v (twice: %v)", c, claimed[c.ID])
		}
		claimed[c.ID] = true
	}
	if len(claim1) != 1 || claimed[done.ID] && len(claimed) != 3 || !claimed[done.ID] && len(claimed) != 2 {
		t.Errorf("claims got %d and %d messages", len(claim1), len(claim2))
	}
	if got := pgStatuses(pgEvents(t, s, done.ID)...); got != "ACCEPTED,FAILED" {
		t.Errorf("events of the finished message: %s", got)
	}
	if ra[0].Duplicate || !rb[0].Duplicate || rb[0].ID != ra[0].ID {
		t.Errorf("one client ref twice in a batch: %+v then %+v; want the second a duplicate of the first", ra, rb)
	}
	g, err := s.Get(ctx, "t1", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Parts[0].CarrierID != "second" || g.Carrier != "c2" || g.Cost != 3 || len(g.Attempts) != 2 {
		t.Errorf("two records of one part: %+v; want the second's id and carrier, both costs, two attempts", g)
	}
	if got := pgStatuses(pgEvents(t, s, m.ID)...); got != "ACCEPTED,SUBMITTED" {
		t.Errorf("events: %s, want one SUBMITTED", got)
	}
}

// Two nodes receive the receipts of the two parts of many messages at
// once, each part's on another node, mixed into batches with other calls:
// every message ends DELIVERED with exactly one DELIVERED event.
func TestPostgresTwoNodesPartReceipts(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := openPG(t, dsn, Options{}), openPG(t, dsn, Options{})
	ctx := t.Context()
	const n = 200
	msgs := make([]*gateway.Message, n)
	for i := range msgs {
		msgs[i] = pgMsg("", 2)
	}
	if _, err := a.Accept(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	var recs []gateway.SubmitRecord
	for i, m := range msgs {
		for p := range 2 {
			recs = append(recs, gateway.SubmitRecord{MessageID: m.ID, Index: p, Carrier: "c1", CarrierID: fmt.Sprintf("m%d-%d", i, p)})
		}
	}
	if err := b.RecordSubmits(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range msgs {
		for p, s := range []*pgStore{a, b} {
			wg.Go(func() {
				r := gateway.Receipt{Carrier: "c1", CarrierID: fmt.Sprintf("m%d-%d", i, p), Status: gateway.StatusDelivered}
				if n, err := s.RecordReceipts(context.Background(), []gateway.Receipt{r}); err != nil || n.Matched != 1 {
					t.Errorf("receipt %s: %+v, %v", r.CarrierID, n, err)
				}
			})
		}
		wg.Go(func() { // other work in the same batches
			if _, err := a.Accept(context.Background(), []*gateway.Message{pgMsg("", 1)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	evs, err := a.Events(ctx, "", 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	delivered := map[string]int{}
	for _, e := range evs {
		if e.Status == gateway.StatusDelivered {
			delivered[e.MessageID]++
		}
	}
	for _, m := range msgs {
		g, err := a.Get(ctx, "t1", m.ID)
		if err != nil || g.Status != gateway.StatusDelivered {
			t.Errorf("%s: %+v, %v; want DELIVERED", m.ID, g, err)
		}
		if delivered[m.ID] != 1 {
			t.Errorf("%s: %d DELIVERED events, want 1", m.ID, delivered[m.ID])
		}
	}
}
