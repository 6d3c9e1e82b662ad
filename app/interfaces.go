package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/grpcapi"
	"github.com/openmf/smsgw/httpapi/messagegateway"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/webhook"
)

// Interface is one way callers reach the gateway besides the gRPC API:
// Fineract's message-gateway API, Kannel's interface (with FrontlineSMS).
// The app builds each from its descriptor and drives them all the same way.
type Interface interface {
	// Routes are its handlers on the HTTP listener, by ServeMux pattern
	// (none when it has a listener of its own).
	Routes() map[string]http.Handler
	// TaskHandlers are the outbox task kinds it carries out (keyword
	// actions, callbacks).
	TaskHandlers() map[string]gateway.TaskHandler
	// Start opens its own listener, if any, and its background work; it
	// runs before the engine starts, so a taken port fails the start.
	Start() error
	// Stop stops taking requests and ends its background work.
	Stop(ctx context.Context) error
	// Reload builds what a new config changes live and returns the func
	// that swaps it in, or an error that refuses the reload: the app
	// applies every interface's change only once all of them, and its own,
	// are built. The app has already refused every change that needs a
	// restart.
	Reload(cfg *config.Config) (apply func(), err error)
}

// InterfaceKind describes one interface: its name, whether a config asks
// for it, and how to build it. Adding an interface is its own package plus
// one line in InterfaceKinds. Its config section is a struct its package
// owns (with its Validate), embedded in config.Config as it is.
type InterfaceKind struct {
	Name string
	Uses func(cfg *config.Config) bool
	New  func(cfg *config.Config, env InterfaceEnv) (Interface, error)
}

// InterfaceEnv is what the composition root hands every interface.
type InterfaceEnv struct {
	Engine     *gateway.Engine
	Webhooks   *webhook.Client // every outgoing call, under the allow-list
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Gatherer reads the same registry, for status pages that show a
	// metric per label (a carrier's counters).
	Gatherer prometheus.Gatherer
	// Counters and Carriers are the gateway's, for status pages.
	// Carriers leaves out what the metrics registry holds (binds up,
	// parts in flight, throttled: zero), so it is cheap enough per request
	// and per batch of events (Kannel's smsc= and dlr-url %o): reading the
	// registry there cost ~5 µs a dlr-url callback.
	Counters func() (map[string]float64, error)
	Carriers func() []grpcapi.CarrierState
	// Auth backs off failed logins on every interface; Listeners caps the
	// connections of an interface's own listener.
	Auth      *guard.Backoff
	Listeners *guard.Listeners
}

// InterfaceKinds is the registration list of interfaces.
var InterfaceKinds = []InterfaceKind{
	{Name: "message_gateway", Uses: func(*config.Config) bool { return true }, New: newFineract},
	{Name: "kannel", Uses: usesKannel, New: newKannel},
	{Name: "smpp_server", Uses: usesSMPPServer, New: newSMPPServer},
}

// fineract is Fineract's message-gateway API on the HTTP listener. Its
// routes delegate to handlers a reload replaces (new tenants, keys,
// bridges); the patterns, which depend on message_gateway.end_point only,
// stay.
type fineract struct {
	env    InterfaceEnv
	routes atomic.Pointer[map[string]http.Handler]
}

func newFineract(cfg *config.Config, env InterfaceEnv) (Interface, error) {
	f := &fineract{env: env}
	apply, err := f.Reload(cfg)
	if err != nil {
		return nil, err
	}
	apply()
	return f, nil
}

// Reload builds the API for the config's tenants (keys, bridges).
func (f *fineract) Reload(cfg *config.Config) (func(), error) {
	mg, err := messagegateway.New(cfg.FineractTenants(), f.env.Engine, messagegateway.Options{
		Prefix: cfg.MessageGateway.EndPoint, ReportHorizon: cfg.MessageGateway.ReportHorizon,
		Logger: f.env.Logger.With("api", "fineract"), Registerer: f.env.Registerer,
		Auth: f.env.Auth, MaxBodyBytes: cfg.Limits.HTTP.MaxBodyBytes,
	})
	if err != nil {
		return nil, err
	}
	routes := mg.Routes()
	return func() { f.routes.Store(&routes) }, nil
}

// Routes serves each pattern with the handler in force.
func (f *fineract) Routes() map[string]http.Handler {
	out := map[string]http.Handler{}
	for p := range *f.routes.Load() {
		out[p] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*f.routes.Load())[p].ServeHTTP(w, r) })
	}
	return out
}

// TaskHandlers: the API has none; Fineract polls for reports.
func (f *fineract) TaskHandlers() map[string]gateway.TaskHandler { return nil }

// Start: nothing runs in the background.
func (f *fineract) Start() error { return nil }

// Stop: the HTTP listener's owner stops taking requests.
func (f *fineract) Stop(context.Context) error { return nil }
