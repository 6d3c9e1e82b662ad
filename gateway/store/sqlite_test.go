package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store/storetest"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smstext"
)

// schemaVersion is the newest embedded migration, in both dialects.
const schemaVersion = 15

func TestSQLiteContract(t *testing.T) {
	for _, journal := range []bool{true, false} {
		t.Run(fmt.Sprintf("journal=%v", journal), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) func() gateway.Store {
				path := filepath.Join(t.TempDir(), "data", "smsgw.db") // "data" does not exist yet
				return func() gateway.Store {
					s, err := Open(context.Background(), Config{Path: path, Journal: &journal}, Options{})
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					return s
				}
			})
		})
	}
}

// openTest opens a SQLite store on path without the accept journal (so
// that Accept goes through the writer, whose batching these tests drive),
// closed at cleanup.
func openTest(t testing.TB, path string) *sqliteStore {
	t.Helper()
	off := false
	s, err := Open(context.Background(), Config{Driver: "sqlite", Path: path, Journal: &off}, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*sqliteStore)
}

func oneMsg(tenant string) *gateway.Message {
	return &gateway.Message{Tenant: tenant, From: "MFI", To: "+254700000001", Text: "hi",
		Encoding: gateway.EncodingGSM7, Parts: []gateway.Part{{Index: 0}}}
}

// waitQueued waits until n operations wait for the writer.
func waitQueued(t testing.TB, s *sqliteStore, n int) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := len(s.ops); got != n {
			return fmt.Errorf("%d operations queued, want %d", got, n)
		}
		return nil
	})
}

// blockWriter parks the writer goroutine inside an operation until the
// returned release is called, so a test can queue a batch deterministically.
func blockWriter(t testing.TB, s *sqliteStore) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.do(context.Background(), "block", func(*wtx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking op: %v", err)
		}
	}
}

func TestSQLitePragmas(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "p.db"))
	var (
		mode                  string
		sync, fk, busy, query int
	)
	err := s.do(t.Context(), "pragmas", func(w *wtx) error {
		if err := w.queryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			return err
		}
		if err := w.queryRow("PRAGMA synchronous").Scan(&sync); err != nil {
			return err
		}
		if err := w.queryRow("PRAGMA foreign_keys").Scan(&fk); err != nil {
			return err
		}
		return w.queryRow("PRAGMA busy_timeout").Scan(&busy)
	})
	if err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 || fk != 1 || busy <= 0 {
		t.Errorf("writer: journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d, want wal 2 (FULL) 1 >0",
			mode, sync, fk, busy)
	}
	if err := s.rdb.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&query); err != nil || query != 1 {
		t.Errorf("reader query_only=%d (%v), want 1", query, err)
	}
	var version int
	if err := s.rdb.QueryRowContext(t.Context(), "SELECT MAX(version) FROM schema_migrations").Scan(&version); err != nil || version != schemaVersion {
		t.Errorf("schema version %d (%v), want %d", version, err, schemaVersion)
	}
}

func TestOpenInvalidConfig(t *testing.T) {
	_, err := Open(t.Context(), Config{Driver: "mysql"}, Options{})
	if err == nil || !strings.Contains(err.Error(), `driver: must be "sqlite" or "postgres"`) {
		t.Errorf("Open(mysql) error %v", err)
	}
}

func TestOpenTwiceLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	openTest(t, path)
	if _, err := Open(t.Context(), Config{Path: path}, Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open of one file: %v, want in use", err)
	}
}

func TestCloseIdempotentAndErrClosed(t *testing.T) {
	checkCloseIdempotentAndErrClosed(t, openTest(t, filepath.Join(t.TempDir(), "c.db")))
}

func TestLeasesClearedOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lease.db")
	s := openTest(t, path)
	m := oneMsg("t1")
	if _, err := s.Accept(t.Context(), []*gateway.Message{m}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if got, _ := s.Claim(t.Context(), now, 10); len(got) != 1 {
		t.Fatalf("claimed %d", len(got))
	}
	s.Close()
	s = openTest(t, path)
	got, err := s.Claim(t.Context(), now, 10)
	if err != nil || len(got) != 1 || got[0].ID != m.ID {
		t.Errorf("claim right after reopen = %v, %v; want the message leased before the restart", got, err)
	}
}

