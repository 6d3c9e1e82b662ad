package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/grpcapi"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/internal/mask"
	"github.com/openmf/smsgw/routing"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// readTimeout bounds every store read a page makes.
const readTimeout = 10 * time.Second

// tenants are the tenants the user may see: theirs, or all.
func (c *Console) tenants(ss *session) []gateway.Tenant {
	all := c.opts.Gateway.Tenants()
	if ss.user.Tenant == "" {
		return all
	}
	for _, t := range all {
		if t.ID == ss.user.Tenant {
			return []gateway.Tenant{t}
		}
	}
	return nil
}

// tenant returns the tenant of that id if the user may see it.
func (c *Console) tenant(ss *session, id string) (gateway.Tenant, bool) {
	for _, t := range c.tenants(ss) {
		if t.ID == id {
			return t, true
		}
	}
	return gateway.Tenant{}, false
}

// num shows a phone number as the user may see it: whole to operators,
// masked to viewers.
func num(ss *session, n string) string {
	if ss.user.Role == Operator {
		return n
	}
	return mask.Number(n)
}

// free shows free text that may hold numbers (errors, explanations).
func free(ss *session, s string) string {
	if ss.user.Role == Operator {
		return s
	}
	return mask.Text(s)
}

// body shows a message's text to operators only.
func body(ss *session, s string) string {
	if ss.user.Role == Operator {
		return s
	}
	return fmt.Sprintf("(%d characters, shown to operators only)", len([]rune(s)))
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, ss *session) {
	s := c.sample(nil)
	c.render(w, r, ss, "overview", "Overview", s)
}

// carrierRow is one carrier on the carriers page.
type carrierRow struct {
	grpcapi.CarrierState
	Paused    bool
	DownSince time.Time               // zero while up
	History   []routing.BreakerChange // the breaker's last transitions, newest first
	// BindStates are the carrier's binds; none for an HTTP carrier. Their
	// reasons are smsgw's own words and SMPP statuses, never a
	// subscriber's number, so viewers read them whole.
	BindStates []gateway.BindState
}

// carriersPage is the carriers page: the carriers smsgw sends through and
// the SMPP accounts that send through smsgw.
type carriersPage struct {
	Carriers []carrierRow
	// Accounts are the SMPP server's accounts the user may see: those of
	// their tenant, or all.
	Accounts []smppserver.AccountState
}

func (c *Console) carriers(w http.ResponseWriter, r *http.Request, ss *session) {
	var d carriersPage
	for _, cs := range c.opts.Gateway.Carriers() {
		binds, _ := c.opts.Engine.CarrierBinds(cs.Name) // none: an HTTP carrier
		d.Carriers = append(d.Carriers, carrierRow{cs, c.opts.Engine.CarrierPaused(cs.Name), c.opts.Engine.CarrierDownSince(cs.Name),
			c.opts.Gateway.BreakerHistory(cs.Name), binds})
	}
	for _, a := range c.opts.Gateway.SMPPAccounts() {
		if ss.user.Tenant == "" || a.Tenant == ss.user.Tenant {
			d.Accounts = append(d.Accounts, a)
		}
	}
	c.render(w, r, ss, "carriers", "Carriers", d)
}

// carrierAction pauses, resumes or rebinds a carrier, or resets its
// breaker.
func (c *Console) carrierAction(w http.ResponseWriter, r *http.Request, ss *session) {
	name, action := r.PostFormValue("carrier"), r.PostFormValue("action")
	known := slices.ContainsFunc(c.opts.Gateway.Carriers(), func(cs grpcapi.CarrierState) bool { return cs.Name == name })
	var err error
	switch {
	case !known:
		err = fmt.Errorf("no carrier %q", clip(name))
	case action == "pause" || action == "resume":
		err = c.opts.Engine.PauseCarrier(name, action == "pause")
	case action == "reset-breaker":
		c.opts.Gateway.ResetBreaker(name)
	case action == "rebind":
		// Returns once the binds are closed (in-flight answered, or
		// response_timeout); binding again goes on in the background.
		err = c.opts.Engine.RebindCarrier(r.Context(), name, ss.user.Username)
	default:
		err = fmt.Errorf("unknown action %q", clip(action))
	}
	c.act(w, r, ss, "/console/carriers", action+"-carrier", clip(name), err)
}

