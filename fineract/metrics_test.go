package fineract_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/openmf/smsgw/fineract"
)

// TestMetricNames runs promlint over every series the adapter registers.
func TestMetricNames(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := fineract.NewMetrics(reg)
	// Answer once so every labelled family has a series to lint.
	_, srv := fakeFineract(t)
	if _, _, err := newResponder(t, newClient(t, srv, 5*time.Second, m), m).Answer(context.Background(), fineract.KeywordDue, "+254712345678"); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 3 {
		t.Fatalf("only %d families gathered", len(mfs))
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