// A failing operation fails only its caller, whether it failed before
// writing (unknown id) or after (the batch is replayed without it).
func TestFailedOpDoesNotFailBatch(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "b.db"))
	existing := oneMsg("t1")
	if _, err := s.Accept(t.Context(), []*gateway.Message{existing}); err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s)

	type outcome struct {
		name string
		err  error
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes []outcome
		good     []*gateway.Message
	)
	run := func(name string, f func() error) {
		wg.Go(func() {
			err := f()
			mu.Lock()
			outcomes = append(outcomes, outcome{name, err})
			mu.Unlock()
		})
	}
	for i := range 5 {
		m := oneMsg("t1")
		good = append(good, m)
		run(fmt.Sprintf("good%d", i), func() error {
			_, err := s.Accept(t.Context(), []*gateway.Message{m})
			return err
		})
	}
	// Fails after writing its first message: the batch is replayed.
	partial := oneMsg("t1")
	clash := oneMsg("t1")
	clash.ID = existing.ID
	run("dirty", func() error {
		_, err := s.Accept(t.Context(), []*gateway.Message{partial, clash})
		return err
	})
	// Fails before writing anything.
	run("clean", func() error {
		return s.Reschedule(t.Context(), "01900000-0000-7000-8000-00000000dead", time.Time{}, time.Now(), "", true)
	})
	waitQueued(t, s, 7)
	release()
	wg.Wait()

	for _, o := range outcomes {
		bad := o.name == "dirty" || o.name == "clean"
		if bad != (o.err != nil) {
			t.Errorf("%s: error %v", o.name, o.err)
		}
	}
	for _, m := range good {
		if _, err := s.Get(t.Context(), "t1", m.ID); err != nil {
			t.Errorf("good message: %v", err)
		}
	}
	if partial.ID != "" {
		t.Errorf("the failed Accept set an id: %s", partial.ID)
	}
	evs, _ := s.Events(t.Context(), "", 0, 100)
	if len(evs) != 6 {
		t.Errorf("%d events, want 6 (1 + 5 good; nothing of the failed accept)", len(evs))
	}
}

func TestCanceledWhileQueued(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"))
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	m := oneMsg("t1")
	errc := make(chan error, 1)
	go func() {
		_, err := s.Accept(ctx, []*gateway.Message{m})
		errc <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	release()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Accept canceled while queued: %v, want context.Canceled", err)
	}
	if evs, _ := s.Events(t.Context(), "", 0, 10); len(evs) != 0 {
		t.Errorf("a canceled accept was stored: %+v", evs)
	}
}

func TestCloseFlushesQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s := openTest(t, path)
	release := blockWriter(t, s)
	const n = 20
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Go(func() {
			m := oneMsg("t1")
			if _, err := s.Accept(context.Background(), []*gateway.Message{m}); err != nil {
				t.Errorf("queued Accept: %v", err)
			}
			ids[i] = m.ID
		})
	}
	waitQueued(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	testutil.Eventually(t, 5*time.Second, func() error {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if !s.closed {
			return errors.New("store not closing yet")
		}
		return nil
	})
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	s = openTest(t, path)
	for _, id := range ids {
		if _, err := s.Get(t.Context(), "t1", id); err != nil {
			t.Errorf("a queued accept was lost by Close: %v", err)
		}
	}
}

func TestAcceptRejectsBadParts(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "v.db"))
	noParts := oneMsg("t1")
	noParts.Parts = nil
	badIndex := oneMsg("t1")
	badIndex.Parts = []gateway.Part{{Index: 1}}
	for _, m := range []*gateway.Message{noParts, badIndex, nil} {
		if _, err := s.Accept(t.Context(), []*gateway.Message{m}); err == nil {
			t.Errorf("Accept(%+v) succeeded", m)
		}
	}
	if err := s.Finish(t.Context(), "x", time.Time{}, gateway.StatusSubmitted, ""); err == nil {
		t.Error("Finish with a non-final status succeeded")
	}
}

