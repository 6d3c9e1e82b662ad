package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway/keyword"
	"github.com/openmf/smsgw/gateway/limits"
)

// Options wires an Engine. Store, Router and Segment are required.
type Options struct {
	Store      Store
	Router     Router
	Connectors []Connector
	Segment    Segmenter
	// SegmentUCS2 counts a text a caller asked to be sent in UCS-2
	// (SubmitOptions.UCS2); nil counts it with Segment.
	SegmentUCS2 Segmenter
	Tenants     []Tenant

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are not registered
	Now        func() time.Time      // nil: time.Now

	MaxParts int // refuse longer texts; default 10
	// ScheduleHorizon bounds NotBefore and ExpiresAt to this far from now,
	// either way; default DefaultScheduleHorizon. A date decades away is a
	// client's bug (and past 2262 it cannot be stored as nanoseconds).
	ScheduleHorizon time.Duration
	// ReceiptKeep and ReceiptKeepMax bound the receipts kept because they
	// matched nothing (yet): older ones, and the oldest beyond the count,
	// are dropped every minute and counted; defaults 1h and 10,000.
	ReceiptKeep    time.Duration
	ReceiptKeepMax int
	// ReceiptPruneEvery is how often kept receipts are pruned and the
	// stale ones among them counted and logged; default a minute.
	ReceiptPruneEvery time.Duration
	MaxAttempts       int           // submission attempts before FAILED; default 12
	RetryBase         time.Duration // first retry delay, doubled per attempt; default 2s
	RetryMax          time.Duration // retry delay cap; default 5m
	ClaimBatch        int           // messages claimed per store round trip; default 256
	Workers           int           // messages claimed and in flight at once; default the windows together + ClaimBatch, ≥ 256
	PollEvery         time.Duration // how often due work is looked for without a wake-up; default 500ms
	// EventRetention drops events, finished tasks and missing-ref records
	// older than this, at start and hourly; 0 keeps them all.
	EventRetention time.Duration

	// Keywords routes inbound messages to services; nil: none (STOP, START
	// and HELP are always handled).
	Keywords      *keyword.Table
	TaskAttempts  int           // runs before a failing task is given up; default 20
	TaskRetryBase time.Duration // first retry delay of a task, doubled per attempt; default 1s
	TaskRetryMax  time.Duration // task retry delay cap; default 10m

	// AutoReply limits automatic replies per number and per tenant; the
	// zero value takes limits' defaults (a few per number per hour).
	AutoReply limits.AutoReplyConfig
	// Price is a part's cost to a number on the route that would carry it
	// (the most expensive candidate, whatever the carriers' state now),
	// for tenants' spend caps; nil prices every message at 0.
	Price func(RouteQuery) float64
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxParts <= 0 {
		o.MaxParts = 10
	}
	if o.ReceiptKeep <= 0 {
		o.ReceiptKeep = time.Hour
	}
	if o.ReceiptKeepMax <= 0 {
		o.ReceiptKeepMax = 10000
	}
	if o.ReceiptPruneEvery <= 0 {
		o.ReceiptPruneEvery = time.Minute
	}
	if o.ScheduleHorizon <= 0 {
		o.ScheduleHorizon = DefaultScheduleHorizon
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 12
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Minute
	}
	if o.ClaimBatch <= 0 {
		// One claim is one group commit away: at 64 a claim per commit
		// capped dispatch at a few thousand messages/s.
		o.ClaimBatch = 256
	}
	if o.Workers <= 0 {
		// Claiming far more than the carriers can take lets leases lapse
		// while messages wait for a window, and another node then sends
		// them too; claiming less leaves windows idle while a worker waits
		// for its submit record's commit.
		windows := 0
		for _, c := range o.Connectors {
			windows += max(c.Window(), 1)
		}
		o.Workers = max(256, windows+o.ClaimBatch)
	}
	if o.PollEvery <= 0 {
		o.PollEvery = 500 * time.Millisecond
	}
	if o.TaskAttempts <= 0 {
		o.TaskAttempts = 20
	}
	if o.TaskRetryBase <= 0 {
		o.TaskRetryBase = time.Second
	}
	if o.TaskRetryMax <= 0 {
		o.TaskRetryMax = 10 * time.Minute
	}
}

