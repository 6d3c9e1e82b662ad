package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// dispatcher moves accepted messages to carriers and records what became
// of them: it claims due messages, asks the router for their candidates,
// submits the parts through the carriers' windows, and records submits,
// failed attempts, reschedules and final statuses; it also records the
// receipts carriers send back. It uses the MessageStore role of the store
// only. The router decides which carriers may take a message (pinned ones
// included) and guards each with a breaker; the carrier set decides whether
// a carrier is up. After each commit it wakes the event feed.
//
// Goroutines: one claim loop, a pool of Workers workers that each carry
// one message at a time (a goroutine per message cost a spawn and a stack
// growth per message), and the queue-depth sampler.
//
// Messages reach the workers two ways: claimed from the store, or handed
// over by the acceptor, which stored them leased to this node (see
// reserve) so that no claim reads them back and rewrites their rows (and
// the SQLite store writes each once with its submit). It hands over only
// while the store holds no due message waiting (idle), so a backlog is
// still taken in priority order and by tenant shares; a message stored
// while a claim that found nothing more ran waits only for the next claim,
// which follows at once.
type dispatcher struct {
	store    MessageStore
	router   Router
	carriers *carriers
	feed     *eventFeed
	metrics  *metrics
	log      *slog.Logger
	now      func() time.Time
	// storeWatch logs the store's write failures; the claim loop drives it.
	storeWatch *storeWatch

	maxAttempts int           // submission attempts before FAILED
	retryBase   time.Duration // first retry delay, doubled per attempt
	retryMax    time.Duration // retry delay cap
	claimBatch  int           // messages claimed per store round trip
	workers     int           // messages claimed and in flight at once
	pollEvery   time.Duration // how often due work is looked for without a wake-up
	// receiptKeep and receiptKeepMax bound the receipts kept unmatched.
	receiptKeep    time.Duration
	receiptKeepMax int
	// receiptPruneEvery is how often kept receipts are pruned.
	receiptPruneEvery time.Duration

	staleMu     sync.Mutex
	staleLogged map[string]time.Time // carrier → when its stale receipts were last logged

	tenants *tenants       // whose turns claim takes
	credit  map[string]int // smooth weighted round robin by tenant; the claim loop's own

	wake   chan struct{}
	slots  chan struct{} // one per message claimed or handed over and not yet done
	handed chan *Message // messages leased at accept, each holding a slot
	// idle says the last claim found no more due messages and none was
	// stored due and unleased since; stored counts those, so that a claim
	// that raced one is run again at once.
	idle    atomic.Bool
	stored  atomic.Uint64
	running atomic.Bool // between start and halt: handing over is allowed
	// handMu orders reserve with halt. reserving counts the slots reserved
	// and not yet handed over or given back; handed is closed once the
	// dispatcher halted and none is left, so the workers take every
	// message handed to them, even after the halt, before they end.
	handMu     sync.Mutex
	reserving  int
	handClosed bool
	cancel     context.CancelFunc
	loops      sync.WaitGroup // the claim loop and the sampler
	work       sync.WaitGroup // the workers: they end once the claim loop has and handed is closed
}

// start begins dispatching due messages, including those a previous run
// left unfinished, and sampling the queue depth.
func (d *dispatcher) start(ctx context.Context) {
	ctx, d.cancel = context.WithCancel(ctx)
	jobs := make(chan *Message)
	d.slots = make(chan struct{}, d.workers)
	d.handed = make(chan *Message, d.workers)
	for range d.workers {
		d.work.Go(func() {
			// Outcomes are recorded on a context that outlives ctx's
			// cancellation: made once per worker, not per message.
			record := context.WithoutCancel(ctx)
			// A worker ends once both are closed (a closed one is set to
			// nil, which a select never picks).
			claimed, handed := (<-chan *Message)(jobs), (<-chan *Message)(d.handed)
			for claimed != nil || handed != nil {
				var (
					m  *Message
					ok bool
				)
				select {
				case m, ok = <-claimed:
					if !ok {
						claimed = nil
						continue
					}
				case m, ok = <-handed:
					if !ok {
						handed = nil
						continue
					}
				}
				d.process(ctx, record, m)
				<-d.slots
			}
		})
	}
	d.running.Store(true)
	d.loops.Go(func() {
		defer close(jobs)
		d.claimLoop(ctx, jobs, d.slots)
	})
	d.loops.Go(func() { d.sampleBacklog(ctx) })
	d.loops.Go(func() { d.pruneReceipts(ctx) })
}

