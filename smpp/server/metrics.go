package server

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's collectors, by account (system_id): a NOC
// sees each downstream application's binds, traffic, throttling and
// receipts owed.
type metrics struct {
	binds        *prometheus.GaugeVec
	bindFailures *prometheus.CounterVec
	submits      *prometheus.CounterVec
	throttled    *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	pending      *prometheus.GaugeVec
	nacks        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		binds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsgw_smpp_server_binds",
			Help: "ESME binds open now, by account.",
		}, []string{"account"}),
		bindFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_server_bind_failures_total",
			Help: "Binds refused: password, unknown_system_id, backoff, allow_ip or max_binds.",
		}, []string{"reason"}),
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_server_submits_total",
			Help: "submit_sm and data_sm answered, by account and result: accepted, refused (bad input), malformed or error (store).",
		}, []string{"account", "result"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_server_throttled_total",
			Help: "submits answered ESME_RTHROTTLED, by account and limit: window, rate (the account's) or tenant.",
		}, []string{"account", "limit"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_server_delivers_total",
			Help: "deliver_sm (receipts and MO) acknowledged by the ESME.",
		}, []string{"account"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsgw_smpp_server_delivers_pending",
			Help: "Receipts and MO read for the account and not yet acknowledged by its ESME.",
		}, []string{"account"}),
		nacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smsgw_smpp_server_generic_nacks_total",
			Help: "generic_nack sent for unknown commands and malformed PDUs.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.binds, m.bindFailures, m.submits, m.throttled, m.delivered, m.pending, m.nacks} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("smpp server: metrics: %w", err)
			}
		}
	}
	return m, nil
}
