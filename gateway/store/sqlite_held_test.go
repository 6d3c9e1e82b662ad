package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
)

// openHeldTest opens a journaled store on a fixed clock whose writer may
// hold a handed-over message's insert for hold.
func openHeldTest(t *testing.T, path string, now time.Time, hold time.Duration) *sqliteStore {
	t.Helper()
	s, err := Open(context.Background(), Config{Path: path}, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ss := s.(*sqliteStore)
	ss.holdFor = hold
	return ss
}

// heldStore is openHeldTest on a fixed clock with an hour's hold, with a
// context that ends a test stuck on a hold.
func heldStore(t *testing.T) (*sqliteStore, context.Context, time.Time) {
	t.Helper()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return openHeldTest(t, filepath.Join(t.TempDir(), "a.db"), now, time.Hour), ctx, now
}

// handed is a message the engine hands over at accept: leased to a worker.
func handed(tenant string, parts int, until time.Time) *gateway.Message {
	m := oneMsg(tenant)
	m.ClientRef = fmt.Sprintf("ref-%d-%d", parts, time.Now().UnixNano())
	m.Parts = nil
	for i := range parts {
		m.Parts = append(m.Parts, gateway.Part{Index: i})
	}
	m.LeaseUntil = until
	return m
}

// TestHandedOverWrittenWithItsSubmit: the insert of a message handed over
// at accept waits for its RecordSubmits, and both take one commit; the
// message reads as it would had they run one after the other.
func TestHandedOverWrittenWithItsSubmit(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	s := openHeldTest(t, filepath.Join(t.TempDir(), "a.db"), now, time.Hour)
	ctx := t.Context()
	m := handed("t1", 1, now.Add(time.Minute))
	c0 := s.Commits()
	res, err := s.Accept(ctx, []*gateway.Message{m})
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].ID
	if err := s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: id, Carrier: "c1", CarrierID: "X1",
		Cost: 0.8, Currency: "KES", At: now}}); err != nil {
		t.Fatal(err)
	}
	if n := s.Commits() - c0; n != 1 {
		t.Errorf("accept and submit took %d commits, want 1", n)
	}
	got, err := s.Get(ctx, "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	p := got.Parts[0]
	if got.Status != gateway.StatusSubmitted || got.Carrier != "c1" || got.Cost != 0.8 || got.Currency != "KES" ||
		leaseOf(t, s, id) != 0 || p.CarrierID != "X1" || p.Status != gateway.StatusSubmitted || p.Cost != 0.8 ||
		len(got.Attempts) != 1 || got.Attempts[0].Outcome != "submitted" {
		t.Errorf("message written with its submit: %+v", got)
	}
	evs, err := s.Events(ctx, "", 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Status != gateway.StatusAccepted || evs[1].Status != gateway.StatusSubmitted ||
		!evs[0].Time.Equal(now) {
		t.Errorf("events: %+v, want ACCEPTED at %s then SUBMITTED", evs, now)
	}
	// Its receipt finds it as any submitted message's does.
	tally, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c1", CarrierID: "X1",
		Status: gateway.StatusDelivered, State: "DELIVRD"}})
	if err != nil || tally.Matched != 1 {
		t.Errorf("receipt: %+v, %v; want matched", tally, err)
	}
}

