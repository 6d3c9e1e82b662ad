package smpp

import (
	"hash/fnv"
	"sync"
	"time"
)

// refsPerDest is how many recent messages per destination keep their
// reference: a handset reassembles by (sender, reference), so two long
// messages in flight to one number must not share one.
const refsPerDest = 32

// refTTL is how long a destination's references are remembered after its
// last long message: far longer than a message's parts take to go out or a
// handset waits for missing parts, and bounded so that a gateway sending to
// many numbers does not keep them all.
const refTTL = 5 * time.Minute

// maxRefDests bounds the destinations remembered (about 150 bytes each for
// one message); past it, after dropping the expired ones, the table starts
// over (a reference then falls back to the message hash, the pre-table
// behaviour).
const maxRefDests = 100_000

// sweepEvery is how many new destinations pass between sweeps of the
// expired ones.
const sweepEvery = 4096

// refTable hands out concatenation references per destination. A message's
// reference starts at a hash of its id (so a resend after a restart most
// likely reuses the one the handset saw) and moves on, like a counter, past
// any reference another recent message to the same destination holds; a
// message asking again gets the reference it was given. References are
// 16-bit; the 8-bit UDH uses their low octet, so uniqueness is checked on
// what goes on the wire. Most destinations see one long message at a time,
// so each keeps a slice that grows to refsPerDest only when needed.
type refTable struct {
	mu    sync.Mutex
	dests map[string]*destRefs
	now   func() time.Time
	added int // new destinations since the last sweep
}

type destRefs struct {
	refs []msgRef // ring of at most refsPerDest, oldest at next once full
	next int
	used time.Time
}

type msgRef struct {
	msg string
	ref uint16
}

func newRefTable() *refTable {
	return &refTable{dests: make(map[string]*destRefs), now: time.Now}
}

// get returns the reference for message msgID to dest; wide says whether
// all 16 bits go on the wire (16-bit UDH, SAR) or only the low 8.
func (t *refTable) get(dest, msgID string, wide bool) uint16 {
	mask := uint16(0xFF)
	if wide {
		mask = 0xFFFF
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	d := t.dests[dest]
	if d == nil {
		t.makeRoom(now)
		d = &destRefs{}
		t.dests[dest] = d
	}
	d.used = now
	for _, r := range d.refs {
		if r.msg == msgID {
			return r.ref & mask
		}
	}
	ref := hashRef(msgID) & mask
	for tries := 0; tries <= refsPerDest; tries++ {
		taken := false
		for _, r := range d.refs {
			if r.ref&mask == ref {
				taken = true
				break
			}
		}
		if !taken {
			break
		}
		ref = (ref + 1) & mask
	}
	if len(d.refs) < refsPerDest {
		d.refs = append(d.refs, msgRef{msgID, ref})
	} else {
		d.refs[d.next] = msgRef{msgID, ref}
		d.next = (d.next + 1) % refsPerDest
	}
	return ref
}

// makeRoom drops destinations unused for refTTL every sweepEvery new ones,
// and everything when the table is still full.
func (t *refTable) makeRoom(now time.Time) {
	t.added++
	if t.added < sweepEvery && len(t.dests) < maxRefDests {
		return
	}
	t.added = 0
	for dest, d := range t.dests {
		if now.Sub(d.used) > refTTL {
			delete(t.dests, dest)
		}
	}
	if len(t.dests) >= maxRefDests {
		clear(t.dests)
	}
}

// hashRef is a 16-bit hash of a message id.
func hashRef(id string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(id))
	v := h.Sum32()
	return uint16(v ^ v>>16)
}
