package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/openmf/smsgw/gateway/limits"
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
	// Submit are carrier-level settings (receipts asked for, message
	// class, protocol id); the zero value keeps smsgw's defaults.
	Submit SubmitOptions
	// Binary, when set, is the short_message itself (UDH, octets,
	// data_coding), sent as one SMS through an SMPP carrier; Text is then
	// ignored.
	Binary *Binary
}

// QuotaError refuses an accept call that would exceed the tenant's rate;
// nothing of the call was stored. Callers retry after RetryAfter.
type QuotaError struct {
	Tenant     string
	RetryAfter time.Duration
	TooLarge   bool // the call alone exceeds the burst: split it
}

// Error says which tenant is over its rate and when to retry, or that the
// call must be split: what an API answers with its 429 or RESOURCE_EXHAUSTED.
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

// acceptor turns send requests into durable messages: validation and
// normalization, the tenant's rate (refused, or paced with NotBefore), the
// opt-out list, then one Store.Accept. It uses the MessageStore role to
// store, the Inbox role to find the message a reply answers, and the
// OptOuts role to mark messages to numbers that opted out; then it hands
// the messages due now to the dispatcher when it has room and nothing
// waits in the store (stored leased, they need no claim), or else wakes
// it, and wakes the event feed. It has no goroutine: it runs on its
// caller's (an interface, or the outbox running a reply task).
type acceptor struct {
	store    MessageStore
	inbox    Inbox
	optOuts  OptOuts
	carriers *carriers // a caller's Carrier must run here
	router   Router    // a message no route can take fails at once
	tenants  *tenants
	segment  Segmenter
	// segmentUCS2 counts texts sent in UCS-2 on request; nil: segment.
	segmentUCS2 Segmenter
	maxParts    int
	horizon     time.Duration // NotBefore and ExpiresAt at most this far from now
	now         func() time.Time
	metrics     *metrics
	log         *slog.Logger
	feed        *eventFeed
	dispatch    *dispatcher // takes messages leased at accept, or is woken
	fraud       *limits.Fraud
	price       func(RouteQuery) float64 // a part's cost on the route, for spend caps; nil prices nothing
}

