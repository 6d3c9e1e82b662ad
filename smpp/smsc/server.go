package smsc

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/openmf/smsgw/smpp/internal/wire"
)

// ErrNoReceiver is returned by SendMO and SendDeliverSM when no bound
// receiver or transceiver session can take a deliver_sm.
var ErrNoReceiver = errors.New("smsc: no bound receiver or transceiver")

// ErrClosed is returned by Server methods used after Close.
var ErrClosed = errors.New("smsc: server closed")

// firstID is where message ids start, so that ids look like a carrier's
// (ten digits, hex with letters) rather than "1", "2", where decimal and hex
// spellings coincide and a normalization bug would go unnoticed.
const firstID = 1_000_000_000

// Server is a running SMSC simulator. Create it with NewServer, Listen or
// NewUnstartedServer; all methods are safe for concurrent use.
type Server struct {
	opts options
	ln   net.Listener

	nextID  atomic.Uint64
	nextSeq atomic.Uint32

	mu        sync.Mutex
	sessions  map[*session]struct{}
	submits   []Submit
	delivers  []Deliver
	bindLog   []Bind
	deliverAt map[uint32]int            // sequence number → index in delivers, until answered
	unacked   map[uint32]unackedReceipt // receipts sent and not yet answered ESME_ROK
	queued    []receipt                 // receipts waiting for a receiver of their system_id
	closed    bool
	started   bool

	wg sync.WaitGroup // accept loop and connection goroutines

	st struct {
		binds, bindFailures, submits, submitErrors, dropped   atomic.Int64
		receipts, mos, deliverResps, deliverRespErr, enquires atomic.Int64
		redelivered                                           atomic.Int64
		nacks, maxInFlight                                    atomic.Int64
		bound, maxBound                                       atomic.Int64
		throttled, linkDrops, enquireResps, unbindResps       atomic.Int64
		unbinds                                               atomic.Int64
	}
	stalled atomic.Bool
	limiter *rate.Limiter // nil without WithTPS
}

// Submit is one submit_sm as the simulator received it, for tests to assert
// exactly which parts arrived and to count duplicates.
type Submit struct {
	SystemID           string // of the session it arrived on
	Seq                uint32 // the client's sequence number
	ServiceType        string
	Source             string
	SourceTON          byte
	SourceNPI          byte
	Dest               string
	DestTON            byte
	DestNPI            byte
	ESMClass           byte
	ProtocolID         byte
	ValidityPeriod     string // as sent, "" when none
	RegisteredDelivery byte
	DataCoding         byte
	ShortMessage       []byte            // raw, including the UDH when esm_class has 0x40
	TLVs               map[uint16][]byte // optional parameters, nil when none
	MessageID          string            // as written in submit_sm_resp; empty unless accepted
	ReceiptID          string            // the same id as written in receipts
	Status             uint32            // command_status answered (or to be answered)
	Time               time.Time
}

// Bind is one bind request the simulator received, for tests of bind
// parameters.
type Bind struct {
	Type             string // "transceiver", "transmitter" or "receiver"
	SystemID         string
	SystemType       string
	InterfaceVersion byte
	AddressRange     string
	Status           uint32 // command_status answered
}

// Binds returns every bind request received so far, in order.
func (s *Server) Binds() []Bind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Bind(nil), s.bindLog...)
}

// Deliver is one deliver_sm the simulator sent, and what the client answered.
type Deliver struct {
	SystemID  string
	Seq       uint32
	Receipt   bool   // a delivery receipt (else a mobile-originated message)
	MessageID string // the receipted id, for receipts
	Sent      time.Time
	Answered  bool
	Status    uint32 // deliver_sm_resp command_status, when Answered
}

// Stats are the simulator's counters.
type Stats struct {
	Binds               int64 // successful binds
	BindFailures        int64 // binds refused (bad credentials, already bound)
	Bound               int   // sessions bound now
	MaxBound            int64 // most sessions bound at once, to check bind caps
	Submits             int64 // submit_sm received on bound sessions
	SubmitErrors        int64 // answered with a non-zero command_status
	Dropped             int64 // left unanswered by Action.Drop or Action.Close
	ReceiptsSent        int64 // including redeliveries
	ReceiptsRedelivered int64 // sent again after no answer or a failed deliver_sm_resp
	MOSent              int64
	DeliverResps        int64 // deliver_sm_resp received, any status
	DeliverRespErrors   int64 // deliver_sm_resp received with a non-zero status
	EnquireLinks        int64 // enquire_link received
	GenericNacks        int64 // generic_nack sent for unknown or garbled PDUs
	MaxInFlight         int64 // most submit_sm one session had unanswered at once
	Throttled           int64 // answered ESME_RTHROTTLED by WithThrottle or WithTPS
	LinkDrops           int64 // connections killed by WithLinkDrops
	EnquireLinkResps    int64 // answers to EnquireLinkClients
	UnbindResps         int64 // answers to UnbindClients
	Unbinds             int64 // unbind received from clients (a clean close)
}

