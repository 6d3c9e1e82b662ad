package smpp

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/openmf/smsgw/smstext"
)

// How a concatenated MO part names its message.
const (
	moKindUDH8 byte = iota + 1
	moKindUDH16
	moKindSAR
)

// maxMOGroups bounds the concatenated MO waiting for parts; past it the
// oldest are stored incomplete at the next tick rather than growing memory.
const maxMOGroups = 10_000

// moPart is one mobile-originated deliver_sm as the assembler sees it.
type moPart struct {
	From, To   string
	DataCoding byte
	UDH        []byte // the UDH before Body, its length octet included; nil without UDH
	Body       []byte // short_message after the UDH
	MsgID      string // the carrier's message id TLV, if any
	Kind       byte   // moKind*, 0 for a single-part MO
	Ref        uint16
	Total, Seq int // 1, 1 for a single-part MO
	At         time.Time
}

// decode reads the part on its own.
func (m *moPart) decode(opt smstext.TextOptions) (string, error) {
	return smstext.DecodeTextUDH(m.DataCoding, m.UDH, m.Body, opt)
}

// moKey is what ties the parts of one concatenated MO together.
type moKey struct {
	From, To string
	Kind     byte
	Ref      uint16
	Total    int
}

// moGroup is a concatenated MO being reassembled: its distinct parts by
// sequence number and every deliver_sm received for it, duplicates
// included, whose answers wait until the joined message is stored.
type moGroup struct {
	key   moKey
	start time.Time
	parts map[int]moPart
	held  []delivery
}

// first is the lowest-numbered part received, for addresses and time.
func (g *moGroup) first() moPart {
	best := 0
	for seq := range g.parts {
		if best == 0 || seq < best {
			best = seq
		}
	}
	return g.parts[best]
}

// moDone remembers a message just stored, so a part the carrier sends again
// (its answer was lost) is acknowledged instead of starting a new message.
type moDone struct {
	until  time.Time
	bodies map[int]uint64 // seq → hash of the part's body
	group  *moGroup       // the completed group, until the sink stored it
	stored bool           // the sink stored it: resends are answered at once
}

// moAssembler joins the parts of concatenated MO. It is used by one
// goroutine (the pool's sink worker), so it has no lock.
type moAssembler struct {
	timeout time.Duration
	groups  map[moKey]*moGroup
	done    map[moKey]*moDone
}

func newMOAssembler(timeout time.Duration) *moAssembler {
	return &moAssembler{timeout: timeout, groups: make(map[moKey]*moGroup), done: make(map[moKey]*moDone)}
}

func bodyHash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// add files one part with the deliver_sm that brought it. It returns the
// group when this part completed it (its held deliveries include this
// one), or dup when the part repeats one of a message completed and stored
// within the timeout (answer it at once). A repeat of a message completed
// but not yet stored joins that group's held deliveries, so it gets the
// store's answer. Otherwise the delivery is held. Call stored after the
// sink answered for a completed group.
func (a *moAssembler) add(p moPart, d delivery, now time.Time) (complete *moGroup, dup bool) {
	key := moKey{From: p.From, To: p.To, Kind: p.Kind, Ref: p.Ref, Total: p.Total}
	g := a.groups[key]
	if g == nil {
		if dn := a.done[key]; dn != nil {
			if now.Before(dn.until) {
				if h, ok := dn.bodies[p.Seq]; ok && h == bodyHash(p.Body) {
					if dn.stored {
						return nil, true
					}
					dn.group.held = append(dn.group.held, d)
					return nil, false
				}
			}
			delete(a.done, key)
		}
		g = &moGroup{key: key, start: now, parts: make(map[int]moPart, p.Total)}
		a.groups[key] = g
	}
	g.held = append(g.held, d)
	if _, seen := g.parts[p.Seq]; !seen {
		g.parts[p.Seq] = p
	}
	if len(g.parts) < p.Total {
		return nil, false
	}
	delete(a.groups, key)
	dn := &moDone{until: now.Add(a.timeout), bodies: make(map[int]uint64, len(g.parts)), group: g}
	for seq, part := range g.parts {
		dn.bodies[seq] = bodyHash(part.Body)
	}
	a.done[key] = dn
	return g, false
}

