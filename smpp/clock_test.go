package smpp

import (
	"sync"
	"time"
)

// fakeClock is a pool's clock in tests. A sleep returns at once and moves
// the time to where the sleeper wakes (never back), so the time a test
// reads afterwards is what the pauses added up to. With a horizon set, a
// sleep that would wake after it blocks until its done channel closes
// instead: time stops there, and the test counts what happened before.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	horizon time.Time // zero: none
	parked  int       // sleepers blocked at the horizon
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(done <-chan struct{}, d time.Duration) bool {
	c.mu.Lock()
	wake := c.t.Add(d)
	if !c.horizon.IsZero() && wake.After(c.horizon) {
		c.parked++
		c.mu.Unlock()
		<-done
		c.mu.Lock()
		c.parked--
		c.mu.Unlock()
		return false
	}
	if wake.After(c.t) {
		c.t = wake
	}
	c.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// stopAt sets the horizon d after now.
func (c *fakeClock) stopAt(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.horizon = c.t.Add(d)
}

// sleepers is how many sleepers wait at the horizon.
func (c *fakeClock) sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked
}

// since is the time the clock moved since t.
func (c *fakeClock) since(t time.Time) time.Duration { return c.now().Sub(t) }
