package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/openmf/smsgw/gateway"
)

//go:embed schema/postgres/*.sql
var postgresSchema embed.FS

// Advisory lock keys. Transaction-level locks use the two-int4 form with
// these namespaces; bind slots use the one-int8 form, a separate key space
// in PostgreSQL, so no slot can ever collide with them.
const (
	lockNS         int32 = 0x534d5347 // "SMSG": (lockNS, lockMigrate|lockEvents)
	lockMigrate    int32 = 1
	lockEvents     int32 = 2
	lockReceiptsNS int32 = 0x534d5352 // "SMSR": (lockReceiptsNS, hash of carrier and carrier id)
)

// notifyChannel is the LISTEN/NOTIFY channel event appends signal on.
const notifyChannel = "smsgw_events"

// defaultPoolConns is the pool size when the DSN sets no pool_max_conns:
// the writers' connections (pgWriters), the reads, which run concurrently,
// and the writes that run on their own (pruning, NoteMissing).
const defaultPoolConns = 24

// pgStore is the gateway.Store several nodes share. Writes are queued to
// the node's writers, which group-commit them (postgres_writer.go); see the
// package doc for the invariants that make it safe with other nodes.
type pgStore struct {
	opts        Options
	writeHealth        // the writers record every commit's outcome
	node        string // lease_owner of this Open's claims
	pool        *pgxpool.Pool
	connCfg     *pgx.ConnConfig // for dedicated connections: the listener, bind slots

	// mu guards closed and the send side of ops: senders hold it shared
	// while they enqueue, reads and writeAlone while they run; Close holds
	// it exclusively to close ops, then waits for the writers to drain it.
	mu      sync.RWMutex
	closed  bool
	ops     chan *pgOp
	writers sync.WaitGroup
	turn    chan struct{} // held by the writer collecting and running a batch

	bg       context.Context // ends at Close: the listener, slot waits
	stopBg   context.CancelFunc
	listened chan struct{} // closed when the listener has returned

	notify   chan struct{} // a commit appended events: NOTIFY the other nodes
	notified chan struct{} // closed when the notifier has returned

	changedMu sync.Mutex
	changed   chan struct{} // closed and replaced when events may have been appended

	slotsMu sync.Mutex
	slots   map[*pgx.Conn]struct{} // connections holding (or trying for) a bind slot

	optOuts optOutReads // OptedOut's shared queries

	closeOnce sync.Once
	closeErr  error
}

var (
	_ gateway.Store         = (*pgStore)(nil)
	_ gateway.BindSlots     = (*pgStore)(nil)
	_ gateway.EventNotifier = (*pgStore)(nil)
	_ gateway.WriteHealth   = (*pgStore)(nil)
)

func openPostgres(ctx context.Context, dsn string, opts Options) (_ *pgStore, err error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres dsn: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultPoolConns
	}
	s := &pgStore{
		opts:    opts,
		node:    uuid.NewString(),
		connCfg: cfg.ConnConfig.Copy(),
		changed: make(chan struct{}),
		notify:  make(chan struct{}, 1),
		ops:     make(chan *pgOp, 4*opts.MaxBatch),
		turn:    make(chan struct{}, 1),
		slots:   make(map[*pgx.Conn]struct{}),
	}
	s.optOuts.read = s.readOptOuts
	s.bg, s.stopBg = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.stopBg()
			if s.pool != nil {
				s.pool.Close()
			}
		}
	}()
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	if err := s.checkDurable(ctx); err != nil {
		return nil, err
	}
	version, err := s.migrate(ctx)
	if err != nil {
		return nil, err
	}
	listener, err := s.listen(ctx)
	if err != nil {
		return nil, err
	}
	s.listened = make(chan struct{})
	go s.listenLoop(listener)
	s.notified = make(chan struct{})
	go s.notifyLoop()
	for range pgWriters {
		s.writers.Add(1)
		go s.writerLoop()
	}
	opts.Logger.Info("store opened", "driver", DriverPostgres, "host", cfg.ConnConfig.Host,
		"database", cfg.ConnConfig.Database, "schema_version", version, "node", s.node)
	return s, nil
}

