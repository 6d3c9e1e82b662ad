package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
)

// openJournalTest opens a SQLite store on path with the accept journal,
// closed at cleanup.
func openJournalTest(t testing.TB, path string) *sqliteStore {
	t.Helper()
	s, err := Open(context.Background(), Config{Path: path}, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ss := s.(*sqliteStore)
	if ss.aj == nil {
		t.Fatal("the accept journal is off by default")
	}
	return ss
}

// copyFiles copies the files named (relative to from) into to; a name
// ending in "/" is a directory of files.
func copyFiles(t *testing.T, from, to string, names ...string) {
	t.Helper()
	cp := func(src, dst string) {
		in, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := os.Create(dst)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		dir, ok := strings.CutSuffix(name, "/")
		if !ok {
			cp(filepath.Join(from, name), filepath.Join(to, name))
			continue
		}
		if err := os.MkdirAll(filepath.Join(to, dir), 0o750); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(filepath.Join(from, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			cp(filepath.Join(from, dir, e.Name()), filepath.Join(to, dir, e.Name()))
		}
	}
}

// TestAcceptedIsInTheJournalBeforeTheDatabase: Accept answers while the
// writer cannot insert anything; the files as they stand then (what a
// crash would leave) open into a store that has the messages, as
// accepted, with their events; and the first store inserts them once the
// writer runs again.
func TestAcceptedIsInTheJournalBeforeTheDatabase(t *testing.T) {
	dir := t.TempDir()
	s := openJournalTest(t, filepath.Join(dir, "a.db"))
	// Nothing but the writer may change the files while they are copied.
	s.stopCheckpoints()
	<-s.checkpointDone
	release := blockWriter(t, s)
	msgs := []*gateway.Message{oneMsg("t1"), oneMsg("t1"), oneMsg("t2")}
	msgs[0].ClientRef = "loan-42-reminder"
	msgs[1].Parts = append(msgs[1].Parts, gateway.Part{Index: 1})
	msgs[2].Status, msgs[2].LastError = gateway.StatusOptedOut, "opted out"
	msgs[2].Meta = map[string]string{"dlr-url": "http://x/y?id=%i"}
	res, err := s.Accept(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	acceptedAt := msgs[0].CreatedAt

	crashed := t.TempDir()
	copyFiles(t, dir, crashed, "a.db", "a.db-wal", "a.db.journal/")
	release()

	c := openJournalTest(t, filepath.Join(crashed, "a.db"))
	for i, r := range res {
		m, err := c.Get(t.Context(), "", r.ID)
		if err != nil {
			t.Fatalf("message %d after the crash: %v", i, err)
		}
		want := msgs[i]
		if m.Tenant != want.Tenant || m.ClientRef != want.ClientRef || m.To != want.To || m.Text != want.Text ||
			len(m.Parts) != len(want.Parts) || m.Status != want.Status || m.LastError != want.LastError ||
			!m.CreatedAt.Equal(acceptedAt) || fmt.Sprint(m.Meta) != fmt.Sprint(want.Meta) {
			t.Errorf("message %d after the crash: %+v, want %+v accepted at %s", i, m, want, acceptedAt)
		}
	}
	evs, err := c.Events(t.Context(), "", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].MessageID != res[0].ID || evs[0].Status != gateway.StatusAccepted ||
		evs[2].MessageID != res[2].ID || evs[2].Status != gateway.StatusOptedOut {
		t.Errorf("events after the crash: %+v", evs)
	}
	// The journal was taken in: a second open restores nothing more.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, err := segments(filepath.Join(crashed, "a.db.journal")); err != nil || len(segs) != 0 {
		t.Errorf("journal after a clean close: %v segments (%v), want none", segs, err)
	}
	c = openJournalTest(t, filepath.Join(crashed, "a.db"))
	if evs, err := c.Events(t.Context(), "", 1, 100); err != nil || len(evs) != 3 {
		t.Errorf("events after reopening: %d (%v), want 3: a message restored twice", len(evs), err)
	}
	dup, err := c.Accept(t.Context(), []*gateway.Message{{Tenant: "t1", ClientRef: "loan-42-reminder", To: "+254700000001",
		Text: "hi", Parts: []gateway.Part{{Index: 0}}}})
	if err != nil || !dup[0].Duplicate || dup[0].ID != res[0].ID {
		t.Errorf("the restored message's client_ref again: %+v (%v), want a duplicate of %s", dup, err, res[0].ID)
	}

	// And the store that answered inserts them itself.
	for _, r := range res {
		if _, err := s.Get(t.Context(), "", r.ID); err != nil {
			t.Errorf("Get %s once the writer runs: %v", r.ID, err)
		}
	}
}

// TestReadsWaitForAcceptedMessages: what Accept acknowledged is what reads
// see, though the writer inserts it later: Get, GetByClientRef, List,
// Events and Backlog wait for the insert rather than miss the message.
func TestReadsWaitForAcceptedMessages(t *testing.T) {
	s := openJournalTest(t, filepath.Join(t.TempDir(), "r.db"))
	release := blockWriter(t, s)
	m := oneMsg("t1")
	m.ClientRef = "r-1"
	res, err := s.Accept(t.Context(), []*gateway.Message{m})
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string]func(ctx context.Context) error{
		"Get": func(ctx context.Context) error { _, err := s.Get(ctx, "t1", res[0].ID); return err },
		"GetByClientRef": func(ctx context.Context) error {
			_, err := s.GetByClientRef(ctx, "t1", "r-1")
			return err
		},
		"List": func(ctx context.Context) error {
			ms, err := s.List(ctx, "t1", gateway.ListFilter{})
			if err == nil && len(ms) != 1 {
				err = fmt.Errorf("%d messages", len(ms))
			}
			return err
		},
		"Events": func(ctx context.Context) error {
			evs, err := s.Events(ctx, "t1", 1, 10)
			if err == nil && len(evs) != 1 {
				err = fmt.Errorf("%d events", len(evs))
			}
			return err
		},
		"Backlog": func(ctx context.Context) error {
			n, err := s.Backlog(ctx)
			if err == nil && n != 1 {
				err = fmt.Errorf("backlog %d", n)
			}
			return err
		},
	}
	// While the writer is held, each read waits (here until its deadline).
	for name, read := range reads {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		err := read(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s while the message is only in the journal: %v, want it to wait", name, err)
		}
	}
	// A duplicate is found in the journal, before the database has it.
	again := oneMsg("t1")
	again.ClientRef = "r-1"
	dup, err := s.Accept(t.Context(), []*gateway.Message{again})
	if err != nil || !dup[0].Duplicate || dup[0].ID != res[0].ID {
		t.Errorf("the same client_ref while the first is only journaled: %+v (%v), want a duplicate of %s", dup, err, res[0].ID)
	}
	done := make(chan error, len(reads))
	for name, read := range reads {
		go func() {
			if err := read(t.Context()); err != nil {
				done <- fmt.Errorf("%s: %w", name, err)
				return
			}
			done <- nil
		}()
	}
	release()
	for range reads {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestJournalSegmentsGoOnceInserted: a segment is deleted once every
// group in it is in the database and the journal has moved past it, so the
// journal stays the size of what waits for the writer.
func TestJournalSegmentsGoOnceInserted(t *testing.T) {
	dir := t.TempDir()
	s := openJournalTest(t, filepath.Join(dir, "g.db"))
	s.aj.j.mu.Lock()
	s.aj.j.maxSize = 4 << 10 // a new segment every few calls
	s.aj.j.mu.Unlock()
	for i := range 50 {
		msgs := make([]*gateway.Message, 10)
		for j := range msgs {
			msgs[j] = oneMsg("t1")
			msgs[j].Text = fmt.Sprintf("call %d message %d: your repayment is due on Friday", i, j)
		}
		if _, err := s.Accept(t.Context(), msgs); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		segs, err := segments(filepath.Join(dir, "g.db.journal"))
		if err != nil {
			return err
		}
		if len(segs) > 2 {
			return fmt.Errorf("%d segments kept", len(segs))
		}
		return nil
	})
	if n, err := s.Backlog(t.Context()); err != nil || n != 500 {
		t.Errorf("backlog %d (%v), want 500", n, err)
	}
}

// TestJournalTornTailAndDamage: a record cut short at the end of the last
// segment (a crash mid-append: never acknowledged) is dropped and appends
// go on after the good ones; a damaged record before the end fails the
// open, naming the file and offset.
func TestJournalTornTailAndDamage(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"one", "two", "three"} {
		if _, err := j.Append([][]byte{[]byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: half a record's header and payload after the good ones.
	if _, err := j.f.Write([]byte{9, 0, 0, 0, 1, 2, 3, 4, 'f', 'o'}); err != nil {
		t.Fatal(err)
	}
	j.f.Close()
	read := func() ([]string, uint64, error) {
		var got []string
		next, err := replayJournal(dir, func(p []byte) error { got = append(got, string(p)); return nil })
		return got, next, err
	}
	got, next, err := read()
	if err != nil || strings.Join(got, ",") != "one,two,three" || next != 2 {
		t.Fatalf("replay with a torn tail: %v next %d (%v), want one,two,three next 2", got, next, err)
	}
	if got, _, err := read(); err != nil || len(got) != 3 {
		t.Errorf("replay after the cut: %v (%v)", got, err)
	}

	// Damage in a segment that is not the last one.
	seg1 := filepath.Join(dir, segmentName(1))
	b, err := os.ReadFile(seg1)
	if err != nil {
		t.Fatal(err)
	}
	b[8+3+8] ^= 0xff // the first byte of "two"
	if err := os.WriteFile(seg1, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(2)), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	_, _, err = read()
	if err == nil || !strings.Contains(err.Error(), segmentName(1)) || !strings.Contains(err.Error(), "offset 11") {
		t.Errorf("replay over a damaged record: %v, want an error naming %s at offset 11", err, segmentName(1))
	}
}

// TestJournalOffAcceptsThroughTheWriter: with journal: false, nothing is
// journaled and Accept commits to the database itself.
func TestJournalOffAcceptsThroughTheWriter(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, filepath.Join(dir, "o.db"))
	if s.aj != nil {
		t.Fatal("journal: false still journals")
	}
	if _, err := s.Accept(t.Context(), []*gateway.Message{oneMsg("t1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "o.db.journal")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal directory with the journal off: %v", err)
	}
}

// FuzzJournalReplay: whatever the last segment holds, replay neither
// panics nor fails (what does not frame is a torn tail), gives back a
// prefix of the records written before the damage, and cuts the file so
// that a second replay reads the same and appends go on after it.
func FuzzJournalReplay(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 0, 0, 0x5c, 0x6e, 0x3c, 0x1b, 'o', 'n', 'e'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		j, err := openJournal(dir, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"first", "second"}
		for _, p := range want {
			if _, err := j.Append([][]byte{[]byte(p)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := j.f.Write(tail); err != nil {
			t.Fatal(err)
		}
		j.f.Close()
		read := func() []string {
			var got []string
			if _, err := replayJournal(dir, func(p []byte) error { got = append(got, string(p)); return nil }); err != nil {
				t.Fatalf("replay: %v", err)
			}
			return got
		}
		got := read()
		if len(got) < 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("replay gave %q, want %q first", got, want)
		}
		if again := read(); strings.Join(again, "\x00") != strings.Join(got, "\x00") {
			t.Fatalf("second replay gave %q, first %q", again, got)
		}
	})
}

// TestJournalDuplicatesAtEverySize: the acceptor decides duplicates with a
// few prepared statements of power-of-two sizes, the last ref repeated to
// fill one; a call of any size, across the 256-ref chunks, finds exactly
// the refs stored, each with its own id.
func TestJournalDuplicatesAtEverySize(t *testing.T) {
	s := openJournalTest(t, filepath.Join(t.TempDir(), "s.db"))
	ref := func(i int) string { return fmt.Sprintf("loan-%04d", i) }
	var first []*gateway.Message
	for i := 0; i < 300; i += 3 { // every third ref stored
		m := oneMsg("t1")
		m.ClientRef = ref(i)
		first = append(first, m)
	}
	if _, err := s.Accept(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	// Wait until they are in the database, so the check reads it.
	if _, err := s.Get(t.Context(), "t1", first[len(first)-1].ID); err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, m := range first {
		stored[m.ClientRef] = m.ID
	}
	for _, n := range []int{1, 3, 5, 257, 300} {
		var msgs []*gateway.Message
		for i := range n {
			m := oneMsg("t1")
			m.ClientRef = ref(i)
			if stored[m.ClientRef] == "" {
				m.ClientRef = fmt.Sprintf("new-%d-%d", n, i)
			}
			msgs = append(msgs, m)
		}
		res, err := s.Accept(t.Context(), msgs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			id, dup := stored[msgs[i].ClientRef]
			if r.Duplicate != dup || (dup && r.ID != id) {
				t.Fatalf("%d refs, ref %s: %+v; want duplicate %v of %q", n, msgs[i].ClientRef, r, dup, id)
			}
			if !dup {
				stored[msgs[i].ClientRef] = r.ID
			}
		}
	}
	if got := len(s.aj.refStmts); got > 9 {
		t.Errorf("%d statements prepared, want a power-of-two handful", got)
	}
}

// TestJournaledAcceptedEventDatedAtAccept: the ACCEPTED event of a
// journaled message carries the time it was accepted, not the time the
// writer inserted it (which can be seconds later with the journal full),
// in the event tail and in the database.
func TestJournaledAcceptedEventDatedAtAccept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	var (
		mu  sync.Mutex
		now = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	open := func() *sqliteStore {
		s, err := Open(context.Background(), Config{Path: path}, Options{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.(*sqliteStore)
	}
	s := open()
	accepted := clock()
	release := blockWriter(t, s)
	res, err := s.Accept(context.Background(), []*gateway.Message{oneMsg("t1")})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Hour) // the writer inserts the message an hour on
	mu.Unlock()
	release()
	check := func(where string) {
		t.Helper()
		// From the newest seq: the tail holds it while the store is open.
		last, err := s.LastSeq(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		evs, err := s.Events(context.Background(), "t1", last, 10)
		if err != nil || len(evs) != 1 || evs[0].MessageID != res[0].ID || evs[0].Status != gateway.StatusAccepted {
			t.Fatalf("%s: events %+v, %v; want the ACCEPTED event", where, evs, err)
		}
		if !evs[0].Time.Equal(accepted) {
			t.Errorf("%s: ACCEPTED event at %s, want the accept time %s", where, evs[0].Time, accepted)
		}
	}
	check("event tail")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	check("database")
}

// TestReadsWhileClosingDoNotWait: a read waiting for a journaled insert
// returns ErrClosed once Close has begun, rather than waiting until its
// context ends for a group the writer may never insert (it stays in the
// journal for the next open).
func TestReadsWhileClosingDoNotWait(t *testing.T) {
	s := openJournalTest(t, filepath.Join(t.TempDir(), "c.db"))
	release := blockWriter(t, s)
	res, err := s.Accept(t.Context(), []*gateway.Message{oneMsg("t1")})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	<-s.aj.closing // Close waits for the writer now

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.Get(ctx, "t1", res[0].ID); !errors.Is(err, ErrClosed) {
		t.Errorf("Get while closing, its message not yet inserted: %v, want ErrClosed", err)
	}
	if _, err := s.Events(ctx, "t1", 1, 10); !errors.Is(err, ErrClosed) {
		t.Errorf("Events while closing: %v, want ErrClosed", err)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// TestCloseWhileTheWriterFailsAndTheAcceptorWaits: the writer fails every
// insert (a trigger here; a full disk in production) while
// journalMaxPending messages wait for it, so an Accept waits for room.
// Close must still return: that Accept fails, and what was accepted stays
// in the journal and is in the database after the next open.
func TestCloseWhileTheWriterFailsAndTheAcceptorWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(context.Background(), Config{Path: path}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ss := s.(*sqliteStore)
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := ss.do(ctx, "fail inserts", func(w *wtx) error {
		_, err := w.exec("CREATE TRIGGER fail_inserts BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'disk full'); END")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	msgs := make([]*gateway.Message, journalMaxPending)
	for i := range msgs {
		msgs[i] = oneMsg("t1")
	}
	if _, err := s.Accept(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := s.Accept(ctx, []*gateway.Message{oneMsg("t1")})
		waiting <- err
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		buf := make([]byte, 1<<20)
		if !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*acceptJournal).waitRoom") {
			return errors.New("the acceptor does not wait for room yet")
		}
		return nil
	})
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits while the writer fails and an Accept waits for room")
	}
	if err := <-waiting; err == nil {
		t.Error("the Accept that waited for room at Close succeeded; want an error (its messages not journaled)")
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DROP TRIGGER fail_inserts"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c := openJournalTest(t, path)
	if n, err := c.Backlog(ctx); err != nil || n != journalMaxPending {
		t.Errorf("after reopening: backlog %d (%v), want the %d messages accepted", n, err, journalMaxPending)
	}
}

// TestJournalGivenIDTaken: an Accept that gives an id already stored, or
// journaled and not yet inserted, or twice, fails as a whole naming it,
// as it does on the writer's path without the journal. Journaled, the
// message was answered as accepted and its insert failed every second
// for ever; after a restart the replay skipped the id and it was gone.
// A client ref duplicate is a duplicate whatever id it gives.
func TestJournalGivenIDTaken(t *testing.T) {
	s := openJournalTest(t, filepath.Join(t.TempDir(), "i.db"))
	ctx := t.Context()
	withID := func(id string) *gateway.Message {
		m := oneMsg("t1")
		m.ID = id
		return m
	}
	const x, y, z = "01900000-0000-7000-8000-00000000000a", "01900000-0000-7000-8000-00000000000b", "01900000-0000-7000-8000-00000000000c"
	first := withID(x)
	first.ClientRef = "r1"
	if _, err := s.Accept(ctx, []*gateway.Message{first}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "t1", x); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Accept(ctx, []*gateway.Message{oneMsg("t1"), withID(x)}); err == nil || !strings.Contains(err.Error(), x) {
		t.Errorf("Accept giving a stored id: %+v, %v; want an error naming %s", res, err, x)
	}

	release := blockWriter(t, s)
	if _, err := s.Accept(ctx, []*gateway.Message{withID(y)}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Accept(ctx, []*gateway.Message{withID(y)}); err == nil || !strings.Contains(err.Error(), y) {
		t.Errorf("Accept giving a journaled id: %+v, %v; want an error naming %s", res, err, y)
	}
	release()
	if res, err := s.Accept(ctx, []*gateway.Message{withID(z), withID(z)}); err == nil || !strings.Contains(err.Error(), z) {
		t.Errorf("Accept giving an id twice: %+v, %v; want an error naming %s", res, err, z)
	}
	again := withID(x)
	again.ClientRef = "r1"
	if res, err := s.Accept(ctx, []*gateway.Message{again}); err != nil || !res[0].Duplicate || res[0].ID != x {
		t.Errorf("Accept of a client ref stored under the id it gives: %+v, %v; want a duplicate of %s", res, err, x)
	}
	if n, err := s.Backlog(ctx); err != nil || n != 2 {
		t.Errorf("backlog %d (%v), want 2 (%s and %s)", n, err, x, y)
	}
	if n := journalPending(s); n != 0 {
		t.Errorf("%d journal records still needed, want none", n)
	}
}
