package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/openmf/smsgw/gateway"
)

// The PostgreSQL store's group commit. Every write except pruning and
// NoteMissing is queued to the node's writers, each of which drains what is
// queued (up to Options.MaxBatch operations) into one transaction, commits
// it once and answers every caller of the batch, as the SQLite store's
// writer does. A transaction takes its locks in one order on every node:
//
//  1. the (carrier, carrier id) advisory locks of every RecordSubmits and
//     RecordReceipts in the batch, sorted;
//  2. the rows of every message the batch's operations decide on, in id
//     order (RecordSubmits, Finish, Cancel, Reschedule, RecordAttempts, and
//     the messages the batch's receipts name);
//  3. what the operations write, by kind: inbound messages, task enqueues
//     and the other operations one by one, in queue order; then Accepts,
//     Claims, RecordSubmits and RecordReceipts (last, so that a receipt
//     racing its submit record in the same batch finds it), each kind as a
//     few multi-row statements for the whole batch;
//  4. the batch's events, under the shared event lock, then COMMIT.
//
// Round trips are what a batch waits for most, so the statements that do
// not depend on each other's answers go together as one pipeline: BEGIN,
// the locks, the Accepts, Claims and RecordSubmits and the read of the
// receipts' messages in one round trip, then the receipts' writes, the
// events and COMMIT in a second. Operations run one by one take round
// trips of their own, between the locks and that pipeline.

// Operation kinds, in the order they run within a batch (phase 3): those
// run one by one first, then those of the pipeline (each kind is one or
// the other).
const (
	pgRankInbound = iota
	pgRankTasks
	pgRankOther
	pgRankAccept // pipelined from here on
	pgRankClaim
	pgRankSubmits
	pgRankReceipts
)

// pgWriters is how many batches a node runs at once, each on its own
// connection. They take turns (pgStore.turn): one collects a batch and runs
// it up to its COMMIT, then the next collects what queued meanwhile and
// runs while the first waits for its commit's WAL flush. So batches stay as
// large as what queues during one batch, and a commit's wait overlaps the
// next batch's statements.
const pgWriters = 2

// pgOp is one queued write of a PostgreSQL store. It may run more than
// once: a batch is replayed without an operation that failed after
// changing rows, and retried after a deadlock, so it must rebuild its
// results each time.
type pgOp struct {
	ctx  context.Context
	name string
	rank int
	// msgIDs are the messages whose rows phase 2 locks for the operation;
	// keys the (carrier, carrier id) pairs phase 1 locks.
	msgIDs []string
	keys   [][2]string

	// run executes an operation on its own. stage builds the part of the
	// batch's pipeline that runs every operation of its rank at once (or
	// one, when the batch is replayed operation by operation). A stage sets
	// o.err on an operation that fails before it changed anything and
	// returns errReplay when one failed after.
	run   func(w *ptx) error
	stage func(w *ptx, ops []*pgOp) *pgStage

	accept   *pgAcceptArgs
	claim    *pgClaimArgs
	submits  []gateway.SubmitRecord
	receipts *pgReceiptArgs

	err  error
	done chan error
}

// pgStage is a group of operations' part of a batch's pipeline: queue
// queues its statements, read reads their results (in order, after the
// stages before), and after does what needs their answers, in stage order
// once every stage has read.
type pgStage struct {
	ops   []*pgOp // whom an error of the stage fails; none: the batch
	queue func(b *pgx.Batch)
	read  func(br pgx.BatchResults) error
	after func() error
}

// pgStageError is an error of a stage's statements or after.
type pgStageError struct {
	stage *pgStage
	err   error
}

func (e *pgStageError) Error() string { return e.err.Error() }
func (e *pgStageError) Unwrap() error { return e.err }

// pgOpFailed is the error of one operation's own statement within a stage.
type pgOpFailed struct {
	op  *pgOp
	err error
}

func (e *pgOpFailed) Error() string { return e.err.Error() }
func (e *pgOpFailed) Unwrap() error { return e.err }

// errReplay asks the batch to be rolled back and run again without the
// operations that have failed.
var errReplay = errors.New("store: replay the batch")

// submit queues o for the writer and waits for the commit that holds it.
// Once queued, o is always answered: the writer skips it, without effect,
// if its context has ended by the time its batch starts.
func (s *pgStore) submit(o *pgOp) error {
	if err := o.ctx.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", o.name, err)
	}
	o.done = make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.ops <- o:
	case <-o.ctx.Done():
		s.mu.RUnlock()
		return fmt.Errorf("store: %s: %w", o.name, o.ctx.Err())
	}
	s.mu.RUnlock()
	return <-o.done
}