// Engine accepts messages, dispatches them to connectors along the router's
// plan, and turns receipts into statuses and events. It is safe for
// concurrent use; New → Start → Stop.
//
// Engine is the facade the interfaces (gRPC, Kannel, Fineract) and the app
// use: every method delegates to one of its parts (acceptor, dispatcher,
// inboundRouter, outbox, eventFeed, retention, carriers), each depending on
// the store role it needs; doc.go says who calls whom.
type Engine struct {
	opts    Options
	tenants tenants // SetTenants swaps them while the engine runs

	carriers   *carriers
	feed       *eventFeed
	acceptor   *acceptor
	dispatcher *dispatcher
	inbound    *inboundRouter
	outbox     *outbox
	retention  *retention
	replies    *limits.Replies // the auto-reply budget
	fraud      *limits.Fraud   // tenants' spend and velocity counts

	started  bool
	stopOnce sync.Once
	stopErr  error
}

// New checks the options and builds an engine and its parts; nothing runs
// until Start.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Router == nil || opts.Segment == nil {
		return nil, errors.New("gateway: Store, Router and Segment are required")
	}
	opts.setDefaults()
	set, err := newTenantSet(opts.Tenants, nil)
	if err != nil {
		return nil, err
	}
	cs, err := newCarriers(opts.Connectors)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	replies, err := limits.NewReplies(opts.AutoReply, opts.Registerer, opts.Now)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	fraud, err := limits.NewFraud(opts.Registerer, opts.Now)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	st, log := opts.Store, opts.Logger
	watch, err := newStoreWatch(st, opts.Now, log, opts.Registerer)
	if err != nil {
		return nil, err
	}
	feed := newEventFeed(st, opts.PollEvery)
	e := &Engine{opts: opts, carriers: cs, feed: feed, replies: replies, fraud: fraud}
	e.tenants.set.Store(set)
	e.dispatcher = &dispatcher{
		store: st, router: opts.Router, carriers: cs, feed: feed, metrics: m, log: log, now: opts.Now, storeWatch: watch,
		tenants:     &e.tenants,
		maxAttempts: opts.MaxAttempts, retryBase: opts.RetryBase, retryMax: opts.RetryMax,
		claimBatch: opts.ClaimBatch, workers: opts.Workers, pollEvery: opts.PollEvery,
		receiptKeep: opts.ReceiptKeep, receiptKeepMax: opts.ReceiptKeepMax, receiptPruneEvery: opts.ReceiptPruneEvery,
		wake: make(chan struct{}, 1),
	}
	e.acceptor = &acceptor{
		store: st, inbox: st, optOuts: st, carriers: cs, router: opts.Router, tenants: &e.tenants,
		segment: opts.Segment, segmentUCS2: opts.SegmentUCS2, maxParts: opts.MaxParts, horizon: opts.ScheduleHorizon, now: opts.Now, metrics: m, log: log, feed: feed,
		dispatch: e.dispatcher, fraud: fraud, price: opts.Price,
	}
	e.outbox = &outbox{
		store: st, feed: feed, now: opts.Now, pollEvery: opts.PollEvery,
		attempts: opts.TaskAttempts, retryBase: opts.TaskRetryBase, retryMax: opts.TaskRetryMax,
		metrics: m, log: log, handlers: map[string]TaskHandler{}, wake: make(chan struct{}, 1),
	}
	e.inbound = &inboundRouter{
		inbox: st, optOuts: st, tenants: &e.tenants,
		accept:     e.Accept,
		allowReply: e.AllowAutoReply,
		wakeTasks:  e.outbox.kick,
		feed:       feed, metrics: m, log: log, now: opts.Now,
	}
	e.inbound.keywords.Store(opts.Keywords)
	for kind, h := range e.inbound.taskHandlers() {
		if err := e.outbox.handle(kind, h); err != nil {
			return nil, err
		}
	}
	e.retention = newRetention(opts.EventRetention, opts.Now, log, st, st, st)
	// The engine owns the connectors, so it alone says which carriers are
	// up; a router that plans with that knowledge takes the engine's word.
	if ca, ok := opts.Router.(CarrierAware); ok {
		ca.UseCarrierStates(cs)
	}
	return e, nil
}

