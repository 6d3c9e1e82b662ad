package kannel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/keyword"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/webhook"
)

// Task kinds this package runs. Register them with the engine
// (Server.TaskHandlers); keyword rules name ServiceKind or FrontlineKind as
// their Service.
const (
	// TaskDLR calls one dlr-url for one delivery-report type.
	TaskDLR = "kannel.dlr"
	// ServiceKind is a keyword rule's Kannel sms-service (its Service in
	// Services.SMS).
	ServiceKind = "kannel"
	// FrontlineKind forwards a keyword rule's messages to FrontlineSMS
	// (its Frontline in Services.Frontline).
	FrontlineKind = "frontline"
)

// DLRCursor is the event cursor FollowDLR keeps in the store, so a
// restarted gateway goes on where the last acknowledged batch ended.
const DLRCursor = "kannel-dlr"

// Engine is what the interface needs of the gateway; *gateway.Engine
// implements it. It is an interface so the answer texts can be tested
// against a fake without a carrier.
type Engine interface {
	Accept(ctx context.Context, tenant string, reqs []gateway.SendRequest) ([]gateway.AcceptOutcome, error)
	GetInbound(ctx context.Context, tenant, id string) (*gateway.Inbound, error)
	Keywords() *keyword.Table
	EnqueueTasks(ctx context.Context, tasks []gateway.Task) (int, error)
	Follow(ctx context.Context, cursor string, kind gateway.EventKind, fn func(context.Context, []gateway.Event) error) error
	Ready() bool
	// AllowAutoReply takes one sms-service answer from the auto-reply
	// budget; false skips it.
	AllowAutoReply(tenant, number string) bool
}

var _ Engine = (*gateway.Engine)(nil)

// Options wires what does not come from the config.
type Options struct {
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
	// Version is shown on /status.
	Version string
	// Counters feeds /status from the metrics registry (the App's
	// Counters); nil shows zeros.
	Counters func() (map[string]float64, error)
	// Carriers lists the carriers (name, kind, bind user, up) for
	// /status, smsc= and %o; nil knows none. It is called per request and
	// per batch of events, so it must be cheap.
	Carriers func() []Carrier
	// CarrierCounters reads the carriers' counters for /status, by
	// carrier name; nil shows zeros. It may be slow (a metrics registry
	// read): only /status and the load sampler call it.
	CarrierCounters func() map[string]CarrierCounters
	// Auth backs off failed logins (shared with the other interfaces);
	// nil makes one of its own with the defaults.
	Auth *guard.Backoff
	// MaxBodyBytes caps a request body (413 above it); default
	// guard.DefaultKannel.MaxBodyBytes.
	MaxBodyBytes int64
	// MaxReceivers caps the receivers of one sendsms or Frontline call
	// (413 above it, nothing stored); default DefaultMaxReceivers.
	MaxReceivers int
}

// DefaultMaxReceivers is far more receivers than one Kannel call carries in
// practice, and few enough to store as one commit.
const DefaultMaxReceivers = 1000

// Carrier is one carrier as /status shows it (Kannel's SMSC connection).
type Carrier struct {
	ID   string // the carrier's name in the config (Kannel's smsc-id)
	Kind string // smpp, twilio, ...
	// Name is the connection as bearerbox names it on /status
	// ("SMPP:host:port/port:user:system-type"); empty shows the kind.
	Name string
	// SystemID is the SMPP bind user (%o of a receipt's report, and the
	// status line's user).
	SystemID string
	Up       bool
	CarrierCounters
}

// CarrierCounters are the counters of bearerbox's SMSC line
// (smsc2_status): messages and receipts received from the carrier, parts
// sent to it, parts it refused for good, parts handed to it and not
// answered yet. (Kannel's "sent dlr" counts receipts a bearerbox sends to
// an SMSC, which smsgw never does.)
type CarrierCounters struct {
	Received, ReceivedDLR, Sent, Failed, Queued int64
}

// Server is the Kannel-compatible interface: sendsms, status, dlr-url
// callbacks, sms-service URLs and the Frontline integration.
type Server struct {
	cfg     Config
	eng     Engine
	wh      *webhook.Client
	opts    Options
	log     *slog.Logger
	users   map[string]*user
	started time.Time
	mux     *http.ServeMux
	dlrSent atomic.Int64
	// boxQueued counts the dlr-url calls enqueued by this process and not
	// yet made (or given up): the smsbox queue of /status.
	boxQueued atomic.Int64
	loads     loads
	upMu      sync.Mutex
	up        map[string]time.Time // carrier → first seen up since it was down
	sys       sysInfo
	// services are the keyword rules' sms-services and Frontline
	// forwards; SetServices swaps them (a config reload).
	services atomic.Pointer[Services]
}

// Services are what the Kannel interface does for keyword rules, by rule
// name: the rule (gateway/keyword) only says ServiceKind or FrontlineKind,
// the settings live here, typed.
type Services struct {
	SMS       map[string]*Service
	Frontline map[string]*Frontline
}

