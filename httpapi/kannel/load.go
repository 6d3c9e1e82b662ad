package kannel

import (
	"sync"
	"time"
)

// The series a load is kept for, per carrier and for the whole gateway.
const (
	loadSMSIn = iota
	loadSMSOut
	loadDLRIn
	loadDLROut
	loadKinds
)

// loadWindow is the longest interval a load is computed over (Kannel's
// 300 s), and keepSamples how many samples cover it.
const (
	loadWindow  = 5 * time.Minute
	keepSamples = 400
)

type loadSample struct {
	at time.Time
	n  [loadKinds]int64
}

// loads keeps recent counter samples per key ("" is the gateway, else a
// carrier) and turns them into Kannel's three rates (gw/load.c): per second
// over the last 60 s, over the last 300 s, and over the whole uptime.
// Kannel smooths the first two from one bucket to the next; these are
// plain averages over the samples.
type loads struct {
	mu sync.Mutex
	by map[string][]loadSample
}

func (l *loads) add(at time.Time, key string, n [loadKinds]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string][]loadSample{}
	}
	ss := append(l.by[key], loadSample{at, n})
	for len(ss) > 1 && (at.Sub(ss[1].at) >= loadWindow || len(ss) > keepSamples) {
		ss = ss[1:]
	}
	l.by[key] = ss
}

// rates are the three loads of every series of key at now; up is the
// gateway's uptime, over which the counters (which start at zero with the
// process) are averaged for the third.
func (l *loads) rates(now time.Time, key string, up time.Duration) [loadKinds][3]float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [loadKinds][3]float64
	ss := l.by[key]
	if len(ss) == 0 {
		return out
	}
	last := ss[len(ss)-1]
	over := func(window time.Duration) (loadSample, float64) {
		for _, s := range ss {
			if now.Sub(s.at) <= window {
				return s, now.Sub(s.at).Seconds()
			}
		}
		return last, 0
	}
	for i, w := range []time.Duration{time.Minute, loadWindow} {
		from, secs := over(w)
		if secs < 1 {
			continue
		}
		for k := range loadKinds {
			out[k][i] = float64(last.n[k]-from.n[k]) / secs
		}
	}
	if secs := up.Seconds(); secs >= 1 {
		for k := range loadKinds {
			out[k][2] = float64(last.n[k]) / secs
		}
	}
	return out
}
