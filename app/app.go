// Package app assembles a whole gateway from a config: store, carriers,
// router, engine and listeners. It is what `smsgw serve` runs, and it is
// embeddable, so tests start real gateways (even two) in one process.
//
// Start order is store → engine (carriers bind) → listeners; Stop runs it
// backwards: stop taking requests, drain submissions, unbind, close the
// store. A message accepted before Stop is durable whatever Stop's context
// allows.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/grpcapi"
	"github.com/openmf/smsgw/httpapi"
	"github.com/openmf/smsgw/httpapi/messagegateway"
	"github.com/openmf/smsgw/provider"
	"github.com/openmf/smsgw/routing"
	"github.com/openmf/smsgw/smpp"
	"github.com/openmf/smsgw/webhook"
)

// Options are the parts of a gateway that do not come from the config file.
type Options struct {
	Logger *slog.Logger // nil: discard
	// Registry receives every metric; nil makes a fresh one with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// ConfigPath is the file routes are reloaded from; empty (the demo,
	// tests) makes reloads fail with a clear error.
	ConfigPath string
	// Routes are extra handlers on the HTTP listener by ServeMux pattern:
	// the demo's simulator control.
	Routes map[string]http.Handler
	// ConnectorKinds replaces the registration list ConnectorKinds (a
	// test's fake kind); reloads read the file with it too.
	ConnectorKinds []ConnectorKind
}

// App is one running gateway.
type App struct {
	cfg        *config.Config
	kinds      []ConnectorKind
	path       string
	log        *slog.Logger
	router     *routing.Router
	connectors map[string]gateway.Connector
	registry   *prometheus.Registry
	store      gateway.Store
	engine     *gateway.Engine
	grpc       *grpcapi.Server
	http       *httpapi.Server
	kannel     *kannelPart

	grpcLis, httpLis net.Listener
	serving          sync.WaitGroup
	stopOnce         sync.Once
	stopErr          error
}

