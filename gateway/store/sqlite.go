package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmf/smsgw/gateway"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed schema/sqlite/*.sql
var sqliteSchema embed.FS

// Connection settings. The writer's synchronous=FULL is what makes a commit
// durable against power loss in WAL mode (NORMAL is not). busy_timeout only
// matters for the brief locks of WAL checkpoints shared with readers.
//
// cache_size counts page bytes, but each cached 4 KiB page (with SQLite's
// header for it) is one allocation of the pure-Go SQLite's allocator,
// which rounds it up to 8 KiB: the writer's 16 MiB of pages hold ~32 MiB
// (32 MiB of pages took ~64 MiB, which a 100,000-message Fineract page
// fills: make soak's TestHugePageRSS). A reader's 8 MiB take up to 16.
const (
	sqliteWriterParams = "_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=cache_size(-16384)" +
		"&_pragma=journal_size_limit(67108864)" +
		"&_pragma=temp_store(MEMORY)" +
		"&_pragma=wal_autocheckpoint(0)" // see checkpointer
	sqliteReaderParams = "_pragma=busy_timeout(10000)" +
		"&_pragma=query_only(1)" +
		"&_pragma=cache_size(-8192)"
)

// sqliteStore is the embedded gateway.Store. All writes go through one
// goroutine (loop) and one connection (conn); reads use the rdb pool.
type sqliteStore struct {
	opts        Options
	writeHealth          // the writer records every commit's outcome
	lock        *os.File // held for the store's life: one process per database

	wdb   *sql.DB
	conn  *sql.Conn            // the writer's connection, used only by loop
	stmts map[string]*sql.Stmt // prepared on conn, used only by loop
	sqls  map[sqlKey]string    // multi-row statements built, used only by loop
	rdb   *sql.DB
	reads readStmts // prepared on rdb
	tail  *eventTail
	// optOuts is the opt-out list in memory: loaded at open, changed by
	// the writer after each COMMIT that changed the table.
	optOuts *optOutSet

	// cdb holds the checkpointer's connection; stopCheckpoints ends it and
	// checkpointDone is closed once it has. checkpoints counts its rounds,
	// walBehind is the WAL pages its last round left uncopied.
	cdb             *sql.DB
	stopCheckpoints context.CancelFunc
	checkpointDone  chan struct{}
	checkpoints     atomic.Uint64
	walBehind       atomic.Int64

	// mu guards closed and the send side of ops: senders hold it shared while
	// they enqueue, Close holds it exclusively to close ops. Reads hold it
	// shared while they run, so Close does not close rdb under them.
	mu     sync.RWMutex
	closed bool
	ops    chan *op
	done   chan struct{} // closed when loop has returned
	// flushHeld wakes the writer to run the inserts it holds back under
	// the journal's flushBelow; holdFor is how long it may hold one
	// (heldFor; tests make it longer).
	flushHeld chan struct{}
	holdFor   time.Duration

	// aj is the accept journal, nil when Config.Journal turns it off.
	aj *acceptJournal

	closeOnce sync.Once
	closeErr  error
}

var (
	_ gateway.Store       = (*sqliteStore)(nil)
	_ gateway.WriteHealth = (*sqliteStore)(nil)
)

// readStmts are the reader pool's statements, prepared once: database/sql
// then keeps them prepared per connection, so reads skip SQL parsing.
type readStmts struct {
	get, optedOut, optedOutOne, eventMessages, eventRefs *sql.Stmt
	// events and tenantEvents: [0] without messages, [1] with them.
	events, tenantEvents [2]*sql.Stmt
}

// eventColumns and eventJoins read an event with an inbound event's
// message and a status event's client_ref. Both stores run them.
const (
	eventColumns = `e.seq, e.kind, e.tenant, e.message_id, e.status, e.detail, e.at,
		i.id, i.tenant, i.carrier, i.carrier_ref, i.sender, i.recipient, i.body, i.received_at, i.keyword,
		COALESCE(m.client_ref, '')`
	eventJoins = `
	FROM events e LEFT JOIN inbound i ON i.id = e.inbound_id
		LEFT JOIN messages m ON e.message_id <> '' AND m.id = e.message_id `
)

// eventQuery reads events (Events).
const eventQuery = `SELECT ` + eventColumns + eventJoins

// eventMessageQuery is eventQuery with what followers need of a status
// event's message (no text; part 0 gives the carrier id), so a follower
// reads nothing per event (EventsWithMessages).
const eventMessageQuery = `SELECT ` + eventColumns + `,
		m.id, m.sender, m.recipient, m.encoding, m.carrier, m.meta, p.carrier, p.carrier_id` + eventJoins + `
		LEFT JOIN parts p ON e.message_id <> '' AND p.message_id = e.message_id AND p.idx = 0 `

