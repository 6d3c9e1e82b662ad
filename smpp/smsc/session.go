package smsc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/smpp/internal/wire"
)

// writeTimeout bounds one flush, so a client that stopped reading cannot
// wedge the writer forever.
const writeTimeout = 10 * time.Second

// session is one client connection.
type session struct {
	srv  *Server
	conn net.Conn

	out       chan []byte // frames for the writer; a nil frame means flush and close
	done      chan struct{}
	closeOnce sync.Once
	closing   atomic.Bool // unbinding: answer nothing more

	mu       sync.Mutex
	bound    bool
	bindType pdu.BindingType
	systemID string

	inFlight atomic.Int64
}

func newSession(srv *Server, conn net.Conn) *session {
	return &session{
		srv:  srv,
		conn: conn,
		out:  make(chan []byte, 4096),
		done: make(chan struct{}),
	}
}

func (c *session) isBound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bound
}

func (c *session) canReceive() bool {
	if c.closing.Load() {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bound && (c.bindType == pdu.Transceiver || c.bindType == pdu.Receiver)
}

func (c *session) systemIDNow() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.systemID
}

// send queues a frame for the writer; it reports false once the session is
// gone, so callers never block on a dead connection.
func (c *session) send(frame []byte) bool {
	select {
	case c.out <- frame:
		return true
	case <-c.done:
		return false
	}
}

// close ends the session abruptly; safe to call from anywhere, many times.
func (c *session) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.conn.Close()
		c.srv.removeSession(c)
	})
}

func (c *session) writeLoop() {
	defer c.srv.wg.Done()
	if wire.WriteLoop(c.conn, c.out, c.done, 64<<10, writeTimeout) {
		c.close()
	}
}

func (c *session) readLoop() {
	defer c.srv.wg.Done()
	defer c.close()
	r := bufio.NewReaderSize(c.conn, 64<<10)
	frame := make([]byte, 0, 512)
	for {
		if cap(frame) < 16 {
			frame = make([]byte, 16, 512)
		}
		frame = frame[:16]
		if _, err := io.ReadFull(r, frame); err != nil {
			return
		}
		h := wire.ReadHeader(frame)
		length, cmd, seq := h.Length, h.Cmd, h.Seq
		if length < 16 || length > wire.MaxPDULen {
			// The stream cannot be resynchronized: nack and hang up.
			c.srv.st.nacks.Add(1)
			c.send(wire.HeaderOnly(wire.CmdGenericNack, statusInvCmdLen, seq))
			c.send(nil)
			c.drain(r)
			return
		}
		if int(length) > cap(frame) {
			frame = append(frame, make([]byte, int(length)-16)...)
		}
		frame = frame[:length]
		if _, err := io.ReadFull(r, frame[16:]); err != nil {
			return
		}
		if c.closing.Load() || c.srv.stalled.Load() {
			continue
		}
		c.handle(cmd, seq, frame)
	}
}

// drain reads until the writer hangs up, so a final answer gets flushed.
func (c *session) drain(r io.Reader) {
	_, _ = io.Copy(io.Discard, r)
}

func (c *session) nack(seq, status uint32) {
	c.srv.st.nacks.Add(1)
	c.send(wire.HeaderOnly(wire.CmdGenericNack, status, seq))
}

func (c *session) handle(cmd, seq uint32, frame []byte) {
	switch cmd {
	case wire.CmdSubmitSM:
		c.handleSubmit(seq, frame[16:])
	case wire.CmdDeliverSMResp:
		c.srv.recordDeliverResp(seq, binary.BigEndian.Uint32(frame[8:]))
	case wire.CmdEnquireLink:
		c.srv.st.enquires.Add(1)
		c.send(wire.HeaderOnly(wire.CmdEnquireLinkResp, 0, seq))
	case wire.CmdEnquireLinkResp:
		c.srv.st.enquireResps.Add(1)
	case wire.CmdGenericNack:
	case wire.CmdUnbind:
		c.srv.st.unbinds.Add(1)
		c.closing.Store(true)
		c.send(wire.HeaderOnly(wire.CmdUnbindResp, 0, seq))
		c.send(nil) // the reader sees EOF once the writer has flushed and closed
	case wire.CmdUnbindResp:
		c.srv.st.unbindResps.Add(1)
		c.close()
	case wire.CmdBindTransceiver, wire.CmdBindTransmitter, wire.CmdBindReceiver:
		c.handleBind(seq, frame)
	default:
		if cmd&wire.RespBit == 0 {
			c.nack(seq, statusInvCmdID)
		}
	}
}

