package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/openmf/smsgw/gateway/keyword"
)

// OptOut is a tenant's STOP/START/HELP handling. The words are matched as
// the first word of an inbound message, case-insensitively, before any
// keyword rule: a client can always stop messages, whatever services exist.
type OptOut struct {
	StopWords  []string // default STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT
	StartWords []string // default START, UNSTOP, SUBSCRIBE
	HelpWords  []string // default HELP, INFO
	StopReply  string   // sent after opting out; "" for none
	StartReply string
	HelpReply  string
	// AllowTransactional lets transactional messages (receipts, payment
	// confirmations) reach numbers that opted out; marketing never does.
	AllowTransactional bool
}

// The built-in keyword names recorded on inbound messages.
const (
	KeywordStop  = "STOP"
	KeywordStart = "START"
	KeywordHelp  = "HELP"
)

// Task kinds the engine runs itself.
const (
	TaskReply  = "mo.reply"  // send a fixed reply to an inbound message
	TaskOptOut = "mo.optout" // record STOP/START, then reply
)

// DefaultOptOut is the policy of a tenant that configured none: the usual
// words, short confirmations, and no transactional exception.
func DefaultOptOut() OptOut {
	return OptOut{
		StopReply:  "You will receive no more messages from us. Reply START to subscribe again.",
		StartReply: "You are subscribed again. Reply STOP to stop messages.",
		HelpReply:  "Reply STOP to stop messages, START to receive them again.",
	}
}

func (o *OptOut) setDefaults() {
	if len(o.StopWords) == 0 {
		o.StopWords = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
	}
	if len(o.StartWords) == 0 {
		o.StartWords = []string{"START", "UNSTOP", "SUBSCRIBE"}
	}
	if len(o.HelpWords) == 0 {
		o.HelpWords = []string{"HELP", "INFO"}
	}
}

// builtin returns the opt-out keyword a first word is, if any.
func (o *OptOut) builtin(word string) string {
	is := func(words []string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.EqualFold(w, word) })
	}
	switch {
	case is(o.StopWords):
		return KeywordStop
	case is(o.StartWords):
		return KeywordStart
	case is(o.HelpWords):
		return KeywordHelp
	}
	return ""
}

// inboundRouter handles mobile-originated messages: it resolves each one's
// tenant (by the number the client wrote to), matches the tenant's opt-out
// words (STOP, START, HELP) and then the keyword rules, and stores the
// message with the tasks that follow from it (a reply, an opt-out, a
// webhook, a service's URL) in one commit, before the carrier's
// acknowledgment. It also carries out its own task kinds: TaskReply sends a
// reply through the acceptor, TaskOptOut records the change on the opt-out
// list first. It uses the Inbox role of the store to record messages and
// the OptOuts role to change the list; it has no goroutine (connectors call
// it, the outbox runs its tasks).
type inboundRouter struct {
	inbox    Inbox
	optOuts  OptOuts
	tenants  *tenants
	keywords atomic.Pointer[keyword.Table]
	// accept stores a reply (the acceptor's Accept).
	accept func(ctx context.Context, tenant string, reqs []SendRequest) ([]AcceptOutcome, error)
	// allowReply takes an automatic reply from the auto-reply budget.
	allowReply func(tenant, number string) bool
	wakeTasks  func() // the outbox: tasks were stored
	feed       *eventFeed
	metrics    *metrics
	log        *slog.Logger
	now        func() time.Time
}

// taskHandlers are the task kinds the inbound router carries out itself.
func (r *inboundRouter) taskHandlers() map[string]TaskHandler {
	return map[string]TaskHandler{TaskReply: r.runReply, TaskOptOut: r.runOptOut}
}

