package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openmf/smsgw/gateway"
)

// The write operations of the PostgreSQL store. Each is one transaction
// (pgStore.write). Where two nodes may touch the same message at once, the
// transaction locks the message's row (FOR UPDATE, in id order, so two
// transactions never wait for each other in a cycle) before reading the
// state it decides on.

// sqlAcceptPG stores one message and its parts in one statement, or nothing
// when its (tenant, client_ref) or id exists: it returns the id only if the
// message was stored. $15 and $16 are acceptStatus's status and error.
const sqlAcceptPG = `WITH m AS (
		INSERT INTO messages (id, tenant, client_ref, sender, recipient, body, encoding, priority,
			not_before, expires_at, status, attempts, carrier, cost, currency, last_error,
			created_at, updated_at, part_count, next_attempt, due_at, lease_until, pinned_carrier,
			category, meta)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $15, 0, '', 0, '', $16,
			$11, $11, $12, 0, $13, 0, $14, $17, $18)
		ON CONFLICT DO NOTHING RETURNING id),
	p AS (
		INSERT INTO parts (message_id, idx, carrier, carrier_id, status, error, submitted_at, updated_at)
		SELECT m.id, g, '', '', $15, '', 0, $11 FROM m, generate_series(0, $12::int - 1) g)
	SELECT id FROM m`

