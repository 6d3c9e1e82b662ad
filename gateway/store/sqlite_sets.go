package store

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/openmf/smsgw/gateway"
)

// The set-based forms of RecordSubmits and RecordReceipts: the writer runs
// every such call of a batch together, with a few statements for the whole
// group (each an UPDATE ... FROM or a query over a VALUES list of the
// group's rows, cut in power-of-two pieces, see wtx.execRows), where
// running them one by one took several statements per record. A call alone is a group
// of one. The results are those of running the calls one after the other
// in batch order.

// submitCall is a RecordSubmits call as the writer sees it.
type submitCall struct {
	recs []gateway.SubmitRecord
	err  error // its own failure in the current attempt (an unknown part)
}

// receiptCall is a RecordReceipts call as the writer sees it.
type receiptCall struct {
	rs    []gateway.Receipt
	tally gateway.ReceiptTally
}

// SQL of the set-based RecordSubmits.
var (
	// The parts, by (message_id, idx) in column5 and column6.
	submitPartsQuery = rowsQuery{
		head: `UPDATE parts SET carrier = j.column1, carrier_id = j.column2,
		status = CASE WHEN status IN ('ACCEPTED', 'SUBMITTED') THEN 'SUBMITTED' ELSE status END,
		submitted_at = j.column3, updated_at = j.column3, cost = j.column4
		FROM (VALUES`,
		row:  []string{"?", "?", "?", "?", "?", "?"},
		tail: `) AS j WHERE parts.message_id = j.column5 AND parts.idx = j.column6`,
	}
	// Each message's tenant, status and parts still without a carrier id.
	submitStateQuery = rowsQuery{
		head: `SELECT m.id, m.tenant, m.status, m.client_ref,
		(SELECT COUNT(*) FROM parts WHERE message_id = m.id AND carrier_id = '')
		FROM (VALUES`,
		row:  []string{"?"},
		tail: `) AS j JOIN messages m ON m.id = j.column1`,
	}
	// The totals; column5 says the message is now SUBMITTED (no part left
	// unsent), which also releases its lease. The fixed argument is the
	// update time.
	submitTotalsQuery = rowsQuery{
		head: `UPDATE messages SET carrier = COALESCE(NULLIF(j.column2, ''), carrier), cost = cost + j.column3,
		currency = COALESCE(NULLIF(j.column4, ''), currency), updated_at = ?,
		status = CASE WHEN j.column5 THEN 'SUBMITTED' ELSE status END,
		lease_until = CASE WHEN j.column5 THEN 0 ELSE lease_until END
		FROM (VALUES`,
		row:  []string{"?", "?", "?", "?", "?"},
		tail: `) AS j WHERE messages.id = j.column1`,
	}
	// The stored receipts waiting for any of the (carrier, carrier id)
	// pairs that arrived at or after the fixed argument (gateway.ReceiptRace ago),
	// in arrival order.
	unmatchedQuery = rowsQuery{
		head: `WITH lim(since) AS (SELECT ?)
		SELECT u.id, u.carrier, u.carrier_id, u.status, u.state, u.error, u.at FROM (VALUES`,
		row: []string{"?", "?"},
		tail: `) AS k JOIN unmatched_receipts u ON u.carrier = k.column1 AND u.carrier_id = k.column2
		AND u.received_at >= (SELECT since FROM lim) ORDER BY u.id`,
	}
)

const insertAttemptsHead = `INSERT INTO attempts (message_id, carrier, outcome, detail, at) VALUES`

var attemptRow = []string{"?", "?", "?", "?", "?"}

// submitTotal is what one call's records add to one message.
type submitTotal struct {
	call              *submitCall
	carrier, currency string
	cost              float64
	at                int64 // the latest record's time
	tenant, status    string
	clientRef         string // for the event tail
	unsent            int
	found, done       bool
}

// add counts record r, made at at, into the message's totals: the last
// carrier and currency given, the sum of the costs, the latest time.
func (t *submitTotal) add(r gateway.SubmitRecord, at int64) {
	t.carrier = r.Carrier
	if r.Currency != "" {
		t.currency = r.Currency
	}
	t.cost += r.Cost
	t.at = max(t.at, at)
}

