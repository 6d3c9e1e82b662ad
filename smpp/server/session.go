package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmf/smsgw/smpp/internal/wire"
)

// writeTimeout bounds one flush, so an ESME that stopped reading cannot
// hold the writer for ever.
const writeTimeout = 10 * time.Second

// session is one ESME connection: a reader that answers what it can at
// once and queues submits, an accepter that stores them in batches and
// answers them, and a writer.
type session struct {
	srv  *Server
	conn net.Conn

	out       chan []byte // frames for the writer
	jobs      chan *job   // submits read, to accept
	done      chan struct{}
	closeOnce sync.Once
	draining  atomic.Bool // Stop or unbind: take no new submit

	mu       sync.Mutex
	acct     *account // nil until bound
	bindCmd  uint32
	since    time.Time
	delivers map[uint32]chan uint32 // deliver_sm sequence → its answer

	inFlight atomic.Int64  // submit_sm read and not yet answered
	settled  chan struct{} // signalled when inFlight drops
}

func newSession(srv *Server, conn net.Conn) *session {
	return &session{
		srv:      srv,
		conn:     conn,
		out:      make(chan []byte, 1024),
		jobs:     make(chan *job, 1024),
		done:     make(chan struct{}),
		delivers: map[uint32]chan uint32{},
		settled:  make(chan struct{}, 1),
	}
}

func (c *session) account() *account {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acct
}

// receives says whether the bind takes deliver_sm.
func (c *session) receives() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acct != nil && c.bindCmd != wire.CmdBindTransmitter && !c.draining.Load()
}

func (c *session) pendingDelivers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.delivers)
}

func (c *session) state() Bind {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Bind{SystemID: c.acct.cfg.SystemID, Type: bindName(c.bindCmd), Remote: c.conn.RemoteAddr().String(),
		Since: c.since, InFlight: int(c.inFlight.Load())}
}

// send queues a frame; false once the session is gone.
func (c *session) send(frame []byte) bool {
	select {
	case c.out <- frame:
		return true
	case <-c.done:
		return false
	}
}

// answered counts one submit answered (or given up with the session).
func (c *session) answered() {
	c.inFlight.Add(-1)
	select {
	case c.settled <- struct{}{}:
	default:
	}
}

// close ends the session; safe from anywhere, many times. Deliveries
// waiting for an answer fail, so their receipts go out again elsewhere.
func (c *session) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.conn.Close()
		c.mu.Lock()
		a := c.acct
		for seq, ch := range c.delivers {
			close(ch)
			delete(c.delivers, seq)
		}
		c.mu.Unlock()
		if a != nil {
			c.srv.unbound(a, c)
		}
		c.srv.removeSession(c)
	})
}

// stopping asks the ESME to unbind and takes no further submit.
func (c *session) stopping() {
	c.draining.Store(true)
	if c.account() != nil {
		c.send(wire.HeaderOnly(wire.CmdUnbind, statusOK, c.srv.seq()))
	}
}

// settle waits until every submit read has been answered, or ctx ends.
func (c *session) settle(ctx context.Context) {
	for c.inFlight.Load() > 0 {
		select {
		case <-c.settled:
		case <-c.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (c *session) writeLoop() {
	defer c.srv.wg.Done()
	if wire.WriteLoop(c.conn, c.out, c.done, 32<<10, writeTimeout) {
		c.close()
	}
}

func (c *session) readLoop() {
	defer c.srv.wg.Done()
	defer c.close()
	r := bufio.NewReaderSize(c.conn, 32<<10)
	hdr := make([]byte, wire.HeaderLen)
	deadline := time.Now().Add(c.srv.cfg.BindTimeout)
	for {
		if c.account() != nil {
			deadline = time.Now().Add(c.srv.cfg.IdleTimeout)
		}
		_ = c.conn.SetReadDeadline(deadline)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		h := wire.ReadHeader(hdr)
		if h.Length < wire.HeaderLen || h.Length > wire.MaxPDULen {
			// The stream cannot be resynchronized: nack and hang up.
			c.srv.metrics.nacks.Inc()
			c.send(wire.HeaderOnly(wire.CmdGenericNack, statusInvCmdLen, h.Seq))
			c.send(nil)
			_, _ = io.Copy(io.Discard, r)
			return
		}
		body := make([]byte, h.Length-wire.HeaderLen)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		c.handle(h, body)
	}
}

func (c *session) nack(seq, status uint32) {
	c.srv.metrics.nacks.Inc()
	c.send(wire.HeaderOnly(wire.CmdGenericNack, status, seq))
}

func (c *session) handle(h wire.Header, body []byte) {
	switch h.Cmd {
	case wire.CmdBindTransmitter, wire.CmdBindReceiver, wire.CmdBindTransceiver:
		c.handleBind(h, body)
	case wire.CmdEnquireLink:
		c.send(wire.HeaderOnly(wire.CmdEnquireLinkResp, statusOK, h.Seq))
	case wire.CmdUnbind:
		c.draining.Store(true)
		ctx, cancel := context.WithTimeout(c.srv.ctx, c.srv.cfg.ResponseWait)
		c.settle(ctx)
		cancel()
		c.send(wire.HeaderOnly(wire.CmdUnbindResp, statusOK, h.Seq))
		c.send(nil)
	case wire.CmdUnbindResp:
		c.send(nil)
	case wire.CmdDeliverSMResp:
		c.deliverResp(h.Seq, h.Status)
	case wire.CmdEnquireLinkResp, wire.CmdGenericNack:
	case wire.CmdSubmitSM, wire.CmdDataSM, wire.CmdSubmitMulti:
		c.handleSubmit(h, body)
	default:
		if h.Cmd&wire.RespBit == 0 {
			c.nack(h.Seq, statusInvCmdID)
		}
	}
}

func (c *session) handleBind(h wire.Header, body []byte) {
	if c.account() != nil {
		c.send(bindResp(h.Cmd, statusAlyBnd, h.Seq))
		return
	}
	req, err := parseBind(body)
	if err != nil {
		c.nack(h.Seq, statusInvCmdLen)
		return
	}
	if c.draining.Load() {
		c.send(bindResp(h.Cmd, statusBindFail, h.Seq))
		c.send(nil)
		return
	}
	if status := c.srv.authenticate(c, req, h.Cmd); status != statusOK {
		c.send(bindResp(h.Cmd, status, h.Seq))
		c.send(nil)
		return
	}
	c.send(bindResp(h.Cmd, statusOK, h.Seq))
}

// deliverResp hands a deliver_sm_resp to the delivery waiting for it.
func (c *session) deliverResp(seq, status uint32) {
	c.mu.Lock()
	ch, ok := c.delivers[seq]
	delete(c.delivers, seq)
	c.mu.Unlock()
	if ok {
		ch <- status
	}
}

// deliver sends a deliver_sm and returns the channel its answer arrives
// on (closed without one if the session ends first).
func (c *session) deliver(build func(seq uint32) []byte) (<-chan uint32, bool) {
	seq := c.srv.seq()
	ch := make(chan uint32, 1)
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return nil, false
	default:
	}
	c.delivers[seq] = ch
	c.mu.Unlock()
	if !c.send(build(seq)) {
		return nil, false
	}
	return ch, true
}

// forget drops a delivery that timed out, so a late answer is ignored.
func (c *session) forget(ch <-chan uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for seq, w := range c.delivers {
		if w == ch {
			delete(c.delivers, seq)
		}
	}
}
