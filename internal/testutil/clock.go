package testutil

import (
	"sync"
	"time"
)

// Clock is a clock the test moves by hand, for code that takes a
// Now func() time.Time: what depends on elapsed time is then asserted
// without waiting for it. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock makes a Clock that stands at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; it moves only by Set and Advance.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
