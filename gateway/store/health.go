package store

import (
	"sync"
	"time"
)

// writeHealth is what a store knows of its commits and of its own write
// failures (a commit that failed for the database's reasons: disk full,
// I/O, a lost connection), for gateway.WriteHealth.
type writeHealth struct {
	mu      sync.Mutex
	commits uint64 // commits that succeeded
	total   uint64
	since   time.Time // first failure of the current run; zero after a success
	lastAt  time.Time
	last    error
}

// record notes how a batch's commit ended: err is nil, or the batch's own
// (not an operation's) error.
func (h *writeHealth) record(err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.commits++
		h.since = time.Time{}
		return
	}
	h.total++
	if h.since.IsZero() {
		h.since = now
	}
	h.lastAt, h.last = now, err
}

// Commits implements gateway.WriteHealth.
func (h *writeHealth) Commits() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.commits
}

// WriteFailures implements gateway.WriteHealth.
func (h *writeHealth) WriteFailures() (total uint64, since, lastAt time.Time, last error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total, h.since, h.lastAt, h.last
}