// New opens the store and builds everything; nothing is listening or bound
// until Start.
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	table, err := routing.NewTable(cfg.Routes)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Store, store.Options{Logger: log, LeaseDuration: cfg.Store.Lease})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	slots, _ := st.(gateway.BindSlots) // shared stores cap binds cluster-wide
	var conns []gateway.Connector
	byName := map[string]gateway.Connector{}
	hooks := map[string]http.Handler{}
	kinds := opts.ConnectorKinds
	if kinds == nil {
		kinds = ConnectorKinds
	}
	for _, c := range cfg.Carriers {
		conn, err := newConnector(kinds, c, ConnectorEnv{Logger: log, Registerer: reg, BindSlots: slots})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("app: carrier %s: %w", c.Name, err)
		}
		conns = append(conns, conn)
		byName[c.Name] = conn
		if w, ok := conn.(provider.Webhooks); ok {
			hooks[c.Name] = w.WebhookHandler()
		}
	}
	router, err := routing.NewRouter(table, routing.Options{
		Breaker:    cfg.Breaker,
		Registerer: reg,
		Up:         func(name string) bool { c := byName[name]; return c != nil && c.Up() },
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	keywords, err := cfg.KeywordTable()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("app: keywords: %w", err)
	}
	eng, err := gateway.New(gateway.Options{
		Store: st, Router: router, Connectors: conns, Segment: smpp.Count, Tenants: cfg.EngineTenants(),
		Logger: log, Registerer: reg,
		MaxParts: cfg.Gateway.MaxParts, MaxAttempts: cfg.Gateway.MaxAttempts,
		RetryBase: cfg.Gateway.RetryBase, RetryMax: cfg.Gateway.RetryMax,
		EventRetention: cfg.Gateway.EventRetention,
		Keywords:       keywords,
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	hooksOut := webhook.New(cfg.Webhooks, nil)
	if err := eng.HandleTasks(gateway.TaskWebhook, hooksOut.InboundHandler(eng)); err != nil {
		st.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	keys := map[string][]string{}
	for _, t := range cfg.Tenants {
		keys[t.ID] = t.APIKeys
	}
	a := &App{cfg: cfg, kinds: kinds, path: opts.ConfigPath, log: log, router: router, connectors: byName, registry: reg, store: st, engine: eng}
	if err := a.newKannel(cfg, hooksOut); err != nil {
		st.Close()
		return nil, fmt.Errorf("app: kannel: %w", err)
	}
	var grpcOpts []grpc.ServerOption
	if t := cfg.Listen.GRPCTLS; t != nil {
		tc, err := t.ServerConfig()
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("app: listen.grpc_tls.%w", err)
		}
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(tc)))
	}
	a.grpc = grpcapi.New(eng, a, grpcapi.NewKeys(keys, cfg.Admin.APIKeys), cfg.Gateway.MaxBatch, grpcOpts...)
	mg, err := messagegateway.New(cfg.FineractTenants(), eng, messagegateway.Options{
		Prefix: cfg.MessageGateway.EndPoint, ReportHorizon: cfg.MessageGateway.ReportHorizon,
		Logger: log.With("api", "fineract"), Registerer: reg,
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("app: message_gateway: %w", err)
	}
	routes := mg.Routes()
	for p, h := range opts.Routes {
		routes[p] = h
	}
	a.http = httpapi.New(httpapi.Options{Gatherer: reg, Ready: a.ready, Webhooks: hooks, Routes: routes})
	return a, nil
}

// ready is what /readyz answers. A node of a cluster (a store shared by
// several nodes) is ready once its store is open: another node may hold all
// the carrier's bind slots, and this one still accepts and stores work. A
// single node is ready when it can also send.
func (a *App) ready() error {
	if _, shared := a.store.(gateway.BindSlots); shared {
		return nil
	}
	if !a.engine.Ready() {
		return errors.New("no carrier is bound")
	}
	return nil
}

// Start binds the carriers, resumes unfinished messages and listens.
func (a *App) Start() error {
	var err error
	if a.grpcLis, err = net.Listen("tcp", a.cfg.Listen.GRPC); err != nil {
		return fmt.Errorf("app: listen.grpc: %w", err)
	}
	if a.httpLis, err = net.Listen("tcp", a.cfg.Listen.HTTP); err != nil {
		a.grpcLis.Close()
		return fmt.Errorf("app: listen.http: %w", err)
	}
	if err := a.kannel.listen(); err != nil {
		a.grpcLis.Close()
		a.httpLis.Close()
		return err
	}
	if err := a.engine.Start(); err != nil {
		a.grpcLis.Close()
		a.httpLis.Close()
		if a.kannel != nil && a.kannel.lis != nil {
			a.kannel.lis.Close()
		}
		return err
	}
	a.kannel.start(a)
	a.serving.Add(2)
	go func() {
		defer a.serving.Done()
		if err := a.grpc.Serve(a.grpcLis); err != nil {
			a.log.Error("grpc listener", "err", err)
		}
	}()
	go func() {
		defer a.serving.Done()
		if err := a.http.Serve(a.httpLis); err != nil {
			a.log.Error("http listener", "err", err)
		}
	}()
	a.log.Info("smsgw started", "grpc", a.GRPCAddr(), "http", a.HTTPAddr(), "store", a.cfg.Store.Driver)
	return nil
}

// GRPCAddr is the address the gRPC listener got (useful with port 0).
func (a *App) GRPCAddr() string { return a.grpcLis.Addr().String() }

// HTTPAddr is the address the HTTP listener got.
func (a *App) HTTPAddr() string { return a.httpLis.Addr().String() }

// Engine gives tests and embedders the running engine.
func (a *App) Engine() *gateway.Engine { return a.engine }

var _ grpcapi.Operator = (*App)(nil)

// ReloadRoutes reads the config file again and swaps in its routing table
// and keyword rules.
// A file with any error, or whose routes name a carrier this gateway does not
// run, is refused whole and the table in force stays; messages in flight are
// untouched. Carriers, tenants and listeners need a restart for now.
func (a *App) ReloadRoutes() (int, error) {
	if a.path == "" {
		return 0, errors.New("app: reload: this gateway was not started from a config file")
	}
	path := a.path
	cfg, err := config.Load(path, Kinds(a.kinds))
	if err != nil {
		return 0, err
	}
	known := map[string]bool{}
	for _, c := range a.cfg.Carriers {
		known[c.Name] = true
	}
	var errs []error
	for i, r := range cfg.Routes {
		if !known[r.Carrier] {
			errs = append(errs, fmt.Errorf("routes[%d].carrier: %q is not running here (adding a carrier needs a restart)", i, r.Carrier))
		}
	}
	if len(errs) > 0 {
		return 0, fmt.Errorf("app: reload %s: %w", path, errors.Join(errs...))
	}
	t, err := routing.NewTable(cfg.Routes)
	if err != nil {
		return 0, fmt.Errorf("app: reload %s: %w", path, err)
	}
	kw, err := cfg.KeywordTable()
	if err != nil {
		return 0, fmt.Errorf("app: reload %s: keywords: %w", path, err)
	}
	a.router.Swap(t)
	a.engine.SetKeywords(kw)
	a.log.Info("routes and keywords reloaded", "path", path, "routes", len(cfg.Routes), "keywords", len(cfg.Keywords))
	return len(cfg.Routes), nil
}

// Carriers implements grpcapi.Operator.
func (a *App) Carriers() []grpcapi.CarrierState {
	var out []grpcapi.CarrierState
	for _, c := range a.cfg.Carriers {
		conn := a.connectors[c.Name]
		out = append(out, grpcapi.CarrierState{Name: c.Name, Kind: c.Kind, Up: conn.Up(), Window: conn.Window(), Breaker: a.router.BreakerState(c.Name)})
	}
	return out
}

// Counters implements grpcapi.Operator from the metrics registry, so the
// Admin service and /metrics can never disagree.
func (a *App) Counters() (map[string]float64, error) {
	mfs, err := a.registry.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "smsgw_") || mf.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[mf.GetName()] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// ExplainRoute implements grpcapi.Operator: the live decision, breakers and
// bind states included.
func (a *App) ExplainRoute(tenant, to, from string) (*grpcapi.Explanation, error) {
	t := a.cfg.Tenants[0]
	if tenant != "" {
		i := slices.IndexFunc(a.cfg.Tenants, func(t config.Tenant) bool { return t.ID == tenant })
		if i < 0 {
			return nil, &gateway.FieldError{Field: "tenant", Reason: fmt.Sprintf("no tenant %q", tenant)}
		}
		t = a.cfg.Tenants[i]
	}
	e164, err := gateway.NormalizeNumber(to, strings.ToUpper(t.DefaultRegion))
	if err != nil {
		return nil, &gateway.FieldError{Field: "to", Reason: err.Error()}
	}
	if from == "" {
		from = t.Sender
	}
	q := gateway.RouteQuery{Tenant: t.ID, From: from, To: e164, Key: e164}
	cands, err := a.router.Plan(q)
	if err != nil && !errors.Is(err, gateway.ErrNoRoute) {
		return nil, err
	}
	ex := &grpcapi.Explanation{To: e164, Candidates: cands, Breakers: map[string]string{}, Text: a.router.Explain(q)}
	for _, c := range cands {
		ex.Breakers[c.Carrier] = a.router.BreakerState(c.Carrier)
	}
	return ex, nil
}

// Router is the live routing layer, for explanations.
func (a *App) Router() *routing.Router { return a.router }

// Stop drains and closes everything; it is idempotent.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.grpc.Stop(ctx)
		errs := []error{a.kannel.stop(ctx), a.engine.Stop(ctx), a.http.Stop(ctx)}
		a.serving.Wait()
		errs = append(errs, a.store.Close())
		a.stopErr = errors.Join(errs...)
		a.log.Info("smsgw stopped")
	})
	return a.stopErr
}