// SetServices replaces the keyword rules' services; a task already due runs
// with the services in force when it runs.
func (s *Server) SetServices(svc Services) { s.services.Store(&svc) }

// user is a configured User with its parsed IP allow-list.
type user struct {
	User
	nets []*net.IPNet
}

// New checks the config and builds the server; wh makes every outgoing
// call (dlr-url, get-url, Frontline), so its allow-list applies to all.
func New(cfg Config, eng Engine, wh *webhook.Client, opts Options) (*Server, error) {
	cfg.setDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("kannel: %w", errors.Join(errs...))
	}
	if eng == nil || wh == nil {
		return nil, errors.New("kannel: an engine and a webhook client are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Version == "" {
		opts.Version = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			opts.Version = bi.Main.Version
		}
	}
	if opts.Auth == nil {
		opts.Auth, _ = guard.NewBackoff(guard.AuthConfig{}, nil, opts.Now) // the defaults are valid
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = guard.DefaultKannel.MaxBodyBytes
	}
	if opts.MaxReceivers <= 0 {
		opts.MaxReceivers = DefaultMaxReceivers
	}
	s := &Server{cfg: cfg, eng: eng, wh: wh, opts: opts, log: opts.Logger.With("interface", "kannel"),
		users: map[string]*user{}, started: opts.Now(), up: map[string]time.Time{},
		sys: readSysInfo()}
	s.SetServices(Services{})
	for _, u := range cfg.Users {
		pu := &user{User: u}
		for _, a := range u.AllowIP {
			if _, n, err := net.ParseCIDR(a); err == nil {
				pu.nets = append(pu.nets, n)
				continue
			}
			ip := net.ParseIP(a)
			bits := 8 * len(ip.To16())
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			pu.nets = append(pu.nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		}
		s.users[u.Username] = pu
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/cgi-bin/sendsms", s.sendsms)
	for _, p := range []string{"/status", "/status.txt", "/status.xml", "/status.html"} {
		mux.HandleFunc(p, s.status)
	}
	mux.HandleFunc("/frontline/send", s.frontlineSend)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeAnswer(w, http.StatusNotFound, answerUnknown)
	})
	s.mux = mux
	return s, nil
}

// Listen is the address the config asks the interface to listen on.
func (s *Server) Listen() string { return s.cfg.Listen }

// Handler is the listener's handler tree: /cgi-bin/sendsms, /status,
// /status.txt, /status.xml, /status.html and /frontline/send; anything else
// is answered as smsbox answers an unknown path.
func (s *Server) Handler() http.Handler { return s.mux }

// TaskHandlers are the task kinds to register with Engine.HandleTasks:
// dlr-url calls, sms-service calls and Frontline forwards.
func (s *Server) TaskHandlers() map[string]gateway.TaskHandler {
	return map[string]gateway.TaskHandler{
		TaskDLR:       s.runDLR,
		ServiceKind:   s.runService,
		FrontlineKind: s.runFrontline,
	}
}

// errAuthFailed refuses wrong credentials or a client outside the
// user's allow_ip.
var errAuthFailed = errors.New("kannel: authorization failed")

// authorise finds the user for credentials and a client address, as
// gw/smsbox.c authorise_username does: unknown user, wrong password and a
// client outside the user's allow_ip all fail alike (errAuthFailed). The
// password is compared in constant time, an unknown user costs the same
// comparison, and a source or user backing off after failed logins is
// refused unchecked with a *guard.BackoffError.
func (s *Server) authorise(username, password, remoteAddr string) (*user, error) {
	host := guard.Source(remoteAddr)
	if err := s.opts.Auth.Check("kannel", host, username); err != nil {
		s.log.Warn("sendsms refused: failed logins back off", "user", username, "ip", host)
		return nil, err
	}
	u := s.users[username]
	want := ""
	if u != nil {
		want = u.Password
	}
	if match := guard.Equal(password, want); u == nil || username == "" || !match {
		s.opts.Auth.Fail("kannel", host, username)
		return nil, errAuthFailed
	}
	if len(u.nets) == 0 {
		s.opts.Auth.Pass(username)
		return u, nil
	}
	ip := net.ParseIP(host)
	for _, n := range u.nets {
		if ip != nil && n.Contains(ip) {
			s.opts.Auth.Pass(username)
			return u, nil
		}
	}
	s.log.Warn("sendsms user called from a non-allowed address", "user", username, "ip", host)
	s.opts.Auth.Fail("kannel", host, "")
	return nil, errAuthFailed
}

// authAnswer is the answer to a refused authorisation: 429 with the wait
// while backing off, else Kannel's 403.
func authAnswer(err error) (int, string) {
	var b *guard.BackoffError
	if errors.As(err, &b) {
		return http.StatusTooManyRequests, "Too many failed logins, retry in " + strconv.Itoa(int(b.RetryAfter.Seconds()+0.999)) + " seconds"
	}
	return http.StatusForbidden, answerAuthFailed
}
