package smpp

import (
	"hash/fnv"
	"sync"
)

// refsPerDest is how many recent messages per destination keep their
// reference: a handset reassembles by (sender, reference), so two long
// messages in flight to one number must not share one.
const refsPerDest = 32

// maxRefDests bounds the destinations remembered; past it the table starts
// over (a reference then falls back to the message hash, the pre-table
// behaviour).
const maxRefDests = 200_000

// refTable hands out concatenation references per destination. A message's
// reference starts at a hash of its id (so a resend after a restart most
// likely reuses the one the handset saw) and moves on, like a counter, past
// any reference another recent message to the same destination holds; a
// message asking again gets the reference it was given. References are
// 16-bit; the 8-bit UDH uses their low octet, so uniqueness is checked on
// what goes on the wire.
type refTable struct {
	mu    sync.Mutex
	dests map[string]*destRefs
}

type destRefs struct {
	msg  [refsPerDest]string
	ref  [refsPerDest]uint16
	next int // ring position of the oldest entry
}

func newRefTable() *refTable { return &refTable{dests: make(map[string]*destRefs)} }

// get returns the reference for message msgID to dest; wide says whether
// all 16 bits go on the wire (16-bit UDH, SAR) or only the low 8.
func (t *refTable) get(dest, msgID string, wide bool) uint16 {
	mask := uint16(0xFF)
	if wide {
		mask = 0xFFFF
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.dests[dest]
	if d == nil {
		if len(t.dests) >= maxRefDests {
			clear(t.dests)
		}
		d = &destRefs{}
		t.dests[dest] = d
	}
	for i, m := range d.msg {
		if m == msgID {
			return d.ref[i] & mask
		}
	}
	ref := hashRef(msgID) & mask
	for tries := 0; tries <= refsPerDest; tries++ {
		taken := false
		for i, m := range d.msg {
			if m != "" && d.ref[i]&mask == ref {
				taken = true
				break
			}
		}
		if !taken {
			break
		}
		ref = (ref + 1) & mask
	}
	d.msg[d.next], d.ref[d.next] = msgID, ref
	d.next = (d.next + 1) % refsPerDest
	return ref
}

// hashRef is a 16-bit hash of a message id.
func hashRef(id string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(id))
	v := h.Sum32()
	return uint16(v ^ v>>16)
}