// Accepts queued together run as one group; duplicates within it resolve
// exactly as they do across batches.
func TestGroupedAcceptDedupe(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "g.db"))
	release := blockWriter(t, s)
	withRef := func(tenant, ref string) *gateway.Message {
		m := oneMsg(tenant)
		m.ClientRef = ref
		return m
	}
	calls := [][]*gateway.Message{
		{withRef("t1", "same")},
		{withRef("t1", "same")},
		{withRef("t1", "same")},
		{withRef("t2", "same")},
		{withRef("t1", "a"), withRef("t1", "a"), oneMsg("t1")},
	}
	results := make([][]gateway.AcceptResult, len(calls))
	var wg sync.WaitGroup
	for i, msgs := range calls {
		wg.Go(func() {
			res, err := s.Accept(t.Context(), msgs)
			if err != nil {
				t.Errorf("Accept: %v", err)
			}
			results[i] = res
		})
	}
	waitQueued(t, s, len(calls))
	release()
	wg.Wait()

	fresh, id := 0, results[0][0].ID
	for _, r := range results[:3] {
		if !r[0].Duplicate {
			fresh++
		}
		if r[0].ID != id {
			t.Errorf("t1/same stored as %s and %s", id, r[0].ID)
		}
	}
	if fresh != 1 {
		t.Errorf("t1/same stored %d times", fresh)
	}
	if r := results[3][0]; r.Duplicate || r.ID == id {
		t.Errorf("t2/same: %+v, want a new message", r)
	}
	if r := results[4]; r[0].Duplicate || !r[1].Duplicate || r[1].ID != r[0].ID || r[2].Duplicate {
		t.Errorf("one call with a repeated ref: %+v", r)
	}
	if evs, _ := s.Events(t.Context(), "", 0, 100); len(evs) != 4 {
		t.Errorf("%d events, want 4", len(evs))
	}
}

// One Accept larger than a multi-row statement is split across several.
func TestAcceptLargeCall(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "big.db"))
	var msgs []*gateway.Message
	for i := range 150 {
		m := oneMsg("t1")
		m.ClientRef = fmt.Sprintf("ref-%d", i%140) // the last 10 repeat earlier refs
		m.Parts = []gateway.Part{{Index: 0}, {Index: 1}, {Index: 2}}
		msgs = append(msgs, m)
	}
	res, err := s.Accept(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if want := i >= 140; r.Duplicate != want || (want && r.ID != res[i-140].ID) {
			t.Fatalf("result %d: %+v", i, r)
		}
		got, err := s.Get(t.Context(), "t1", r.ID)
		if err != nil || len(got.Parts) != 3 || got.ClientRef != msgs[i].ClientRef {
			t.Fatalf("Get %d: %+v, %v", i, got, err)
		}
	}
	if evs, _ := s.Events(t.Context(), "", 0, 1000); len(evs) != 140 {
		t.Errorf("%d events, want 140", len(evs))
	}
}

