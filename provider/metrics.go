package provider

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
)

// metrics are the smsgw_provider_* collectors of one registry, shared by
// every HTTP connector registered there (Twilio, Vonage, Africa's Talking
// alike); each connector uses the series of its carrier label.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	webhooks *prometheus.CounterVec
}

// Outcome label value of smsgw_provider_requests_total for a request the
// provider accepted; failures are labelled with their gateway.Decision.
const outcomeOK = "ok"

// Result label values of smsgw_provider_webhooks_total.
const (
	webhookOK          = "ok"          // stored, acknowledged
	webhookForbidden   = "forbidden"   // signature or token missing or wrong
	webhookBadRequest  = "bad_request" // not a callback we understand
	webhookSinkError   = "sink_error"  // not stored: the provider retries
	webhookUnavailable = "unavailable" // not started or stopping
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_provider_requests_total",
			Help: "Send requests to HTTP providers by outcome: ok, retry, next_route or permanent.",
		}, []string{"carrier", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smsgw_provider_request_duration_seconds",
			Help:    "Time from writing a send request to reading its answer.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"carrier"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_provider_webhooks_total",
			Help: "Provider status callbacks by result: ok, forbidden, bad_request, sink_error or unavailable.",
		}, []string{"carrier", "result"}),
	}
	if reg == nil {
		return m
	}
	m.requests = Register(reg, m.requests)
	m.duration = Register(reg, m.duration)
	m.webhooks = Register(reg, m.webhooks)
	return m
}

// Register adds c to reg, or returns the collector registered there before
// (a second connector on the same registry) instead of panicking.
// Connector packages use it for their own extra series.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A conflicting collector of another type: count privately rather
		// than fail the connector over metrics.
	}
	return c
}

// carrierMetrics are one connector's series, resolved once.
type carrierMetrics struct {
	ok, retry, next, perm prometheus.Counter
	duration              prometheus.Observer
	webhook               map[string]prometheus.Counter
}

func (m *metrics) forCarrier(name string) *carrierMetrics {
	cm := &carrierMetrics{
		ok:       m.requests.WithLabelValues(name, outcomeOK),
		retry:    m.requests.WithLabelValues(name, gateway.Retry.String()),
		next:     m.requests.WithLabelValues(name, gateway.NextRoute.String()),
		perm:     m.requests.WithLabelValues(name, gateway.Permanent.String()),
		duration: m.duration.WithLabelValues(name),
		webhook:  map[string]prometheus.Counter{},
	}
	for _, r := range []string{webhookOK, webhookForbidden, webhookBadRequest, webhookSinkError, webhookUnavailable} {
		cm.webhook[r] = m.webhooks.WithLabelValues(name, r)
	}
	return cm
}

// countRequest records one request's outcome.
func (cm *carrierMetrics) countRequest(err error) {
	if err == nil {
		cm.ok.Inc()
		return
	}
	switch gateway.DecisionOf(err) {
	case gateway.Retry:
		cm.retry.Inc()
	case gateway.NextRoute:
		cm.next.Inc()
	default:
		cm.perm.Inc()
	}
}
