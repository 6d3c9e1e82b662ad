package kannel

import (
	"testing"
	"time"
)

// TestLoads: the three rates are per second over the last minute, the
// last five minutes and the uptime (gw/load.c's intervals 60, 300, -1);
// samples older than five minutes are dropped; a key never sampled reads
// zeros.
func TestLoads(t *testing.T) {
	var l loads
	t0 := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	// 600 sent in the first 10 minutes, then 120 in the last minute.
	for i := 0; i <= 10; i++ {
		l.add(t0.Add(time.Duration(i)*time.Minute), "c", [loadKinds]int64{0, int64(60 * i), 0, 0})
	}
	now := t0.Add(11 * time.Minute)
	l.add(now, "c", [loadKinds]int64{0, 720, 0, 0})
	r := l.rates(now, "c", 12*time.Minute)
	if got := r[loadSMSOut]; got[0] != 2 || got[1] != 360.0/300 || got[2] != 1 {
		t.Errorf("rates %v, want 2/s over a minute, 1.2/s over five, 1/s over 12 minutes", got)
	}
	if n := len(l.by["c"]); n > 7 {
		t.Errorf("%d samples kept, want those of the last five minutes", n)
	}
	if r := l.rates(now, "other", time.Hour); r != ([loadKinds][3]float64{}) {
		t.Errorf("unknown key: %v", r)
	}
}
