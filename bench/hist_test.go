package bench

import (
	"math"
	"testing"
	"time"
)

func TestHistPercentiles(t *testing.T) {
	var h Hist
	for i := 1; i <= 1000; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	s := h.Summary()
	near := func(name string, got, want float64) {
		if math.Abs(got-want)/want > 0.021 {
			t.Errorf("%s = %v ms, want %v ±2%%", name, got, want)
		}
	}
	if s.Count != 1000 {
		t.Errorf("count %d", s.Count)
	}
	near("p50", s.P50, 500)
	near("p95", s.P95, 950)
	near("p99", s.P99, 990)
	if s.Max != 1000 {
		t.Errorf("max %v, want exactly 1000", s.Max)
	}
	if got := h.take(); got != s {
		t.Errorf("take %+v, summary was %+v", got, s)
	}
	if got := h.Summary(); got.Count != 0 || got.P99 != 0 {
		t.Errorf("after take: %+v, want empty", got)
	}
}
