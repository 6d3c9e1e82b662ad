package bench

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// recorder joins what the load generator, the event stream and the
// simulated carriers each see of one message. They arrive in any order (a
// SUBMITTED event or the carrier's submit can beat the Send answer that
// names the id), so each side fills in its part and the latency is
// observed by whichever comes second.
type recorder struct {
	run string
	// submitFromCarrier: submit latency is measured to the carrier's
	// first sight of the message (in-process farm); otherwise to the
	// gateway's SUBMITTED event.
	submitFromCarrier bool

	recs [64]recShard
	ids  [64]idShard
	seed maphash.Seed

	sent, accepted, refused, parts         atomic.Int64
	submitted, delivered, otherFinal       atomic.Int64
	acceptAll, submitAll, e2eAll           Hist
	acceptSec, e2eSec                      Hist
	firstSend, lastAccept, lastSub, lastFi atomic.Int64 // unix nanos

	errMu  sync.Mutex
	errors map[string]int64
}

type recShard struct {
	mu sync.Mutex
	m  map[uint64]*msgRec
}

type idShard struct {
	mu    sync.Mutex
	ids   map[string]uint64
	early map[string]*earlyEvents
}

// msgRec is one message. Zero times mean "not seen yet".
type msgRec struct {
	start       time.Time
	accepted    bool
	id          string
	carrierAt   time.Time
	submittedAt time.Time
	finalAt     time.Time
	final       pb.Status
}

// earlyEvents are events of an id the load generator has not been told yet
// (or of another client's message: those are purged after a minute).
type earlyEvents struct {
	seen        time.Time
	submittedAt time.Time
	finalAt     time.Time
	final       pb.Status
}

func newRecorder(run string, submitFromCarrier bool) *recorder {
	r := &recorder{run: run, submitFromCarrier: submitFromCarrier, seed: maphash.MakeSeed(), errors: map[string]int64{}}
	for i := range r.recs {
		r.recs[i].m = map[uint64]*msgRec{}
	}
	for i := range r.ids {
		r.ids[i].ids = map[string]uint64{}
		r.ids[i].early = map[string]*earlyEvents{}
	}
	return r
}

func (r *recorder) recShard(seq uint64) *recShard { return &r.recs[seq%uint64(len(r.recs))] }
func (r *recorder) idShard(id string) *idShard {
	return &r.ids[maphash.String(r.seed, id)%uint64(len(r.ids))]
}