// write queues f as an operation of its own kind (pgRankOther) that locks
// no row beforehand.
func (s *pgStore) write(ctx context.Context, name string, f func(w *ptx) error) error {
	return s.submit(&pgOp{ctx: ctx, name: name, rank: pgRankOther, run: f})
}

// writeLocked is write for an operation that decides on the state of the
// messages ids: phase 2 locks their rows.
func (s *pgStore) writeLocked(ctx context.Context, name string, ids []string, f func(w *ptx) error) error {
	return s.submit(&pgOp{ctx: ctx, name: name, rank: pgRankOther, msgIDs: ids, run: f})
}

// writerLoop is one writer goroutine: it group-commits whatever is queued
// until ops is closed and drained.
func (s *pgStore) writerLoop() {
	defer s.writers.Done()
	batch := make([]*pgOp, 0, s.opts.MaxBatch)
	for {
		s.turn <- struct{}{}
		o, ok := <-s.ops
		if !ok {
			<-s.turn
			return
		}
		batch = append(batch[:0], o)
		batch = fillBatch(batch, s.ops, s.opts.MaxBatch)
		var once sync.Once
		pass := func() { once.Do(func() { <-s.turn }) }
		s.commitBatch(batch, pass)
		pass()
		clear(batch)
	}
}

// commitBatch runs batch in one transaction and answers every operation;
// it calls pass when its turn is over (see pgWriters). An operation that
// fails on its own fails alone; an error of the database (a lost
// connection, a failed commit) or a deadlock lost five times fails every
// operation of the batch, and nothing of it is acknowledged.
func (s *pgStore) commitBatch(batch []*pgOp, pass func()) {
	// The callers of a batch are concurrent: any order is a valid one.
	slices.SortStableFunc(batch, func(a, b *pgOp) int { return a.rank - b.rank })
	fatal := s.runBatch(batch, pass)
	s.writeHealth.record(fatal, s.opts.Now())
	if fatal != nil {
		fatal = unavailable(fatal)
	}
	for _, o := range batch {
		if fatal != nil && o.err == nil {
			o.err = fatal
		}
		o.done <- o.err
	}
}

// runBatch tries the batch until it commits: again without an operation
// that failed after changing rows, operation by operation after a group
// statement failed on its input (to find the culprit), and from the start
// after a deadlock or serialization failure (up to 5 tries).
func (s *pgStore) runBatch(batch []*pgOp, pass func()) error {
	group := true
	for attempt := 1; ; {
		err := s.tryBatch(batch, &group, pass)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errReplay):
			s.opts.Logger.Debug("store: replaying batch without a failed operation", "ops", len(batch))
			continue
		case attempt < 5 && pgRetryable(err):
			attempt++
			s.opts.Logger.Debug("store: retrying batch", "ops", len(batch), "err", err)
			continue
		}
		return err
	}
}

