package bench

import (
	"math"
	"sync"
	"time"
)

// Latencies are kept in log-scale buckets 2% wide from 1 µs to about an
// hour: a percentile is then exact to within 2% whatever the load, in a
// fixed 9 KiB per histogram, so a ten-minute run at 20,000 messages a
// second costs no more memory than a smoke run.
const (
	histBase    = 1.02
	histMin     = time.Microsecond
	histBuckets = 1120 // 1.02^1120 µs ≈ 1.1 h
)

var histLogBase = math.Log(histBase)

// Hist is a latency histogram safe for concurrent use.
type Hist struct {
	mu     sync.Mutex
	counts [histBuckets]int64
	n      int64
	max    time.Duration
}

func histIndex(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(histMin))/histLogBase) + 1
	return min(i, histBuckets-1)
}

// histUpper is the upper edge of bucket i, the value a percentile reports.
func histUpper(i int) time.Duration {
	if i == 0 {
		return histMin
	}
	return time.Duration(float64(histMin) * math.Pow(histBase, float64(i)))
}

// Observe records one latency.
func (h *Hist) Observe(d time.Duration) {
	i := histIndex(d)
	h.mu.Lock()
	h.counts[i]++
	h.n++
	if d > h.max {
		h.max = d
	}
	h.mu.Unlock()
}

// Latency is a summary of one histogram, in milliseconds so the JSON
// report reads without unit conversions.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

// Summary computes the percentiles of what was observed so far.
func (h *Hist) Summary() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.summaryLocked()
}

// take returns the summary and empties the histogram: the per-second
// series of the report is made this way.
func (h *Hist) take() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.summaryLocked()
	h.counts = [histBuckets]int64{}
	h.n, h.max = 0, 0
	return s
}

func (h *Hist) summaryLocked() Latency {
	s := Latency{Count: h.n}
	if h.n == 0 {
		return s
	}
	q := func(p float64) float64 {
		rank := int64(math.Ceil(p * float64(h.n)))
		var seen int64
		for i, c := range h.counts {
			seen += c
			if seen >= rank {
				return ms(min(histUpper(i), h.max))
			}
		}
		return ms(h.max)
	}
	s.P50, s.P95, s.P99, s.Max = q(0.50), q(0.95), q(0.99), ms(h.max)
	return s
}
