package smpp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/gateway"
)

var _ gateway.Binder = (*Pool)(nil)

// historySize is how many transitions each bind keeps for the console.
const historySize = 20

// respSamples is how many recent response times each bind keeps, and
// respWindow how far back its summary looks.
const (
	respSamples = 1024
	respWindow  = time.Minute
)

// bindStatus is what a bind tells an operator: its state, since when and
// why, its last transitions and its recent response times. It has its own
// lock, never held while doing anything else.
type bindStatus struct {
	mu      sync.Mutex
	state   string
	since   time.Time
	reason  string
	history []gateway.BindChange // oldest first, at most historySize
	resp    [respSamples]respSample
	respN   int // samples recorded since start; resp is a ring over them
	// kick is closed (and replaced) by a rebind, to cut short a wait
	// between attempts.
	kick chan struct{}
}

type respSample struct {
	at time.Time
	d  time.Duration
}

// note records a transition of one of the bind's links. The transmitting
// link's (transceiver or transmitter) is the bind's state; a receiver's
// goes to the history only. A link failing again the way it just did adds
// nothing: a carrier refusing every minute leaves one entry, not sixty.
func (b *bind) note(kind pdu.BindingType, state, reason string) {
	s := &b.st
	now := time.Now()
	link := bindTypeName(kind)
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind != pdu.Receiver {
		if s.state == state && s.reason == reason {
			return
		}
		if s.state != state {
			s.since = now
		}
		s.state, s.reason = state, reason
	} else {
		for i := len(s.history) - 1; i >= 0; i-- {
			if h := s.history[i]; h.Link == link {
				if h.State == state && h.Reason == reason {
					return
				}
				break
			}
		}
	}
	s.history = append(s.history, gateway.BindChange{At: now, Link: link, State: state, Reason: reason})
	if n := len(s.history); n > historySize {
		s.history = slices.Delete(s.history, 0, n-historySize)
	}
}

// noteResponse records how long one submit_sm took to be answered.
func (b *bind) noteResponse(d time.Duration) {
	s := &b.st
	s.mu.Lock()
	s.resp[s.respN%respSamples] = respSample{at: time.Now(), d: d}
	s.respN++
	s.mu.Unlock()
}

// kicked is the channel a rebind closes to end the current wait.
func (b *bind) kicked() <-chan struct{} {
	b.st.mu.Lock()
	defer b.st.mu.Unlock()
	if b.st.kick == nil {
		b.st.kick = make(chan struct{})
	}
	return b.st.kick
}

// kickNow ends the waits between attempts of the bind's links, so a bind
// that is down tries again at once.
func (b *bind) kickNow() {
	b.st.mu.Lock()
	defer b.st.mu.Unlock()
	if b.st.kick != nil {
		close(b.st.kick)
	}
	b.st.kick = make(chan struct{})
}

// state is the bind as gateway.BindState.
func (b *bind) state() gateway.BindState {
	s := &b.st
	now := time.Now()
	s.mu.Lock()
	out := gateway.BindState{Index: b.idx, Type: b.p.cfg.Bind, State: s.state, Since: s.since, Reason: s.reason,
		InFlight: len(b.sem), Window: b.p.cfg.Window, History: make([]gateway.BindChange, len(s.history))}
	for i, h := range s.history {
		out.History[len(s.history)-1-i] = h
	}
	var ds []time.Duration
	for i := range min(s.respN, respSamples) {
		if r := s.resp[i]; now.Sub(r.at) <= respWindow {
			ds = append(ds, r.d)
		}
	}
	s.mu.Unlock()
	out.Responses = summarise(ds)
	return out
}

