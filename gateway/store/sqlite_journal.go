package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// The accept journal (see doc.go, "The accept journal"): Accept returns
// once its messages are in the journal, and the writer inserts them into
// SQLite afterwards, in its own batches.

// journalMaxPending bounds the messages journaled and not yet in SQLite:
// past it, accepts wait for the writer (memory stays bounded, and the
// journal cannot outrun the database for long). The writer inserts all
// that waits in one transaction, so this also bounds its size: with 50,000
// a flat-out accept of a 1,000,000 backlog peaked at 455 MiB RSS, with
// 4,096 at 247 MiB and as fast (bench/RESULTS.md, "The accept journal").
const journalMaxPending = 4096

// journalRetry is how long a journaled group whose insert failed waits
// before it is tried again.
const journalRetry = time.Second

// journaledAccept is one journal record: the messages of the Accept calls
// one round of the acceptor took, with the time they were accepted at.
// It holds what the messages and parts rows are made of, nothing more.
type journaledAccept struct {
	Now  int64 // UnixNano
	Msgs []journaledMessage
}

type journaledMessage struct {
	ID            string
	Tenant        string
	ClientRef     string
	From          string
	To            string
	Text          string
	Encoding      gateway.Encoding
	Priority      int32
	Category      gateway.Category
	Meta          map[string]string
	PinnedCarrier string
	NotBefore     int64
	ExpiresAt     int64
	Status        gateway.Status // a final status given at accept
	LastError     string
	Parts         int
}

func journalMessage(id string, m *gateway.Message) journaledMessage {
	return journaledMessage{ID: id, Tenant: m.Tenant, ClientRef: m.ClientRef, From: m.From, To: m.To,
		Text: m.Text, Encoding: m.Encoding, Priority: m.Priority, Category: m.Category, Meta: m.Meta,
		PinnedCarrier: m.PinnedCarrier, NotBefore: toNanos(m.NotBefore), ExpiresAt: toNanos(m.ExpiresAt),
		Status: m.Status, LastError: m.LastError, Parts: len(m.Parts)}
}

// message rebuilds what Accept was given, as far as the rows need it.
func (j journaledMessage) message() *gateway.Message {
	m := &gateway.Message{ID: j.ID, Tenant: j.Tenant, ClientRef: j.ClientRef, From: j.From, To: j.To,
		Text: j.Text, Encoding: j.Encoding, Priority: j.Priority, Category: j.Category, Meta: maps.Clone(j.Meta),
		PinnedCarrier: j.PinnedCarrier, NotBefore: fromNanos(j.NotBefore), ExpiresAt: fromNanos(j.ExpiresAt),
		Status: j.Status, LastError: j.LastError, Parts: make([]gateway.Part, j.Parts)}
	for i := range m.Parts {
		m.Parts[i].Index = i
	}
	return m
}

// acceptCall is one Accept waiting for the acceptor.
type acceptCall struct {
	ctx     context.Context
	msgs    []*gateway.Message
	ids     []string
	results []gateway.AcceptResult
	now     time.Time
	done    chan error
	err     error // its own failure: an id given that is taken
}

