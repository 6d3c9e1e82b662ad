package messagegateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/guard"
)

// Engine is what the API needs of the gateway: store pages of messages
// without refusing them for the tenant's rate, find a message again by its
// idempotency key, and remember since when an id has been asked for in
// vain. *gateway.Engine satisfies it; tests may fake it.
type Engine interface {
	AcceptPaced(ctx context.Context, tenant string, reqs []gateway.SendRequest) ([]gateway.AcceptOutcome, error)
	GetByClientRef(ctx context.Context, tenant, clientRef string) (*gateway.Message, error)
	NoteMissing(ctx context.Context, tenant string, notes map[string]string) (map[string]gateway.Missing, error)
}

var _ Engine = (*gateway.Engine)(nil)

// The headers Fineract sends with every call.
const (
	HeaderTenantID = "Fineract-Platform-TenantId"
	HeaderAppKey   = "Fineract-Tenant-App-Key"
)

// ClientRefPrefix starts the client reference of every message Fineract
// posts ("fineract:123"): the idempotency key that makes Fineract's resends
// harmless and lets the report find a message by Fineract's id alone.
const ClientRefPrefix = "fineract:"

// Fineract's SMS status codes (SmsMessageStatusType).
const (
	StatusPending          = 100
	StatusWaitingForReport = 150
	StatusSent             = 200
	StatusDelivered        = 300
	StatusFailed           = 400
)

// Options tune the API; the zero value serves the routes at the root.
type Options struct {
	// Prefix is Fineract's end_point setting, e.g. "fineract": the routes
	// are then served under it too, in every form Fineract's URL builder
	// writes it (see Routes).
	Prefix string
	// Logger receives one line per call at info level (masked numbers, no
	// bodies) and refusal details at debug level; default discards.
	Logger *slog.Logger
	// Registerer takes the smsgw_message_gateway_* metrics; nil registers none.
	Registerer prometheus.Registerer
	// MaxBodyBytes is the hard cap of a POST /sms body; default
	// DefaultMaxBodyBytes. A page is read and stored as it streams in, so
	// memory does not grow with it: the cap bounds how long one call may
	// run, not what it costs.
	MaxBodyBytes int64
	// MaxReportIDs caps the ids of one POST /sms/report; default
	// DefaultMaxReportIDs. Fineract asks for 200 at a time.
	MaxReportIDs int
	// ReportHorizon is how long the report waits for a fact that may still
	// come before it answers without it; default DefaultReportHorizon.
	// See doc.go, "What POST /sms/report answers".
	ReportHorizon time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Auth backs off failed logins per source address and Fineract
	// tenant id (shared with the other interfaces); nil makes one of its
	// own with the defaults.
	Auth *guard.Backoff
}

// Defaults of Options.
const (
	// DefaultMaxBodyBytes is far above any page Fineract posts: a triggered
	// campaign posts all its messages in one call, about 200 bytes each,
	// so this is over a million messages.
	DefaultMaxBodyBytes = 256 << 20
	// DefaultMaxReportIDs is fifty of Fineract's report pages.
	DefaultMaxReportIDs = 10_000
	// DefaultReportHorizon is three days: Fineract's jobs run daily, so a
	// message gets at least two more polls after its first.
	DefaultReportHorizon = 72 * time.Hour
)

// Handler serves the message-gateway API for a set of smsgw tenants.
type Handler struct {
	eng      Engine
	opts     Options
	log      *slog.Logger
	metrics  *metrics
	byHeader map[string]*tenant // Fineract-Platform-TenantId → tenant
}

// tenant is one smsgw tenant as the API knows it: its config, and digests
// of its app keys in place of the keys.
type tenant struct {
	id   string
	cfg  TenantConfig
	keys [][sha256.Size]byte
}

