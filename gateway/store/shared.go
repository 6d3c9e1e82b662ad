package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/openmf/smsgw/gateway"
)

// What both stores share outside their transactions: input checks, id
// making and reporting results back to callers, plus SQL that reads the
// same in both dialects.

// SQL both dialects run as is.
const (
	sqlTouchPart = "UPDATE parts SET updated_at = $1 WHERE message_id = $2 AND idx = $3"
	sqlSetPart   = "UPDATE parts SET status = $1, error = $2, updated_at = $3 WHERE message_id = $4 AND idx = $5"
	sqlParts     = "SELECT idx, status, error FROM parts WHERE message_id = $1 ORDER BY idx"
	sqlFinishMsg = "UPDATE messages SET status = $1, last_error = $2, lease_until = 0, updated_at = $3 WHERE id = $4"
	// sqlLeaseState reads what Reschedule and Finish check a claim by.
	sqlLeaseState = "SELECT tenant, status, lease_until FROM messages WHERE id = $1"
	sqlUnmatched  = `SELECT id, status, state, error, at FROM unmatched_receipts
		WHERE carrier = $1 AND carrier_id = $2 ORDER BY id`
	// sqlPruneReceiptsStale drops the receipts held for naming only final
	// parts that arrived before $1; sqlPruneReceiptsOld any kept receipt
	// that arrived before $1; sqlPruneReceiptsOver those beyond the newest $1.
	sqlPruneReceiptsStale = "DELETE FROM unmatched_receipts WHERE named AND received_at < $1 RETURNING carrier, carrier_id"
	sqlPruneReceiptsOld   = "DELETE FROM unmatched_receipts WHERE received_at < $1"
	sqlPruneReceiptsOver  = `DELETE FROM unmatched_receipts WHERE id <= (
		SELECT id FROM unmatched_receipts ORDER BY id DESC LIMIT 1 OFFSET $1)`
	sqlReschedule = `UPDATE messages SET attempts = attempts + $5, next_attempt = $1, due_at = $1,
		last_error = $2, lease_until = 0, updated_at = $3
		WHERE id = $4 AND status = 'ACCEPTED' AND (CAST($6 AS BIGINT) = 0 OR lease_until = 0 OR lease_until = CAST($6 AS BIGINT))`
	sqlFinishUnsent = `UPDATE parts SET status = $1, error = $2, updated_at = $3
		WHERE message_id = $4 AND carrier_id = ''`
	sqlGetInbound    = `SELECT id, tenant, carrier, carrier_ref, sender, recipient, body, received_at, keyword FROM inbound WHERE id = $1`
	sqlInsertInbound = `INSERT INTO inbound (id, tenant, carrier, carrier_ref, sender, recipient, body, received_at, keyword)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`
	// sqlInsertInboundOnce is sqlInsertInbound unless the same message
	// (carrier, sender, recipient, body) was received in [$10, $11): a
	// carrier's resend of one stored before its acknowledgment was lost.
	sqlInsertInboundOnce = `INSERT INTO inbound (id, tenant, carrier, carrier_ref, sender, recipient, body, received_at, keyword)
		SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT),
			CAST($6 AS TEXT), CAST($7 AS TEXT), CAST($8 AS BIGINT), CAST($9 AS TEXT)
		WHERE NOT EXISTS (SELECT 1 FROM inbound WHERE carrier = $3 AND sender = $5 AND recipient = $6 AND body = $7
			AND received_at >= $10 AND received_at < $11)
		ON CONFLICT DO NOTHING`
	sqlBacklog     = "SELECT count(*) FROM messages WHERE status = 'ACCEPTED'"
	sqlByClientRef = "SELECT id FROM messages WHERE tenant = $1 AND client_ref = $2 AND client_ref <> ''"
	sqlSetOptOut   = `INSERT INTO optouts (tenant, number, keyword, at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant, number) DO UPDATE SET keyword = excluded.keyword, at = excluded.at`
	sqlSetOptIn    = "DELETE FROM optouts WHERE tenant = $1 AND number = $2"
	sqlListOptOuts = "SELECT number, keyword, at FROM optouts WHERE tenant = $1 ORDER BY at DESC, number LIMIT $2"
	sqlAddAudit    = `INSERT INTO audit (at, username, role, tenant, source, action, target, outcome)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	// sqlListAudit lists every entry when $1 is '', else one tenant's.
	sqlListAudit = `SELECT at, username, role, tenant, source, action, target, outcome FROM audit
		WHERE ($1 = '' OR tenant = $1) ORDER BY id DESC LIMIT $2`
	sqlInsertTask = `INSERT INTO tasks (key, kind, tenant, payload, attempts, not_before, lease_until, last_error, created_at, done_at)
		VALUES ($1, $2, $3, $4, 0, $5, 0, '', $6, 0) ON CONFLICT (key) DO NOTHING`
	// sqlFinishTask and sqlRetryTask only touch a task still leased as the
	// caller claimed it ($4, its lease end): a runner whose lease lapsed
	// cannot end or release the claim of the node that took over.
	sqlFinishTask = `UPDATE tasks SET done_at = $2, last_error = $3, lease_until = 0
		WHERE id = $1 AND done_at = 0 AND lease_until = $4`
	sqlRetryTask = `UPDATE tasks SET attempts = attempts + 1, not_before = $2, last_error = $3, lease_until = 0
		WHERE id = $1 AND done_at = 0 AND lease_until = $4`
	sqlPruneTasks = "DELETE FROM tasks WHERE done_at > 0 AND done_at < $1"
	sqlSubmitPart = `UPDATE parts SET carrier = $1, carrier_id = $2,
		status = CASE WHEN status IN ('ACCEPTED', 'SUBMITTED') THEN 'SUBMITTED' ELSE status END,
		submitted_at = $3, updated_at = $3, cost = $6
		WHERE message_id = $4 AND idx = $5`
	sqlInsertAttempt = `INSERT INTO attempts (message_id, carrier, outcome, detail, at) VALUES ($1, $2, $3, $4, $5)`
	sqlAttempts      = `SELECT carrier, outcome, detail, at FROM attempts WHERE message_id = $1 ORDER BY at`
	sqlSubmitTotals  = `UPDATE messages SET carrier = COALESCE(NULLIF($1, ''), carrier), cost = cost + $2,
		currency = COALESCE(NULLIF($3, ''), currency), updated_at = $4 WHERE id = $5`
	sqlSubmitState = `SELECT tenant, status,
		(SELECT COUNT(*) FROM parts WHERE message_id = $1 AND carrier_id = '')
		FROM messages WHERE id = $1`
	sqlSubmitted = `UPDATE messages SET status = 'SUBMITTED', lease_until = 0, updated_at = $1 WHERE id = $2`
	// sqlTarget selects the parts a receipt applies to, with their message;
	// the caller appends the condition on parts p.
	sqlTarget = `SELECT p.message_id, p.idx, p.status, p.error, m.tenant, m.status, m.part_count
		FROM parts p JOIN messages m ON m.id = p.message_id WHERE `
	// submittedPart selects the parts of message $1 that carry (carrier $2,
	// carrier id $3).
	submittedPart = `p.message_id = $1 AND p.carrier = $2 AND p.carrier_id = $3`
)

// acceptStatus is the status and error a new message is stored with:
// ACCEPTED, or final when the caller decided so (an opted-out number, a
// number no route covers, a destination or spend the tenant's fraud
// controls refused).
func acceptStatus(m *gateway.Message) (gateway.Status, string) {
	if m.Status.Final() {
		return m.Status, m.LastError
	}
	return gateway.StatusAccepted, ""
}

// acceptLease is a new message's lease_until: the LeaseUntil its caller
// asked for (it dispatches the message itself, see MessageStore.Accept),
// never for a message stored final.
func acceptLease(m *gateway.Message) int64 {
	if m.Status.Final() {
		return 0
	}
	return toNanos(m.LeaseUntil)
}

// encodeMeta stores a message's metadata as a JSON object, or the empty
// string when there is none.
func encodeMeta(meta map[string]string) string {
	if len(meta) == 0 {
		return ""
	}
	b, err := json.Marshal(meta)
	if err != nil { // a map[string]string always marshals
		panic(err)
	}
	return string(b)
}

// decodeMeta reads what encodeMeta stored.
func decodeMeta(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var meta map[string]string
	if err := json.Unmarshal([]byte(s), &meta); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	return meta, nil
}

// checkTasks refuses tasks the outbox could not run.
func checkTasks(tasks []gateway.Task) error {
	for i, t := range tasks {
		if t.Key == "" || t.Kind == "" {
			return fmt.Errorf("store: task %d: empty key or kind", i)
		}
	}
	return nil
}

// taskPayload is a task's payload as stored: never NULL.
func taskPayload(t gateway.Task) []byte {
	if t.Payload == nil {
		return []byte{}
	}
	return t.Payload
}

// sqlPruneMissing deletes the missing-ref records first seen before $1.
const sqlPruneMissing = "DELETE FROM missing_refs WHERE first_seen < $1"

// missingNotes checks NoteMissing's input and returns its refs sorted,
// with their reasons in the same order: sorted so that PostgreSQL
// transactions recording overlapping sets take their key locks in one
// order and do not deadlock.
func missingNotes(tenant string, notes map[string]string, now time.Time) (refs, reasons []string, err error) {
	if tenant == "" {
		return nil, nil, fmt.Errorf("store: note missing: empty tenant")
	}
	if now.IsZero() {
		return nil, nil, fmt.Errorf("store: note missing: zero time")
	}
	refs = slices.Sorted(maps.Keys(notes))
	reasons = make([]string, len(refs))
	for i, r := range refs {
		// Both stores key rows by the text as given; PostgreSQL refuses
		// NUL and invalid UTF-8, and JSON (SQLite's list) would alter them.
		if !validText(r) || r == "" {
			return nil, nil, fmt.Errorf("store: note missing: client ref %q: empty, NUL or invalid UTF-8", r)
		}
		if reasons[i] = notes[r]; !validText(reasons[i]) {
			return nil, nil, fmt.Errorf("store: note missing: reason of %q: NUL or invalid UTF-8", r)
		}
	}
	return refs, reasons, nil
}

func validText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// sqlNoteMissingConflict keeps a ref's first time and fills a reason it
// lacked.
const sqlNoteMissingConflict = `ON CONFLICT (tenant, client_ref) DO UPDATE SET reason = excluded.reason
	WHERE missing_refs.reason = '' AND excluded.reason <> ''`

// missingDone checks that NoteMissing read back a record for every ref it
// noted.
func missingDone(refs []string, out map[string]gateway.Missing) error {
	if len(out) != len(refs) {
		return fmt.Errorf("store: note missing: %d records read back for %d refs", len(out), len(refs))
	}
	return nil
}

// scanTask reads one claimed task (sqlDueTasks, sqlClaimTasksPG).
func scanTask(r interface{ Scan(...any) error }) (gateway.Task, error) {
	var (
		t             gateway.Task
		notBefore, lu int64
	)
	if err := r.Scan(&t.ID, &t.Key, &t.Kind, &t.Tenant, &t.Payload, &t.Attempts, &notBefore, &t.LastError, &lu); err != nil {
		return t, err
	}
	t.NotBefore, t.LeaseUntil = fromNanos(notBefore), fromNanos(lu)
	return t, nil
}

// acceptIDs checks msgs and returns the id each will be stored under: its
// own, or a new UUIDv7.
func acceptIDs(msgs []*gateway.Message) ([]string, error) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		if m == nil {
			return nil, fmt.Errorf("store: accept: message %d is nil", i)
		}
		if len(m.Parts) == 0 {
			return nil, fmt.Errorf("store: accept: message %d has no parts", i)
		}
		for j, p := range m.Parts {
			if p.Index != j {
				return nil, fmt.Errorf("store: accept: message %d: part %d has index %d, want %d", i, j, p.Index, j)
			}
		}
		ids[i] = m.ID
		if ids[i] == "" {
			u, err := uuid.NewV7()
			if err != nil {
				return nil, fmt.Errorf("store: accept: %w", err)
			}
			ids[i] = u.String()
		}
	}
	return ids, nil
}

// acceptDone reports a committed Accept to its caller: each non-duplicate
// message gets its ID, Status, CreatedAt and UpdatedAt (and its parts'
// Status and UpdatedAt) set to what was stored; a duplicate gets the stored
// message's ID and is otherwise left as given.
func acceptDone(msgs []*gateway.Message, results []gateway.AcceptResult, now time.Time) {
	for i, m := range msgs {
		m.ID = results[i].ID
		if results[i].Duplicate {
			continue
		}
		st, _ := acceptStatus(m)
		m.Status = st
		m.Tries = 0
		m.CreatedAt, m.UpdatedAt = now, now
		for j := range m.Parts {
			m.Parts[j].Status = st
			m.Parts[j].UpdatedAt = now
		}
	}
}

// inboundIDs checks in and returns the id each will be stored under.
func inboundIDs(in []*gateway.Inbound) ([]string, error) {
	ids := make([]string, len(in))
	for i, m := range in {
		if m == nil {
			return nil, fmt.Errorf("store: record inbound: message %d is nil", i)
		}
		ids[i] = m.ID
		if ids[i] == "" {
			u, err := uuid.NewV7()
			if err != nil {
				return nil, fmt.Errorf("store: record inbound: %w", err)
			}
			ids[i] = u.String()
		}
	}
	return ids, nil
}

// inboundDone reports a committed RecordInbound: a new message gets its ID
// and ReceivedAt (the store's clock if it had none); a duplicate is left
// exactly as given. It returns how many were new.
func inboundDone(in []*gateway.Inbound, ids []string, added []bool, now time.Time) int {
	n := 0
	for i, m := range in {
		if !added[i] {
			m.ID = "" // skipped: the caller can tell it was stored before
			continue
		}
		n++
		m.ID = ids[i]
		if m.ReceivedAt.IsZero() {
			m.ReceivedAt = now
		}
	}
	return n
}

// checkSubmits rejects records without a carrier id: a part with one is
// submitted, so an empty one would lose track of it.
func checkSubmits(recs []gateway.SubmitRecord) error {
	for _, r := range recs {
		if r.CarrierID == "" {
			return fmt.Errorf("store: record submit %s part %d: empty carrier id", r.MessageID, r.Index)
		}
	}
	return nil
}

// attemptTime is when an attempt happened: its own time, else the write's.
func attemptTime(r gateway.AttemptRecord, nowNs int64) int64 {
	if r.At.IsZero() {
		return nowNs
	}
	return r.At.UnixNano()
}

// rowScanner is what database/sql and pgx rows have in common.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// sqlRows adapts *sql.Rows, whose Close returns an error, to rowScanner.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// scanCursors reads sqlCursors' rows.
func scanCursors(rows rowScanner) ([]gateway.CursorState, error) {
	defer rows.Close()
	var out []gateway.CursorState
	for rows.Next() {
		var (
			c  gateway.CursorState
			at int64
		)
		if err := rows.Scan(&c.Name, &c.Seq, &at); err != nil {
			return nil, err
		}
		c.UpdatedAt = fromNanos(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// scanAttempts reads sqlAttempts' rows.
func scanAttempts(rows rowScanner) ([]gateway.Attempt, error) {
	defer rows.Close()
	var out []gateway.Attempt
	for rows.Next() {
		var (
			a  gateway.Attempt
			at int64
		)
		if err := rows.Scan(&a.Carrier, &a.Outcome, &a.Detail, &at); err != nil {
			return nil, err
		}
		a.At = fromNanos(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// List limits: a ListFilter.Limit ≤ 0 means listDefaultLimit, and no page
// is longer than listMaxLimit.
const (
	listDefaultLimit = 100
	listMaxLimit     = 1000
)

// canceledDetail is the last_error, part error and event detail of a
// message ended by Cancel.
const canceledDetail = "canceled by the caller"

// SQL of List, Cancel, the cursors and pruning that reads the same in both
// dialects.
const (
	sqlCancelState    = "SELECT tenant, status, lease_until FROM messages WHERE id = $1"
	sqlSubmittedParts = "SELECT COUNT(*) FROM parts WHERE message_id = $1 AND carrier_id <> ''"
	sqlCursor         = "SELECT seq FROM event_cursors WHERE tenant = $1 AND name = $2"
	sqlPrunedThrough  = "SELECT pruned_through FROM event_watermark"
	// sqlPruneThrough finds the last event of the log's prefix appended
	// before $1 (0 if none), walking seq order from the oldest event and
	// stopping at the first one kept, so it reads about as many rows as
	// the prune deletes and needs no index on at (each index entry costs a
	// page write per commit on the hot path). An event dated after $2 (a
	// clock that jumped forward) does not stop the walk, or it would hold
	// retention until that date.
	sqlPruneThrough = `SELECT COALESCE((SELECT seq FROM events WHERE seq < COALESCE(
			(SELECT seq FROM events WHERE at >= $1 AND at <= $2 ORDER BY seq LIMIT 1), $3)
		ORDER BY seq DESC LIMIT 1), 0)`
	// sqlMarkPruned moves the watermark to the newest event sqlPruneEvents
	// is about to delete (never back), in the same transaction.
	sqlMarkPruned   = "UPDATE event_watermark SET pruned_through = $1 WHERE pruned_through < $1"
	sqlPruneEvents  = "DELETE FROM events WHERE seq <= $1"
	sqlCursors      = "SELECT name, seq, updated_at FROM event_cursors WHERE tenant = $1 ORDER BY name"
	sqlDeleteCursor = "DELETE FROM event_cursors WHERE tenant = $1 AND name = $2"
)

// listQuery builds List's statement: the tenant's messages matching f,
// newest id first, at most f.Limit (bounded). The (tenant, id) index
// serves the tenant condition, the Before condition and the order.
func listQuery(tenant string, f gateway.ListFilter) (string, []any, error) {
	if tenant == "" {
		return "", nil, fmt.Errorf("store: list: empty tenant")
	}
	var b strings.Builder
	args := []any{tenant}
	b.WriteString("SELECT " + messageColumns + " FROM messages WHERE tenant = $1")
	cond := func(sql string, arg any) {
		args = append(args, arg)
		b.WriteString(" AND " + sql + " $" + strconv.Itoa(len(args)))
	}
	if f.Status != "" {
		cond("status =", string(f.Status))
	}
	if f.To != "" {
		cond("recipient =", f.To)
	}
	if !f.Since.IsZero() {
		cond("created_at >=", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		cond("created_at <", f.Until.UnixNano())
	}
	if f.Before != "" {
		cond("id <", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = listDefaultLimit
	}
	limit = min(limit, listMaxLimit)
	args = append(args, limit)
	b.WriteString(" ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args)))
	return b.String(), args, nil
}

// cancelState is what Cancel decides on, read under the write path (and,
// in PostgreSQL, the message's row lock).
type cancelState struct {
	tenant, status string
	leaseUntil     int64
	submitted      int // parts with a carrier id
}

// checkCancel says whether tenant may cancel the message in st at nowNs:
// ErrNotFound for another tenant's message (an empty tenant matches any,
// as in Get), ErrNotCancelable once a carrier has (or may have) part of it,
// or it has left ACCEPTED.
func checkCancel(tenant, id string, st cancelState, nowNs int64) error {
	if tenant != "" && st.tenant != tenant {
		return fmt.Errorf("store: cancel %s: %w", id, gateway.ErrNotFound)
	}
	switch {
	case gateway.Status(st.status) != gateway.StatusAccepted:
		return fmt.Errorf("store: cancel %s: status %s: %w", id, st.status, gateway.ErrNotCancelable)
	case st.submitted > 0:
		return fmt.Errorf("store: cancel %s: %d parts submitted: %w", id, st.submitted, gateway.ErrNotCancelable)
	case st.leaseUntil > nowNs:
		return fmt.Errorf("store: cancel %s: claimed until %s: %w", id,
			fromNanos(st.leaseUntil).Format(time.RFC3339Nano), gateway.ErrNotCancelable)
	}
	return nil
}

// unavailable marks an error that failed a whole batch (the database's, not
// an operation's) as gateway.ErrUnavailable, so callers answer it as
// retryable without showing its text.
func unavailable(err error) error {
	if errors.Is(err, gateway.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, gateway.ErrUnavailable)
}

// insertInbound is the statement and arguments that store m under id,
// received at received (ns): guarded against a resend when m says so.
func insertInbound(id string, m *gateway.Inbound, received int64) (string, []any) {
	args := []any{id, m.Tenant, m.Carrier, m.CarrierRef, m.From, m.To, m.Text, received, m.Keyword}
	if m.ResendBefore.IsZero() || !m.ResendAfter.Before(m.ResendBefore) {
		return sqlInsertInbound, args
	}
	return sqlInsertInboundOnce, append(args, toNanos(m.ResendAfter), toNanos(m.ResendBefore))
}

// checkAck rejects an empty cursor name and a negative seq.
func checkAck(tenant, cursor string, seq int64) error {
	if cursor == "" {
		return fmt.Errorf("store: ack events (tenant %q): empty cursor name", tenant)
	}
	if seq < 0 {
		return fmt.Errorf("store: ack events %q/%q: negative seq %d", tenant, cursor, seq)
	}
	return nil
}

// ackAhead is AckEvents' error for a seq beyond the log's last.
func ackAhead(tenant, cursor string, seq, last int64) error {
	return fmt.Errorf("store: ack events %q/%q: seq %d, last event %d: %w", tenant, cursor, seq, last, gateway.ErrAckAhead)
}

// scanInbound reads sqlGetInbound's row; a row of another tenant (when
// tenant is not empty) reads as gateway.ErrNotFound.
func scanInbound(row interface{ Scan(...any) error }, tenant, id string, noRows error) (*gateway.Inbound, error) {
	var (
		in gateway.Inbound
		at int64
	)
	err := row.Scan(&in.ID, &in.Tenant, &in.Carrier, &in.CarrierRef, &in.From, &in.To, &in.Text, &at, &in.Keyword)
	if errors.Is(err, noRows) || (err == nil && tenant != "" && in.Tenant != tenant) {
		return nil, fmt.Errorf("store: get inbound %s: %w", id, gateway.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get inbound %s: %w", id, err)
	}
	in.ReceivedAt = fromNanos(at)
	return &in, nil
}

// eventMessageCols are the message columns eventMessageQuery joins to a
// status event; all NULL when there is no message (an inbound event, one
// pruned since) or when they were not read (Events).
type eventMessageCols struct {
	id, from, to, encoding, carrier, meta, partCarrier, carrierID sql.NullString
}

// dest are the scan destinations, in eventMessageQuery's order.
func (c *eventMessageCols) dest() []any {
	return []any{&c.id, &c.from, &c.to, &c.encoding, &c.carrier, &c.meta, &c.partCarrier, &c.carrierID}
}

func (c eventMessageCols) message() (*gateway.EventMessage, error) {
	if !c.id.Valid {
		return nil, nil
	}
	meta, err := decodeMeta(c.meta.String)
	if err != nil {
		return nil, err
	}
	m := &gateway.EventMessage{
		From: c.from.String, To: c.to.String, Encoding: gateway.Encoding(c.encoding.String),
		Carrier: c.carrier.String, CarrierID: c.carrierID.String, Meta: meta,
	}
	if m.Carrier == "" {
		m.Carrier = c.partCarrier.String
	}
	return m, nil
}

// misdatedAfter is how far ahead of the pruning node's clock an event's
// time must be for retention to treat it as misdated (a clock that jumped
// forward and was set back) rather than wait for that date.
const misdatedAfter = time.Hour

// pruneEventArgs are sqlPruneThrough's arguments for a cutoff.
// pruneEventsThrough is PruneEvents' transaction in either store: find
// the last event to delete, move the watermark to it, delete through it.
// It returns the seq it deleted through (0 if none) and how many events
// went.
func pruneEventsThrough(queryRow func(string, ...any) scanner, exec func(string, ...any) (int64, error), before time.Time) (through, n int64, err error) {
	if err := queryRow(sqlPruneThrough, pruneEventArgs(before)...).Scan(&through); err != nil {
		return 0, 0, fmt.Errorf("store: prune events: %w", err)
	}
	if through == 0 {
		return 0, 0, nil
	}
	for _, st := range []string{sqlMarkPruned, sqlPruneEvents} {
		if n, err = exec(st, through); err != nil {
			return 0, 0, fmt.Errorf("store: prune events: %w", err)
		}
	}
	return through, n, nil
}

func pruneEventArgs(before time.Time) []any {
	return []any{toNanos(before), time.Now().Add(misdatedAfter).UnixNano(), int64(math.MaxInt64)}
}

// fillBatch appends to batch (holding the item that woke the loop)
// whatever else waits on ch, up to limit items: a group commit takes what is
// queued and never waits for more. The writers' loops (SQLite, PostgreSQL)
// and the accept journal's use it.
func fillBatch[T any](batch []T, ch <-chan T, limit int) []T {
	for len(batch) < limit {
		select {
		case v, ok := <-ch:
			if !ok {
				return batch
			}
			batch = append(batch, v)
		default:
			return batch
		}
	}
	return batch
}

// leaseLost says whether a claim holding lease (0: none given, no check)
// lost the message to another claim: it is still to send and leased
// otherwise. A message released (lease 0) by its own claim's records, or
// submitted, or final, is not another claim's.
func leaseLost(lease, leaseUntil int64, status gateway.Status) bool {
	return lease != 0 && status == gateway.StatusAccepted && leaseUntil != 0 && leaseUntil != lease
}
