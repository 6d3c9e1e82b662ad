package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Checkpoint settings. The writer's connection has SQLite's automatic
// checkpoint turned off (wal_autocheckpoint(0)): left on, every ~1,000 WAL
// pages a COMMIT copied the WAL back into the database file and synced it
// before returning, so one writer batch in thirty or so, and every caller
// waiting on it, paid for the whole copy. checkpointer does that copy on a
// connection of its own instead, beside the writer (a PASSIVE checkpoint
// never blocks it), on the core the writer leaves idle.
const (
	// checkpointEvery is how often the checkpointer copies the WAL. Each
	// copy writes every page changed since the last one once, however
	// often it changed, so copying more often costs more: the hot pages
	// (the right edges of the indexes) are written again every time.
	// Once a second copies about as often as the automatic checkpoint did
	// (every 1,000 WAL pages) at a few thousand messages a second, and
	// less often per page written beyond that.
	checkpointEvery = time.Second
	// sqliteCheckpointParams open the checkpointer's connection:
	// synchronous=FULL makes each checkpoint sync the database file before
	// SQLite may reuse the WAL, as an automatic checkpoint did.
	sqliteCheckpointParams = "_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(FULL)"
)

// walState is what one PASSIVE checkpoint reports: the WAL's length in
// pages and how many of them are now in the database file.
type walState struct {
	busy              bool
	log, checkpointed int
}

// checkpoint runs one PASSIVE checkpoint on conn.
func checkpoint(ctx context.Context, conn *sql.Conn) (walState, error) {
	var (
		st   walState
		busy int
	)
	err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &st.log, &st.checkpointed)
	st.busy = busy != 0
	return st, err
}

// checkpointer copies the WAL into the database file every
// checkpointEvery until ctx ends. A failure is logged once until a checkpoint succeeds
// again; the WAL then only grows, and the writer is unaffected.
func (s *sqliteStore) checkpointer(ctx context.Context, conn *sql.Conn) {
	defer close(s.checkpointDone)
	defer conn.Close()
	failing := false
	t := time.NewTimer(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := checkpoint(ctx, conn)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				s.opts.Logger.Error("store: WAL checkpoint failed; the WAL grows until one succeeds", "err", err)
			}
			failing = true
		case failing:
			s.opts.Logger.Info("store: WAL checkpoints succeed again")
			failing = false
		}
		if err == nil {
			s.walBehind.Store(int64(st.log - st.checkpointed))
		}
		s.checkpoints.Add(1)
		t.Reset(checkpointEvery)
	}
}

// startCheckpointer opens the checkpointer's connection and starts it.
func (s *sqliteStore) startCheckpointer(ctx context.Context, path string) error {
	var err error
	s.cdb, err = sql.Open("sqlite", path+"?"+sqliteCheckpointParams)
	if err != nil {
		return fmt.Errorf("store: open %s for checkpoints: %w", path, err)
	}
	s.cdb.SetMaxOpenConns(1)
	conn, err := s.cdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: open %s for checkpoints: %w", path, err)
	}
	run, stop := context.WithCancel(context.Background())
	s.stopCheckpoints = stop
	s.checkpointDone = make(chan struct{})
	go s.checkpointer(run, conn)
	return nil
}