func (c *session) handleBind(seq uint32, frame []byte) {
	p, err := pdu.Parse(bytes.NewReader(frame))
	req, ok := p.(*pdu.BindRequest)
	if err != nil || !ok {
		c.nack(seq, statusInvCmdLen)
		return
	}
	status := uint32(0)
	o := &c.srv.opts
	c.mu.Lock()
	switch {
	case c.bound:
		status = statusAlyBnd
	case o.checkCreds && req.SystemID != o.systemID:
		status = statusInvSysID
	case o.checkCreds && req.Password != o.password:
		status = statusInvPaswd
	default:
		c.bound, c.bindType, c.systemID = true, req.BindingType, req.SystemID
	}
	c.mu.Unlock()

	typ := map[pdu.BindingType]string{pdu.Transceiver: "transceiver", pdu.Transmitter: "transmitter", pdu.Receiver: "receiver"}[req.BindingType]
	c.srv.mu.Lock()
	c.srv.bindLog = append(c.srv.bindLog, Bind{Type: typ, SystemID: req.SystemID, SystemType: req.SystemType,
		InterfaceVersion: req.InterfaceVersion, AddressRange: req.AddressRange.AddressRange, Status: status})
	c.srv.mu.Unlock()
	resp := pdu.NewBindResp(*req)
	resp.SystemID = "smsc"
	resp.CommandStatus = data.CommandStatusType(status)
	b := marshal(resp)
	if status != 0 && req.BindingType != pdu.Transceiver {
		// An error bind_resp may carry no body (gosmpp only reads one for
		// transceivers).
		b = b[:16]
		binary.BigEndian.PutUint32(b, 16)
	}
	// Counted before the answer, so a client that read its bind_resp sees
	// itself in Stats.
	if status == 0 {
		c.srv.st.binds.Add(1)
		c.srv.noteBound(1)
	} else {
		c.srv.st.bindFailures.Add(1)
	}
	c.send(b)
	if status != 0 {
		c.srv.opts.logger.Info("smsc: bind refused", "system_id", req.SystemID, "status", status)
		if status != statusAlyBnd {
			c.closing.Store(true)
			c.send(nil)
		}
		return
	}
	c.srv.opts.logger.Info("smsc: bound", "system_id", req.SystemID, "remote", c.conn.RemoteAddr().String())
	if c.canReceive() {
		c.srv.flushQueued(c, req.SystemID)
	}
}

func (c *session) handleSubmit(seq uint32, body []byte) {
	c.mu.Lock()
	ok := c.bound && c.bindType != pdu.Receiver
	systemID := c.systemID
	c.mu.Unlock()
	if !ok {
		c.send(wire.MessageResp(wire.CmdSubmitSM, statusInvBndSts, seq, ""))
		return
	}
	sub, err := parseSubmit(body)
	if err != nil {
		c.send(wire.MessageResp(wire.CmdSubmitSM, statusInvMsgLen, seq, ""))
		return
	}
	srv := c.srv
	srv.st.submits.Add(1)
	sub.SystemID, sub.Seq, sub.Time = systemID, seq, time.Now()

	var act Action
	if h := srv.opts.handler; h != nil {
		act = h(&sub)
	}
	o := &srv.opts
	accepted := act.Status == 0 && !act.Drop && !act.Close && act.Nack == 0
	if accepted && (srv.limiter != nil && !srv.limiter.Allow() || o.throttle > 0 && rand.Float64() < o.throttle) {
		act.Status, accepted = uint32(data.ESME_RTHROTTLED), false
		srv.st.throttled.Add(1)
	}
	if act.Delay == 0 && o.respMax > 0 {
		act.Delay = o.respMin + rand.N(o.respMax-o.respMin+1)
	}
	sub.Status = act.Status
	if accepted {
		id := srv.nextID.Add(1)
		sub.ReceiptID = strconv.FormatUint(id, 10)
		sub.MessageID = sub.ReceiptID
		switch o.idFormat {
		case IDHexResp:
			sub.MessageID = strconv.FormatUint(id, 16)
		case IDHexReceipt:
			sub.ReceiptID = strings.ToUpper(strconv.FormatUint(id, 16))
		case IDPaddedReceipt:
			sub.ReceiptID = fmt.Sprintf("%020d", id)
		}
	}
	srv.recordSubmit(sub)

	switch {
	case act.Close:
		srv.st.dropped.Add(1)
		c.close()
		return
	case act.Drop:
		srv.st.dropped.Add(1)
		return
	case act.Nack != 0:
		c.nack(seq, act.Nack)
		return
	case accepted && o.linkDrop > 0 && rand.Float64() < o.linkDrop:
		// Taken, but the answer dies with the link: the receipt follows
		// on the next bind.
		srv.st.linkDrops.Add(1)
		c.close()
		if wantsReceipt(sub.RegisteredDelivery, act.ReceiptStat) && !act.NoReceipt {
			srv.scheduleReceipt(nil, &sub, act)
		}
		return
	}
	wantReceipt := accepted && !act.NoReceipt && wantsReceipt(sub.RegisteredDelivery, act.ReceiptStat)
	if wantReceipt && o.receiptFirst > 0 && rand.Float64() < o.receiptFirst {
		srv.sendReceipt(c, srv.receiptFor(&sub, act))
		wantReceipt = false
	}
	if act.Status != 0 {
		srv.st.submitErrors.Add(1)
	}
	srv.noteInFlight(c.inFlight.Add(1))
	respond := func() {
		c.inFlight.Add(-1)
		if !c.send(wire.MessageResp(wire.CmdSubmitSM, act.Status, seq, sub.MessageID)) {
			return
		}
		if accepted && act.Intermediate != "" && (sub.RegisteredDelivery&0x10 != 0 || act.IntermediateUnasked) {
			srv.scheduleIntermediate(c, &sub, act, wantReceipt)
			return
		}
		if wantReceipt {
			srv.scheduleReceipt(c, &sub, act)
		}
	}
	if act.Delay > 0 {
		time.AfterFunc(act.Delay, respond)
		return
	}
	respond()
}

// wantsReceipt applies registered_delivery bits 0–1: 1 = always, 2 = on
// failure only.
func wantsReceipt(rd byte, stat string) bool {
	switch rd & 0x03 {
	case 1:
		return true
	case 2:
		return stat != "" && stat != "DELIVRD"
	}
	return false
}