// act records an operator action in the audit log and sends the browser
// back with what happened.
func (c *Console) act(w http.ResponseWriter, r *http.Request, ss *session, back, action, target string, err error) {
	outcome, flash := "done", fmt.Sprintf("%s %s: done.", action, target)
	if err != nil {
		outcome = "failed: " + mask.Text(err.Error())
		flash = fmt.Sprintf("%s %s failed: %s", action, target, free(ss, err.Error()))
	}
	c.audit.record(r.Context(), ss.user, guard.Source(r.RemoteAddr), action, target, outcome)
	c.finish(w, r, ss, back, flash)
}

// routesData is the routes page: the table, filtered, and an explanation.
type routesData struct {
	Filter            url.Values
	Routes            []routing.Route
	Tenants           []gateway.Tenant
	Explained         bool
	Explanation       string
	Candidates        []gateway.Candidate
	Breakers          map[string]string
	ExplainErr        string
	To, From, Tenant  string
	Prefix, CarrierIn string
}

func (c *Console) routes(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	d := routesData{Tenants: c.tenants(ss), To: q.Get("to"), From: q.Get("from"), Tenant: q.Get("tenant"),
		Prefix: q.Get("prefix"), CarrierIn: q.Get("carrier")}
	for _, rt := range c.opts.Gateway.Routes() {
		if d.Prefix != "" && !strings.HasPrefix(rt.Prefix, d.Prefix) && !strings.HasPrefix(d.Prefix, rt.Prefix) {
			continue
		}
		if d.CarrierIn != "" && rt.Carrier != d.CarrierIn {
			continue
		}
		if ss.user.Tenant != "" && len(rt.Tenants) > 0 && !slices.Contains(rt.Tenants, ss.user.Tenant) {
			continue
		}
		d.Routes = append(d.Routes, rt)
	}
	if d.To != "" {
		d.Explained = true
		tenant := d.Tenant
		if ss.user.Tenant != "" {
			tenant = ss.user.Tenant
		}
		if tenant == "" && len(d.Tenants) > 0 {
			tenant = d.Tenants[0].ID
		}
		ex, err := c.opts.Gateway.ExplainRoute(tenant, d.To, d.From)
		if err != nil {
			d.ExplainErr = free(ss, err.Error())
		} else {
			d.Explanation, d.Candidates, d.Breakers = free(ss, ex.Text), ex.Candidates, ex.Breakers
		}
		d.To = num(ss, d.To)
	}
	c.render(w, r, ss, "routes", "Routes", d)
}

// reload rereads the config file: the routes page shows what changed, or
// why the file was refused.
func (c *Console) reload(w http.ResponseWriter, r *http.Request, ss *session) {
	changed, err := c.opts.Gateway.Reload()
	outcome, flash := "done", "Config reloaded: nothing changed."
	if len(changed) > 0 {
		outcome = "changed " + strings.Join(changed, ", ")
		flash = "Config reloaded; changed: " + strings.Join(changed, ", ") + "."
	}
	if err != nil {
		outcome, flash = "refused: "+mask.Text(err.Error()), "Reload refused, nothing changed:\n"+err.Error()
	}
	c.audit.record(r.Context(), ss.user, guard.Source(r.RemoteAddr), "reload-config", "", outcome)
	c.finish(w, r, ss, "/console/routes", flash)
}

// messageRow is one message in a search result.
type messageRow struct {
	ID, Tenant, ClientRef, To, From, Status, Carrier, LastError string
	Cost                                                        float64
	Currency                                                    string
	Created                                                     time.Time
}

// messagesData is the search form and its result.
type messagesData struct {
	Tenants                              []gateway.Tenant
	Tenant, To, ClientRef, Status, Since string
	Statuses                             []gateway.Status
	Rows                                 []messageRow
	Searched                             bool
	Err                                  string
}

// sinceChoices are the search's time windows.
var sinceChoices = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

