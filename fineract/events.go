package fineract

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/internal/mask"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// EventFineract is what event messages and digests read from Fineract;
// *Client is the real one.
type EventFineract interface {
	Client(ctx context.Context, id int64) (*ClientData, error)
	Loan(ctx context.Context, id int64) (*Loan, error)
	Loans(ctx context.Context, offset, limit int) (*LoanPage, error)
	Savings(ctx context.Context, id int64) (*SavingsAccount, error)
	LoanTransaction(ctx context.Context, loanID, txID int64) (*Transaction, error)
	SavingsTransaction(ctx context.Context, savingsID, txID int64) (*Transaction, error)
	Staff(ctx context.Context, id int64) (*Staff, error)
	Offices(ctx context.Context) ([]Office, error)
	MeetingCenters(ctx context.Context, officeID int64, day LocalDate) ([]StaffCenters, error)
}

var _ EventFineract = (*Client)(nil)

// Sender is the part of the gateway's Messaging API that sends;
// pb.MessagingClient is one.
type Sender interface {
	Send(ctx context.Context, in *pb.SendRequest, opts ...grpc.CallOption) (*pb.SendResponse, error)
}

// EventRefPrefix starts the client_ref of every message an event sends;
// the event's Key, the rule and the recipient follow. The gateway sends a
// client_ref once per tenant, so a hook posted again, or retried after a
// restart, sends nothing twice.
const EventRefPrefix = "fineract-event:"

// NotifierOptions configures a Notifier for one tenant.
type NotifierOptions struct {
	Gateway  Sender
	Fineract EventFineract
	// Region reads national numbers stored in Fineract (ISO 3166, "KE").
	Region string
	// Workers handle events at once; default 4. Queue holds events
	// waiting for one; default 1000 (a full queue refuses hooks with 503).
	Workers, Queue int
	// NotFoundFor: Fineract posts a hook before its transaction commits,
	// so a transaction or account not found this soon after the hook is
	// looked up again; later it is given up. Default 30 s.
	NotFoundFor time.Duration
	// Spool is a directory where each accepted hook is kept, synced to
	// disk, until it is handled or given up, so a restart handles it
	// then; empty keeps hooks in memory only (a stop loses those waiting:
	// Fineract never posts a hook again).
	Spool string
	// MinBackoff and MaxBackoff space the retries of an event while
	// Fineract or the gateway is unavailable (defaults 1 s and 1 min).
	MinBackoff, MaxBackoff time.Duration
	Metrics                *Metrics
	Log                    *slog.Logger
	Now                    func() time.Time // default time.Now
}

// Notifier turns Fineract's events into messages by the tenant's rules. It
// queues hooks and handles them in the background, retrying while
// Fineract or the gateway is unavailable; its rules and texts may be
// replaced while it runs (Update).
type Notifier struct {
	opts     NotifierOptions
	log      *slog.Logger
	settings atomic.Pointer[eventSettings]
	retryFor atomic.Int64 // time.Duration
	queue    chan *queued

	mu      sync.Mutex
	changed chan struct{} // closed by the next Update
}

type queued struct {
	hook    *Hook
	attempt int
	file    string // in the spool; "" when none
}

