package smpp

import (
	"context"
	"crypto/tls"
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

	"github.com/openmf/smsgw/gateway"
)

// initialBackoff is the first pause after a failed connection or a lost
// link; it doubles (with jitter) up to rebind_interval.
const initialBackoff = 100 * time.Millisecond

// refusedBackoffFactor caps the backoff after a refused bind at this many
// rebind_interval: a wrong password is not fixed by retrying fast.
const refusedBackoffFactor = 12

// bind is one transceiver connection of a Pool (or, in transmitter_receiver
// mode, one transmitter and one receiver), with its own window.
//
// The bind owns the connection lifecycle: every connection is a fresh
// gosmpp Session created with rebinding disabled, and run reconnects with
// exponential backoff and jitter after a failure or a lost link. gosmpp only
// reads and writes PDUs; the bind owns what gosmpp gets wrong for us (see
// the package doc): the window (a semaphore), the seq → pending map filled
// before the write, and acknowledging deliver_sm only after the sink stored
// it.
type bind struct {
	p   *Pool
	idx int
	log *slog.Logger

	sem chan struct{} // one token per in-flight submit_sm
	up  atomic.Bool
	tx  atomic.Pointer[link] // the link submits go through (transceiver or transmitter)
	rx  atomic.Pointer[link] // the receiver of a transmitter_receiver pair

	mu      sync.Mutex // guards pending; never held while calling gosmpp
	pending map[int32]*pending

	st bindStatus // state, history and response times, for the console
}

// link is one bound connection: a gosmpp Session that never rebinds itself.
type link struct {
	kind  pdu.BindingType
	since time.Time // when the link was opened: MOs received before came on another
	// resent holds the MOs (sender, recipient, text) this link already
	// delivered as a carrier's resend: the same text again on it is the
	// client's. Only the pool's sink worker touches it.
	resent map[string]bool
	sess   atomic.Pointer[gosmpp.Session] // nil until NewSession returned
	closed chan struct{}                  // closed when gosmpp reports the session closed
	once   sync.Once

	// Why the link ended, read when it does (closedAs).
	rebind     atomic.Pointer[string] // set by a rebind: reconnect at once
	peerUnbind atomic.Bool            // the SMSC sent unbind
	readErr    atomic.Pointer[error]  // the read that failed
	ended      atomic.Bool            // OnClosed ran
}

func (l *link) markClosed() { l.once.Do(func() { close(l.closed) }) }

// close unbinds and closes the connection (idempotent).
func (l *link) close() {
	if s := l.sess.Load(); s != nil {
		_ = s.Close()
	}
}

// submit hands a PDU to the link's writer.
func (l *link) submit(p pdu.PDU) error {
	s := l.sess.Load()
	if s == nil {
		return ErrNotBound
	}
	return s.Transceiver().Submit(p)
}

// pending is one submit_sm waiting for its response. Each is resolved at
// most once: resolve and failAll take it out of the map before sending.
type pending struct {
	done    chan outcome // buffered 1: resolving never blocks
	timeout *time.Timer  // response_timeout; stopped when not in use
}

// pendings are reused across submits: a channel, a timer and the struct
// per part were three allocations on every submit_sm. One goes back only
// when its channel is known to be empty and no resolver can still hold it.
var pendings = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pending{done: make(chan outcome, 1), timeout: t}
}}

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

// run holds the bind's cluster slot (Options.BindSlots) for the pool's
// lifetime and keeps its connection(s) up until the pool stops.
func (b *bind) run() {
	defer b.p.wg.Done()
	if slots := b.p.opts.BindSlots; slots != nil {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-b.p.quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		slot, release, err := slots.AcquireBindSlot(ctx, b.p.name, b.p.cfg.Binds)
		cancel()
		if err != nil {
			if !b.p.stopping() {
				b.log.Warn("smpp: no bind slot", "err", err)
			}
			return
		}
		defer release()
		b.log = b.log.With("slot", slot)
		b.log.Debug("smpp: bind slot acquired")
	}
	if b.p.cfg.Bind == BindPair {
		var wg sync.WaitGroup
		wg.Go(func() { b.keep(pdu.Receiver) })
		b.keep(pdu.Transmitter)
		wg.Wait()
		return
	}
	b.keep(pdu.Transceiver)
}