func storeMax(a *atomic.Int64, t time.Time) {
	v := t.UnixNano()
	for {
		old := a.Load()
		if old >= v || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// started notes that message seq is about to be sent.
func (r *recorder) started(seq uint64, t time.Time) {
	r.sent.Add(1)
	r.firstSend.CompareAndSwap(0, t.UnixNano())
	sh := r.recShard(seq)
	sh.mu.Lock()
	sh.m[seq] = &msgRec{start: t}
	sh.mu.Unlock()
}

// failed notes a refused or failed call.
func (r *recorder) failed(err error) {
	r.refused.Add(1)
	msg := errorKey(err)
	r.errMu.Lock()
	if len(r.errors) < 20 || r.errors[msg] > 0 {
		r.errors[msg]++
	}
	r.errMu.Unlock()
}

// acceptedAs notes the gateway's answer: message seq is id, in parts parts
// (0 when the interface does not say), answered after d.
func (r *recorder) acceptedAs(seq uint64, id string, parts int, d time.Duration, now time.Time) {
	r.accepted.Add(1)
	r.parts.Add(int64(parts))
	r.acceptAll.Observe(d)
	r.acceptSec.Observe(d)
	storeMax(&r.lastAccept, now)
	sh := r.recShard(seq)
	sh.mu.Lock()
	m := sh.m[seq]
	if m == nil {
		sh.mu.Unlock()
		return
	}
	m.accepted, m.id = true, id
	if r.submitFromCarrier && !m.carrierAt.IsZero() {
		r.observeSubmit(m.carrierAt.Sub(m.start), m.carrierAt)
	}
	sh.mu.Unlock()
	if id == "" {
		return
	}
	is := r.idShard(id)
	is.mu.Lock()
	is.ids[id] = seq
	early := is.early[id]
	delete(is.early, id)
	is.mu.Unlock()
	if early != nil {
		r.applyEvents(seq, early.submittedAt, early.finalAt, early.final)
	}
}

func (r *recorder) observeSubmit(d time.Duration, at time.Time) {
	r.submitted.Add(1)
	r.submitAll.Observe(d)
	storeMax(&r.lastSub, at)
}

// carrierSaw is the ledger's hook: a carrier accepted the first part of
// message seq for the n-th time.
func (r *recorder) carrierSaw(run string, seq uint64, n int32) {
	if run != r.run || n != 1 {
		return
	}
	now := time.Now()
	sh := r.recShard(seq)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.m[seq]
	if m == nil {
		return
	}
	m.carrierAt = now
	if r.submitFromCarrier && m.accepted {
		r.observeSubmit(now.Sub(m.start), now)
	}
}

// event is one status event from the gateway's stream.
func (r *recorder) event(id string, st pb.Status, now time.Time) {
	var sub, fin time.Time
	switch st {
	case pb.Status_STATUS_SUBMITTED:
		sub = now
	case pb.Status_STATUS_ACCEPTED, pb.Status_STATUS_UNSPECIFIED:
		return
	default:
		fin = now
	}
	is := r.idShard(id)
	is.mu.Lock()
	seq, ok := is.ids[id]
	if !ok {
		e := is.early[id]
		if e == nil {
			e = &earlyEvents{seen: now}
			is.early[id] = e
		}
		if !sub.IsZero() && e.submittedAt.IsZero() {
			e.submittedAt = sub
		}
		if !fin.IsZero() && e.finalAt.IsZero() {
			e.finalAt, e.final = fin, st
		}
		is.mu.Unlock()
		return
	}
	is.mu.Unlock()
	r.applyEvents(seq, sub, fin, st)
}

func (r *recorder) applyEvents(seq uint64, sub, fin time.Time, final pb.Status) {
	sh := r.recShard(seq)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.m[seq]
	if m == nil {
		return
	}
	if !sub.IsZero() && m.submittedAt.IsZero() {
		m.submittedAt = sub
		if !r.submitFromCarrier {
			r.observeSubmit(sub.Sub(m.start), sub)
		}
	}
	if !fin.IsZero() && m.finalAt.IsZero() {
		m.finalAt, m.final = fin, final
		storeMax(&r.lastFi, fin)
		switch final {
		case pb.Status_STATUS_DELIVERED:
			r.delivered.Add(1)
		default:
			r.otherFinal.Add(1)
		}
		switch final {
		case pb.Status_STATUS_DELIVERED, pb.Status_STATUS_UNDELIVERED, pb.Status_STATUS_EXPIRED:
			// Ends that come with a receipt: end-to-end latency.
			r.e2eAll.Observe(fin.Sub(m.start))
			r.e2eSec.Observe(fin.Sub(m.start))
		}
	}
}

// purgeEarly forgets events of ids nobody claimed within a minute: other
// clients' messages on a shared gateway, or history replayed at start.
func (r *recorder) purgeEarly(now time.Time) {
	for i := range r.ids {
		is := &r.ids[i]
		is.mu.Lock()
		for id, e := range is.early {
			if now.Sub(e.seen) > time.Minute {
				delete(is.early, id)
			}
		}
		is.mu.Unlock()
	}
}

// tally is the final account of every accepted message.
type tally struct {
	accepted, lost, duplicated, extraCopies int64
	delivered, undelivered, unfinished      int64
	byStatus                                map[string]int64
}

// count goes over every message once the run is drained. seen, when not
// nil, gives the carriers' count of a sequence number.
func (r *recorder) count(seen func(seq uint64) int) tally {
	t := tally{byStatus: map[string]int64{}}
	for i := range r.recs {
		sh := &r.recs[i]
		sh.mu.Lock()
		for seq, m := range sh.m {
			if !m.accepted {
				continue
			}
			t.accepted++
			if seen != nil {
				switch n := seen(seq); {
				case n == 0:
					t.lost++
				case n > 1:
					t.duplicated++
					t.extraCopies += int64(n - 1)
				}
			}
			switch m.final {
			case pb.Status_STATUS_UNSPECIFIED:
				t.unfinished++
			case pb.Status_STATUS_DELIVERED:
				t.delivered++
			default:
				t.undelivered++
			}
			if m.final != pb.Status_STATUS_UNSPECIFIED {
				t.byStatus[m.final.String()[len("STATUS_"):]]++
			}
		}
		sh.mu.Unlock()
	}
	return t
}

func (r *recorder) errorCounts() map[string]int64 {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	out := make(map[string]int64, len(r.errors))
	for k, v := range r.errors {
		out[k] = v
	}
	return out
}
