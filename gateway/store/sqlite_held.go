package store

import (
	"time"

	"github.com/openmf/smsgw/gateway"
)

// Held inserts: a message written once with its submit.
//
// A message the engine hands over at accept (leased to a worker of this
// node, see gateway.Message.LeaseUntil) is submitted to its carrier a few
// milliseconds later, and its RecordSubmits then rewrites the rows the
// writer has just inserted: the part's carrier id, the message's status,
// carrier and cost, and the messages_due index entry added for nothing. So
// the writer holds back the journaled insert of such a message (it is safe
// in the accept journal) until that message's RecordSubmits reaches the
// writer, and writes both in one batch: the rows are inserted as the
// submit leaves them (fold), and the submit's own statements are skipped.
// A held insert runs in the first batch that has any of:
//
//   - a RecordSubmits naming its message;
//   - an operation that is not beside held inserts (op.beside): anything
//     that could read or change a message the writer holds back (a
//     Cancel, a Reschedule, a Finish) lets every held insert run first;
//     so does a claim at a time a held message's lease has lapsed by;
//   - its time up (heldFor after it was journaled: the carrier is slow,
//     or the worker did not submit it);
//   - a read that must see the message (Get, List, GetByClientRef,
//     Backlog), through the journal's flushBelow, and Close.
//
// Until then the message's rows and its ACCEPTED event are not in the
// database. Reads of messages wait for it, as they wait for any journaled
// insert; reads of events do not, so a held message's ACCEPTED event takes
// its seq when it is written, together with its SUBMITTED event, rather
// than at accept (its time is still the accept's). Durability is
// unchanged: an id returned is in the journal, and a crash before the
// batch commits replays the message as accepted, exactly as a crash
// before its RecordSubmits committed resent it before.

// heldFor is how long the writer may hold back a handed-over message's
// insert for its submit record: above a real carrier's submit_sm_resp time
// (tens to hundreds of milliseconds), far below the hand-over lease.
const heldFor = time.Second

// heldMax bounds the inserts held back at once: a batch that brings them
// to it runs them all.
const heldMax = 4096

// heldInserts are the inserts the writer holds back, in arrival order.
type heldInserts struct {
	ops   []*op
	timer *time.Timer
}

// next waits for the next operation, or, while inserts are held, for the
// first one's time to be up or a flush asked for: then it returns nil.
// open is false once ops is closed.
func (h *heldInserts) next(ops <-chan *op, flush <-chan struct{}) (o *op, open bool) {
	if len(h.ops) == 0 {
		o, open = <-ops
		return o, open
	}
	first := h.ops[0].holdUntil
	for _, o := range h.ops[1:] {
		if o.holdUntil.Before(first) {
			first = o.holdUntil
		}
	}
	d := time.Until(first)
	if h.timer == nil {
		h.timer = time.NewTimer(d)
	} else {
		h.timer.Reset(d)
	}
	select {
	case o, open = <-ops:
		return o, open
	case <-h.timer.C:
	case <-flush:
	}
	return nil, true
}

// take returns what the writer runs next: the held inserts that must run
// now, first, then batch without the inserts it holds back from it. below
// is the journal group every insert under which must run (a read or Close
// waits for them); closing runs everything.
func (h *heldInserts) take(batch []*op, below uint64, closing bool, now time.Time) []*op {
	all := closing || len(h.ops) >= heldMax
	for _, o := range batch {
		if o.holdID == "" && !o.beside || !o.claimAt.IsZero() && h.lapsed(batch, o.claimAt) {
			all = true
		}
	}
	rest := batch[:0]
	var named map[string]bool // messages the batch's RecordSubmits name
	for _, o := range batch {
		if o.holdID != "" && !all && o.group >= below && now.Before(o.holdUntil) {
			h.ops = append(h.ops, o)
			continue
		}
		if o.submits != nil && !all {
			if named == nil {
				named = make(map[string]bool)
			}
			for _, r := range o.submits.recs {
				named[r.MessageID] = true
			}
		}
		rest = append(rest, o)
	}
	if len(h.ops) == 0 {
		return rest
	}
	// Never heldMax held once the batch is taken: held inserts count
	// toward the acceptor's room, which is no larger (journalMaxPending).
	all = all || len(h.ops) >= heldMax
	var run []*op
	keep := h.ops[:0]
	for _, o := range h.ops {
		if all || o.group < below || !now.Before(o.holdUntil) || named[o.holdID] {
			run = append(run, o)
		} else {
			keep = append(keep, o)
		}
	}
	clear(h.ops[len(keep):])
	h.ops = keep
	if len(run) == 0 {
		return rest
	}
	return append(run, rest...)
}

