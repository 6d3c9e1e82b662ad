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
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/limits"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/grpcapi"
	"github.com/openmf/smsgw/httpapi"
	"github.com/openmf/smsgw/httpapi/rest"
	"github.com/openmf/smsgw/internal/buildinfo"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/provider"
	"github.com/openmf/smsgw/routing"
	"github.com/openmf/smsgw/smpp"
	"github.com/openmf/smsgw/smstext"
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
	restConn   *grpc.ClientConn // the REST gateway's, to grpc
	keys       *grpcapi.Keys
	http       *httpapi.Server
	interfaces []Interface // Fineract's, Kannel's, … (InterfaceKinds)
	webhooks   *webhook.Client
	listeners  *guard.Listeners // connection caps of every listener
	taskKinds  map[string]bool  // kinds of the task handlers registered
	reloadMu   sync.Mutex       // one reload at a time; guards cfg after Start

	grpcLis, httpLis net.Listener
	serving          sync.WaitGroup
	stopOnce         sync.Once
	stopErr          error
	stopKeys         chan struct{} // closed by Stop: the stored keys' poll ends
}

// storedKeysPoll is how often a node rereads the API keys made in the
// console, so a key made or revoked on another node works or stops here
// within it (at once on the node that did it).
const storedKeysPoll = 30 * time.Second

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
	if err := buildinfo.Register(reg); err != nil {
		return nil, fmt.Errorf("smsgw_build_info: %w", err)
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
		Store: st, Router: router, Connectors: conns, Segment: smstext.Count[gateway.Encoding],
		SegmentUCS2: smstext.CountUCS2[gateway.Encoding], Tenants: cfg.EngineTenants(),
		Logger: log, Registerer: reg,
		MaxParts: cfg.Gateway.MaxParts, MaxAttempts: cfg.Gateway.MaxAttempts, ScheduleHorizon: cfg.Gateway.ScheduleHorizon,
		RetryBase: cfg.Gateway.RetryBase, RetryMax: cfg.Gateway.RetryMax,
		EventRetention: cfg.Gateway.EventRetention,
		Keywords:       keywords,
		AutoReply:      cfg.Limits.AutoReply,
		Price:          price(router),
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	hooksOut := webhook.New(cfg.Webhooks, nil)
	a := &App{cfg: cfg, kinds: kinds, path: opts.ConfigPath, log: log, router: router, connectors: byName, registry: reg,
		store: st, engine: eng, webhooks: hooksOut, taskKinds: map[string]bool{}}
	if err := a.handleTasks(gateway.TaskWebhook, hooksOut.InboundHandler(eng)); err != nil {
		st.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	backoff, err := guard.NewBackoff(cfg.Limits.Auth, reg, nil)
	if err == nil {
		a.listeners, err = guard.NewListeners(reg)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	gl := cfg.Limits.GRPC
	grpcOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(gl.MaxBodyBytes)),
		grpc.ConnectionTimeout(gl.ReadHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: gl.IdleTimeout}),
	}
	if t := cfg.Listen.GRPCTLS; t != nil {
		tc, err := t.ServerConfig()
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("app: listen.grpc_tls.%w", err)
		}
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(tc)))
	}
	a.keys = grpcapi.NewKeys(apiKeys(cfg))
	a.keys.BackOff(backoff)
	if err := a.keys.LoadStored(ctx, st); err != nil {
		st.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	a.stopKeys = make(chan struct{})
	a.grpc = grpcapi.New(eng, a, a.keys, log, cfg.Gateway.MaxBatch, grpcOpts...)
	// REST/JSON on the HTTP listener: the gRPC API through an in-process
	// connection, so the same keys, limits and errors.
	if a.restConn, err = a.grpc.InProcess(); err != nil {
		st.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	routes, err := rest.Routes(a.restConn)
	if err != nil {
		a.restConn.Close()
		st.Close()
		return nil, fmt.Errorf("app: %w", err)
	}
	env := InterfaceEnv{Engine: eng, Webhooks: hooksOut, Logger: log, Registerer: reg, Gatherer: reg, Counters: a.Counters, Carriers: func() []grpcapi.CarrierState { return a.carriers(false) },
		Auth: backoff, Listeners: a.listeners}
	for _, k := range InterfaceKinds {
		if !k.Uses(cfg) {
			continue
		}
		i, err := k.New(cfg, env)
		if err == nil {
			err = a.addInterface(i, routes)
		}
		if err != nil {
			a.restConn.Close()
			st.Close()
			return nil, fmt.Errorf("app: %s: %w", k.Name, err)
		}
	}
	if cfg.Console != nil {
		c, err := a.newConsole(cfg, backoff)
		if err == nil {
			err = a.addInterface(c, routes)
		}
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("app: console: %w", err)
		}
	}
	if cfg.Admin.PProf {
		maps.Copy(routes, a.pprofRoutes())
	}
	for p, h := range opts.Routes {
		routes[p] = h
	}
	a.http = httpapi.New(httpapi.Options{Gatherer: reg, Ready: a.ready, Webhooks: hooks, Routes: routes,
		Limits: cfg.Limits.HTTP, CORSOrigins: cfg.Limits.CORSOrigins, Auth: backoff})
	return a, nil
}