// tenantFor picks the tenant an inbound message belongs to: the one that
// sends from the number the client wrote to, else the first configured.
func (r *inboundRouter) tenantFor(to string) string {
	order := r.tenants.load().order // as configured: the first is the fallback
	for _, t := range order {
		if keyword.SameNumber(t.Sender, to) || slices.ContainsFunc(t.Senders, func(s string) bool { return keyword.SameNumber(s, to) }) {
			return t.ID
		}
	}
	if len(order) > 0 {
		return order[0].ID
	}
	return ""
}

// replyTask is the payload of TaskReply and TaskOptOut.
type replyTask struct {
	Inbound string `json:"inbound"`
	Number  string `json:"number,omitempty"`  // who sent the inbound message (TaskOptOut: whose opt-out changes)
	Keyword string `json:"keyword,omitempty"` // TaskOptOut: STOP or START
	Text    string `json:"text,omitempty"`    // the reply; "" sends none
}

// route decides what an inbound message is and what must happen, before it
// is stored: its tenant, the keyword it matched and the tasks (with keys
// derived from its id, so the actions run once however often the carrier
// resends it).
func (r *inboundRouter) route(m *Inbound) error {
	if m.Tenant == "" {
		m.Tenant = r.tenantFor(m.To)
	}
	if m.ID == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return err
		}
		m.ID = u.String()
	}
	m.Keyword, m.Tasks = "", nil
	word, _ := keyword.Split(m.Text)
	task := func(kind, suffix string, payload any) {
		b, err := json.Marshal(payload)
		if err != nil { // plain structs always marshal
			panic(err)
		}
		m.Tasks = append(m.Tasks, Task{Key: "mo:" + m.ID + ":" + suffix, Kind: kind, Tenant: m.Tenant, Payload: b})
	}
	if t := r.tenants.load().byID[m.Tenant]; t != nil {
		switch kw := t.OptOut.builtin(word); kw {
		case KeywordStop:
			m.Keyword = kw
			task(TaskOptOut, "optout", replyTask{Inbound: m.ID, Number: m.From, Keyword: kw, Text: t.OptOut.StopReply})
			return nil
		case KeywordStart:
			m.Keyword = kw
			task(TaskOptOut, "optout", replyTask{Inbound: m.ID, Number: m.From, Keyword: kw, Text: t.OptOut.StartReply})
			return nil
		case KeywordHelp:
			m.Keyword = kw
			if t.OptOut.HelpReply != "" {
				task(TaskReply, "reply", replyTask{Inbound: m.ID, Number: m.From, Text: t.OptOut.HelpReply})
			}
			return nil
		}
	}
	match, ok := r.keywords.Load().Match(m.Tenant, m.To, m.Text)
	if !ok {
		return nil
	}
	rule := match.Rule
	m.Keyword = rule.Name
	if rule.Reply != "" {
		task(TaskReply, "reply", replyTask{Inbound: m.ID, Number: m.From, Text: rule.Reply})
	}
	if rule.Webhook != nil {
		task(TaskWebhook, "webhook", ruleTask{Rule: rule.Name, Inbound: m.ID})
	}
	if rule.Service != "" {
		task(rule.Service, "service", ruleTask{Rule: rule.Name, Inbound: m.ID})
	}
	return nil
}

// TaskWebhook is the kind of the task that posts an inbound message to its
// rule's webhook; the application registers its handler.
const TaskWebhook = "mo.webhook"

// ruleTask is the payload of the tasks a keyword rule's webhook or service
// runs: the rule (looked up again when the task runs, for its current URL
// and secret; secrets are not stored) and the message.
type ruleTask struct {
	Rule    string `json:"rule"`
	Inbound string `json:"inbound"`
}

