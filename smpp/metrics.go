package smpp

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
)

// metrics are the smpp collectors of one registry, shared by every pool
// registered there; each pool uses the series of its carrier label. Gauges
// move by Inc/Dec, never Set, so two pools with the same carrier name in one
// registry add up instead of overwriting each other.
type metrics struct {
	submits  *prometheus.CounterVec
	bindsUp  *prometheus.GaugeVec
	window   *prometheus.GaugeVec
	receipts *prometheus.CounterVec
	inbound  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	binds    *prometheus.CounterVec
	throttle *prometheus.CounterVec
	moParts  *prometheus.CounterVec
	respTime *prometheus.HistogramVec
}

// Outcome label values of smsgw_smpp_submits_total: "ok" or the decision.
const outcomeOK = "ok"

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_submits_total",
			Help: "submit_sm parts by outcome: ok, retry, next_route or permanent.",
		}, []string{"carrier", "outcome"}),
		bindsUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsgw_smpp_binds_up",
			Help: "SMPP binds currently bound.",
		}, []string{"carrier"}),
		window: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsgw_smpp_window_in_use",
			Help: "submit_sm awaiting their response, over all binds.",
		}, []string{"carrier"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_receipts_received_total",
			Help: "Delivery receipts stored and acknowledged.",
		}, []string{"carrier"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_inbound_received_total",
			Help: "Mobile-originated messages stored and acknowledged.",
		}, []string{"carrier"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_deliver_rejected_total",
			Help: "deliver_sm answered with an error: sink_error (carrier resends), undecodable or no_id (carrier drops).",
		}, []string{"carrier", "reason"}),
		binds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_bind_attempts_total",
			Help: "Connection attempts by result: ok, refused (bind_resp error: credentials, bind caps) or error (dial, TLS, timeout).",
		}, []string{"carrier", "result"}),
		throttle: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_throttled_total",
			Help: "submit_sm answered ESME_RTHROTTLED or ESME_RMSGQFUL; each pauses the carrier's sending.",
		}, []string{"carrier"}),
		moParts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_smpp_mo_parts_total",
			Help: "Parts of concatenated MO by fate: joined, duplicate, or incomplete (stored after mo_timeout without their siblings).",
		}, []string{"carrier", "fate"}),
		respTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smsgw_smpp_submit_response_seconds",
			Help:    "Time from writing a submit_sm to reading its submit_sm_resp (any status).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"carrier"}),
	}
	if reg == nil {
		return m
	}
	m.submits = register(reg, m.submits)
	m.bindsUp = register(reg, m.bindsUp)
	m.window = register(reg, m.window)
	m.receipts = register(reg, m.receipts)
	m.inbound = register(reg, m.inbound)
	m.rejected = register(reg, m.rejected)
	m.binds = register(reg, m.binds)
	m.throttle = register(reg, m.throttle)
	m.moParts = register(reg, m.moParts)
	m.respTime = register(reg, m.respTime)
	return m
}

// register adds c to reg, or returns the collector registered there before
// (a second pool on the same registry), instead of panicking.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A conflicting collector of another type: count privately rather
		// than fail the pool over metrics.
	}
	return c
}

// carrierMetrics are one carrier's series, resolved once.
type carrierMetrics struct {
	submitOK, submitRetry, submitNext, submitPerm prometheus.Counter
	bindsUp, window                               prometheus.Gauge
	receipts, inbound                             prometheus.Counter
	rejSink, rejUndecodable, rejNoID              prometheus.Counter
	bindOK, bindRefused, bindError                prometheus.Counter
	throttled                                     prometheus.Counter
	moJoined, moDuplicate, moIncomplete           prometheus.Counter
	respTime                                      prometheus.Observer
}

func (m *metrics) forCarrier(name string) *carrierMetrics {
	return &carrierMetrics{
		submitOK:       m.submits.WithLabelValues(name, outcomeOK),
		submitRetry:    m.submits.WithLabelValues(name, gateway.Retry.String()),
		submitNext:     m.submits.WithLabelValues(name, gateway.NextRoute.String()),
		submitPerm:     m.submits.WithLabelValues(name, gateway.Permanent.String()),
		bindsUp:        m.bindsUp.WithLabelValues(name),
		window:         m.window.WithLabelValues(name),
		receipts:       m.receipts.WithLabelValues(name),
		inbound:        m.inbound.WithLabelValues(name),
		rejSink:        m.rejected.WithLabelValues(name, "sink_error"),
		rejUndecodable: m.rejected.WithLabelValues(name, "undecodable"),
		rejNoID:        m.rejected.WithLabelValues(name, "no_id"),
		bindOK:         m.binds.WithLabelValues(name, "ok"),
		bindRefused:    m.binds.WithLabelValues(name, "refused"),
		bindError:      m.binds.WithLabelValues(name, "error"),
		throttled:      m.throttle.WithLabelValues(name),
		moJoined:       m.moParts.WithLabelValues(name, "joined"),
		moDuplicate:    m.moParts.WithLabelValues(name, "duplicate"),
		moIncomplete:   m.moParts.WithLabelValues(name, "incomplete"),
		respTime:       m.respTime.WithLabelValues(name),
	}
}

// countBind records one connection attempt.
func (cm *carrierMetrics) countBind(refused bool, err error) {
	switch {
	case err == nil:
		cm.bindOK.Inc()
	case refused:
		cm.bindRefused.Inc()
	default:
		cm.bindError.Inc()
	}
}

// countSubmit records one part's outcome.
func (cm *carrierMetrics) countSubmit(err error) {
	if err == nil {
		cm.submitOK.Inc()
		return
	}
	switch gateway.DecisionOf(err) {
	case gateway.Retry:
		cm.submitRetry.Inc()
	case gateway.NextRoute:
		cm.submitNext.Inc()
	default:
		cm.submitPerm.Inc()
	}
}
