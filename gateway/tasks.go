package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// TaskHandler carries out one task. It returns nil when done, an error to be
// retried later with backoff, or a GiveUp error to stop at once. A
// task runs at least once: a crash after the handler succeeded and before
// the outbox recorded it runs it again, so handlers are idempotent (a reply
// uses the task's Key as client_ref; a webhook receiver dedupes on its
// delivery id).
type TaskHandler func(ctx context.Context, t Task) error

// giveUpError marks a task failure that retrying cannot fix.
type giveUpError struct{ err error }

func (g giveUpError) Error() string { return g.err.Error() }
func (g giveUpError) Unwrap() error { return g.err }

// GiveUp wraps a task handler's error so the task ends at once: a malformed
// payload, a callback host that is not allowed, a 4xx answer.
func GiveUp(err error) error { return giveUpError{err} }

// IsGiveUp reports whether err was wrapped by GiveUp.
func IsGiveUp(err error) bool {
	var g giveUpError
	return errors.As(err, &g)
}

// Task runner defaults; Options override the attempts and backoff.
const (
	taskLease       = time.Minute
	taskBatch       = 64
	taskConcurrency = 32
)

// HandleTasks registers the handler of a task kind: interfaces (webhooks,
// Kannel callbacks) bring their own. Register before Start, or before the
// first task of the kind is enqueued; a task whose kind has no handler when
// it runs is given up.
func (e *Engine) HandleTasks(kind string, h TaskHandler) error {
	e.taskMu.Lock()
	defer e.taskMu.Unlock()
	if _, dup := e.taskHandlers[kind]; dup {
		return fmt.Errorf("gateway: task kind %q has a handler already", kind)
	}
	e.taskHandlers[kind] = h
	return nil
}

// EnqueueTasks adds tasks to the outbox (skipping keys seen before) and
// wakes the runner.
func (e *Engine) EnqueueTasks(ctx context.Context, tasks []Task) (int, error) {
	n, err := e.opts.Store.EnqueueTasks(ctx, tasks)
	if n > 0 {
		e.kickTasks()
	}
	return n, err
}

func (e *Engine) kickTasks() {
	select {
	case e.taskWake <- struct{}{}:
	default:
	}
}

// runTasks claims due tasks and runs each with its kind's handler, at most
// taskConcurrency at once, until ctx ends.
func (e *Engine) runTasks(ctx context.Context) {
	defer e.bg.Done()
	sem := make(chan struct{}, taskConcurrency)
	var running sync.WaitGroup
	defer running.Wait()
	for {
		free := taskConcurrency - len(sem)
		var tasks []Task
		if free > 0 {
			var err error
			tasks, err = e.opts.Store.ClaimTasks(ctx, e.opts.Now(), min(free, taskBatch), taskLease)
			if err != nil && ctx.Err() == nil {
				e.log.Error("claim tasks", "err", err)
			}
		}
		for _, t := range tasks {
			sem <- struct{}{}
			running.Go(func() {
				defer func() {
					<-sem
					e.kickTasks() // a free slot: claim the next due task now
				}()
				e.runTask(ctx, t)
			})
		}
		if len(tasks) == free && free > 0 {
			continue // there may be more due right now
		}
		select {
		case <-ctx.Done():
			return
		case <-e.taskWake:
		case <-time.After(e.opts.PollEvery):
		}
	}
}

// runTask runs one task and records the outcome; the store keeps a failed
// task for its next attempt.
func (e *Engine) runTask(ctx context.Context, t Task) {
	e.taskMu.RLock()
	h := e.taskHandlers[t.Kind]
	e.taskMu.RUnlock()
	var err error
	if h == nil {
		err = GiveUp(fmt.Errorf("no handler for task kind %q", t.Kind))
	} else {
		hctx, cancel := context.WithDeadline(ctx, t.LeaseUntil)
		err = h(hctx, t)
		cancel()
	}
	if ctx.Err() != nil {
		return // stopping: the lease lapses and the task runs again
	}
	var (
		done    = err == nil
		retryAt time.Time
		lastErr string
		result  = "ok"
	)
	if err != nil {
		lastErr = err.Error()
		switch {
		case IsGiveUp(err):
			done, result = true, "failed"
		case t.Attempts+1 >= e.opts.TaskAttempts:
			done, result = true, "gave_up"
		default:
			result = "retry"
			retryAt = e.opts.Now().Add(e.taskBackoff(t.Attempts))
		}
		level := e.log.Warn
		if done {
			level = e.log.Error
		}
		level("task failed", "kind", t.Kind, "key", t.Key, "attempt", t.Attempts+1, "result", result, "err", lastErr)
	}
	e.metrics.tasks.WithLabelValues(t.Kind, result).Inc()
	if ferr := e.opts.Store.FinishTask(ctx, t, done, retryAt, lastErr); ferr != nil && ctx.Err() == nil {
		e.log.Error("finish task", "kind", t.Kind, "key", t.Key, "err", ferr)
	}
}

// taskBackoff doubles from TaskRetryBase up to TaskRetryMax, with jitter so
// many callbacks to one recovering host do not come back together.
func (e *Engine) taskBackoff(attempts int) time.Duration {
	d := e.opts.TaskRetryBase << min(attempts, 20)
	if d <= 0 || d > e.opts.TaskRetryMax {
		d = e.opts.TaskRetryMax
	}
	return d/2 + rand.N(d/2+1)
}

// Follow hands every event of kind appended after the named cursor to fn,
// in order, and moves the cursor past each batch fn accepted, until ctx ends.
// The cursor is the all-tenant cursor of that name, so a restarted (or
// another) node goes on where the last acknowledgment left off; fn sees a
// batch again if the process stopped before its acknowledgment, so it must
// be idempotent (enqueue tasks with keys derived from the events).
func (e *Engine) Follow(ctx context.Context, cursor string, kind EventKind, fn func(context.Context, []Event) error) error {
	seq, err := e.opts.Store.Cursor(ctx, "", cursor)
	if err != nil {
		return err
	}
	for {
		evs, err := e.Events(ctx, "", seq+1, 256)
		if err != nil {
			return err
		}
		var mine []Event
		for _, ev := range evs {
			if ev.Kind == kind {
				mine = append(mine, ev)
			}
		}
		if len(mine) > 0 {
			if err := fn(ctx, mine); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				e.log.Error("event follower", "cursor", cursor, "err", err)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Second):
				}
				continue
			}
		}
		last := evs[len(evs)-1].Seq
		// fn took the batch: record that even when ctx ended meanwhile, so
		// a stop does not hand the batch to the next run again.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = e.opts.Store.AckEvents(actx, "", cursor, last)
		cancel()
		if err != nil {
			return err
		}
		seq = last
	}
}