// NewNotifier checks cfg (the tenant's events section) with the tenant's
// texts.
func NewNotifier(opts NotifierOptions, cfg *EventsConfig, texts *Texts) (*Notifier, error) {
	if opts.Gateway == nil || opts.Fineract == nil || texts == nil {
		return nil, errors.New("fineract: a notifier needs a gateway, Fineract and texts")
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Queue <= 0 {
		opts.Queue = 1000
	}
	if opts.NotFoundFor <= 0 {
		opts.NotFoundFor = 30 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(time.Minute, opts.MinBackoff)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	n := &Notifier{opts: opts, log: opts.Log, queue: make(chan *queued, opts.Queue), changed: make(chan struct{})}
	if err := n.Update(cfg, texts); err != nil {
		return nil, err
	}
	return n, nil
}

// Update replaces the rules, staff groups, secret, allow-list, digest
// time and texts at once (a config reload); on error nothing changes.
func (n *Notifier) Update(cfg *EventsConfig, texts *Texts) error {
	r := &Responder{region: n.opts.Region}
	s, err := newEventSettings(cfg, texts, r.normalize)
	if err != nil {
		return err
	}
	retry := cfg.RetryFor
	if retry <= 0 {
		retry = time.Hour
	}
	n.retryFor.Store(int64(retry))
	n.settings.Store(s)
	n.mu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
	return nil
}

// updated is closed by the next Update: the digest then reads its time
// again.
func (n *Notifier) updated() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

// ErrQueueFull refuses a hook while too many wait for a worker.
var ErrQueueFull = errors.New("fineract: too many events waiting")

// Enqueue hands a hook to the workers, after writing it to the spool if
// there is one; an error (ErrQueueFull, or the spool failing) means the
// hook was not taken.
func (n *Notifier) Enqueue(h *Hook) error {
	if len(n.queue) == cap(n.queue) {
		return ErrQueueFull
	}
	q := &queued{hook: h}
	if n.opts.Spool != "" {
		var err error
		if q.file, err = n.spool(h); err != nil {
			return err
		}
	}
	select {
	case n.queue <- q:
		return nil
	default:
		n.forget(q)
		return ErrQueueFull
	}
}

// spool writes a hook to the spool and syncs it; the file appears whole
// or not at all.
func (n *Notifier) spool(h *Hook) (string, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(n.opts.Spool, ".hook-*")
	if err != nil {
		return "", fmt.Errorf("fineract: spool: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	name := filepath.Join(n.opts.Spool, fmt.Sprintf("%d-%s.json", time.Now().UnixNano(), strings.ReplaceAll(h.Key(), ":", "_")))
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("fineract: spool: %w", err)
	}
	return name, nil
}

// forget removes a hook that is done with from the spool.
func (n *Notifier) forget(q *queued) {
	if q.file == "" {
		return
	}
	if err := os.Remove(q.file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		n.log.Error("spool: a handled hook could not be removed; the next start handles it again (and sends nothing twice)", "err", err)
	}
}

// recover queues the hooks a previous run left in the spool, oldest
// first, as the workers make room.
func (n *Notifier) recover(ctx context.Context) {
	files, err := filepath.Glob(filepath.Join(n.opts.Spool, "*.json"))
	if err != nil || len(files) == 0 {
		return
	}
	sort.Strings(files)
	n.log.Info("handling the hooks a previous run left in the spool", "events", len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		var h Hook
		if err == nil {
			err = json.Unmarshal(b, &h)
		}
		if err != nil {
			n.log.Error("spool: unreadable hook left in place", "file", f, "err", err)
			continue
		}
		select {
		case n.queue <- &queued{hook: &h, file: f}:
		case <-ctx.Done():
			return
		}
	}
}

// Run handles queued hooks, and those a previous run left in the spool,
// until ctx ends; hooks still waiting then stay in the spool, or are lost
// without one (the log line counts them).
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if n.opts.Spool != "" {
		wg.Go(func() { n.recover(ctx) })
	}
	for range n.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case q := <-n.queue:
					n.work(ctx, q)
				}
			}
		})
	}
	wg.Wait()
	if left := len(n.queue); left > 0 && n.opts.Spool == "" {
		n.log.Warn("stopping with events not handled and no spool; Fineract will not post them again", "events", left)
	}
	return ctx.Err()
}

// work handles one hook and schedules its retry when it must be.
func (n *Notifier) work(ctx context.Context, q *queued) {
	err := n.Handle(ctx, q.hook)
	if ctx.Err() != nil {
		return // stopping: the spool keeps it
	}
	if err == nil {
		n.forget(q)
		return
	}
	log := n.log.With("event", q.hook.Event(), "key", q.hook.Key())
	if age := n.opts.Now().Sub(q.hook.Received); age >= time.Duration(n.retryFor.Load()) {
		n.opts.Metrics.eventMessage("", "gave_up")
		log.Error("event dropped after retrying for retry_for", "tried", q.attempt+1, "err", errText(err))
		n.forget(q)
		return
	}
	wait := min(n.opts.MinBackoff<<min(q.attempt, 16), n.opts.MaxBackoff)
	log.Warn("event not handled; retrying", "in", wait, "err", errText(err))
	q.attempt++
	time.AfterFunc(wait, func() {
		select {
		case n.queue <- q:
		default:
			// The spool, if any, keeps it for the next start.
			n.opts.Metrics.eventMessage("", "gave_up")
			log.Error("event dropped: the queue is full")
		}
	})
}

// errGiveUp wraps the reason an event will never be handled.
var errGiveUp = errors.New("given up")

