package smpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// initialBackoff is the first pause after a failed initial connection; it
// doubles up to rebind_interval.
const initialBackoff = 100 * time.Millisecond

// bind is one transceiver connection of a Pool, with its own window.
//
// gosmpp's Session owns the socket, the enquire_link timer and rebinding;
// the bind owns everything gosmpp gets wrong for us (SMPP-NOTES.md): the
// window (a semaphore), the seq → pending map filled before the write, and
// acknowledging deliver_sm only after the sink stored it.
type bind struct {
	p   *Pool
	idx int
	log *slog.Logger

	sem  chan struct{} // one token per in-flight submit_sm
	up   atomic.Bool
	sess atomic.Pointer[gosmpp.Session]

	mu      sync.Mutex // guards pending; never held while calling gosmpp
	pending map[int32]*pending
}

// pending is one submit_sm waiting for its response.
type pending struct {
	done chan outcome // buffered 1: resolving never blocks
}

// outcome is how a submit_sm ended: a response (status, id) or an error
// before any response.
type outcome struct {
	status CommandStatus
	id     string
	err    error
}

func newBind(p *Pool, idx int) *bind {
	return &bind{
		p:       p,
		idx:     idx,
		log:     p.log.With("bind", idx),
		sem:     make(chan struct{}, p.cfg.Window),
		pending: make(map[int32]*pending),
	}
}

// run makes the first connection, retrying with capped exponential backoff
// until it binds or the pool stops; gosmpp rebinds after that.
func (b *bind) run() {
	defer b.p.wg.Done()
	cfg := &b.p.cfg
	backoff := min(initialBackoff, cfg.RebindInterval)
	var lastErr string
	for attempt := 1; ; attempt++ {
		conn := gosmpp.TRXConnector(b.dial, gosmpp.Auth{
			SMSC: cfg.addr(), SystemID: cfg.SystemID, Password: cfg.Password, SystemType: cfg.SystemType,
		})
		sess, err := gosmpp.NewSession(conn, b.settings(), cfg.RebindInterval)
		if err == nil {
			b.sess.Store(sess)
			if b.p.stopping() {
				_ = sess.Close()
				return
			}
			b.setUp(true)
			b.log.Info("smpp: bound", "attempt", attempt)
			return
		}
		if msg := err.Error(); msg != lastErr {
			// Log a changed reason once, not every attempt.
			b.log.Warn("smpp: bind failed, retrying", "err", err, "attempt", attempt)
			lastErr = msg
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-b.p.quit:
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, cfg.RebindInterval)
	}
}

// dial connects with a timeout and bounds the bind exchange: gosmpp reads
// the bind_resp without a deadline, so a peer that accepts TCP and never
// answers would hang the bind forever. gosmpp sets its own deadlines for
// every later read and write.
func (b *bind) dial(addr string) (net.Conn, error) {
	d := b.p.opts.Dialer
	if d == nil {
		nd := net.Dialer{Timeout: b.p.cfg.ResponseTimeout}
		d = func(addr string) (net.Conn, error) { return nd.Dial("tcp", addr) }
	}
	conn, err := d(addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(b.p.cfg.ResponseTimeout))
	return newBatchConn(conn), nil
}

// maxBatched bounds the bytes batchConn holds before a Write waits for the
// socket: about 2,000 submit_sm.
const maxBatched = 256 << 10

// batchConn coalesces writes. gosmpp writes every PDU with its own
// conn.Write from a single goroutine, which costs one syscall per PDU (a
// third of the CPU at 20k submit/s). Here Write only copies into a buffer
// and a flusher goroutine writes whatever has accumulated: one PDU at a time
// when idle (no added latency), many per syscall under load.
//
// A write error is sticky: every later Write returns it, which makes gosmpp
// close the bind, and pending submits then fail with ErrConnectionLost. The
// deadline gosmpp sets before each Write applies to the flusher's syscall, so
// a peer that stops reading still times out.
type batchConn struct {
	net.Conn

	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte // waiting for the flusher
	spare   []byte // the other buffer, reused
	writing bool   // the flusher is in a syscall
	err     error
	closed  bool
	stopped chan struct{}
}