// recordSubmits runs calls, whose messages are disjoint (see partition),
// as one group: each part takes its last record, each message its totals
// (and SUBMITTED with one event once no part is left unsent) and one
// "submitted" attempt, then receipts waiting for the recorded ids are
// applied. A call naming a part that does not exist gets its err set (the
// parts of the group are written by then, so the caller replays without
// it); any returned error is the group's. The messages in folded were
// inserted by this batch with their calls' records written in (see
// heldInserts): their parts and totals are not written again.
func (w *wtx) recordSubmits(calls []*submitCall, folded map[string]*foldedMessage) error {
	type partKey struct {
		msgID string
		idx   int
	}
	var (
		nrecs  int
		msgs   []string // in first-record order
		totals = make(map[string]*submitTotal)
	)
	for _, c := range calls {
		c.err = nil
		nrecs += len(c.recs)
	}
	parts := make([]any, 0, 6*nrecs)
	rowOf := make(map[partKey]int, nrecs) // a part's first argument in parts
	for _, c := range calls {
		if len(c.recs) > 0 && folded[c.recs[0].MessageID] != nil {
			// Folded whole (see wtx.folds): its totals are known.
			for _, r := range c.recs {
				if totals[r.MessageID] == nil {
					totals[r.MessageID] = &folded[r.MessageID].total
					msgs = append(msgs, r.MessageID)
				}
			}
			continue
		}
		for _, r := range c.recs {
			at := w.nowNs
			if !r.At.IsZero() {
				at = r.At.UnixNano()
			}
			k := partKey{r.MessageID, r.Index}
			if i, ok := rowOf[k]; ok { // recorded again: the last record wins
				parts[i], parts[i+1], parts[i+2], parts[i+3] = r.Carrier, r.CarrierID, at, r.Cost
			} else {
				rowOf[k] = len(parts)
				parts = append(parts, r.Carrier, r.CarrierID, at, r.Cost, r.MessageID, r.Index)
			}
			t := totals[r.MessageID]
			if t == nil {
				t = &submitTotal{call: c}
				totals[r.MessageID] = t
				msgs = append(msgs, r.MessageID)
			}
			t.add(r, at)
		}
	}
	n, err := w.execRows(submitPartsQuery, setRowsMax, nil, parts)
	if err != nil {
		return err
	}
	if int(n) < len(rowOf) {
		return w.unknownParts(calls, int(n), len(rowOf))
	}

	ids := make([]any, 0, len(msgs))
	for _, id := range msgs {
		if folded[id] == nil {
			ids = append(ids, id)
		}
	}
	err = w.queryRows(submitStateQuery, nil, ids, func(rows *sql.Rows) error {
		var (
			id, tenant, status, ref string
			unsent                  int
		)
		if err := rows.Scan(&id, &tenant, &status, &ref, &unsent); err != nil {
			return err
		}
		if t := totals[id]; t != nil {
			t.tenant, t.status, t.clientRef, t.unsent, t.found = tenant, status, ref, unsent, true
		}
		return nil
	})
	if err != nil {
		return err
	}
	upd := make([]any, 0, 5*len(ids))
	attempts := make([]any, 0, 5*len(msgs))
	for _, id := range msgs {
		t := totals[id]
		if !t.found {
			return fmt.Errorf("store: record submits %s: %w", id, sql.ErrNoRows)
		}
		attempts = append(attempts, id, t.carrier, "submitted", "", t.at)
		if folded[id] != nil {
			continue
		}
		t.done = gateway.Status(t.status) == gateway.StatusAccepted && t.unsent == 0
		upd = append(upd, id, t.carrier, t.cost, t.currency, t.done)
	}
	if _, err := w.execRows(submitTotalsQuery, setRowsMax, []any{w.nowNs}, upd); err != nil {
		return err
	}
	if err := w.insertRows(insertAttemptsHead, attemptRow, attempts); err != nil {
		return err
	}
	waiting, err := w.waitingFor(calls)
	if err != nil {
		return err
	}
	// Call by call, as one after the other: its SUBMITTED events, then the
	// receipts that waited for its ids.
	next := 0
	for _, c := range calls {
		for ; next < len(msgs) && totals[msgs[next]].call == c; next++ {
			if t := totals[msgs[next]]; t.done {
				w.event(t.tenant, msgs[next], gateway.StatusSubmitted, "")
			}
		}
		if err := w.applyWaiting(c, waiting); err != nil {
			return err
		}
	}
	for _, id := range msgs {
		cs := carrierSet{msgID: id, carrier: totals[id].carrier, clientRef: totals[id].clientRef}
		if f := folded[id]; f != nil {
			if p := f.parts[0]; p.recorded {
				cs.part0, cs.partCarrier, cs.carrierID = true, p.carrier, p.carrierID
			}
		} else if i, ok := rowOf[partKey{id, 0}]; ok {
			cs.part0, cs.partCarrier, cs.carrierID = true, parts[i].(string), parts[i+1].(string)
		}
		w.carriers = append(w.carriers, cs)
	}
	return nil
}