var allStatuses = []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusDelivered,
	gateway.StatusUndelivered, gateway.StatusExpired, gateway.StatusRejected, gateway.StatusFailed,
	gateway.StatusCanceled, gateway.StatusOptedOut}

// messages searches by tenant, number, client_ref, status and time. A
// search without a tenant looks in every tenant the user may see.
func (c *Console) messages(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	d := messagesData{Tenants: c.tenants(ss), Tenant: q.Get("tenant"), To: strings.TrimSpace(q.Get("to")),
		ClientRef: strings.TrimSpace(q.Get("client_ref")), Status: q.Get("status"), Since: q.Get("since"), Statuses: allStatuses}
	if d.Since == "" {
		d.Since = "24h"
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	var found []*gateway.Message
	var errs []string
	for _, t := range d.Tenants {
		if d.Tenant != "" && t.ID != d.Tenant {
			continue
		}
		if d.ClientRef != "" {
			m, err := c.opts.Engine.GetByClientRef(ctx, t.ID, d.ClientRef)
			if err == nil && (d.To == "" || sameNumber(m.To, d.To, t.DefaultRegion)) && (d.Status == "" || string(m.Status) == d.Status) {
				found = append(found, m)
			} else if err != nil && !errors.Is(err, gateway.ErrNotFound) {
				errs = append(errs, t.ID+": "+err.Error())
			}
			continue
		}
		f := gateway.ListFilter{Status: gateway.Status(d.Status), To: d.To, Limit: 100}
		if win, ok := sinceChoices[d.Since]; ok {
			f.Since = c.opts.Now().Add(-win)
		}
		ms, err := c.opts.Engine.List(ctx, t.ID, f)
		if err != nil {
			errs = append(errs, t.ID+": "+err.Error())
			continue
		}
		found = append(found, ms...)
	}
	slices.SortFunc(found, func(a, b *gateway.Message) int { return b.CreatedAt.Compare(a.CreatedAt) })
	for _, m := range found[:min(len(found), 100)] {
		d.Rows = append(d.Rows, messageRow{ID: m.ID, Tenant: m.Tenant, ClientRef: m.ClientRef, To: num(ss, m.To), From: m.From,
			Status: string(m.Status), Carrier: m.Carrier, LastError: free(ss, m.LastError), Cost: m.Cost, Currency: m.Currency, Created: m.CreatedAt})
	}
	d.Searched = len(q) > 0
	d.Err = free(ss, strings.Join(errs, "; "))
	if d.To != "" {
		d.To = num(ss, d.To)
	}
	c.render(w, r, ss, "messages", "Messages", d)
}

// sameNumber compares a stored E.164 number with what a user typed.
func sameNumber(stored, typed, region string) bool {
	n, err := gateway.NormalizeNumber(typed, region)
	return err == nil && n == stored
}

// step is one line of a message's timeline.
type step struct {
	At     time.Time
	What   string
	Detail string
	Bad    bool
}

// messageData is one message with its timeline.
type messageData struct {
	M          *gateway.Message
	To, Text   string
	LastError  string
	Timeline   []step
	Cancelable bool
	// Resendable: the message ended unsent or undelivered; ResendToken
	// makes the copy's client_ref, so a form sent twice resends once.
	Resendable  bool
	ResendToken string
}

// resendable says whether an operator may send a copy of m: it ended
// without reaching the handset, and it is text (a binary message's
// short_message is not kept).
func resendable(m *gateway.Message) bool {
	switch m.Status {
	case gateway.StatusFailed, gateway.StatusRejected, gateway.StatusExpired, gateway.StatusUndelivered, gateway.StatusCanceled:
		return m.Encoding != gateway.EncodingBinary
	}
	return false
}

func (c *Console) message(w http.ResponseWriter, r *http.Request, ss *session) {
	tenant, id := r.URL.Query().Get("tenant"), r.URL.Query().Get("id")
	if _, ok := c.tenant(ss, tenant); !ok {
		c.refuse(w, r, ss, http.StatusNotFound, "No such message.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	m, err := c.opts.Engine.Get(ctx, tenant, id)
	if err != nil {
		code, msg := http.StatusInternalServerError, "The store could not be read: "+err.Error()
		if errors.Is(err, gateway.ErrNotFound) {
			code, msg = http.StatusNotFound, "No such message."
		}
		c.refuse(w, r, ss, code, msg)
		return
	}
	d := messageData{M: m, To: num(ss, m.To), Text: body(ss, m.Text), LastError: free(ss, m.LastError),
		Cancelable: !m.Status.Final() && !slices.ContainsFunc(m.Parts, func(p gateway.Part) bool { return p.CarrierID != "" }),
		Resendable: resendable(m), ResendToken: randomToken()[:16]}
	d.Timeline = append(d.Timeline, step{At: m.CreatedAt, What: "accepted", Detail: fmt.Sprintf("%d part(s), %s, priority %d", len(m.Parts), m.Encoding, m.Priority)})
	if m.NotBefore.After(m.CreatedAt) {
		d.Timeline = append(d.Timeline, step{At: m.NotBefore, What: "scheduled for"})
	}
	for _, a := range m.Attempts {
		d.Timeline = append(d.Timeline, step{At: a.At, What: "attempt on " + a.Carrier + ": " + a.Outcome, Detail: free(ss, a.Detail), Bad: a.Outcome != "submitted"})
	}
	for _, p := range m.Parts {
		// A part says something of its own once a carrier took it, or when
		// it failed otherwise than the message did.
		if p.CarrierID == "" && (p.Error == "" || p.Error == m.LastError) {
			continue
		}
		var detail []string
		if p.CarrierID != "" {
			detail = append(detail, "carrier id "+p.CarrierID)
		}
		if p.Cost > 0 {
			detail = append(detail, fmt.Sprintf("cost %.4g", p.Cost))
		}
		if p.Error != "" {
			detail = append(detail, free(ss, p.Error))
		}
		what := fmt.Sprintf("part %d %s", p.Index+1, p.Status)
		if p.Carrier != "" {
			what += " on " + p.Carrier
		}
		d.Timeline = append(d.Timeline, step{At: p.UpdatedAt, What: what, Detail: strings.Join(detail, ", "),
			Bad: p.Status.Final() && p.Status != gateway.StatusDelivered})
	}
	if m.Status.Final() {
		d.Timeline = append(d.Timeline, step{At: m.UpdatedAt, What: "ended " + string(m.Status), Detail: d.LastError, Bad: m.Status != gateway.StatusDelivered})
	}
	slices.SortStableFunc(d.Timeline, func(a, b step) int { return a.At.Compare(b.At) })
	c.render(w, r, ss, "message", "Message "+m.ID, d)
}

// messageAction cancels a message no carrier has taken yet, or resends a
// copy of one that ended unsent or undelivered (same tenant, number,
// sender, text, priority and category; a new id and client_ref).
func (c *Console) messageAction(w http.ResponseWriter, r *http.Request, ss *session) {
	tenant, id, action := r.PostFormValue("tenant"), r.PostFormValue("id"), r.PostFormValue("action")
	back := "/console/message?" + url.Values{"tenant": {tenant}, "id": {id}}.Encode()
	target := clip(id)
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	var err error
	switch _, ok := c.tenant(ss, tenant); {
	case !ok:
		err = gateway.ErrNotFound
	case action == "cancel":
		_, err = c.opts.Engine.Cancel(ctx, tenant, id)
	case action == "resend":
		var copyID string
		copyID, err = c.resend(ctx, tenant, id, r.PostFormValue("token"))
		if err == nil {
			back = "/console/message?" + url.Values{"tenant": {tenant}, "id": {copyID}}.Encode()
			target += " as " + copyID
		}
	default:
		err = fmt.Errorf("unknown action %q", clip(action))
	}
	c.act(w, r, ss, back, action+"-message", target, err)
}

// resend accepts a copy of a message; token (the page's) keeps a form
// sent twice from sending twice.
func (c *Console) resend(ctx context.Context, tenant, id, token string) (string, error) {
	m, err := c.opts.Engine.Get(ctx, tenant, id)
	if err != nil {
		return "", err
	}
	if !resendable(m) || token == "" {
		return "", fmt.Errorf("message %s is %s: only a text message that ended unsent or undelivered is resent", id, m.Status)
	}
	out, err := c.opts.Engine.Accept(ctx, tenant, []gateway.SendRequest{{To: m.To, From: m.From, Text: m.Text,
		Priority: m.Priority, Category: m.Category, ClientRef: "console-resend:" + m.ID + ":" + clip(token)}})
	if err != nil {
		return "", err
	}
	if out[0].Err != nil {
		return "", out[0].Err
	}
	return out[0].ID, nil
}

// inboundRow is one mobile-originated message.
type inboundRow struct {
	Received                               time.Time
	Tenant, Carrier, From, To, Keyword, ID string
	Text                                   string
}

// failingKeep is how many failing outbox tasks the inbound page lists.
const failingKeep = 100

// inboundScan is how far back in the event log the inbound page looks.
const inboundScan = 5000

func (c *Console) inbound(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	var rows []inboundRow
	last, err := c.opts.Store.LastSeq(ctx)
	var evs []gateway.Event
	if err == nil {
		evs, err = c.opts.Store.Events(ctx, ss.user.Tenant, max(1, last-inboundScan+1), inboundScan)
	}
	for i := len(evs) - 1; i >= 0 && len(rows) < 200; i-- {
		in := evs[i].Inbound
		if evs[i].Kind != gateway.EventInbound || in == nil {
			continue
		}
		rows = append(rows, inboundRow{Received: in.ReceivedAt, Tenant: in.Tenant, Carrier: in.Carrier, From: num(ss, in.From),
			To: in.To, Keyword: in.Keyword, ID: in.ID, Text: body(ss, in.Text)})
	}
	d := map[string]any{"Rows": rows, "Err": "", "Keywords": c.countsBy("smsgw_gateway_inbound_total", ss, "keyword"),
		"Tasks": c.countsBy("smsgw_gateway_tasks_total", nil, "kind", "result"), "FailingErr": ""}
	if err != nil {
		d["Err"] = err.Error()
	}
	failing, ferr := c.opts.Store.ListFailingTasks(ctx, ss.user.Tenant, failingKeep)
	if ferr != nil {
		d["FailingErr"] = "The failing tasks could not be read: " + ferr.Error()
	}
	for i := range failing { // errors may name a number or a URL with a token
		failing[i].Key, failing[i].LastError = free(ss, failing[i].Key), free(ss, failing[i].LastError)
	}
	d["Failing"] = failing
	c.render(w, r, ss, "inbound", "Inbound", d)
}

// labelCount is a counter's value for one combination of labels.
type labelCount struct {
	Labels []string
	Count  float64
}

// countsBy sums a counter of the gateway's registry by the given labels,
// largest first; with ss, only over the series of the user's tenant (a
// counter with a tenant label).
func (c *Console) countsBy(metric string, ss *session, by ...string) []labelCount {
	sums := map[string]*labelCount{}
	mfs, err := c.opts.Gatherer.Gather()
	if err != nil {
		return nil
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := labels(m)
			if ss != nil && ss.user.Tenant != "" && l["tenant"] != ss.user.Tenant {
				continue
			}
			key := make([]string, len(by))
			for i, b := range by {
				key[i] = l[b]
			}
			k := strings.Join(key, "\x00")
			if sums[k] == nil {
				sums[k] = &labelCount{Labels: key}
			}
			sums[k].Count += m.GetCounter().GetValue()
		}
	}
	var out []labelCount
	for _, v := range sums {
		if v.Count > 0 {
			out = append(out, *v)
		}
	}
	slices.SortFunc(out, func(a, b labelCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), slices.Compare(a.Labels, b.Labels))
	})
	return out
}