func newBatchConn(conn net.Conn) *batchConn {
	c := &batchConn{Conn: conn, stopped: make(chan struct{})}
	c.cond.L = &c.mu
	go c.flushLoop()
	return c
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closed && len(c.buf) >= maxBatched {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	c.buf = append(c.buf, p...)
	c.cond.Broadcast()
	return len(p), nil
}

func (c *batchConn) flushLoop() {
	defer close(c.stopped)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.buf) == 0 && !c.closed {
			c.cond.Wait()
		}
		if len(c.buf) == 0 || c.err != nil {
			return // closed and flushed, or failed
		}
		out := c.buf
		c.buf = c.spare[:0]
		c.mu.Unlock()
		_, err := c.Conn.Write(out)
		c.mu.Lock()
		c.spare = out[:0]
		if err != nil && c.err == nil {
			c.err = err
		}
		c.cond.Broadcast()
	}
}

// Close flushes what gosmpp wrote last (its unbind) within the write
// deadline, then closes the socket.
func (c *batchConn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	select {
	case <-c.stopped:
	case <-time.After(time.Second):
		// The flusher is stuck in a write; closing the socket ends it.
	}
	return c.Conn.Close()
}

func (b *bind) settings() gosmpp.Settings {
	cfg := &b.p.cfg
	return gosmpp.Settings{
		EnquireLink: cfg.EnquireLink,
		// A link is dead when nothing, not even an enquire_link_resp, came
		// for one interval plus the time an answer may take.
		ReadTimeout:  cfg.EnquireLink + cfg.ResponseTimeout,
		WriteTimeout: cfg.ResponseTimeout,
		OnAllPDU:     b.onPDU,
		OnSubmitError: func(p pdu.PDU, err error) {
			if _, ok := p.(*pdu.SubmitSM); ok {
				b.resolve(p.GetSequenceNumber(), outcome{err: fmt.Errorf("smpp: write submit_sm: %w", err)})
			}
		},
		OnReceivingError: func(err error) {
			b.log.Debug("smpp: read failed", "err", err)
		},
		OnRebindingError: func(err error) {
			b.log.Debug("smpp: rebind failed", "err", err)
		},
		OnClosed: func(state gosmpp.State) {
			b.setUp(false)
			n := b.failAll(ErrConnectionLost)
			b.log.Warn("smpp: bind lost", "state", state.String(), "failed_in_flight", n)
		},
		OnRebind: func() {
			if b.p.stopping() {
				// Stop closed the session while gosmpp was reconnecting: the
				// new connection is nobody's, close it.
				if s := b.sess.Load(); s != nil {
					_ = s.Transceiver().Close()
				}
				return
			}
			b.setUp(true)
			b.log.Info("smpp: rebound")
		},
	}
}

func (b *bind) setUp(v bool) {
	if b.up.Swap(v) == v {
		return
	}
	if v {
		b.p.m.bindsUp.Inc()
	} else {
		b.p.m.bindsUp.Dec()
	}
}

