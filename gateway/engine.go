package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/openmf/smsgw/gateway/keyword"
)

// SendRequest is one message as a caller asks for it, before validation.
type SendRequest struct {
	To        string
	Text      string
	From      string
	ClientRef string
	Priority  int32
	NotBefore time.Time
	ExpiresAt time.Time
	// ReplyTo names an inbound message this answers: the reply goes from the
	// number the client wrote to, through the carrier it came in on, and To
	// defaults to the client's number.
	ReplyTo string
	// Category decides whether the message may reach a number that opted
	// out; empty means marketing.
	Category Category
	// Meta is stored with the message for the interface that accepted it.
	Meta map[string]string
	// Carrier, when set, is the only carrier the message may leave through
	// (Kannel's smsc=); routes still price it where they cover the number.
	Carrier string
}

// QuotaError refuses an accept call that would exceed the tenant's rate;
// nothing of the call was stored. Callers retry after RetryAfter.
type QuotaError struct {
	Tenant     string
	RetryAfter time.Duration
	TooLarge   bool // the call alone exceeds the burst: split it
}

func (e *QuotaError) Error() string {
	if e.TooLarge {
		return fmt.Sprintf("gateway: tenant %s: the request holds more messages than the tenant's burst", e.Tenant)
	}
	return fmt.Sprintf("gateway: tenant %s is over its rate; retry in %s", e.Tenant, e.RetryAfter.Round(time.Millisecond))
}

// AcceptOutcome answers one SendRequest: either the stored message or the
// reason it was refused (a *FieldError).
type AcceptOutcome struct {
	ID        string
	Duplicate bool
	// Status is ACCEPTED, or OPTED_OUT for a message stored but never to be
	// sent because its number sent STOP.
	Status   Status
	Parts    int
	Encoding Encoding
	Err      error
}

// Options wires an Engine. Store, Router and Segment are required.
type Options struct {
	Store      Store
	Router     Router
	Connectors []Connector
	Segment    Segmenter
	Tenants    []Tenant

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are not registered
	Now        func() time.Time      // nil: time.Now

	MaxParts    int           // refuse longer texts; default 10
	MaxAttempts int           // submission attempts before FAILED; default 12
	RetryBase   time.Duration // first retry delay, doubled per attempt; default 2s
	RetryMax    time.Duration // retry delay cap; default 5m
	ClaimBatch  int           // messages claimed per store round trip; default 256
	Workers     int           // messages claimed and in flight at once; default the windows together + ClaimBatch, ≥ 256
	PollEvery   time.Duration // how often due work is looked for without a wake-up; default 500ms
	// EventRetention drops events (and finished tasks) older than this,
	// hourly; 0 keeps them all.
	EventRetention time.Duration

	// Keywords routes inbound messages to services; nil: none (STOP, START
	// and HELP are always handled).
	Keywords      *keyword.Table
	TaskAttempts  int           // runs before a failing task is given up; default 20
	TaskRetryBase time.Duration // first retry delay of a task, doubled per attempt; default 1s
	TaskRetryMax  time.Duration // task retry delay cap; default 10m
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
type Engine struct {
	opts     Options
	log      *slog.Logger
	tenants  map[string]*Tenant
	limits   map[string]*rate.Limiter // per tenant with a Rate
	carriers *carriers
	metrics  *metrics
	events   *notifier

	keywords     atomic.Pointer[keyword.Table]
	taskMu       sync.RWMutex
	taskHandlers map[string]TaskHandler
	taskWake     chan struct{}

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	work   sync.WaitGroup
	bg     sync.WaitGroup // housekeeping (event retention)

	stopOnce sync.Once
	stopErr  error
}

// New checks the options and builds an engine; nothing runs until Start.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Router == nil || opts.Segment == nil {
		return nil, errors.New("gateway: Store, Router and Segment are required")
	}
	opts.setDefaults()
	e := &Engine{
		opts:     opts,
		log:      opts.Logger,
		tenants:  make(map[string]*Tenant),
		limits:   make(map[string]*rate.Limiter),
		events:   newNotifier(),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		taskWake: make(chan struct{}, 1),
	}
	e.keywords.Store(opts.Keywords)
	e.taskHandlers = map[string]TaskHandler{TaskReply: e.runReply, TaskOptOut: e.runOptOut}
	for i := range opts.Tenants {
		t := opts.Tenants[i]
		t.OptOut.setDefaults()
		if _, dup := e.tenants[t.ID]; dup {
			return nil, fmt.Errorf("gateway: tenant %q configured twice", t.ID)
		}
		e.tenants[t.ID] = &t
		if t.Rate > 0 {
			e.limits[t.ID] = rate.NewLimiter(rate.Limit(t.Rate), max(t.Burst, int(t.Rate), 1))
		}
	}
	cs, err := newCarriers(opts.Connectors)
	if err != nil {
		return nil, err
	}
	e.carriers = cs
	if ca, ok := opts.Router.(CarrierAware); ok {
		ca.UseCarrierStates(cs)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	return e, nil
}