// summarise is the count, mean and 99th percentile (nearest rank) of ds.
func summarise(ds []time.Duration) gateway.ResponseTimes {
	rt := gateway.ResponseTimes{Count: len(ds), Over: respWindow}
	if len(ds) == 0 {
		return rt
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rt.Mean = sum / time.Duration(len(ds))
	rank := (99*len(ds) + 99) / 100 // ceil(0.99 n), 1-based
	rt.P99 = ds[rank-1]
	return rt
}

// Binds reports each bind's state, window and recent response times; it
// implements gateway.Binder.
func (p *Pool) Binds() []gateway.BindState {
	out := make([]gateway.BindState, len(p.binds))
	for i, b := range p.binds {
		out[i] = b.state()
	}
	return out
}

// Rebind unbinds every bind and binds it again at once; it implements
// gateway.Binder. Each bound bind first stops taking submissions and waits
// (up to response_timeout, or ctx) for those in flight to be answered, so
// a clean rebind loses nothing; whatever is still unanswered then fails
// with ErrConnectionLost when the link closes, exactly as on a lost link,
// and the engine sends it again. A bind that is down tries again at once.
// Rebind returns once every link is closed; binding again goes on in the
// background, as after any lost link.
func (p *Pool) Rebind(ctx context.Context, by string) error {
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	if st != poolStarted {
		return fmt.Errorf("smpp: carrier %q is not running", p.name)
	}
	p.log.Info("smpp: rebind asked", "by", by)
	var wg sync.WaitGroup
	for _, b := range p.binds {
		wg.Go(func() { b.rebind(ctx, "rebind asked by "+by) })
	}
	wg.Wait()
	return nil
}

// rebind drains and closes the bind's links, marked so that their
// reconnect loops bind again without waiting.
func (b *bind) rebind(ctx context.Context, reason string) {
	tx, rx := b.tx.Load(), b.rx.Load()
	if tx != nil && !tx.isClosed() {
		tx.rebind.Store(&reason)
		b.setUp(false) // acquire skips the bind from now on
		b.drain(ctx)
		tx.close()
	}
	if rx != nil && !rx.isClosed() {
		rx.rebind.Store(&reason)
		rx.close()
	}
	b.kickNow()
}

// drain waits until no submit awaits its response on the bind, up to
// response_timeout or ctx.
func (b *bind) drain(ctx context.Context) {
	deadline := time.NewTimer(b.p.cfg.ResponseTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		b.mu.Lock()
		n := len(b.pending)
		b.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			b.log.Warn("smpp: rebinding with submits unanswered", "in_flight", n)
			return
		case <-ctx.Done():
			return
		}
	}
}

func (l *link) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// closedAs is the state a link's end leaves its bind in, and why, for the
// bind's history.
func (l *link) closedAs(state gosmpp.State, stopping bool, readTimeout time.Duration) (string, string) {
	if r := l.rebind.Load(); r != nil {
		return gateway.BindConnecting, "unbound: " + *r
	}
	switch {
	case stopping:
		return gateway.BindDown, "unbound: smsgw is stopping"
	case l.peerUnbind.Load():
		return gateway.BindDown, "the SMSC sent unbind"
	case state == gosmpp.ExplicitClosing:
		return gateway.BindDown, "unbound"
	case state == gosmpp.ConnectionIssue:
		return gateway.BindDown, "link lost: a write failed"
	}
	if e := l.readErr.Load(); e != nil {
		var ne net.Error
		if errors.As(*e, &ne) && ne.Timeout() {
			return gateway.BindDown, fmt.Sprintf("enquire_link timeout: nothing received for %s", readTimeout)
		}
		return gateway.BindDown, "link lost: " + (*e).Error()
	}
	return gateway.BindDown, "link lost (" + state.String() + ")"
}

// failedAs is why a connection attempt failed, for the bind's history: the
// bind_resp's command_status when the SMSC refused.
func failedAs(err error) string {
	var be gosmpp.BindError
	if errors.As(err, &be) {
		st := CommandStatus(be.CommandStatus)
		return fmt.Sprintf("bind refused: %s (0x%08X)", st.Name(), uint32(st))
	}
	return "connect failed: " + err.Error()
}
