package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// retention applies Options.EventRetention: at start and every hour it
// deletes the events, finished tasks and missing-ref records older than
// the retention, so the store does not grow forever. It needs only one
// prune method from each of three roles (EventLog, Outbox, MissingRefs),
// so it takes those methods rather than the roles. It owns one goroutine,
// and none when the retention is 0 (keep everything).
type retention struct {
	keep   time.Duration
	now    func() time.Time
	log    *slog.Logger
	prunes []prune

	cancel context.CancelFunc
	loop   sync.WaitGroup
}

// prune is one retention DELETE: what it deletes (for logs) and how.
type prune struct {
	what string
	fn   func(context.Context, time.Time) (int, error)
}

func newRetention(keep time.Duration, now func() time.Time, log *slog.Logger, events EventLog, tasks Outbox, missing MissingRefs) *retention {
	return &retention{keep: keep, now: now, log: log, prunes: []prune{
		{"events", events.PruneEvents},
		{"finished tasks", tasks.PruneTasks},
		{"missing-id records", missing.PruneMissing},
	}}
}

// start begins pruning, unless everything is kept.
func (r *retention) start(ctx context.Context) {
	if r.keep <= 0 {
		return
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.loop.Go(func() { r.run(ctx) })
}

// halt stops pruning; a DELETE in progress sees its context end.
func (r *retention) halt() {
	if r.cancel != nil {
		r.cancel()
	}
}

// wait returns once the pruning goroutine has ended.
func (r *retention) wait() { r.loop.Wait() }

// run applies the retention at start and every hour until ctx ends.
func (r *retention) run(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		for _, p := range r.prunes {
			n, err := p.fn(ctx, r.now().Add(-r.keep))
			switch {
			case err != nil && ctx.Err() == nil:
				r.log.Error("prune "+p.what, "err", err)
			case n > 0:
				r.log.Info(p.what+" pruned", "count", n, "retention", r.keep)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