// optoutsData is the opt-out page: a number checked, and the list.
type optoutsData struct {
	Tenants        []gateway.Tenant
	Tenant, Number string
	Checked        bool
	OptedOut       bool
	Err            string
	List           []gateway.OptOutEntry // the tenant's, latest first, numbers as the user may see them
}

// optoutsListed is how many numbers the opt-out page lists.
const optoutsListed = 200

func (c *Console) optouts(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	d := optoutsData{Tenants: c.tenants(ss), Tenant: q.Get("tenant"), Number: strings.TrimSpace(q.Get("number"))}
	if d.Tenant == "" && len(d.Tenants) > 0 {
		d.Tenant = d.Tenants[0].ID
	}
	if t, ok := c.tenant(ss, d.Tenant); ok {
		ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
		list, err := c.opts.Store.ListOptOuts(ctx, t.ID, optoutsListed)
		cancel()
		if err != nil {
			d.Err = "The opt-out list could not be read: " + err.Error()
		}
		for _, e := range list {
			e.Number = num(ss, e.Number)
			d.List = append(d.List, e)
		}
	}
	if d.Number != "" {
		t, ok := c.tenant(ss, d.Tenant)
		n, err := gateway.NormalizeNumber(d.Number, t.DefaultRegion)
		switch {
		case !ok:
			d.Err = "Choose a tenant."
		case err != nil:
			d.Err = "The number is not valid: " + err.Error()
		default:
			ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
			defer cancel()
			out, err := c.opts.Store.OptedOut(ctx, t.ID, []string{n})
			if err != nil {
				d.Err = err.Error()
			} else {
				d.Checked, d.OptedOut = true, out[n]
			}
		}
		d.Number = num(ss, d.Number)
	}
	c.render(w, r, ss, "optouts", "Opt-outs", d)
}

