package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrStopped is returned by Events once the engine stopped and the caller
// has read everything there was.
var ErrStopped = errors.New("gateway: stopped")

// eventFeed is how the engine reads its event log: readers (Events, the
// outbox's Follow) wait on it for new events instead of polling, every part
// that commits events wakes them (notify), and Stop ends them (close). It
// uses the EventLog role only; events themselves are appended by the other
// roles' writes. No goroutine of its own: readers wait on their own.
type eventFeed struct {
	log       EventLog
	n         *notifier
	pollEvery time.Duration // a wake-up may be missed; the store is the truth
}

func newEventFeed(log EventLog, pollEvery time.Duration) *eventFeed {
	return &eventFeed{log: log, n: newNotifier(), pollEvery: pollEvery}
}

// notify wakes every reader after a commit that appended events.
func (f *eventFeed) notify() { f.n.notify() }

// close wakes every reader for good: those that read everything get
// ErrStopped.
func (f *eventFeed) close() { f.n.close() }

// read returns the tenant's events from fromSeq on, waiting up to the
// context's end for at least one when none is there yet.
func (f *eventFeed) read(ctx context.Context, tenant string, fromSeq int64, limit int) ([]Event, error) {
	return f.wait(ctx, func() ([]Event, error) { return f.log.Events(ctx, tenant, fromSeq, limit) })
}

// readWithMessages is read with each status event's Message.
func (f *eventFeed) readWithMessages(ctx context.Context, tenant string, fromSeq int64, limit int) ([]Event, error) {
	return f.wait(ctx, func() ([]Event, error) { return f.log.EventsWithMessages(ctx, tenant, fromSeq, limit) })
}

// wait calls fetch until it returns events or fails, waiting for a commit
// (or the poll interval) between calls.
func (f *eventFeed) wait(ctx context.Context, fetch func() ([]Event, error)) ([]Event, error) {
	notifier, _ := f.log.(EventNotifier)
	for {
		// Both channels are taken before the read, so that events appended
		// between the read and the wait still wake it.
		changed := f.n.wait()
		var remote <-chan struct{}
		if notifier != nil {
			remote = notifier.EventsChanged()
		}
		evs, err := fetch()
		if err != nil || len(evs) > 0 {
			return evs, err
		}
		if f.n.isClosed() {
			return nil, ErrStopped
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		case <-remote:
		case <-time.After(f.pollEvery):
			// A wake-up may have been missed; the store is the truth.
		}
	}
}

// ack moves a tenant's named cursor and returns where it stands.
func (f *eventFeed) ack(ctx context.Context, tenant, cursor string, seq int64) (int64, error) {
	if cursor == "" {
		return 0, &FieldError{"cursor", "is empty"}
	}
	if seq < 0 {
		return 0, &FieldError{"seq", fmt.Sprintf("is %d; sequence numbers start at 1 (0 acknowledges nothing)", seq)}
	}
	if err := f.log.AckEvents(ctx, tenant, cursor, seq); err != nil {
		return 0, err
	}
	return f.log.Cursor(ctx, tenant, cursor)
}
