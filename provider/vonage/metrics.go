package vonage

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/provider"
)

// newBalance is the one Vonage-specific series: the account balance every
// send answer reports. Running out of credit makes Vonage refuse with
// error 9 (NextRoute), so operators alert on this before it happens. The
// request and webhook series are the shared smsgw_provider_* ones.
func newBalance(reg prometheus.Registerer, name string) prometheus.Gauge {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "smsgw_provider_account_balance",
		Help: "Account balance the provider reported with its last answer, in the account's currency.",
	}, []string{"carrier"})
	if reg != nil {
		g = provider.Register(reg, g)
	}
	return g.WithLabelValues(name)
}