// onPDU runs on gosmpp's reading goroutine for every PDU the SMSC sends;
// nothing is acknowledged automatically. It must not block on the sink.
func (b *bind) onPDU(p pdu.PDU) (pdu.PDU, bool) {
	switch p := p.(type) {
	case *pdu.SubmitSMResp:
		b.resolve(p.SequenceNumber, outcome{status: CommandStatus(p.CommandStatus), id: p.MessageID})
	case *pdu.GenericNack:
		// The SMSC could not parse our PDU; if it was a submit_sm, that
		// submit failed with the nack's status.
		st := CommandStatus(p.CommandStatus)
		if st == 0 {
			st = CommandStatus(data.ESME_RINVCMDID)
		}
		b.resolve(p.SequenceNumber, outcome{status: st})
	case *pdu.DeliverSM:
		var trx gosmpp.Transceiver
		if s := b.sess.Load(); s != nil {
			trx = s.Transceiver()
		}
		b.p.enqueue(delivery{b: b, trx: trx, d: p, at: time.Now()})
	case *pdu.EnquireLink:
		return p.GetResponse(), false
	case *pdu.Unbind:
		b.setUp(false)
		b.log.Warn("smpp: SMSC unbound us")
		return p.GetResponse(), true // gosmpp closes, OnClosed fails in-flight, then rebinds
	case *pdu.DataSM:
		resp := p.GetResponse().(*pdu.DataSMResp)
		resp.CommandStatus = data.ESME_RINVCMDID
		return resp, false
	case *pdu.EnquireLinkResp, *pdu.UnbindResp, *pdu.DeliverSMResp, *pdu.AlertNotification:
	default:
		if p.CanResponse() {
			nack := pdu.NewGenericNack()
			nack.SetSequenceNumber(p.GetSequenceNumber())
			nack.(*pdu.GenericNack).CommandStatus = data.ESME_RINVCMDID
			return nack, false
		}
	}
	return nil, false
}

// submit writes one submit_sm and waits for its outcome. The pending entry
// exists before the PDU reaches gosmpp, so a response racing the write is
// always matched. Once written, waiting is bounded by response_timeout, not
// by the caller's ctx: knowing the carrier id is what prevents a duplicate.
func (b *bind) submit(sm *pdu.SubmitSM) outcome {
	sess := b.sess.Load()
	if sess == nil || !b.up.Load() {
		return outcome{err: ErrNotBound}
	}
	seq := sm.GetSequenceNumber()
	pe := &pending{done: make(chan outcome, 1)}
	b.mu.Lock()
	b.pending[seq] = pe
	b.mu.Unlock()

	if err := sess.Transceiver().Submit(sm); err != nil {
		b.forget(seq)
		if errors.Is(err, gosmpp.ErrConnectionClosing) {
			err = ErrConnectionLost
		}
		return outcome{err: err}
	}
	t := time.NewTimer(b.p.cfg.ResponseTimeout)
	defer t.Stop()
	select {
	case o := <-pe.done:
		return o
	case <-t.C:
		if b.forget(seq) {
			return outcome{err: ErrResponseTimeout}
		}
		return <-pe.done // resolved while the timer fired
	}
}

// resolve hands an outcome to the submit waiting on seq, if any.
func (b *bind) resolve(seq int32, o outcome) {
	b.mu.Lock()
	pe := b.pending[seq]
	delete(b.pending, seq)
	b.mu.Unlock()
	if pe == nil {
		if o.err == nil {
			// Usually a response after our timeout: the carrier took a
			// message the engine will resend. Worth seeing.
			b.log.Warn("smpp: response for no pending submit", "seq", seq, "status", o.status.Name(), "carrier_id", o.id)
		}
		return
	}
	pe.done <- o
}

// forget removes seq's pending entry, reporting whether it was still there.
func (b *bind) forget(seq int32) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.pending[seq]
	delete(b.pending, seq)
	return ok
}

// failAll resolves every pending submit with err and reports how many.
func (b *bind) failAll(err error) int {
	b.mu.Lock()
	all := b.pending
	b.pending = make(map[int32]*pending)
	b.mu.Unlock()
	for _, pe := range all {
		pe.done <- outcome{err: err}
	}
	return len(all)
}

// close unbinds (gosmpp sends unbind and closes the socket) and fails what
// is still pending.
func (b *bind) close() {
	if s := b.sess.Load(); s != nil {
		_ = s.Close()
	}
	b.setUp(false)
	b.failAll(ErrStopped)
}

// acquire takes a window slot, blocking until one frees or ctx ends.
func (b *bind) acquire(ctx context.Context) error {
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("smpp: waiting for the window: %w", ctx.Err())
	}
	b.p.m.window.Inc()
	return nil
}

func (b *bind) tryAcquire() bool {
	select {
	case b.sem <- struct{}{}:
		b.p.m.window.Inc()
		return true
	default:
		return false
	}
}

func (b *bind) release() {
	<-b.sem
	b.p.m.window.Dec()
}
