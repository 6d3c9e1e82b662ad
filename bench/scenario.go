package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/httpapi/kannel"
	"github.com/openmf/smsgw/routing"
	"github.com/openmf/smsgw/smpp"
)

// Scenario is one file of bench/scenarios: the carriers to simulate, the
// gateway (in-process unless External is set), the load, and a timeline of
// faults. Unknown keys are errors, as in the gateway's own config.
type Scenario struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Gateway     GatewaySpec   `yaml:"gateway"`
	Carriers    []CarrierSpec `yaml:"carriers"`
	Load        LoadSpec      `yaml:"load"`
	Timeline    []Step        `yaml:"timeline"`
}

// GatewaySpec is how the scenario's gateway is set up. With External empty
// the gateway runs in the bench's process from a config written for the
// farm; its figures then include the farm's and the load's CPU.
type GatewaySpec struct {
	// External is the gRPC address of a gateway already running (its
	// carriers must point at the farm: give the carriers fixed listen
	// addresses). Load.APIKey is then required.
	External string `yaml:"external"`
	// Metrics is the external gateway's /metrics URL, for CPU and memory.
	Metrics string `yaml:"metrics"`

	// The rest shapes the in-process gateway.
	Store           store.Config          `yaml:"store"` // default SQLite in a temporary directory
	Binds           int                   `yaml:"binds"` // per carrier, default 2
	Window          int                   `yaml:"window"`
	TPS             float64               `yaml:"tps"` // per carrier, 0: no cap
	ThrottlePause   time.Duration         `yaml:"throttle_pause"`
	ResponseTimeout time.Duration         `yaml:"response_timeout"`
	RebindInterval  time.Duration         `yaml:"rebind_interval"`
	RetryBase       time.Duration         `yaml:"retry_base"`
	RetryMax        time.Duration         `yaml:"retry_max"`
	Breaker         routing.BreakerConfig `yaml:"breaker"`
	// LogLevel is where the gateway's log (to stderr) starts; default
	// error, so the progress lines stay readable.
	LogLevel string `yaml:"log_level"`
}

// Step changes one carrier at a time into the load: an outage, a throttling
// storm, a new TPS cap. Fields left out stay as they are.
type Step struct {
	At       time.Duration `yaml:"at"`
	Carrier  string        `yaml:"carrier"`
	Down     *bool         `yaml:"down"`
	Throttle *float64      `yaml:"throttle"`
	TPS      *float64      `yaml:"tps"`
}

// String names the step on plots and in reports ("alpha down").
func (s Step) String() string {
	var b bytes.Buffer
	b.WriteString(s.Carrier)
	if s.Down != nil {
		if *s.Down {
			b.WriteString(" down")
		} else {
			b.WriteString(" up")
		}
	}
	if s.Throttle != nil {
		fmt.Fprintf(&b, " throttle %g%%", *s.Throttle*100)
	}
	if s.TPS != nil {
		fmt.Fprintf(&b, " tps %g", *s.TPS)
	}
	return b.String()
}

// The tenant of the in-process gateway.
const (
	benchTenant = "bench"
	benchKey    = "smsbench-api-key-0001"
	benchSender = "BENCH"
)

// Override is what a run changes of its scenario's load (smsbench run
// --duration, --count, --rate); zero Duration and Count and a negative
// Rate change nothing.
type Override struct {
	Duration time.Duration
	Count    int64
	Rate     float64
}

// Apply sets the overridden load settings and says so in the description,
// whose own figures are the scenario's: a report's header must not show a
// rate or duration the run did not use.
func (sc *Scenario) Apply(o Override) {
	var changed []string
	if o.Duration > 0 && o.Duration != sc.Load.Duration {
		sc.Load.Duration = o.Duration
		changed = append(changed, "duration "+o.Duration.String())
	}
	if o.Count > 0 && o.Count != sc.Load.Count {
		sc.Load.Count = o.Count
		changed = append(changed, fmt.Sprintf("count %d", o.Count))
	}
	if o.Rate >= 0 && o.Rate != sc.Load.Rate {
		sc.Load.Rate = o.Rate
		if o.Rate == 0 {
			changed = append(changed, "rate flat out")
		} else {
			changed = append(changed, fmt.Sprintf("rate %g msg/s", o.Rate))
		}
	}
	if len(changed) > 0 && sc.Description != "" {
		sc.Description = fmt.Sprintf("Scenario as written: %s This run overrode its %s.", strings.TrimSpace(sc.Description), strings.Join(changed, ", "))
	}
}

