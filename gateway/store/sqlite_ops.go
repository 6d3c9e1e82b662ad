package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// The write operations of the SQLite store. Each validates its input and
// does what it can outside the writer (ids), then queues a closure for the
// writer goroutine and waits for its answer; since the caller always waits,
// the writer reads the caller's values without copying them. See
// sqliteStore.runBatch for how a batch runs.

// Accept stores msgs. Ids are UUIDv7, made here (outside the writer) for
// messages that come without one. On success each non-duplicate message gets
// its ID, Status, CreatedAt and UpdatedAt (and its parts' Status and
// UpdatedAt) set to what was stored; a duplicate gets the stored message's ID
// and is otherwise left as given.
func (s *sqliteStore) Accept(ctx context.Context, msgs []*gateway.Message) ([]gateway.AcceptResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	ids, err := acceptIDs(msgs)
	if err != nil {
		return nil, err
	}
	if s.aj != nil {
		results, now, err := s.aj.accept(ctx, msgs, ids)
		if err != nil {
			return nil, err
		}
		acceptDone(msgs, results, now)
		return results, nil
	}
	a := &acceptArgs{msgs: msgs, ids: ids, results: make([]gateway.AcceptResult, len(msgs))}
	err = s.submit(&op{ctx: ctx, name: "accept", accept: a, run: func(w *wtx) error {
		a.now = w.now
		for i, m := range msgs {
			r, err := w.accept(ids[i], m)
			if err != nil {
				return err
			}
			a.results[i] = r
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	acceptDone(msgs, a.results, a.now)
	return a.results, nil
}

// acceptArgs is an Accept call as the writer sees it: inputs, results, and
// the batch time it ran at.
type acceptArgs struct {
	msgs    []*gateway.Message
	ids     []string
	results []gateway.AcceptResult
	now     time.Time
	// journaled: the accept journal holds these messages and decided
	// their duplicates; now is when it accepted them.
	journaled bool
}

// The multi-row forms of the Accept inserts (see wtx.insertRows).
const (
	intoMessages = ` INTO messages (id, tenant, client_ref, sender, recipient, body, encoding, priority,
		not_before, expires_at, status, attempts, carrier, cost, currency, last_error,
		created_at, updated_at, part_count, next_attempt, due_at, lease_until, pinned_carrier, category, meta) VALUES`
	insertMessagesHead = `INSERT` + intoMessages
	// The Accept group's form: a conflict rolls the whole transaction back,
	// which the group's failure does anyway (the batch is replayed one
	// operation at a time), so SQLite keeps no statement journal for it:
	// with random client refs, most rows dirty an index page of their own,
	// and journaling each cost a page copy.
	insertMessagesGroupHead = `INSERT OR ROLLBACK` + intoMessages
	insertPartsHead         = `INSERT INTO parts (message_id, idx, carrier, carrier_id, status, error, submitted_at, updated_at, cost) VALUES`
)

var (
	messageRow = []string{"?", "?", "?", "?", "?", "?", "?", "?", "?", "?",
		"?", "0", "?", "?", "?", "?", "?", "?", "?", "0", "?", "?", "?", "?", "?"}
	partRow = []string{"?", "?", "?", "?", "?", "''", "?", "?", "?"}
)

// messageArgs appends the messageRow arguments of one new message.
func messageArgs(args []any, id string, m *gateway.Message, nowNs int64) []any {
	return foldedMessageArgs(args, id, m, nowNs, nil, 0)
}

// foldedMessageArgs is messageArgs with f, the message's submit records
// of the same batch (see heldInserts), written in; batchNs is the batch's
// time, the update time recordSubmits would give.
func foldedMessageArgs(args []any, id string, m *gateway.Message, nowNs int64, f *foldedMessage, batchNs int64) []any {
	notBefore := toNanos(m.NotBefore)
	st, lastErr := acceptStatus(m)
	var (
		carrier, currency string
		cost              float64
		updated, lease    = nowNs, acceptLease(m)
	)
	if f != nil {
		carrier, currency, cost, updated = f.total.carrier, f.total.currency, f.total.cost, batchNs
		if f.total.done {
			st, lease = gateway.StatusSubmitted, 0
		}
	}
	return append(args, id, m.Tenant, m.ClientRef, m.From, m.To, m.Text, string(m.Encoding), m.Priority,
		notBefore, toNanos(m.ExpiresAt), string(st), carrier, cost, currency, lastErr, nowNs, updated, len(m.Parts),
		max(notBefore, nowNs), lease, m.PinnedCarrier, string(m.Category), encodeMeta(m.Meta))
}

// partArgs appends the partRow arguments of a new message's parts, with
// the submit records f holds (nil: none).
func partArgs(args []any, id string, m *gateway.Message, nowNs int64, f *foldedMessage) []any {
	st, _ := acceptStatus(m)
	for _, p := range m.Parts {
		if f != nil && f.parts[p.Index].recorded {
			r := f.parts[p.Index]
			args = append(args, id, p.Index, r.carrier, r.carrierID, string(gateway.StatusSubmitted), r.at, r.at, r.cost)
			continue
		}
		args = append(args, id, p.Index, "", "", string(st), 0, nowNs, 0.0)
	}
	return args
}

// accept stores one message on its own; acceptGroup is the fast path for
// several. ON CONFLICT DO NOTHING turns an existing (tenant, client_ref)
// into a lookup instead of an error.
func (w *wtx) accept(id string, m *gateway.Message) (gateway.AcceptResult, error) {
	n, err := w.exec(w.s.rowsSQL(rowsQuery{head: insertMessagesHead, row: messageRow, tail: " ON CONFLICT DO NOTHING"}, 1),
		messageArgs(nil, id, m, w.nowNs)...)
	if err != nil {
		return gateway.AcceptResult{}, fmt.Errorf("store: accept %s: %w", id, err)
	}
	if n == 0 {
		if m.ClientRef != "" {
			stored, err := w.clientRef(m.Tenant, m.ClientRef)
			if err == nil {
				return gateway.AcceptResult{ID: stored, Duplicate: true}, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return gateway.AcceptResult{}, fmt.Errorf("store: accept %s: %w", id, err)
			}
		}
		return gateway.AcceptResult{}, fmt.Errorf("store: accept: message id %s exists already", id)
	}
	if err := w.insertRows(insertPartsHead, partRow, partArgs(nil, id, m, w.nowNs, nil)); err != nil {
		return gateway.AcceptResult{}, fmt.Errorf("store: accept %s parts: %w", id, err)
	}
	w.acceptedEvent(id, m, w.nowNs)
	return gateway.AcceptResult{ID: id}, nil
}

// insertAccepted stores a journaled message, accepted at nowNs, with its
// ACCEPTED (or given final) event. The journal decided duplicates, so a
// conflict is an error.
func (w *wtx) insertAccepted(id string, m *gateway.Message, nowNs int64) error {
	if err := w.insertRows(insertMessagesHead, messageRow, messageArgs(nil, id, m, nowNs)); err != nil {
		return fmt.Errorf("store: insert accepted %s: %w", id, err)
	}
	if err := w.insertRows(insertPartsHead, partRow, partArgs(nil, id, m, nowNs, nil)); err != nil {
		return fmt.Errorf("store: insert accepted %s parts: %w", id, err)
	}
	w.acceptedEvent(id, m, nowNs)
	return nil
}

// acceptedEvent queues a new message's ACCEPTED (or given final) event,
// dated when it was accepted (nowNs), with the message for the event tail.
func (w *wtx) acceptedEvent(id string, m *gateway.Message, nowNs int64) {
	st, lastErr := acceptStatus(m)
	w.events = append(w.events, eventRow{kind: gateway.EventStatus, tenant: m.Tenant, msgID: id,
		status: st, detail: lastErr, at: nowNs, accepted: m})
	w.dirty = true
}

// clientRef returns the id stored for (tenant, ref), or sql.ErrNoRows.
func (w *wtx) clientRef(tenant, ref string) (string, error) {
	var id string
	// client_ref <> '' lets SQLite use the partial index messages_client_ref.
	err := w.queryRow("SELECT id FROM messages WHERE tenant = $1 AND client_ref = $2 AND client_ref <> ''",
		tenant, ref).Scan(&id)
	return id, err
}

// acceptGroup runs several Accept calls with one multi-row INSERT per table
// (per 64 rows). Duplicates are resolved first, against the database (one
// query for every client ref of the group) and within the group, so the
// INSERTs only fail on a real conflict (a preset id that exists); the
// caller then replays the batch call by call.
func (w *wtx) acceptGroup(ops []*op, folded map[string]*foldedMessage) error {
	stored, err := w.clientRefs(ops)
	if err != nil {
		return err
	}
	var (
		inGroup map[refKey]string
		mrows   []any
		prows   []any
	)
	for _, o := range ops {
		a := o.accept
		if !a.journaled {
			a.now = w.now
		}
		nowNs := a.now.UnixNano()
		for i, m := range a.msgs {
			id := a.ids[i]
			if m.ClientRef != "" && !a.journaled {
				k := refKey{m.Tenant, m.ClientRef}
				if prev, ok := inGroup[k]; ok {
					a.results[i] = gateway.AcceptResult{ID: prev, Duplicate: true}
					continue
				}
				if prev, ok := stored[k]; ok {
					a.results[i] = gateway.AcceptResult{ID: prev, Duplicate: true}
					continue
				}
				if inGroup == nil {
					inGroup = make(map[refKey]string)
				}
				inGroup[k] = id
			}
			a.results[i] = gateway.AcceptResult{ID: id}
			f := folded[id]
			mrows = foldedMessageArgs(mrows, id, m, nowNs, f, w.nowNs)
			prows = partArgs(prows, id, m, nowNs, f)
			w.acceptedEvent(id, m, nowNs)
		}
	}
	if err := w.insertRows(insertMessagesGroupHead, messageRow, mrows); err != nil {
		return err
	}
	return w.insertRows(insertPartsHead, partRow, prows)
}

// refKey is an idempotency key: (tenant, client ref).
type refKey struct{ tenant, ref string }

// clientRefsQuery finds the messages stored under any of the (tenant,
// client ref) pairs. Its condition that client_ref is not empty lets SQLite
// use the partial index messages_client_ref.
var clientRefsQuery = rowsQuery{
	head: `SELECT j.column1, j.column2, m.id FROM (VALUES`,
	row:  []string{"?", "?"},
	tail: `) AS j JOIN messages m ON m.tenant = j.column1 AND m.client_ref = j.column2 AND m.client_ref <> ''`,
}

// clientRefs returns the ids stored under the client refs of ops'
// messages, by (tenant, ref): one query for the group.
func (w *wtx) clientRefs(ops []*op) (map[refKey]string, error) {
	var (
		keys []any
		seen map[refKey]bool
	)
	for _, o := range ops {
		if o.accept.journaled {
			continue // the journal decided these
		}
		for _, m := range o.accept.msgs {
			if m.ClientRef == "" {
				continue
			}
			k := refKey{m.Tenant, m.ClientRef}
			if seen[k] {
				continue
			}
			if seen == nil {
				seen = make(map[refKey]bool)
			}
			seen[k] = true
			keys = append(keys, m.Tenant, m.ClientRef)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	var stored map[refKey]string
	err := w.queryRows(clientRefsQuery, nil, keys, func(rows *sql.Rows) error {
		var (
			k  refKey
			id string
		)
		if err := rows.Scan(&k.tenant, &k.ref, &id); err != nil {
			return err
		}
		if stored == nil {
			stored = make(map[refKey]string)
		}
		stored[k] = id
		return nil
	})
	return stored, err
}

// ClaimLease is Options.LeaseDuration.
func (s *sqliteStore) ClaimLease() time.Duration { return s.opts.LeaseDuration }

// Claim leases due messages in priority order. It is a write (the lease), so
// it runs on the writer like the others and two claims never overlap.
func (s *sqliteStore) Claim(ctx context.Context, now time.Time, limit int) ([]*gateway.Message, error) {
	return s.claim(ctx, now, "", limit)
}

// ClaimFor implements gateway.MessageStore.
func (s *sqliteStore) ClaimFor(ctx context.Context, now time.Time, tenant string, limit int) ([]*gateway.Message, error) {
	if tenant == "" {
		return nil, fmt.Errorf("store: claim: empty tenant")
	}
	return s.claim(ctx, now, tenant, limit)
}

// literalLimit is a claim's limit for its SQL: rounded up to a power of
// two and written as a literal, and the claim reads only limit rows. A
// bound LIMIT would be cheaper to write but SQLite plans with its value,
// so each call with another limit than the last prepared the statement
// again (a third of a task claim's CPU); rounding keeps the statements
// prepared per query to a handful.
func literalLimit(limit int) string { return strconv.Itoa(pow2(limit)) }

// pow2 is the smallest power of two not below n (1 for n ≤ 1).
func pow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// claim leases due messages: every tenant's when tenant is "", else that
// tenant's (through messages_tenant_due).
func (s *sqliteStore) claim(ctx context.Context, now time.Time, tenant string, limit int) ([]*gateway.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	nowNs := toNanos(now)
	until := nowNs + int64(s.opts.LeaseDuration)
	var out []*gateway.Message
	err := s.submit(&op{ctx: ctx, name: "claim", beside: true, claimAt: now, run: func(w *wtx) error {
		out = out[:0]
		// The literal status lets SQLite use the partial index messages_due.
		var (
			rows *sql.Rows
			err  error
		)
		if tenant == "" {
			rows, err = w.query(`SELECT `+messageColumns+` FROM messages
			WHERE status = 'ACCEPTED' AND not_before <= $1 AND next_attempt <= $1 AND lease_until < $1
			ORDER BY priority DESC, due_at, id LIMIT `+literalLimit(limit), nowNs)
		} else {
			rows, err = w.query(`SELECT `+messageColumns+` FROM messages INDEXED BY messages_tenant_due
			WHERE tenant = $2 AND status = 'ACCEPTED' AND not_before <= $1 AND next_attempt <= $1 AND lease_until < $1
			ORDER BY priority DESC, due_at, id LIMIT `+literalLimit(limit), nowNs, tenant)
		}
		if err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		for len(out) < limit && rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("store: claim: %w", err)
			}
			out = append(out, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		if len(out) == 0 {
			return nil
		}
		// Two statements for the whole claim, whatever its size: the lease
		// and the parts, each over the claimed ids as one JSON array.
		byID := make(map[string]*gateway.Message, len(out))
		ids := make([]string, len(out))
		for i, m := range out {
			m.LeaseUntil = time.Unix(0, until)
			byID[m.ID] = m
			ids[i] = m.ID
		}
		list, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		if _, err := w.exec(sqlLeaseIDs, until, string(list)); err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		prows, err := w.query(sqlClaimParts, string(list))
		if err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		defer prows.Close()
		for prows.Next() {
			var (
				id      string
				p       gateway.Part
				status  string
				updated int64
			)
			if err := prows.Scan(&id, &p.Index, &p.Carrier, &p.CarrierID, &status, &p.Error, &updated); err != nil {
				return fmt.Errorf("store: claim: %w", err)
			}
			p.Status = gateway.Status(status)
			p.UpdatedAt = fromNanos(updated)
			if m := byID[id]; m != nil {
				m.Parts = append(m.Parts, p)
			}
		}
		if err := prows.Err(); err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// The claim's writes over a JSON array of message ids ($2, $1): json_each
// keeps them one prepared statement for any number of ids.
const (
	sqlLeaseIDs   = "UPDATE messages SET lease_until = $1 WHERE id IN (SELECT value FROM json_each($2))"
	sqlClaimParts = "SELECT message_id, " + partColumns + " FROM parts WHERE message_id IN (SELECT value FROM json_each($1)) ORDER BY message_id, idx"
)

// RecordSubmits stores carrier ids, completes fully submitted messages and
// applies receipts that were waiting for these ids. The writer runs the
// RecordSubmits of a batch together (wtx.recordSubmits).
func (s *sqliteStore) RecordSubmits(ctx context.Context, recs []gateway.SubmitRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if err := checkSubmits(recs); err != nil {
		return err
	}
	c := &submitCall{recs: recs}
	return s.submit(&op{ctx: ctx, name: "record submits", submits: c, beside: true, run: func(w *wtx) error {
		if err := w.recordSubmits([]*submitCall{c}, nil); err != nil {
			return err
		}
		return c.err
	}})
}

// anyUnmatched says whether unmatched_receipts may hold a row, asking the
// database once per transaction: usually it is empty, and then recorded ids
// need no lookup each. Keeping a receipt sets it again (keepReceipt).
func (w *wtx) anyUnmatched() (bool, error) {
	if !w.unmatchedKnown {
		var one int
		err := w.queryRow("SELECT 1 FROM unmatched_receipts LIMIT 1").Scan(&one)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
		w.unmatchedKnown, w.unmatchedAny = true, err == nil
	}
	return w.unmatchedAny, nil
}

// waitingReceipt is a stored receipt that matched no part when it arrived.
type waitingReceipt struct {
	id int64
	gateway.Receipt
}

// target loads the receiptTarget the condition on parts p selects
// (sql.ErrNoRows if none): the parts it names, which all belong to one
// message, with what applyReceipt needs of that message.
func (w *wtx) target(cond string, args ...any) (receiptTarget, error) {
	var t receiptTarget
	rows, err := w.query(sqlTarget+cond+` ORDER BY p.idx`, args...)
	if err != nil {
		return t, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p                 partState
			partStatus, state string
		)
		if err := rows.Scan(&t.msgID, &p.idx, &partStatus, &p.err, &t.tenant, &state, &t.partCount); err != nil {
			return t, err
		}
		p.status, t.msgStatus = gateway.Status(partStatus), gateway.Status(state)
		t.parts = append(t.parts, p)
	}
	if err := rows.Err(); err != nil {
		return t, err
	}
	if len(t.parts) == 0 {
		return t, sql.ErrNoRows
	}
	return t, nil
}

// RecordReceipts matches receipts by (carrier, carrier id) and keeps final
// ones that match nothing yet. Intermediate receipts (and any non-final
// status) only touch the parts' updated time, and are not kept when
// unmatched: applied later they would change nothing. The writer runs the
// RecordReceipts of a batch together, last (wtx.recordReceipts).
func (s *sqliteStore) RecordReceipts(ctx context.Context, rs []gateway.Receipt) (gateway.ReceiptTally, error) {
	if len(rs) == 0 {
		return gateway.ReceiptTally{}, nil
	}
	c := &receiptCall{rs: rs}
	// late: a receipt racing its own submit record in one batch finds it
	// recorded, instead of being kept as unmatched and applied again.
	err := s.submit(&op{ctx: ctx, name: "record receipts", late: true, receipts: c, beside: true, run: func(w *wtx) error {
		return w.recordReceipts([]*receiptCall{c})
	}})
	if err != nil {
		return gateway.ReceiptTally{}, err
	}
	return c.tally, nil
}

// PruneReceipts implements gateway.Store on the writer.
func (s *sqliteStore) PruneReceipts(ctx context.Context, p gateway.ReceiptPrune) (gateway.ReceiptsPruned, error) {
	var out gateway.ReceiptsPruned
	err := s.do(ctx, "prune receipts", func(w *wtx) error {
		out = gateway.ReceiptsPruned{}
		rows, err := w.query(sqlPruneReceiptsStale, toNanos(p.StaleBefore))
		if err != nil {
			return fmt.Errorf("store: prune receipts: %w", err)
		}
		w.dirty = true // the delete, whatever fails after
		defer rows.Close()
		for rows.Next() {
			var carrier, id string
			if err := rows.Scan(&carrier, &id); err != nil {
				return fmt.Errorf("store: prune receipts: %w", err)
			}
			pruned(&out, carrier, id)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: prune receipts: %w", err)
		}
		rows.Close()
		old, err := w.exec(sqlPruneReceiptsOld, toNanos(p.Before))
		if err != nil {
			return fmt.Errorf("store: prune receipts: %w", err)
		}
		over, err := w.exec(sqlPruneReceiptsOver, p.Keep)
		if err != nil {
			return fmt.Errorf("store: prune receipts: %w", err)
		}
		out.Dropped = int(old + over)
		return nil
	})
	return out, err
}

// touchPart, setPart, partStates and finishMessage make wtx a receiptWriter.

func (w *wtx) touchPart(msgID string, idx int) error {
	_, err := w.exec(sqlTouchPart, w.nowNs, msgID, idx)
	return err
}

func (w *wtx) setPart(msgID string, idx int, status gateway.Status, partErr string) error {
	_, err := w.exec(sqlSetPart, string(status), partErr, w.nowNs, msgID, idx)
	return err
}

func (w *wtx) partStates(msgID string) ([]partState, error) {
	rows, err := w.query(sqlParts, msgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []partState
	for rows.Next() {
		var (
			p  partState
			st string
		)
		if err := rows.Scan(&p.idx, &st, &p.err); err != nil {
			return nil, err
		}
		p.status = gateway.Status(st)
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

func (w *wtx) finishMessage(msgID string, status gateway.Status, lastErr string) error {
	_, err := w.exec(sqlFinishMsg, string(status), lastErr, w.nowNs, msgID)
	return err
}

// RecordAttempts appends failed attempts to the messages' histories.
func (s *sqliteStore) RecordAttempts(ctx context.Context, recs []gateway.AttemptRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.do(ctx, "record attempts", func(w *wtx) error {
		for _, r := range recs {
			if _, err := w.exec(sqlInsertAttempt, r.MessageID, r.Carrier, r.Outcome, r.Detail, attemptTime(r, w.nowNs)); err != nil {
				return fmt.Errorf("store: record attempt %s: %w", r.MessageID, err)
			}
		}
		return nil
	})
}

// Reschedule releases a claimed message for another attempt. A message that
// is no longer ACCEPTED (submitted or final meanwhile) is left alone.
func (s *sqliteStore) Reschedule(ctx context.Context, id string, lease, at time.Time, lastErr string, counted bool) error {
	inc := 0
	if counted {
		inc = 1
	}
	return s.do(ctx, "reschedule", func(w *wtx) error {
		atNs := toNanos(at)
		n, err := w.exec(sqlReschedule, atNs, lastErr, w.nowNs, id, inc, toNanos(lease))
		if err != nil {
			return fmt.Errorf("store: reschedule %s: %w", id, err)
		}
		if n > 0 {
			return nil
		}
		return w.leaseCheck("reschedule", id, lease)
	})
}

// leaseCheck explains a Reschedule or Finish by the claim holding lease
// that changed nothing: ErrNotFound, ErrLeaseLost, or nil (the message is
// no longer to send).
func (w *wtx) leaseCheck(opName, id string, lease time.Time) error {
	var (
		tenant, status string
		leaseUntil     int64
	)
	err := w.queryRow(sqlLeaseState, id).Scan(&tenant, &status, &leaseUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s %s: %w", opName, id, gateway.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: %s %s: %w", opName, id, err)
	}
	if leaseLost(toNanos(lease), leaseUntil, gateway.Status(status)) {
		return fmt.Errorf("store: %s %s: %w", opName, id, gateway.ErrLeaseLost)
	}
	return nil
}

// Finish gives a message its final status. Parts never submitted take the
// same status and detail; submitted parts keep waiting for their receipts,
// which then update only the part. Finishing a final message does nothing.
func (s *sqliteStore) Finish(ctx context.Context, id string, lease time.Time, status gateway.Status, detail string) error {
	if !status.Final() {
		return fmt.Errorf("store: finish %s: status %q is not final", id, status)
	}
	return s.do(ctx, "finish", func(w *wtx) error {
		var (
			tenant, cur string
			leaseUntil  int64
		)
		err := w.queryRow(sqlLeaseState, id).Scan(&tenant, &cur, &leaseUntil)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: finish %s: %w", id, gateway.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: finish %s: %w", id, err)
		}
		if gateway.Status(cur).Final() {
			return nil
		}
		if leaseLost(toNanos(lease), leaseUntil, gateway.Status(cur)) {
			return fmt.Errorf("store: finish %s: %w", id, gateway.ErrLeaseLost)
		}
		if _, err := w.exec(sqlFinishMsg, string(status), detail, w.nowNs, id); err != nil {
			return fmt.Errorf("store: finish %s: %w", id, err)
		}
		if _, err := w.exec(sqlFinishUnsent, string(status), detail, w.nowNs, id); err != nil {
			return fmt.Errorf("store: finish %s: %w", id, err)
		}
		w.event(tenant, id, status, detail)
		return nil
	})
}

// RecordInbound stores new inbound messages with an event each. On success a
// new message gets its ID (UUIDv7 if it had none) and ReceivedAt (the store's
// clock if it had none); a duplicate is left exactly as given, so a caller
// that passes ids empty can tell which ones were skipped.
func (s *sqliteStore) RecordInbound(ctx context.Context, in []*gateway.Inbound) (int, error) {
	if len(in) == 0 {
		return 0, nil
	}
	ids, err := inboundIDs(in)
	if err != nil {
		return 0, err
	}
	added := make([]bool, len(in))
	var now time.Time
	err = s.do(ctx, "record inbound", func(w *wtx) error {
		now = w.now
		for i, m := range in {
			added[i] = false
			received := toNanos(m.ReceivedAt)
			if received == 0 {
				received = w.nowNs
			}
			q, args := insertInbound(ids[i], m, received)
			n, err := w.exec(q, args...)
			if err != nil {
				return fmt.Errorf("store: record inbound %s: %w", ids[i], err)
			}
			if n == 0 {
				continue
			}
			if _, err := w.enqueueTasks(m.Tasks); err != nil {
				return fmt.Errorf("store: record inbound %s: %w", ids[i], err)
			}
			w.events = append(w.events, eventRow{kind: gateway.EventInbound, tenant: m.Tenant, inboundID: ids[i],
				inbound: &gateway.Inbound{ID: ids[i], Tenant: m.Tenant, Carrier: m.Carrier, CarrierRef: m.CarrierRef,
					From: m.From, To: m.To, Text: m.Text, ReceivedAt: fromNanos(received), Keyword: m.Keyword}})
			added[i] = true
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return inboundDone(in, ids, added, now), nil
}

// List reads a tenant's messages on the reader pool, newest first, without
// parts or attempts (see listQuery).
func (s *sqliteStore) List(ctx context.Context, tenant string, f gateway.ListFilter) ([]*gateway.Message, error) {
	query, args, err := listQuery(tenant, f)
	if err != nil {
		return nil, err
	}
	if err := s.visible(ctx, true); err != nil {
		return nil, err
	}
	var out []*gateway.Message
	err = s.read(func() error {
		rows, err := s.rdb.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("store: list: %w", err)
	}
	return out, nil
}

// Cancel ends a message no carrier has taken. The single writer orders it
// with every Claim: either the claim ran first (a live lease, so
// ErrNotCancelable) or the message is CANCELED before Claim can see it.
func (s *sqliteStore) Cancel(ctx context.Context, tenant, id string, now time.Time) error {
	nowNs := toNanos(now)
	return s.do(ctx, "cancel", func(w *wtx) error {
		var st cancelState
		err := w.queryRow(sqlCancelState, id).Scan(&st.tenant, &st.status, &st.leaseUntil)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: cancel %s: %w", id, gateway.ErrNotFound)
		}
		if err == nil {
			err = w.queryRow(sqlSubmittedParts, id).Scan(&st.submitted)
		}
		if err != nil {
			return fmt.Errorf("store: cancel %s: %w", id, err)
		}
		if err := checkCancel(tenant, id, st, nowNs); err != nil {
			return err
		}
		if _, err := w.exec(sqlFinishMsg, string(gateway.StatusCanceled), canceledDetail, w.nowNs, id); err != nil {
			return fmt.Errorf("store: cancel %s: %w", id, err)
		}
		if _, err := w.exec(sqlFinishUnsent, string(gateway.StatusCanceled), canceledDetail, w.nowNs, id); err != nil {
			return fmt.Errorf("store: cancel %s: %w", id, err)
		}
		w.event(st.tenant, id, gateway.StatusCanceled, canceledDetail)
		return nil
	})
}

// sqlLastSeq is the seq of the last event ever appended, pruned or not.
const sqlLastSeq = "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"

// AckEvents moves a cursor forward. The log's last seq is sqlite_sequence's,
// which counts pruned events too, so a consumer may ack an event that
// retention deleted meanwhile.
func (s *sqliteStore) AckEvents(ctx context.Context, tenant, cursor string, seq int64) error {
	if err := checkAck(tenant, cursor, seq); err != nil {
		return err
	}
	err := s.ackEvents(ctx, tenant, cursor, seq)
	if errors.Is(err, gateway.ErrAckAhead) && s.aj != nil {
		// The ACCEPTED events of held inserts (see heldInserts) are not
		// in the log yet: a caller told of the seq another way (the
		// message's status) may ack it. Let them run, and try again.
		if err := s.visible(ctx, true); err != nil {
			return err
		}
		err = s.ackEvents(ctx, tenant, cursor, seq)
	}
	return err
}

func (s *sqliteStore) ackEvents(ctx context.Context, tenant, cursor string, seq int64) error {
	return s.doBeside(ctx, "ack events", func(w *wtx) error {
		var last int64
		if err := w.queryRow(sqlLastSeq).Scan(&last); err != nil {
			return fmt.Errorf("store: ack events %q/%q: %w", tenant, cursor, err)
		}
		if seq > last {
			return ackAhead(tenant, cursor, seq, last)
		}
		if _, err := w.exec(`INSERT INTO event_cursors (tenant, name, seq, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant, name) DO UPDATE SET seq = max(seq, excluded.seq), updated_at = excluded.updated_at`,
			tenant, cursor, seq, w.nowNs); err != nil {
			return fmt.Errorf("store: ack events %q/%q: %w", tenant, cursor, err)
		}
		return nil
	})
}

// LastSeq implements gateway.EventLog from AUTOINCREMENT's own record,
// which outlives pruned rows.
func (s *sqliteStore) LastSeq(ctx context.Context) (int64, error) {
	if err := s.visible(ctx, false); err != nil {
		return 0, err
	}
	var seq int64
	err := s.read(func() error {
		return s.rdb.QueryRowContext(ctx, sqlLastSeq).Scan(&seq)
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("store: last seq: %w", err)
	}
	return seq, err
}

// Cursors implements gateway.EventLog.
func (s *sqliteStore) Cursors(ctx context.Context, tenant string) ([]gateway.CursorState, error) {
	var out []gateway.CursorState
	err := s.read(func() error {
		rows, err := s.rdb.QueryContext(ctx, sqlCursors, tenant)
		if err != nil {
			return err
		}
		out, err = scanCursors(sqlRows{rows})
		return err
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("store: cursors of %q: %w", tenant, err)
	}
	return out, err
}

// DeleteCursor implements gateway.EventLog.
func (s *sqliteStore) DeleteCursor(ctx context.Context, tenant, cursor string) (bool, error) {
	var n int64
	err := s.do(ctx, "delete cursor", func(w *wtx) error {
		var err error
		if n, err = w.exec(sqlDeleteCursor, tenant, cursor); err != nil {
			return fmt.Errorf("store: delete cursor %q/%q: %w", tenant, cursor, err)
		}
		return nil
	})
	return n > 0, err
}

// Cursor reads a cursor on the reader pool.
func (s *sqliteStore) Cursor(ctx context.Context, tenant, cursor string) (int64, error) {
	if cursor == "" {
		return 0, fmt.Errorf("store: cursor (tenant %q): empty cursor name", tenant)
	}
	var seq int64
	err := s.read(func() error {
		err := s.rdb.QueryRowContext(ctx, sqlCursor, tenant, cursor).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			seq = 0
			return nil
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return 0, err
		}
		return 0, fmt.Errorf("store: cursor %q/%q: %w", tenant, cursor, err)
	}
	return seq, nil
}

// PruneEvents deletes old events in one writer transaction. AUTOINCREMENT
// keeps the highest seq ever used, so new events still number above every
// deleted one.
func (s *sqliteStore) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.do(ctx, "prune events", func(w *wtx) error {
		through, deleted, err := pruneEventsThrough(w.queryRow, w.exec, before)
		if err == nil && through > 0 {
			w.prunedThrough = through
		}
		n = deleted
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// PrunedThrough implements gateway.EventLog.
func (s *sqliteStore) PrunedThrough(ctx context.Context) (int64, error) {
	var seq int64
	err := s.read(func() error {
		return s.rdb.QueryRowContext(ctx, sqlPrunedThrough).Scan(&seq)
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("store: pruned through: %w", err)
	}
	return seq, err
}

// prune runs retention statements in one transaction, in order, each
// with before as $1, and returns how many rows the last one deleted.
func (s *sqliteStore) prune(ctx context.Context, what string, before time.Time, stmts ...string) (int, error) {
	var n int64
	err := s.do(ctx, "prune "+what, func(w *wtx) error {
		for _, st := range stmts {
			var err error
			if n, err = w.exec(st, toNanos(before)); err != nil {
				return fmt.Errorf("store: prune %s: %w", what, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
