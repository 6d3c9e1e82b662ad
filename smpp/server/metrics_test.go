package server_test

import (
	"fmt"
	"testing"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/internal/testutil"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// metricValue is the value of the series of name with the labels.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestMetrics: binds, submits, throttles, wrong passwords and receipts
// are counted per account, and every series passes promlint.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	acc := account(t)
	acc.Rate, acc.Burst = 0.001, 1
	_, _, addr := startGatewayWith(t, smppserver.Config{Accounts: []smppserver.Account{acc}}, app.Options{Registry: reg})
	dial(t, addr).bind(pdu.Transceiver, "bank", "wrong")
	e := dial(t, addr).mustBind(pdu.Transceiver)
	r := e.submit("254712345678", "counted")
	if r.CommandStatus != data.ESME_ROK {
		t.Fatal(r.CommandStatus)
	}
	if r := e.submit("254712345678", "over the rate"); r.CommandStatus != data.ESME_RTHROTTLED {
		t.Fatal(r.CommandStatus)
	}
	e.receiptFor(r.MessageID)
	bank := map[string]string{"account": "bank"}
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"smsgw_smpp_server_binds", bank, 1},
		{"smsgw_smpp_server_submits_total", map[string]string{"account": "bank", "result": "accepted"}, 1},
		{"smsgw_smpp_server_throttled_total", map[string]string{"account": "bank", "limit": "rate"}, 1},
		{"smsgw_smpp_server_bind_failures_total", map[string]string{"reason": "password"}, 1},
		{"smsgw_smpp_server_delivers_total", bank, 1},
		{"smsgw_smpp_server_delivers_pending", bank, 0},
	}
	testutil.Eventually(t, wait, func() error { // the receipt is counted once its answer is read
		for _, w := range want {
			if got := metricValue(t, reg, w.name, w.labels); got != w.value {
				return fmt.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
			}
		}
		return nil
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