// pruneReceipts drops, every receiptPruneEvery, the kept receipts that
// waited longer than receiptKeep or beyond the newest receiptKeepMax (a
// flood of receipts for unknown ids cannot fill the store), and those held
// for naming only final parts that no submit claimed within ReceiptRace:
// those are the stale receipts operators are told about.
func (d *dispatcher) pruneReceipts(ctx context.Context) {
	t := time.NewTicker(d.receiptPruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.now()
		p, err := d.store.PruneReceipts(ctx, ReceiptPrune{
			StaleBefore: now.Add(-ReceiptRace), Before: now.Add(-d.receiptKeep), Keep: d.receiptKeepMax,
		})
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("prune kept receipts", "err", err)
			}
			continue
		}
		for carrier, tally := range p.Stale {
			d.noteStale(carrier, tally)
		}
		if p.Dropped > 0 {
			d.metrics.receiptsDropped.Add(float64(p.Dropped))
			d.log.Warn("receipts dropped: they matched no submitted part", "count", p.Dropped, "kept_for", d.receiptKeep, "most_kept", d.receiptKeepMax)
		}
	}
}

// halt stops claiming and handing over. Submissions in flight see their
// context end; their outcomes are still recorded (on a context of their
// own).
func (d *dispatcher) halt() {
	d.handMu.Lock()
	d.running.Store(false)
	d.settle(0)
	d.handMu.Unlock()
	d.cancel()
}

// settle notes that n reserved slots were handed over or given back, and
// closes handed once the dispatcher halted and none is left. d.handMu is
// held.
func (d *dispatcher) settle(n int) {
	d.reserving -= n
	if !d.running.Load() && d.reserving == 0 && !d.handClosed {
		d.handClosed = true
		close(d.handed)
	}
}

// waitLoops returns once the claim loop and the sampler have ended; no
// message is claimed after it.
func (d *dispatcher) waitLoops() { d.loops.Wait() }

// drain waits, within ctx, for the messages in flight to finish their
// turn. Call it after waitLoops, when no claimed message can reach a
// worker any more; it also waits for those the acceptor reserved a slot
// for before the halt and hands over after it.
func (d *dispatcher) drain(ctx context.Context) error {
	waited := make(chan struct{})
	go func() { d.work.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gateway: stop: in-flight submissions still running: %w", ctx.Err())
	}
}

// reserve takes up to n slots for messages the acceptor is about to store
// leased and hand over, and returns how many it took: none unless the
// dispatcher runs, some carrier is up and the store holds no due message
// waiting (idle). Each slot taken is given back by unreserve or, through
// the worker, by hand.
func (d *dispatcher) reserve(n int) int {
	if n == 0 || !d.running.Load() || !d.idle.Load() || !d.carriers.anyUp() {
		return 0
	}
	d.handMu.Lock()
	defer d.handMu.Unlock()
	if !d.running.Load() {
		return 0 // halted meanwhile
	}
	k := 0
take:
	for k < n {
		select {
		case d.slots <- struct{}{}:
			k++
		default:
			break take
		}
	}
	d.reserving += k
	return k
}

// unreserve gives back n slots reserve took for messages not handed over.
func (d *dispatcher) unreserve(n int) {
	if n == 0 {
		return
	}
	for range n {
		<-d.slots
	}
	d.handMu.Lock()
	d.settle(n)
	d.handMu.Unlock()
}