// optoutAction opts a number out of a tenant's messages or back in. The
// store keeps "console:<user>" as the keyword, so the list itself says
// who changed it.
func (c *Console) optoutAction(w http.ResponseWriter, r *http.Request, ss *session) {
	tenant, number, action := r.PostFormValue("tenant"), strings.TrimSpace(r.PostFormValue("number")), r.PostFormValue("action")
	t, ok := c.tenant(ss, tenant)
	n, err := gateway.NormalizeNumber(number, t.DefaultRegion)
	target := mask.Number(number)
	switch {
	case !ok:
		err = fmt.Errorf("no tenant %q", clip(tenant))
	case err != nil:
		err = fmt.Errorf("the number is not valid: %w", err)
	case action != "opt-out" && action != "opt-in":
		err = fmt.Errorf("unknown action %q", clip(action))
	default:
		target = mask.Number(n)
		ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
		defer cancel()
		err = c.opts.Store.SetOptOut(ctx, t.ID, n, action == "opt-out", "console:"+ss.user.Username)
	}
	back := "/console/optouts?" + url.Values{"tenant": {tenant}, "number": {number}}.Encode()
	c.act(w, r, ss, back, action, t.ID+" "+target, err)
}

// taskAction retries a failing outbox task now or drops it: a tenant's
// operator only its tenant's tasks (the store refuses another's as not
// found).
func (c *Console) taskAction(w http.ResponseWriter, r *http.Request, ss *session) {
	raw, action := r.PostFormValue("task"), r.PostFormValue("action")
	id, err := strconv.ParseInt(raw, 10, 64)
	target := "task " + clip(raw)
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	switch {
	case err != nil || id <= 0:
		err = fmt.Errorf("the task %q is not a task number", clip(raw))
	case action == "retry-task":
		err = c.opts.Engine.RetryTaskNow(ctx, ss.user.Tenant, id)
	case action == "drop-task":
		err = c.opts.Engine.DropTask(ctx, ss.user.Tenant, id, "console user "+ss.user.Username)
	default:
		err = fmt.Errorf("unknown action %q", clip(action))
	}
	c.act(w, r, ss, "/console/inbound#failing-tasks", action, target, err)
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, ss *session) {
	entries, err := c.audit.list(r.Context(), ss.user.Tenant)
	d := map[string]any{"Entries": entries, "Err": ""}
	if err != nil {
		d["Err"] = "The audit trail could not be read: " + err.Error()
	}
	c.render(w, r, ss, "audit", "Audit", d)
}

// byCount orders failure reasons, most first.
func byCount(a, b reason) int {
	return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Reason, b.Reason))
}