// Start connects the carriers, then starts the parts' goroutines: the
// dispatcher (due messages, including those a previous run left
// unfinished), the outbox's task runner and the retention. Carriers come
// first so the dispatcher's first claim can find one up.
func (e *Engine) Start() error {
	if err := e.carriers.start(e); err != nil {
		return err
	}
	ctx := context.Background()
	e.dispatcher.start(ctx)
	e.outbox.start(ctx)
	e.retention.start(ctx)
	e.started = true
	return nil
}

// Stop stops dispatching, lets submissions in flight finish within ctx, then
// stops the connectors. Work cut off by ctx stays in the store, due again at
// the next start. Stop is idempotent; the Store stays open (its owner closes it).
//
// The order (doc.go, "Goroutines and stopping"): halt every part at once,
// so nothing new is claimed; wait for their loops (and running tasks); wait
// for submissions in flight, within ctx; stop the connectors, whose last
// receipts and inbound messages still reach the store; end event readers.
func (e *Engine) Stop(ctx context.Context) error {
	e.stopOnce.Do(func() {
		if !e.started {
			return
		}
		e.dispatcher.halt()
		e.outbox.halt()
		e.retention.halt()
		e.dispatcher.waitLoops()
		e.outbox.wait()
		e.retention.wait()
		e.stopErr = e.dispatcher.drain(ctx)
		if err := e.carriers.stop(ctx); err != nil && e.stopErr == nil {
			e.stopErr = err
		}
		e.feed.close()
	})
	return e.stopErr
}

// AllowAutoReply takes one automatic reply to number from the tenant's
// auto-reply budget (per number and per tenant). Every automatic reply,
// the engine's own (HELP, STOP/START confirmations, keyword replies) and
// an interface's (Kannel sms-service answers), asks before it is sent;
// false means skip the reply (it is counted), and the inbound message it
// answers stays stored and published.
func (e *Engine) AllowAutoReply(tenant, number string) bool {
	ok, limit := e.replies.Allow(tenant, number)
	if !ok {
		e.opts.Logger.Info("auto-reply skipped: over limits.auto_reply", "tenant", tenant, "number", MaskNumber(number), "limit", limit)
	}
	return ok
}

// Spend is a tenant's spend in the current UTC day and month, as its
// spend caps count it (this node, since it started).
func (e *Engine) Spend(tenant string) (day, month float64) { return e.fraud.Spend(tenant) }

// StoreWritable says why the store refuses writes now (a full disk, a lost
// database), or nil: a node whose store cannot write is not ready.
func (e *Engine) StoreWritable() error { return e.dispatcher.storeWatch.writable() }

// Ready reports whether the engine can send now: at least one carrier is up
// (the carrier set decides, as it does for the dispatcher and the router).
func (e *Engine) Ready() bool { return e.carriers.anyUp() }

// PauseCarrier takes a carrier out of service (paused) or puts it back: an
// operator's lever for a carrier that misbehaves in ways its binds do not
// show (wrong sender ids, late receipts). A paused carrier counts as down
// everywhere the engine asks (routing, the dispatcher, Ready), so its
// messages take the next route or wait, while its binds stay up, so
// resuming sends at once. An unknown carrier is a *FieldError. A pause
// lasts until resumed or the process restarts.
func (e *Engine) PauseCarrier(carrier string, paused bool) error {
	return e.carriers.pause(carrier, paused)
}

// CarrierPaused says whether an operator paused the carrier.
func (e *Engine) CarrierPaused(carrier string) bool { return e.carriers.isPaused(carrier) }

// CarrierDownSince is when the engine first saw the carrier down (no link
// up, or paused), so an operator reads how long an outage lasts; zero
// while it is up. The engine looks on every claim round.
func (e *Engine) CarrierDownSince(carrier string) time.Time { return e.carriers.downSinceOf(carrier) }

// Accept validates, normalizes and durably stores messages for a tenant,
// answering each request in order. Refused items carry a *FieldError and do
// not prevent the others; err is set only when nothing could be stored. A
// call over the tenant's rate is refused whole with a *QuotaError.
func (e *Engine) Accept(ctx context.Context, tenant string, reqs []SendRequest) ([]AcceptOutcome, error) {
	return e.acceptor.accept(ctx, tenant, reqs, false)
}

