package store

import (
	"context"
	"encoding/json"
	"maps"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/openmf/smsgw/gateway"
)

// eventTail is the newest part of the SQLite store's event log, kept in
// memory so that followers near the head (the gRPC stream, the outbox's
// followers) read new events without SQLite: reading them back was a
// tenth of the process's CPU under load. The writer fills it after each
// COMMIT with the events it has just appended, so a rolled-back batch
// never reaches it; Events and EventsWithMessages answer from it when
// fromSeq is at or after its first seq, and from SQLite otherwise.
//
// It holds the seqs start..start+n-1 with no hole: AUTOINCREMENT hands a
// committed batch's events consecutive seqs (a rolled-back batch's seqs
// are handed out again, sqlite_sequence being rolled back with it), and
// anything else (a failed COMMIT, whose outcome is unknown) empties it
// until the next batch says where the log stands.
//
// A status event's message (its client ref, and what EventMessage holds)
// comes from tailMsg, made when the message's insert commits and kept while
// the message is in flight (until its final status: receipts come seconds
// after the accept, long after its event left a busy tail) and while one
// of its events is in the tail, if there was room for it (see trim); the
// writer updates its carrier after a commit that recorded submits, so it
// reads as SQLite would at that moment. An event whose message the tail
// does not know (accepted before the store opened, or when there was no
// room, or nobody read) is completed with one batched read; for Events,
// which needs only the client ref, refs first answers for the messages
// accepted with no room left, those submitted lately (the writer reads
// the client ref with the submit's state) and those a read completed (a
// message's submit and receipt come close together, long after its
// accept in a backlog).
//
// A tail nobody reads (no follower, as when a Fineract page of 100,000
// messages streams in and nothing follows the log) is memory for nothing:
// after tailUnread without a read it keeps no message and at most
// minTailRing events, and lets go of what it held; the first read after
// that starts it filling again (older events come from SQLite meanwhile).
type eventTail struct {
	mu       sync.RWMutex
	valid    bool        // start is known; false after a failed COMMIT
	start    int64       // the first seq the tail answers for
	ring     []tailEvent // grows by doubling up to cap
	cap      int
	head, n  int // ring[head] has seq start; n events in all
	bytes    int // their size
	maxBytes int // bounds bytes, liveBytes and heldBytes together

	// msgs finds the messages in flight and those of events in the tail
	// by id; live holds the ones in flight, oldest first (some may have
	// finished since). Only the writer uses them (under mu, as it changes
	// the ring at the same time).
	msgs map[string]*tailMsg
	live []*tailMsg
	// liveBytes are the messages in flight; heldBytes those kept only for
	// their events. Together they take two thirds of maxBytes at most,
	// the events the rest.
	liveBytes, heldBytes int

	// refs are the client refs of messages the tail does not keep, so a
	// reader of Events (the gRPC stream: a client ref is all it needs of a
	// message) does not ask SQLite for them again.
	refs clientRefs

	// lastRead is when a reader last asked (UnixNano, the real clock).
	lastRead atomic.Int64
}

// tailEvent is one event of the tail, as flushEvents appended it.
type tailEvent struct {
	kind   gateway.EventKind
	tenant string
	msgID  string
	status gateway.Status
	detail string
	at     int64
	in     *gateway.Inbound    // inbound events: the message as stored
	audit  *gateway.AuditEntry // audit events: the entry (detail is then empty)
	msg    *tailMsg            // status events whose message the tail knows
	size   int
}

// tailMsg is what events read of a message. em is replaced, never
// changed, so readers may hand it out as it is.
type tailMsg struct {
	id        string
	clientRef string
	em        *gateway.EventMessage
	// carrier and partCarrier are messages.carrier and part 0's carrier,
	// from which em.Carrier is derived (see eventMessageCols.message).
	carrier, partCarrier string
	refs                 int  // events of the tail that point here
	live                 bool // in flight: kept without events
	size                 int
	at                   int64 // accepted
}

// tailUnread is how long the tail goes without a read before it stops
// keeping messages and shrinks its ring: a follower reads at least once per
// poll interval (half a second by default) while it keeps up.
const tailUnread = 30 * time.Second

// tailStale is how long a message stays in flight for the tail at most
// when the bound is reached: one that never gets a final status (no
// receipt) must not hold its place for good.
const tailStale = int64(10 * time.Minute)