func (a *acceptor) accept(ctx context.Context, tenant string, reqs []SendRequest, paced bool) ([]AcceptOutcome, error) {
	t, ok := a.tenants.load().byID[tenant]
	if !ok {
		return nil, fmt.Errorf("gateway: unknown tenant %q", tenant)
	}
	out := make([]AcceptOutcome, len(reqs))
	var (
		msgs    = make([]*Message, 0, len(reqs))
		idx     = make([]int, 0, len(reqs))
		replies = make([]bool, 0, len(reqs))
		// The call's messages and their parts are carved from two slabs
		// instead of two allocations a message.
		slab  = newMessageSlab(len(reqs))
		nrefd int
	)
	for i, r := range reqs {
		var reply *Inbound
		if r.ReplyTo != "" {
			in, err := a.inbox.GetInbound(ctx, tenant, r.ReplyTo)
			switch {
			case errors.Is(err, ErrNotFound):
				out[i].Err = &FieldError{"reply_to", fmt.Sprintf("no inbound message %q", r.ReplyTo)}
				continue
			case err != nil:
				return nil, fmt.Errorf("gateway: accept: %w", err)
			}
			reply = in
		}
		m, err := a.validate(t, r, reply, slab)
		if err != nil {
			out[i].Err = err
			nrefd++
			continue
		}
		msgs = append(msgs, m)
		idx = append(idx, i)
		replies = append(replies, reply != nil)
	}
	if nrefd > 0 {
		a.metrics.refused.WithLabelValues(tenant).Add(float64(nrefd))
	}
	if len(msgs) == 0 {
		return out, nil
	}
	release, held := func() {}, 0
	if paced {
		release, held = a.pace(t.ID, msgs)
	} else if err := a.admit(t.ID, len(msgs)); err != nil {
		a.metrics.throttled.WithLabelValues(tenant).Add(float64(len(msgs)))
		return nil, err
	}
	if err := a.applyOptOuts(ctx, t, msgs, replies); err != nil {
		release()
		return nil, fmt.Errorf("gateway: accept: opt-out list: %w", err)
	}
	a.failUnroutable(msgs)
	screened := a.screen(t, msgs)
	start := a.now()
	leased := a.lease(msgs, start)
	res, err := a.store.Accept(ctx, msgs)
	screened(res)
	if err != nil {
		a.dispatch.unreserve(leased)
		release()
		return nil, fmt.Errorf("gateway: accept: %w", err)
	}
	a.metrics.acceptSeconds.Observe(a.now().Sub(start).Seconds())
	if held > 0 {
		a.metrics.paced.WithLabelValues(tenant).Add(float64(held))
	}
	// Counted per call, not per message: a labelled counter's lookup
	// hashes its labels every time. The debug line's arguments (a masked
	// number, boxed values) are built only when debug is on.
	debug := a.log.Enabled(ctx, slog.LevelDebug)
	var (
		accepted, optedOut, failed int
		handed                     []*Message // leased at accept: a worker owns each once handed
		waiting, stored            bool       // due messages stored unleased; any stored unleased to send
	)
	for j, r := range res {
		m := msgs[j]
		out[idx[j]] = AcceptOutcome{ID: r.ID, Duplicate: r.Duplicate, Status: m.Status, Parts: len(m.Parts), Encoding: m.Encoding}
		if r.Duplicate {
			out[idx[j]] = a.duplicate(ctx, m, r.ID)
			continue
		}
		switch {
		case !m.LeaseUntil.IsZero():
			// Not when the lease's first half passed while Accept ran (a
			// store that stalled): the message could not be sent under it,
			// and once it lapsed a claim may have taken the message, which
			// a worker would then release under that claim's feet. It is
			// left to its lease, as a claim's would be.
			if a.dispatch.leaseAllows(m) {
				handed = append(handed, m)
			}
		case m.Status == StatusAccepted:
			stored = true
			waiting = waiting || !m.NotBefore.After(start)
		}
		accepted++
		switch m.Status {
		case StatusOptedOut:
			optedOut++
		case StatusFailed:
			failed++
		}
		if debug {
			a.log.Debug("accepted", "msg_id", r.ID, "to", MaskNumber(m.To), "parts", len(m.Parts))
		}
	}
	if accepted > 0 {
		a.metrics.accepted.WithLabelValues(tenant).Add(float64(accepted))
	}
	if optedOut > 0 {
		a.metrics.optedOut.WithLabelValues(tenant).Add(float64(optedOut))
	}
	if failed > 0 {
		a.metrics.finished.WithLabelValues(string(StatusFailed)).Add(float64(failed))
	}
	// A slot reserved for a duplicate (its stored message is left as it
	// is), or for a message not handed over, goes back.
	a.dispatch.unreserve(leased - len(handed))
	for _, m := range handed {
		a.dispatch.hand(m)
	}
	a.metrics.dispatchedAccept.Add(float64(len(handed)))
	if waiting {
		a.dispatch.storedWaiting()
	}
	a.feed.notify()
	if stored {
		a.dispatch.kick()
	}
	return out, nil
}

// lease marks the messages to send now that the dispatcher has room for
// with a LeaseUntil, so Accept stores them leased to this node and they
// are handed to it without a claim, and returns how many slots it took.
func (a *acceptor) lease(msgs []*Message, now time.Time) int {
	// To send now: not stored final (opted out, unroutable, refused) and
	// not scheduled for later.
	due := func(m *Message) bool { return m.Status == "" && !m.NotBefore.After(now) }
	n := 0
	for _, m := range msgs {
		if due(m) {
			n++
		}
	}
	n = a.dispatch.reserve(n)
	until := now.Add(a.store.ClaimLease())
	for i, k := 0, 0; k < n; i++ {
		if m := msgs[i]; due(m) {
			m.LeaseUntil, m.claimedAt = until, now
			k++
		}
	}
	return n
}

