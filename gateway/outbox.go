package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Error is the handler's own message, which becomes the task's last error.
func (g giveUpError) Error() string { return g.err.Error() }

// Unwrap keeps the handler's cause visible to errors.Is and errors.As.
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
	// taskQueued is how many leased tasks may wait in memory for a
	// worker, beyond those running: four of an event follower's batches
	// (up to 256 events each), so a follower that runs a little ahead of
	// the workers still enqueues leased (with 256, a third of the Kannel
	// path's callbacks were claimed; with 1,024, a fifth). A task that
	// waited past half its lease is not run but left for a claim once the
	// lease lapses (see runTask), so a queue held up by slow handlers
	// never runs a task on a lease about to end.
	taskQueued = 1024
	// taskSlots are the places in the pool: running or waiting.
	taskSlots = taskConcurrency + taskQueued
	// taskRefill is how many slots finished tasks free before the
	// runner claims again (see run).
	taskRefill = taskConcurrency / 4
)

// outbox runs the tasks the gateway must carry out at least once (replies,
// opt-outs, webhooks, callbacks) and follows the event log for adapters
// that turn events into tasks (Follow). It uses the Outbox role of the
// store to enqueue, claim and finish tasks, and reads the event log only
// through the event feed (EventLog: events, cursors, acknowledgments).
// Handlers are registered by kind: the inbound router's (TaskReply,
// TaskOptOut) at New, interfaces' (webhooks, Kannel callbacks) by
// HandleTasks.
//
// Goroutines: one runner claiming due tasks, taskConcurrency workers
// running them (and the tasks enqueue hands them already leased), and a
// finisher recording their outcomes in batches. Follow runs on its
// caller's goroutine.
type outbox struct {
	store     Outbox
	feed      *eventFeed
	now       func() time.Time
	pollEvery time.Duration
	attempts  int           // runs before a failing task is given up
	retryBase time.Duration // first retry delay, doubled per attempt
	retryMax  time.Duration // retry delay cap
	metrics   *metrics
	log       *slog.Logger

	// Tasks left for a claim (see runTask) are logged once per
	// leftLogEvery with how many were left since: a hung callback
	// receiver leaves hundreds at a time.
	leftMu     sync.Mutex
	leftLogged time.Time
	leftSince  int

	mu       sync.RWMutex
	handlers map[string]TaskHandler
	wake     chan struct{}

	// The pool as the runner and enqueues share it (see reserve).
	poolMu sync.Mutex
	jobs   chan Task // the workers' queue; nil while the runner is not running
	free   int       // of taskSlots, those neither holding a task nor reserved
	// backlog says due tasks may wait in the store unleased: the last
	// claim was full, or tasks were enqueued or woken since. Enqueues
	// lease nothing then, so those tasks run first, oldest first.
	backlog bool
	kicks   uint64 // kicks so far, so a claim under way does not clear a later one's backlog

	cancel context.CancelFunc
	loop   sync.WaitGroup // the runner, which waits for its workers
}

// handle registers the handler of a task kind; one per kind.
func (o *outbox) handle(kind string, h TaskHandler) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.handlers[kind]; dup {
		return fmt.Errorf("gateway: task kind %q has a handler already", kind)
	}
	o.handlers[kind] = h
	return nil
}

// enqueue adds tasks (skipping keys seen before). Those it can give
// this node's free workers are written already leased to them and handed
// over at once, without a claim; the rest wake the runner to claim them.
func (o *outbox) enqueue(ctx context.Context, tasks []Task) (int, error) {
	jobs, slots := o.reserve(len(tasks))
	leased, added, err := o.store.EnqueueLeasedTasks(ctx, tasks, o.now(), slots, taskLease)
	o.hand(jobs, leased, slots)
	if added > len(leased) {
		o.kick()
	}
	return added, err
}

