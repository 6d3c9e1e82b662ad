package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/openmf/smsgw/gateway"
)

// openOptOuts opens a SQLite store on path keeping at most limit opt-outs
// in memory (0: the default), closed at cleanup.
func openOptOuts(t testing.TB, path string, limit int) *sqliteStore {
	t.Helper()
	off := false
	s, err := Open(context.Background(), Config{Path: path, Journal: &off}, Options{OptOutsInMemory: limit})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*sqliteStore)
}

// tableOptOuts reads the optouts table as "tenant number" strings, sorted.
func tableOptOuts(t *testing.T, s *sqliteStore) []string {
	t.Helper()
	rows, err := s.rdb.QueryContext(t.Context(), "SELECT tenant, number FROM optouts ORDER BY tenant, number")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var tenant, number string
		if err := rows.Scan(&tenant, &number); err != nil {
			t.Fatal(err)
		}
		out = append(out, tenant+" "+number)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// memoryOptOuts is the in-memory list as tableOptOuts writes the table;
// ok is false when the store reads the database instead.
func memoryOptOuts(s *sqliteStore) (out []string, ok bool) {
	s.optOuts.mu.RLock()
	defer s.optOuts.mu.RUnlock()
	if s.optOuts.tenants == nil {
		return nil, false
	}
	size := 0
	for tenant, numbers := range s.optOuts.tenants {
		for n := range numbers {
			out = append(out, tenant+" "+n)
			size++
		}
	}
	if size != s.optOuts.size {
		panic(fmt.Sprintf("optOutSet.size %d, %d numbers in it", s.optOuts.size, size))
	}
	slices.Sort(out)
	return out, true
}

// checkMemoryIsTable fails unless the in-memory list is the table's rows.
func checkMemoryIsTable(t *testing.T, s *sqliteStore) {
	t.Helper()
	mem, ok := memoryOptOuts(s)
	if !ok {
		t.Fatal("opt-outs not in memory")
	}
	if table := tableOptOuts(t, s); !slices.Equal(mem, table) {
		t.Errorf("opt-outs in memory %q, in the table %q", mem, table)
	}
}

// optedOut asks s about numbers and returns the opted-out ones, sorted.
func optedOut(t *testing.T, s *sqliteStore, tenant string, numbers ...string) []string {
	t.Helper()
	got, err := s.OptedOut(t.Context(), tenant, numbers)
	if err != nil {
		t.Fatalf("OptedOut: %v", err)
	}
	var out []string
	for n, in := range got {
		if !in {
			t.Errorf("OptedOut answered %s: false; only opted-out numbers are listed", n)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// OptedOut answers from memory, which follows every committed SetOptOut
// (out, in, again, another tenant's) and stays the table's rows.
func TestOptOutsInMemoryFollowSetOptOut(t *testing.T) {
	s := openOptOuts(t, filepath.Join(t.TempDir(), "o.db"), 0)
	ctx := t.Context()
	a, b, c := "+254700000001", "+254700000002", "+254700000003"
	set := func(tenant, number string, out bool) {
		t.Helper()
		if err := s.SetOptOut(ctx, tenant, number, out, "STOP"); err != nil {
			t.Fatal(err)
		}
		checkMemoryIsTable(t, s)
	}
	if got := optedOut(t, s, "t1", a, b, c); got != nil {
		t.Errorf("empty list: %q opted out", got)
	}
	set("t1", a, true)
	set("t1", b, true)
	set("t1", a, true) // twice: one row, one number
	set("t2", c, true)
	if got := optedOut(t, s, "t1", a, b, c); !slices.Equal(got, []string{a, b}) {
		t.Errorf("t1: %q, want %q", got, []string{a, b})
	}
	set("t1", a, false)
	set("t1", c, false) // not on the list: nothing changes
	if got := optedOut(t, s, "t1", a, b, c); !slices.Equal(got, []string{b}) {
		t.Errorf("t1 after START: %q, want %q", got, []string{b})
	}
	// Many numbers at once, as a large accept asks.
	many := []string{b}
	for i := range 50 {
		many = append(many, fmt.Sprintf("+2547110000%02d", i))
	}
	if got := optedOut(t, s, "t1", many...); !slices.Equal(got, []string{b}) {
		t.Errorf("t1, 51 numbers: %q, want %q", got, []string{b})
	}
	set("t2", c, false)
	if got := optedOut(t, s, "t2", a, b, c); got != nil {
		t.Errorf("t2 after START: %q", got)
	}
	if n := s.OptOutDatabaseReads(); n != 0 {
		t.Errorf("%d OptedOut calls read the database, want 0", n)
	}
}

// A batch that fails whole (its transaction rolled back) leaves the list
// in memory as it was; one replayed without another operation's failure
// commits the change once.
func TestOptOutsInMemoryOnlyAfterCommit(t *testing.T) {
	s := openOptOuts(t, filepath.Join(t.TempDir(), "o.db"), 0)
	ctx := t.Context()
	kept, undone := "+254700000001", "+254700000002"
	if err := s.SetOptOut(ctx, "t1", kept, true, "STOP"); err != nil {
		t.Fatal(err)
	}

	// One batch: STOP of undone, START of kept, then an operation that
	// fails for the database's reasons, which rolls all of it back.
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { errs[0] = s.SetOptOut(ctx, "t1", undone, true, "STOP") })
	waitQueued(t, s, 1)
	wg.Go(func() { errs[1] = s.SetOptOut(ctx, "t1", kept, false, "START") })
	waitQueued(t, s, 2)
	wg.Go(func() {
		// An error of SQLite's that is not a constraint's, as an I/O
		// error is, fails the batch.
		errs[2] = s.do(ctx, "fail", func(w *wtx) error {
			_, err := w.exec("UPDATE no_such_table SET x = 1")
			return err
		})
	})
	waitQueued(t, s, 3)
	release()
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Errorf("operation %d of the rolled-back batch succeeded", i)
		}
	}
	if got := optedOut(t, s, "t1", kept, undone); !slices.Equal(got, []string{kept}) {
		t.Errorf("after the rolled-back batch: %q, want %q", got, []string{kept})
	}
	checkMemoryIsTable(t, s)

	// One batch: STOP of undone, then an Accept that fails after writing
	// (a duplicate id): the batch is replayed without it and commits.
	existing := oneMsg("t1")
	if _, err := s.Accept(ctx, []*gateway.Message{existing}); err != nil {
		t.Fatal(err)
	}
	release = blockWriter(t, s)
	wg.Go(func() { errs[0] = s.SetOptOut(ctx, "t1", undone, true, "STOP") })
	waitQueued(t, s, 1)
	wg.Go(func() {
		clash := oneMsg("t1")
		clash.ID = existing.ID
		_, errs[1] = s.Accept(ctx, []*gateway.Message{oneMsg("t1"), clash})
	})
	waitQueued(t, s, 2)
	release()
	wg.Wait()
	if errs[0] != nil || errs[1] == nil {
		t.Fatalf("SetOptOut %v (want nil), clashing Accept %v (want an error)", errs[0], errs[1])
	}
	if got := optedOut(t, s, "t1", kept, undone); !slices.Equal(got, []string{kept, undone}) {
		t.Errorf("after the replayed batch: %q, want %q", got, []string{kept, undone})
	}
	checkMemoryIsTable(t, s)
}

// A store opened again loads the list it left.
func TestOptOutsInMemoryAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s := openOptOuts(t, path, 0)
	ctx := t.Context()
	for i, n := range []string{"+254700000001", "+254700000002", "+254700000003"} {
		if err := s.SetOptOut(ctx, fmt.Sprintf("t%d", i%2), n, true, "STOP"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetOptOut(ctx, "t0", "+254700000001", false, "START"); err != nil {
		t.Fatal(err)
	}
	want := tableOptOuts(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openOptOuts(t, path, 0)
	if mem, ok := memoryOptOuts(s); !ok || !slices.Equal(mem, want) {
		t.Errorf("reopened: in memory %q (%v), want %q", mem, ok, want)
	}
	if got := optedOut(t, s, "t0", "+254700000001", "+254700000003"); !slices.Equal(got, []string{"+254700000003"}) {
		t.Errorf("reopened, t0: %q", got)
	}
}

// Past its limit the list leaves memory and OptedOut reads the table,
// counted, with the same answers; a store opened with a longer list than
// its limit reads the table from the start, one opened with room loads it.
func TestOptOutsOverTheLimitReadTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s := openOptOuts(t, path, 2)
	ctx := t.Context()
	a, b, c := "+254700000001", "+254700000002", "+254700000003"
	for _, n := range []string{a, b} {
		if err := s.SetOptOut(ctx, "t1", n, true, "STOP"); err != nil {
			t.Fatal(err)
		}
	}
	checkMemoryIsTable(t, s)
	if err := s.SetOptOut(ctx, "t1", c, true, "STOP"); err != nil {
		t.Fatal(err)
	}
	if _, ok := memoryOptOuts(s); ok {
		t.Fatal("3 opt-outs kept in memory with a limit of 2")
	}
	if got := optedOut(t, s, "t1", a, b, c, "+254700000004"); !slices.Equal(got, []string{a, b, c}) {
		t.Errorf("from the database: %q", got)
	}
	// Back under the limit, the table still answers (until reopened).
	if err := s.SetOptOut(ctx, "t1", a, false, "START"); err != nil {
		t.Fatal(err)
	}
	many := []string{a, b, c, "+254700000004", "+254700000005", "+254700000006"}
	if got := optedOut(t, s, "t1", many...); !slices.Equal(got, []string{b, c}) {
		t.Errorf("from the database after START: %q", got)
	}
	if n := s.OptOutDatabaseReads(); n != 2 {
		t.Errorf("%d OptedOut calls read the database, want 2", n)
	}
	if err := s.SetOptOut(ctx, "t1", a, true, "STOP"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openOptOuts(t, path, 2)
	if _, ok := memoryOptOuts(s); ok {
		t.Error("reopened with 3 opt-outs and a limit of 2: kept in memory")
	}
	if got := optedOut(t, s, "t1", a, "+254700000004"); !slices.Equal(got, []string{a}) || s.OptOutDatabaseReads() != 1 {
		t.Errorf("reopened over the limit: %q, %d database reads", got, s.OptOutDatabaseReads())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openOptOuts(t, path, 3)
	checkMemoryIsTable(t, s)
	if got := optedOut(t, s, "t1", a, "+254700000004"); !slices.Equal(got, []string{a}) || s.OptOutDatabaseReads() != 0 {
		t.Errorf("reopened with room: %q, %d database reads", got, s.OptOutDatabaseReads())
	}
}

// Concurrent opt-out changes and lookups (run with -race) leave memory
// equal to the table, and each caller's own change is seen once its
// SetOptOut returned.
func TestOptOutsInMemoryConcurrent(t *testing.T) {
	s := openOptOuts(t, filepath.Join(t.TempDir(), "o.db"), 0)
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				n := fmt.Sprintf("+2547000%02d%03d", g, i%7)
				out := i%3 != 2
				if err := s.SetOptOut(ctx, "t1", n, out, "STOP"); err != nil {
					t.Error(err)
					return
				}
				got, err := s.OptedOut(ctx, "t1", []string{n})
				if err != nil || got[n] != out {
					t.Errorf("%s after SetOptOut(out=%v): %v, %v", n, out, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	checkMemoryIsTable(t, s)
	if n := s.OptOutDatabaseReads(); n != 0 {
		t.Errorf("%d database reads", n)
	}
}

// BenchmarkOptedOut is the acceptor's question for one message (the
// Kannel path asks it on every sendsms) to a number not opted out, with
// 10,000 numbers on the tenant's list, from ~64 concurrent callers:
// answered from memory, and from the database as when the list is over
// its limit.
func BenchmarkOptedOut(b *testing.B) {
	for _, c := range []struct {
		name  string
		limit int
	}{{"memory", 0}, {"database", 1}} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "o.db")
			s := openOptOuts(b, path, 0)
			err := s.do(b.Context(), "fill", func(w *wtx) error {
				for i := range 10_000 {
					if _, err := w.exec(sqlSetOptOut, "t1", fmt.Sprintf("+2547%08d", i), "STOP", w.nowNs); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			s = openOptOuts(b, path, c.limit)
			b.SetParallelism(parallelism())
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				numbers := []string{"+254799999999"}
				for pb.Next() {
					out, err := s.OptedOut(context.Background(), "t1", numbers)
					if err != nil || len(out) != 0 {
						b.Errorf("OptedOut = %v, %v", out, err)
						return
					}
				}
			})
		})
	}
}