// AcceptPaced stores like Accept but is never refused for the tenant's
// rate: the messages over it are scheduled (NotBefore) at the rate instead,
// so they leave no faster than the tenant may send. It is for callers that
// cannot retry a refusal: Fineract logs a refused page and never posts it
// again. The rate is the tenant's one budget: a paced call that queues
// messages for later makes the tenant's next Accept calls wait as well.
func (e *Engine) AcceptPaced(ctx context.Context, tenant string, reqs []SendRequest) ([]AcceptOutcome, error) {
	return e.acceptor.accept(ctx, tenant, reqs, true)
}

// GetInbound returns a tenant's inbound message.
func (e *Engine) GetInbound(ctx context.Context, tenant, id string) (*Inbound, error) {
	return e.opts.Store.GetInbound(ctx, tenant, id)
}

// GetByClientRef returns a tenant's message by its idempotency key: how an
// interface that only knows its own ids (Fineract's internalId) finds it.
func (e *Engine) GetByClientRef(ctx context.Context, tenant, clientRef string) (*Message, error) {
	return e.opts.Store.GetByClientRef(ctx, tenant, clientRef)
}

// NoteMissing records client refs a caller looked for in vain (reason
// "") or that the tenant's interface refused when they were posted (the
// reason), and returns what is recorded of each: an interface whose caller
// cannot be told "never received" at once (Fineract, whose POST may still be
// on its way) gives up on a ref only after a horizon counted from the first
// time it was noted. The record is durable and shared by nodes.
func (e *Engine) NoteMissing(ctx context.Context, tenant string, notes map[string]string) (map[string]Missing, error) {
	return e.opts.Store.NoteMissing(ctx, tenant, notes, e.opts.Now())
}

// Get returns a tenant's message. One that no carrier can take now says
// why in its LastError ("waiting: carrier X has no bound link since …").
func (e *Engine) Get(ctx context.Context, tenant, id string) (*Message, error) {
	m, err := e.opts.Store.Get(ctx, tenant, id)
	if err == nil && m.Status == StatusAccepted {
		if why := e.waitReason(m); why != "" {
			m.LastError = why
		}
	}
	return m, err
}

// List returns a page of a tenant's messages; a destination in the filter
// may be national, as in Send.
func (e *Engine) List(ctx context.Context, tenant string, f ListFilter) ([]*Message, error) {
	t, ok := e.tenants.load().byID[tenant]
	if !ok {
		return nil, fmt.Errorf("gateway: unknown tenant %q", tenant)
	}
	if f.To != "" {
		to, err := NormalizeNumber(f.To, t.DefaultRegion)
		if err != nil {
			return nil, &FieldError{"to", err.Error()}
		}
		f.To = to
	}
	return e.opts.Store.List(ctx, tenant, f)
}

// Cancel stops a message no carrier has taken yet and returns it.
func (e *Engine) Cancel(ctx context.Context, tenant, id string) (*Message, error) {
	if err := e.opts.Store.Cancel(ctx, tenant, id, e.opts.Now()); err != nil {
		return nil, err
	}
	e.feed.notify()
	return e.opts.Store.Get(ctx, tenant, id)
}

// AckEvents moves a tenant's named cursor and returns where it stands.
func (e *Engine) AckEvents(ctx context.Context, tenant, cursor string, seq int64) (int64, error) {
	return e.feed.ack(ctx, tenant, cursor, seq)
}

// LastSeq is the newest sequence number drawn: a reader that starts after
// it sees only what is appended from now on.
func (e *Engine) LastSeq(ctx context.Context) (int64, error) {
	return e.opts.Store.LastSeq(ctx)
}

// PrunedThrough is the highest seq retention has deleted: a reader that
// resumes at or below it has missed events.
func (e *Engine) PrunedThrough(ctx context.Context) (int64, error) {
	return e.opts.Store.PrunedThrough(ctx)
}

// Cursors lists a tenant's named cursors.
func (e *Engine) Cursors(ctx context.Context, tenant string) ([]CursorState, error) {
	return e.opts.Store.Cursors(ctx, tenant)
}

