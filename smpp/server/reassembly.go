package server

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// reassembler holds the parts of concatenated messages (UDH or SAR) until
// every part is in, then hands the whole text to the accept path; each
// part's submit_sm_resp waits for that accept. Parts held past the wait
// go on their own, UDH kept, so the handset still joins them.
//
// Nothing held is acknowledged, so a crash loses nothing accepted: the
// ESME resends what was never answered.
type reassembler struct {
	srv  *Server
	wait time.Duration

	mu     sync.Mutex
	groups map[groupKey]*group
}

// groupKey names one concatenated message of one account.
type groupKey struct {
	account, src, dst string
	ref               uint16
	wide              bool
	total             int
}

type group struct {
	first time.Time
	parts []*heldPart // by Seq-1
	n     int
}

type heldPart struct {
	ans answer
	p   piece
}

func newReassembler(s *Server, wait time.Duration) *reassembler {
	return &reassembler{srv: s, wait: wait, groups: map[groupKey]*group{}}
}

// add holds a part; the last one queues the whole message on its
// session. A part sent again replaces the one held (whose submit is
// answered ESME_RSYSERR: the ESME gave up on it).
func (r *reassembler) add(a *account, ans answer, p piece) {
	k := groupKey{account: a.cfg.SystemID, src: p.src, dst: p.dst, ref: p.concat.Ref, wide: p.concat.Wide, total: p.concat.Total}
	r.mu.Lock()
	g := r.groups[k]
	if g == nil {
		g = &group{first: r.srv.now(), parts: make([]*heldPart, p.concat.Total)}
		r.groups[k] = g
	}
	i := p.concat.Seq - 1
	old := g.parts[i]
	if old == nil {
		g.n++
	}
	g.parts[i] = &heldPart{ans: ans, p: p}
	complete := g.n == len(g.parts)
	if complete {
		delete(r.groups, k)
	}
	r.mu.Unlock()
	if old != nil {
		old.ans.c.respond(old.ans.cmd, statusSysErr, old.ans.seq, "")
	}
	if complete {
		r.join(g)
	}
}

// join decodes the parts' octets together (a UCS-2 surrogate pair or a
// GSM escape may straddle two parts) and queues one message.
func (r *reassembler) join(g *group) {
	first := g.parts[0]
	var body []byte
	answers := make([]answer, len(g.parts))
	for i, hp := range g.parts {
		body = append(body, hp.p.body...)
		answers[i] = hp.ans
		answers[i].part = i + 1
	}
	p := first.p
	p.req.Meta[metaParts] = strconv.Itoa(len(g.parts))
	if status, why := p.setText(body); status != statusOK {
		r.srv.metrics.submits.WithLabelValues(first.p.req.Meta[metaAccount], "refused").Add(float64(len(answers)))
		r.srv.log.Info("smpp submit refused", "system_id", first.p.req.Meta[metaAccount], "reason", why)
		for _, an := range answers {
			an.c.respond(an.cmd, status, an.seq, "")
		}
		return
	}
	last := g.parts[len(g.parts)-1].ans.c
	if !last.queue(&job{reqs: []gateway.SendRequest{p.req}, answers: answers}) {
		for _, an := range answers {
			an.c.answered()
		}
	}
}

// run sends on their own the parts held past the wait, until ctx ends.
func (r *reassembler) run(ctx context.Context) {
	tick := time.NewTicker(max(r.wait/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := r.srv.now()
		var late []*group
		r.mu.Lock()
		for k, g := range r.groups {
			if now.Sub(g.first) >= r.wait {
				late = append(late, g)
				delete(r.groups, k)
			}
		}
		r.mu.Unlock()
		for _, g := range late {
			for _, hp := range g.parts {
				if hp == nil {
					continue
				}
				req := hp.p.req
				req.Binary = &gateway.Binary{UDH: hp.p.udh, Data: hp.p.body, DataCoding: hp.p.dc}
				if hp.p.udh == nil {
					// SAR parts carried no UDH: send each as its own text.
					if status, _ := hp.p.setText(hp.p.body); status == statusOK {
						req = hp.p.req
					}
				}
				if !hp.ans.c.queue(&job{reqs: []gateway.SendRequest{req}, answers: []answer{hp.ans}}) {
					hp.ans.c.answered()
				}
			}
		}
	}
}