// Accept stores msgs, pipelining one statement per message. A concurrent
// Accept with the same (tenant, client_ref), on any node, makes the insert
// wait for that transaction and then find its message.
func (s *pgStore) Accept(ctx context.Context, msgs []*gateway.Message) ([]gateway.AcceptResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	ids, err := acceptIDs(msgs)
	if err != nil {
		return nil, err
	}
	results := make([]gateway.AcceptResult, len(msgs))
	var now time.Time
	err = s.write(ctx, "accept", func(w *ptx) error {
		now = w.now
		b := &pgx.Batch{}
		for i, m := range msgs {
			notBefore := toNanos(m.NotBefore)
			st, lastErr := acceptStatus(m)
			b.Queue(sqlAcceptPG, ids[i], m.Tenant, m.ClientRef, m.From, m.To, m.Text, string(m.Encoding), m.Priority,
				notBefore, toNanos(m.ExpiresAt), w.nowNs, len(m.Parts), max(notBefore, w.nowNs), m.PinnedCarrier,
				string(st), lastErr, string(m.Category), encodeMeta(m.Meta))
		}
		stored := make([]bool, len(msgs))
		br := w.tx.SendBatch(w.ctx, b)
		for i := range msgs {
			var id string
			err := br.QueryRow().Scan(&id)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				br.Close()
				return fmt.Errorf("store: accept %s: %w", ids[i], err)
			}
			stored[i] = err == nil
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("store: accept: %w", err)
		}
		for i, m := range msgs {
			if stored[i] {
				results[i] = gateway.AcceptResult{ID: ids[i]}
				st, lastErr := acceptStatus(m)
				w.event(m.Tenant, ids[i], st, lastErr)
				continue
			}
			if m.ClientRef != "" {
				var id string
				err := w.queryRow(sqlByClientRef, m.Tenant, m.ClientRef).Scan(&id)
				if err == nil {
					results[i] = gateway.AcceptResult{ID: id, Duplicate: true}
					continue
				}
				if !errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("store: accept %s: %w", ids[i], err)
				}
			}
			return fmt.Errorf("store: accept: message id %s exists already", ids[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	acceptDone(msgs, results, now)
	return results, nil
}

// Claim leases due messages in priority order. FOR UPDATE SKIP LOCKED lets
// nodes claim side by side: each skips the rows another is leasing right
// now, and a lease that lapsed (its node died) is due again for anyone.
func (s *pgStore) Claim(ctx context.Context, now time.Time, limit int) ([]*gateway.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	nowNs := toNanos(now)
	until := nowNs + int64(s.opts.LeaseDuration)
	var out []*gateway.Message
	err := s.write(ctx, "claim", func(w *ptx) error {
		out = out[:0]
		rows, err := w.query(`WITH c AS (
				SELECT id FROM messages
				WHERE status = 'ACCEPTED' AND not_before <= $1 AND next_attempt <= $1 AND lease_until < $1
				ORDER BY priority DESC, due_at, id LIMIT $2
				FOR UPDATE SKIP LOCKED)
			UPDATE messages m SET lease_until = $3, lease_owner = $4 FROM c WHERE m.id = c.id
			RETURNING `+prefixed("m.", messageColumns)+`, m.due_at`, nowNs, limit, until, s.node)
		if err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		due := map[string]int64{}
		for rows.Next() {
			var d int64
			m, err := scanMessage(pgMultiScanner{rows, []any{&d}})
			if err != nil {
				rows.Close()
				return fmt.Errorf("store: claim: %w", err)
			}
			due[m.ID] = d
			m.LeaseUntil = time.Unix(0, until)
			out = append(out, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		if len(out) == 0 {
			return nil
		}
		// RETURNING has no order: restore the claim order.
		slices.SortFunc(out, func(a, b *gateway.Message) int {
			switch {
			case a.Priority != b.Priority:
				return int(b.Priority) - int(a.Priority)
			case due[a.ID] != due[b.ID]:
				if due[a.ID] < due[b.ID] {
					return -1
				}
				return 1
			case a.ID < b.ID:
				return -1
			}
			return 1
		})
		byID := make(map[string]*gateway.Message, len(out))
		idList := make([]string, len(out))
		for i, m := range out {
			byID[m.ID] = m
			idList[i] = m.ID
		}
		rows, err = w.query(`SELECT message_id, `+partColumns+` FROM parts WHERE message_id = ANY($1) ORDER BY message_id, idx`, idList)
		if err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				msgID, status string
				p             gateway.Part
				updated       int64
			)
			if err := rows.Scan(&msgID, &p.Index, &p.Carrier, &p.CarrierID, &status, &p.Error, &updated); err != nil {
				return fmt.Errorf("store: claim: %w", err)
			}
			p.Status = gateway.Status(status)
			p.UpdatedAt = fromNanos(updated)
			byID[msgID].Parts = append(byID[msgID].Parts, p)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lockReceiptKeys takes the transaction locks of the (carrier, carrier id)
// pairs given, in key order: see receiptKey.
func (w *ptx) lockReceiptKeys(pairs [][2]string) error {
	keys := make([]int32, 0, len(pairs))
	for _, p := range pairs {
		if p[1] != "" {
			keys = append(keys, receiptKey(p[0], p[1]))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	_, err := w.exec("SELECT count(pg_advisory_xact_lock($1, k)) FROM unnest($2::int4[]) AS k", lockReceiptsNS, keys)
	return err
}

// lockMessages locks the rows of the given messages in id order and
// returns which exist.
func (w *ptx) lockMessages(ids []string) (map[string]bool, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := w.query("SELECT id FROM messages WHERE id = ANY($1) ORDER BY id FOR UPDATE", ids)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	exist := make(map[string]bool, len(found))
	for _, id := range found {
		exist[id] = true
	}
	return exist, nil
}

// RecordSubmits stores carrier ids, completes fully submitted messages and
// applies receipts that were waiting for these ids.
func (s *pgStore) RecordSubmits(ctx context.Context, recs []gateway.SubmitRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if err := checkSubmits(recs); err != nil {
		return err
	}
	pairs := make([][2]string, len(recs))
	msgIDs := make([]string, len(recs))
	for i, r := range recs {
		pairs[i] = [2]string{r.Carrier, r.CarrierID}
		msgIDs[i] = r.MessageID
	}
	return s.write(ctx, "record submits", func(w *ptx) error {
		if err := w.lockReceiptKeys(pairs); err != nil {
			return fmt.Errorf("store: record submits: %w", err)
		}
		exist, err := w.lockMessages(msgIDs)
		if err != nil {
			return fmt.Errorf("store: record submits: %w", err)
		}
		type total struct {
			carrier, currency string
			cost              float64
			at                int64
		}
		var order []string
		totals := make(map[string]*total)
		b := &pgx.Batch{}
		for _, r := range recs {
			if !exist[r.MessageID] {
				return fmt.Errorf("store: record submit %s part %d: %w", r.MessageID, r.Index, gateway.ErrNotFound)
			}
			at := w.nowNs
			if !r.At.IsZero() {
				at = r.At.UnixNano()
			}
			b.Queue(sqlSubmitPart, r.Carrier, r.CarrierID, at, r.MessageID, r.Index, r.Cost)
			t := totals[r.MessageID]
			if t == nil {
				t = &total{}
				totals[r.MessageID] = t
				order = append(order, r.MessageID)
			}
			t.carrier = r.Carrier
			if r.Currency != "" {
				t.currency = r.Currency
			}
			t.cost += r.Cost
			t.at = max(t.at, at)
		}
		br := w.tx.SendBatch(w.ctx, b)
		for _, r := range recs {
			tag, err := br.Exec()
			if err == nil && tag.RowsAffected() == 0 {
				err = gateway.ErrNotFound
			}
			if err != nil {
				br.Close()
				return fmt.Errorf("store: record submit %s part %d: %w", r.MessageID, r.Index, err)
			}
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("store: record submits: %w", err)
		}
		for _, id := range order {
			t := totals[id]
			if _, err := w.exec(sqlSubmitTotals, t.carrier, t.cost, t.currency, w.nowNs, id); err != nil {
				return fmt.Errorf("store: record submits %s: %w", id, err)
			}
			if _, err := w.exec(sqlInsertAttempt, id, t.carrier, "submitted", "", t.at); err != nil {
				return fmt.Errorf("store: record submits %s: %w", id, err)
			}
			var (
				tenant, status string
				unsent         int
			)
			if err := w.queryRow(sqlSubmitState, id).Scan(&tenant, &status, &unsent); err != nil {
				return fmt.Errorf("store: record submits %s: %w", id, err)
			}
			if gateway.Status(status) != gateway.StatusAccepted || unsent > 0 {
				continue
			}
			if _, err := w.exec(sqlSubmitted, w.nowNs, id); err != nil {
				return fmt.Errorf("store: record submits %s: %w", id, err)
			}
			w.event(tenant, id, gateway.StatusSubmitted, "")
		}
		return w.applyUnmatched(recs)
	})
}

// applyUnmatched applies, in arrival order, the stored receipts for each
// (message, carrier, carrier id) just recorded, to every part of the
// message with that id, and forgets them.
func (w *ptx) applyUnmatched(recs []gateway.SubmitRecord) error {
	type key struct{ msgID, carrier, carrierID string }
	seen := make(map[key]bool, len(recs))
	for _, r := range recs {
		k := key{r.MessageID, r.Carrier, r.CarrierID}
		if seen[k] {
			continue
		}
		seen[k] = true
		ws, err := w.unmatched(r.Carrier, r.CarrierID)
		if err != nil {
			return fmt.Errorf("store: record submit %s part %d: %w", r.MessageID, r.Index, err)
		}
		for _, x := range ws {
			t, err := w.target(submittedPart, r.MessageID, r.Carrier, r.CarrierID)
			if err == nil {
				err = applyReceipt(w, t, x.Receipt)
			}
			if err == nil {
				_, err = w.exec("DELETE FROM unmatched_receipts WHERE id = $1", x.id)
			}
			if err != nil {
				return fmt.Errorf("store: record submit %s part %d: %w", r.MessageID, r.Index, err)
			}
		}
	}
	return nil
}

// unmatched lists the stored receipts for (carrier, carrierID) in arrival order.
func (w *ptx) unmatched(carrier, carrierID string) ([]waitingReceipt, error) {
	rows, err := w.query(sqlUnmatched, carrier, carrierID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (waitingReceipt, error) {
		var (
			x      waitingReceipt
			status string
			at     int64
		)
		err := r.Scan(&x.id, &status, &x.State, &x.Error, &at)
		x.Carrier, x.CarrierID = carrier, carrierID
		x.Status = gateway.Status(status)
		x.Time = fromNanos(at)
		return x, err
	})
}

// target loads the receiptTarget the condition on parts p selects
// (pgx.ErrNoRows if none).
func (w *ptx) target(cond string, args ...any) (receiptTarget, error) {
	var t receiptTarget
	rows, err := w.query(sqlTarget+cond+" ORDER BY p.idx", args...)
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
		return t, pgx.ErrNoRows
	}
	return t, nil
}

// RecordReceipts matches receipts by (carrier, carrier id), through the
// shared index, whichever node recorded the id, and keeps final ones that
// match nothing yet. It first finds each receipt's message, then locks
// those rows in id order and reads the parts again under the locks: two
// nodes receiving receipts for two parts of one message then see each
// other's part, and exactly one of them finishes the message.
func (s *pgStore) RecordReceipts(ctx context.Context, rs []gateway.Receipt) (int, error) {
	if len(rs) == 0 {
		return 0, nil
	}
	pairs := make([][2]string, len(rs))
	for i, r := range rs {
		pairs[i] = [2]string{r.Carrier, r.CarrierID}
	}
	var matched int
	err := s.write(ctx, "record receipts", func(w *ptx) error {
		matched = 0
		if err := w.lockReceiptKeys(pairs); err != nil {
			return fmt.Errorf("store: record receipts: %w", err)
		}
		var msgIDs []string
		for _, r := range rs {
			if r.CarrierID == "" {
				continue
			}
			t, err := w.target(latestSubmitted, r.Carrier, r.CarrierID)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("store: record receipt %s/%s: %w", r.Carrier, r.CarrierID, err)
			}
			msgIDs = append(msgIDs, t.msgID)
		}
		if len(msgIDs) > 0 {
			if _, err := w.lockMessages(msgIDs); err != nil {
				return fmt.Errorf("store: record receipts: %w", err)
			}
		}
		for _, r := range rs {
			if r.CarrierID == "" {
				continue
			}
			t, err := w.target(latestSubmitted, r.Carrier, r.CarrierID)
			if errors.Is(err, pgx.ErrNoRows) {
				if !r.Status.Final() {
					continue
				}
				if _, err := w.exec(sqlKeepReceipt, r.Carrier, r.CarrierID, string(r.Status), r.State, r.Error,
					toNanos(r.Time), w.nowNs); err != nil {
					return fmt.Errorf("store: record receipt %s/%s: %w", r.Carrier, r.CarrierID, err)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("store: record receipt %s/%s: %w", r.Carrier, r.CarrierID, err)
			}
			matched++
			if err := applyReceipt(w, t, r); err != nil {
				return fmt.Errorf("store: record receipt %s/%s: %w", r.Carrier, r.CarrierID, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return matched, nil
}

// RecordAttempts appends failed attempts to the messages' histories.
func (s *pgStore) RecordAttempts(ctx context.Context, recs []gateway.AttemptRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.write(ctx, "record attempts", func(w *ptx) error {
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
func (s *pgStore) Reschedule(ctx context.Context, id string, at time.Time, lastErr string, counted bool) error {
	inc := 0
	if counted {
		inc = 1
	}
	return s.write(ctx, "reschedule", func(w *ptx) error {
		n, err := w.exec(sqlReschedule, toNanos(at), lastErr, w.nowNs, id, inc)
		if err != nil {
			return fmt.Errorf("store: reschedule %s: %w", id, err)
		}
		if n > 0 {
			return nil
		}
		var one int
		err = w.queryRow("SELECT 1 FROM messages WHERE id = $1", id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: reschedule %s: %w", id, gateway.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: reschedule %s: %w", id, err)
		}
		return nil
	})
}

// Finish gives a message its final status; see the SQLite store for the
// rules. The message's row is locked first, so a receipt finishing it on
// another node at the same moment yields exactly one final event.
func (s *pgStore) Finish(ctx context.Context, id string, status gateway.Status, detail string) error {
	if !status.Final() {
		return fmt.Errorf("store: finish %s: status %q is not final", id, status)
	}
	return s.write(ctx, "finish", func(w *ptx) error {
		var tenant, cur string
		err := w.queryRow("SELECT tenant, status FROM messages WHERE id = $1 FOR UPDATE", id).Scan(&tenant, &cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: finish %s: %w", id, gateway.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: finish %s: %w", id, err)
		}
		if gateway.Status(cur).Final() {
			return nil
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

// RecordInbound stores new inbound messages with an event each, and the
// tasks of the new ones, in one transaction; the unique (carrier,
// carrier_ref) index deduplicates across nodes.
func (s *pgStore) RecordInbound(ctx context.Context, in []*gateway.Inbound) (int, error) {
	if len(in) == 0 {
		return 0, nil
	}
	ids, err := inboundIDs(in)
	if err != nil {
		return 0, err
	}
	added := make([]bool, len(in))
	var now time.Time
	err = s.write(ctx, "record inbound", func(w *ptx) error {
		now = w.now
		b := &pgx.Batch{}
		for i, m := range in {
			received := toNanos(m.ReceivedAt)
			if received == 0 {
				received = w.nowNs
			}
			b.Queue(sqlInsertInbound, ids[i], m.Tenant, m.Carrier, m.CarrierRef, m.From, m.To, m.Text, received, m.Keyword)
		}
		br := w.tx.SendBatch(w.ctx, b)
		var tasks []gateway.Task
		for i, m := range in {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return fmt.Errorf("store: record inbound %s: %w", ids[i], err)
			}
			added[i] = tag.RowsAffected() > 0
			if added[i] {
				tasks = append(tasks, m.Tasks...)
				w.events = append(w.events, eventRow{kind: gateway.EventInbound, tenant: m.Tenant, inboundID: ids[i]})
			}
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("store: record inbound: %w", err)
		}
		if _, err := w.enqueueTasks(tasks); err != nil {
			return fmt.Errorf("store: record inbound: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return inboundDone(in, ids, added, now), nil
}

// List reads a tenant's messages in one statement, newest first, without
// parts or attempts (see listQuery).
func (s *pgStore) List(ctx context.Context, tenant string, f gateway.ListFilter) ([]*gateway.Message, error) {
	query, args, err := listQuery(tenant, f)
	if err != nil {
		return nil, err
	}
	var out []*gateway.Message
	err = s.run(func() error {
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = out[:0]
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

// Cancel ends a message no carrier has taken. It locks the message's row
// first: a Claim on any node either holds the row (Cancel waits, then sees
// its live lease) or skips it (SKIP LOCKED) and finds it CANCELED after.
func (s *pgStore) Cancel(ctx context.Context, tenant, id string, now time.Time) error {
	nowNs := toNanos(now)
	return s.write(ctx, "cancel", func(w *ptx) error {
		var st cancelState
		err := w.queryRow(sqlCancelState+" FOR UPDATE", id).Scan(&st.tenant, &st.status, &st.leaseUntil)
		if errors.Is(err, pgx.ErrNoRows) {
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

// AckEvents moves a cursor forward. The log's last seq is the event
// sequence's last value: it counts pruned events, so a consumer may ack an
// event that retention deleted meanwhile. (It also counts seqs drawn by
// transactions still open or rolled back; no consumer can have read those,
// since Events waits them out, so only a caller inventing seqs could ack
// one.)
func (s *pgStore) AckEvents(ctx context.Context, tenant, cursor string, seq int64) error {
	if err := checkAck(tenant, cursor, seq); err != nil {
		return err
	}
	return s.write(ctx, "ack events", func(w *ptx) error {
		var (
			last   int64
			called bool
		)
		if err := w.queryRow("SELECT last_value, is_called FROM events_seq_seq").Scan(&last, &called); err != nil {
			return fmt.Errorf("store: ack events %q/%q: %w", tenant, cursor, err)
		}
		if !called {
			last = 0
		}
		if seq > last {
			return ackAhead(tenant, cursor, seq, last)
		}
		if _, err := w.exec(`INSERT INTO event_cursors (tenant, name, seq, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant, name) DO UPDATE
			SET seq = GREATEST(event_cursors.seq, excluded.seq), updated_at = excluded.updated_at`,
			tenant, cursor, seq, w.nowNs); err != nil {
			return fmt.Errorf("store: ack events %q/%q: %w", tenant, cursor, err)
		}
		return nil
	})
}

// Cursor reads a cursor in one statement.
func (s *pgStore) Cursor(ctx context.Context, tenant, cursor string) (int64, error) {
	if cursor == "" {
		return 0, fmt.Errorf("store: cursor (tenant %q): empty cursor name", tenant)
	}
	var seq int64
	err := s.run(func() error {
		err := s.pool.QueryRow(ctx, sqlCursor, tenant, cursor).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
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

// PruneEvents deletes old events in one transaction. It draws no seq and
// takes no event lock: Events' wait is for seqs still to commit, and
// deleting committed rows leaves a gap a reader just passes over. The
// sequence never goes back, so new events number above every deleted one.
func (s *pgStore) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "events", sqlPruneEvents, before)
}

// prune runs one of the retention DELETEs (sqlPrune*, before as $1) and
// returns how many rows went.
func (s *pgStore) prune(ctx context.Context, what, sql string, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, "prune "+what, func(w *ptx) error {
		var err error
		if n, err = w.exec(sql, toNanos(before)); err != nil {
			return fmt.Errorf("store: prune %s: %w", what, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