// price is what a tenant's spend caps count a part to a number at: the
// most expensive route the table offers for it, whatever state its
// carriers are in now (a message may fall back to any of them).
func price(r *routing.Router) func(gateway.RouteQuery) float64 {
	return func(q gateway.RouteQuery) float64 {
		cands, _ := r.Table().Plan(q)
		p := 0.0
		for _, c := range cands {
			p = max(p, c.Cost)
		}
		return p
	}
}

// config is the config in force (a reload replaces it).
func (a *App) config() *config.Config {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	return a.cfg
}

// apiKeys are the gRPC API's keys by tenant, and the admin keys.
func apiKeys(cfg *config.Config) (map[string][]string, []string) {
	keys := map[string][]string{}
	for _, t := range cfg.Tenants {
		keys[t.ID] = t.APIKeys
	}
	return keys, cfg.Admin.APIKeys
}

// addInterface registers an interface's task handlers and routes.
func (a *App) addInterface(i Interface, routes map[string]http.Handler) error {
	for kind, h := range i.TaskHandlers() {
		if err := a.handleTasks(kind, h); err != nil {
			return err
		}
	}
	for p, h := range i.Routes() {
		routes[p] = h
	}
	a.interfaces = append(a.interfaces, i)
	return nil
}

// handleTasks registers a task handler with the engine and remembers its
// kind, so a reload can refuse keyword actions nothing here would run.
func (a *App) handleTasks(kind string, h gateway.TaskHandler) error {
	if err := a.engine.HandleTasks(kind, h); err != nil {
		return err
	}
	a.taskKinds[kind] = true
	return nil
}

// ready is what /readyz answers. A node of a cluster (a store shared by
// several nodes) is ready once its store is open: another node may hold all
// the carrier's bind slots, and this one still accepts and stores work. A
// single node is ready when it can also send.
func (a *App) ready() error {
	if err := a.engine.StoreWritable(); err != nil {
		return err
	}
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
	a.grpcLis = a.listeners.Limit("grpc", a.grpcLis, a.cfg.Limits.GRPC.MaxConnections)
	if a.httpLis, err = net.Listen("tcp", a.cfg.Listen.HTTP); err != nil {
		a.grpcLis.Close()
		return fmt.Errorf("app: listen.http: %w", err)
	}
	a.httpLis = a.listeners.Limit("http", a.httpLis, a.cfg.Limits.HTTP.MaxConnections)
	started := 0
	undo := func() {
		a.grpcLis.Close()
		a.httpLis.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, i := range a.interfaces[:started] {
			_ = i.Stop(ctx)
		}
	}
	for _, i := range a.interfaces {
		if err := i.Start(); err != nil {
			undo()
			return err
		}
		started++
	}
	if err := a.engine.Start(); err != nil {
		undo()
		return err
	}
	a.serving.Add(3)
	go func() {
		defer a.serving.Done()
		a.keys.Follow(a.stopKeys, a.store, storedKeysPoll, a.log)
	}()
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
	a.log.Info("smsgw started", "grpc", a.GRPCAddr(), "http", a.HTTPAddr(), "store", a.cfg.Store.Driver, "version", buildinfo.Get().String())
	return nil
}

// GRPCAddr is the address the gRPC listener got (useful with port 0).
func (a *App) GRPCAddr() string { return a.grpcLis.Addr().String() }

// HTTPAddr is the address the HTTP listener got.
func (a *App) HTTPAddr() string { return a.httpLis.Addr().String() }

// Engine gives tests and embedders the running engine.
func (a *App) Engine() *gateway.Engine { return a.engine }