// acceptJournal is the SQLite store's accept path when the journal is on:
// one goroutine (run) takes the waiting Accept calls, decides duplicates,
// appends the new messages to the journal with one fsync, hands them to
// the writer and answers. Until the writer has inserted a group, its
// client refs are in refs, and reads that must see every accepted message
// wait for it (visible).
type acceptJournal struct {
	s     *sqliteStore
	j     *journal
	calls chan *acceptCall
	done  chan struct{} // closed when run has returned
	// closed (guarded by the store's mu, like calls' send side) refuses
	// new calls; closing tells failed inserts to stop retrying, and an
	// acceptor waiting for room to give up.
	closed   bool
	closing  chan struct{}
	refStmts map[int]*sql.Stmt // refsStmt's, by number of refs (a power of two)
	buf      []byte            // the record being written (only run uses it)

	// flushBelow is the group under which the writer holds back no
	// insert: a read that must see every accepted message raises it.
	flushBelow atomic.Uint64

	mu      sync.Mutex
	refs    map[refKey]string // client refs journaled, not yet in SQLite
	given   map[string]bool   // ids given by callers, journaled, not yet in SQLite
	pending int               // messages journaled, not yet in SQLite
	groups  map[uint64]bool   // groups journaled, not yet all in SQLite
	oldest  uint64            // the lowest group in groups (next when empty)
	// unheld are the groups whose messages not held back by the writer
	// are not all in SQLite yet; oldestUnheld is the lowest (next when
	// empty). Reads of events wait only for these (see heldInserts).
	unheld       map[uint64]bool
	oldestUnheld uint64
	next         uint64         // the next group's number
	changed      chan struct{}  // closed and replaced when a group's inserts progress
	inserted     sync.WaitGroup // groups handed to the writer and not yet inserted
}

func newAcceptJournal(s *sqliteStore, j *journal) *acceptJournal {
	return &acceptJournal{s: s, j: j, calls: make(chan *acceptCall, s.opts.MaxBatch),
		done: make(chan struct{}), closing: make(chan struct{}), refStmts: make(map[int]*sql.Stmt), refs: make(map[refKey]string), given: make(map[string]bool), groups: make(map[uint64]bool),
		unheld: make(map[uint64]bool), next: 1, oldest: 1, oldestUnheld: 1, changed: make(chan struct{})}
}

// accept is Store.Accept through the journal.
func (a *acceptJournal) accept(ctx context.Context, msgs []*gateway.Message, ids []string) ([]gateway.AcceptResult, time.Time, error) {
	c := &acceptCall{ctx: ctx, msgs: msgs, ids: ids, results: make([]gateway.AcceptResult, len(msgs)), done: make(chan error, 1)}
	a.s.mu.RLock()
	if a.closed {
		a.s.mu.RUnlock()
		return nil, time.Time{}, ErrClosed
	}
	select {
	case a.calls <- c:
	case <-ctx.Done():
		a.s.mu.RUnlock()
		return nil, time.Time{}, fmt.Errorf("store: accept: %w", ctx.Err())
	}
	a.s.mu.RUnlock()
	if err := <-c.done; err != nil {
		return nil, time.Time{}, err
	}
	return c.results, c.now, nil
}

// run is the acceptor goroutine: it group-commits the waiting calls to the
// journal until calls is closed and drained.
func (a *acceptJournal) run() {
	defer close(a.done)
	batch := make([]*acceptCall, 0, a.s.opts.MaxBatch)
	for c := range a.calls {
		batch = append(batch[:0], c)
		batch = fillBatch(batch, a.calls, a.s.opts.MaxBatch)
		a.commit(batch)
		clear(batch)
	}
}

// commit journals one round of calls and answers them.
func (a *acceptJournal) commit(batch []*acceptCall) {
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.done <- fmt.Errorf("store: accept: %w", err)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	err := a.waitRoom()
	if err == nil {
		err = a.journal(live)
	}
	if err != nil && !errors.Is(err, ErrClosed) {
		// A success is not recorded: the writer's commits say when the
		// store writes again.
		err = unavailable(err)
		a.s.writeHealth.record(err, a.s.opts.Now())
	}
	for _, c := range live {
		if c.err != nil {
			c.done <- c.err
			continue
		}
		c.done <- err
	}
}

// waitRoom holds the acceptor while journalMaxPending messages wait for
// the writer. Once the store is closing it returns ErrClosed instead: a
// writer that keeps failing (a full disk) never makes room, and Close
// waits for the acceptor.
func (a *acceptJournal) waitRoom() error {
	for {
		a.mu.Lock()
		full, changed := a.pending >= journalMaxPending, a.changed
		a.mu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-changed:
		case <-a.closing:
			return ErrClosed
		}
	}
}