// Start connects the carriers and starts dispatching due messages, including
// those a previous run left unfinished.
func (e *Engine) Start() error {
	if err := e.carriers.start(e); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go e.dispatch(ctx)
	e.bg.Add(2)
	go e.runTasks(ctx)
	go e.sampleBacklog(ctx)
	if e.opts.EventRetention > 0 {
		e.bg.Add(1)
		go e.prune(ctx)
	}
	return nil
}

// sampleBacklog keeps the queue-depth gauge current.
func (e *Engine) sampleBacklog(ctx context.Context) {
	defer e.bg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if n, err := e.opts.Store.Backlog(ctx); err == nil {
			e.metrics.backlog.Set(float64(n))
		} else if ctx.Err() == nil {
			e.log.Warn("queue depth", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune applies the event retention at start and every hour.
func (e *Engine) prune(ctx context.Context) {
	defer e.bg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	prunes := []struct {
		what string
		fn   func(context.Context, time.Time) (int, error)
	}{
		{"events", e.opts.Store.PruneEvents},
		{"finished tasks", e.opts.Store.PruneTasks},
		{"missing-id records", e.opts.Store.PruneMissing},
	}
	for {
		for _, p := range prunes {
			n, err := p.fn(ctx, e.opts.Now().Add(-e.opts.EventRetention))
			switch {
			case err != nil && ctx.Err() == nil:
				e.log.Error("prune "+p.what, "err", err)
			case n > 0:
				e.log.Info(p.what+" pruned", "count", n, "retention", e.opts.EventRetention)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop stops dispatching, lets submissions in flight finish within ctx, then
// stops the connectors. Work cut off by ctx stays in the store, due again at
// the next start. Stop is idempotent; the Store stays open (its owner closes it).
func (e *Engine) Stop(ctx context.Context) error {
	e.stopOnce.Do(func() {
		if e.cancel == nil {
			return
		}
		e.cancel()
		<-e.done
		e.bg.Wait()
		waited := make(chan struct{})
		go func() { e.work.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
			e.stopErr = fmt.Errorf("gateway: stop: in-flight submissions still running: %w", ctx.Err())
		}
		if err := e.carriers.stop(ctx); err != nil && e.stopErr == nil {
			e.stopErr = err
		}
		e.events.close()
	})
	return e.stopErr
}

// Ready reports whether the engine can send now: at least one carrier is up.
func (e *Engine) Ready() bool { return e.carriers.anyUp() }

// Accept validates, normalizes and durably stores messages for a tenant,
// answering each request in order. Refused items carry a *FieldError and do
// not prevent the others; err is set only when nothing could be stored. A
// call over the tenant's rate is refused whole with a *QuotaError.
func (e *Engine) Accept(ctx context.Context, tenant string, reqs []SendRequest) ([]AcceptOutcome, error) {
	return e.accept(ctx, tenant, reqs, false)
}

// AcceptPaced stores like Accept but is never refused for the tenant's
// rate: the messages over it are scheduled (NotBefore) at the rate instead,
// so they leave no faster than the tenant may send. It is for callers that
// cannot retry a refusal: Fineract logs a refused page and never posts it
// again. The rate is the tenant's one budget: a paced call that queues
// messages for later makes the tenant's next Accept calls wait as well.
func (e *Engine) AcceptPaced(ctx context.Context, tenant string, reqs []SendRequest) ([]AcceptOutcome, error) {
	return e.accept(ctx, tenant, reqs, true)
}

func (e *Engine) accept(ctx context.Context, tenant string, reqs []SendRequest, paced bool) ([]AcceptOutcome, error) {
	t, ok := e.tenants[tenant]
	if !ok {
		return nil, fmt.Errorf("gateway: unknown tenant %q", tenant)
	}
	out := make([]AcceptOutcome, len(reqs))
	var (
		msgs    []*Message
		idx     []int
		replies []bool
	)
	for i, r := range reqs {
		var reply *Inbound
		if r.ReplyTo != "" {
			in, err := e.opts.Store.GetInbound(ctx, tenant, r.ReplyTo)
			switch {
			case errors.Is(err, ErrNotFound):
				out[i].Err = &FieldError{"reply_to", fmt.Sprintf("no inbound message %q", r.ReplyTo)}
				continue
			case err != nil:
				return nil, fmt.Errorf("gateway: accept: %w", err)
			}
			reply = in
		}
		m, err := e.validate(t, r, reply)
		if err != nil {
			out[i].Err = err
			e.metrics.refused.WithLabelValues(tenant).Inc()
			continue
		}
		msgs = append(msgs, m)
		idx = append(idx, i)
		replies = append(replies, reply != nil)
	}
	if len(msgs) == 0 {
		return out, nil
	}
	release, held := func() {}, 0
	if paced {
		release, held = e.pace(t.ID, msgs)
	} else if err := e.admit(t.ID, len(msgs)); err != nil {
		e.metrics.throttled.WithLabelValues(tenant).Add(float64(len(msgs)))
		return nil, err
	}
	if err := e.applyOptOuts(ctx, t, msgs, replies); err != nil {
		release()
		return nil, fmt.Errorf("gateway: accept: opt-out list: %w", err)
	}
	start := e.opts.Now()
	res, err := e.opts.Store.Accept(ctx, msgs)
	if err != nil {
		release()
		return nil, fmt.Errorf("gateway: accept: %w", err)
	}
	e.metrics.acceptSeconds.Observe(e.opts.Now().Sub(start).Seconds())
	if held > 0 {
		e.metrics.paced.WithLabelValues(tenant).Add(float64(held))
	}
	for j, r := range res {
		m := msgs[j]
		out[idx[j]] = AcceptOutcome{ID: r.ID, Duplicate: r.Duplicate, Status: m.Status, Parts: len(m.Parts), Encoding: m.Encoding}
		if r.Duplicate {
			out[idx[j]].Status = ""
		}
		if !r.Duplicate && m.Status == StatusOptedOut {
			e.metrics.optedOut.WithLabelValues(tenant).Inc()
		}
		if !r.Duplicate {
			e.metrics.accepted.WithLabelValues(tenant).Inc()
			e.log.Debug("accepted", "msg_id", r.ID, "to", MaskNumber(m.To), "parts", len(m.Parts))
		}
	}
	e.events.notify()
	e.kick()
	return out, nil
}

// admit takes n messages from the tenant's rate, all or nothing: a refused
// call consumes nothing.
func (e *Engine) admit(tenant string, n int) error {
	lim := e.limits[tenant]
	if lim == nil {
		return nil
	}
	now := time.Now()
	r := lim.ReserveN(now, n)
	if !r.OK() {
		return &QuotaError{Tenant: tenant, TooLarge: true}
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return &QuotaError{Tenant: tenant, RetryAfter: d}
	}
	return nil
}

// pace takes msgs from the tenant's rate whatever it costs, burst by burst,
// and holds each burst that would exceed the rate until the time the rate
// allows it (its NotBefore, when that is later than the message's own). The
// returned func gives the reservations back, for a call that stored
// nothing; held counts the messages held for later.
func (e *Engine) pace(tenant string, msgs []*Message) (release func(), held int) {
	lim := e.limits[tenant]
	if lim == nil {
		return func() {}, 0
	}
	now := time.Now()
	var rs []*rate.Reservation
	for i := 0; i < len(msgs); i += lim.Burst() {
		chunk := msgs[i:min(i+lim.Burst(), len(msgs))]
		r := lim.ReserveN(now, len(chunk))
		rs = append(rs, r)
		d := r.DelayFrom(now)
		if d <= 0 {
			continue
		}
		at := e.opts.Now().Add(d)
		for _, m := range chunk {
			if m.NotBefore.Before(at) {
				m.NotBefore = at
			}
		}
		held += len(chunk)
	}
	return func() {
		for _, r := range slices.Backward(rs) {
			r.CancelAt(now)
		}
	}, held
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

// Get returns a tenant's message.
func (e *Engine) Get(ctx context.Context, tenant, id string) (*Message, error) {
	return e.opts.Store.Get(ctx, tenant, id)
}

// List returns a page of a tenant's messages; a destination in the filter
// may be national, as in Send.
func (e *Engine) List(ctx context.Context, tenant string, f ListFilter) ([]*Message, error) {
	t, ok := e.tenants[tenant]
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
	e.events.notify()
	return e.opts.Store.Get(ctx, tenant, id)
}

// AckEvents moves a tenant's named cursor and returns where it stands.
func (e *Engine) AckEvents(ctx context.Context, tenant, cursor string, seq int64) (int64, error) {
	if cursor == "" {
		return 0, &FieldError{"cursor", "is empty"}
	}
	if err := e.opts.Store.AckEvents(ctx, tenant, cursor, seq); err != nil {
		return 0, err
	}
	return e.opts.Store.Cursor(ctx, tenant, cursor)
}

// Cursor is where a tenant's named cursor stands (0: never acknowledged).
func (e *Engine) Cursor(ctx context.Context, tenant, cursor string) (int64, error) {
	return e.opts.Store.Cursor(ctx, tenant, cursor)
}

// Events returns the tenant's events from fromSeq on, waiting up to the
// context's end for at least one when none is there yet.
func (e *Engine) Events(ctx context.Context, tenant string, fromSeq int64, limit int) ([]Event, error) {
	for {
		changed := e.events.wait()
		evs, err := e.opts.Store.Events(ctx, tenant, fromSeq, limit)
		if err != nil || len(evs) > 0 {
			return evs, err
		}
		var remote <-chan struct{}
		if n, ok := e.opts.Store.(EventNotifier); ok {
			remote = n.EventsChanged()
		}
		if e.events.isClosed() {
			return nil, ErrStopped
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		case <-remote:
		case <-time.After(e.opts.PollEvery):
			// A wake-up may have been missed; the store is the truth.
		}
	}
}

// ErrStopped is returned by Events once the engine stopped and the caller
// has read everything there was.
var ErrStopped = errors.New("gateway: stopped")

// HandleReceipts implements Sink: receipts are stored (and matched) before
// the connector acknowledges them to the carrier.
func (e *Engine) HandleReceipts(ctx context.Context, rs []Receipt) error {
	matched, err := e.opts.Store.RecordReceipts(ctx, rs)
	if err != nil {
		return fmt.Errorf("gateway: record receipts: %w", err)
	}
	for _, r := range rs {
		st := string(r.Status)
		if st == "" {
			st = "intermediate"
		}
		e.metrics.receipts.WithLabelValues(r.Carrier, st).Inc()
	}
	e.metrics.receiptsUnmatched.Add(float64(len(rs) - matched))
	e.events.notify()
	return nil
}

func (e *Engine) kick() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// dispatch claims due messages and hands each to a worker goroutine, with at
// most Workers in flight.
func (e *Engine) dispatch(ctx context.Context) {
	defer close(e.done)
	slots := make(chan struct{}, e.opts.Workers)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timer.C:
		}
		for ctx.Err() == nil && e.Ready() {
			free := cap(slots) - len(slots)
			if free == 0 {
				// Wait for a worker to finish before claiming more.
				select {
				case slots <- struct{}{}:
					<-slots
				case <-ctx.Done():
					return
				}
				continue
			}
			claimedAt := e.opts.Now()
			msgs, err := e.opts.Store.Claim(ctx, claimedAt, min(free, e.opts.ClaimBatch))
			if err != nil {
				if ctx.Err() == nil {
					e.log.Error("claim due messages", "err", err)
				}
				break
			}
			for _, m := range msgs {
				m.claimedAt = claimedAt
				slots <- struct{}{}
				e.work.Add(1)
				go func() {
					defer func() { <-slots; e.work.Done() }()
					e.process(ctx, m)
				}()
			}
			if len(msgs) < min(free, e.opts.ClaimBatch) {
				break
			}
		}
		timer.Reset(e.opts.PollEvery)
	}
}

// process takes one claimed message through the router's candidates until
// every part is submitted or a decision ends the attempt.
func (e *Engine) process(ctx context.Context, m *Message) {
	now := e.opts.Now()
	// The store may be closing after ctx ends; record outcomes on a context
	// that survives the dispatcher's cancellation but not forever.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()

	if !m.ExpiresAt.IsZero() && now.After(m.ExpiresAt) {
		e.finish(rctx, m, StatusExpired, "validity period ended before submission")
		return
	}
	var pending []int
	for _, p := range m.Parts {
		if p.CarrierID == "" {
			pending = append(pending, p.Index)
		}
	}
	if len(pending) == 0 {
		// Every part was recorded before a restart; nothing to send.
		return
	}
	cands, err := e.opts.Router.Plan(RouteQuery{Tenant: m.Tenant, From: m.From, To: m.To, At: now, Key: m.ID, Pinned: m.PinnedCarrier})
	if err != nil {
		e.finish(rctx, m, StatusFailed, err.Error())
		return
	}
	if len(cands) == 0 {
		// No carrier can take it now (none routed, breakers open, binds
		// down): wait without using an attempt; validity still applies.
		e.retry(rctx, m, fmt.Errorf("no carrier can take %s now (binds down, breakers open or outside route hours)", MaskNumber(m.To)), false)
		return
	}
	var (
		lastErr  error
		tried    bool
		failures []AttemptRecord // the history of this try, written once at the end
	)
	defer func() {
		if len(failures) > 0 {
			if err := e.opts.Store.RecordAttempts(rctx, failures); err != nil {
				e.log.Error("record attempts", "msg_id", m.ID, "err", err)
			}
		}
	}()
	for _, c := range cands {
		conn, _ := e.carriers.get(c.Carrier)
		if !e.carriers.Up(c.Carrier) {
			lastErr = fmt.Errorf("carrier %s is down", c.Carrier)
			continue
		}
		done, admitted := e.opts.Router.Admit(c.Carrier)
		if !admitted {
			lastErr = fmt.Errorf("carrier %s: circuit breaker open", c.Carrier)
			continue
		}
		tried = true
		var (
			decision Decision
			failed   bool
		)
		pending, decision, lastErr, failed = e.submit(ctx, rctx, m, c, conn, pending)
		// A carrier that refused the message for good, or asked to slow
		// down, still works; a stop cutting the submission short says
		// nothing about the carrier.
		released := errors.Is(lastErr, errLeaseEnding) || ctx.Err() != nil
		done(len(pending) == 0 || decision == Permanent || released || IsThrottled(lastErr))
		if len(pending) > 0 && !released {
			failures = append(failures, AttemptRecord{MessageID: m.ID, Attempt: Attempt{
				Carrier: c.Carrier, Outcome: decision.String(), Detail: lastErr.Error(), At: e.opts.Now()}})
		}
		if failed {
			return
		}
		if len(pending) == 0 {
			if !m.CreatedAt.IsZero() {
				e.metrics.submitLatency.Observe(e.opts.Now().Sub(m.CreatedAt).Seconds())
			}
			return
		}
		switch decision {
		case Permanent:
			e.finish(rctx, m, StatusRejected, lastErr.Error())
			return
		case Retry:
			if !released && !e.opts.Router.Closed(c.Carrier) {
				// The carrier's breaker tripped on this failure, or it was
				// half-open and this was its probe: waiting for it would
				// spend the message's attempts on probes.
				continue
			}
			// A stop cutting a submission short, or a lapsing claim, is not
			// the carrier's answer.
			e.retry(rctx, m, lastErr, !released)
			return
		}
	}
	// Every candidate was down or passed the message on: wait for one to
	// come back. Only a carrier's answer counts as an attempt.
	e.retry(rctx, m, lastErr, tried)
}

// submit hands the pending parts to one carrier in chunks no larger than its
// window, storing each chunk's carrier ids before its window slots are
// released. It returns the parts still unsent, the decision their errors call
// for, and failed when the outcome could not be stored.
func (e *Engine) submit(ctx, rctx context.Context, m *Message, c Candidate, conn Connector, pending []int) (left []int, decision Decision, lastErr error, failed bool) {
	_, win := e.carriers.get(c.Carrier)
	chunk := max(conn.Window(), 1)
	decision = NextRoute
	for len(pending) > 0 {
		n := min(len(pending), chunk)
		if err := win.Acquire(ctx, int64(n)); err != nil {
			return append(left, pending...), Retry, err, false
		}
		if !e.leaseAllows(m) {
			win.Release(int64(n))
			return append(left, pending...), Retry, errLeaseEnding, false
		}
		// Nothing may be written after the first half of the lease, however
		// long the carrier's pacing makes the parts wait.
		sctx, scancel := context.WithDeadline(ctx, e.sendDeadline(m))
		results := conn.Submit(sctx, m, pending[:n])
		lapsed := sctx.Err() != nil && ctx.Err() == nil
		scancel()
		pending = pending[n:]
		var recs []SubmitRecord
		for _, r := range results {
			if r.Err == nil {
				recs = append(recs, SubmitRecord{MessageID: m.ID, Index: r.Index, Carrier: c.Carrier,
					CarrierID: r.CarrierID, Cost: c.Cost, Currency: c.Currency, At: e.opts.Now()})
				e.metrics.submitted.WithLabelValues(c.Carrier).Inc()
				e.metrics.cost.WithLabelValues(m.Tenant, c.Carrier, c.Currency).Add(c.Cost)
				continue
			}
			left = append(left, r.Index)
			if lapsed && !errors.Is(r.Err, errLeaseEnding) {
				// The pool gave up waiting (its errors need not wrap the
				// deadline): not the carrier's answer.
				r.Err = fmt.Errorf("%w: %w", errLeaseEnding, r.Err)
			}
			lastErr = r.Err
			d := DecisionOf(r.Err)
			e.metrics.decisions.WithLabelValues(c.Carrier, d.String()).Inc()
			// The strongest decision among the parts wins: permanent beats
			// retry beats next route.
			if d == Permanent || (d == Retry && decision == NextRoute) {
				decision = d
			}
		}
		var err error
		if len(recs) > 0 {
			err = e.opts.Store.RecordSubmits(rctx, recs)
		}
		win.Release(int64(n))
		if err != nil {
			// The carrier has the parts; after a restart they are resent
			// (at-least-once), which is the documented window.
			e.log.Error("record submits", "msg_id", m.ID, "err", err)
			return nil, decision, err, true
		}
		if len(recs) > 0 {
			e.events.notify()
		}
		if len(left) > 0 {
			// This carrier failed a part: the rest go where the decision says.
			return append(left, pending...), decision, lastErr, false
		}
	}
	return nil, decision, lastErr, false
}

// errLeaseEnding stops a submission whose claim is about to lapse: another
// node may claim the message then, and both would send it.
var errLeaseEnding = errors.New("gateway: claim lease ending before submission; released for another attempt")

// leaseAllows says whether m may still be sent under its claim: only in the
// first half of the lease, which leaves the other half for the carrier's
// answer and the store's record.
func (e *Engine) leaseAllows(m *Message) bool {
	return e.opts.Now().Before(e.sendDeadline(m))
}

// sendDeadline is the end of the first half of m's lease (far away for a
// message without one).
func (e *Engine) sendDeadline(m *Message) time.Time {
	if m.LeaseUntil.IsZero() {
		return e.opts.Now().Add(24 * time.Hour)
	}
	return m.claimedAt.Add(m.LeaseUntil.Sub(m.claimedAt) / 2)
}

// retry reschedules a message with exponential backoff, or fails it once a
// counted attempt would exceed MaxAttempts.
func (e *Engine) retry(ctx context.Context, m *Message, cause error, counted bool) {
	attempts := m.Tries
	if counted {
		attempts++
	}
	if attempts >= e.opts.MaxAttempts {
		e.finish(ctx, m, StatusFailed, fmt.Sprintf("gave up after %d attempts: %v", attempts, cause))
		return
	}
	delay := e.opts.RetryBase << min(max(attempts-1, 0), 20)
	if delay > e.opts.RetryMax || delay <= 0 {
		delay = e.opts.RetryMax
	}
	// Jitter spreads a burst of retries after an outage.
	delay = delay/2 + rand.N(delay/2+1)
	at := e.opts.Now().Add(delay)
	if err := e.opts.Store.Reschedule(ctx, m.ID, at, cause.Error(), counted); err != nil {
		e.log.Error("reschedule", "msg_id", m.ID, "err", err)
		return
	}
	e.metrics.retries.Inc()
}

func (e *Engine) finish(ctx context.Context, m *Message, st Status, detail string) {
	if err := e.opts.Store.Finish(ctx, m.ID, st, detail); err != nil {
		e.log.Error("finish", "msg_id", m.ID, "status", st, "err", err)
		return
	}
	e.metrics.finished.WithLabelValues(string(st)).Inc()
	e.log.Info("message ended before delivery", "msg_id", m.ID, "status", st, "detail", detail)
	e.events.notify()
}