var _ grpcapi.Operator = (*App)(nil)

// ReloadRoutes implements grpcapi.Operator with Reload, answering the
// number of routes now in force.
func (a *App) ReloadRoutes() (int, error) {
	if _, err := a.Reload(); err != nil {
		return 0, err
	}
	return len(a.config().Routes), nil
}

// Carriers implements grpcapi.Operator.
func (a *App) Carriers() []grpcapi.CarrierState { return a.carriers(true) }

// carriers lists the configured carriers with their state; with metrics,
// also their binds up, parts in flight and throttling, which come from the
// SMPP metrics (/metrics shows them too) at the price of reading the whole
// registry.
func (a *App) carriers(metrics bool) []grpcapi.CarrierState {
	byCarrier := map[string]map[string]float64{}
	var mfs []*dto.MetricFamily
	if metrics {
		if got, err := a.registry.Gather(); err == nil {
			mfs = got
		}
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "smsgw_smpp_binds_up", "smsgw_smpp_window_in_use", "smsgw_smpp_throttled_total":
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "carrier" {
					continue
				}
				if byCarrier[l.GetValue()] == nil {
					byCarrier[l.GetValue()] = map[string]float64{}
				}
				byCarrier[l.GetValue()][mf.GetName()] += m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	var out []grpcapi.CarrierState
	for _, c := range a.config().Carriers {
		conn := a.connectors[c.Name]
		st := grpcapi.CarrierState{Name: c.Name, Kind: c.Kind, Up: conn.Up(), Window: conn.Window(), Breaker: a.router.BreakerState(c.Name)}
		if r, ok := c.Section.(interface{ MaxTPS() float64 }); ok {
			st.TPS = r.MaxTPS()
		}
		if s, ok := c.Section.(*smpp.Config); ok {
			m := byCarrier[c.Name]
			st.Binds, st.BindsUp = s.Binds, int(m["smsgw_smpp_binds_up"])
			st.InFlight, st.Throttled = int(m["smsgw_smpp_window_in_use"]), int64(m["smsgw_smpp_throttled_total"])
		}
		out = append(out, st)
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
	q, err := a.config().RouteQuery(tenant, to, from)
	if err != nil {
		return nil, err
	}
	cands, err := a.router.Plan(q)
	if err != nil && !errors.Is(err, gateway.ErrNoRoute) {
		return nil, err
	}
	ex := &grpcapi.Explanation{To: q.To, Candidates: cands, Breakers: map[string]string{}, Text: a.router.Explain(q)}
	for _, c := range cands {
		ex.Breakers[c.Carrier] = a.router.BreakerState(c.Carrier)
	}
	return ex, nil
}

// TenantLimits implements grpcapi.Operator: the fraud controls of the
// config in force and the engine's spend counts.
func (a *App) TenantLimits(tenant string) ([]grpcapi.TenantLimits, error) {
	var out []grpcapi.TenantLimits
	for _, t := range a.config().EngineTenants() {
		if tenant != "" && t.ID != tenant {
			continue
		}
		day, month := a.engine.Spend(t.ID)
		fraud := t.Fraud
		if fraud.PrefixDigits == 0 {
			fraud.PrefixDigits = limits.DefaultPrefixDigits
		}
		out = append(out, grpcapi.TenantLimits{Tenant: t.ID, SpendToday: day, SpendMonth: month, Fraud: fraud})
	}
	if len(out) == 0 {
		return nil, &gateway.FieldError{Field: "tenant", Reason: fmt.Sprintf("no tenant %q", tenant)}
	}
	return out, nil
}

// Router is the live routing layer, for explanations.
func (a *App) Router() *routing.Router { return a.router }

// Stop drains and closes everything; it is idempotent.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.grpc.Stop(ctx)
		close(a.stopKeys)
		var errs []error
		for _, i := range a.interfaces {
			errs = append(errs, i.Stop(ctx))
		}
		errs = append(errs, a.engine.Stop(ctx), a.http.Stop(ctx), a.restConn.Close())
		a.serving.Wait()
		errs = append(errs, a.store.Close())
		a.stopErr = errors.Join(errs...)
		a.log.Info("smsgw stopped")
	})
	return a.stopErr
}

// StoredKeys implements grpcapi.Operator: the store's API keys.
func (a *App) StoredKeys() gateway.APIKeys { return a.store }