// keep connects a link of the given kind and reconnects it whenever it is
// lost, until the pool stops. Waits grow exponentially with jitter from
// initialBackoff to rebind_interval; a refused bind (gosmpp.BindError) waits
// at least rebind_interval and up to refusedBackoffFactor times it. A wait
// starts over once a link stayed up longer than rebind_interval.
func (b *bind) keep(kind pdu.BindingType) {
	cfg := &b.p.cfg
	log := b.log.With("bind_type", bindTypeName(kind))
	backoff := min(initialBackoff, cfg.RebindInterval)
	var lastErr string
	b.note(kind, gateway.BindConnecting, "starting")
	for attempt := 1; ; attempt++ {
		if b.quitting() {
			return
		}
		// Taken before the attempt, so a rebind asked while it runs (a
		// refusal on its way back) still cuts the wait after it short.
		kick := b.kicked()
		l, err := b.connect(kind)
		if err != nil {
			var be gosmpp.BindError
			refused := errors.As(err, &be)
			b.p.m.countBind(refused, err)
			b.note(kind, gateway.BindDown, failedAs(err))
			limit := cfg.RebindInterval
			if refused {
				limit = refusedBackoffFactor * cfg.RebindInterval
				backoff = max(backoff, cfg.RebindInterval)
			}
			if msg := err.Error(); msg != lastErr {
				// Log a changed reason once, not every attempt.
				log.Warn("smpp: bind failed, retrying", "err", err, "attempt", attempt, "refused", refused)
				lastErr = msg
			} else {
				log.Debug("smpp: bind failed again", "err", err, "attempt", attempt)
			}
			if !b.sleep(kick, jitter(backoff)) {
				return
			}
			backoff = min(backoff*2, limit)
			continue
		}
		b.p.m.countBind(false, nil)
		lastErr = ""
		if kind == pdu.Receiver {
			b.rx.Store(l)
		} else {
			b.tx.Store(l)
			b.setUp(true)
		}
		log.Info("smpp: bound", "attempt", attempt)
		b.note(kind, gateway.BindBound, fmt.Sprintf("bound at attempt %d", attempt))
		upAt := b.p.clock.now()
		select {
		case <-l.closed:
		case <-b.p.quit:
			l.close()
			return
		}
		if b.quitting() {
			return
		}
		if l.rebind.Load() != nil {
			// An operator's rebind: bind again now, starting over.
			backoff = min(initialBackoff, cfg.RebindInterval)
			attempt = 0
			continue
		}
		if b.p.clock.now().Sub(upAt) > cfg.RebindInterval {
			backoff = min(initialBackoff, cfg.RebindInterval)
			attempt = 0
		}
		if !b.sleep(kick, jitter(backoff)) {
			return
		}
		backoff = min(backoff*2, cfg.RebindInterval)
	}
}

func bindTypeName(k pdu.BindingType) string {
	switch k {
	case pdu.Transmitter:
		return bindTransmitter
	case pdu.Receiver:
		return bindReceiver
	}
	return BindTransceiver
}

// jitter spreads a wait over [d/2, d] so binds that dropped together do not
// reconnect in lockstep.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func (b *bind) quitting() bool {
	select {
	case <-b.p.quit:
		return true
	default:
		return false
	}
}

// sleep waits d on the pool's clock, reporting false when the pool
// stopped meanwhile. A rebind (kickNow) since kick was taken ends the
// wait early.
func (b *bind) sleep(kick <-chan struct{}, d time.Duration) bool {
	done, stop := make(chan struct{}), make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-b.p.quit:
		case <-kick:
		case <-stop:
			return
		}
		close(done)
	}()
	b.p.clock.sleep(done, d)
	return !b.quitting()
}

// connect opens one link: dial, bind, and a gosmpp Session without
// automatic rebinding.
func (b *bind) connect(kind pdu.BindingType) (*link, error) {
	l := &link{kind: kind, closed: make(chan struct{}), since: time.Now()}
	addr := b.p.cfg.addr()
	if kind == pdu.Receiver {
		addr = b.p.cfg.receiverAddr()
	}
	sess, err := gosmpp.NewSession(&connector{b: b, kind: kind, addr: addr}, b.settings(l), 0)
	if err != nil {
		return nil, fmt.Errorf("smpp: bind %s to %s: %w", bindTypeName(kind), addr, err)
	}
	l.sess.Store(sess)
	return l, nil
}

// connector is our gosmpp.Connector: gosmpp's own cannot set an address
// range on a transmitter, bound the bind exchange, or use TLS.
type connector struct {
	b    *bind
	kind pdu.BindingType
	addr string
}

func (c *connector) GetBindType() pdu.BindingType { return c.kind }

// Connect dials and binds (interface_version 0x34). The whole exchange is
// bounded by response_timeout: gosmpp would read the bind_resp without a
// deadline, so a peer that accepts TCP and never answers would hang the
// bind forever. gosmpp sets its own deadlines for every later read and
// write. A bind_resp with an error status is a gosmpp.BindError.
func (c *connector) Connect() (*gosmpp.Connection, error) {
	p := c.b.p
	raw, err := p.dial(c.addr)
	if err != nil {
		return nil, err
	}
	_ = raw.SetDeadline(time.Now().Add(p.cfg.ResponseTimeout))
	conn := gosmpp.NewConnection(newBatchConn(raw))
	req := pdu.NewBindRequest(c.kind)
	req.SystemID, req.Password, req.SystemType = p.cfg.SystemID, p.cfg.Password, p.cfg.SystemType
	req.InterfaceVersion = data.SMPP_V34
	req.AddressRange = pdu.AddressRange{AddressRange: p.cfg.AddressRange}
	if _, err := conn.WritePDU(req); err != nil {
		_ = conn.Close()
		return nil, err
	}
	for {
		resp, err := pdu.Parse(conn)
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		br, ok := resp.(*pdu.BindResp)
		if !ok {
			continue
		}
		if br.CommandStatus != data.ESME_ROK {
			_ = conn.Close()
			return nil, gosmpp.BindError{CommandStatus: br.CommandStatus}
		}
		return conn, nil
	}
}