// TestHeldInsertsMatchOneAfterTheOther runs the same records on messages
// whose inserts the writer held for them and on messages inserted first
// (a Get lets every held insert run), and compares what is stored (a
// submit naming a held message brings its insert into its batch): parts
// recorded twice (the last record wins, both costs count), a message with
// a part left unsent, a record without a currency.
func TestHeldInsertsMatchOneAfterTheOther(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	until := now.Add(time.Minute)
	type run struct {
		msgs []*gateway.Message
		recs func(ids []string) [][]gateway.SubmitRecord
	}
	sc := run{
		msgs: []*gateway.Message{handed("t1", 1, until), handed("t1", 2, until), handed("t1", 2, until), handed("t2", 1, until)},
		recs: func(ids []string) [][]gateway.SubmitRecord {
			r := func(i, part int, cid string, cost float64, cur string) gateway.SubmitRecord {
				return gateway.SubmitRecord{MessageID: ids[i], Index: part, Carrier: fmt.Sprintf("c%d", i), CarrierID: cid,
					Cost: cost, Currency: cur, At: now.Add(time.Duration(part+1) * time.Second)}
			}
			return [][]gateway.SubmitRecord{
				{r(0, 0, "A0", 0.5, "KES")},
				{r(1, 0, "B0", 0.25, "KES"), r(1, 1, "B1", 0.25, ""), r(1, 0, "B0b", 0.5, "UGX")},
				{r(2, 1, "C1", 1, "KES")},
				{r(3, 0, "D0", 0.1, "")},
			}
		},
	}
	stored := func(flushFirst bool) string {
		s := openHeldTest(t, filepath.Join(t.TempDir(), "a.db"), now, time.Hour)
		ctx := t.Context()
		var msgs []*gateway.Message
		for _, m := range sc.msgs {
			cp := *m
			cp.Parts = append([]gateway.Part(nil), m.Parts...)
			msgs = append(msgs, &cp)
		}
		res, err := s.Accept(ctx, msgs)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(res))
		for i, r := range res {
			ids[i] = r.ID
		}
		if flushFirst {
			if _, err := s.Get(ctx, "t1", ids[0]); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan error)
		for _, recs := range sc.recs(ids) {
			go func() { done <- s.RecordSubmits(ctx, recs) }()
		}
		for range sc.recs(ids) {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		var out string
		for i, id := range ids {
			m, err := s.Get(ctx, msgs[i].Tenant, id)
			if err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintf("%d: %s carrier=%s cost=%.2f %s lease=%d tries=%d updated=%s\n", i, m.Status, m.Carrier,
				m.Cost, m.Currency, leaseOf(t, s, id), m.Tries, m.UpdatedAt)
			for _, p := range m.Parts {
				out += fmt.Sprintf("   part %d: %s %s %s cost=%.2f updated=%s\n", p.Index, p.Status, p.Carrier, p.CarrierID, p.Cost, p.UpdatedAt)
			}
			for _, a := range m.Attempts {
				out += fmt.Sprintf("   attempt: %s %s %s\n", a.Carrier, a.Outcome, a.At)
			}
		}
		evs, err := s.Events(ctx, "", 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		// Each message's events in order; a held message's ACCEPTED
		// event takes its seq when written, so the order across messages
		// differs.
		for i, id := range ids {
			for _, e := range evs {
				if e.MessageID == id {
					out += fmt.Sprintf("event %d %s at %s\n", i, e.Status, e.Time)
				}
			}
		}
		return out
	}
	held := stored(false)
	inserted := stored(true)
	if held != inserted {
		t.Errorf("held and written with the submits:\n%s\ninserted first, then submitted:\n%s", held, inserted)
	}
}

// TestHeldInsertReadsAndClose: a read of messages has the writer insert
// what it holds at once (the hold here is an hour); a read of events does
// not wait for it; Close inserts it, so that the journal is empty after.
func TestHeldInsertReadsAndClose(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	s := openHeldTest(t, path, now, time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := s.Accept(ctx, []*gateway.Message{handed("t1", 1, now.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := s.Events(ctx, "", 1, 10); err != nil || len(evs) != 0 {
		t.Errorf("events while the insert is held: %+v, %v; want none yet", evs, err)
	}
	if m, err := s.Get(ctx, "t1", res[0].ID); err != nil || m.Status != gateway.StatusAccepted {
		t.Fatalf("Get of a held message: %+v, %v; want it ACCEPTED (the read lets the insert run)", m, err)
	}
	if evs, err := s.Events(ctx, "", 1, 10); err != nil || len(evs) != 1 || evs[0].Status != gateway.StatusAccepted {
		t.Errorf("events once inserted: %+v, %v; want ACCEPTED", evs, err)
	}

	res, err = s.Accept(ctx, []*gateway.Message{handed("t1", 1, now.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, err := segments(path + ".journal"); err != nil || len(segs) != 0 {
		t.Errorf("journal after Close: %v (%v), want empty: Close inserts what is held", segs, err)
	}
	c := openHeldTest(t, path, now, time.Hour)
	if m, err := c.Get(ctx, "t1", res[0].ID); err != nil || m.Status != gateway.StatusAccepted || leaseOf(t, c, res[0].ID) != 0 {
		t.Errorf("held at Close, after reopening: %+v, %v; want ACCEPTED, unleased", m, err)
	}
}

// TestHeldInsertAfterACrash: a message whose insert the writer held when
// the process died is restored from the journal, to be sent again, as one
// whose submit was not recorded always was.
func TestHeldInsertAfterACrash(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	s := openHeldTest(t, filepath.Join(dir, "a.db"), now, time.Hour)
	s.stopCheckpoints()
	<-s.checkpointDone
	res, err := s.Accept(t.Context(), []*gateway.Message{handed("t1", 1, now.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s) // nothing held runs while the files are copied
	crashed := t.TempDir()
	copyFiles(t, dir, crashed, "a.db", "a.db-wal", "a.db.journal/")
	release()

	c := openHeldTest(t, filepath.Join(crashed, "a.db"), now, time.Hour)
	got, err := c.Claim(t.Context(), now, 10)
	if err != nil || len(got) != 1 || got[0].ID != res[0].ID {
		t.Fatalf("claim after the crash: %v, %v; want %s restored and due", ids(got), err, res[0].ID)
	}
}

// TestHeldInsertTakesAReceiptThatCameFirst: a receipt for a carrier id the
// writer has not recorded yet (it overtook the submit_sm_resp) is kept,
// and applied when the held message's submit names the id.
func TestHeldInsertTakesAReceiptThatCameFirst(t *testing.T) {
	now := time.Now().UTC()
	s := openHeldTest(t, filepath.Join(t.TempDir(), "a.db"), now, time.Hour)
	ctx := t.Context()
	res, err := s.Accept(ctx, []*gateway.Message{handed("t1", 1, now.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	tally, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c1", CarrierID: "early",
		Status: gateway.StatusDelivered, State: "DELIVRD", Time: now}})
	if err != nil || tally.Matched != 0 {
		t.Fatalf("receipt before the submit: %+v, %v; want kept, not matched", tally, err)
	}
	if err := s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: res[0].ID, Carrier: "c1", CarrierID: "early", At: now}}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Get(ctx, "t1", res[0].ID); err != nil || m.Status != gateway.StatusDelivered {
		t.Errorf("after its submit: %+v, %v; want DELIVERED by the receipt that waited", m, err)
	}
}

// TestHeldInsertBeforeACancel: an operation that may touch a held message
// (here Cancel) has the writer insert it first.
func TestHeldInsertBeforeACancel(t *testing.T) {
	s, ctx, now := heldStore(t)
	res, err := s.Accept(ctx, []*gateway.Message{handed("t1", 1, now.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	// Leased to a worker: not cancelable, but found.
	if err := s.Cancel(ctx, "t1", res[0].ID, now); err == nil || errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Cancel of a held message: %v, want it found (and not cancelable)", err)
	}
}

// TestAckOfAHeldMessagesEvent: a consumer may ack the seq of an event the
// writer holds back (it learnt it another way, or counted on it): the ack
// lets held inserts run and succeeds, where it would be refused as beyond
// the log's end.
func TestAckOfAHeldMessagesEvent(t *testing.T) {
	s, ctx, now := heldStore(t)
	if _, err := s.Accept(ctx, []*gateway.Message{handed("t1", 1, now.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if err := s.AckEvents(ctx, "t1", "adapter", 1); err != nil {
		t.Fatalf("ack of the held message's ACCEPTED event: %v", err)
	}
	if seq, err := s.Cursor(ctx, "t1", "adapter"); err != nil || seq != 1 {
		t.Errorf("cursor = %d, %v; want 1", seq, err)
	}
	if err := s.AckEvents(ctx, "t1", "adapter", 2); !errors.Is(err, gateway.ErrAckAhead) {
		t.Errorf("ack past every event: %v, want ErrAckAhead", err)
	}
}

// TestHeldInsertDoesNotStallTheAcceptor: the messages of an accept group
// that the writer has inserted no longer count as waiting for it while
// another message of the group is held for its submit, so the acceptor
// does not wait for room behind a hold (here an hour; at most heldFor in
// production, a stall of every Send for up to a second).
func TestHeldInsertDoesNotStallTheAcceptor(t *testing.T) {
	s, ctx, now := heldStore(t)
	msgs := make([]*gateway.Message, journalMaxPending)
	msgs[0] = handed("t1", 1, now.Add(time.Minute))
	for i := 1; i < len(msgs); i++ {
		msgs[i] = oneMsg("t1")
	}
	if _, err := s.Accept(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	acceptReturns(t, s, ctx, "an Accept waited for room behind a held insert: messages already in SQLite still count as pending")
}

// holdWriterBeside blocks the writer in an operation beside held inserts
// (so it neither runs them nor lets them run) until release, which fails
// the test if that operation failed: the calls queued meanwhile reach the
// writer in one batch.
func holdWriterBeside(t *testing.T, s *sqliteStore, ctx context.Context) (release func()) {
	t.Helper()
	started, unblock, blocked := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		blocked <- s.doBeside(ctx, "block", func(*wtx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() {
		t.Helper()
		close(unblock)
		if err := <-blocked; err != nil {
			t.Fatal(err)
		}
	}
}

// acceptReturns fails the test with why unless one more Accept returns,
// without error, within 10 s: the acceptor did not wait behind a hold.
func acceptReturns(t *testing.T, s *sqliteStore, ctx context.Context, why string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := s.Accept(ctx, []*gateway.Message{oneMsg("t1")})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(why)
	}
}

// TestHeldInsertAndClaims: a claim before a held message's lease lapses
// does not wait for its insert nor run it (the message is not its to
// take); a claim at a time the lease has lapsed by has it inserted first
// and takes it, as it would any message whose worker went quiet.
func TestHeldInsertAndClaims(t *testing.T) {
	s, ctx, now := heldStore(t)
	until := now.Add(time.Minute)
	res, err := s.Accept(ctx, []*gateway.Message{handed("t1", 1, until)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Claim(ctx, now, 10); err != nil || len(got) != 0 {
		t.Fatalf("claim under the lease: %v, %v; want nothing", ids(got), err)
	}
	if evs, err := s.Events(ctx, "", 1, 10); err != nil || len(evs) != 0 {
		t.Errorf("events after a claim under the lease: %+v, %v; want the insert still held", evs, err)
	}
	got, err := s.Claim(ctx, until.Add(time.Second), 10)
	if err != nil || len(got) != 1 || got[0].ID != res[0].ID {
		t.Fatalf("claim past the lease: %v, %v; want %s", ids(got), err, res[0].ID)
	}
}

// TestHeldInsertClientRef: while its insert is held, a message's client
// ref still makes a second accept a duplicate of it, and GetByClientRef
// finds it; so does a second accept once it was written with its submit.
func TestHeldInsertClientRef(t *testing.T) {
	s, ctx, now := heldStore(t)
	m := handed("t1", 1, now.Add(time.Minute))
	res, err := s.Accept(ctx, []*gateway.Message{m})
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].ID
	again := oneMsg("t1")
	again.ClientRef = m.ClientRef
	if res, err := s.Accept(ctx, []*gateway.Message{again}); err != nil || !res[0].Duplicate || res[0].ID != id {
		t.Fatalf("accept of the held message's client ref: %+v, %v; want a duplicate of %s", res, err, id)
	}
	if err := s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: id, Carrier: "c1", CarrierID: "X1", At: now}}); err != nil {
		t.Fatal(err)
	}
	again = oneMsg("t1")
	again.ClientRef = m.ClientRef
	if res, err := s.Accept(ctx, []*gateway.Message{again}); err != nil || !res[0].Duplicate || res[0].ID != id {
		t.Fatalf("accept of the client ref once written: %+v, %v; want a duplicate of %s", res, err, id)
	}
	if got, err := s.GetByClientRef(ctx, "t1", m.ClientRef); err != nil || got.ID != id || got.Status != gateway.StatusSubmitted {
		t.Errorf("GetByClientRef: %+v, %v; want %s SUBMITTED", got, err, id)
	}
}

// TestHeldInsertCallWithAStoredMessage: one RecordSubmits naming a held
// message and one already stored, in the batch of another naming a held
// message only: the first is not folded (its stored message has rows to
// update) but its held message is inserted before it, the second is; all
// three read submitted.
func TestHeldInsertCallWithAStoredMessage(t *testing.T) {
	s, ctx, now := heldStore(t)
	until := now.Add(time.Minute)
	stored := handed("t1", 1, time.Time{})
	res, err := s.Accept(ctx, []*gateway.Message{handed("t1", 1, until), stored, handed("t1", 2, until)})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := res[0].ID, res[1].ID, res[2].ID
	if evs, err := s.Events(ctx, "", 1, 10); err != nil || len(evs) != 1 || evs[0].MessageID != b {
		t.Fatalf("events: %+v, %v; want only the stored message's ACCEPTED", evs, err)
	}
	// Hold the writer with an operation beside held inserts, so that both
	// calls reach it in one batch.
	release := holdWriterBeside(t, s, ctx)
	done := make(chan error, 2)
	go func() {
		done <- s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: a, Carrier: "c1", CarrierID: "A0", At: now},
			{MessageID: b, Carrier: "c1", CarrierID: "B0", At: now}})
	}()
	go func() {
		done <- s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: c, Carrier: "c2", CarrierID: "C0", At: now},
			{MessageID: c, Index: 1, Carrier: "c2", CarrierID: "C1", At: now}})
	}()
	waitQueued(t, s, 2)
	release()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{a, b, c} {
		m, err := s.Get(ctx, "t1", id)
		if err != nil {
			t.Fatal(err)
		}
		if lease := leaseOf(t, s, id); m.Status != gateway.StatusSubmitted || lease != 0 || len(m.Attempts) != 1 {
			t.Errorf("%s: %s lease=%d attempts=%d, want SUBMITTED, unleased, one attempt", id, m.Status, lease, len(m.Attempts))
		}
		for _, p := range m.Parts {
			if p.Status != gateway.StatusSubmitted || p.CarrierID == "" {
				t.Errorf("%s part %d: %s %q, want SUBMITTED with its carrier id", id, p.Index, p.Status, p.CarrierID)
			}
		}
	}
	evs, err := s.Events(ctx, "", 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range evs {
		count[e.MessageID+" "+string(e.Status)]++
	}
	for _, id := range []string{a, b, c} {
		if count[id+" ACCEPTED"] != 1 || count[id+" SUBMITTED"] != 1 {
			t.Errorf("%s: events %v, want one ACCEPTED and one SUBMITTED", id, count)
		}
	}
}

// TestHeldInsertInAReplayedBatch: a batch that folds a held message's
// insert with its submit, and holds a receipt for its carrier id, is
// replayed because another operation failed: without that operation (a
// RecordSubmits of a part that does not exist), or one operation at a time
// (an insert whose id exists, failing the accept group). Either way the
// held message is inserted once, with its submit and the receipt, each of
// its events once and in order, the failed operation alone fails, and the
// journal lets go of the held message's group.
func TestHeldInsertInAReplayedBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func(s *sqliteStore, ctx context.Context, stored string) error
	}{
		{"without", func(s *sqliteStore, ctx context.Context, stored string) error {
			return s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: stored, Index: 3, Carrier: "c1", CarrierID: "N3"}})
		}},
		{"alone", func(s *sqliteStore, ctx context.Context, stored string) error {
			a := &acceptArgs{msgs: []*gateway.Message{oneMsg("t1")}, ids: []string{stored},
				results: make([]gateway.AcceptResult, 1), now: time.Now(), journaled: true}
			o := insertOp(a)
			o.ctx = ctx
			return s.submit(o)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ctx, now := heldStore(t)
			res, err := s.Accept(ctx, []*gateway.Message{handed("t1", 1, now.Add(time.Minute)), oneMsg("t1")})
			if err != nil {
				t.Fatal(err)
			}
			held, stored := res[0].ID, res[1].ID
			if evs, err := s.Events(ctx, "", 1, 10); err != nil || len(evs) != 1 {
				t.Fatalf("events: %+v, %v; want the stored message's only", evs, err)
			}
			release := holdWriterBeside(t, s, ctx)
			submitted, received, failed := make(chan error, 1), make(chan error, 1), make(chan error, 1)
			go func() {
				submitted <- s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: held, Carrier: "c1", CarrierID: "H0", At: now}})
			}()
			go func() {
				_, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c1", CarrierID: "H0",
					Status: gateway.StatusDelivered, State: "DELIVRD", Time: now}})
				received <- err
			}()
			go func() { failed <- tc.bad(s, ctx, stored) }()
			waitQueued(t, s, 3)
			release()
			if err := <-submitted; err != nil {
				t.Fatalf("RecordSubmits of the held message: %v", err)
			}
			if err := <-received; err != nil {
				t.Fatalf("RecordReceipts: %v", err)
			}
			if err := <-failed; err == nil {
				t.Fatal("the failing operation succeeded")
			}
			m, err := s.Get(ctx, "t1", held)
			if err != nil {
				t.Fatal(err)
			}
			if m.Status != gateway.StatusDelivered || m.Carrier != "c1" || len(m.Attempts) != 1 ||
				m.Parts[0].CarrierID != "H0" || m.Parts[0].Status != gateway.StatusDelivered {
				t.Errorf("held message: %s carrier=%s attempts=%d part=%+v; want DELIVERED by c1, one attempt",
					m.Status, m.Carrier, len(m.Attempts), m.Parts[0])
			}
			evs, err := s.Events(ctx, "", 1, 20)
			if err != nil {
				t.Fatal(err)
			}
			var got []gateway.Status
			for _, e := range evs {
				if e.MessageID == held {
					got = append(got, e.Status)
				}
			}
			want := []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusDelivered}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("held message's events %v, want %v", got, want)
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				if n := journalPending(s); n != 0 {
					return fmt.Errorf("%d journal records still needed, want none", n)
				}
				return nil
			})
		})
	}
}