// journal decides the calls' duplicates, appends their new messages as one
// record and hands them to the writer.
func (a *acceptJournal) journal(calls []*acceptCall) error {
	stored, err := a.storedRefs(calls)
	if err != nil {
		return fmt.Errorf("store: accept: client refs: %w", err)
	}
	taken, err := a.takenIDs(calls)
	if err != nil {
		return fmt.Errorf("store: accept: message ids: %w", err)
	}
	now := a.s.opts.Now().UTC()
	rec := journaledAccept{Now: now.UnixNano()}
	var (
		inGroup map[refKey]string
		given   map[string]bool // ids given by the callers of the group
		msgs    []*gateway.Message
		ids     []string
		held    []*acceptArgs // one message each, handed over at accept
	)
	for _, c := range calls {
		c.now = now
		// Where the call's messages start, to take them out again if an
		// id it gives is taken (the whole call fails, as it does on the
		// writer's path without the journal).
		nRec, nMsgs, nHeld, end := len(rec.Msgs), len(msgs), len(held), len(c.msgs)
		for i, m := range c.msgs {
			id := c.ids[i]
			if m.ClientRef != "" {
				k := refKey{m.Tenant, m.ClientRef}
				if prev, ok := inGroup[k]; ok {
					c.results[i] = gateway.AcceptResult{ID: prev, Duplicate: true}
					continue
				}
				if prev, ok := stored[k]; ok {
					c.results[i] = gateway.AcceptResult{ID: prev, Duplicate: true}
					continue
				}
				if inGroup == nil {
					inGroup = make(map[refKey]string)
				}
				inGroup[k] = id
			}
			if m.ID != "" {
				if taken[id] || given[id] {
					c.err = fmt.Errorf("store: accept: message id %s exists already", id)
					end = i
					break
				}
				if given == nil {
					given = make(map[string]bool)
				}
				given[id] = true
			}
			c.results[i] = gateway.AcceptResult{ID: id}
			jm := journalMessage(id, m)
			rec.Msgs = append(rec.Msgs, jm)
			// The writer inserts a copy: the caller owns m once answered.
			// The lease is not journaled: a replay follows a restart, and
			// whoever held it is gone.
			cp := jm.message()
			cp.LeaseUntil = m.LeaseUntil
			if st, _ := acceptStatus(cp); st == gateway.StatusAccepted && !cp.LeaseUntil.IsZero() {
				held = append(held, &acceptArgs{msgs: []*gateway.Message{cp}, ids: []string{id},
					results: make([]gateway.AcceptResult, 1), now: now, journaled: true})
				continue
			}
			msgs, ids = append(msgs, cp), append(ids, id)
		}
		if c.err != nil {
			rec.Msgs, msgs, ids, held = rec.Msgs[:nRec], msgs[:nMsgs], ids[:nMsgs], held[:nHeld]
			for i, m := range c.msgs[:end] {
				if m.ClientRef != "" && inGroup[refKey{m.Tenant, m.ClientRef}] == c.ids[i] {
					delete(inGroup, refKey{m.Tenant, m.ClientRef})
				}
				if m.ID != "" {
					delete(given, c.ids[i])
				}
			}
		}
	}
	if len(msgs) == 0 && len(held) == 0 {
		return nil
	}
	a.buf = appendAcceptRecord(a.buf[:0], rec.Now, rec.Msgs)
	seg, err := a.j.Append([][]byte{a.buf})
	if err != nil {
		return fmt.Errorf("store: accept: %w", err)
	}
	var plain *acceptArgs
	if len(msgs) > 0 {
		plain = &acceptArgs{msgs: msgs, ids: ids, results: make([]gateway.AcceptResult, len(msgs)),
			now: now, journaled: true}
	}
	a.mu.Lock()
	group := a.next
	a.next++
	a.groups[group] = true
	if plain != nil {
		a.unheld[group] = true
	}
	a.pending += len(msgs) + len(held)
	maps.Copy(a.refs, inGroup)
	maps.Copy(a.given, given)
	a.advance() // a group of held messages only has nothing unheld to wait for
	a.mu.Unlock()
	a.inserted.Add(1)
	a.insert(plain, held, group, seg, inGroup, given)
	return nil
}

