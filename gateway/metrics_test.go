package gateway

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCounterCacheCountsIntoTheVector: the dispatcher's cached counters
// are the vector's own children, so what it adds through them is what
// /metrics shows under their labels, also when many goroutines add at
// once while new label values appear.
func TestCounterCacheCountsIntoTheVector(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c", Help: "h"}, []string{"tenant", "carrier", "currency"})
	cache := newCounterCache(vec, func(l costLabels) []string { return []string{l.tenant, l.carrier, l.currency} })
	keys := []costLabels{{"a", "alpha", "KES"}, {"a", "beta", "KES"}, {"b", "alpha", "UGX"}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				cache.with(keys[(g+i)%len(keys)]).Add(0.5)
			}
		})
	}
	wg.Wait()
	for _, k := range keys {
		if got := testutil.ToFloat64(vec.WithLabelValues(k.tenant, k.carrier, k.currency)); got != 8*300/3*0.5 {
			t.Errorf("%v: %v, want %v", k, got, 8*300/3*0.5)
		}
	}
	if n := testutil.CollectAndCount(vec); n != len(keys) {
		t.Errorf("%d series, want %d", n, len(keys))
	}
	if len(*cache.m.Load()) != len(keys) {
		t.Errorf("cache holds %d counters, want %d", len(*cache.m.Load()), len(keys))
	}
}
