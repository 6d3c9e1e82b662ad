package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/httpapi/kannel"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/smpp"
)

// kannelInterface is the Kannel-compatible interface of a gateway: its own
// listener (sendsms, status, Frontline) when the config has a kannel
// section, the dlr-url follower, and the task handlers of Kannel and
// Frontline keyword services.
type kannelInterface struct {
	srv    *kannel.Server
	log    *slog.Logger
	http   *http.Server // nil without a kannel section: keyword services only
	lis    net.Listener
	limit  func(net.Listener) net.Listener // caps its connections
	follow context.CancelFunc
	done   chan struct{} // the follower and the listener ended
}

// usesKannel says whether the config asks for any of the interface.
func usesKannel(cfg *config.Config) bool {
	uses := cfg.Kannel != nil
	for _, k := range cfg.Keywords {
		uses = uses || k.Kannel != nil || k.Frontline != nil
	}
	return uses
}

func newKannel(cfg *config.Config, env InterfaceEnv) (Interface, error) {
	kc := kannel.Config{}
	if cfg.Kannel != nil {
		kc = *cfg.Kannel
	}
	static := kannelCarriers(cfg)
	log := env.Logger.With("api", "kannel")
	carriers := func() []kannel.Carrier {
		var out []kannel.Carrier
		for _, c := range env.Carriers() {
			st := static[c.Name]
			out = append(out, kannel.Carrier{ID: c.Name, Kind: c.Kind, Up: c.Up, Name: st.Name, SystemID: st.SystemID})
		}
		return out
	}
	var carrierCounters func() map[string]kannel.CarrierCounters
	counters := env.Counters
	if env.Gatherer != nil {
		carrierCounters = func() map[string]kannel.CarrierCounters {
			_, by, err := kannelMetrics(env.Gatherer)
			if err != nil {
				log.Warn("status: metrics", "err", err)
			}
			return by
		}
		counters = func() (map[string]float64, error) {
			totals, _, err := kannelMetrics(env.Gatherer)
			return totals, err
		}
	}
	srv, err := kannel.New(kc, env.Engine, env.Webhooks, kannel.Options{
		Logger: log, Counters: counters, Carriers: carriers, CarrierCounters: carrierCounters,
		Auth: env.Auth, MaxBodyBytes: cfg.Limits.Kannel.MaxBodyBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("kannel: %w", err)
	}
	srv.SetServices(cfg.KannelServices())
	lim := cfg.Limits.Kannel.WithDefaults(guard.DefaultKannel)
	k := &kannelInterface{srv: srv, log: env.Logger, limit: func(l net.Listener) net.Listener {
		return env.Listeners.Limit("kannel", l, lim.MaxConnections)
	}}
	if cfg.Kannel != nil {
		k.http = lim.HTTPServer(guard.CORS(cfg.Limits.CORSOrigins, srv.Handler()))
	}
	return k, nil
}

// kannelMetrics reads the registry for the Kannel status page: every
// smsgw counter and gauge summed over its labels, and per carrier the
// counters of bearerbox's SMSC line (gw/bb_smscconn.c smsc2_status):
// messages received (MO), receipts received, parts sent, parts refused for
// good (a submit failure that is not retried on the same carrier), parts
// in the carrier's window.
func kannelMetrics(g prometheus.Gatherer) (map[string]float64, map[string]kannel.CarrierCounters, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, nil, err
	}
	totals := map[string]float64{}
	by := map[string]kannel.CarrierCounters{}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "smsgw_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			totals[name] += v
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			carrier, ok := labels["carrier"]
			if !ok {
				continue
			}
			c := by[carrier]
			n := int64(v)
			switch name {
			case "smsgw_smpp_inbound_received_total":
				c.Received += n
			case "smsgw_gateway_receipts_total":
				c.ReceivedDLR += n
			case "smsgw_gateway_submitted_parts_total":
				c.Sent += n
			case "smsgw_gateway_submit_failures_total":
				if labels["decision"] != gateway.Retry.String() {
					c.Failed += n
				}
			case "smsgw_smpp_window_in_use":
				c.Queued += n
			}
			by[carrier] = c
		}
	}
	return totals, by, nil
}

// kannelCarriers is what the config says of each carrier in Kannel's
// terms: its SMPP bind user and its connection name as bearerbox prints it
// (gw/smsc/smsc_smpp.c smpp_create: "SMPP:host:port/receive-port:user:
// system-type", the receive port being the port for a transceiver).
func kannelCarriers(cfg *config.Config) map[string]kannel.Carrier {
	out := map[string]kannel.Carrier{}
	for _, c := range cfg.Carriers {
		kc := kannel.Carrier{Name: strings.ToUpper(c.Kind)}
		if sc, ok := c.Section.(*smpp.Config); ok {
			recv := sc.Port
			if sc.Bind == smpp.BindPair && sc.ReceiverPort != 0 {
				recv = sc.ReceiverPort
			}
			kc.SystemID = sc.SystemID
			kc.Name = fmt.Sprintf("SMPP:%s:%d/%d:%s:%s", sc.Host, sc.Port, recv, sc.SystemID, sc.SystemType)
		}
		out[c.Name] = kc
	}
	return out
}

// Routes: sendsms and status have a listener of their own.
func (k *kannelInterface) Routes() map[string]http.Handler { return nil }

// TaskHandlers are the dlr-url calls and the keyword services.
func (k *kannelInterface) TaskHandlers() map[string]gateway.TaskHandler { return k.srv.TaskHandlers() }

// Reload swaps in the keyword rules' services; users and the listener
// need a restart.
func (k *kannelInterface) Reload(cfg *config.Config) (func(), error) {
	svc := cfg.KannelServices()
	return func() { k.srv.SetServices(svc) }, nil
}

// Start opens the listener, serves sendsms and follows the event log for
// dlr-url callbacks.
func (k *kannelInterface) Start() error {
	if k.http == nil {
		return nil
	}
	lis, err := net.Listen("tcp", k.srv.Listen())
	if err != nil {
		return fmt.Errorf("app: kannel.listen: %w", err)
	}
	k.lis = k.limit(lis)
	lis = k.lis
	ctx, cancel := context.WithCancel(context.Background())
	k.follow, k.done = cancel, make(chan struct{})
	followed, served := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(followed)
		var loads sync.WaitGroup
		loads.Go(func() { k.srv.TrackLoads(ctx, loadSampling) })
		if err := k.srv.FollowDLR(ctx); err != nil {
			k.log.Error("kannel dlr follower stopped", "err", err)
		}
		loads.Wait()
	}()
	go func() {
		defer close(served)
		if err := k.http.Serve(lis); err != nil && err != http.ErrServerClosed {
			k.log.Error("kannel listener", "err", err)
		}
	}()
	go func() { <-followed; <-served; close(k.done) }()
	return nil
}

// loadSampling is how often /status's loads and online times are sampled.
const loadSampling = 2 * time.Second

// Stop ends taking sendsms requests and the follower.
func (k *kannelInterface) Stop(ctx context.Context) error {
	if k.lis == nil {
		return nil
	}
	err := k.http.Shutdown(ctx)
	k.follow()
	<-k.done
	return err
}

// KannelAddr is the Kannel listener's address, "" when there is none.
func (a *App) KannelAddr() string {
	for _, i := range a.interfaces {
		if k, ok := i.(*kannelInterface); ok && k.lis != nil {
			return k.lis.Addr().String()
		}
	}
	return ""
}