// New checks every tenant's config and builds the API over eng. tenants
// maps smsgw tenant ids to their Fineract settings; a Fineract tenant id may
// belong to one of them only. The error, when not nil, names every problem
// with its tenant's path ("mfi-a.bridges[0].id: ...").
func New(tenants map[string]TenantConfig, eng Engine, opts Options) (*Handler, error) {
	if eng == nil {
		return nil, errors.New("messagegateway: nil engine")
	}
	prefix, err := cleanPrefix(opts.Prefix)
	if err != nil {
		return nil, err
	}
	opts.Prefix = prefix
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxReportIDs <= 0 {
		opts.MaxReportIDs = DefaultMaxReportIDs
	}
	if opts.ReportHorizon <= 0 {
		opts.ReportHorizon = DefaultReportHorizon
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Auth == nil {
		opts.Auth, _ = guard.NewBackoff(guard.AuthConfig{}, nil, opts.Now) // the defaults are valid
	}
	h := &Handler{eng: eng, opts: opts, log: opts.Logger, byHeader: map[string]*tenant{}}
	var errs []error
	ids := make([]string, 0, len(tenants))
	for id := range tenants {
		ids = append(ids, id)
	}
	slices.Sort(ids) // stable error order and stable ownership of a shared tenant id
	for _, id := range ids {
		cfg := tenants[id]
		for _, err := range cfg.Validate() {
			errs = append(errs, fmt.Errorf("%s.%w", id, err))
		}
		t := &tenant{id: id, cfg: cfg}
		for _, k := range cfg.AppKeys {
			t.keys = append(t.keys, sha256.Sum256([]byte(k)))
		}
		t.cfg.AppKeys = nil // digests only from here on
		for i, fid := range cfg.TenantIDs {
			if prev, taken := h.byHeader[fid]; taken {
				errs = append(errs, fmt.Errorf("%s.tenant_ids[%d]: %q already names tenant %s", id, i, fid, prev.id))
				continue
			}
			h.byHeader[fid] = t
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("messagegateway: %w", errors.Join(errs...))
	}
	if h.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("messagegateway: metrics: %w", err)
	}
	return h, nil
}

// cleanPrefix turns Fineract's end_point ("fineract", "/fineract/", "/")
// into a path prefix ("/fineract", or "" for none).
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(strings.TrimSpace(p), "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "{} \t?#%") {
			return "", fmt.Errorf("messagegateway: prefix %q: want path segments like \"fineract\" (Fineract's end_point)", p)
		}
	}
	return "/" + p, nil
}

// Routes returns the API's handlers by Go 1.22 ServeMux pattern, in every
// form Fineract may call them. Fineract builds its URLs with Jersey's
// UriBuilder, whose build() percent-encodes a '/' inside a template value:
// the report is "sms/report" in one value, so it calls POST /sms%2Freport,
// and an end_point "/fineract" becomes the single segment /%2Ffineract/.
// So the routes are served at the root and under the prefix, each with the
// report both encoded and plain (a proxy may decode it), and under every
// single-segment encoding of the prefix Fineract's end_point may be written
// as ("fineract", "/fineract", "fineract/", "/fineract/"). ServeMux matches
// each segment unescaped, so %2f matches too.
func (h *Handler) Routes() map[string]http.Handler {
	routes := map[string]http.Handler{}
	for _, base := range bases(h.opts.Prefix) {
		routes["POST "+base+"/sms"] = http.HandlerFunc(h.serveSend)
		routes["POST "+base+"/sms/report"] = http.HandlerFunc(h.serveReport)
		routes["POST "+base+"/sms%2Freport"] = http.HandlerFunc(h.serveReport)
		routes["GET "+base+"/smsbridges"] = http.HandlerFunc(h.serveBridges)
	}
	return routes
}

