package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmf/smsgw/gateway"
)

// TestDiskFullReported: a SQLite file that cannot grow (max_page_count
// stands in for a full disk: the same SQLITE_FULL) refuses accepts with
// gateway.ErrUnavailable, without the message being stored, and the store
// reports the failures (WriteHealth) until a commit succeeds again.
func TestDiskFullReported(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "full.db"))
	ctx := context.Background()
	pragma := func(q string) int64 {
		var n int64
		err := s.do(ctx, "pragma", func(w *wtx) error { return w.queryRow(q).Scan(&n) })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	pages := pragma("PRAGMA page_count")
	pragma(fmt.Sprintf("PRAGMA max_page_count = %d", pages))
	if total, since, _, _ := s.WriteFailures(); total != 0 || !since.IsZero() {
		t.Fatalf("before: %d failures since %v", total, since)
	}
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		m := oneMsg("t1")
		m.Text = strings.Repeat("x", 4000)
		_, err = s.Accept(ctx, []*gateway.Message{m})
	}
	if !errors.Is(err, gateway.ErrUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("accept on a full disk: %v, want ErrUnavailable naming the cause", err)
	}
	total, since, lastAt, last := s.WriteFailures()
	if total == 0 || since.IsZero() || lastAt.Before(since) || last == nil {
		t.Fatalf("WriteFailures: %d since %v last %v (%v)", total, since, lastAt, last)
	}
	pragma(fmt.Sprintf("PRAGMA max_page_count = %d", 1<<30))
	commits := s.Commits()
	if _, err := s.Accept(ctx, []*gateway.Message{oneMsg("t1")}); err != nil {
		t.Fatalf("accept after space came back: %v", err)
	}
	if n := s.Commits() - commits; n != 1 {
		t.Errorf("%d commits counted for one accept, want 1 (failed ones are not counted)", n)
	}
	if again, since, _, _ := s.WriteFailures(); again != total || !since.IsZero() {
		t.Errorf("after a commit succeeded: %d failures since %v, want %d and no run", again, since, total)
	}
}