// tryBatch runs the batch's operations that have not failed in one
// transaction and commits it, passing the turn just before the COMMIT.
func (s *pgStore) tryBatch(batch []*pgOp, group *bool, pass func()) (err error) {
	ctx := context.Background()
	live := make([]*pgOp, 0, len(batch))
	for _, o := range batch {
		if o.err != nil {
			continue
		}
		if err := o.ctx.Err(); err != nil {
			o.err = fmt.Errorf("store: %s: %w", o.name, err)
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	// A connection left in a transaction is closed by Release.
	defer conn.Release()
	c := conn.Conn()
	defer func() {
		if err != nil && !c.IsClosed() && c.PgConn().TxStatus() != 'I' {
			_, _ = c.Exec(context.Background(), "ROLLBACK")
		}
	}()
	now := s.opts.Now().UTC()
	w := &ptx{ctx: ctx, tx: c, conn: c, begin: true, now: now, nowNs: now.UnixNano()}
	if *group {
		w.deferred = &pgx.Batch{}
	}
	var (
		single []*pgOp
		stages []*pgStage
	)
	for i := 0; i < len(live); {
		j := i + 1
		for j < len(live) && live[j].rank == live[i].rank {
			j++
		}
		switch {
		case live[i].stage == nil:
			single = append(single, live[i:j]...)
		case *group:
			stages = append(stages, live[i].stage(w, live[i:j]))
		default:
			for _, o := range live[i:j] {
				stages = append(stages, o.stage(w, []*pgOp{o}))
			}
		}
		i = j
	}
	// The pipelined stages follow the operations run one by one, so that
	// their reads see what those wrote.
	lock := w.lockStage(live)
	if len(single) > 0 {
		if err := w.pipeline([]*pgStage{lock}); err != nil {
			return s.stageFailed(err, group)
		}
		for _, o := range single {
			if err := w.runOne(o); err != nil {
				return err
			}
		}
	} else {
		stages = append([]*pgStage{lock}, stages...)
	}
	if err := w.pipeline(stages); err != nil {
		return s.stageFailed(err, group)
	}
	if w.rstate != nil && w.deferred != nil {
		w.rstate.queueWrites(w.deferred)
	}
	if w.begin && (w.deferred == nil || w.deferred.Len() == 0) && len(w.events) == 0 {
		return nil // no operation wrote anything: nothing to commit
	}
	pass()
	if err := w.commit(); err != nil {
		if errors.Is(err, errDeferred) && *group && pgOpError(err) && !pgRetryable(err) && !c.IsClosed() {
			s.opts.Logger.Debug("store: replaying batch one operation at a time", "ops", len(live), "err", err)
			*group = false
			return errReplay
		}
		return err
	}
	if len(w.events) > 0 {
		select {
		case s.notify <- struct{}{}:
		default: // one is pending already and will cover these events
		}
	}
	return nil
}

// pipeline sends the statements of stages as one pipeline, reads their
// results stage by stage, then runs their afters in order. An error is a
// *pgStageError naming the stage it came from.
func (w *ptx) pipeline(stages []*pgStage) error {
	b := &pgx.Batch{}
	for _, st := range stages {
		if st.queue != nil {
			st.queue(b)
		}
	}
	if b.Len() > 0 {
		br := w.sendBatch(b)
		for _, st := range stages {
			if st.read == nil {
				continue
			}
			if err := st.read(br); err != nil {
				br.Close()
				return &pgStageError{st, err}
			}
		}
		if err := br.Close(); err != nil {
			return &pgStageError{&pgStage{}, err}
		}
	}
	for _, st := range stages {
		if st.after == nil {
			continue
		}
		if err := st.after(); err != nil {
			return &pgStageError{st, err}
		}
	}
	return nil
}

// stageFailed decides what a failed pipeline means for the batch: a
// database error (or a deadlock, or a failure of the locks) is the batch's;
// an operation's own failure fails it alone, and the batch is replayed
// without it; a failure of a statement several operations share replays
// the batch operation by operation, to find the culprit.
func (s *pgStore) stageFailed(err error, group *bool) error {
	if errors.Is(err, errReplay) {
		return errReplay
	}
	var se *pgStageError
	if !errors.As(err, &se) || pgRetryable(err) || !pgOpError(err) {
		return err
	}
	var one *pgOpFailed
	switch {
	case errors.As(err, &one):
		one.op.err = opErr(one.op, one.err)
	case len(se.stage.ops) == 1:
		se.stage.ops[0].err = opErr(se.stage.ops[0], se.err)
	case len(se.stage.ops) == 0:
		return err
	default:
		s.opts.Logger.Debug("store: replaying batch one operation at a time", "ops", len(se.stage.ops), "err", err)
		*group = false
	}
	return errReplay
}

// opErr is err as o's caller sees it.
func opErr(o *pgOp, err error) error {
	if strings.HasPrefix(err.Error(), "store: ") {
		return err
	}
	return fmt.Errorf("store: %s: %w", o.name, err)
}

// errDeferred marks the failure of a deferred write (ptx.deferred).
var errDeferred = errors.New("deferred write")

// commit sends the deferred writes, appends the batch's events and
// commits, in one round trip.
func (w *ptx) commit() error {
	b := w.deferred
	if b == nil {
		b = &pgx.Batch{}
	}
	deferred := b.Len()
	w.queueEvents(b)
	events := b.Len() - deferred
	b.Queue("COMMIT")
	br := w.sendBatch(b)
	defer br.Close()
	for range deferred {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("store: %w: %w", errDeferred, err)
		}
	}
	for range events {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("store: events: %w", err)
		}
	}
	tag, err := br.Exec()
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("the transaction ended with %q", tag.String())
	}
	if err == nil {
		err = br.Close()
	}
	if err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// runOne runs an operation of its own. It returns nil when the operation