// bases are the path prefixes the routes are served under: the root, the
// prefix as path segments, and each way Fineract may send the end_point as
// one encoded segment.
func bases(prefix string) []string {
	if prefix == "" {
		return []string{""}
	}
	p := strings.TrimPrefix(prefix, "/")
	out := []string{"", prefix}
	for _, v := range []string{p, "/" + p, p + "/", "/" + p + "/"} {
		if b := "/" + strings.ReplaceAll(v, "/", "%2F"); !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// authenticate returns the tenant the headers name when the app key is one
// of its keys. Every digest of the tenant is compared, and an unknown tenant
// id costs a comparison too, so timing tells little.
func (h *Handler) authenticate(r *http.Request) (*tenant, string, bool) {
	fid := strings.TrimSpace(r.Header.Get(HeaderTenantID))
	sum := sha256.Sum256([]byte(strings.TrimSpace(r.Header.Get(HeaderAppKey))))
	t := h.byHeader[fid]
	if t == nil || r.Header.Get(HeaderAppKey) == "" {
		var none [sha256.Size]byte
		subtle.ConstantTimeCompare(sum[:], none[:])
		return nil, fid, false
	}
	ok := false
	for _, k := range t.keys {
		if subtle.ConstantTimeCompare(sum[:], k[:]) == 1 {
			ok = true
		}
	}
	return t, fid, ok
}

// call is the common start of every route: authenticate and count.
func (h *Handler) call(w http.ResponseWriter, r *http.Request, route string) (*tenant, string, *recorder, bool) {
	rec := &recorder{ResponseWriter: w, route: route, m: h.metrics}
	src, fid := guard.Source(r.RemoteAddr), strings.TrimSpace(r.Header.Get(HeaderTenantID))
	if err := h.opts.Auth.Check("fineract", src, fid); err != nil {
		var b *guard.BackoffError
		errors.As(err, &b)
		h.log.Warn("fineract: refused call: failed logins back off", "route", route, "fineract_tenant", clipHeader(fid), "remote", src)
		rec.Header().Set("Retry-After", strconv.Itoa(int(b.RetryAfter.Seconds()+0.999)))
		writeError(rec, http.StatusTooManyRequests, err.Error())
		return nil, "", nil, false
	}
	t, fid, ok := h.authenticate(r)
	if !ok {
		h.opts.Auth.Fail("fineract", src, fid)
		h.log.Info("fineract: refused call: unknown tenant or app key", "route", route, "fineract_tenant", clipHeader(fid), "remote", r.RemoteAddr)
		writeError(rec, http.StatusUnauthorized, "unknown tenant or app key: check the Fineract-Platform-TenantId header and the tenant_app_key of Fineract's MESSAGE_GATEWAY settings")
		return nil, "", nil, false
	}
	h.opts.Auth.Pass(fid)
	return t, fid, rec, true
}

// pageChunk is how many items of a POST /sms page go to the engine in one
// call: a page up to this size is stored all or nothing, and a larger one
// chunk by chunk as it streams in.
const pageChunk = 1000

func (h *Handler) serveSend(w http.ResponseWriter, r *http.Request) {
	t, fid, rec, ok := h.call(w, r, "sms")
	if !ok {
		return
	}
	page, err := newArrayReader(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		h.badBody(rec, err, t, "sms", 0)
		return
	}
	ans := sendAnswer{Refused: []refusal{}}
	items := make([]smsItem, 0, pageChunk)
	stored := 0 // items of earlier chunks, handed to the engine
	for {
		b, done, err := page.next()
		var it smsItem
		if err == nil && !done {
			it, err = parseItem(page.n-1, b)
		}
		if err != nil {
			h.badBody(rec, err, t, "sms", stored)
			return
		}
		if !done {
			items = append(items, it)
		}
		if len(items) == pageChunk || done && len(items) > 0 {
			if err := h.sendChunk(r.Context(), t, fid, stored, items, &ans); err != nil {
				h.log.Error("fineract: page not stored", "tenant", t.id, "items", len(items), "stored_before", stored, "err", err)
				msg := "the gateway could not store the page; nothing was stored, try again later"
				if stored > 0 {
					msg = fmt.Sprintf("the gateway could not store the page from item %d on; the items before it were stored, and posting the page again stores none of them twice", stored)
				}
				writeError(rec, http.StatusServiceUnavailable, msg)
				return
			}
			stored += len(items)
			items = items[:0]
		}
		if done {
			break
		}
	}
	h.log.Info("fineract: page accepted", "tenant", t.id, "items", stored, "accepted", ans.Accepted,
		"duplicates", ans.Duplicates, "opted_out", ans.OptedOut, "rejected", ans.Rejected, "refused", len(ans.Refused)+ans.MoreRefused)
	writeJSON(rec, http.StatusAccepted, ans)
}

// sendChunk hands items (the page's from item first on) to the engine and
// counts what became of each in ans. It fails only when nothing of the
// chunk was stored.
func (h *Handler) sendChunk(ctx context.Context, t *tenant, fid string, first int, items []smsItem, ans *sendAnswer) error {
	// Items refused before the engine (unknown providerId) keep their
	// place: reqs holds only the others, at[j] maps them back.
	var refused []refusal
	reqs := make([]gateway.SendRequest, 0, len(items))
	at := make([]int, 0, len(items))
	for i, it := range items {
		req := gateway.SendRequest{
			To:        deref(it.MobileNumber),
			Text:      deref(it.Message),
			ClientRef: clientRef(int64(*it.InternalID)),
			Meta:      map[string]string{"fineract_tenant": fid},
		}
		if it.ProviderID != nil {
			b, found := t.cfg.bridge(int64(*it.ProviderID))
			if !found {
				refused = append(refused, h.refuse(t, first+i, int64(*it.InternalID), "providerId",
					fmt.Sprintf("no bridge %d for this tenant (GET /smsbridges lists them)", *it.ProviderID), deref(it.MobileNumber)))
				continue
			}
			req.From, req.Category = b.PhoneNo, b.Category
			req.Meta["fineract_bridge"] = strconv.FormatInt(b.ID, 10)
		}
		reqs = append(reqs, req)
		at = append(at, i)
	}
	var outs []gateway.AcceptOutcome
	if len(reqs) > 0 {
		var err error
		if outs, err = h.eng.AcceptPaced(ctx, t.id, reqs); err != nil {
			return err
		}
	}
	for j, o := range outs {
		it := items[at[j]]
		switch {
		case o.Err != nil:
			field, reason := "", o.Err.Error()
			var fe *gateway.FieldError
			if errors.As(o.Err, &fe) {
				field, reason = fineractField(fe.Field), fe.Reason
			}
			refused = append(refused, h.refuse(t, first+at[j], int64(*it.InternalID), field, reason, deref(it.MobileNumber)))
		case o.Duplicate:
			ans.Duplicates++
			h.metrics.items.WithLabelValues(t.id, itemDuplicate).Inc()
		case o.Status == gateway.StatusOptedOut:
			ans.OptedOut++
			h.metrics.items.WithLabelValues(t.id, itemOptedOut).Inc()
		case o.Status == gateway.StatusRejected:
			ans.Rejected++
			h.metrics.items.WithLabelValues(t.id, itemRejected).Inc()
		default:
			ans.Accepted++
			h.metrics.items.WithLabelValues(t.id, itemAccepted).Inc()
		}
	}
	// Back into the page's order: unknown bridges were refused first.
	slices.SortStableFunc(refused, func(a, b refusal) int { return a.item - b.item })
	if len(refused) > 0 {
		// So the report can answer 400 with the reason at once.
		reasons := make(map[string]string, len(refused))
		for _, rf := range refused {
			reasons[clientRef(rf.InternalID)] = strings.TrimPrefix(rf.Field+": ", ": ") + rf.Error
		}
		if _, err := h.eng.NoteMissing(ctx, t.id, reasons); err != nil {
			h.log.Warn("fineract: could not record refused items; the report will call them never received after the horizon", "tenant", t.id, "items", len(refused), "err", err)
		}
	}
	for _, rf := range refused {
		if len(ans.Refused) < maxListedRefusals {
			ans.Refused = append(ans.Refused, rf)
		} else {
			ans.MoreRefused++
		}
	}
	return nil
}

// refuse counts and logs an item that is not stored (the report will say
// 400 once the horizon has passed) and returns it for the answer.
func (h *Handler) refuse(t *tenant, item int, id int64, field, reason, number string) refusal {
	h.metrics.items.WithLabelValues(t.id, itemRefused).Inc()
	// The reason may quote the number: only at debug level.
	h.log.Info("fineract: item refused", "tenant", t.id, "internal_id", id, "field", field, "to", gateway.MaskNumber(number))
	h.log.Debug("fineract: item refused", "tenant", t.id, "internal_id", id, "field", field, "reason", reason)
	return refusal{item: item, InternalID: id, Field: field, Error: reason}
}

// fineractField names an engine field the way Fineract's JSON does.
func fineractField(f string) string {
	switch f {
	case "to":
		return "mobileNumber"
	case "text":
		return "message"
	case "from", "category":
		return "providerId"
	}
	return f
}

func (h *Handler) serveReport(w http.ResponseWriter, r *http.Request) {
	t, _, rec, ok := h.call(w, r, "report")
	if !ok {
		return
	}
	ids, err := decodeIDs(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes), h.opts.MaxReportIDs)
	if err != nil {
		h.badBody(rec, err, t, "report", 0)
		return
	}
	ctx, now := r.Context(), h.opts.Now()
	entries := make([]*reportEntry, len(ids)) // nil: left out of the answer
	missing := map[string]string{}            // client refs not found → "" (no reason known)
	failed := 0
	var lastErr error
	for i, id := range ids {
		if ctx.Err() != nil {
			h.log.Info("fineract: report abandoned: the caller hung up", "tenant", t.id, "ids", len(ids), "looked_up", i)
			return
		}
		m, err := h.eng.GetByClientRef(ctx, t.id, clientRef(id))
		switch {
		case errors.Is(err, gateway.ErrNotFound):
			missing[clientRef(id)] = ""
		case err != nil:
			failed, lastErr = failed+1, err
			entries[i] = &reportEntry{ID: id, DeliveryStatus: StatusPending, HasError: true, ErrorMessage: ptr("smsgw could not look this message up now; ask again")}
		default:
			e := h.report(id, m, now)
			entries[i] = &e
		}
	}
	if failed > 0 && failed == len(ids) {
		h.log.Error("fineract: report lookups failed", "tenant", t.id, "ids", len(ids), "err", lastErr)
		writeError(rec, http.StatusServiceUnavailable, "the gateway could not look the messages up; try again later")
		return
	}
	if failed > 0 {
		h.log.Warn("fineract: some report lookups failed", "tenant", t.id, "ids", len(ids), "failed", failed, "err", lastErr)
	}
	if len(missing) > 0 {
		h.reportMissing(ctx, t, ids, missing, entries, now)
	}
	out := make([]reportEntry, 0, len(ids))
	for _, e := range entries {
		if e != nil {
			out = append(out, *e)
		}
	}
	h.log.Info("fineract: report", "tenant", t.id, "ids", len(ids), "answered", len(out))
	writeJSON(rec, http.StatusOK, out)
}

// reportMissing fills the entries of the ids smsgw has no message for: 400
// with the reason when the id was refused when posted, 400 "never
// received" once it has been asked for longer than the horizon, and left
// out (Fineract keeps it waiting and asks again) until then. When the
// store cannot say, they are left out too.
func (h *Handler) reportMissing(ctx context.Context, t *tenant, ids []int64, missing map[string]string, entries []*reportEntry, now time.Time) {
	notes, err := h.eng.NoteMissing(ctx, t.id, missing)
	if err != nil {
		h.log.Warn("fineract: report: could not record unknown ids; leaving them out", "tenant", t.id, "ids", len(missing), "err", err)
		return
	}
	for i, id := range ids {
		n, ok := notes[clientRef(id)]
		switch {
		case !ok:
		case n.Reason != "":
			entries[i] = &reportEntry{ID: id, DeliveryStatus: StatusFailed, ErrorMessage: ptr("refused when posted: " + n.Reason)}
		case now.Sub(n.Since) >= h.opts.ReportHorizon:
			entries[i] = &reportEntry{ID: id, DeliveryStatus: StatusFailed, ErrorMessage: ptr(neverReceived)}
		}
	}
}

// neverReceived is the errorMessage of an id asked for longer than the
// horizon that smsgw never received.
const neverReceived = "smsgw never received this message: its POST /sms did not reach the gateway"

// clientRef is the idempotency key of Fineract's message id.
func clientRef(id int64) string { return ClientRefPrefix + strconv.FormatInt(id, 10) }

// report maps a stored message to Fineract's view of it (see doc.go): 150
// until it is final, except that a message sent longer than the horizon
// ago without a receipt is reported sent (200), final for Fineract.
func (h *Handler) report(id int64, m *gateway.Message, now time.Time) reportEntry {
	e := reportEntry{ID: id, ExternalID: ptr(m.ID), AddedOnDate: formatDate(m.CreatedAt)}
	switch m.Status {
	case gateway.StatusAccepted:
		e.DeliveryStatus = StatusWaitingForReport
	case gateway.StatusSubmitted:
		e.DeliveryStatus = StatusWaitingForReport
		if now.Sub(m.UpdatedAt) >= h.opts.ReportHorizon {
			e.DeliveryStatus = StatusSent
		}
	case gateway.StatusDelivered:
		e.DeliveryStatus = StatusDelivered
		e.DeliveredOnDate = formatDate(m.UpdatedAt)
	default: // every other status is final and a failure
		e.DeliveryStatus = StatusFailed
		msg := m.LastError
		if msg == "" {
			msg = string(m.Status)
		}
		e.ErrorMessage = &msg
	}
	return e
}

func (h *Handler) serveBridges(w http.ResponseWriter, r *http.Request) {
	t, fid, rec, ok := h.call(w, r, "bridges")
	if !ok {
		return
	}
	out := make([]bridgeEntry, 0, len(t.cfg.Bridges))
	for _, b := range t.cfg.Bridges {
		out = append(out, bridgeEntry{
			ID: b.ID, TenantID: fid, PhoneNo: b.PhoneNo,
			ProviderName: b.ProviderName, ProviderDescription: b.Description,
		})
	}
	writeJSON(rec, http.StatusOK, out)
}

// badBody answers a body Fineract could not have sent: 413 over a size
// limit, else 400. stored counts the items of the page stored before the
// fault, which the answer mentions.
func (h *Handler) badBody(w http.ResponseWriter, err error, t *tenant, route string, stored int) {
	var tooBig *http.MaxBytesError
	var tooMany errTooManyIDs
	switch {
	case errors.As(err, &tooBig):
		h.log.Warn("fineract: body over the size limit", "tenant", t.id, "route", route, "limit_bytes", tooBig.Limit, "stored", stored)
		msg := fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit)
		if stored > 0 {
			msg += fmt.Sprintf("; its first %d items were stored", stored)
		}
		writeError(w, http.StatusRequestEntityTooLarge, msg)
		return
	case errors.As(err, &tooMany):
		h.log.Warn("fineract: report over the id limit", "tenant", t.id, "limit", tooMany.max)
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	h.log.Info("fineract: malformed body", "tenant", t.id, "route", route, "err", err, "stored", stored)
	msg := "malformed request: " + err.Error()
	if stored > 0 {
		msg += fmt.Sprintf(" (the first %d items were stored; post the corrected page again: stored items are not stored twice)", stored)
	}
	writeError(w, http.StatusBadRequest, msg)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorAnswer{Status: code, Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // plain structs always marshal
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// recorder counts each answer by route and status code.
type recorder struct {
	http.ResponseWriter
	route string
	m     *metrics
}

func (r *recorder) WriteHeader(code int) {
	r.m.requests.WithLabelValues(r.route, strconv.Itoa(code)).Inc()
	r.ResponseWriter.WriteHeader(code)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// clipHeader keeps a caller-chosen header value short in logs.
func clipHeader(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
