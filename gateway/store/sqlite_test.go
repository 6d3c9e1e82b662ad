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
)

// schemaVersion is the newest embedded migration, in both dialects.
const schemaVersion = 6

func TestSQLiteContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() gateway.Store {
		path := filepath.Join(t.TempDir(), "data", "smsgw.db") // "data" does not exist yet
		return func() gateway.Store {
			s, err := Open(context.Background(), Config{Path: path}, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	})
}

// openTest opens a SQLite store on path, closed at cleanup.
func openTest(t testing.TB, path string) *sqliteStore {
	t.Helper()
	s, err := Open(context.Background(), Config{Driver: "sqlite", Path: path}, Options{})
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
func waitQueued(t *testing.T, s *sqliteStore, n int) {
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
func blockWriter(t *testing.T, s *sqliteStore) (release func()) {
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
		return s.Reschedule(t.Context(), "01900000-0000-7000-8000-00000000dead", time.Now(), "", true)
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
	if err := s.Finish(t.Context(), "x", gateway.StatusSubmitted, ""); err == nil {
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