// LoadScenario reads and checks a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	sc, err := ParseScenario(f)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	if sc.Name == "" {
		sc.Name = filepath.Base(path)
	}
	return sc, nil
}

// ParseScenario reads a scenario from r and reports every problem found.
func ParseScenario(r io.Reader) (*Scenario, error) {
	var sc Scenario
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		return nil, err
	}
	if err := sc.check(); err != nil {
		return nil, err
	}
	return &sc, nil
}

func (sc *Scenario) check() error {
	var errs []error
	for i := range sc.Carriers {
		errs = append(errs, sc.Carriers[i].validate(i)...)
	}
	if len(sc.Carriers) == 0 && sc.Gateway.External == "" {
		errs = append(errs, errors.New("carriers: at least one is required"))
	}
	sc.Load.setDefaults()
	errs = append(errs, sc.Load.validate()...)
	for i, st := range sc.Timeline {
		found := false
		for _, c := range sc.Carriers {
			found = found || c.Name == st.Carrier
		}
		if !found {
			errs = append(errs, fmt.Errorf("timeline[%d].carrier: %q is not a carrier of the scenario", i, st.Carrier))
		}
		if st.At < 0 {
			errs = append(errs, fmt.Errorf("timeline[%d].at: must be ≥ 0", i))
		}
	}
	if sc.Gateway.External != "" && sc.Load.APIKey == "" && sc.Load.Driver != DriverKannel {
		errs = append(errs, errors.New("load.api_key: required with gateway.external"))
	}
	return errors.Join(errs...)
}

// carrierRoutes are the routes of carrier i of a farm: its prefixes at its
// cost, or "+" (every number) at cost 1.
func carrierRoutes(spec CarrierSpec, i int) []routing.Route {
	prefixes := spec.Prefixes
	if len(prefixes) == 0 {
		prefixes = []string{"+"}
	}
	cost := spec.Cost
	if cost == 0 {
		cost = 1
	}
	out := make([]routing.Route, len(prefixes))
	for j, p := range prefixes {
		out[j] = routing.Route{Prefix: p, Carrier: spec.Name, Cost: cost, Currency: "KES"}
	}
	return out
}

// GatewayConfig writes the in-process gateway's config: one tenant, one
// SMPP carrier per farm carrier with its routes, listeners on ephemeral
// loopback ports, the store under dir unless the scenario names one.
func GatewayConfig(sc *Scenario, farm *Farm, dir string) (*config.Config, error) {
	g := sc.Gateway
	cfg := &config.Config{
		Listen: config.Listen{GRPC: "127.0.0.1:0", HTTP: "127.0.0.1:0"},
		Store:  g.Store,
		Gateway: config.Gateway{
			RetryBase: g.RetryBase, RetryMax: g.RetryMax,
			// The bench's own runs are short: keep the event log a day.
			EventRetention: 24 * time.Hour,
		},
		Tenants: []config.Tenant{{ID: benchTenant, APIKeys: []string{benchKey}, DefaultRegion: "KE", Sender: benchSender}},
		Breaker: g.Breaker,
	}
	if sc.Load.Driver == DriverKannel {
		// sendsms on its own ephemeral listener, the bench tenant as its user.
		cfg.Kannel = &kannel.Config{Listen: "127.0.0.1:0",
			Users: []kannel.User{{Username: benchTenant, Password: benchKey, Tenant: benchTenant}}}
	}
	if cfg.Store.Driver == "" {
		cfg.Store.Driver = store.DriverSQLite
	}
	if cfg.Store.Driver == store.DriverSQLite && cfg.Store.Path == "" {
		cfg.Store.Path = filepath.Join(dir, "smsgw.db")
	}
	binds := g.Binds
	if binds == 0 {
		binds = 2
	}
	window := g.Window
	if window == 0 {
		window = 64
	}
	for i, c := range farm.Carriers() {
		host, p, err := net.SplitHostPort(c.Addr())
		if err != nil {
			return nil, err
		}
		port, _ := strconv.Atoi(p)
		sys, pw := c.spec.SystemID, c.spec.Password
		if sys == "" {
			sys, pw = "smsbench", "smsbench"
		}
		cfg.Carriers = append(cfg.Carriers, config.Carrier{Name: c.Name(), Kind: "smpp", Section: &smpp.Config{
			Host: host, Port: port, SystemID: sys, Password: pw, Bind: smpp.BindTransceiver,
			Binds: binds, Window: window, TPS: g.TPS, EnquireLink: 30 * time.Second,
			ResponseTimeout: g.ResponseTimeout, RebindInterval: g.RebindInterval, ThrottlePause: g.ThrottlePause,
			Tenant: benchTenant,
		}})
		cfg.Routes = append(cfg.Routes, carrierRoutes(c.spec, i)...)
	}
	if err := config.Complete(cfg); err != nil {
		return nil, fmt.Errorf("bench: the generated gateway config: %w", err)
	}
	return cfg, nil
}