// duplicate answers a request whose client_ref names a stored message:
// that message, as it stands now, when the request asks for the same
// number and text (a retry), else a RefConflictError (the ref was reused
// for another message, which would otherwise never be sent). Retries are
// rare, so the stored message is read only then.
func (a *acceptor) duplicate(ctx context.Context, m *Message, id string) AcceptOutcome {
	stored, err := a.store.Get(ctx, m.Tenant, id)
	if err != nil {
		return AcceptOutcome{ID: id, Duplicate: true, Err: fmt.Errorf("gateway: accept: read the message client_ref %q names: %w", m.ClientRef, err)}
	}
	if stored.To != m.To || stored.Text != m.Text {
		return AcceptOutcome{ID: id, Err: &RefConflictError{ClientRef: m.ClientRef, ID: id}}
	}
	return AcceptOutcome{ID: id, Duplicate: true, Status: stored.Status, Parts: len(stored.Parts), Encoding: stored.Encoding}
}

// RefConflictError refuses a request whose client_ref is already the key
// of a message with another number or text: answering it as a retry would
// tell the caller a message was accepted that will never be sent.
type RefConflictError struct {
	ClientRef string
	ID        string // the stored message's
}

func (e *RefConflictError) Error() string {
	return fmt.Sprintf("client_ref %q is already used by message %s, with another number or text", e.ClientRef, e.ID)
}

// admit takes n messages from the tenant's rate, all or nothing: a refused
// call consumes nothing.
func (a *acceptor) admit(tenant string, n int) error {
	lim := a.tenants.load().limiter(tenant)
	if lim == nil {
		return nil
	}
	now := a.now()
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
func (a *acceptor) pace(tenant string, msgs []*Message) (release func(), held int) {
	lim := a.tenants.load().limiter(tenant)
	if lim == nil {
		return func() {}, 0
	}
	now := a.now()
	var rs []*rate.Reservation
	for i := 0; i < len(msgs); i += lim.Burst() {
		chunk := msgs[i:min(i+lim.Burst(), len(msgs))]
		r := lim.ReserveN(now, len(chunk))
		rs = append(rs, r)
		d := r.DelayFrom(now)
		if d <= 0 {
			continue
		}
		at := now.Add(d)
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

// failUnroutable marks the messages no configured route could ever take
// FAILED, with a last_error naming the number, so they are stored final at
// once instead of waiting ACCEPTED for a route that will not come.
func (a *acceptor) failUnroutable(msgs []*Message) {
	now := a.now()
	for _, m := range msgs {
		if m.Status != "" {
			continue // opted out
		}
		q := RouteQuery{Tenant: m.Tenant, From: m.From, To: m.To, At: now, Pinned: m.PinnedCarrier}
		if !a.router.Routable(q) {
			m.Status, m.LastError = StatusFailed, noRouteDetail(m, ErrNoRoute)
		}
	}
}

// optOutDetail is the last_error of a message refused for an opted-out number.
const optOutDetail = "recipient opted out (sent STOP); not sent"

// applyOptOuts marks the messages to numbers that opted out of the tenant's
// messages OPTED_OUT, so they are stored but never sent. Replies to a
// client's own message are exempt (they answer what the client just sent,
// e.g. HELP), and so are transactional messages when the tenant allows.
func (a *acceptor) applyOptOuts(ctx context.Context, t *Tenant, msgs []*Message, replies []bool) error {
	var numbers []string
	for i, m := range msgs {
		if replies[i] || (m.Category == CategoryTransactional && t.OptOut.AllowTransactional) {
			continue
		}
		numbers = append(numbers, m.To)
	}
	if len(numbers) == 0 {
		return nil
	}
	out, err := a.optOuts.OptedOut(ctx, t.ID, numbers)
	if err != nil || len(out) == 0 {
		return err
	}
	for i, m := range msgs {
		if !replies[i] && out[m.To] && !(m.Category == CategoryTransactional && t.OptOut.AllowTransactional) {
			m.Status, m.LastError = StatusOptedOut, optOutDetail
		}
	}
	return nil
}