// Handle sends what the rules say for one hook, once. A nil error means
// the event is done with (sent, already sent, or nothing to send); an
// error means it must be handled again (Fineract or the gateway was
// unavailable).
func (n *Notifier) Handle(ctx context.Context, h *Hook) error {
	s := n.settings.Load()
	var rules []*rule
	for i := range s.rules {
		if s.rules[i].Event == h.Event() {
			rules = append(rules, &s.rules[i])
		}
	}
	log := n.log.With("event", h.Event(), "key", h.Key())
	if len(rules) == 0 {
		n.opts.Metrics.eventMessage("", "no_rule")
		return nil
	}
	f, err := n.gather(ctx, h, s.texts)
	switch {
	case errors.Is(err, errGiveUp):
		n.opts.Metrics.eventMessage("", "skipped")
		log.Info("event skipped", "why", err.Error())
		return nil
	case errors.Is(err, ErrNotFound) && n.opts.Now().Sub(h.Received) >= n.opts.NotFoundFor:
		n.opts.Metrics.eventMessage("", "not_found")
		log.Warn("event's account or transaction not in Fineract; skipped", "err", errText(err))
		return nil
	case err != nil:
		return err
	}
	var client *ClientData
	for _, r := range rules {
		if !r.matches(f) {
			continue
		}
		for _, to := range r.To {
			rcpts, outcome, err := n.recipients(ctx, s, f, to, &client)
			if err != nil {
				return err
			}
			if outcome != "" {
				n.opts.Metrics.eventMessage(r.Name, outcome)
				log.Warn("no number to send to", "rule", r.Name, "to", to, "why", outcome, "client_id", f.clientID, "officer_id", f.officer)
				continue
			}
			for _, rc := range rcpts {
				data := f.data
				if rc.name != "" {
					data.Name = rc.name
				}
				text, err := s.texts.renderWith(r.tmpl, r.template(to), data)
				if err != nil {
					n.opts.Metrics.eventMessage(r.Name, "template_error")
					log.Error("rule's text failed", "rule", r.Name, "err", err)
					continue
				}
				ref := EventRefPrefix + h.Key() + ":" + r.Name + ":" + rc.key
				count := func(outcome string) { n.opts.Metrics.eventMessage(r.Name, outcome) }
				if err := n.send(ctx, log.With("rule", r.Name, "to", mask.Number(rc.number)), count, rc.number, text, ref); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// recipient is one number a rule sends to; key names it in the
// client_ref, name is the first name the text greets.
type recipient struct {
	key, number, name string
}

// recipients resolves one entry of a rule's To; outcome names why there is
// nobody to send to (no_client, no_mobile, no_officer), for the metrics.
// The client is looked up once per event (*client).
func (n *Notifier) recipients(ctx context.Context, s *eventSettings, f *facts, to string, client **ClientData) ([]recipient, string, error) {
	r := &Responder{region: n.opts.Region}
	switch {
	case to == ToClient:
		if f.clientID == 0 {
			return nil, "no_client", nil // a group's account
		}
		if *client == nil {
			c, err := n.opts.Fineract.Client(ctx, f.clientID)
			if errors.Is(err, ErrNotFound) {
				return nil, "unknown_client", nil
			}
			if err != nil {
				return nil, "", err
			}
			*client = c
		}
		num, err := r.normalize((*client).MobileNo)
		if err != nil {
			return nil, "no_mobile", nil
		}
		name := (*client).Firstname
		if name == "" {
			name = (*client).DisplayName
		}
		return []recipient{{key: "client", number: num, name: name}}, "", nil
	case to == ToLoanOfficer:
		if f.officer == 0 {
			return nil, "no_officer", nil
		}
		st, err := n.opts.Fineract.Staff(ctx, f.officer)
		if errors.Is(err, ErrNotFound) {
			return nil, "no_officer", nil
		}
		if err != nil {
			return nil, "", err
		}
		num, err := r.normalize(st.MobileNo)
		if err != nil {
			return nil, "no_mobile", nil
		}
		return []recipient{{key: "officer", number: num, name: st.Firstname}}, "", nil
	}
	g := strings.TrimPrefix(to, toGroupPrefix)
	var out []recipient
	for _, num := range s.groups[g] {
		sum := sha256.Sum256([]byte(num))
		out = append(out, recipient{key: g + "-" + hex.EncodeToString(sum[:4]), number: num})
	}
	return out, "", nil
}

// send sends one message; a nil error covers every answer that sending
// again would not change (sent, already sent, refused).
func (n *Notifier) send(ctx context.Context, log *slog.Logger, count func(outcome string), to, text, ref string) error {
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	resp, err := n.opts.Gateway.Send(sctx, &pb.SendRequest{
		To: to, Text: text, ClientRef: ref, Priority: 10,
		// A receipt or an alert is not marketing: it reaches a number
		// that sent STOP if the tenant allows transactional texts.
		Category: pb.Category_CATEGORY_TRANSACTIONAL,
	})
	switch status.Code(err) {
	case codes.OK:
	case codes.AlreadyExists:
		// The client_ref was sent with another text: the event was
		// handled before and Fineract's data has changed since.
		count("duplicate")
		log.Info("already sent", "client_ref", ref)
		return nil
	case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied, codes.OutOfRange, codes.NotFound:
		count("send_refused")
		log.Error("the gateway refused the message; skipped", "client_ref", ref, "err", errText(err))
		return nil
	default:
		return fmt.Errorf("send %s: %w", ref, err)
	}
	outcome := "sent"
	if resp.GetDuplicate() {
		outcome = "duplicate"
	}
	count(outcome)
	log.Info("sent", "client_ref", ref, "id", resp.GetId(), "duplicate", resp.GetDuplicate(), "parts", resp.GetParts())
	log.Debug("text sent", "text", text)
	return nil
}

// gather reads from Fineract what the rules compare and the texts say.
func (n *Notifier) gather(ctx context.Context, h *Hook, t *Texts) (*facts, error) {
	f := &facts{event: h.Event(), office: h.OfficeID}
	f.data.Event, f.data.What = h.Event(), t.What(h.Event())
	var tx *Transaction
	switch h.Event() {
	case EventLoanRepayment, EventLoanDisburse:
		l, err := n.opts.Fineract.Loan(ctx, h.loanID())
		if err != nil {
			return nil, err
		}
		f.product, f.officer, f.clientID = l.LoanProductID, l.LoanOfficerID, l.ClientID
		if f.office == 0 {
			f.office = l.ClientOfficeID
		}
		f.data.Product, f.data.AccountNo, f.data.Number = l.LoanProductName, l.AccountNo, last4(l.AccountNo)
		f.data.ClientName, f.data.Officer = l.ClientName, l.LoanOfficerName
		txID := h.Result.ResourceID
		if h.Event() == EventLoanDisburse {
			txID = h.Result.SubResourceID
		}
		if txID == 0 {
			// A disbursal to a savings account names no transaction: the
			// loan's principal is what was disbursed.
			f.amount, f.hasAmount = l.Principal, true
			f.data.Amount = t.Money(l.Principal, l.Currency)
			f.data.Balance = t.Money(l.Summary.TotalOutstanding, l.Currency)
			break
		}
		if tx, err = n.opts.Fineract.LoanTransaction(ctx, l.ID, txID); err != nil {
			return nil, err
		}
		f.data.Balance = t.Money(tx.OutstandingLoanBalance, l.Currency)
		if h.Event() == EventLoanDisburse {
			f.data.Balance = t.Money(l.Summary.TotalOutstanding, l.Currency)
		}
	case EventSavingsDeposit:
		sv, err := n.opts.Fineract.Savings(ctx, h.Result.SavingsID)
		if err != nil {
			return nil, err
		}
		f.product, f.officer, f.clientID = sv.SavingsProductID, sv.FieldOfficerID, sv.ClientID
		f.data.Product, f.data.AccountNo, f.data.Number = sv.SavingsProductName, sv.AccountNo, last4(sv.AccountNo)
		f.data.ClientName = sv.ClientName
		if tx, err = n.opts.Fineract.SavingsTransaction(ctx, sv.ID, h.Result.ResourceID); err != nil {
			return nil, err
		}
		f.data.Balance = t.Money(tx.RunningBalance, sv.Currency)
	case EventClientCreate:
		c, err := n.opts.Fineract.Client(ctx, h.clientID())
		if err != nil {
			return nil, err
		}
		f.clientID, f.officer = c.ID, c.StaffID
		if f.office == 0 {
			f.office = c.OfficeID
		}
		f.data.ClientName, f.data.AccountNo = c.DisplayName, c.AccountNo
	default:
		return nil, fmt.Errorf("%w: no rule reads %s", errGiveUp, h.Event())
	}
	if tx != nil {
		if tx.ManuallyReversed || tx.Reversed {
			return nil, fmt.Errorf("%w: transaction %d is reversed", errGiveUp, tx.ID)
		}
		f.amount, f.hasAmount = tx.Amount, true
		f.data.Amount, f.data.Date, f.data.Transaction = t.Money(tx.Amount, tx.Currency), t.Date(tx.Date), tx.ID
	}
	f.data.Name, _, _ = strings.Cut(f.data.ClientName, " ")
	return f, nil
}
