package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
)

// TestCheckpointsOffTheWriter: the writer never copies the WAL back into
// the database file itself (its automatic checkpoint is off), and the
// checkpointer does, so the database file grows while the writer only
// appends to the WAL, and it catches up once the writes stop.
func TestCheckpointsOffTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := openTest(t, path)
	var auto int
	if err := s.do(t.Context(), "pragma", func(w *wtx) error {
		return w.queryRow("PRAGMA wal_autocheckpoint").Scan(&auto)
	}); err != nil {
		t.Fatal(err)
	}
	if auto != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d, want 0 (the checkpointer copies the WAL)", auto)
	}
	size := func(name string) int64 {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Let the checkpointer take in what the migrations wrote.
	testutil.Eventually(t, 10*time.Second, func() error {
		if s.checkpoints.Load() < 2 {
			return fmt.Errorf("%d checkpoint rounds", s.checkpoints.Load())
		}
		return nil
	})
	before := size(path)
	// Enough for the WAL to pass checkpointPages several times over.
	for range 40 {
		msgs := make([]*gateway.Message, 100)
		for i := range msgs {
			msgs[i] = oneMsg("t1")
			msgs[i].Text = fmt.Sprintf("reminder %d: your repayment of KES 1,200 is due on Friday", i)
		}
		if _, err := s.Accept(t.Context(), msgs); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if after := size(path); after <= before {
			return fmt.Errorf("database file %d bytes, %d before the writes: nothing copied from the WAL", after, before)
		}
		return nil
	})
	// And it catches up: once the writes stop, a round finds the whole WAL
	// copied.
	testutil.Eventually(t, 10*time.Second, func() error {
		if behind := s.walBehind.Load(); behind != 0 {
			return fmt.Errorf("%d WAL pages not yet copied", behind)
		}
		return nil
	})
}
