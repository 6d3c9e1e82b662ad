package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/grpcapi"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/routing"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// Gateway is what the console reads and drives besides the engine and the
// store; the app implements it over the config in force and its router.
type Gateway interface {
	// Carriers reports every carrier's state now.
	Carriers() []grpcapi.CarrierState
	// ExplainRoute routes a number for tenant now, without sending.
	ExplainRoute(tenant, to, from string) (*grpcapi.Explanation, error)
	// Routes is the routing table in force, as configured.
	Routes() []routing.Route
	// Tenants are the tenants in force.
	Tenants() []gateway.Tenant
	// ResetBreaker closes a carrier's breaker now.
	ResetBreaker(carrier string)
	// BreakerHistory is a carrier's last breaker transitions on this
	// node, newest first.
	BreakerHistory(carrier string) []routing.BreakerChange
	// TenantLimits reports each tenant's fraud and spend controls in force
	// and its spend today and this month.
	TenantLimits(tenant string) ([]grpcapi.TenantLimits, error)
	// Reload rereads the config file and applies what may change live,
	// or refuses it whole saying why; it returns the paths that changed.
	Reload() ([]string, error)
	// SMPPAccounts are the SMPP server's accounts and their open binds,
	// none when the gateway runs no SMPP server.
	SMPPAccounts() []smppserver.AccountState
}

// Options wire a console.
type Options struct {
	Config  Config
	Engine  *gateway.Engine
	Store   gateway.Store // read directly for lists the engine does not offer
	Gateway Gateway
	// Keys are the gRPC API's keys, reloaded from the store when a key is
	// made or revoked here, so the change holds on this node at once.
	Keys *grpcapi.Keys
	// Gatherer is the registry the overview's live counters come from.
	Gatherer prometheus.Gatherer
	// Auth backs off failed sign-ins (interface "console"); nil: a fresh
	// table with the defaults.
	Auth   *guard.Backoff
	Logger *slog.Logger // nil: discard
	// Now is the clock of sessions; nil: time.Now.
	Now func() time.Time
	// Tick is how often the overview's stream samples; default 1s.
	Tick time.Duration
}

// Console is the web console: its handlers under /console/, its sessions
// and its audit trail.
type Console struct {
	opts     Options
	log      *slog.Logger
	users    atomic.Pointer[map[string]User]
	secure   atomic.Bool // Config.SecureCookies in force
	sessions *sessions
	audit    *auditLog
	pages    map[string]*template.Template
	static   http.Handler
	dummy    []byte // a bcrypt hash compared against when the user is unknown

	stopOnce sync.Once
	done     chan struct{} // closed by Stop: live streams end
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New builds a console; it serves nothing until its Routes are mounted.
func New(opts Options) (*Console, error) {
	opts.Config.SetDefaults()
	if errs := opts.Config.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("console: %w", errors.Join(errs...))
	}
	if opts.Engine == nil || opts.Store == nil || opts.Gateway == nil || opts.Gatherer == nil || opts.Keys == nil {
		return nil, errors.New("console: Engine, Store, Gateway, Keys and Gatherer are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.Auth == nil {
		b, err := guard.NewBackoff(guard.AuthConfig{}, nil, opts.Now)
		if err != nil {
			return nil, err
		}
		opts.Auth = b
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{opts: opts, log: opts.Logger.With("interface", "console"), pages: pages,
		sessions: newSessions(opts.Config.SessionTTL, opts.Config.IdleTimeout, opts.Now),
		audit:    &auditLog{log: opts.Logger.With("interface", "console"), now: opts.Now, engine: opts.Engine, store: opts.Store},
		static:   http.StripPrefix("/console/static/", http.FileServerFS(static)),
		done:     make(chan struct{}),
	}
	cost := bcrypt.MinCost
	for _, u := range opts.Config.Users {
		cost = max(cost, u.HashCost())
	}
	// As costly as the dearest real hash, so an unknown name takes as long.
	c.dummy, _ = bcrypt.GenerateFromPassword([]byte(randomToken()), cost)
	c.setUsers(opts.Config)
	return c, nil
}

// setUsers swaps the users in force and signs out every session whose
// user is gone or changed.
func (c *Console) setUsers(cfg Config) {
	users := map[string]User{}
	for _, u := range cfg.Users {
		users[u.Username] = u
	}
	c.users.Store(&users)
	c.secure.Store(cfg.SecureCookies)
	c.sessions.endUsersNotIn(users)
}

// Reload checks a new console section and returns the func that puts its
// users in force; session lengths keep their values until a restart.
func (c *Console) Reload(cfg Config) (func(), error) {
	cfg.SetDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("console: %w", errors.Join(errs...))
	}
	return func() { c.setUsers(cfg) }, nil
}

// Stop ends the live streams, so the HTTP listener's shutdown does not
// wait for them.
func (c *Console) Stop() {
	c.stopOnce.Do(func() { close(c.done) })
}

// Routes are the console's handlers on the HTTP listener, by ServeMux
// pattern.
func (c *Console) Routes() map[string]http.Handler {
	all, op := Viewer, Operator
	r := map[string]http.Handler{
		"GET /console/{$}":       http.RedirectHandler("/console/overview", http.StatusSeeOther),
		"GET /console/static/":   c.static,
		"GET /console/login":     http.HandlerFunc(c.loginPage),
		"POST /console/login":    http.HandlerFunc(c.login),
		"POST /console/logout":   c.page(all, false, c.logout),
		"GET /console/overview":  c.page(all, false, c.overview),
		"GET /console/live":      c.page(all, false, c.live),
		"GET /console/carriers":  c.page(all, false, c.carriers),
		"POST /console/carriers": c.page(op, true, c.carrierAction),
		"GET /console/routes":    c.page(all, false, c.routes),
		"POST /console/routes":   c.page(op, true, c.reload),
		"GET /console/messages":  c.page(all, false, c.messages),
		"GET /console/message":   c.page(all, false, c.message),
		"POST /console/message":  c.page(op, false, c.messageAction),
		"GET /console/inbound":   c.page(all, false, c.inbound),
		"POST /console/inbound":  c.page(op, false, c.taskAction),
		"GET /console/optouts":   c.page(all, false, c.optouts),
		"POST /console/optouts":  c.page(op, false, c.optoutAction),
		"GET /console/audit":     c.page(all, false, c.auditPage),
		"GET /console/tenants":   c.page(all, false, c.tenantsPage),
		"POST /console/tenants":  c.page(op, false, c.keyAction),
	}
	return r
}