// The RecordSubmits and RecordReceipts of one batch run as groups; what
// they leave must be what the same calls leave one batch each, in the
// order the batch runs them (a RecordSubmits whose message another one of
// the batch names runs before the group, on its own).
func TestGroupedSubmitsAndReceiptsMatchOneByOne(t *testing.T) {
	const c = "c1"
	id := func(n int) string { return fmt.Sprintf("01900000-0000-7000-8000-%012d", n) }
	sub := func(msg, part int, carrierID string, cost float64) gateway.SubmitRecord {
		return gateway.SubmitRecord{MessageID: id(msg), Index: part, Carrier: c, CarrierID: carrierID, Cost: cost, Currency: "KES"}
	}
	rec := func(carrierID string, st gateway.Status, state, code string) gateway.Receipt {
		return gateway.Receipt{Carrier: c, CarrierID: carrierID, Status: st, State: state, Error: code}
	}
	type call struct {
		name string
		subs []gateway.SubmitRecord
		rs   []gateway.Receipt
	}
	calls := []call{
		{name: "S1", subs: []gateway.SubmitRecord{sub(1, 0, "a1", 0.5)}},
		{name: "S2", subs: []gateway.SubmitRecord{sub(3, 0, "a3-0", 0.25), sub(3, 1, "a3-1", 0.25)}},
		{name: "S3", subs: []gateway.SubmitRecord{sub(3, 2, "a3-2", 0.25)}}, // m3 again: on its own
		{name: "S4", subs: []gateway.SubmitRecord{sub(2, 0, "early", 0.1)}}, // a receipt waits for it
		{name: "S5", subs: []gateway.SubmitRecord{sub(99, 0, "ghost", 1)}},  // unknown: fails alone
		{name: "S6", subs: []gateway.SubmitRecord{sub(4, 0, "zz", 1), sub(4, 1, "a4", 1), sub(4, 0, "a4", 1)}},
		{name: "R1", rs: []gateway.Receipt{rec("a1", gateway.StatusSubmitted, "ENROUTE", ""),
			rec("a1", gateway.StatusDelivered, "DELIVRD", ""), rec("a1", gateway.StatusDelivered, "DELIVRD", "")}},
		{name: "R2", rs: []gateway.Receipt{rec("a3-0", gateway.StatusDelivered, "DELIVRD", ""),
			rec("nope", gateway.StatusUndelivered, "UNDELIV", "001"), rec("nope2", gateway.StatusSubmitted, "ENROUTE", ""),
			rec("", gateway.StatusDelivered, "DELIVRD", "")}},
		{name: "R3", rs: []gateway.Receipt{rec("a3-1", gateway.StatusUndelivered, "UNDELIV", "034"),
			rec("a4", gateway.StatusDelivered, "DELIVRD", "")}},
		{name: "R4", rs: []gateway.Receipt{rec("a3-2", gateway.StatusDelivered, "DELIVRD", ""),
			rec("x5", gateway.StatusSubmitted, "ACCEPTD", ""), rec("x5", gateway.StatusExpired, "EXPIRED", "")}},
	}
	setup := func(s *sqliteStore) {
		parts := map[int]int{1: 1, 2: 1, 3: 3, 4: 2, 5: 1}
		var msgs []*gateway.Message
		for n := 1; n <= 5; n++ {
			m := oneMsg("t1")
			m.ID = id(n)
			m.Parts = nil
			for i := range parts[n] {
				m.Parts = append(m.Parts, gateway.Part{Index: i})
			}
			msgs = append(msgs, m)
		}
		if _, err := s.Accept(t.Context(), msgs); err != nil {
			t.Fatal(err)
		}
		if n, err := s.RecordReceipts(t.Context(), []gateway.Receipt{rec("early", gateway.StatusDelivered, "DELIVRD", "")}); err != nil || n.Matched != 0 {
			t.Fatalf("early receipt: %+v, %v", n, err)
		}
		if err := s.RecordSubmits(t.Context(), []gateway.SubmitRecord{sub(5, 0, "x5", 0.3)}); err != nil {
			t.Fatal(err)
		}
	}
	type outcome struct {
		err                  bool
		matched, held, stale int
	}
	run := func(s *sqliteStore, cl call) outcome {
		if cl.subs != nil {
			return outcome{err: s.RecordSubmits(t.Context(), cl.subs) != nil}
		}
		n, err := s.RecordReceipts(t.Context(), cl.rs)
		return outcome{err: err != nil, matched: n.Matched, held: n.Held, stale: n.Stale}
	}

	// One by one, in the order the batch below runs them.
	one := openTest(t, filepath.Join(t.TempDir(), "one.db"))
	setup(one)
	want := map[string]outcome{}
	for _, i := range []int{2, 0, 1, 3, 4, 5, 6, 7, 8, 9} {
		want[calls[i].name] = run(one, calls[i])
	}

	// All in one batch, queued in the order of calls.
	batch := openTest(t, filepath.Join(t.TempDir(), "batch.db"))
	setup(batch)
	release := blockWriter(t, batch)
	got := map[string]outcome{}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for i, cl := range calls {
		wg.Go(func() {
			o := run(batch, cl)
			mu.Lock()
			got[cl.name] = o
			mu.Unlock()
		})
		waitQueued(t, batch, i+1)
	}
	release()
	wg.Wait()

	for _, cl := range calls {
		if got[cl.name] != want[cl.name] {
			t.Errorf("%s: batched %+v, one by one %+v", cl.name, got[cl.name], want[cl.name])
		}
	}
	// R1's second DELIVRD names a part final by then: held.
	if !want["S5"].err || want["R1"].matched != 2 || want["R1"].held != 1 || want["R2"].matched != 1 {
		t.Errorf("reference outcomes %+v", want)
	}
	a, b := dumpState(t, one), dumpState(t, batch)
	if a != b {
		t.Errorf("state one by one:\n%s\nstate batched:\n%s", a, b)
	}
	for _, line := range []string{
		"msg " + id(1) + " DELIVERED c1 0.5 KES  leased=false",
		"msg " + id(2) + " DELIVERED c1 0.1 KES  leased=false",
		"msg " + id(3) + " UNDELIVERED c1 0.75 KES part 1: UNDELIV err:034 leased=false",
		"msg " + id(4) + " DELIVERED c1 3.0 KES  leased=false", // the repeated record counts too,
		"msg " + id(5) + " EXPIRED c1 0.3 KES EXPIRED leased=false",
		"part " + id(4) + "/0 c1 a4 DELIVERED  1.0",
		"unmatched c1 nope UNDELIVERED UNDELIV 001",
	} {
		if !strings.Contains(b, line+"\n") {
			t.Errorf("batched state lacks %q:\n%s", line, b)
		}
	}
}