// DeleteCursor forgets a tenant's cursor; ErrNotFound when it has none of
// that name.
func (e *Engine) DeleteCursor(ctx context.Context, tenant, cursor string) error {
	if cursor == "" {
		return &FieldError{"name", "is empty"}
	}
	found, err := e.opts.Store.DeleteCursor(ctx, tenant, cursor)
	if err == nil && !found {
		err = ErrNotFound
	}
	return err
}

// Cursor is where a tenant's named cursor stands (0: never acknowledged).
func (e *Engine) Cursor(ctx context.Context, tenant, cursor string) (int64, error) {
	if cursor == "" {
		return 0, &FieldError{"cursor", "is empty"}
	}
	return e.opts.Store.Cursor(ctx, tenant, cursor)
}

// RecordAudit stores what a person did through an operator interface, with
// its audit event, and wakes the readers of the log so streams that asked
// for audit events get it at once.
func (e *Engine) RecordAudit(ctx context.Context, entry AuditEntry) error {
	if err := e.opts.Store.RecordAudit(ctx, entry); err != nil {
		return err
	}
	e.feed.notify()
	return nil
}

// Events returns the tenant's events from fromSeq on, waiting up to the
// context's end for at least one when none is there yet.
func (e *Engine) Events(ctx context.Context, tenant string, fromSeq int64, limit int) ([]Event, error) {
	return e.feed.read(ctx, tenant, fromSeq, limit)
}

// HandleReceipts implements Sink: receipts are stored (and matched) before
// the connector acknowledges them to the carrier.
func (e *Engine) HandleReceipts(ctx context.Context, rs []Receipt) error {
	return e.dispatcher.recordReceipts(ctx, rs)
}

// HandleInbound implements Sink for mobile-originated messages: each is
// routed (tenant, keyword, tasks) and stored with its tasks in one commit
// before the carrier gets its acknowledgment.
func (e *Engine) HandleInbound(ctx context.Context, in []*Inbound) error {
	return e.inbound.handle(ctx, in)
}

// SetKeywords swaps in a new keyword table (a config reload). Messages
// already received keep the rule they matched.
func (e *Engine) SetKeywords(t *keyword.Table) { e.inbound.keywords.Store(t) }

// Keywords returns the keyword table in use.
func (e *Engine) Keywords() *keyword.Table { return e.inbound.keywords.Load() }

// HandleTasks registers the handler of a task kind: interfaces (webhooks,
// Kannel callbacks) bring their own. Register before Start, or before the
// first task of the kind is enqueued; a task whose kind has no handler when
// it runs is given up.
func (e *Engine) HandleTasks(kind string, h TaskHandler) error {
	return e.outbox.handle(kind, h)
}

// EnqueueTasks adds tasks to the outbox (skipping keys seen before) and
// wakes the runner.
func (e *Engine) EnqueueTasks(ctx context.Context, tasks []Task) (int, error) {
	return e.outbox.enqueue(ctx, tasks)
}

// RetryTaskNow makes a failing outbox task due now (Outbox.RetryTaskNow)
// and wakes this node's runner, so it runs within a moment.
func (e *Engine) RetryTaskNow(ctx context.Context, tenant string, id int64) error {
	if err := e.opts.Store.RetryTaskNow(ctx, tenant, id); err != nil {
		return err
	}
	e.outbox.kick()
	return nil
}

// DropTask gives up a failing outbox task that still retries
// (Outbox.DropTask); by names who, for its last error.
func (e *Engine) DropTask(ctx context.Context, tenant string, id int64, by string) error {
	return e.opts.Store.DropTask(ctx, tenant, id, by)
}

// Follow hands every event of kind appended after the named cursor to fn,
// in order, and moves the cursor past each batch fn accepted, until ctx ends.
// The cursor is the all-tenant cursor of that name, so a restarted (or
// another) node goes on where the last acknowledgment left off; fn sees a
// batch again if the process stopped before its acknowledgment, so it must
// be idempotent (enqueue tasks with keys derived from the events). Status
// events come with their Message, so fn need not read messages back.
func (e *Engine) Follow(ctx context.Context, cursor string, kind EventKind, fn func(context.Context, []Event) error) error {
	return e.outbox.follow(ctx, cursor, kind, fn)
}