// DefaultEventTail is how many of the newest events the SQLite store keeps
// in memory for followers when Options.EventTail is zero; maxTailBytes
// bounds them too.
const DefaultEventTail = 1 << 16

// maxTailBytes bounds the tail's memory, events and messages (as bytes
// counts them, about the heap they hold): the events take at most a
// third, ~32,000 of them, and the messages the rest, ~8,000 Kannel
// sendsms with their dlr-urls or ~17,000 without metadata. The
// 1,000,000-message backlog's RSS leaves little more room under 256 MiB.
const maxTailBytes = 12 << 20

// tailSlot is the memory of one slot of the ring.
const tailSlot = 120

// tailEventBytes is what the byte bound allows an event of a short tail
// (tests), so that it too bounds by bytes.
const tailEventBytes = 1 << 10

// minTailRing is the ring's first size; it doubles as events come, up to
// the tail's count, so an idle store holds a few KiB, not the full ring.
const minTailRing = 1 << 10

func newEventTail(events int, next int64) *eventTail {
	maxBytes := min(maxTailBytes, events*tailEventBytes)
	size := 1
	for size < events && 2*size*tailSlot <= maxBytes/3 {
		size *= 2
	}
	return &eventTail{valid: true, start: next, ring: make([]tailEvent, min(size, minTailRing)), cap: size,
		maxBytes: maxBytes, msgs: make(map[string]*tailMsg)}
}

// newTailMsg is message id as accept stores m: no carrier yet. size is
// tailMsgBytes of the same.
func newTailMsg(id string, m *gateway.Message, size int) *tailMsg {
	return &tailMsg{id: id, clientRef: m.ClientRef, em: &gateway.EventMessage{
		From: m.From, To: m.To, Encoding: m.Encoding, Meta: storedMeta(m.Meta)}, size: size}
}

// storedMeta is meta as decodeMeta reads it back from encodeMeta's JSON
// (nil when empty; invalid UTF-8 replaced), without the JSON when there is
// nothing JSON would change.
func storedMeta(meta map[string]string) map[string]string {
	if len(meta) == 0 {
		return nil
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			b, _ := json.Marshal(meta) // a map[string]string always marshals
			var out map[string]string
			_ = json.Unmarshal(b, &out)
			return out
		}
	}
	return maps.Clone(meta)
}

// bytes is the memory an event takes (its slot of the ring, and what it
// alone points to); tenants and message ids are shared with others.
func (e *tailEvent) bytes() int {
	n := tailSlot + len(e.detail)
	if a := e.audit; a != nil {
		n += 160 + len(a.User) + len(a.Role) + len(a.Tenant) + len(a.Source) + len(a.Action) + len(a.Target) + len(a.Outcome)
	}
	if e.in != nil {
		n += 176 + len(e.in.ID) + len(e.in.Carrier) + len(e.in.CarrierRef) + len(e.in.From) +
			len(e.in.To) + len(e.in.Text) + len(e.in.Keyword)
	}
	return n
}

// tailMsgBytes is the memory the tail's copy of message id, as accept
// stores m, takes: its entries in msgs, its EventMessage (a submit makes
// another, and the carrier ids with it) and metadata map. Measured with
// the heap profile of a full tail. It is worked out before the copy is
// made, so that a message there is no room for costs nothing.
func tailMsgBytes(id string, m *gateway.Message) int {
	n := 400 + len(id) + len(m.ClientRef) + len(m.From) + len(m.To)
	if len(m.Meta) > 0 {
		n += 350
		for k, v := range m.Meta {
			n += 16 + len(k) + len(v)
		}
	}
	return n
}

// carrierSet is what one recordSubmits call did to a message's carrier
// columns: messages.carrier takes carrier unless it is empty, part 0 its
// carrier and carrier id when part0 is set. clientRef is the message's, as
// read with it, for refs when the tail does not keep the message.
type carrierSet struct {
	msgID                  string
	carrier                string
	part0                  bool
	partCarrier, carrierID string
	clientRef              string
}