// takenIDs returns, of the ids the calls' callers gave (rare: the engine
// leaves them to the store), those already journaled or stored. As with
// refs, a group leaves given only after its commit.
func (a *acceptJournal) takenIDs(calls []*acceptCall) (map[string]bool, error) {
	var (
		taken map[string]bool
		ask   []string
	)
	a.mu.Lock()
	for _, c := range calls {
		for i, m := range c.msgs {
			if m.ID == "" {
				continue
			}
			if a.given[c.ids[i]] {
				if taken == nil {
					taken = make(map[string]bool)
				}
				taken[c.ids[i]] = true
				continue
			}
			ask = append(ask, c.ids[i])
		}
	}
	a.mu.Unlock()
	if len(ask) == 0 {
		return taken, nil
	}
	list, err := json.Marshal(ask)
	if err != nil {
		return nil, err
	}
	err = a.s.read(func() error {
		rows, err := a.s.rdb.QueryContext(context.Background(), sqlTakenIDs, string(list))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if taken == nil {
				taken = make(map[string]bool)
			}
			taken[id] = true
		}
		return rows.Err()
	})
	return taken, err
}

// sqlTakenIDs finds which of a JSON array of message ids are stored.
const sqlTakenIDs = "SELECT id FROM messages WHERE id IN (SELECT value FROM json_each($1))"

// refsStmt is clientRefsQuery over n refs, prepared once per n on the
// reader pool (only the acceptor goroutine calls it; the writer has its
// own, rowsSQL). Parsing it per call was most of a duplicate check's cost:
// at 1,000 Sends a second, one group a Send, a tenth of the gateway's CPU.
func (a *acceptJournal) refsStmt(n int) (*sql.Stmt, error) {
	if st, ok := a.refStmts[n]; ok {
		return st, nil
	}
	st, err := a.s.rdb.PrepareContext(context.Background(), clientRefsQuery.sql(n))
	if err != nil {
		return nil, err
	}
	a.refStmts[n] = st
	return st, nil
}