// hand gives a worker a message stored leased at accept, in a slot reserve
// took. It never blocks: handed holds as many messages as there are slots,
// and stays open after a halt until every reserved slot is settled.
func (d *dispatcher) hand(m *Message) {
	d.handed <- m
	d.handMu.Lock()
	d.settle(1)
	d.handMu.Unlock()
}

// storedWaiting notes that due messages were stored without a lease: the
// store holds work a claim must take before anything is handed over again.
func (d *dispatcher) storedWaiting() {
	d.stored.Add(1)
	d.idle.Store(false)
}

// kick wakes the claim loop: due work was stored.
func (d *dispatcher) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// sampleBacklog keeps the queue-depth gauge current.
func (d *dispatcher) sampleBacklog(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if n, err := d.store.Backlog(ctx); err == nil {
			d.metrics.backlog.Set(float64(n))
		} else if ctx.Err() == nil {
			d.log.Warn("queue depth", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recordReceipts is Engine.HandleReceipts: receipts are stored (and
// matched) before the connector acknowledges them to the carrier.
func (d *dispatcher) recordReceipts(ctx context.Context, rs []Receipt) error {
	tally, err := d.store.RecordReceipts(ctx, rs)
	if err != nil {
		return fmt.Errorf("gateway: record receipts: %w", err)
	}
	// Held receipts are counted when pruning finds them stale (or never,
	// when their part is recorded within the race): not unmatched.
	matched := tally.Matched + tally.Stale + tally.Held
	if tally.Stale > 0 {
		d.noteStale(rs[0].Carrier, tally)
	}
	for _, r := range rs {
		st := string(r.Status)
		if st == "" {
			st = "intermediate"
		}
		d.metrics.receiptsBy.with([2]string{r.Carrier, st}).Inc()
	}
	d.metrics.receiptsUnmatched.Add(float64(len(rs) - matched))
	d.feed.notify()
	return nil
}

// noteStale counts stale receipts and says, at most once a minute per
// carrier, what usually causes them.
func (d *dispatcher) noteStale(carrier string, tally ReceiptTally) {
	d.metrics.receiptsStale.WithLabelValues(carrier).Add(float64(tally.Stale))
	d.staleMu.Lock()
	now := d.now()
	quiet := now.Sub(d.staleLogged[carrier]) < time.Minute
	if !quiet {
		if d.staleLogged == nil {
			d.staleLogged = make(map[string]time.Time)
		}
		d.staleLogged[carrier] = now
	}
	d.staleMu.Unlock()
	if !quiet {
		d.log.Warn("receipts name only parts already final or submitted before the receipt window: counted stale, not applied",
			"carrier", carrier, "stale", tally.Stale, "ids", tally.StaleIDs,
			"hint", "the carrier reuses ids (its counter restarted or wrapped) or writes receipt ids in another base than submit ids: "+
				"check submit_id_format and receipt_id_format (leave both unset for auto, which matches decimal and hex) and receipt_window")
	}
}

// claimLoop claims due messages and hands each to a worker, with at most
// cap(slots) claimed and not done, while some carrier is up. A slot is
// taken before a message is handed on and given back by the worker.
func (d *dispatcher) claimLoop(ctx context.Context, jobs chan<- *Message, slots chan struct{}) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
		d.carriers.observe(d.now())
		d.storeWatch.check()
		for ctx.Err() == nil && d.carriers.anyUp() {
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
			claimedAt := d.now()
			want := min(free, d.claimBatch)
			stored := d.stored.Load()
			msgs, err := d.claim(ctx, claimedAt, want)
			if err != nil && ctx.Err() == nil {
				d.log.Error("claim due messages", "err", err)
			}
			// A short claim found no more due messages: hand over again.
			// One stored unleased while it ran (raced) may have been
			// missed; the claim runs again at once for it, rather than
			// staying off hand-over until a claim races none, which
			// under a steady flow of a few hundred a second it never
			// did: every message went through a claim.
			short := err == nil && len(msgs) < want
			raced := d.stored.Load() != stored
			d.idle.Store(short)
			d.metrics.dispatchedClaim.Add(float64(len(msgs)))
			for _, m := range msgs {
				m.claimedAt = claimedAt
				slots <- struct{}{}
				jobs <- m // a free slot means an idle worker
			}
			if err != nil || short && !raced {
				break
			}
		}
		timer.Reset(d.pollEvery)
	}
}

// turn is one claimed message on its way through its candidates.
type turn struct {
	m        *Message
	pending  []int       // parts no carrier has taken yet
	cands    []Candidate // the router's plan, best first
	lastErr  error       // why the last candidate did not take every part
	tried    bool        // a carrier answered: a retry counts an attempt
	failures []AttemptRecord
}

// ending is how a turn ends, which is what the dispatcher records.
type ending struct {
	kind    endKind
	status  Status // endFinal
	detail  string // endFinal
	cause   error  // endRetry
	counted bool   // endRetry: a carrier answered, so it uses an attempt
}

type endKind int

const (
	endQuiet endKind = iota // nothing to record: no part was left, or recording failed
	endSent                 // every part was taken this turn
	endFinal                // the message ends unsent: EXPIRED, FAILED or REJECTED
	endRetry                // the message is rescheduled
)

func finalEnd(st Status, detail string) ending {
	return ending{kind: endFinal, status: st, detail: detail}
}

func retryEnd(cause error, counted bool) ending {
	return ending{kind: endRetry, cause: cause, counted: counted}
}

// process takes one claimed message through its turn: prepare it (validity,
// parts left, the router's plan), walk the candidates, then record how the
// turn ended and, last, the attempts that failed on the way. record is ctx
// without its cancellation.
func (d *dispatcher) process(ctx, record context.Context, m *Message) {
	// The store may be closing after ctx ends; record outcomes on a context
	// that survives the dispatcher's cancellation but not forever.
	rctx, cancel := context.WithTimeout(record, 30*time.Second)
	defer cancel()
	t := &turn{m: m}
	end, walk := d.prepare(t)
	if walk {
		end = d.walk(ctx, rctx, t)
	}
	d.conclude(rctx, m, end)
	d.recordAttempts(rctx, m, t.failures)
}

// prepare finds what is left to send and plans it. It returns walk when
// there are candidates to try, else how the turn ends without trying one.
func (d *dispatcher) prepare(t *turn) (end ending, walk bool) {
	now := d.now()
	m := t.m
	if !m.ExpiresAt.IsZero() && now.After(m.ExpiresAt) {
		return finalEnd(StatusExpired, "validity period ended before submission"), false
	}
	for _, p := range m.Parts {
		if p.CarrierID == "" {
			t.pending = append(t.pending, p.Index)
		}
	}
	if len(t.pending) == 0 {
		// Every part was recorded before a restart; nothing to send.
		return ending{kind: endQuiet}, false
	}
	cands, err := plan(d.router, m, now)
	if err != nil {
		return finalEnd(StatusFailed, noRouteDetail(m, err)), false
	}
	if len(cands) == 0 {
		// No carrier can take it now (none routed, breakers open, binds
		// down): wait without using an attempt; validity still applies.
		return retryEnd(fmt.Errorf("no carrier can take %s now (binds down, breakers open or outside route hours)", MaskNumber(m.To)), false), false
	}
	t.cands = cands
	return ending{}, true
}

// walk offers the pending parts to each candidate in turn until an answer
// ends the turn. When every candidate was down or passed the message on,
// it waits for one to come back; only a carrier's answer counts as an
// attempt.
func (d *dispatcher) walk(ctx, rctx context.Context, t *turn) ending {
	for _, c := range t.cands {
		if end, over := d.offer(ctx, rctx, t, c); over {
			return end
		}
	}
	return retryEnd(t.lastErr, t.tried)
}

// offer hands the pending parts to one candidate, tells its breaker how
// the carrier did, keeps a failed attempt for the history, and says
// whether the turn is over.
func (d *dispatcher) offer(ctx, rctx context.Context, t *turn, c Candidate) (end ending, over bool) {
	conn, done, err := d.take(c.Carrier)
	if err != nil {
		t.lastErr = err
		return ending{}, false
	}
	t.tried = true
	res := d.submit(ctx, rctx, t.m, c, conn, t.pending)
	cut := res.cutShort(ctx)
	done(res.carrierWorked(cut))
	t.pending, t.lastErr = res.left, res.err
	if len(res.left) > 0 && !cut {
		t.failures = append(t.failures, AttemptRecord{MessageID: t.m.ID, Attempt: Attempt{
			Carrier: c.Carrier, Outcome: res.decision.String(), Detail: res.err.Error(), At: d.now()}})
	}
	return d.after(res, c, cut)
}

// take gets one carrier for one submission: the carrier set must say it is
// up (it may have gone down since the plan) and its breaker must admit it.
func (d *dispatcher) take(carrier string) (Connector, func(success bool), error) {
	if !d.carriers.Up(carrier) {
		return nil, nil, fmt.Errorf("carrier %s is down", carrier)
	}
	done, ok := d.router.Admit(carrier)
	if !ok {
		return nil, nil, fmt.Errorf("carrier %s: circuit breaker open", carrier)
	}
	conn, _ := d.carriers.get(carrier)
	return conn, done, nil
}

// after says what one submission's result means for the turn: over (and
// how it ends), or on to the next candidate.
func (d *dispatcher) after(res submitResult, c Candidate, cut bool) (end ending, over bool) {
	switch {
	case res.unrecorded:
		// Logged by submit; the message's claim lapses and it is sent again
		// (at least once).
		return ending{kind: endQuiet}, true
	case len(res.left) == 0:
		return ending{kind: endSent}, true
	case res.decision == Permanent:
		return finalEnd(StatusRejected, res.err.Error()), true
	case res.decision == Retry:
		if !cut && !d.router.Closed(c.Carrier) {
			// The carrier's breaker tripped on this failure, or it was
			// half-open and this was its probe: waiting for it would
			// spend the message's attempts on probes.
			return ending{}, false
		}
		// A stop cutting a submission short, or a lapsing claim, is not
		// the carrier's answer.
		return retryEnd(res.err, !cut), true
	}
	return ending{}, false // NextRoute
}

// conclude records how a turn ended.
func (d *dispatcher) conclude(ctx context.Context, m *Message, end ending) {
	switch end.kind {
	case endSent:
		if !m.CreatedAt.IsZero() {
			d.metrics.submitLatency.Observe(d.now().Sub(m.CreatedAt).Seconds())
		}
	case endFinal:
		d.finish(ctx, m, end.status, end.detail)
	case endRetry:
		d.retry(ctx, m, end.cause, end.counted)
	}
}

// recordAttempts writes a turn's failed attempts to the message's history,
// once, at the end of the turn.
func (d *dispatcher) recordAttempts(ctx context.Context, m *Message, failures []AttemptRecord) {
	if len(failures) == 0 {
		return
	}
	if err := d.store.RecordAttempts(ctx, failures); err != nil {
		d.log.Error("record attempts", "msg_id", m.ID, "err", err)
	}
}

// submitResult is what one carrier made of a message's pending parts.
type submitResult struct {
	left     []int    // parts still unsent, to go where decision says
	decision Decision // the strongest among the failed parts'; NextRoute when none failed
	err      error    // the last failed part's error, or why the submission stopped
	// unrecorded: the carrier took parts whose ids could not be stored,
	// so nothing more is written this turn.
	unrecorded bool
}

// cutShort says this node stopped the submission (a stop, a claim about
// to lapse): not the carrier's answer.
func (r submitResult) cutShort(ctx context.Context) bool {
	return errors.Is(r.err, errLeaseEnding) || ctx.Err() != nil
}

// carrierWorked is what the carrier's breaker is told. A carrier that took
// every part, refused the message for good, or asked to slow down still
// works; a submission cut short says nothing about the carrier.
func (r submitResult) carrierWorked(cut bool) bool {
	return len(r.left) == 0 || r.decision == Permanent || cut || IsThrottled(r.err)
}

// submit hands the pending parts to one carrier in chunks no larger than its
// window, storing each chunk's carrier ids before its window slots are
// released. A chunk with a failed part ends the submission: the rest go
// where the decision says.
func (d *dispatcher) submit(ctx, rctx context.Context, m *Message, c Candidate, conn Connector, pending []int) submitResult {
	_, win := d.carriers.get(c.Carrier)
	chunk := max(conn.Window(), 1)
	res := submitResult{decision: NextRoute}
	for len(pending) > 0 {
		n := min(len(pending), chunk)
		if err := win.Acquire(ctx, int64(n)); err != nil {
			return submitResult{left: append(res.left, pending...), decision: Retry, err: err}
		}
		if !d.leaseAllows(m) {
			win.Release(int64(n))
			return submitResult{left: append(res.left, pending...), decision: Retry, err: errLeaseEnding}
		}
		// Nothing may be written after the first half of the lease, however
		// long the carrier's pacing makes the parts wait.
		sctx, scancel := context.WithDeadline(ctx, d.sendDeadline(m))
		results := conn.Submit(sctx, m, pending[:n])
		lapsed := sctx.Err() != nil && ctx.Err() == nil
		scancel()
		pending = pending[n:]
		var recs []SubmitRecord
		for _, r := range results {
			if r.Err == nil {
				recs = append(recs, SubmitRecord{MessageID: m.ID, Index: r.Index, Carrier: c.Carrier,
					CarrierID: r.CarrierID, Cost: c.Cost, Currency: c.Currency, At: d.now()})
				d.metrics.submittedBy.with(c.Carrier).Inc()
				d.metrics.costBy.with(costLabels{m.Tenant, c.Carrier, c.Currency}).Add(c.Cost)
				continue
			}
			res.left = append(res.left, r.Index)
			if lapsed && !errors.Is(r.Err, errLeaseEnding) {
				// The pool gave up waiting (its errors need not wrap the
				// deadline): not the carrier's answer.
				r.Err = fmt.Errorf("%w: %w", errLeaseEnding, r.Err)
			}
			res.err = r.Err
			dec := DecisionOf(r.Err)
			d.metrics.decisions.WithLabelValues(c.Carrier, dec.String()).Inc()
			// The strongest decision among the parts wins: permanent beats
			// retry beats next route.
			if dec == Permanent || (dec == Retry && res.decision == NextRoute) {
				res.decision = dec
			}
		}
		var err error
		if len(recs) > 0 {
			err = d.store.RecordSubmits(rctx, recs)
		}
		win.Release(int64(n))
		if err != nil {
			// The carrier has the parts; after a restart they are resent
			// (at-least-once), which is the documented window.
			d.log.Error("record submits", "msg_id", m.ID, "err", err)
			return submitResult{decision: res.decision, err: err, unrecorded: true}
		}
		if len(recs) > 0 {
			d.feed.notify()
		}
		if len(res.left) > 0 {
			// This carrier failed a part: the rest go where the decision says.
			res.left = append(res.left, pending...)
			return res
		}
	}
	return res
}

// errLeaseEnding stops a submission whose claim is about to lapse: another
// node may claim the message then, and both would send it.
var errLeaseEnding = errors.New("gateway: claim lease ending before submission; released for another attempt")

// leaseAllows says whether m may still be sent under its claim: only in the
// first half of the lease, which leaves the other half for the carrier's
// answer and the store's record.
func (d *dispatcher) leaseAllows(m *Message) bool {
	return d.now().Before(d.sendDeadline(m))
}

// sendDeadline is the end of the first half of m's lease (far away for a
// message without one).
func (d *dispatcher) sendDeadline(m *Message) time.Time {
	if m.LeaseUntil.IsZero() {
		return d.now().Add(24 * time.Hour)
	}
	return m.claimedAt.Add(m.LeaseUntil.Sub(m.claimedAt) / 2)
}

// retry reschedules a message with exponential backoff, or fails it once a
// counted attempt would exceed the attempts allowed.
func (d *dispatcher) retry(ctx context.Context, m *Message, cause error, counted bool) {
	attempts := m.Tries
	if counted {
		attempts++
	}
	if attempts >= d.maxAttempts {
		d.finish(ctx, m, StatusFailed, fmt.Sprintf("gave up after %d attempts: %v", attempts, cause))
		return
	}
	delay := d.retryBase << min(max(attempts-1, 0), 20)
	if delay > d.retryMax || delay <= 0 {
		delay = d.retryMax
	}
	// Jitter spreads a burst of retries after an outage.
	delay = delay/2 + rand.N(delay/2+1)
	at := d.now().Add(delay)
	if err := d.store.Reschedule(ctx, m.ID, m.LeaseUntil, at, cause.Error(), counted); err != nil {
		d.leaseLostOr("reschedule", m, err)
		return
	}
	d.metrics.retries.Inc()
}

// leaseLostOr logs why the store refused a turn's outcome: another claim
// holds the message (this claim's lease lapsed during a stall: that claim
// decides), or an error.
func (d *dispatcher) leaseLostOr(what string, m *Message, err error) {
	if errors.Is(err, ErrLeaseLost) {
		d.log.Warn(what+": the claim's lease lapsed and another claim holds the message; this outcome is dropped",
			"msg_id", m.ID, "lease_until", m.LeaseUntil)
		return
	}
	d.log.Error(what, "msg_id", m.ID, "err", err)
}

// finish ends a message that will not be (further) submitted.
func (d *dispatcher) finish(ctx context.Context, m *Message, st Status, detail string) {
	if err := d.store.Finish(ctx, m.ID, m.LeaseUntil, st, detail); err != nil {
		d.leaseLostOr("finish", m, err)
		return
	}
	d.metrics.finished.WithLabelValues(string(st)).Inc()
	d.log.Info("message ended before delivery", "msg_id", m.ID, "status", st, "detail", detail)
	d.feed.notify()
}

// claim leases up to n due messages. With one tenant it is one Claim. With
// several, the n places are dealt to the tenants by smooth weighted round
// robin (each place, every tenant gains its weight and the one with most
// takes the place and pays the total; the credit carries over to the next
// claim, so even claims of one message serve every tenant in proportion),
// and each tenant claims its places (ClaimFor): one tenant's backlog or
// high-priority flood cannot hold back another's messages. Places a tenant
// had too little due for go to whatever is due (Claim), which also sends
// the messages of a tenant no longer configured. Messages claimed before
// an error are returned with it.
func (d *dispatcher) claim(ctx context.Context, now time.Time, n int) ([]*Message, error) {
	set := d.tenants.load()
	if len(set.order) < 2 {
		return d.store.Claim(ctx, now, n)
	}
	places := d.deal(set.order, n)
	var out []*Message
	for i := range set.order {
		if places[i] == 0 {
			continue
		}
		ms, err := d.store.ClaimFor(ctx, now, set.order[i].ID, places[i])
		out = append(out, ms...)
		if err != nil {
			return out, err
		}
	}
	if len(out) < n {
		rest, err := d.store.Claim(ctx, now, n-len(out))
		return append(out, rest...), err
	}
	return out, nil
}

// deal gives n places to the tenants by smooth weighted round robin and
// returns how many each got, in the tenants' order. Only the claim loop
// calls it.
func (d *dispatcher) deal(tenants []Tenant, n int) []int {
	if d.credit == nil {
		d.credit = map[string]int{}
	}
	total := 0
	for i := range tenants {
		total += weight(&tenants[i])
	}
	places := make([]int, len(tenants))
	for range n {
		best := 0
		for i := range tenants {
			d.credit[tenants[i].ID] += weight(&tenants[i])
			if d.credit[tenants[i].ID] > d.credit[tenants[best].ID] {
				best = i
			}
		}
		d.credit[tenants[best].ID] -= total
		places[best]++
	}
	return places
}

// weight is a tenant's share of dispatch, 1 when unset.
func weight(t *Tenant) int { return max(t.Weight, 1) }
