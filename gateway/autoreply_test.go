package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/keyword"
	"github.com/openmf/smsgw/gateway/limits"
	"github.com/openmf/smsgw/internal/testutil"
)

// TestHelpFloodRepliesLimited: 5,680 HELP texts from 20 numbers got 5,680
// paid replies. Now each number gets its budget (5 an hour) and the
// tenant its own; every inbound message is still stored and published,
// and each reply skipped is counted.
func TestHelpFloodRepliesLimited(t *testing.T) {
	for _, c := range []struct {
		name            string
		cfg             limits.AutoReplyConfig
		numbers, each   int
		perNumber       int // replies each number gets
		skippedByNumber float64
		skippedByTenant float64
	}{
		{name: "per number", numbers: 4, each: 12, perNumber: 5, skippedByNumber: 4 * 7},
		{name: "per tenant", cfg: limits.AutoReplyConfig{PerTenant: 3}, numbers: 5, each: 1, skippedByTenant: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			ih := newInboundHarnessTuned(t, func(o *gateway.Options) { o.Registerer, o.AutoReply = reg, c.cfg },
				keyword.Rule{Keywords: []string{"BAL"}, Reply: "Balance: KES 100."})
			var ids []string
			for n := range c.numbers {
				for i := range c.each {
					word := "HELP"
					if i%2 == 1 {
						word = "BAL" // keyword replies share the budget
					}
					in := ih.mo(t, fmt.Sprintf("r%d-%d", n, i), fmt.Sprintf("+2547120000%02d", n), "22555", word)
					ids = append(ids, in.ID)
				}
			}
			total := float64(c.numbers * c.each)
			testutil.Eventually(t, 10*time.Second, func() error {
				if got := counter(t, reg, "smsgw_gateway_tasks_total", map[string]string{"kind": gateway.TaskReply, "result": "ok"}); got != total {
					return fmt.Errorf("%v reply tasks done, want %v", got, total)
				}
				return nil
			})
			testutil.Eventually(t, 10*time.Second, func() error {
				sent := 0
				for n := range c.numbers {
					got := len(ih.sentTo(fmt.Sprintf("+2547120000%02d", n)))
					if c.perNumber > 0 && got != c.perNumber {
						return fmt.Errorf("number %d got %d replies, want %d", n, got, c.perNumber)
					}
					sent += got
				}
				if c.perNumber == 0 && sent != 3 {
					return fmt.Errorf("%d replies sent, want the tenant's 3", sent)
				}
				return nil
			})
			if got := counter(t, reg, "smsgw_auto_replies_skipped_total", map[string]string{"limit": "number"}); got != c.skippedByNumber {
				t.Errorf("skipped for the number's limit: %v, want %v", got, c.skippedByNumber)
			}
			if got := counter(t, reg, "smsgw_auto_replies_skipped_total", map[string]string{"limit": "tenant"}); got != c.skippedByTenant {
				t.Errorf("skipped for the tenant's limit: %v, want %v", got, c.skippedByTenant)
			}
			for _, id := range ids {
				if _, err := ih.engine.GetInbound(t.Context(), "mfi-b", id); err != nil {
					t.Fatalf("inbound %s not stored: %v", id, err)
				}
			}
			if got := counter(t, reg, "smsgw_gateway_inbound_total", nil); got != total {
				t.Errorf("inbound stored %v, want %v", got, total)
			}
		})
	}
}

// counter sums a metric's series whose labels include want.
func counter(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == k && l.GetValue() == v
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