// commit adds a committed batch to the tail: its events, numbered from
// first, and its submits' carriers. Only the writer calls it.
func (t *eventTail) commit(first int64, rows []eventRow, at int64, sets []carrierSet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(rows) > 0 && (!t.valid || first != t.start+int64(t.n)) {
		t.clear()
		t.valid, t.start = true, first
	}
	followed := t.followed()
	for _, r := range rows {
		if r.accepted != nil && followed {
			// Kept while the messages fit in two thirds of the bound; past
			// it, not at all (its events are completed from SQLite), so
			// that a backlog keeps its oldest messages, the next to be sent.
			size := tailMsgBytes(r.msgID, r.accepted)
			if t.msgRoom() < size {
				t.refs.put(r.msgID, r.accepted.ClientRef)
				continue
			}
			m := newTailMsg(r.msgID, r.accepted, size)
			m.at, m.live = at, true
			t.msgs[m.id] = m
			t.live = append(t.live, m)
			t.liveBytes += m.size
		}
	}
	for _, c := range sets {
		m := t.msgs[c.msgID]
		if m == nil {
			if followed {
				// Its SUBMITTED event, in this batch, and its receipt's
				// come next: in a backlog, long after its accept.
				t.refs.put(c.msgID, c.clientRef)
			}
			continue
		}
		if c.carrier != "" {
			m.carrier = c.carrier
		}
		if c.part0 {
			m.partCarrier = c.partCarrier
		}
		em := *m.em
		if c.part0 {
			em.CarrierID = c.carrierID
		}
		em.Carrier = m.carrier
		if em.Carrier == "" {
			em.Carrier = m.partCarrier
		}
		m.em = &em
	}
	for _, r := range rows {
		e := tailEvent{kind: r.kind, tenant: r.tenant, msgID: r.msgID, status: r.status, detail: r.detail,
			at: r.time(at), in: r.inbound, audit: r.audit}
		if r.audit != nil {
			e.detail = "" // as readAuditEvent leaves it
		}
		e.size = e.bytes()
		if r.msgID != "" {
			e.msg = t.msgs[r.msgID]
		}
		if m := e.msg; m != nil {
			m.refs++
			if r.status.Final() {
				t.land(m)
			}
		}
		if t.n == len(t.ring) && len(t.ring) < t.cap && followed {
			t.resize(2 * len(t.ring))
		}
		if t.n == len(t.ring) {
			t.drop()
		}
		t.ring[(t.head+t.n)&(len(t.ring)-1)] = e
		t.n++
		t.bytes += e.size
	}
	t.trim(at, followed)
}

// trim keeps the tail within maxBytes at time now: it drops the oldest
// events while they take over a third of it, and when the messages have
// no room left, forgets those in flight for over tailStale, oldest first.
// It also takes the messages no longer in flight off the front of live,
// and keeps live within 4 entries a message the bytes allow, whatever
// message is stuck at its front. Unless followed, it lets go of the
// messages in flight and of the ring beyond minTailRing events.
func (t *eventTail) trim(now int64, followed bool) {
	if !followed {
		if len(t.ring) > minTailRing {
			for t.n > minTailRing {
				t.drop()
			}
			t.resize(minTailRing)
		}
		if len(t.msgs) > 0 || t.live != nil {
			// Events whose messages go are completed from SQLite.
			for i := range t.n {
				e := &t.ring[(t.head+i)&(len(t.ring)-1)]
				if m := e.msg; m != nil {
					m.refs--
					e.msg = nil
				}
			}
			for len(t.live) > 0 {
				t.popLive()
			}
			for _, m := range t.msgs {
				t.forget(m)
			}
			// Maps and slices keep their size once grown.
			t.msgs, t.live = make(map[string]*tailMsg), nil
		}
		t.refs.forget()
	}
	for len(t.live) > 0 && (!t.live[0].live || len(t.live) > 4*(t.maxBytes/400)) {
		t.popLive()
	}
	for t.n > 0 && t.bytes > t.maxBytes/3 {
		t.drop()
	}
	for len(t.live) > 0 && t.msgRoom() < 512 && now-t.live[0].at > tailStale {
		t.popLive()
	}
}

// msgRoom is how many bytes more messages may take.
func (t *eventTail) msgRoom() int {
	return 2*t.maxBytes/3 - t.liveBytes - t.heldBytes
}

// popLive takes the oldest message off live.
func (t *eventTail) popLive() {
	m := t.live[0]
	t.live[0] = nil
	t.live = t.live[1:]
	t.land(m)
	t.forget(m)
}