// journalPending is the number of journal records not yet done with.
func journalPending(s *sqliteStore) int {
	s.aj.j.mu.Lock()
	defer s.aj.j.mu.Unlock()
	n := 0
	for _, k := range s.aj.j.pending {
		n += k
	}
	return n
}

// TestHeldInsertsPastHeldMaxRun: once heldMax inserts are held they all
// run at once, not at the next operation or the first one's time: held
// messages count toward the acceptor's room (journalMaxPending, the same
// size), so an Accept would otherwise wait behind the hold.
func TestHeldInsertsPastHeldMaxRun(t *testing.T) {
	s, ctx, now := heldStore(t)
	msgs := make([]*gateway.Message, heldMax)
	for i := range msgs {
		msgs[i] = handed("t1", 1, now.Add(time.Minute))
		msgs[i].ClientRef = ""
	}
	if _, err := s.Accept(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	acceptReturns(t, s, ctx, fmt.Sprintf("an Accept waited behind %d held inserts", heldMax))
}

// TestHeldInsertAfterACrashWithItsGroupInserted: one Accept journals a
// handed-over message and a plain one as one record; the plain one is in
// SQLite (its event is read) while the other is held. The record must
// stay in the journal until both are: after a crash then, the held
// message is restored.
func TestHeldInsertAfterACrashWithItsGroupInserted(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	s := openHeldTest(t, filepath.Join(dir, "a.db"), now, time.Hour)
	s.stopCheckpoints()
	<-s.checkpointDone
	res, err := s.Accept(t.Context(), []*gateway.Message{handed("t1", 1, now.Add(time.Minute)), oneMsg("t1")})
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := s.Events(t.Context(), "", 1, 10); err != nil || len(evs) != 1 || evs[0].MessageID != res[1].ID {
		t.Fatalf("events: %+v, %v; want the plain message's ACCEPTED only", evs, err)
	}
	release := blockWriter(t, s) // nothing held runs while the files are copied
	if n := journalPending(s); n != 1 {
		t.Errorf("%d journal records still needed while a message of the group is held, want 1", n)
	}
	crashed := t.TempDir()
	copyFiles(t, dir, crashed, "a.db", "a.db-wal", "a.db.journal/")
	release()

	c := openHeldTest(t, filepath.Join(crashed, "a.db"), now, time.Hour)
	got, err := c.Claim(t.Context(), now, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("claim after the crash: %v, %v; want both messages (%s held, %s inserted)", ids(got), err, res[0].ID, res[1].ID)
	}
}

// TestHeldInsertPartlySubmitted: a two-part message whose first
// RecordSubmits names one part (a carrier window of one) is written with
// that part and stays ACCEPTED under its worker's lease (no claim takes
// it, a Finish under another lease changes nothing); the second part's RecordSubmits completes it, and receipts for both parts
// deliver it, each event once and in order.
func TestHeldInsertPartlySubmitted(t *testing.T) {
	s, ctx, now := heldStore(t)
	until := now.Add(time.Minute)
	res, err := s.Accept(ctx, []*gateway.Message{handed("t1", 2, until)})
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].ID
	c0 := s.Commits()
	if err := s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: id, Carrier: "c1", CarrierID: "P0", Cost: 0.5, At: now}}); err != nil {
		t.Fatal(err)
	}
	if n := s.Commits() - c0; n != 1 {
		t.Errorf("the insert and the first part's submit took %d commits, want 1", n)
	}
	m, err := s.Get(ctx, "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != gateway.StatusAccepted || m.Parts[0].CarrierID != "P0" ||
		m.Parts[1].CarrierID != "" || m.Parts[1].Status != gateway.StatusAccepted {
		t.Fatalf("after the first part: %s parts=%+v; want ACCEPTED, part 0 only submitted", m.Status, m.Parts)
	}
	if lease := leaseOf(t, s, id); lease != toNanos(until) {
		t.Errorf("lease after the first part %d, want the worker's %d", lease, toNanos(until))
	}
	if got, err := s.Claim(ctx, now, 10); err != nil || len(got) != 0 {
		t.Errorf("claim under the worker's lease: %v, %v; want nothing", ids(got), err)
	}
	if err := s.Finish(ctx, id, until.Add(time.Second), gateway.StatusFailed, "x"); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("Finish under another lease: %v, want ErrLeaseLost", err)
	}
	if err := s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: id, Index: 1, Carrier: "c1", CarrierID: "P1", Cost: 0.5, At: now}}); err != nil {
		t.Fatal(err)
	}
	for _, cid := range []string{"P0", "P1"} {
		if _, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c1", CarrierID: cid,
			Status: gateway.StatusDelivered, State: "DELIVRD", Time: now}}); err != nil {
			t.Fatal(err)
		}
	}
	m, err = s.Get(ctx, "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	if lease := leaseOf(t, s, id); m.Status != gateway.StatusDelivered || lease != 0 || m.Cost != 1 || len(m.Attempts) != 2 {
		t.Errorf("after both parts and receipts: %s lease=%d cost=%.2f attempts=%d; want DELIVERED, unleased, cost 1, two attempts",
			m.Status, lease, m.Cost, len(m.Attempts))
	}
	evs, err := s.Events(ctx, "", 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	var got []gateway.Status
	for _, e := range evs {
		got = append(got, e.Status)
	}
	want := []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusDelivered}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// leaseOf reads a message's stored lease (Get does not return it).
func leaseOf(t *testing.T, s *sqliteStore, id string) int64 {
	t.Helper()
	var lease int64
	if err := s.rdb.QueryRowContext(t.Context(), "SELECT lease_until FROM messages WHERE id = ?", id).Scan(&lease); err != nil {
		t.Fatalf("lease of %s: %v", id, err)
	}
	return lease
}