// storedRefs returns the ids already stored or journaled under the client
// refs of calls. The journaled ones are looked at first: a group leaves
// refs only after its commit, so what is not there is in the database.
func (a *acceptJournal) storedRefs(calls []*acceptCall) (map[refKey]string, error) {
	var (
		found map[refKey]string
		ask   []any
	)
	a.mu.Lock()
	for _, c := range calls {
		for _, m := range c.msgs {
			if m.ClientRef == "" {
				continue
			}
			k := refKey{m.Tenant, m.ClientRef}
			if id, ok := a.refs[k]; ok {
				if found == nil {
					found = make(map[refKey]string)
				}
				found[k] = id
				continue
			}
			ask = append(ask, m.Tenant, m.ClientRef)
		}
	}
	a.mu.Unlock()
	if len(ask) == 0 {
		return found, nil
	}
	err := a.s.read(func() error {
		for len(ask) > 0 {
			n := min(len(ask), 2*setRowsMax)
			// A power of two of refs, the last repeated to fill it, so a
			// few statements serve every size.
			args := ask[:n]
			if pad := 2*pow2(n/2) - n; pad > 0 {
				args = slices.Grow(slices.Clip(args), pad)
				for range pad / 2 {
					args = append(args, ask[n-2], ask[n-1])
				}
			}
			st, err := a.refsStmt(len(args) / 2)
			if err != nil {
				return err
			}
			rows, err := st.QueryContext(context.Background(), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var (
					k  refKey
					id string
				)
				if err := rows.Scan(&k.tenant, &k.ref, &id); err != nil {
					rows.Close()
					return err
				}
				if found == nil {
					found = make(map[refKey]string)
				}
				found[k] = id
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			ask = ask[n:]
		}
		return nil
	})
	return found, err
}

// insert hands a journaled group to the writer: plain, the messages it
// inserts at once (nil if none), and held, each message it may hold back
// for its submit (see heldInserts). While the writer fails an insert, it
// is handed again after journalRetry: the group is durable in the
// journal, so a failed insert is retried, never dropped.
func (a *acceptJournal) insert(plain *acceptArgs, held []*acceptArgs, group, seg uint64, refs map[refKey]string, given map[string]bool) {
	ops := make([]*op, 0, 1+len(held))
	if plain != nil {
		ops = append(ops, insertOp(plain))
	}
	until := time.Now().Add(a.s.holdFor)
	for _, args := range held {
		o := insertOp(args)
		o.holdID, o.holdUntil, o.group = args.ids[0], until, group
		ops = append(ops, o)
	}
	for _, o := range ops {
		if err := a.s.enqueue(o); err != nil {
			// The store is closing; the journal keeps the group for the
			// next open (the writer inserts what was queued).
			a.inserted.Done()
			return
		}
	}
	go func() {
		for i, o := range ops {
			err := <-o.done
			for err != nil {
				a.s.opts.Logger.Error("store: accepted messages not yet in the database; retrying (they are safe in the journal)",
					"messages", len(o.accept.ids), "err", err)
				select {
				case <-a.closing:
					// Left in the journal: the next open inserts them.
					a.inserted.Done()
					return
				case <-time.After(journalRetry):
				}
				o = insertOp(o.accept)
				if a.s.enqueue(o) != nil {
					a.inserted.Done()
					return
				}
				err = <-o.done
			}
			// Its messages are in SQLite: they no longer count toward
			// the acceptor's room (waitRoom), though another message of
			// the group is still held back.
			a.mu.Lock()
			a.pending -= len(o.accept.ids)
			if i == 0 && plain != nil {
				delete(a.unheld, group)
			}
			a.advance()
			a.mu.Unlock()
		}
		a.mu.Lock()
		delete(a.groups, group)
		for k := range refs {
			delete(a.refs, k)
		}
		for id := range given {
			delete(a.given, id)
		}
		a.advance()
		a.mu.Unlock()
		if err := a.j.Done(seg, 1); err != nil {
			a.s.opts.Logger.Error("store: journal", "err", err)
		}
		a.inserted.Done()
	}()
}

// insertOp is the writer's insert of a journaled group's args.
func insertOp(args *acceptArgs) *op {
	return &op{ctx: context.Background(), name: "insert accepted", accept: args, beside: true,
		run: func(w *wtx) error { return w.acceptJournaled(args) }}
}

// advance moves oldest and oldestUnheld past the groups inserted and
// tells the readers waiting. a.mu is held.
func (a *acceptJournal) advance() {
	for a.oldest < a.next && !a.groups[a.oldest] {
		a.oldest++ // groups are numbered in turn: amortized O(1)
	}
	for a.oldestUnheld < a.next && !a.unheld[a.oldestUnheld] {
		a.oldestUnheld++
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

// visible returns once every message accepted before the call is in the
// database, so that reads see what Accept acknowledged; with held false,
// but those the writer holds back (reads of events, see heldInserts).
// With held, it first has the writer run what it holds back. Once the
// store is closing it returns ErrClosed rather than wait: a group the
// writer kept failing then stays in the journal for the next open.
func (a *acceptJournal) visible(ctx context.Context, held bool) error {
	a.mu.Lock()
	upTo := a.next
	a.mu.Unlock()
	if held {
		a.flush(upTo)
	}
	for {
		a.mu.Lock()
		oldest := a.oldestUnheld
		if held {
			oldest = a.oldest
		}
		waiting := oldest < upTo
		changed := a.changed
		a.mu.Unlock()
		if !waiting {
			return nil
		}
		select {
		case <-changed:
		case <-a.closing:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// flush has the writer run every insert it holds back of the groups
// under below.
func (a *acceptJournal) flush(below uint64) {
	for {
		cur := a.flushBelow.Load()
		if cur >= below {
			return
		}
		if a.flushBelow.CompareAndSwap(cur, below) {
			break
		}
	}
	select {
	case a.s.flushHeld <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// replay inserts what the journal in dir holds and the database does not
// (the writer had not inserted it when the process stopped), before the
// store takes calls, and returns the number of the next segment.
func (s *sqliteStore) replayJournal(ctx context.Context, dir string) (uint64, error) {
	replayed := 0
	next, err := replayJournal(dir, func(payload []byte) error {
		var (
			rec journaledAccept
			err error
		)
		if rec.Now, rec.Msgs, err = decodeAcceptRecord(payload); err != nil {
			return err
		}
		args := &acceptArgs{now: time.Unix(0, rec.Now).UTC(), journaled: true}
		for _, jm := range rec.Msgs {
			args.msgs = append(args.msgs, jm.message())
			args.ids = append(args.ids, jm.ID)
		}
		n := 0
		err = s.do(ctx, "replay journal", func(w *wtx) error {
			var err error
			n, err = w.acceptMissing(args)
			return err
		})
		replayed += n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if replayed > 0 {
		s.opts.Logger.Info("store: accepted messages restored from the journal", "messages", replayed)
	}
	return next, nil
}

// acceptJournaled inserts a journaled group on its own (acceptGroup does it
// for many): the journal decided duplicates already, so a conflict here is
// an error.
func (w *wtx) acceptJournaled(a *acceptArgs) error {
	nowNs := a.now.UnixNano()
	for i, m := range a.msgs {
		if err := w.insertAccepted(a.ids[i], m, nowNs); err != nil {
			return err
		}
	}
	return nil
}

// acceptMissing inserts the messages of a journaled group that the
// database does not have, and returns how many it inserted.
func (w *wtx) acceptMissing(a *acceptArgs) (int, error) {
	nowNs := a.now.UnixNano()
	n := 0
	for i, m := range a.msgs {
		var one int
		err := w.queryRow("SELECT 1 FROM messages WHERE id = $1", a.ids[i]).Scan(&one)
		if err == nil {
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return n, err
		}
		if err := w.insertAccepted(a.ids[i], m, nowNs); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// stop refuses new Accept calls, answers those queued and waits until the
// writer has inserted every group it was handed (a group it keeps failing
// stays in the journal for the next open). The writer must still run.
func (a *acceptJournal) stop() {
	a.s.mu.Lock()
	a.closed = true
	close(a.calls)
	a.s.mu.Unlock()
	// Held inserts run from now on: the acceptor may wait for room
	// behind them (waitRoom).
	a.flush(math.MaxUint64)
	// Before waiting for the acceptor: one waiting for room behind a
	// failing writer gives up, and failed inserts are not retried.
	close(a.closing)
	<-a.done
	for _, st := range a.refStmts {
		st.Close() // the acceptor is done with them
	}
	a.inserted.Wait()
}

// startJournal restores what the journal in dir holds and the database
// does not, then starts the acceptor. The writer must run.
func (s *sqliteStore) startJournal(ctx context.Context, dir string) error {
	next, err := s.replayJournal(ctx, dir)
	if err != nil {
		return err
	}
	j, err := openJournal(dir, next)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.aj = newAcceptJournal(s, j)
	go s.aj.run()
	return nil
}

// visible returns once reads see every message Accept acknowledged before
// the call (with held false, but those the writer holds back: reads of
// events, see heldInserts): at once without the journal.
func (s *sqliteStore) visible(ctx context.Context, held bool) error {
	if s.aj == nil {
		return nil
	}
	if err := s.aj.visible(ctx, held); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