// checkDurable refuses a session whose commits would return before the WAL
// is flushed: an id handed to a caller must survive a crash.
func (s *pgStore) checkDurable(ctx context.Context) error {
	var fsync, syncCommit string
	err := s.pool.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit')").
		Scan(&fsync, &syncCommit)
	if err != nil {
		return fmt.Errorf("store: postgres: %w", err)
	}
	if fsync != "on" || syncCommit == "off" {
		return fmt.Errorf("store: postgres: fsync=%s synchronous_commit=%s: commits would not be durable", fsync, syncCommit)
	}
	return nil
}

// migrate applies the embedded migrations newer than the database's version
// under a session advisory lock, so nodes starting together migrate once.
func (s *pgStore) migrate(ctx context.Context) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", lockNS, lockMigrate); err != nil {
		return 0, fmt.Errorf("store: migrate: lock: %w", err)
	}
	defer func() {
		// A failed unlock leaves the lock to the session's end: close it.
		if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1, $2)", lockNS, lockMigrate); err != nil {
			conn.Conn().Close(context.Background())
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at BIGINT  NOT NULL)`); err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	ms, err := migrations(postgresSchema, "schema/postgres")
	if err != nil {
		return 0, err
	}
	latest := 0
	for _, m := range ms {
		latest = max(latest, m.version)
		if m.version <= current {
			continue
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.body); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
				m.version, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("store: migrate %s: %w", m.name, err)
		}
		current = m.version
	}
	if current > latest {
		return 0, fmt.Errorf("store: migrate: database schema version %d is newer than this build's %d", current, latest)
	}
	return current, nil
}

// listen opens the dedicated connection that LISTENs for event appends.
func (s *pgStore) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg)
	if err != nil {
		return nil, fmt.Errorf("store: listen: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("store: listen: %w", err)
	}
	return conn, nil
}

// listenLoop wakes EventsChanged waiters on every notification, and
// reconnects when the connection breaks; it wakes them after reconnecting
// too, since notifications sent meanwhile are lost.
func (s *pgStore) listenLoop(conn *pgx.Conn) {
	defer close(s.listened)
	for {
		for {
			if _, err := conn.WaitForNotification(s.bg); err != nil {
				break
			}
			s.signalChanged()
		}
		conn.Close(context.Background())
		for {
			if s.bg.Err() != nil {
				return
			}
			ctx, cancel := context.WithTimeout(s.bg, 10*time.Second)
			var err error
			conn, err = s.listen(ctx)
			cancel()
			if err == nil {
				break
			}
			s.opts.Logger.Warn("store: event listener reconnecting", "err", err)
			select {
			case <-s.bg.Done():
				return
			case <-time.After(time.Second):
			}
		}
		s.signalChanged()
	}
}

// notifyLoop sends one NOTIFY for however many commits appended events
// since the last one went out. NOTIFY runs in a transaction of its own,
// after the events committed: a NOTIFY inside the writing transaction would
// take PostgreSQL's global notify lock until the end of its commit, WAL
// flush included, and so serialize the commits of every node (measured:
// ~190 accepts/s instead of thousands). A node that dies between its commit
// and the NOTIFY leaves the other nodes to find the events at their next
// poll.
func (s *pgStore) notifyLoop() {
	defer close(s.notified)
	for {
		select {
		case <-s.bg.Done():
			return
		case <-s.notify:
		}
		ctx, cancel := context.WithTimeout(s.bg, 10*time.Second)
		if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, '')", notifyChannel); err != nil && s.bg.Err() == nil {
			s.opts.Logger.Warn("store: notify other nodes of events", "err", err)
		}
		cancel()
	}
}

func (s *pgStore) signalChanged() {
	s.changedMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.changedMu.Unlock()
}

// EventsChanged implements gateway.EventNotifier. The channel is closed
// (so every receiver wakes) once a NOTIFY from any node arrives after the
// call; call again for the next change.
func (s *pgStore) EventsChanged() <-chan struct{} {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	return s.changed
}

// Close stops taking operations, lets the writers commit everything already
// queued, waits for the reads in flight, releases the bind slots this store
// holds and closes every connection. Later calls return the first call's
// result.
func (s *pgStore) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.ops)
		s.mu.Unlock()
		s.writers.Wait()
		s.stopBg()
		<-s.listened
		<-s.notified
		s.slotsMu.Lock()
		var errs []error
		for c := range s.slots {
			errs = append(errs, c.Close(context.Background()))
		}
		clear(s.slots)
		s.slotsMu.Unlock()
		s.pool.Close()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

// AcquireBindSlot implements gateway.BindSlots with session-level advisory
// locks, one dedicated connection per held slot: PostgreSQL releases the
// lock when the session ends, so the slots of a node that dies free up as
// soon as its connections drop (at once for a killed process, after TCP
// keepalive for a vanished host).
func (s *pgStore) AcquireBindSlot(ctx context.Context, carrier string, slots int) (int, func(), error) {
	if slots <= 0 {
		return 0, nil, fmt.Errorf("store: bind slot %s: %d slots", carrier, slots)
	}
	conn, err := pgx.ConnectConfig(ctx, s.connCfg)
	if err != nil {
		return 0, nil, fmt.Errorf("store: bind slot %s: %w", carrier, err)
	}
	s.slotsMu.Lock()
	if s.bg.Err() != nil {
		s.slotsMu.Unlock()
		conn.Close(context.Background())
		return 0, nil, ErrClosed
	}
	s.slots[conn] = struct{}{}
	s.slotsMu.Unlock()
	drop := func() {
		s.slotsMu.Lock()
		_, mine := s.slots[conn]
		delete(s.slots, conn)
		s.slotsMu.Unlock()
		if mine { // otherwise Close has closed it
			conn.Close(context.Background())
		}
	}
	for {
		for slot := range slots {
			var ok bool
			if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", slotKey(carrier, slot)).Scan(&ok); err != nil {
				drop()
				if s.bg.Err() != nil {
					return 0, nil, ErrClosed
				}
				return 0, nil, fmt.Errorf("store: bind slot %s: %w", carrier, err)
			}
			if ok {
				var once sync.Once
				// Closing the session is what releases the lock: no unlock
				// round trip that could fail half-way.
				return slot, func() { once.Do(drop) }, nil
			}
		}
		select {
		case <-ctx.Done():
			drop()
			return 0, nil, fmt.Errorf("store: bind slot %s: %w", carrier, ctx.Err())
		case <-s.bg.Done():
			drop()
			return 0, nil, ErrClosed
		case <-time.After(s.opts.BindSlotPoll):
		}
	}
}

// slotKey is the advisory lock of one of a carrier's bind slots.
func slotKey(carrier string, slot int) int64 {
	h := fnv.New32a()
	h.Write([]byte(carrier))
	return int64(h.Sum32())<<32 | int64(uint32(slot))
}

// receiptKey is the transaction lock that serializes recording a carrier id
// with receiving a receipt for it, on any node: otherwise a receipt could
// be kept as unmatched just as the id is recorded, each transaction missing
// the other's uncommitted row, and wait forever.
func receiptKey(carrier, carrierID string) int32 {
	h := fnv.New32a()
	h.Write([]byte(carrier))
	h.Write([]byte{0})
	h.Write([]byte(carrierID))
	return int32(h.Sum32())
}

// run executes f while holding the store open, mapping use after Close.
func (s *pgStore) run(f func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return f()
}

// ptx is one write transaction: a writer's batch, or one of writeAlone.
type ptx struct {
	ctx    context.Context
	tx     pgQuerier // the pgx.Tx of writeAlone, the connection of a batch
	conn   *pgx.Conn
	now    time.Time
	nowNs  int64
	events []eventRow // appended just before COMMIT

	// begin says the batch's BEGIN is still to be sent: it goes with the
	// transaction's first statements (sendBatch), saving a round trip.
	begin  bool
	dirty  bool                // the running operation changed at least one row
	locked map[string]pgLocked // the message rows the batch locked (phase 2)
	// deferred holds writes whose only answer is an error, sent with the
	// COMMIT; only while the batch runs as groups, since an error there
	// cannot name its operation.
	deferred *pgx.Batch
	// rstate is the state of the messages receipts apply to in this batch
	// (waiting receipts of RecordSubmits, then RecordReceipts), changed in
	// memory and written with the COMMIT; only while the batch runs as
	// groups.
	rstate *pgReceiptState
	// receiptsStale says the batch changed messages after the pipeline
	// read the receipts' state (operation by operation only).
	receiptsStale bool
}

// receiptState returns the batch's shared receipt state, made on first use.
func (w *ptx) receiptState() *pgReceiptState {
	if w.rstate == nil {
		w.rstate = &pgReceiptState{w: w}
		w.rstate.reset()
	}
	return w.rstate
}

// pgQuerier is what pgx.Tx and *pgx.Conn have in common that ptx uses.
type pgQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// writeAlone runs f in a transaction of its own on the pool, beside the
// writers, and commits it, appending f's events last: for the writes that
// may touch many rows (pruning) or that should not wait for or hold up a
// batch. A transaction that lost a deadlock or a serialization check is
// retried from the start: f must rebuild its results each time it runs.
func (s *pgStore) writeAlone(ctx context.Context, name string, f func(w *ptx) error) error {
	return s.run(func() error {
		for attempt := 1; ; attempt++ {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("store: %s: %w", name, err)
			}
			err := s.writeOnce(ctx, name, f)
			var pe *pgconn.PgError
			if attempt < 5 && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
				s.opts.Logger.Debug("store: retrying transaction", "op", name, "err", err)
				continue
			}
			return err
		}
	})
}

func (s *pgStore) writeOnce(ctx context.Context, name string, f func(w *ptx) error) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: %s: begin: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.Background())
		}
	}()
	now := s.opts.Now().UTC()
	w := &ptx{ctx: ctx, tx: tx, conn: tx.Conn(), now: now, nowNs: now.UnixNano()}
	if err := f(w); err != nil {
		return err
	}
	if err := w.flushEvents(); err != nil {
		return fmt.Errorf("store: %s: events: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: %s: commit: %w", name, err)
	}
	if len(w.events) > 0 {
		select {
		case s.notify <- struct{}{}:
		default: // one is pending already and will cover these events
		}
	}
	return nil
}

// flushEvents appends the transaction's events in order, under the shared
// event lock (see Events). The other nodes hear of them after the commit,
// from notifyLoop.
func (w *ptx) flushEvents() error {
	b := &pgx.Batch{}
	w.queueEvents(b)
	if b.Len() == 0 {
		return nil
	}
	return w.sendBatch(b).Close()
}

// queueEvents queues the statements of flushEvents to b.
func (w *ptx) queueEvents(b *pgx.Batch) {
	if len(w.events) == 0 {
		return
	}
	n := len(w.events)
	kinds, tenants, msgs, statuses, details, inbound := make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range w.events {
		kinds[i], tenants[i], msgs[i], statuses[i], details[i], inbound[i] =
			string(e.kind), e.tenant, e.msgID, string(e.status), e.detail, e.inboundID
	}
	b.Queue("SELECT pg_advisory_xact_lock_shared($1, $2)", lockNS, lockEvents)
	b.Queue(`INSERT INTO events (kind, tenant, message_id, status, detail, at, inbound_id)
		SELECT k, t, m, s, d, $7, NULLIF(i, '')
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
			WITH ORDINALITY AS u(k, t, m, s, d, i, n)
		ORDER BY n`, kinds, tenants, msgs, statuses, details, inbound, w.nowNs)
}

// sendBegin sends the batch's BEGIN on its own if no statement took it
// along yet.
func (w *ptx) sendBegin() error {
	if !w.begin {
		return nil
	}
	w.begin = false
	_, err := w.tx.Exec(w.ctx, "BEGIN")
	return err
}

// sendBatch sends b as one pipeline, led by the batch's BEGIN if it is
// still to be sent.
func (w *ptx) sendBatch(b *pgx.Batch) pgx.BatchResults {
	if !w.begin {
		return w.tx.SendBatch(w.ctx, b)
	}
	w.begin = false
	lead := &pgx.Batch{}
	lead.Queue("BEGIN")
	lead.QueuedQueries = append(lead.QueuedQueries, b.QueuedQueries...)
	br := w.tx.SendBatch(w.ctx, lead)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return failedBatch{br, err}
	}
	return br
}

// failedBatch is the BatchResults of a pipeline whose BEGIN failed.
type failedBatch struct {
	pgx.BatchResults
	err error
}

func (f failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f failedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f failedBatch) QueryRow() pgx.Row                { return failedRow{f.err} }
func (f failedBatch) Close() error                     { return f.err }

type failedRow struct{ err error }

func (f failedRow) Scan(...any) error { return f.err }

func (w *ptx) exec(query string, args ...any) (int64, error) {
	if err := w.sendBegin(); err != nil {
		return 0, err
	}
	tag, err := w.tx.Exec(w.ctx, query, args...)
	if err != nil {
		return 0, err
	}
	if tag.RowsAffected() > 0 {
		w.dirty = true
	}
	return tag.RowsAffected(), nil
}

func (w *ptx) query(query string, args ...any) (pgx.Rows, error) {
	if err := w.sendBegin(); err != nil {
		return nil, err
	}
	return w.tx.Query(w.ctx, query, args...)
}

func (w *ptx) queryRow(query string, args ...any) pgx.Row {
	if err := w.sendBegin(); err != nil {
		return failedRow{err}
	}
	return w.tx.QueryRow(w.ctx, query, args...)
}

// event, touchPart, setPart, partStates and finishMessage make ptx a
// receiptWriter.

func (w *ptx) event(tenant, msgID string, status gateway.Status, detail string) {
	w.events = append(w.events, eventRow{kind: gateway.EventStatus, tenant: tenant, msgID: msgID,
		status: status, detail: detail})
	w.dirty = true
}

func (w *ptx) touchPart(msgID string, idx int) error {
	_, err := w.exec(sqlTouchPart, w.nowNs, msgID, idx)
	return err
}

func (w *ptx) setPart(msgID string, idx int, status gateway.Status, partErr string) error {
	_, err := w.exec(sqlSetPart, string(status), partErr, w.nowNs, msgID, idx)
	return err
}

func (w *ptx) partStates(msgID string) ([]partState, error) {
	rows, err := w.query(sqlParts, msgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (partState, error) {
		var (
			p  partState
			st string
		)
		err := r.Scan(&p.idx, &st, &p.err)
		p.status = gateway.Status(st)
		return p, err
	})
}

func (w *ptx) finishMessage(msgID string, status gateway.Status, lastErr string) error {
	_, err := w.exec(sqlFinishMsg, string(status), lastErr, w.nowNs, msgID)
	return err
}

// Get reads a message and its parts in one statement, hence one snapshot,
// then the message's attempts in a second.
func (s *pgStore) Get(ctx context.Context, tenant, id string) (*gateway.Message, error) {
	var m *gateway.Message
	err := s.run(func() error {
		rows, err := s.pool.Query(ctx, `SELECT `+prefixed("m.", messageColumns)+`,
				p.idx, p.carrier, p.carrier_id, p.status, p.error, p.cost, p.updated_at
			FROM messages m JOIN parts p ON p.message_id = m.id WHERE m.id = $1 ORDER BY p.idx`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				p       gateway.Part
				status  string
				updated int64
			)
			cur, err := scanMessage(pgMultiScanner{rows, []any{&p.Index, &p.Carrier, &p.CarrierID, &status, &p.Error, &p.Cost, &updated}})
			if err != nil {
				return err
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
		arows, err := s.pool.Query(ctx, sqlAttempts, id)
		if err != nil {
			return err
		}
		m.Attempts, err = scanAttempts(arows)
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

// pgMultiScanner lets scanMessage read the message columns of a row that
// carries more columns after them.
type pgMultiScanner struct {
	rows  pgx.Rows
	extra []any
}

func (ms pgMultiScanner) Scan(dest ...any) error {
	return ms.rows.Scan(append(dest, ms.extra...)...)
}

// Events reads the log from fromSeq on. Writers draw sequence numbers while
// holding the event lock shared, until they commit; a reader first notes the
// last number drawn, then takes the lock exclusively, which waits out every
// transaction that drew a number up to it, and lets it go at once. Reading
// only up to that number, it never returns a seq while a smaller one may
// still commit.
func (s *pgStore) Events(ctx context.Context, tenant string, fromSeq int64, limit int) ([]gateway.Event, error) {
	return s.events(ctx, tenant, fromSeq, limit, false)
}

// EventsWithMessages implements gateway.EventLog.
func (s *pgStore) EventsWithMessages(ctx context.Context, tenant string, fromSeq int64, limit int) ([]gateway.Event, error) {
	return s.events(ctx, tenant, fromSeq, limit, true)
}

// events reads events, with their messages when withMessages.
func (s *pgStore) events(ctx context.Context, tenant string, fromSeq int64, limit int, withMessages bool) ([]gateway.Event, error) {
	query, scan := eventQuery, scanPgEvent
	if withMessages {
		query, scan = eventMessageQuery, scanPgEventMessage
	}
	if limit <= 0 {
		return nil, nil
	}
	var evs []gateway.Event
	err := s.run(func() error {
		evs = nil
		var (
			last   int64
			called bool
		)
		if err := s.pool.QueryRow(ctx, "SELECT last_value, is_called FROM events_seq_seq").Scan(&last, &called); err != nil {
			return err
		}
		if !called || last < fromSeq {
			return nil // nothing new was drawn: no need to wait for anyone
		}
		// The lock taken in a statement of its own (an implicit
		// transaction) is let go as soon as it is granted: that is when
		// every transaction that drew a number up to last has ended, and
		// the read after it, a statement with a later snapshot, sees them
		// all. Writers wait only for the grant, not for the read.
		if _, err := s.pool.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", lockNS, lockEvents); err != nil {
			return err
		}
		var (
			rows pgx.Rows
			err  error
		)
		if tenant == "" {
			rows, err = s.pool.Query(ctx, query+"WHERE e.seq >= $1 AND e.seq <= $2 ORDER BY e.seq LIMIT $3", fromSeq, last, limit)
		} else {
			rows, err = s.pool.Query(ctx, query+"WHERE e.tenant = $1 AND e.seq >= $2 AND e.seq <= $3 ORDER BY e.seq LIMIT $4",
				tenant, fromSeq, last, limit)
		}
		if err != nil {
			return err
		}
		evs, err = pgx.CollectRows(rows, scan)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return evs, nil
}

func scanPgEvent(r pgx.CollectableRow) (gateway.Event, error) { return scanPgEventCols(r, nil) }

func scanPgEventMessage(r pgx.CollectableRow) (gateway.Event, error) {
	return scanPgEventCols(r, &eventMessageCols{})
}

// scanPgEventCols scans an event, and its message into em when not nil.
func scanPgEventCols(r pgx.CollectableRow, em *eventMessageCols) (gateway.Event, error) {
	var (
		e                                        gateway.Event
		kind, status                             string
		at                                       int64
		inID, inTenant, inCarrier, inRef, inFrom *string
		inTo, inText, inKeyword                  *string
		inReceived                               *int64
	)
	dest := []any{&e.Seq, &kind, &e.Tenant, &e.MessageID, &status, &e.Detail, &at,
		&inID, &inTenant, &inCarrier, &inRef, &inFrom, &inTo, &inText, &inReceived, &inKeyword, &e.ClientRef}
	if em != nil {
		dest = append(dest, em.dest()...)
	}
	if err := r.Scan(dest...); err != nil {
		return e, err
	}
	if em != nil {
		var err error
		if e.Message, err = em.message(); err != nil {
			return e, fmt.Errorf("event %d: %w", e.Seq, err)
		}
	}
	e.Kind = gateway.EventKind(kind)
	e.Status = gateway.Status(status)
	e.Time = fromNanos(at)
	if err := readAuditEvent(&e); err != nil {
		return e, err
	}
	if inID != nil {
		e.Inbound = &gateway.Inbound{
			ID: *inID, Tenant: *inTenant, Carrier: *inCarrier, CarrierRef: *inRef,
			From: *inFrom, To: *inTo, Text: *inText, ReceivedAt: fromNanos(*inReceived), Keyword: *inKeyword,
		}
	}
	return e, nil
}

// GetInbound implements gateway.Store.
func (s *pgStore) GetInbound(ctx context.Context, tenant, id string) (*gateway.Inbound, error) {
	var in *gateway.Inbound
	err := s.run(func() error {
		var err error
		in, err = scanInbound(s.pool.QueryRow(ctx, sqlGetInbound, id), tenant, id, pgx.ErrNoRows)
		return err
	})
	return in, err
}