// lapsed says whether a message held back, or about to be in batch, has a
// lease that has lapsed at at: a claim then may take it.
func (h *heldInserts) lapsed(batch []*op, at time.Time) bool {
	for _, ops := range [][]*op{h.ops, batch} {
		for _, o := range ops {
			if o.holdID != "" && !o.accept.msgs[0].LeaseUntil.After(at) {
				return true
			}
		}
	}
	return false
}

// flushBelow is the journal group under which no insert may be held.
func (s *sqliteStore) flushBelow() uint64 {
	if s.aj == nil {
		return 0
	}
	return s.aj.flushBelow.Load()
}

// foldedMessage is what a RecordSubmits call in the batch that inserts its
// message adds to the message's rows, as recordSubmits would have written
// it after the insert: the insert writes it instead.
type foldedMessage struct {
	total submitTotal
	parts []foldedPart // by part index
}

// foldedPart is a part's last submit record in the call.
type foldedPart struct {
	recorded           bool
	carrier, carrierID string
	at                 int64
	cost               float64
}

// folds returns, by message id, the grouped RecordSubmits of an attempt
// that can be written with their messages' inserts: every record of the
// call names a part of a message a journaled insert of the same attempt
// stores as ACCEPTED, and no RecordSubmits outside the group names one of
// its messages (partition leaves one call per message in the group). nil
// when there are none.
func (w *wtx) folds(batch []*op, g batchGroups) map[string]*foldedMessage {
	if len(g.accepts) == 0 || len(g.submits) == 0 {
		return nil
	}
	inserted := make(map[string]*gateway.Message)
	for _, o := range g.accepts {
		a := o.accept
		if !a.journaled {
			continue // duplicates are decided in the group: ids may not be stored
		}
		for i, m := range a.msgs {
			if st, _ := acceptStatus(m); st == gateway.StatusAccepted {
				inserted[a.ids[i]] = m
			}
		}
	}
	if len(inserted) == 0 {
		return nil
	}
	for _, o := range batch {
		if o.submits != nil && !o.grouped {
			for _, r := range o.submits.recs {
				delete(inserted, r.MessageID)
			}
		}
	}
	var out map[string]*foldedMessage
	for _, o := range g.submits {
		c := o.submits
		fits := true
		for _, r := range c.recs {
			m := inserted[r.MessageID]
			if m == nil || r.Index < 0 || r.Index >= len(m.Parts) {
				fits = false
				break
			}
		}
		if !fits {
			continue
		}
		for _, r := range c.recs {
			m := inserted[r.MessageID]
			f := out[r.MessageID]
			if f == nil {
				if out == nil {
					out = make(map[string]*foldedMessage)
				}
				f = &foldedMessage{parts: make([]foldedPart, len(m.Parts))}
				f.total = submitTotal{call: c, tenant: m.Tenant, status: string(gateway.StatusAccepted),
					clientRef: m.ClientRef, found: true}
				out[r.MessageID] = f
			}
			at := w.nowNs
			if !r.At.IsZero() {
				at = r.At.UnixNano()
			}
			// As recordSubmits: a part keeps its last record, the message
			// adds up every record's cost.
			f.parts[r.Index] = foldedPart{recorded: true, carrier: r.Carrier, carrierID: r.CarrierID, at: at, cost: r.Cost}
			f.total.add(r, at)
		}
	}
	for _, f := range out {
		for _, p := range f.parts {
			if !p.recorded || p.carrierID == "" {
				f.total.unsent++
			}
		}
		f.total.done = f.total.unsent == 0
	}
	return out
}