// stored records what the sink answered for completed groups: stored, their
// resends are answered at once; not stored, they are forgotten, so the
// carrier's resends assemble the message again and it is stored then.
func (a *moAssembler) stored(groups []*moGroup, ok bool) {
	for _, g := range groups {
		dn := a.done[g.key]
		if dn == nil || dn.group != g {
			continue
		}
		if ok {
			dn.stored, dn.group = true, nil
		} else {
			delete(a.done, g.key)
		}
	}
}

// expire returns the groups that waited mo_timeout (and the oldest beyond
// maxMOGroups), removing them, and forgets old completed messages.
func (a *moAssembler) expire(now time.Time) []*moGroup {
	var out []*moGroup
	for k, g := range a.groups {
		if !now.Before(g.start.Add(a.timeout)) {
			out = append(out, g)
			delete(a.groups, k)
		}
	}
	if len(a.groups) > maxMOGroups {
		all := make([]*moGroup, 0, len(a.groups))
		for _, g := range a.groups {
			all = append(all, g)
		}
		sort.Slice(all, func(i, j int) bool { return all[i].start.Before(all[j].start) })
		for _, g := range all[:len(all)-maxMOGroups] {
			out = append(out, g)
			delete(a.groups, g.key)
		}
	}
	for k, dn := range a.done {
		if !now.Before(dn.until) {
			delete(a.done, k)
		}
	}
	return out
}

// join decodes the parts in order. Consecutive parts in GSM 7-bit or UCS-2
// are decoded as one stream, so an escape or surrogate pair a handset split
// across parts still reads right. A missing part shows as "[part k of n
// missing]" where its text belongs, which also marks the message
// incomplete (the second result).
func (g *moGroup) join(opt smstext.TextOptions) (string, bool) {
	var b strings.Builder
	var run []moPart
	incomplete := false
	flush := func() {
		if len(run) > 0 {
			b.WriteString(decodeRun(run, opt))
			run = run[:0]
		}
	}
	for seq := 1; seq <= g.key.Total; seq++ {
		p, ok := g.parts[seq]
		if !ok {
			flush()
			fmt.Fprintf(&b, "[part %d of %d missing]", seq, g.key.Total)
			incomplete = true
			continue
		}
		if len(run) > 0 && run[0].DataCoding != p.DataCoding {
			flush()
		}
		run = append(run, p)
	}
	flush()
	return b.String(), incomplete
}

// decodeRun decodes parts sharing one data_coding.
func decodeRun(run []moPart, opt smstext.TextOptions) string {
	if len(run) > 1 {
		var joined []byte
		switch a, ok := smstext.TextCoding(run[0].DataCoding); {
		case !ok:
		case a == smstext.DataCodingUCS2:
			for _, p := range run {
				joined = append(joined, p.Body...)
			}
			if s, err := smstext.DecodeText(smstext.DataCodingUCS2, joined, opt); err == nil {
				return s
			}
		case a == smstext.DataCodingDefault && (opt.Alphabet == "" || opt.Alphabet == smstext.AlphabetGSM7):
			for _, p := range run {
				if opt.PackGSM7 {
					joined = append(joined, smstext.UnpackGSM7(p.Body, smstext.FillBits(len(p.UDH)))...)
				} else {
					joined = append(joined, p.Body...)
				}
			}
			if s, err := smstext.DecodeGSM7(joined); err == nil {
				return s
			}
		}
	}
	var b strings.Builder
	for _, p := range run {
		s, err := p.decode(opt)
		if err != nil {
			fmt.Fprintf(&b, "[part %d undecodable]", p.Seq)
			continue
		}
		b.WriteString(s)
	}
	return b.String()
}