// A receipt group loads the targets of the receipts' other id readings
// (AltIDs) only for the receipts that may need them; what it leaves must
// be what the same receipts leave applied one call each: a repeated id
// whose first receipt finalizes its part goes on to its other readings,
// an id that names nothing finds its part under another reading, and an
// id that names nothing under any reading is kept.
func TestReceiptReadingsGroupedMatchOneByOne(t *testing.T) {
	const c = "c1"
	id := func(n int) string { return fmt.Sprintf("01900000-0000-7000-8000-%012d", n) }
	subs := []gateway.SubmitRecord{ // message n, part, carrier id
		{MessageID: id(1), Carrier: c, CarrierID: "10"},
		{MessageID: id(2), Carrier: c, CarrierID: "a"}, // 10 read as hex
		{MessageID: id(3), Carrier: c, CarrierID: "255"},
		{MessageID: id(4), Carrier: c, CarrierID: "ff"},
		{MessageID: id(5), Carrier: c, CarrierID: "20"},
		{MessageID: id(5), Index: 1, Carrier: c, CarrierID: "14"}, // 20 in hex
		{MessageID: id(6), Carrier: c, CarrierID: "c"},            // 12 in hex
		{MessageID: id(7), Carrier: c, CarrierID: "30"},           // final before the group
		{MessageID: id(8), Carrier: c, CarrierID: "1e"},           // 30 in hex
	}
	rec := func(carrierID string, st gateway.Status) gateway.Receipt {
		return gateway.Receipt{Carrier: c, CarrierID: carrierID, AltIDs: smstext.AltIDs(carrierID, smstext.IDAuto),
			Status: st, State: string(st)}
	}
	receipts := []gateway.Receipt{
		rec("10", gateway.StatusDelivered),
		rec("10", gateway.StatusDelivered), // 10 is final now: a (message 2)
		rec("255", gateway.StatusSubmitted),
		rec("ff", gateway.StatusDelivered),
		rec("255", gateway.StatusUndelivered),
		rec("20", gateway.StatusUndelivered),
		rec("14", gateway.StatusDelivered),
		rec("12", gateway.StatusDelivered), // nothing under 12: c (message 6)
		rec("99", gateway.StatusDelivered), // nothing under any reading: kept
		rec("14", gateway.StatusDelivered), // 14 is final: 20 is final too: stale
		rec("30", gateway.StatusDelivered), // 30 was final before: 1e (message 8)
	}
	setup := func(s *sqliteStore) {
		var msgs []*gateway.Message
		for n := 1; n <= 8; n++ {
			m := oneMsg("t1")
			m.ID = id(n)
			if n == 5 {
				m.Parts = []gateway.Part{{Index: 0}, {Index: 1}}
			}
			msgs = append(msgs, m)
		}
		if _, err := s.Accept(t.Context(), msgs); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSubmits(t.Context(), subs); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordReceipts(t.Context(), []gateway.Receipt{{Carrier: c, CarrierID: "30", Status: gateway.StatusDelivered}}); err != nil {
			t.Fatal(err)
		}
	}
	one := openTest(t, filepath.Join(t.TempDir(), "one.db"))
	setup(one)
	var want gateway.ReceiptTally
	for _, r := range receipts {
		n, err := one.RecordReceipts(t.Context(), []gateway.Receipt{r})
		if err != nil {
			t.Fatal(err)
		}
		want.Matched, want.Held, want.Stale = want.Matched+n.Matched, want.Held+n.Held, want.Stale+n.Stale
	}
	group := openTest(t, filepath.Join(t.TempDir(), "group.db"))
	setup(group)
	got, err := group.RecordReceipts(t.Context(), receipts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Matched != want.Matched || got.Held != want.Held || got.Stale != want.Stale {
		t.Errorf("grouped tally %+v, one by one %+v", got, want)
	}
	a, b := dumpState(t, one), dumpState(t, group)
	if a != b {
		t.Errorf("state one by one:\n%s\nstate grouped:\n%s", a, b)
	}
	for _, line := range []string{
		"msg " + id(1) + " DELIVERED",
		"msg " + id(2) + " DELIVERED",
		"msg " + id(3) + " UNDELIVERED",
		"msg " + id(4) + " DELIVERED",
		"msg " + id(5) + " UNDELIVERED",
		"msg " + id(6) + " DELIVERED",
		"msg " + id(8) + " DELIVERED",
		"unmatched c1 99 DELIVERED",
	} {
		if !strings.Contains(b, line+" ") {
			t.Errorf("grouped state lacks %q:\n%s", line, b)
		}
	}
}

// dumpState prints what RecordSubmits and RecordReceipts write, without
// the times, in a stable order.
func dumpState(t *testing.T, s *sqliteStore) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT 'msg ' || id || ' ' || status || ' ' || carrier || ' ' || cost || ' ' || currency || ' ' || last_error ||
			' leased=' || CASE WHEN lease_until <> 0 THEN 'true' ELSE 'false' END FROM messages ORDER BY id`,
		`SELECT 'part ' || message_id || '/' || idx || ' ' || carrier || ' ' || carrier_id || ' ' || status || ' ' || error || ' ' || cost
			FROM parts ORDER BY message_id, idx`,
		`SELECT 'event ' || kind || ' ' || message_id || ' ' || status || ' ' || detail FROM events ORDER BY seq`,
		`SELECT 'attempt ' || message_id || ' ' || carrier || ' ' || outcome || ' ' || detail FROM attempts ORDER BY rowid`,
		`SELECT 'unmatched ' || carrier || ' ' || carrier_id || ' ' || status || ' ' || state || ' ' || error FROM unmatched_receipts ORDER BY id`,
	} {
		rows, err := s.rdb.QueryContext(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			b.WriteString(line + "\n")
		}
		rows.Close()
	}
	return b.String()
}

// Calls larger than one set-based statement are cut into several.
func TestLargeSubmitsAndReceipts(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "large.db"))
	const n = 700
	msgs := make([]*gateway.Message, n)
	for i := range msgs {
		msgs[i] = oneMsg("t1")
	}
	if _, err := s.Accept(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	recs := make([]gateway.SubmitRecord, n)
	rs := make([]gateway.Receipt, n)
	for i, m := range msgs {
		recs[i] = gateway.SubmitRecord{MessageID: m.ID, Carrier: "c1", CarrierID: fmt.Sprintf("id-%d", i), Cost: 0.5}
		rs[i] = gateway.Receipt{Carrier: "c1", CarrierID: fmt.Sprintf("id-%d", i), Status: gateway.StatusDelivered, State: "DELIVRD"}
	}
	if err := s.RecordSubmits(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if matched, err := s.RecordReceipts(t.Context(), rs); err != nil || matched.Matched != n {
		t.Fatalf("RecordReceipts: %+v, %v; want %d", matched, err, n)
	}
	for _, m := range []*gateway.Message{msgs[0], msgs[255], msgs[256], msgs[n-1]} {
		got, err := s.Get(t.Context(), "t1", m.ID)
		if err != nil || got.Status != gateway.StatusDelivered || got.Cost != 0.5 || len(got.Attempts) != 1 {
			t.Errorf("Get: %+v, %v", got, err)
		}
	}
	if evs, _ := s.Events(t.Context(), "", 0, 10*n); len(evs) != 3*n {
		t.Errorf("%d events, want %d (accepted, submitted, delivered each)", len(evs), 3*n)
	}
}

// A claimed task leaves the front of the due tasks (its not_before moves
// to its lease end), so the next claim takes the tasks behind it; each is
// returned with the not_before it was due at. Opening the store again
// makes a task whose runner died due at once, not at its lease end.
func TestTaskClaimsPassRunningTasks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := openTest(t, path)
	ctx := t.Context()
	now := time.Now()
	var tasks []gateway.Task
	for i := range 6 {
		tasks = append(tasks, gateway.Task{Key: fmt.Sprint("k", i), Kind: "webhook", NotBefore: now.Add(time.Duration(i-10) * time.Second)})
	}
	if _, err := s.EnqueueTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	first, err := s.ClaimTasks(ctx, now, 2, time.Minute)
	if err != nil || len(first) != 2 || first[0].Key != "k0" || first[1].Key != "k1" {
		t.Fatalf("first claim %+v, %v", first, err)
	}
	if !first[0].NotBefore.Equal(tasks[0].NotBefore) || !first[0].LeaseUntil.Equal(now.Add(time.Minute)) {
		t.Errorf("claimed task due %v, leased until %v; want %v and %v", first[0].NotBefore, first[0].LeaseUntil,
			tasks[0].NotBefore, now.Add(time.Minute))
	}
	next, err := s.ClaimTasks(ctx, now.Add(time.Second), 2, time.Minute)
	if err != nil || len(next) != 2 || next[0].Key != "k2" || next[1].Key != "k3" {
		t.Fatalf("second claim %+v, %v", next, err)
	}
	var front int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM tasks INDEXED BY tasks_due
		WHERE done_at = 0 AND not_before <= $1`, toNanos(now.Add(time.Second))).Scan(&front); err != nil || front != 2 {
		t.Errorf("%d tasks at the front of tasks_due (%v), want the 2 not claimed", front, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	again, err := s.ClaimTasks(ctx, now.Add(2*time.Second), 10, time.Minute)
	if err != nil || len(again) != 6 {
		t.Fatalf("after reopening: %+v, %v; want all 6 due at once", again, err)
	}
}

// Retention deletes the oldest prefix of the log appended before the
// cutoff: it stops at the first event kept, even with older ones after it
// (a clock set back), and walks past an event dated beyond misdatedAfter
// (a clock that jumped forward), which would otherwise hold it for days.
func TestPruneEventsDeletesAPrefix(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "prune.db"))
	for range 4 {
		if _, err := s.Accept(t.Context(), []*gateway.Message{oneMsg("t1")}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.Events(t.Context(), "", 0, 10)
	if err != nil || len(evs) != 4 {
		t.Fatalf("Events = %d, %v; want 4", len(evs), err)
	}
	cut := time.Now().Add(time.Minute)
	dated := map[int64]time.Time{evs[0].Seq: cut.Add(48 * time.Hour), evs[2].Seq: cut.Add(10 * time.Minute)}
	err = s.do(t.Context(), "date events", func(w *wtx) error {
		for seq, at := range dated {
			if _, err := w.exec("UPDATE events SET at = $1 WHERE seq = $2", at.UnixNano(), seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneEvents(t.Context(), cut)
	if err != nil || n != 2 {
		t.Fatalf("PruneEvents = %d, %v; want 2 (the misdated first event and the second)", n, err)
	}
	left, err := s.Events(t.Context(), "", 0, 10)
	if err != nil || len(left) != 2 || left[0].Seq != evs[2].Seq || left[1].Seq != evs[3].Seq {
		t.Errorf("after prune %+v, %v; want seqs %d and %d", left, err, evs[2].Seq, evs[3].Seq)
	}
	if through, err := s.PrunedThrough(t.Context()); err != nil || through != evs[1].Seq {
		t.Errorf("PrunedThrough = %d, %v; want %d", through, err, evs[1].Seq)
	}
}