// land ends m's time in flight: it stays while its events do.
func (t *eventTail) land(m *tailMsg) {
	if m.live {
		m.live = false
		t.liveBytes -= m.size
		t.heldBytes += m.size
	}
}

// forget deletes m from msgs once it is neither in flight nor pointed to.
func (t *eventTail) forget(m *tailMsg) {
	if m.live || m.refs > 0 || t.msgs[m.id] != m {
		return
	}
	delete(t.msgs, m.id)
	t.heldBytes -= m.size
}

// resize moves the ring's events, which must fit, to a new ring of size
// slots (a power of two).
func (t *eventTail) resize(size int) {
	ring := make([]tailEvent, size)
	for i := range t.n {
		ring[i] = t.ring[(t.head+i)&(len(t.ring)-1)]
	}
	t.ring, t.head = ring, 0
}

// drop removes the oldest event.
func (t *eventTail) drop() {
	e := &t.ring[t.head]
	if m := e.msg; m != nil {
		m.refs--
		t.forget(m)
	}
	t.bytes -= e.size
	*e = tailEvent{}
	t.head = (t.head + 1) & (len(t.ring) - 1)
	t.n--
	t.start++
}

// clear empties the ring, keeping start.
func (t *eventTail) clear() {
	for t.n > 0 {
		t.drop()
	}
	clear(t.msgs)
	clear(t.live)
	t.live, t.liveBytes, t.heldBytes = t.live[:0], 0, 0
}

// dropThrough removes the events at or below seq, which the current batch
// deletes. It runs before the COMMIT: should the COMMIT fail, those
// events are still read from SQLite.
func (t *eventTail) dropThrough(seq int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.n > 0 && t.start <= seq {
		t.drop()
	}
	t.start = max(t.start, seq+1)
}

// fail forgets the tail after a COMMIT that failed: whether its events
// are in the log is not known, so every read goes to SQLite until a batch
// commits events again.
func (t *eventTail) fail() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	t.valid = false
}

// markRead records that a reader asked now.
func (t *eventTail) markRead() {
	if now := time.Now().UnixNano(); now-t.lastRead.Load() > int64(time.Second) {
		t.lastRead.Store(now)
	}
}

// followed says whether a reader asked within tailUnread.
func (t *eventTail) followed() bool {
	return time.Now().UnixNano()-t.lastRead.Load() < int64(tailUnread)
}

// events returns the events from fromSeq on (only tenant's unless tenant
// is ""), at most limit, as SQLite would, and ok; not ok when the tail does
// not reach back to fromSeq. miss lists the status events whose message
// the tail does not know (without messages: nor its client ref): their
// ClientRef (and Message) are still to be read.
func (t *eventTail) events(tenant string, fromSeq int64, limit int, withMessages bool) (evs []gateway.Event, miss []int, ok bool) {
	t.markRead()
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !t.valid || fromSeq < t.start {
		return nil, nil, false
	}
	// Counted first, so that the answer is one allocation of its size.
	n := 0
	for i := fromSeq - t.start; i < int64(t.n) && n < limit; i++ {
		if tenant == "" || t.ring[(t.head+int(i))&(len(t.ring)-1)].tenant == tenant {
			n++
		}
	}
	if n > 0 {
		evs = make([]gateway.Event, 0, n)
	}
	for i := fromSeq - t.start; i < int64(t.n) && len(evs) < limit; i++ {
		e := &t.ring[(t.head+int(i))&(len(t.ring)-1)]
		if tenant != "" && e.tenant != tenant {
			continue
		}
		ev := gateway.Event{Seq: t.start + i, Kind: e.kind, Tenant: e.tenant, MessageID: e.msgID,
			Status: e.status, Detail: e.detail, Time: fromNanos(e.at)}
		if e.in != nil {
			in := *e.in
			ev.Inbound = &in
		}
		if e.audit != nil {
			a := *e.audit
			ev.Audit = &a
		}
		switch {
		case e.msg != nil:
			ev.ClientRef = e.msg.clientRef
			if withMessages {
				ev.Message = e.msg.em
			}
		case e.msgID != "":
			miss = append(miss, len(evs))
		}
		evs = append(evs, ev)
	}
	if !withMessages && len(miss) > 0 {
		miss = t.refs.resolve(evs, miss)
	}
	return evs, miss, true
}