// NewServer starts a simulator on 127.0.0.1 at a free port. It panics if it
// cannot listen, like httptest.NewServer: tests have no way to recover.
func NewServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	s.Start()
	return s
}

// NewUnstartedServer listens on 127.0.0.1 at a free port but does not accept
// connections until Start, so a test can learn the address first.
func NewUnstartedServer(opts ...Option) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("smsc: listen: %v", err))
	}
	return newServer(ln, opts)
}

// Listen starts a simulator on a fixed address, for `smsgw simulate-smsc
// --listen` and demos where the client's config names the port.
func Listen(addr string, opts ...Option) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smsc: listen: %w", err)
	}
	s := newServer(ln, opts)
	s.Start()
	return s, nil
}

func newServer(ln net.Listener, opts []Option) *Server {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{
		opts:      o,
		ln:        ln,
		sessions:  make(map[*session]struct{}),
		deliverAt: make(map[uint32]int),
		unacked:   make(map[uint32]unackedReceipt),
	}
	s.nextID.Store(firstID)
	if o.tps > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(o.tps), max(1, int(o.tps/10)))
	}
	if o.tlsConfig != nil {
		s.ln = tls.NewListener(ln, o.tlsConfig)
	}
	return s
}

// Start begins accepting connections. Calling it twice, or after Close, does
// nothing.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	s.wg.Add(1)
	go s.acceptLoop()
}

// Addr is the host:port clients dial.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening and closes every connection without unbinding, like
// an SMSC that went away. It waits for the connection goroutines and is
// idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	sessions := s.sessionList()
	s.mu.Unlock()

	_ = s.ln.Close()
	for _, c := range sessions {
		c.close()
	}
	s.wg.Wait()
}

// KillConnections closes every connection abruptly but keeps listening, to
// simulate a dead link that the client must detect and rebind.
func (s *Server) KillConnections() {
	s.mu.Lock()
	sessions := s.sessionList()
	s.mu.Unlock()
	for _, c := range sessions {
		c.close()
	}
}

// Stall makes every connection stop answering (and reading binds) while on,
// without closing anything: a link that went silent, which the client must
// detect by its enquire_link going unanswered.
func (s *Server) Stall(on bool) { s.stalled.Store(on) }

// EnquireLinkClients sends an enquire_link on every bound session and
// reports how many; answers count in Stats.EnquireLinkResps.
func (s *Server) EnquireLinkClients() int {
	return s.toBound(wire.CmdEnquireLink)
}

// UnbindClients asks every bound session to unbind, as an SMSC going into
// maintenance does; answers count in Stats.UnbindResps, and the connection
// closes on the answer.
func (s *Server) UnbindClients() int {
	return s.toBound(wire.CmdUnbind)
}

func (s *Server) toBound(cmd uint32) int {
	s.mu.Lock()
	sessions := s.sessionList()
	s.mu.Unlock()
	n := 0
	for _, c := range sessions {
		if c.isBound() && c.send(wire.HeaderOnly(cmd, 0, s.seq())) {
			n++
		}
	}
	return n
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	bound := 0
	for c := range s.sessions {
		if c.isBound() {
			bound++
		}
	}
	s.mu.Unlock()
	return Stats{
		Binds:               s.st.binds.Load(),
		BindFailures:        s.st.bindFailures.Load(),
		Bound:               bound,
		Submits:             s.st.submits.Load(),
		SubmitErrors:        s.st.submitErrors.Load(),
		Dropped:             s.st.dropped.Load(),
		ReceiptsSent:        s.st.receipts.Load(),
		ReceiptsRedelivered: s.st.redelivered.Load(),
		MOSent:              s.st.mos.Load(),
		DeliverResps:        s.st.deliverResps.Load(),
		DeliverRespErrors:   s.st.deliverRespErr.Load(),
		EnquireLinks:        s.st.enquires.Load(),
		GenericNacks:        s.st.nacks.Load(),
		MaxInFlight:         s.st.maxInFlight.Load(),
		MaxBound:            s.st.maxBound.Load(),
		Throttled:           s.st.throttled.Load(),
		LinkDrops:           s.st.linkDrops.Load(),
		EnquireLinkResps:    s.st.enquireResps.Load(),
		UnbindResps:         s.st.unbindResps.Load(),
		Unbinds:             s.st.unbinds.Load(),
	}
}