// succeeded or failed without changing anything (o.err is then set and its
// events dropped), errReplay when it failed after changing rows or aborted
// the transaction, and the error itself when it is the database's.
func (w *ptx) runOne(o *pgOp) error {
	w.dirty = false
	events := len(w.events)
	err := o.run(w)
	if err == nil {
		return nil
	}
	w.events = w.events[:events]
	if pgRetryable(err) || w.conn.IsClosed() || !pgOpError(err) {
		return err
	}
	o.err = opErr(o, err)
	// An error from the server aborted the transaction ('E').
	if st := w.conn.PgConn().TxStatus(); w.dirty || st == 'E' || (st == 'I' && !w.begin) {
		return errReplay
	}
	return nil
}

// pgRetryable says whether err is a deadlock or serialization failure,
// after which the transaction can run again from its start.
func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// pgOpError says whether err belongs to one operation (its input, a
// constraint, a missing row) rather than to the database (connection,
// resources, shutdown, internal errors).
func pgOpError(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true // the operation's own check; a lost connection is caught apart
	}
	switch pe.Code[:2] {
	case "08", "40", "53", "57", "58", "XX", "F0":
		return false
	}
	return true
}

// pgLocked is what phase 2 reads of a message it locked.
type pgLocked struct {
	status    string
	partCount int
}

// lockStage takes the locks of phases 1 and 2 for ops: the advisory locks
// of their (carrier, carrier id) pairs in key order, then the rows of the
// messages they name and of the messages their receipts apply to now, in id
// order, into w.locked. The receipt keys are held first, so the messages
// found for the receipts cannot change before they are locked: recording a
// carrier id takes the same key. Its errors are the batch's.
func (w *ptx) lockStage(ops []*pgOp) *pgStage {
	var (
		pairs    [][2]string
		ids      []string
		rc, rcid []string
	)
	for _, o := range ops {
		pairs = append(pairs, o.keys...)
		for _, id := range o.msgIDs {
			if validText(id) { // no other can exist; its own statement will say so
				ids = append(ids, id)
			}
		}
		if o.receipts != nil {
			for _, r := range o.receipts.rs {
				for _, id := range receiptIDs(r) {
					if id != "" && validText(r.Carrier) && validText(id) {
						rc, rcid = append(rc, r.Carrier), append(rcid, id)
					}
				}
			}
		}
	}
	keys := make([]int32, 0, len(pairs))
	for _, p := range pairs {
		if p[1] != "" {
			keys = append(keys, receiptKey(p[0], p[1]))
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	w.locked = make(map[string]pgLocked, len(ids)+len(rc))
	rows := len(ids) > 0 || len(rc) > 0
	return &pgStage{
		queue: func(b *pgx.Batch) {
			if len(keys) > 0 {
				b.Queue("SELECT count(pg_advisory_xact_lock($1, k)) FROM unnest($2::int4[]) AS k", lockReceiptsNS, keys)
			}
			if rows {
				b.Queue(`SELECT id, status, part_count FROM messages
					WHERE id IN (SELECT unnest($1::text[])
						UNION ALL
						SELECT (SELECT message_id FROM parts
							WHERE carrier = u.c AND carrier_id = u.cid AND carrier_id <> ''
							ORDER BY status <> 'SUBMITTED', submitted_at DESC, message_id DESC LIMIT 1)
						FROM unnest($2::text[], $3::text[]) AS u(c, cid))
					ORDER BY id FOR UPDATE`, ids, rc, rcid)
			}
		},
		read: func(br pgx.BatchResults) error {
			if len(keys) > 0 {
				if _, err := br.Exec(); err != nil {
					return err
				}
			}
			if !rows {
				return nil
			}
			got, err := br.Query()
			if err != nil {
				return err
			}
			var (
				id, status string
				parts      int
			)
			_, err = pgx.ForEachRow(got, []any{&id, &status, &parts}, func() error {
				w.locked[id] = pgLocked{status: status, partCount: parts}
				return nil
			})
			return err
		},
	}
}

// lockMore locks the rows of messages phase 2 did not lock, in id order. A
// receipt's message is always locked by then (see lockStage); this is the
// safety net should that ever change.
func (w *ptx) lockMore(ids []string) error {
	var more []string
	for _, id := range ids {
		if _, ok := w.locked[id]; !ok {
			more = append(more, id)
		}
	}
	if len(more) == 0 {
		return nil
	}
	slices.Sort(more)
	more = slices.Compact(more)
	rows, err := w.query("SELECT id, status, part_count FROM messages WHERE id = ANY($1) ORDER BY id FOR UPDATE", more)
	if err != nil {
		return err
	}
	var (
		id, status string
		parts      int
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &status, &parts}, func() error {
		w.locked[id] = pgLocked{status: status, partCount: parts}
		return nil
	})
	return err
}