// completeMessages reads, in one statement, the messages of the events
// evs[miss] the tail did not know, and gives those events their ClientRef
// (and Message when withMessages), as eventQuery's joins would. Without
// messages it reads only the client refs, and refs remembers them for the
// messages' next events.
func (s *sqliteStore) completeMessages(ctx context.Context, evs []gateway.Event, miss []int, withMessages bool) error {
	ids := make([]string, 0, len(miss))
	for _, i := range miss {
		ids = append(ids, evs[i].MessageID)
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if !withMessages {
		return s.completeRefs(ctx, evs, miss, string(b))
	}
	rows, err := s.reads.eventMessages.QueryContext(ctx, string(b))
	if err != nil {
		return err
	}
	defer rows.Close()
	type found struct {
		clientRef string
		cols      eventMessageCols
	}
	byID := make(map[string]*found, len(ids))
	for rows.Next() {
		f := &found{}
		if err := rows.Scan(append([]any{&f.clientRef}, f.cols.dest()...)...); err != nil {
			return err
		}
		byID[f.cols.id.String] = f
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, i := range miss {
		f := byID[evs[i].MessageID]
		if f == nil {
			continue
		}
		evs[i].ClientRef = f.clientRef
		if evs[i].Message, err = f.cols.message(); err != nil {
			return err
		}
	}
	return nil
}

// completeRefs is completeMessages without messages: the client refs of
// the messages named in ids (a JSON array) go to evs[miss] and to refs.
func (s *sqliteStore) completeRefs(ctx context.Context, evs []gateway.Event, miss []int, ids string) error {
	rows, err := s.reads.eventRefs.QueryContext(ctx, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	refs := make(map[string]string, len(miss))
	for rows.Next() {
		var id, ref string
		if err := rows.Scan(&id, &ref); err != nil {
			return err
		}
		refs[id] = ref
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, i := range miss {
		evs[i].ClientRef = refs[evs[i].MessageID]
	}
	s.tail.refs.putAll(refs)
	return nil
}

// eventRefsQuery reads the client refs of the messages named in the JSON
// array $1.
const eventRefsQuery = `SELECT id, client_ref FROM messages WHERE id IN (SELECT value FROM json_each($1))`

// refGeneration bounds clientRefs: it keeps the last one to two
// generations of this many refs, ~1.5 MiB at most.
const refGeneration = 1 << 13

// clientRefs remembers client refs of messages by id. A message's client
// ref never changes once its insert committed, so a remembered one is what
// SQLite would answer for as long as it is kept.
type clientRefs struct {
	mu       sync.Mutex
	cur, old map[string]string
}

// put remembers a committed message's client ref ("" for none).
func (c *clientRefs) put(id, ref string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(id, ref)
}

// putAll remembers the client refs of committed messages, by id.
func (c *clientRefs) putAll(refs map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ref := range refs {
		c.add(id, ref)
	}
}

func (c *clientRefs) add(id, ref string) {
	if c.cur == nil || len(c.cur) >= refGeneration {
		c.old, c.cur = c.cur, make(map[string]string, refGeneration)
	}
	c.cur[id] = ref
}

// resolve gives the events evs[miss] whose message's client ref it
// remembers their ClientRef, and returns the others.
func (c *clientRefs) resolve(evs []gateway.Event, miss []int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return miss
	}
	left := miss[:0]
	for _, i := range miss {
		ref, ok := c.cur[evs[i].MessageID]
		if !ok {
			ref, ok = c.old[evs[i].MessageID]
		}
		if ok {
			evs[i].ClientRef = ref
		} else {
			left = append(left, i)
		}
	}
	return left
}

// forget lets go of every ref (the tail is not read).
func (c *clientRefs) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.old = nil, nil
}

// eventMessagesQuery reads what completeMessages needs of the messages
// named in the JSON array $1, in eventMessageCols' order after client_ref.
const eventMessagesQuery = `SELECT m.client_ref, m.id, m.sender, m.recipient, m.encoding, m.carrier, m.meta,
		p.carrier, p.carrier_id
	FROM messages m LEFT JOIN parts p ON p.message_id = m.id AND p.idx = 0
	WHERE m.id IN (SELECT value FROM json_each($1))`