// RunOptions are the parts of a scenario run that are not in its file.
type RunOptions struct {
	// Progress receives the live line once a second; nil: none.
	Progress io.Writer
	// Log receives the gateway's and carriers' logs; nil: stderr at the
	// scenario's log level.
	Log *slog.Logger
	// Dir holds the in-process gateway's store; empty: a temporary
	// directory removed afterwards.
	Dir string
}

// Run starts the scenario's carriers and (unless External) its gateway,
// runs the load and the timeline together, drains, stops everything and
// reports.
func Run(ctx context.Context, sc *Scenario, opts RunOptions) (*Report, error) {
	if err := sc.check(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	log := opts.Log
	if log == nil {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(cmpOr(sc.Gateway.LogLevel, "error"))); err != nil {
			return nil, fmt.Errorf("bench: gateway.log_level: %w", err)
		}
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	}
	farm, err := StartFarm(sc.Carriers, log.With("component", "farm"))
	if err != nil {
		return nil, err
	}
	defer farm.Close()

	spec := sc.Load
	env := runEnv{
		LoadOptions: LoadOptions{Name: sc.Name, Progress: opts.Progress, MetricsURL: sc.Gateway.Metrics},
		description: sc.Description, farm: farm, atStart: timeline(sc.Timeline, farm),
	}
	if sc.Gateway.External == "" {
		dir := opts.Dir
		if dir == "" {
			if dir, err = os.MkdirTemp("", "smsbench-"); err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
			defer os.RemoveAll(dir)
		}
		cfg, err := GatewayConfig(sc, farm, dir)
		if err != nil {
			return nil, err
		}
		a, err := startGateway(ctx, cfg, log.With("component", "gateway"))
		if err != nil {
			return nil, err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = a.Stop(sctx)
		}()
		env.inProcess = true
		env.MetricsURL = "http://" + a.HTTPAddr() + "/metrics"
		switch spec.Driver {
		case DriverKannel:
			spec.Target = "http://" + a.KannelAddr()
			spec.Username, spec.Password = cmpOr(spec.Username, benchTenant), cmpOr(spec.Password, benchKey)
		default:
			spec.Target, spec.APIKey = a.GRPCAddr(), benchKey
		}
	} else if spec.Target == "" && spec.Driver != DriverKannel {
		spec.Target = sc.Gateway.External
	}
	return measure(ctx, spec, env)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// startGateway starts an in-process gateway and waits for a carrier bind.
func startGateway(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app.App, error) {
	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("bench: gateway: %w", err)
	}
	if err := a.Start(); err != nil {
		_ = a.Stop(context.Background())
		return nil, fmt.Errorf("bench: gateway: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !a.Engine().Ready() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = a.Stop(context.Background())
			return nil, errors.New("bench: gateway: no carrier bind came up within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a, nil
}

// timeline plays the steps from the load's start; the returned function
// lists the steps played so far (and stops the rest).
func timeline(steps []Step, farm *Farm) func(time.Time) func() []Mark {
	return func(start time.Time) func() []Mark {
		var mu sync.Mutex
		var marks []Mark
		timers := make([]*time.Timer, 0, len(steps))
		for _, st := range steps {
			timers = append(timers, time.AfterFunc(time.Until(start.Add(st.At)), func() {
				c := farm.Carrier(st.Carrier)
				if st.Throttle != nil {
					c.SetThrottle(*st.Throttle)
				}
				if st.TPS != nil {
					c.SetTPS(*st.TPS)
				}
				if st.Down != nil {
					c.SetDown(*st.Down)
				}
				mu.Lock()
				marks = append(marks, Mark{T: time.Since(start).Seconds(), What: st.String()})
				mu.Unlock()
			}))
		}
		return func() []Mark {
			for _, t := range timers {
				t.Stop()
			}
			mu.Lock()
			defer mu.Unlock()
			return append([]Mark(nil), marks...)
		}
	}
}