func (r *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	var err error
	prep := func(query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, query)
		return st
	}
	r.get = prep(`SELECT ` + prefixed("m.", messageColumns) + `,
			p.idx, p.carrier, p.carrier_id, p.status, p.error, p.cost, p.updated_at
		FROM messages m JOIN parts p ON p.message_id = m.id WHERE m.id = $1 ORDER BY p.idx`)
	for i, q := range []string{eventQuery, eventMessageQuery} {
		r.events[i] = prep(q + "WHERE e.seq >= $1 ORDER BY e.seq LIMIT $2")
		r.tenantEvents[i] = prep(q + "WHERE e.tenant = $1 AND e.seq >= $2 ORDER BY e.seq LIMIT $3")
	}
	r.eventMessages = prep(eventMessagesQuery)
	r.eventRefs = prep(eventRefsQuery)
	r.optedOutOne = prep("SELECT 1 FROM optouts WHERE tenant = $1 AND number = $2")
	r.optedOut = prep("SELECT number FROM optouts WHERE tenant = $1 AND number IN (SELECT value FROM json_each($2))")
	return err
}

func (r *readStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{r.get, r.eventMessages, r.eventRefs, r.events[0], r.events[1], r.tenantEvents[0], r.tenantEvents[1], r.optedOut, r.optedOutOne} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// prefixed qualifies each column of a comma-separated list with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// op is one queued write operation. run executes it inside the batch
// transaction; it may run more than once when another operation's failure
// forces a replay, so it must rebuild its results from scratch each time.
// An operation that a batch may run together with others of its kind
// (Accept, RecordSubmits, RecordReceipts) also carries its arguments; run
// then does the same for it alone.
type op struct {
	ctx      context.Context
	name     string
	run      func(w *wtx) error
	accept   *acceptArgs  // set for Accept
	submits  *submitCall  // set for RecordSubmits
	receipts *receiptCall // set for RecordReceipts
	// late operations run after the others of their batch (RecordReceipts,
	// so that a receipt finds the carrier id recorded in the same batch).
	late bool
	err  error
	done chan error

	grouped bool // run by its kind's group in the current attempt

	// holdID is set on the journaled insert of one message handed over at
	// accept: the writer may hold it back until holdUntil for that
	// message's RecordSubmits (see heldInserts). group is its journal
	// group.
	holdID    string
	holdUntil time.Time
	group     uint64
	// beside says the operation cannot read or change a message whose
	// insert the writer holds back, so held inserts need not run before
	// it: inserts, RecordSubmits and RecordReceipts (a held message has no
	// carrier id to match yet), claims (a held message is leased), the
	// outbox and event cursors.
	beside bool
	// claimAt is a claim's time: a message whose lease has lapsed by then
	// must be in the database for it (see heldInserts.lapsed).
	claimAt time.Time
}

func openSQLite(ctx context.Context, path string, journal bool, opts Options) (_ *sqliteStore, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	s := &sqliteStore{
		opts:  opts,
		lock:  lock,
		stmts: make(map[string]*sql.Stmt),
		sqls:  make(map[sqlKey]string),
		ops:   make(chan *op, 4*opts.MaxBatch),
		done:  make(chan struct{}),

		flushHeld: make(chan struct{}, 1),
		holdFor:   heldFor,
	}
	started := false // the writer runs: Close, not release, undoes the open
	defer func() {
		if err != nil && !started {
			s.release()
		}
	}()

	s.wdb, err = sql.Open("sqlite", path+"?"+sqliteWriterParams)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	s.conn, err = s.wdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	var mode string
	if err := s.conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("store: open %s: journal_mode is %q, the file system does not support WAL", path, mode)
	}
	version, err := migrateSQLite(ctx, s.conn)
	if err != nil {
		return nil, err
	}
	// Single node: whoever held these leases is gone.
	res, err := s.conn.ExecContext(ctx,
		"UPDATE messages SET lease_until = 0 WHERE status = 'ACCEPTED' AND lease_until <> 0")
	if err != nil {
		return nil, fmt.Errorf("store: clear leases: %w", err)
	}
	cleared, _ := res.RowsAffected()
	// The same holds for outbox tasks: a webhook call cut off by a crash
	// runs again at once, not after its lease (a claim moved its not_before
	// to the lease end, see ClaimTasks).
	if _, err := s.conn.ExecContext(ctx, "UPDATE tasks SET lease_until = 0, not_before = MIN(not_before, $1) WHERE done_at = 0 AND lease_until <> 0",
		opts.Now().UnixNano()); err != nil {
		return nil, fmt.Errorf("store: clear task leases: %w", err)
	}

	var lastSeq int64
	if err := s.conn.QueryRowContext(ctx, sqlLastSeq).Scan(&lastSeq); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.tail = newEventTail(opts.EventTail, lastSeq+1)
	if s.optOuts, err = loadOptOuts(ctx, s.conn, opts.OptOutsInMemory, opts.Logger); err != nil {
		return nil, err
	}

	s.rdb, err = sql.Open("sqlite", path+"?"+sqliteReaderParams)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	s.rdb.SetMaxOpenConns(readers)
	s.rdb.SetMaxIdleConns(readers)
	if err := s.reads.prepare(ctx, s.rdb); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := s.startCheckpointer(ctx, path); err != nil {
		return nil, err
	}

	opts.Logger.Info("store opened", "driver", DriverSQLite, "path", path,
		"schema_version", version, "leases_cleared", cleared, "accept_journal", journal)
	go s.loop()
	started = true
	if journal {
		if err := s.startJournal(ctx, path+".journal"); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// release closes whatever openSQLite or Close has to give back.
func (s *sqliteStore) release() error {
	var errs []error
	if s.stopCheckpoints != nil {
		s.stopCheckpoints()
		<-s.checkpointDone
	}
	if s.cdb != nil {
		errs = append(errs, s.cdb.Close())
	}
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.reads.close(), s.rdb.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// migrateSQLite applies the embedded migrations newer than the database's
// version, each in its own transaction, and returns the resulting version.
func migrateSQLite(ctx context.Context, conn *sql.Conn) (int, error) {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL)`); err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	ms, err := migrations(sqliteSchema, "schema/sqlite")
	if err != nil {
		return 0, err
	}
	latest := 0
	for _, m := range ms {
		latest = max(latest, m.version)
		if m.version <= current {
			continue
		}
		if err := applyMigration(ctx, conn, m.version, m.body); err != nil {
			return 0, fmt.Errorf("store: migrate %s: %w", m.name, err)
		}
		current = m.version
	}
	if current > latest {
		return 0, fmt.Errorf("store: migrate: database schema version %d is newer than this build's %d", current, latest)
	}
	return current, nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, version int, body string) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
		version, time.Now().UnixNano()); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// Close stops taking operations, lets the writer commit everything already
// queued, and closes the database. Later calls return the first call's result.
func (s *sqliteStore) Close() error {
	s.closeOnce.Do(func() {
		if s.aj != nil {
			s.aj.stop()
		}
		s.mu.Lock()
		s.closed = true
		close(s.ops)
		s.mu.Unlock()
		<-s.done
		var jerr error
		if s.aj != nil {
			jerr = s.aj.j.Close()
		}
		s.closeErr = errors.Join(s.release(), jerr)
	})
	return s.closeErr
}

// do queues a write operation and waits for the commit that holds it.
func (s *sqliteStore) do(ctx context.Context, name string, run func(w *wtx) error) error {
	return s.submit(&op{ctx: ctx, name: name, run: run})
}

// doBeside is do for an operation beside held inserts (see op.beside).
func (s *sqliteStore) doBeside(ctx context.Context, name string, run func(w *wtx) error) error {
	return s.submit(&op{ctx: ctx, name: name, run: run, beside: true})
}

// submit queues o and waits for its answer. Once queued, o is always
// answered: the writer skips it, without effect, if its context has ended.
func (s *sqliteStore) submit(o *op) error {
	if err := s.enqueue(o); err != nil {
		return err
	}
	return <-o.done
}

// enqueue queues o for the writer, which answers on o.done.
func (s *sqliteStore) enqueue(o *op) error {
	if err := o.ctx.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", o.name, err)
	}
	o.done = make(chan error, 1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.ops <- o:
		return nil
	case <-o.ctx.Done():
		return fmt.Errorf("store: %s: %w", o.name, o.ctx.Err())
	}
}

// loop is the writer goroutine: it group-commits whatever is queued, but
// the inserts it holds back (see heldInserts), until ops is closed and
// drained.
func (s *sqliteStore) loop() {
	defer close(s.done)
	var (
		batch = make([]*op, 0, s.opts.MaxBatch)
		held  heldInserts
	)
	for {
		o, open := held.next(s.ops, s.flushHeld)
		batch = batch[:0]
		if o != nil {
			batch = append(batch, o)
			batch = fillBatch(batch, s.ops, s.opts.MaxBatch)
		}
		if run := held.take(batch, s.flushBelow(), !open, time.Now()); len(run) > 0 {
			s.commit(run)
			clear(run)
			clear(batch)
		}
		if !open {
			return
		}
	}
}

// commit runs batch in one transaction and answers every operation in it.
//
// An operation that fails before it changed anything just fails. One that
// fails after changing rows poisons the transaction: it is rolled back and
// the batch replayed without the failed operations, which is cheaper on the
// common path than a SAVEPOINT around every operation. Any error that is not
// the operation's own (I/O, a failed commit) fails the whole batch.
func (s *sqliteStore) commit(batch []*op) {
	w := &wtx{s: s, now: s.opts.Now().UTC()}
	w.nowNs = w.now.UnixNano()
	fatal := s.runBatch(w, batch)
	s.writeHealth.record(fatal, w.now)
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

// runBatch executes batch up to its commit. Operations of the kinds that
// batches group run together, with a few statements per group whatever
// its size (each statement costs far more than a row it carries): the
// Accepts first, as multi-row INSERTs; then every other
// operation one by one; then the RecordSubmits; then the RecordReceipts,
// last. This is a valid order: the batch's callers are concurrent, and all
// of it commits at once. A group that fails with a constraint replays the
// batch with every operation on its own, so that only the culprit fails;
// a grouped operation that fails on its own (RecordSubmits of an unknown
// part) replays the batch without it.
func (s *sqliteStore) runBatch(w *wtx, batch []*op) error {
	group := true
	for {
		if err := s.execConn("BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		w.events = w.events[:0]
		w.carriers = w.carriers[:0]
		w.prunedThrough = 0
		w.unmatchedKnown = false
		w.optOuts = w.optOuts[:0]
		again, err := s.attempt(w, batch, group)
		if err != nil {
			s.rollback()
			return err
		}
		switch again {
		case replayAlone:
			s.rollback()
			s.opts.Logger.Debug("store: replaying batch one operation at a time", "ops", len(batch))
			group = false
			continue
		case replayWithout:
			s.rollback()
			s.opts.Logger.Debug("store: replaying batch without a failed operation", "ops", len(batch))
			continue
		}
		if w.prunedThrough > 0 {
			s.tail.dropThrough(w.prunedThrough)
		}
		if err := s.execConn("COMMIT"); err != nil {
			s.rollback()
			s.tail.fail()
			return fmt.Errorf("store: commit: %w", err)
		}
		s.tail.commit(w.lastSeq-int64(len(w.events))+1, w.events, w.nowNs, w.carriers)
		if len(w.optOuts) > 0 {
			s.optOuts.apply(w.optOuts, s.opts.Logger)
		}
		return nil
	}
}

// replay says whether and how an attempt at a batch must start over.
type replay int

const (
	replayNone    replay = iota // the attempt may commit
	replayWithout               // again, without the operations that failed
	replayAlone                 // again, every operation on its own
)

// batchGroups are the operations of one attempt that run by kind.
type batchGroups struct {
	accepts, submits, receipts []*op
}

// partition skips the operations already failed or canceled and, when
// group is set, sorts out those that run by kind. A RecordSubmits that
// names a message another grouped one names too runs on its own, so that
// each message's submit records in a group come from one call.
func partition(batch []*op, group bool) batchGroups {
	var (
		g     batchGroups
		owner map[string]*op // message id → its grouped RecordSubmits
	)
	for _, o := range batch {
		o.grouped = false
		if o.err != nil {
			continue
		}
		if err := o.ctx.Err(); err != nil {
			o.err = fmt.Errorf("store: %s: %w", o.name, err)
			continue
		}
		if !group {
			continue
		}
		switch {
		case o.accept != nil:
			g.accepts = append(g.accepts, o)
		case o.receipts != nil:
			g.receipts = append(g.receipts, o)
		case o.submits != nil:
			if owner == nil {
				owner = make(map[string]*op)
			}
			if !claimMessages(owner, o) {
				continue
			}
			g.submits = append(g.submits, o)
		default:
			continue
		}
		o.grouped = true
	}
	return g
}

// claimMessages records o as the owner of the messages it submits parts
// of, unless another operation owns one of them already.
func claimMessages(owner map[string]*op, o *op) bool {
	for _, r := range o.submits.recs {
		if other, ok := owner[r.MessageID]; ok && other != o {
			return false
		}
	}
	for _, r := range o.submits.recs {
		owner[r.MessageID] = o
	}
	return true
}

// attempt runs batch once up to its commit (see runBatch). A non-nil error
// fails the whole batch.
func (s *sqliteStore) attempt(w *wtx, batch []*op, group bool) (replay, error) {
	g := partition(batch, group)
	folded := w.folds(batch, g)
	if len(g.accepts) > 0 {
		if err := w.acceptGroup(g.accepts, folded); err != nil {
			if !isOpError(err) {
				return replayNone, fmt.Errorf("store: accept: %w", err)
			}
			s.opts.Logger.Debug("store: accept group failed", "err", err)
			return replayAlone, nil
		}
	}
	for _, o := range lateLast(batch) {
		if o.err != nil || o.grouped {
			continue
		}
		if err := o.ctx.Err(); err != nil {
			o.err = fmt.Errorf("store: %s: %w", o.name, err)
			continue
		}
		w.dirty = false
		events := len(w.events)
		err := o.run(w)
		if err == nil {
			continue
		}
		w.events = w.events[:events]
		if !isOpError(err) {
			return replayNone, fmt.Errorf("store: %s: %w", o.name, err)
		}
		o.err = err
		if w.dirty {
			return replayWithout, nil
		}
	}
	if len(g.submits) > 0 {
		calls := make([]*submitCall, len(g.submits))
		for i, o := range g.submits {
			calls[i] = o.submits
		}
		if err := w.recordSubmits(calls, folded); err != nil {
			if !isOpError(err) {
				return replayNone, fmt.Errorf("store: record submits: %w", err)
			}
			s.opts.Logger.Debug("store: submit group failed", "err", err)
			return replayAlone, nil
		}
		failed := false
		for _, o := range g.submits {
			if o.submits.err != nil {
				o.err, failed = o.submits.err, true
			}
		}
		if failed {
			return replayWithout, nil
		}
	}
	if len(g.receipts) > 0 {
		calls := make([]*receiptCall, len(g.receipts))
		for i, o := range g.receipts {
			calls[i] = o.receipts
		}
		if err := w.recordReceipts(calls); err != nil {
			if !isOpError(err) {
				return replayNone, fmt.Errorf("store: record receipts: %w", err)
			}
			s.opts.Logger.Debug("store: receipt group failed", "err", err)
			return replayAlone, nil
		}
	}
	if err := w.flushEvents(); err != nil {
		return replayNone, fmt.Errorf("store: events: %w", err)
	}
	return replayNone, nil
}

// execConn runs one of the writer's transaction statements (BEGIN,
// COMMIT), prepared once like the others.
func (s *sqliteStore) execConn(query string) error {
	st, err := s.stmt(query)
	if err != nil {
		return err
	}
	_, err = st.Exec()
	return err
}

// lateLast returns batch with its late operations moved to the end, each
// part in queue order. It reorders batch in place (a stable partition): the
// callers of one batch are concurrent, so any order is a valid one.
func lateLast(batch []*op) []*op {
	late := 0
	for _, o := range batch {
		if o.late {
			late++
		}
	}
	if late == 0 || late == len(batch) {
		return batch
	}
	out := make([]*op, 0, len(batch))
	for _, o := range batch {
		if !o.late {
			out = append(out, o)
		}
	}
	for _, o := range batch {
		if o.late {
			out = append(out, o)
		}
	}
	copy(batch, out)
	return batch
}

func (s *sqliteStore) rollback() {
	// SQLite may have rolled back already (I/O errors do); the error then
	// only says there is no transaction.
	_, _ = s.conn.ExecContext(context.Background(), "ROLLBACK")
}

// isOpError reports whether err belongs to one operation (its input, a
// constraint) rather than to the database (I/O, locking, corruption).
func isOpError(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
	}
	return true
}

// stmt returns the writer's prepared statement for query, preparing it once.
func (s *sqliteStore) stmt(query string) (*sql.Stmt, error) {
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// wtx is the writer's view of the current batch transaction.
type wtx struct {
	s      *sqliteStore
	now    time.Time // the batch's clock reading, UTC
	nowNs  int64
	dirty  bool       // the running operation changed at least one row
	events []eventRow // appended to the log just before COMMIT
	args   []any      // scratch for multi-row statements

	// For the event tail, once the batch commits: the last event's seq
	// (flushEvents), the carriers recorded, the seq the log was pruned
	// through (0 if it was not).
	lastSeq       int64
	carriers      []carrierSet
	prunedThrough int64

	// unmatchedKnown says unmatchedAny was read in this transaction;
	// unmatchedAny is then whether unmatched_receipts may hold a row.
	unmatchedKnown, unmatchedAny bool

	// optOuts are the attempt's opt-out changes, for the in-memory list
	// once it commits.
	optOuts []optOutChange
}

// eventRow is one event waiting for flushEvents.
type eventRow struct {
	kind      gateway.EventKind
	tenant    string
	msgID     string
	status    gateway.Status
	detail    string
	inboundID string // "" for status events
	// at is the event's time when it is not the batch's (an ACCEPTED
	// event of a journaled message: when it was accepted); 0 otherwise.
	at int64
	// For the event tail: an ACCEPTED (or refused) event's new message as
	// inserted (the tail copies what it keeps of it, if it keeps it), an
	// inbound event's message as stored, an audit event's entry.
	accepted *gateway.Message
	inbound  *gateway.Inbound
	audit    *gateway.AuditEntry
}

// multiRowMax bounds the rows of one INSERT: 64 rows of the widest table
// stay far below SQLite's 32766 parameters.
const multiRowMax = 64

// setRowsMax bounds the rows of one set-based statement (an UPDATE ... FROM
// or a query over a VALUES list, see execRows): its rows are narrow, and
// fewer, larger statements cost less per row.
const setRowsMax = 256

// rowsQuery is a statement over a list of rows: head, then the rows as a
// VALUES list (each row's value list in row, in which each "?" takes the
// next argument), then tail. Placeholders in head come before the rows'
// and are bound from the statement's fixed arguments; tail has none.
type rowsQuery struct {
	head string
	row  []string
	tail string
}

// width is the number of arguments one row takes.
func (q *rowsQuery) width() int {
	n := 0
	for _, v := range q.row {
		if v == "?" {
			n++
		}
	}
	return n
}

// insertRows inserts rows with as few statements as it can. head is
// "INSERT INTO t (cols) VALUES"; row is one row's value list in which each
// "?" takes the next argument, and args holds the rows' arguments end to end.
// Statements come in power-of-two sizes so that only a handful are ever
// prepared per table.
func (w *wtx) insertRows(head string, row []string, args []any) error {
	_, err := w.execRows(rowsQuery{head: head, row: row}, multiRowMax, nil, args)
	return err
}

// execRows runs q over rows with as few statements as it can, at most
// maxRows rows each, in power-of-two sizes, and returns the rows affected
// in all. fixed are the arguments of q.head's own placeholders; args holds
// the rows' arguments end to end.
func (w *wtx) execRows(q rowsQuery, maxRows int, fixed, args []any) (int64, error) {
	var total int64
	err := w.chunkRows(q, maxRows, fixed, args, func(query string, args []any) error {
		n, err := w.exec(query, args...)
		total += n
		return err
	})
	return total, err
}

// queryRows runs the query q over rows (up to setRowsMax a statement) and
// calls scan for every row of every result.
func (w *wtx) queryRows(q rowsQuery, fixed, args []any, scan func(*sql.Rows) error) error {
	return w.chunkRows(q, setRowsMax, fixed, args, func(query string, args []any) error {
		rows, err := w.query(query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// chunkRows cuts args into statements of q of power-of-two row counts, at
// most maxRows rows each, and calls run on each with its arguments.
func (w *wtx) chunkRows(q rowsQuery, maxRows int, fixed, args []any, run func(query string, args []any) error) error {
	width := q.width()
	for len(args) > 0 {
		n := 1
		for n*2 <= min(maxRows, len(args)/width) {
			n *= 2
		}
		chunk := args[:n*width]
		if len(fixed) > 0 {
			chunk = append(append(make([]any, 0, len(fixed)+len(chunk)), fixed...), chunk...)
		}
		if err := run(w.s.rowsSQL(q, n), chunk); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
}

// rowsSQL builds (once) q for n rows (only the writer calls it).
func (s *sqliteStore) rowsSQL(q rowsQuery, n int) string {
	key := sqlKey{q.head, q.tail, n}
	if sql, ok := s.sqls[key]; ok {
		return sql
	}
	sql := q.sql(n)
	s.sqls[key] = sql
	return sql
}

// sql is q's text for n rows. Its placeholders are anonymous "?": SQLite
// resolves each numbered or named one by a linear search, which made
// binding a 64-row statement quadratic.
func (q rowsQuery) sql(n int) string {
	var b strings.Builder
	b.WriteString(q.head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(" (")
		for j, v := range q.row {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v)
		}
		b.WriteByte(')')
	}
	b.WriteString(q.tail)
	return b.String()
}

type sqlKey struct {
	head, tail string
	n          int
}

func (w *wtx) exec(query string, args ...any) (int64, error) {
	st, err := w.s.stmt(query)
	if err != nil {
		return 0, err
	}
	res, err := st.Exec(args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if n > 0 {
		w.dirty = true
	}
	return n, nil
}

func (w *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.s.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.Query(args...)
}

func (w *wtx) queryRow(query string, args ...any) scanner {
	st, err := w.s.stmt(query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRow(args...)
}

// errRow is a row whose query could not even be prepared.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// event queues one status event for a message; flushEvents writes it in
// the same transaction. It counts as a change for the replay rule.
func (w *wtx) event(tenant, msgID string, status gateway.Status, detail string) {
	w.events = append(w.events, eventRow{kind: gateway.EventStatus, tenant: tenant, msgID: msgID,
		status: status, detail: detail})
	w.dirty = true
}

// time is the event's time in a batch committed at batchNs.
func (e *eventRow) time(batchNs int64) int64 {
	if e.at != 0 {
		return e.at
	}
	return batchNs
}

// flushEvents appends the queued events to the log in queue order.
func (w *wtx) flushEvents() error {
	if len(w.events) == 0 {
		return nil
	}
	args := w.args[:0]
	for _, e := range w.events {
		var inbound any // NULL for status events
		if e.inboundID != "" {
			inbound = e.inboundID
		}
		args = append(args, string(e.kind), e.tenant, e.msgID, string(e.status), e.detail, e.time(w.nowNs), inbound)
	}
	w.args = args[:0]
	// One writer and AUTOINCREMENT: the rows take consecutive seqs, in
	// order, the last one being the last statement's rowid.
	q := rowsQuery{head: "INSERT INTO events (kind, tenant, message_id, status, detail, at, inbound_id) VALUES",
		row: []string{"?", "?", "?", "?", "?", "?", "?"}}
	return w.chunkRows(q, multiRowMax, nil, args, func(query string, args []any) error {
		st, err := w.s.stmt(query)
		if err != nil {
			return err
		}
		res, err := st.Exec(args...)
		if err != nil {
			return err
		}
		w.lastSeq, err = res.LastInsertId()
		return err
	})
}

// read runs f while holding the store open, mapping use after Close.
func (s *sqliteStore) read(f func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return f()
}

// messageColumns is the column list scanMessage expects, in order.
const messageColumns = `id, tenant, client_ref, sender, recipient, body, encoding, priority,
	not_before, expires_at, status, attempts, carrier, cost, currency, last_error,
	created_at, updated_at, pinned_carrier, category, meta`

type scanner interface {
	Scan(dest ...any) error
}

func scanMessage(r scanner) (*gateway.Message, error) {
	var (
		m                                   gateway.Message
		encoding, status, category, meta    string
		notBefore, expires, created, update int64
	)
	err := r.Scan(&m.ID, &m.Tenant, &m.ClientRef, &m.From, &m.To, &m.Text, &encoding, &m.Priority,
		&notBefore, &expires, &status, &m.Tries, &m.Carrier, &m.Cost, &m.Currency, &m.LastError,
		&created, &update, &m.PinnedCarrier, &category, &meta)
	if err != nil {
		return nil, err
	}
	m.Category = gateway.Category(category)
	if m.Meta, err = decodeMeta(meta); err != nil {
		return nil, fmt.Errorf("message %s: %w", m.ID, err)
	}
	m.Encoding = gateway.Encoding(encoding)
	m.Status = gateway.Status(status)
	m.NotBefore = fromNanos(notBefore)
	m.ExpiresAt = fromNanos(expires)
	m.CreatedAt = fromNanos(created)
	m.UpdatedAt = fromNanos(update)
	return &m, nil
}

const partColumns = "idx, carrier, carrier_id, status, error, updated_at"

// Get reads a message and its parts in one statement, hence one snapshot,
// then the message's attempts in a second.
// Accept guarantees every message has a part, so the inner join is safe.
func (s *sqliteStore) Get(ctx context.Context, tenant, id string) (*gateway.Message, error) {
	if err := s.visible(ctx, true); err != nil {
		return nil, err
	}
	var m *gateway.Message
	err := s.read(func() error {
		rows, err := s.reads.get.QueryContext(ctx, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				p       gateway.Part
				status  string
				updated int64
				cur     *gateway.Message
				scanErr error
			)
			cur, scanErr = scanMessage(multiScanner{rows, []any{&p.Index, &p.Carrier, &p.CarrierID, &status, &p.Error, &p.Cost, &updated}})
			if scanErr != nil {
				return scanErr
			}
			if m == nil {
				m = cur
			}
			p.Status = gateway.Status(status)
			p.UpdatedAt = fromNanos(updated)
			m.Parts = append(m.Parts, p)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if m == nil || (tenant != "" && m.Tenant != tenant) {
			m = nil
			return gateway.ErrNotFound
		}
		arows, err := s.rdb.QueryContext(ctx, sqlAttempts, id)
		if err != nil {
			return err
		}
		m.Attempts, err = scanAttempts(sqlRows{arows})
		return err
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	return m, nil
}

// multiScanner lets scanMessage read the message columns of a row that
// carries more columns after them.
type multiScanner struct {
	rows  *sql.Rows
	extra []any
}

func (ms multiScanner) Scan(dest ...any) error {
	return ms.rows.Scan(append(dest, ms.extra...)...)
}

// Events reads the log from fromSeq on, joining inbound payloads.
func (s *sqliteStore) Events(ctx context.Context, tenant string, fromSeq int64, limit int) ([]gateway.Event, error) {
	return s.events(ctx, tenant, fromSeq, limit, 0)
}

// EventsWithMessages implements gateway.EventLog.
func (s *sqliteStore) EventsWithMessages(ctx context.Context, tenant string, fromSeq int64, limit int) ([]gateway.Event, error) {
	return s.events(ctx, tenant, fromSeq, limit, 1)
}

// events answers from the event tail when it reaches back to fromSeq,
// else runs the events statements of variant v (1: with messages).
func (s *sqliteStore) events(ctx context.Context, tenant string, fromSeq int64, limit, v int) ([]gateway.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	if err := s.visible(ctx, false); err != nil {
		return nil, err
	}
	var evs []gateway.Event
	err := s.read(func() error {
		var (
			miss []int
			ok   bool
			err  error
		)
		if evs, miss, ok = s.tail.events(tenant, fromSeq, limit, v == 1); !ok {
			evs, err = s.queryEvents(ctx, tenant, fromSeq, limit, v)
			return err
		}
		if len(miss) > 0 {
			return s.completeMessages(ctx, evs, miss, v == 1)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return evs, nil
}

// queryEvents runs the events statements of variant v (1: with messages).
func (s *sqliteStore) queryEvents(ctx context.Context, tenant string, fromSeq int64, limit, v int) ([]gateway.Event, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if tenant == "" {
		rows, err = s.reads.events[v].QueryContext(ctx, fromSeq, limit)
	} else {
		rows, err = s.reads.tenantEvents[v].QueryContext(ctx, tenant, fromSeq, limit)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []gateway.Event
	for rows.Next() {
		var (
			e                                        gateway.Event
			kind, status                             string
			at                                       int64
			inID, inTenant, inCarrier, inRef, inFrom sql.NullString
			inTo, inText, inKeyword                  sql.NullString
			inReceived                               sql.NullInt64
			em                                       eventMessageCols
		)
		dest := []any{&e.Seq, &kind, &e.Tenant, &e.MessageID, &status, &e.Detail, &at,
			&inID, &inTenant, &inCarrier, &inRef, &inFrom, &inTo, &inText, &inReceived, &inKeyword, &e.ClientRef}
		if v == 1 {
			dest = append(dest, em.dest()...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if e.Message, err = em.message(); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.Seq, err)
		}
		e.Kind = gateway.EventKind(kind)
		e.Status = gateway.Status(status)
		e.Time = fromNanos(at)
		if err := readAuditEvent(&e); err != nil {
			return nil, err
		}
		if inID.Valid {
			e.Inbound = &gateway.Inbound{
				ID: inID.String, Tenant: inTenant.String, Carrier: inCarrier.String,
				CarrierRef: inRef.String, From: inFrom.String, To: inTo.String,
				Text: inText.String, ReceivedAt: fromNanos(inReceived.Int64), Keyword: inKeyword.String,
			}
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// toNanos stores the zero time as 0 (UnixNano of year 1 is out of range).
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// GetInbound implements gateway.Store.
func (s *sqliteStore) GetInbound(ctx context.Context, tenant, id string) (*gateway.Inbound, error) {
	var in *gateway.Inbound
	err := s.read(func() error {
		var err error
		in, err = scanInbound(s.rdb.QueryRowContext(ctx, sqlGetInbound, id), tenant, id, sql.ErrNoRows)
		return err
	})
	return in, err
}