// dial opens the TCP (or TLS) connection of a link.
func (p *Pool) dial(addr string) (net.Conn, error) {
	if d := p.opts.Dialer; d != nil {
		return d(addr)
	}
	nd := &net.Dialer{Timeout: p.cfg.ResponseTimeout}
	if p.tls != nil {
		td := tls.Dialer{NetDialer: nd, Config: p.tls}
		return td.Dial("tcp", addr)
	}
	return nd.Dial("tcp", addr)
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

func (b *bind) settings(l *link) gosmpp.Settings {
	cfg := &b.p.cfg
	return gosmpp.Settings{
		EnquireLink: cfg.EnquireLink,
		// A link is dead when nothing, not even an enquire_link_resp, came
		// for one interval plus the time an answer may take.
		ReadTimeout:  cfg.EnquireLink + cfg.ResponseTimeout,
		WriteTimeout: cfg.ResponseTimeout,
		OnAllPDU:     func(p pdu.PDU) (pdu.PDU, bool) { return b.onPDU(l, p) },
		OnSubmitError: func(p pdu.PDU, err error) {
			if _, ok := p.(*pdu.SubmitSM); ok {
				b.resolve(p.GetSequenceNumber(), outcome{err: fmt.Errorf("smpp: write submit_sm: %w", err)})
			}
		},
		OnReceivingError: func(err error) {
			l.readErr.Store(&err)
			b.log.Debug("smpp: read failed", "err", err)
		},
		OnClosed: func(state gosmpp.State) {
			// gosmpp may report one close twice (our Close racing its
			// reader's failed read): only the first counts, or the second
			// would mark down the link that replaced this one.
			if l.ended.Swap(true) {
				return
			}
			// markClosed wakes the reconnect loop, so it comes last: a new
			// link must never be marked down, or its submits failed, by the
			// old link's late callback.
			defer l.markClosed()
			to, why := l.closedAs(state, b.p.stopping(), cfg.EnquireLink+cfg.ResponseTimeout)
			b.note(l.kind, to, why)
			if l.kind == pdu.Receiver {
				b.log.Info("smpp: receiver closed", "state", state.String())
				return
			}
			b.setUp(false)
			err := ErrConnectionLost
			if b.p.stopping() {
				err = ErrStopped
			}
			n := b.failAll(err)
			if state == gosmpp.ExplicitClosing {
				b.log.Info("smpp: unbound", "failed_in_flight", n)
				return
			}
			b.log.Warn("smpp: bind lost", "state", state.String(), "failed_in_flight", n)
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
func (b *bind) onPDU(l *link, p pdu.PDU) (pdu.PDU, bool) {
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
		b.p.enqueue(delivery{l: l, d: p, at: time.Now()})
	case *pdu.EnquireLink:
		return p.GetResponse(), false
	case *pdu.Unbind:
		l.peerUnbind.Store(true)
		if l.kind != pdu.Receiver {
			b.setUp(false)
		}
		b.log.Warn("smpp: SMSC unbound us")
		return p.GetResponse(), true // gosmpp closes, OnClosed fails in-flight, keep rebinds
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
	l := b.tx.Load()
	if l == nil || !b.up.Load() {
		return outcome{err: ErrNotBound}
	}
	seq := sm.GetSequenceNumber()
	pe := pendings.Get().(*pending)
	b.mu.Lock()
	b.pending[seq] = pe
	b.mu.Unlock()

	if err := l.submit(sm); err != nil {
		if b.forget(seq) {
			pendings.Put(pe)
		} // else failAll took it and sends to it: not reused
		if errors.Is(err, gosmpp.ErrConnectionClosing) {
			err = ErrConnectionLost
		}
		return outcome{err: err}
	}
	pe.timeout.Reset(b.p.cfg.ResponseTimeout)
	var o outcome
	select {
	case o = <-pe.done:
		pe.timeout.Stop()
	case <-pe.timeout.C:
		if b.forget(seq) {
			o = outcome{err: ErrResponseTimeout}
		} else {
			o = <-pe.done // resolved while the timer fired
		}
	}
	pendings.Put(pe)
	return o
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
// is still pending. The pool's quit channel is closed first, so keep does
// not reconnect.
func (b *bind) close() {
	if l := b.tx.Load(); l != nil {
		l.close()
	}
	if l := b.rx.Load(); l != nil {
		l.close()
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