// unknownParts sets the err of each call that names a part that does not
// exist, for its first such record; updated of want parts were found. Only
// a failed group gets here.
func (w *wtx) unknownParts(calls []*submitCall, updated, want int) error {
	failed := false
	for _, c := range calls {
		for _, r := range c.recs {
			var one int
			err := w.queryRow("SELECT 1 FROM parts WHERE message_id = $1 AND idx = $2", r.MessageID, r.Index).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				c.err = fmt.Errorf("store: record submit %s part %d: %w", r.MessageID, r.Index, gateway.ErrNotFound)
				failed = true
				break
			}
			if err != nil {
				return err
			}
		}
	}
	if !failed {
		return fmt.Errorf("store: record submits: %d of %d parts updated, none missing", updated, want)
	}
	return nil
}

// waitingFor finds the stored receipts that wait for any (carrier,
// carrier id) the calls record, by pair, in arrival order: one statement
// for the group, none when unmatched_receipts is empty.
func (w *wtx) waitingFor(calls []*submitCall) (map[idKey][]waitingReceipt, error) {
	if has, err := w.anyUnmatched(); err != nil || !has {
		return nil, err
	}
	seen := make(map[idKey]bool)
	var keys []any
	for _, c := range calls {
		for _, r := range c.recs {
			for _, id := range keptIDs(r.CarrierID) {
				k := idKey{r.Carrier, id}
				if !seen[k] {
					seen[k] = true
					keys = append(keys, r.Carrier, id)
				}
			}
		}
	}
	waiting := make(map[idKey][]waitingReceipt)
	err := w.queryRows(unmatchedQuery, []any{w.nowNs - int64(gateway.ReceiptRace)}, keys, func(rows *sql.Rows) error {
		var (
			x      waitingReceipt
			status string
			at     int64
		)
		if err := rows.Scan(&x.id, &x.Carrier, &x.CarrierID, &status, &x.State, &x.Error, &at); err != nil {
			return err
		}
		x.Status = gateway.Status(status)
		x.Time = fromNanos(at)
		k := idKey{x.Carrier, x.CarrierID}
		waiting[k] = append(waiting[k], x)
		return nil
	})
	return waiting, err
}