// ResolveRuleTask finds what a task a keyword rule enqueued (TaskWebhook or
// a service's kind) works on: the rule as configured now (a reload's new URL
// or secret applies to retries) and the inbound message, through the given
// lookups (the engine's Keywords and GetInbound). A rule removed since, a
// message gone (pruned) or a malformed payload gives the task up.
func ResolveRuleTask(ctx context.Context, t Task, rules *keyword.Table,
	inbound func(ctx context.Context, tenant, id string) (*Inbound, error)) (*keyword.Rule, *Inbound, error) {
	var p ruleTask
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return nil, nil, GiveUp(fmt.Errorf("task %s: payload: %w", t.Key, err))
	}
	rule := rules.Rule(p.Rule)
	if rule == nil {
		return nil, nil, GiveUp(fmt.Errorf("keyword rule %q is gone", p.Rule))
	}
	in, err := inbound(ctx, t.Tenant, p.Inbound)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, GiveUp(err) // pruned or another tenant's: no retry brings it back
	}
	if err != nil {
		return nil, nil, err
	}
	return rule, in, nil
}

// handle is Engine.HandleInbound: each message is routed (tenant, keyword,
// tasks) and stored with its tasks in one commit before the carrier gets
// its acknowledgment.
func (r *inboundRouter) handle(ctx context.Context, in []*Inbound) error {
	for _, m := range in {
		if m.ReceivedAt.IsZero() {
			m.ReceivedAt = r.now()
		}
		if err := r.route(m); err != nil {
			return fmt.Errorf("gateway: route inbound: %w", err)
		}
	}
	added, err := r.inbox.RecordInbound(ctx, in)
	if err != nil {
		return fmt.Errorf("gateway: record inbound: %w", err)
	}
	if added > 0 {
		for _, m := range in {
			r.metrics.inbound.WithLabelValues(m.Tenant, keywordLabel(m.Keyword)).Inc()
		}
		r.wakeTasks()
	}
	r.feed.notify()
	return nil
}

// keywordLabel bounds the metric's label values to configured rule names.
func keywordLabel(k string) string {
	if k == "" {
		return "none"
	}
	return k
}

// runReply sends a reply task's text, with the task's key as client_ref so
// a task run twice sends once.
func (r *inboundRouter) runReply(ctx context.Context, t Task) error {
	var p replyTask
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return GiveUp(fmt.Errorf("payload: %w", err))
	}
	return r.sendReply(ctx, t, p)
}

// sendReply sends a reply task's text within the auto-reply budget of the
// number it answers: over it, the reply is skipped (the task is done).
func (r *inboundRouter) sendReply(ctx context.Context, t Task, p replyTask) error {
	if p.Text == "" {
		return nil
	}
	if p.Number == "" { // a task stored before replies carried the number
		in, err := r.inbox.GetInbound(ctx, t.Tenant, p.Inbound)
		if errors.Is(err, ErrNotFound) {
			return GiveUp(err)
		}
		if err != nil {
			return err
		}
		p.Number = in.From
	}
	if !r.allowReply(t.Tenant, p.Number) {
		return nil
	}
	out, err := r.accept(ctx, t.Tenant, []SendRequest{{ReplyTo: p.Inbound, Text: p.Text, ClientRef: t.Key,
		Category: CategoryTransactional}})
	if err != nil {
		return err
	}
	if out[0].Err != nil {
		return GiveUp(out[0].Err)
	}
	return nil
}

// runOptOut records a STOP or START, then confirms it.
func (r *inboundRouter) runOptOut(ctx context.Context, t Task) error {
	var p replyTask
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return GiveUp(fmt.Errorf("payload: %w", err))
	}
	out := p.Keyword == KeywordStop
	if err := r.optOuts.SetOptOut(ctx, t.Tenant, p.Number, out, p.Keyword); err != nil {
		return err
	}
	if out {
		r.metrics.optOuts.WithLabelValues(t.Tenant, "out").Inc()
	} else {
		r.metrics.optOuts.WithLabelValues(t.Tenant, "in").Inc()
	}
	r.log.Info("opt-out recorded", "tenant", t.Tenant, "number", MaskNumber(p.Number), "keyword", p.Keyword)
	return r.sendReply(ctx, t, p)
}
