package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/smpp/internal/wire"
)

// Engine is what the server needs of the gateway: the accept path every
// interface shares, and the event log it follows for receipts and MO.
type Engine interface {
	Accept(ctx context.Context, tenant string, reqs []gateway.SendRequest) ([]gateway.AcceptOutcome, error)
	Follow(ctx context.Context, cursor string, kind gateway.EventKind, fn func(context.Context, []gateway.Event) error) error
}

var _ Engine = (*gateway.Engine)(nil)

// Options are the server's collaborators; every field may be left zero.
type Options struct {
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are not registered
	// Auth backs off wrong passwords per source address and system_id;
	// nil checks every attempt.
	Auth *guard.Backoff
	Now  func() time.Time // nil: time.Now
}

// Server is smsgw's SMPP 3.4 server: ESMEs bind to it as to a carrier.
// New → Start → Stop.
type Server struct {
	cfg      Config
	eng      Engine
	log      *slog.Logger
	auth     *guard.Backoff
	now      func() time.Time
	metrics  *metrics
	accounts map[string]*account
	reasm    *reassembler
	tls      *tls.Config
	// dummyHash is compared against when a system_id is unknown, so the
	// answer takes as long as for a wrong password: same cost as the
	// accounts' hashes.
	dummyHash []byte

	nextSeq atomic.Uint32

	ctx    context.Context // ends at Stop: followers and accepts in flight
	cancel context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener
	sessions map[*session]struct{}
	stopped  bool
	wg       sync.WaitGroup // accept loop, sessions, followers
	stopOnce sync.Once
}

// account is one Account while the server runs: its rate, its binds and
// the follower that delivers its receipts.
type account struct {
	cfg     Account
	limiter *rate.Limiter // nil: no account rate

	mu        sync.Mutex
	binds     map[*session]struct{}
	following bool
	receiver  chan struct{} // closed and replaced when a receiver binds
}

// New checks the config and builds a server; nothing listens until Serve.
// cfg must have its defaults set (Config.SetDefaults).
func New(cfg Config, eng Engine, opts Options) (*Server, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("smpp server: %w", errors.Join(errs...))
	}
	if len(cfg.Accounts) == 0 {
		return nil, errNoAccounts
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, eng: eng, log: opts.Logger, auth: opts.Auth, now: opts.Now, metrics: m,
		accounts: map[string]*account{}, sessions: map[*session]struct{}{}}
	for _, a := range cfg.Accounts {
		for _, ip := range a.AllowIP {
			p, _ := parsePrefix(ip) // validated above
			a.prefixes = append(a.prefixes, p)
		}
		acc := &account{cfg: a, binds: map[*session]struct{}{}, receiver: make(chan struct{})}
		if a.Rate > 0 {
			acc.limiter = rate.NewLimiter(rate.Limit(a.Rate), max(a.Burst, 1))
		}
		s.accounts[a.SystemID] = acc
		m.binds.WithLabelValues(a.SystemID).Add(0)
		m.pending.WithLabelValues(a.SystemID).Add(0)
	}
	cost, _ := bcrypt.Cost([]byte(cfg.Accounts[0].PasswordHash)) // validated above
	if s.dummyHash, err = bcrypt.GenerateFromPassword([]byte("not a password"), cost); err != nil {
		return nil, fmt.Errorf("smpp server: %w", err)
	}
	if cfg.TLS != nil {
		if s.tls, err = cfg.TLS.ServerConfig(); err != nil {
			return nil, fmt.Errorf("smpp server: tls.%w", err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.reasm = newReassembler(s, cfg.ReassemblyWait)
	return s, nil
}

// Listen is the configured address, for the caller that opens the
// listener (and caps its connections) before Serve.
func (s *Server) Listen() string { return s.cfg.Listen }

// Serve serves on ln (wrapped in TLS when configured) until Stop; it
// returns at once.
func (s *Server) Serve(ln net.Listener) {
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(2)
	go s.acceptLoop(ln)
	go func() { defer s.wg.Done(); s.reasm.run(s.ctx) }()
}

// Addr is where the server listens, nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		c := newSession(s, conn)
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			_ = conn.Close()
			continue
		}
		s.sessions[c] = struct{}{}
		s.wg.Add(3)
		s.mu.Unlock()
		go c.readLoop()
		go c.writeLoop()
		go c.acceptLoop()
	}
}

// Stop stops taking binds, asks every ESME to unbind, lets the submits
// already read finish their accept and answer (within ctx), then closes
// every connection and ends the receipt followers. Receipts not yet
// acknowledged stay behind their cursors for the next start. Idempotent.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		ln := s.ln
		sessions := s.sessionList()
		s.mu.Unlock()
		if ln != nil {
			_ = ln.Close()
		}
		for _, c := range sessions {
			c.stopping()
		}
		for _, c := range sessions {
			c.settle(ctx)
		}
		for _, c := range sessions {
			c.close()
		}
		s.cancel()
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("smpp server: stop: %w", ctx.Err())
	}
}

func (s *Server) sessionList() []*session {
	out := make([]*session, 0, len(s.sessions))
	for c := range s.sessions {
		out = append(out, c)
	}
	return out
}

