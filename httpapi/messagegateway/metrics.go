package messagegateway

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the smsgw_message_gateway_* collectors.
type metrics struct {
	requests *prometheus.CounterVec
	items    *prometheus.CounterVec
}

// Outcome label values of smsgw_message_gateway_messages_total.
const (
	itemAccepted  = "accepted"
	itemDuplicate = "duplicate"
	itemOptedOut  = "opted_out"
	itemRejected  = "rejected"
	itemRefused   = "refused"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_message_gateway_requests_total",
			Help: "Calls of the Fineract message-gateway API by route (sms, report, bridges) and HTTP status code.",
		}, []string{"route", "code"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_message_gateway_messages_total",
			Help: "Messages posted by Fineract by smsgw tenant and outcome: accepted, duplicate, opted_out, rejected (by the fraud controls) or refused.",
		}, []string{"tenant", "outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.items, err = register(reg, m.items); err != nil {
		return nil, err
	}
	return m, nil
}

// register adds c to reg, or returns the collector a previous Handler
// registered there (a config reload builds a new Handler on the same
// registry).
func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return prev, nil
			}
		}
		return nil, err
	}
	return c, nil
}