// Submits returns a copy of every submit_sm received so far, in arrival
// order (empty with WithoutRecording).
func (s *Server) Submits() []Submit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Submit(nil), s.submits...)
}

// Delivers returns a copy of every deliver_sm sent so far with the client's
// answer, in sending order (empty with WithoutRecording).
func (s *Server) Delivers() []Deliver {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Deliver(nil), s.delivers...)
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		c := newSession(s, conn)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			continue
		}
		s.sessions[c] = struct{}{}
		s.wg.Add(2)
		s.mu.Unlock()
		go c.readLoop()
		go c.writeLoop()
	}
}

// sessionList returns the current sessions; s.mu must be held.
func (s *Server) sessionList() []*session {
	out := make([]*session, 0, len(s.sessions))
	for c := range s.sessions {
		out = append(out, c)
	}
	return out
}

func (s *Server) removeSession(c *session) {
	if c.isBound() {
		s.noteBound(-1)
	}
	s.mu.Lock()
	delete(s.sessions, c)
	// Receipts the client never answered are kept for its next bind, as a
	// carrier's SMSC does: a gateway that crashed before storing a receipt
	// gets it again.
	for seq, u := range s.unacked {
		if u.session == c {
			delete(s.unacked, seq)
			s.queued = append(s.queued, u.receipt)
		}
	}
	s.mu.Unlock()
}

// receiver picks a bound session that may receive deliver_sm: prefer is
// taken when it can, else any with the same system_id (any at all when
// systemID is empty).
func (s *Server) receiver(prefer *session, systemID string) *session {
	if prefer != nil && prefer.canReceive() {
		return prefer
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.sessions {
		if c.canReceive() && (systemID == "" || c.systemIDNow() == systemID) {
			return c
		}
	}
	return nil
}

func (s *Server) recordSubmit(sub Submit) {
	if !s.opts.record {
		return
	}
	s.mu.Lock()
	s.submits = append(s.submits, sub)
	s.mu.Unlock()
}

func (s *Server) recordDeliver(d Deliver) {
	if !s.opts.record {
		return
	}
	s.mu.Lock()
	s.deliverAt[d.Seq] = len(s.delivers)
	s.delivers = append(s.delivers, d)
	s.mu.Unlock()
}

// recordDeliverResp records the answer before counting it, so a test that
// sees the count also sees the answer in Delivers.
func (s *Server) recordDeliverResp(seq, status uint32) {
	defer func() {
		if status != 0 {
			s.st.deliverRespErr.Add(1)
		}
		s.st.deliverResps.Add(1)
	}()
	s.mu.Lock()
	u, ok := s.unacked[seq]
	delete(s.unacked, seq)
	if s.opts.record {
		if i, ok := s.deliverAt[seq]; ok {
			delete(s.deliverAt, seq)
			s.delivers[i].Answered = true
			s.delivers[i].Status = status
		}
	}
	s.mu.Unlock()
	if ok && status != 0 {
		// The client could not take it now (ESME_RX_T_APPN and the like):
		// try again a little later, like an SMSC's retry schedule.
		time.AfterFunc(redeliverAfter, func() { s.sendReceipt(nil, u.receipt) })
	}
}

// noteBound counts a session bound (+1) or gone (-1) and keeps the peak.
func (s *Server) noteBound(delta int64) {
	n := s.st.bound.Add(delta)
	for {
		cur := s.st.maxBound.Load()
		if n <= cur || s.st.maxBound.CompareAndSwap(cur, n) {
			return
		}
	}
}

func (s *Server) noteInFlight(n int64) {
	for {
		cur := s.st.maxInFlight.Load()
		if n <= cur || s.st.maxInFlight.CompareAndSwap(cur, n) {
			return
		}
	}
}

func (s *Server) seq() uint32 {
	for {
		if v := s.nextSeq.Add(1) & 0x7FFFFFFF; v != 0 {
			return v
		}
	}
}
