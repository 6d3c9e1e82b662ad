package fineract

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the adapter's Prometheus series, registered on the registerer
// the program injects (never the global one) and served on the adapter's
// own /metrics listener. A nil *Metrics records nothing, so tests of the
// logic need no registry.
type Metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	replies  *prometheus.CounterVec
	events   *prometheus.CounterVec
	streams  prometheus.Counter
	hooks    *prometheus.CounterVec
	messages *prometheus.CounterVec
	digests  *prometheus.CounterVec
}

// NewMetrics registers the adapter's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_fineract_requests_total",
			Help: "Requests to Fineract's REST API by endpoint and result (ok, client_error, server_error, timeout, unreachable, bad_answer, canceled).",
		}, []string{"endpoint", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_fineract_errors_total",
			Help: "Requests to Fineract that failed because Fineract was down or broken (5xx, timeout, unreachable, unreadable answer), by endpoint.",
		}, []string{"endpoint"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smsgw_fineract_request_duration_seconds",
			Help:    "Time Fineract took to answer, by endpoint.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_fineract_replies_total",
			Help: "Answers to clients by keyword (balance, due) and outcome (answered, no_account, refused, unavailable).",
		}, []string{"keyword", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_fineract_inbound_events_total",
			Help: "Inbound messages read from the gateway by what the adapter did (replied, ignored, stale, send_refused).",
		}, []string{"action"}),
		streams: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smsgw_fineract_stream_reconnects_total",
			Help: "Times the event stream from the gateway broke and was opened again.",
		}),
	}
	m.hooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smsgw_fineract_hooks_total",
		Help: "Requests to the hook endpoint by event (LOAN/REPAYMENT, LOAN/DISBURSE, SAVINGSACCOUNT/DEPOSIT, CLIENT/CREATE, other) and result (queued, ignored, failed_command, unauthorized, forbidden, bad_request, queue_full, ping).",
	}, []string{"event", "result"})
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smsgw_fineract_event_messages_total",
		Help: "What events led to, by rule (empty for the whole event) and outcome (sent, duplicate, send_refused, template_error, no_client, unknown_client, no_mobile, no_officer, not_found, skipped, no_rule, gave_up).",
	}, []string{"rule", "outcome"})
	m.digests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smsgw_fineract_digests_total",
		Help: "Daily digests to loan officers by outcome (sent, duplicate, no_mobile, send_refused, failed).",
	}, []string{"outcome"})
	reg.MustRegister(m.requests, m.errors, m.duration, m.replies, m.events, m.streams, m.hooks, m.messages, m.digests)
	return m
}

func (m *Metrics) request(endpoint, result string, took time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(endpoint, result).Inc()
	m.duration.WithLabelValues(endpoint).Observe(took.Seconds())
	switch result {
	case "server_error", "timeout", "unreachable", "bad_answer":
		m.errors.WithLabelValues(endpoint).Inc()
	}
}

func (m *Metrics) reply(keyword Keyword, outcome string) {
	if m != nil {
		m.replies.WithLabelValues(string(keyword), outcome).Inc()
	}
}

func (m *Metrics) event(action string) {
	if m != nil {
		m.events.WithLabelValues(action).Inc()
	}
}

func (m *Metrics) reconnect() {
	if m != nil {
		m.streams.Inc()
	}
}

func (m *Metrics) hook(event, result string) {
	if m == nil {
		return
	}
	switch event {
	case EventLoanRepayment, EventLoanDisburse, EventSavingsDeposit, EventClientCreate:
	default:
		event = "other" // anybody with the URL chooses the headers
	}
	m.hooks.WithLabelValues(event, result).Inc()
}

func (m *Metrics) eventMessage(rule, outcome string) {
	if m != nil {
		m.messages.WithLabelValues(rule, outcome).Inc()
	}
}

func (m *Metrics) digest(outcome string) {
	if m != nil {
		m.digests.WithLabelValues(outcome).Inc()
	}
}
