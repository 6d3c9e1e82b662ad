package smpp

import "time"

// clock is the time the pool's pauses read and wait on: the rebind backoff,
// the throttle pause and the TPS limit. It is real time but in tests, which
// give a fake so that what the pauses add up to is asserted without
// waiting it out. Timeouts on the wire (response_timeout, enquire_link)
// and latency metrics keep real time.
type clock interface {
	now() time.Time
	// sleep waits d and reports true, or reports false as soon as done is
	// closed.
	sleep(done <-chan struct{}, d time.Duration) bool
}

// realClock is time itself.
type realClock struct{}

func (realClock) now() time.Time { return time.Now() }

func (realClock) sleep(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}