func (s *Server) removeSession(c *session) {
	s.mu.Lock()
	delete(s.sessions, c)
	s.mu.Unlock()
}

// seq draws a sequence number for a PDU the server sends (1..0x7FFFFFFF).
func (s *Server) seq() uint32 {
	for {
		if v := s.nextSeq.Add(1) & 0x7FFFFFFF; v != 0 {
			return v
		}
	}
}

// Bind is one ESME connection bound now, for the CLI and the console.
type Bind struct {
	SystemID string
	Type     string // transmitter, receiver or transceiver
	Remote   string
	Since    time.Time
	InFlight int // submit_sm read and not yet answered
}

// AccountState is an account and its binds.
type AccountState struct {
	SystemID string
	Tenant   string
	MaxBinds int
	Window   int
	Rate     float64
	Binds    []Bind
}

// Accounts lists the accounts and their binds, by system_id.
func (s *Server) Accounts() []AccountState {
	var out []AccountState
	for _, a := range s.accounts {
		st := AccountState{SystemID: a.cfg.SystemID, Tenant: a.cfg.Tenant, MaxBinds: a.cfg.MaxBinds, Window: a.cfg.Window, Rate: a.cfg.Rate}
		a.mu.Lock()
		for c := range a.binds {
			st.Binds = append(st.Binds, c.state())
		}
		a.mu.Unlock()
		sort.Slice(st.Binds, func(i, j int) bool { return st.Binds[i].Since.Before(st.Binds[j].Since) })
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SystemID < out[j].SystemID })
	return out
}

// authenticate checks a bind's credentials and limits and, when they
// pass, registers the session with its account. The status is what the
// bind_resp answers.
func (s *Server) authenticate(c *session, req bindReq, cmd uint32) uint32 {
	source := guard.Source(c.conn.RemoteAddr().String())
	log := s.log.With("system_id", req.systemID, "remote", c.conn.RemoteAddr().String())
	if s.auth != nil {
		if err := s.auth.Check("smpp", source, req.systemID); err != nil {
			log.Warn("smpp bind refused: backing off", "err", err)
			s.metrics.bindFailures.WithLabelValues("backoff").Inc()
			return statusInvPaswd
		}
	}
	a := s.accounts[req.systemID]
	hash := s.dummyHash
	if a != nil {
		hash = []byte(a.cfg.PasswordHash)
	}
	// bcrypt compares in constant time; an unknown system_id costs the
	// same and gets the same answer, so binds tell nothing of which exist.
	if err := bcrypt.CompareHashAndPassword(hash, []byte(req.password)); err != nil || a == nil {
		if s.auth != nil {
			s.auth.Fail("smpp", source, req.systemID)
		}
		reason := "password"
		if a == nil {
			reason = "unknown_system_id"
		}
		log.Warn("smpp bind refused", "reason", reason)
		s.metrics.bindFailures.WithLabelValues(reason).Inc()
		return statusInvPaswd
	}
	if s.auth != nil {
		s.auth.Pass(req.systemID)
	}
	if !a.cfg.allows(c.conn.RemoteAddr()) {
		log.Warn("smpp bind refused: address not in allow_ip")
		s.metrics.bindFailures.WithLabelValues("allow_ip").Inc()
		return statusBindFail
	}
	a.mu.Lock()
	if len(a.binds) >= a.cfg.MaxBinds {
		a.mu.Unlock()
		log.Warn("smpp bind refused: max_binds reached", "max_binds", a.cfg.MaxBinds)
		s.metrics.bindFailures.WithLabelValues("max_binds").Inc()
		return statusBindFail
	}
	// The session is bound before it is listed: whoever finds it in
	// a.binds sees its account.
	c.mu.Lock()
	c.acct, c.bindCmd, c.since = a, cmd, s.now()
	c.mu.Unlock()
	a.binds[c] = struct{}{}
	receives := cmd != wire.CmdBindTransmitter
	startFollower := receives && !a.following
	if receives {
		a.following = true
		close(a.receiver)
		a.receiver = make(chan struct{})
	}
	a.mu.Unlock()
	s.metrics.binds.WithLabelValues(a.cfg.SystemID).Inc()
	log.Info("smpp bound", "bind", bindName(cmd))
	if startFollower {
		s.startFollowers(a)
	}
	return statusOK
}

// unbound forgets a session's bind.
func (s *Server) unbound(a *account, c *session) {
	a.mu.Lock()
	_, ok := a.binds[c]
	delete(a.binds, c)
	a.mu.Unlock()
	if ok {
		s.metrics.binds.WithLabelValues(a.cfg.SystemID).Dec()
	}
}

// receiverFor returns a bound session of the account that takes
// deliver_sm, waiting until one binds or ctx ends.
func (a *account) receiverFor(ctx context.Context) (*session, error) {
	for {
		a.mu.Lock()
		var best *session
		for c := range a.binds {
			if c.receives() && (best == nil || c.pendingDelivers() < best.pendingDelivers()) {
				best = c
			}
		}
		wait := a.receiver
		a.mu.Unlock()
		if best != nil {
			return best, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func bindName(cmd uint32) string {
	switch cmd {
	case wire.CmdBindTransmitter:
		return "transmitter"
	case wire.CmdBindReceiver:
		return "receiver"
	}
	return "transceiver"
}
