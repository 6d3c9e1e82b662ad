package gateway

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	accepted          *prometheus.CounterVec
	refused           *prometheus.CounterVec
	throttled         *prometheus.CounterVec
	paced             *prometheus.CounterVec
	submitted         *prometheus.CounterVec
	cost              *prometheus.CounterVec
	decisions         *prometheus.CounterVec
	receipts          *prometheus.CounterVec
	receiptsUnmatched prometheus.Counter
	receiptsStale     *prometheus.CounterVec
	receiptsDropped   prometheus.Counter
	inbound           *prometheus.CounterVec
	optOuts           *prometheus.CounterVec
	optedOut          *prometheus.CounterVec
	tasks             *prometheus.CounterVec
	finished          *prometheus.CounterVec
	retries           prometheus.Counter
	acceptSeconds     prometheus.Histogram
	submitLatency     prometheus.Histogram
	backlog           prometheus.Gauge
	// dispatched counts messages by how they reached a worker: handed
	// over at accept, or claimed from the store (a backlog, retries,
	// scheduled messages).
	dispatched                        *prometheus.CounterVec
	dispatchedAccept, dispatchedClaim prometheus.Counter

	// The counters the dispatcher adds to for every part and receipt,
	// looked up by their labels without the vector's per-call hashing.
	submittedBy *counterCache[string]
	costBy      *counterCache[costLabels]
	receiptsBy  *counterCache[[2]string]
}

// costLabels are smsgw_gateway_cost_total's labels.
type costLabels struct{ tenant, carrier, currency string }

// counterCache keeps a vector's counters by their label values.
// WithLabelValues hashes and checks every label on each call (~290 ns for
// three labels on the 2-core box, against ~130 ns from here), and the
// dispatcher counts every part and every receipt. Label values are few
// (tenants, carriers, currencies, statuses), so the map is small; it is
// copied on the rare write, so a read takes no lock.
type counterCache[K comparable] struct {
	vec    *prometheus.CounterVec
	labels func(K) []string
	mu     sync.Mutex // one writer at a time
	m      atomic.Pointer[map[K]prometheus.Counter]
}

func newCounterCache[K comparable](vec *prometheus.CounterVec, labels func(K) []string) *counterCache[K] {
	c := &counterCache[K]{vec: vec, labels: labels}
	c.m.Store(&map[K]prometheus.Counter{})
	return c
}

// with is vec.WithLabelValues(labels(k)...), remembered.
func (c *counterCache[K]) with(k K) prometheus.Counter {
	if ctr, ok := (*c.m.Load())[k]; ok {
		return ctr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.m.Load()
	if ctr, ok := old[k]; ok {
		return ctr
	}
	next := maps.Clone(old)
	ctr := c.vec.WithLabelValues(c.labels(k)...)
	next[k] = ctr
	c.m.Store(&next)
	return ctr
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_accepted_total", Help: "Messages durably accepted, by tenant.",
		}, []string{"tenant"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_refused_total", Help: "Send requests refused by validation, by tenant.",
		}, []string{"tenant"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_throttled_total", Help: "Messages refused because the tenant was over its rate, by tenant.",
		}, []string{"tenant"}),
		paced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_paced_total", Help: "Messages accepted over the tenant's rate from callers that cannot retry (Fineract), held until the rate allows them, by tenant.",
		}, []string{"tenant"}),
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_submitted_parts_total", Help: "Message parts taken by a carrier.",
		}, []string{"carrier"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_cost_total", Help: "Cost of the parts carriers took, in the route's currency.",
		}, []string{"tenant", "carrier", "currency"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_submit_failures_total", Help: "Failed part submissions by carrier and the decision taken.",
		}, []string{"carrier", "decision"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_receipts_total", Help: "Delivery receipts received, by carrier and status.",
		}, []string{"carrier", "status"}),
		receiptsUnmatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smsgw_gateway_receipts_unmatched_total", Help: "Receipts kept because no submitted part had their id yet.",
		}),
		receiptsStale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_receipts_stale_total", Help: "Receipts that named only parts already final or submitted before the carrier's receipt window (a reused id, or an id base the config does not match), by carrier; never applied. A final one is counted when no part took its id within 30 s.",
		}, []string{"carrier"}),
		receiptsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smsgw_gateway_receipts_dropped_total", Help: "Kept receipts dropped unmatched: older than the keep time, or beyond the most kept.",
		}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_inbound_total", Help: "Mobile-originated messages stored, by tenant and the keyword rule they matched.",
		}, []string{"tenant", "keyword"}),
		optOuts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_opt_outs_total", Help: "Opt-outs (STOP, direction out) and opt-ins (START, in) recorded.",
		}, []string{"tenant", "direction"}),
		optedOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_opted_out_messages_total", Help: "Messages stored OPTED_OUT, never sent, because their number sent STOP.",
		}, []string{"tenant"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_tasks_total", Help: "Outbox task runs (webhooks, replies, callbacks) by kind and result (ok, retry, failed, gave_up; left_for_claim: waited past half its lease for a worker, run again later).",
		}, []string{"kind", "result"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_ended_unsent_total", Help: "Messages ended before submission (FAILED, EXPIRED, REJECTED), by status.",
		}, []string{"status"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smsgw_gateway_retries_total", Help: "Messages rescheduled for another attempt.",
		}),
		acceptSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "smsgw_gateway_accept_duration_seconds", Help: "Time to make an accept call durable.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		submitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "smsgw_gateway_submit_latency_seconds",
			Help:    "Time from accept until a carrier took every part of a message (queueing, retries and scheduling included).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 18),
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smsgw_gateway_queue_depth", Help: "Messages accepted and not yet taken by a carrier (scheduled ones included), sampled every 5 s.",
		}),
		dispatched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_gateway_dispatched_total",
			Help: "Messages taken to be sent, by how: accept (handed over as accepted, no claim) or claim (read back from the store: a backlog, retries, scheduled messages).",
		}, []string{"via"}),
	}
	m.dispatchedAccept = m.dispatched.WithLabelValues("accept")
	m.dispatchedClaim = m.dispatched.WithLabelValues("claim")
	m.submittedBy = newCounterCache(m.submitted, func(carrier string) []string { return []string{carrier} })
	m.costBy = newCounterCache(m.cost, func(l costLabels) []string { return []string{l.tenant, l.carrier, l.currency} })
	m.receiptsBy = newCounterCache(m.receipts, func(l [2]string) []string { return l[:] })
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.accepted, m.refused, m.throttled, m.paced, m.submitted, m.cost, m.decisions, m.receipts,
		m.receiptsUnmatched, m.receiptsStale, m.receiptsDropped, m.inbound, m.optOuts, m.optedOut, m.tasks, m.finished, m.retries, m.acceptSeconds, m.submitLatency, m.backlog, m.dispatched} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
