package messagegateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
)

// Engine is what the API needs of the gateway: store a page of messages,
// and find one again by its idempotency key. *gateway.Engine satisfies it;
// tests may fake it.
type Engine interface {
	Accept(ctx context.Context, tenant string, reqs []gateway.SendRequest) ([]gateway.AcceptOutcome, error)
	GetByClientRef(ctx context.Context, tenant, clientRef string) (*gateway.Message, error)
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
	// are then served both at /sms and at /fineract/sms.
	Prefix string
	// Logger receives one line per call at info level (masked numbers, no
	// bodies) and refusal details at debug level; default discards.
	Logger *slog.Logger
	// Registerer takes the smsgw_message_gateway_* metrics; nil registers none.
	Registerer prometheus.Registerer
	// MaxBodyBytes caps a request body; default 16 MiB (Fineract's
	// triggered campaigns post all their messages in one call).
	MaxBodyBytes int64
}

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
		opts.MaxBodyBytes = 16 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
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

// Routes returns the API's handlers by Go 1.22 ServeMux pattern, at the
// root and, with a Prefix, under it as well.
func (h *Handler) Routes() map[string]http.Handler {
	routes := map[string]http.Handler{}
	for _, base := range []string{"", h.opts.Prefix} {
		routes["POST "+base+"/sms"] = http.HandlerFunc(h.serveSend)
		routes["POST "+base+"/sms/report"] = http.HandlerFunc(h.serveReport)
		routes["GET "+base+"/smsbridges"] = http.HandlerFunc(h.serveBridges)
	}
	return routes
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
	t, fid, ok := h.authenticate(r)
	if !ok {
		h.log.Info("fineract: refused call: unknown tenant or app key", "route", route, "fineract_tenant", clipHeader(fid), "remote", r.RemoteAddr)
		writeError(rec, http.StatusUnauthorized, "unknown tenant or app key: check the Fineract-Platform-TenantId header and the tenant_app_key of Fineract's MESSAGE_GATEWAY settings")
		return nil, "", nil, false
	}
	return t, fid, rec, true
}