// kick wakes the runner: a task was enqueued (or made due) unleased.
func (o *outbox) kick() {
	o.poolMu.Lock()
	o.backlog = true
	o.kicks++
	o.poolMu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// reserve takes up to n free slots of the pool for an enqueue, none while the
// runner is stopped or tasks wait unleased (backlog), and returns them
// with the queue to hand their tasks to (hand).
func (o *outbox) reserve(n int) (chan Task, int) {
	o.poolMu.Lock()
	defer o.poolMu.Unlock()
	if o.jobs == nil || o.backlog {
		return nil, 0
	}
	n = min(n, o.free)
	o.free -= n
	return o.jobs, n
}

// hand queues tasks leased for the slots reserved from jobs and frees the
// slots left unused. The queue never blocks: it has room for every slot,
// and each queued task holds one. If the run jobs came from has ended,
// the tasks are left to run again once their lease lapses.
func (o *outbox) hand(jobs chan Task, tasks []Task, slots int) {
	if slots == 0 {
		return
	}
	o.poolMu.Lock()
	defer o.poolMu.Unlock()
	if o.jobs != jobs {
		return
	}
	for _, t := range tasks {
		jobs <- t
	}
	o.free += slots - len(tasks)
}

// claim leases up to a batch of due tasks for the free slots and hands
// them to the workers. A claim that was not full ends the backlog, unless
// a kick came while it ran (what it made due may have missed the claim).
func (o *outbox) claim(ctx context.Context) {
	o.poolMu.Lock()
	jobs, n, kicks := o.jobs, min(o.free, taskBatch), o.kicks
	o.free -= n
	o.poolMu.Unlock()
	if n == 0 {
		return
	}
	tasks, err := o.store.ClaimTasks(ctx, o.now(), n, taskLease)
	if err != nil && ctx.Err() == nil {
		o.log.Error("claim tasks", "err", err)
	}
	if err == nil {
		o.poolMu.Lock()
		o.backlog = len(tasks) == n || o.kicks != kicks
		o.poolMu.Unlock()
	}
	o.hand(jobs, tasks, n)
}

// freeSlots is how many slots of the pool are free.
func (o *outbox) freeSlots() int {
	o.poolMu.Lock()
	defer o.poolMu.Unlock()
	return o.free
}

// start begins running due tasks, including those a previous run left.
func (o *outbox) start(ctx context.Context) {
	ctx, o.cancel = context.WithCancel(ctx)
	o.loop.Go(func() { o.run(ctx) })
}

// halt stops claiming tasks; running handlers see their context end, and a
// task cut short runs again once its lease lapses.
func (o *outbox) halt() { o.cancel() }

// wait returns once the runner and every task it started have ended.
func (o *outbox) wait() { o.loop.Wait() }

// run runs the tasks handed to taskConcurrency workers (by enqueue and by
// its own claims; taskSlots at most running or waiting) until ctx ends. A
// claim is a writer operation, so the runner claims only when tasks may
// be due unleased (backlog: the last claim was full, or tasks were
// enqueued without a lease since) and taskRefill slots are free, for all
// the free slots up to a batch: a steady stream of callbacks that finds
// the pool full costs one claim per several tasks, and a finished task
// does not cost a claim that finds nothing. The poll timer claims for any
// free slot (retries coming due, a task enqueued while the pool was
// full), so nothing due waits longer than pollEvery for a free slot.
func (o *outbox) run(ctx context.Context) {
	jobs := make(chan Task, taskSlots)
	freed := make(chan struct{}, 1)
	outcomes := make(chan TaskOutcome, taskConcurrency)
	o.poolMu.Lock()
	// Until the first claim, tasks a previous run left may be due.
	o.jobs, o.free, o.backlog = jobs, taskSlots, true
	o.poolMu.Unlock()
	var workers, finisher sync.WaitGroup
	finisher.Go(func() { o.finish(ctx, outcomes) })
	defer func() {
		o.poolMu.Lock()
		o.jobs = nil
		close(jobs)
		o.poolMu.Unlock()
		workers.Wait()
		close(outcomes)
		finisher.Wait()
	}()
	for range taskConcurrency {
		workers.Go(func() {
			for t := range jobs {
				// Stopping: a task not started is left to run again
				// once its lease lapses.
				if ctx.Err() == nil {
					if out, ok := o.runTask(ctx, t); ok {
						outcomes <- out
					}
				}
				o.poolMu.Lock()
				o.free++
				o.poolMu.Unlock()
				select {
				case freed <- struct{}{}:
				default:
				}
			}
		})
	}
	claim := true
	timer := time.NewTimer(o.pollEvery)
	defer timer.Stop()
	for {
		if claim {
			o.claim(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-freed:
			o.poolMu.Lock()
			claim = o.backlog && o.free >= taskRefill
			o.poolMu.Unlock()
		case <-o.wake:
			claim = o.freeSlots() >= taskRefill
		case <-timer.C:
			claim = true
			timer.Reset(o.pollEvery)
		}
	}
}

// leftLogEvery is how often a run of tasks left for a claim is logged.
const leftLogEvery = 10 * time.Second

// leftForClaim counts t, left for a claim, and logs it if no such task was
// logged in the last leftLogEvery (with how many went unlogged since).
func (o *outbox) leftForClaim(t Task, now time.Time) {
	o.metrics.tasks.WithLabelValues(t.Kind, "left_for_claim").Inc()
	o.leftMu.Lock()
	o.leftSince++
	n := o.leftSince
	logIt := now.Sub(o.leftLogged) >= leftLogEvery
	if logIt {
		o.leftLogged, o.leftSince = now, 0
	}
	o.leftMu.Unlock()
	if logIt {
		o.log.Warn("tasks waited past half their lease for a worker; left for a claim (is a callback receiver slow?)",
			"kind", t.Kind, "key", t.Key, "left", n)
	}
}

// runTask runs one task and says how it ended, for the finisher to
// record (the store keeps a failed task for its next attempt); ok is false
// when the outbox is stopping, or when the task waited in the pool past
// half its lease: its handler would have little time left, so it is left
// to run again once the lease lapses.
func (o *outbox) runTask(ctx context.Context, t Task) (out TaskOutcome, ok bool) {
	if now := o.now(); t.LeaseUntil.Sub(now) < taskLease/2 {
		o.leftForClaim(t, now)
		return out, false
	}
	o.mu.RLock()
	h := o.handlers[t.Kind]
	o.mu.RUnlock()
	var err error
	if h == nil {
		err = GiveUp(fmt.Errorf("no handler for task kind %q", t.Kind))
	} else {
		hctx, cancel := context.WithDeadline(ctx, t.LeaseUntil)
		err = h(hctx, t)
		cancel()
	}
	if ctx.Err() != nil {
		return out, false // stopping: the lease lapses and the task runs again
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
		case t.Attempts+1 >= o.attempts:
			done, result = true, "gave_up"
		default:
			result = "retry"
			retryAt = o.now().Add(o.backoff(t.Attempts))
		}
		level := o.log.Warn
		if done {
			level = o.log.Error
		}
		level("task failed", "kind", t.Kind, "key", t.Key, "attempt", t.Attempts+1, "result", result, "err", lastErr)
	}
	o.metrics.tasks.WithLabelValues(t.Kind, result).Inc()
	return TaskOutcome{Task: t, Done: done, RetryAt: retryAt, LastErr: lastErr}, true
}

// finish records the outcomes the workers queue, as many as are queued
// per write, until outcomes is closed. It outlives the run's context, so
// tasks that ended before a stop are recorded and do not run again.
func (o *outbox) finish(ctx context.Context, outcomes <-chan TaskOutcome) {
	ctx = context.WithoutCancel(ctx)
	batch := make([]TaskOutcome, 0, taskConcurrency)
	for out := range outcomes {
		batch = append(batch[:0], out)
	more:
		for len(batch) < cap(batch) {
			select {
			case out, ok := <-outcomes:
				if !ok {
					break more
				}
				batch = append(batch, out)
			default:
				break more
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := o.store.FinishTasks(fctx, batch); err != nil {
			o.log.Error("finish tasks", "tasks", len(batch), "first_key", batch[0].Task.Key, "err", err)
		}
		cancel()
	}
}

// backoff doubles from the retry base up to the cap, with jitter so many
// callbacks to one recovering host do not come back together.
func (o *outbox) backoff(attempts int) time.Duration {
	d := o.retryBase << min(attempts, 20)
	if d <= 0 || d > o.retryMax {
		d = o.retryMax
	}
	return d/2 + rand.N(d/2+1)
}

// follow is Engine.Follow: it hands every event of kind after the named
// all-tenant cursor to fn, batch by batch, and acknowledges each batch fn
// took, until ctx ends.
func (o *outbox) follow(ctx context.Context, cursor string, kind EventKind, fn func(context.Context, []Event) error) error {
	seq, err := o.feed.log.Cursor(ctx, "", cursor)
	if err != nil {
		return err
	}
	for {
		evs, err := o.feed.readWithMessages(ctx, "", seq+1, 256)
		if err != nil {
			return err
		}
		// The batch is this call's own: keep fn's events in its place.
		last := evs[len(evs)-1].Seq
		mine := evs[:0]
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
				o.log.Error("event follower", "cursor", cursor, "err", err)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Second):
				}
				continue
			}
		}
		// fn took the batch: record that even when ctx ended meanwhile, so
		// a stop does not hand the batch to the next run again.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = o.feed.log.AckEvents(actx, "", cursor, last)
		cancel()
		if err != nil {
			return err
		}
		seq = last
	}
}