// applyWaiting applies, for each (message, carrier, carrier id) c records
// in record order, the waiting receipts for that id in arrival order to
// every part of the message with it, and forgets them. A receipt goes to
// the first triple that names its id, as when the calls ran one by one
// (that one deleted it), so applyWaiting takes it out of waiting. This is
// rare, and takes a few statements per receipt.
func (w *wtx) applyWaiting(c *submitCall, waiting map[idKey][]waitingReceipt) error {
	if len(waiting) == 0 {
		return nil
	}
	type triple struct{ msgID, carrier, carrierID string }
	seen := make(map[triple]bool, len(c.recs))
	for _, r := range c.recs {
		tr := triple{r.MessageID, r.Carrier, r.CarrierID}
		if seen[tr] {
			continue
		}
		seen[tr] = true
		var ws []waitingReceipt
		for _, id := range keptIDs(r.CarrierID) {
			k := idKey{r.Carrier, id}
			ws = append(ws, waiting[k]...)
			delete(waiting, k)
		}
		slices.SortFunc(ws, func(a, b waitingReceipt) int { return cmp.Compare(a.id, b.id) }) // arrival order
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

// SQL of the set-based RecordReceipts.
var (
	// targetsQuery finds, for each (carrier, carrier id), the message a
	// receipt for it may apply to (the latest to record that id with a part
	// not final yet, else the latest at all, since carriers recycle ids)
	// with every part of that message.
	targetsQuery = rowsQuery{
		head: `WITH k(carrier, carrier_id) AS (VALUES`,
		row:  []string{"?", "?"},
		tail: `)
		SELECT k.carrier, k.carrier_id, m.id, m.tenant, m.status, m.part_count,
			p.idx, p.carrier, p.carrier_id, p.status, p.error, p.submitted_at
		FROM k JOIN messages m ON m.id = (
			SELECT message_id FROM parts WHERE carrier = k.carrier AND carrier_id = k.carrier_id AND carrier_id <> ''
			ORDER BY status <> 'SUBMITTED', submitted_at DESC, message_id DESC LIMIT 1)
		JOIN parts p ON p.message_id = m.id`,
	}
	// receiptPartsQuery writes the parts receipts changed; the fixed
	// argument is the update time.
	receiptPartsQuery = rowsQuery{
		head: `UPDATE parts SET status = j.column3, error = j.column4, updated_at = ? FROM (VALUES`,
		row:  []string{"?", "?", "?", "?"},
		tail: `) AS j WHERE parts.message_id = j.column1 AND parts.idx = j.column2`,
	}
	// receiptMessagesQuery finishes the messages receipts made final,
	// releasing any lease; the fixed argument is the update time.
	receiptMessagesQuery = rowsQuery{
		head: `UPDATE messages SET status = j.column2, last_error = j.column3, lease_until = 0, updated_at = ? FROM (VALUES`,
		row:  []string{"?", "?", "?"},
		tail: `) AS j WHERE messages.id = j.column1`,
	}
)

const keepReceiptsHead = `INSERT INTO unmatched_receipts (carrier, carrier_id, status, state, error, at, received_at, named) VALUES`

var keepReceiptRow = []string{"?", "?", "?", "?", "?", "?", "?", "?"}

// recordReceipts runs calls as one group: one query loads the target of
// every (carrier, carrier id) named and every part of those messages;
// applyReceipt then runs for each receipt in call order on that state in
// memory (a receiptSet), exactly as it would on the rows; and the parts
// and messages it changed are written back with one statement each, the
// receipts that matched nothing kept with one more.
func (w *wtx) recordReceipts(calls []*receiptCall) error {
	rs := receiptSet{w: w, msgs: make(map[string]*receiptMsg), targets: make(map[idKey]*receiptTgt)}
	// First the ids the receipts carry; their other readings (AltIDs,
	// two or three a receipt with id base auto) only for the receipts
	// that may need them, which are few (see altsNeeded).
	var keys []any
	seen := make(map[idKey]bool)
	named := make(map[idKey]int) // how many receipts of the group name a key, by any of their ids
	for _, c := range calls {
		c.tally = gateway.ReceiptTally{}
		for _, r := range c.rs {
			for _, id := range receiptIDs(r) {
				named[idKey{r.Carrier, id}]++
			}
			k := idKey{r.Carrier, r.CarrierID}
			if r.CarrierID == "" || seen[k] {
				continue
			}
			seen[k] = true
			keys = append(keys, r.Carrier, r.CarrierID)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if err := w.queryRows(targetsQuery, nil, keys, rs.scan); err != nil {
		return err
	}
	keys = keys[:0]
	for _, c := range calls {
		for _, r := range c.rs {
			if !rs.altsNeeded(r, w.nowNs, named) {
				continue
			}
			for _, id := range r.AltIDs {
				k := idKey{r.Carrier, id}
				if id == "" || seen[k] {
					continue
				}
				seen[k] = true
				keys = append(keys, r.Carrier, id)
			}
		}
	}
	if len(keys) > 0 {
		if err := w.queryRows(targetsQuery, nil, keys, rs.scan); err != nil {
			return err
		}
	}
	for _, m := range rs.msgs {
		slices.SortFunc(m.parts, func(a, b partState) int { return a.idx - b.idx })
	}
	for _, t := range rs.targets {
		slices.Sort(t.idxs)
	}
	var kept []any
	for _, c := range calls {
		for _, r := range c.rs {
			if r.CarrierID == "" {
				continue
			}
			t, ok, named := pick(r, w.nowNs, func(id string) (receiptTarget, bool) { return rs.target(idKey{r.Carrier, id}) })
			if !ok {
				if !r.Status.Final() {
					if named {
						tallyStale(&c.tally, r)
					}
					continue
				}
				if named {
					c.tally.Held++
				}
				w.unmatchedAny = true
				kept = append(kept, r.Carrier, r.CarrierID, string(r.Status), r.State, r.Error, toNanos(r.Time), w.nowNs, named)
				continue
			}
			c.tally.Matched++
			if err := applyReceipt(&rs, t, r); err != nil {
				return fmt.Errorf("store: record receipt %s/%s: %w", r.Carrier, r.CarrierID, err)
			}
		}
	}
	return rs.flush(kept)
}

// idKey is what a receipt names: (carrier, carrier id).
type idKey struct{ carrier, carrierID string }

// receiptTgt is the message a idKey's receipts apply to and the
// indexes of its parts with that id.
type receiptTgt struct {
	msgID string
	idxs  []int
	at    int64 // the latest submission of those parts, ns
}

// receiptMsg is a target message as the receipts of a group leave it.
type receiptMsg struct {
	tenant    string
	status    gateway.Status
	lastErr   string
	partCount int
	parts     []partState // every part, by index
	loadedBy  idKey       // the key whose rows brought its parts
	finished  bool        // finishMessage ran: the message row is written
}

type partRef struct {
	msgID string
	idx   int
}

// receiptSet is the receiptWriter of a receipt group: it changes the
// loaded state and notes what to write back (flush).
type receiptSet struct {
	w        *wtx
	msgs     map[string]*receiptMsg
	targets  map[idKey]*receiptTgt
	changed  []partRef // parts to write, each once, in the order first changed
	isDirty  map[partRef]bool
	finished []string // messages to write, in the order finished
}

// scan reads one row of targetsQuery.
func (rs *receiptSet) scan(rows *sql.Rows) error {
	var (
		k                            idKey
		msgID, tenant, msgStatus     string
		partCount                    int
		p                            partState
		pCarrier, pCarrierID, status string
		submittedAt                  int64
	)
	if err := rows.Scan(&k.carrier, &k.carrierID, &msgID, &tenant, &msgStatus, &partCount,
		&p.idx, &pCarrier, &pCarrierID, &status, &p.err, &submittedAt); err != nil {
		return err
	}
	p.status = gateway.Status(status)
	m := rs.msgs[msgID]
	if m == nil {
		m = &receiptMsg{tenant: tenant, status: gateway.Status(msgStatus), partCount: partCount, loadedBy: k}
		rs.msgs[msgID] = m
	}
	if m.loadedBy == k {
		m.parts = append(m.parts, p)
	}
	t := rs.targets[k]
	if t == nil {
		t = &receiptTgt{msgID: msgID}
		rs.targets[k] = t
	}
	if pCarrier == k.carrier && pCarrierID == k.carrierID {
		t.idxs = append(t.idxs, p.idx)
		t.at = max(t.at, submittedAt)
	}
	return nil
}

// altsNeeded says whether pick may look past r's own id to its other
// readings while the group is applied, so their targets must be loaded
// too. It may not when r's id names a part that takes r as loaded and no
// other receipt of the group names that id (by any reading): only a
// receipt applied to that id changes its parts, so the part still takes r
// when r's turn comes, and pick stops at r's own id. Both loads run before
// any receipt is applied, in one transaction, so they read one state.
func (rs *receiptSet) altsNeeded(r gateway.Receipt, now int64, named map[idKey]int) bool {
	if len(r.AltIDs) == 0 || r.CarrierID == "" { // the latter is never applied
		return false
	}
	k := idKey{r.Carrier, r.CarrierID}
	if named[k] > 1 {
		return true
	}
	t, ok := rs.target(k)
	return !ok || !t.takes(r, now)
}

// target is the receiptTarget of key as the group has left it so far.
func (rs *receiptSet) target(k idKey) (receiptTarget, bool) {
	t := rs.targets[k]
	if t == nil || len(t.idxs) == 0 {
		return receiptTarget{}, false
	}
	m := rs.msgs[t.msgID]
	rt := receiptTarget{msgID: t.msgID, tenant: m.tenant, msgStatus: m.status, partCount: m.partCount,
		parts: make([]partState, 0, len(t.idxs)), submittedAt: t.at}
	for _, idx := range t.idxs {
		if p := m.part(idx); p != nil {
			rt.parts = append(rt.parts, *p)
		}
	}
	return rt, true
}

func (m *receiptMsg) part(idx int) *partState {
	if idx >= 0 && idx < len(m.parts) && m.parts[idx].idx == idx {
		return &m.parts[idx]
	}
	for i := range m.parts {
		if m.parts[i].idx == idx {
			return &m.parts[i]
		}
	}
	return nil
}

func (rs *receiptSet) mark(msgID string, idx int) {
	ref := partRef{msgID, idx}
	if rs.isDirty == nil {
		rs.isDirty = make(map[partRef]bool)
	}
	if !rs.isDirty[ref] {
		rs.isDirty[ref] = true
		rs.changed = append(rs.changed, ref)
	}
}

func (rs *receiptSet) touchPart(msgID string, idx int) error {
	rs.mark(msgID, idx)
	return nil
}

func (rs *receiptSet) setPart(msgID string, idx int, status gateway.Status, partErr string) error {
	p := rs.msgs[msgID].part(idx)
	if p == nil {
		return fmt.Errorf("message %s has no part %d", msgID, idx)
	}
	p.status, p.err = status, partErr
	rs.mark(msgID, idx)
	return nil
}

func (rs *receiptSet) partStates(msgID string) ([]partState, error) {
	return slices.Clone(rs.msgs[msgID].parts), nil
}

func (rs *receiptSet) finishMessage(msgID string, status gateway.Status, lastErr string) error {
	m := rs.msgs[msgID]
	m.status, m.lastErr = status, lastErr
	if !m.finished {
		m.finished = true
		rs.finished = append(rs.finished, msgID)
	}
	return nil
}

func (rs *receiptSet) event(tenant, msgID string, status gateway.Status, detail string) {
	rs.w.event(tenant, msgID, status, detail)
}

// flush writes what the group changed: the parts (an intermediate
// receipt's touch writes the part's status and error back unchanged, with
// the new time), the finished messages and the kept receipts.
func (rs *receiptSet) flush(kept []any) error {
	w := rs.w
	if len(rs.changed) > 0 {
		args := make([]any, 0, 4*len(rs.changed))
		for _, ref := range rs.changed {
			p := rs.msgs[ref.msgID].part(ref.idx)
			args = append(args, ref.msgID, ref.idx, string(p.status), p.err)
		}
		if _, err := w.execRows(receiptPartsQuery, setRowsMax, []any{w.nowNs}, args); err != nil {
			return err
		}
	}
	if len(rs.finished) > 0 {
		args := make([]any, 0, 3*len(rs.finished))
		for _, id := range rs.finished {
			m := rs.msgs[id]
			args = append(args, id, string(m.status), m.lastErr)
		}
		if _, err := w.execRows(receiptMessagesQuery, setRowsMax, []any{w.nowNs}, args); err != nil {
			return err
		}
	}
	return w.insertRows(keepReceiptsHead, keepReceiptRow, kept)
}