func (h *Handler) serveSend(w http.ResponseWriter, r *http.Request) {
	t, fid, rec, ok := h.call(w, r, "sms")
	if !ok {
		return
	}
	items, err := decodeSMS(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		h.badBody(rec, err, t, "sms")
		return
	}

	// Items refused before the engine (unknown providerId) keep their
	// place: reqs holds only the others, at[j] maps them back.
	ans := sendAnswer{Refused: []refusal{}}
	reqs := make([]gateway.SendRequest, 0, len(items))
	at := make([]int, 0, len(items))
	for i, it := range items {
		req := gateway.SendRequest{
			To:        deref(it.MobileNumber),
			Text:      deref(it.Message),
			ClientRef: ClientRefPrefix + strconv.FormatInt(int64(*it.InternalID), 10),
			Meta:      map[string]string{"fineract_tenant": fid},
		}
		if it.ProviderID != nil {
			b, found := t.cfg.bridge(int64(*it.ProviderID))
			if !found {
				h.refuse(&ans, t, i, int64(*it.InternalID), "providerId",
					fmt.Sprintf("no bridge %d for this tenant (GET /smsbridges lists them)", *it.ProviderID), deref(it.MobileNumber))
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
		outs, err = h.eng.Accept(r.Context(), t.id, reqs)
		if err != nil {
			h.acceptFailed(rec, t, len(reqs), err)
			return
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
			h.refuse(&ans, t, at[j], int64(*it.InternalID), field, reason, deref(it.MobileNumber))
		case o.Duplicate:
			ans.Duplicates++
			h.metrics.items.WithLabelValues(t.id, itemDuplicate).Inc()
		case o.Status == gateway.StatusOptedOut:
			ans.OptedOut++
			h.metrics.items.WithLabelValues(t.id, itemOptedOut).Inc()
		default:
			ans.Accepted++
			h.metrics.items.WithLabelValues(t.id, itemAccepted).Inc()
		}
	}
	// Back into the page's order: unknown bridges were refused first.
	slices.SortStableFunc(ans.Refused, func(a, b refusal) int { return a.item - b.item })
	h.log.Info("fineract: page accepted", "tenant", t.id, "items", len(items), "accepted", ans.Accepted,
		"duplicates", ans.Duplicates, "opted_out", ans.OptedOut, "refused", len(ans.Refused))
	writeJSON(rec, http.StatusAccepted, ans)
}

// refuse records an item that is not stored; the report will say 400.
func (h *Handler) refuse(ans *sendAnswer, t *tenant, item int, id int64, field, reason, number string) {
	ans.Refused = append(ans.Refused, refusal{item: item, InternalID: id, Field: field, Error: reason})
	h.metrics.items.WithLabelValues(t.id, itemRefused).Inc()
	// The reason may quote the number: only at debug level.
	h.log.Info("fineract: item refused", "tenant", t.id, "internal_id", id, "field", field, "to", gateway.MaskNumber(number))
	h.log.Debug("fineract: item refused", "tenant", t.id, "internal_id", id, "field", field, "reason", reason)
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

// acceptFailed answers a page the engine stored nothing of.
func (h *Handler) acceptFailed(w http.ResponseWriter, t *tenant, n int, err error) {
	var qe *gateway.QuotaError
	switch {
	case errors.As(err, &qe) && qe.TooLarge:
		h.log.Warn("fineract: page larger than the tenant's burst", "tenant", t.id, "items", n)
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"the page holds %d messages, more than tenant %s may send at once: raise the tenant's burst to at least 200 (Fineract's page size)", n, t.id))
	case errors.As(err, &qe):
		secs := max(1, int(math.Ceil(qe.RetryAfter.Seconds())))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.log.Info("fineract: page over the tenant's rate", "tenant", t.id, "items", n, "retry_after_s", secs)
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("tenant %s is over its sending rate; nothing was stored, retry in %d s", t.id, secs))
	default:
		h.log.Error("fineract: page not stored", "tenant", t.id, "items", n, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the gateway could not store the page; nothing was stored, try again later")
	}
}

func (h *Handler) serveReport(w http.ResponseWriter, r *http.Request) {
	t, _, rec, ok := h.call(w, r, "report")
	if !ok {
		return
	}
	ids, err := decodeIDs(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		h.badBody(rec, err, t, "report")
		return
	}
	out := make([]reportEntry, len(ids))
	failed := 0
	var lastErr error
	for i, id := range ids {
		m, err := h.eng.GetByClientRef(r.Context(), t.id, ClientRefPrefix+strconv.FormatInt(id, 10))
		switch {
		case errors.Is(err, gateway.ErrNotFound):
			out[i] = reportEntry{ID: id, DeliveryStatus: StatusFailed, ErrorMessage: ptr(unknownID)}
		case err != nil:
			failed, lastErr = failed+1, err
			out[i] = reportEntry{ID: id, DeliveryStatus: StatusPending, HasError: true, ErrorMessage: ptr("smsgw could not look this message up now; ask again")}
		default:
			out[i] = report(id, m)
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
	h.log.Info("fineract: report", "tenant", t.id, "ids", len(ids))
	writeJSON(rec, http.StatusOK, out)
}

// unknownID is the errorMessage of an id smsgw has no message for.
const unknownID = "smsgw has no message for this id: refused when posted, or never received"

// report maps a stored message to Fineract's view of it (see doc.go).
func report(id int64, m *gateway.Message) reportEntry {
	e := reportEntry{ID: id, ExternalID: ptr(m.ID), AddedOnDate: formatDate(m.CreatedAt)}
	switch m.Status {
	case gateway.StatusAccepted:
		e.DeliveryStatus = StatusWaitingForReport
	case gateway.StatusSubmitted:
		e.DeliveryStatus = StatusSent
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

// badBody answers a body Fineract could not have sent; a body over the
// size limit is 413.
func (h *Handler) badBody(w http.ResponseWriter, err error, t *tenant, route string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit))
		return
	}
	h.log.Info("fineract: malformed body", "tenant", t.id, "route", route, "err", err)
	writeError(w, http.StatusBadRequest, "malformed request: "+err.Error())
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
