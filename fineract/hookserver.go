package fineract

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/openmf/smsgw/internal/guard"
)

// HookPath is where a tenant's hook URL starts; the tenant's name and its
// secret follow, then a '/': Fineract's Web template builds its request
// with Retrofit, which wants a payload URL ending in '/' and drops any
// query string from it, so the secret has to be in the path.
const HookPath = "/fineract/hooks/"

// hookIface labels the hook endpoint in the back-off's metrics.
const hookIface = "fineract_hooks"

// HookTenant is one tenant's end of the hook endpoint.
type HookTenant struct {
	Name           string // the config's tenant name, in the URL
	FineractTenant string // Fineract-Platform-TenantId the hooks must carry
	Notifier       *Notifier
}

// HookServerOptions configures the hook endpoint.
type HookServerOptions struct {
	Tenants []HookTenant
	// MaxBodyBytes caps a hook's body (413 beyond); default 1 MiB. A
	// command's request and result are a few kilobytes.
	MaxBodyBytes int64
	// Backoff slows down guessing a tenant's secret; nil does not.
	Backoff *guard.Backoff
	Metrics *Metrics
	Log     *slog.Logger
	Now     func() time.Time
}

// HookServer is the endpoint Fineract's Web hooks post to (Manage Hooks,
// template "Web", Content Type json). It authenticates the request by the
// tenant's secret in the path and, when configured, its source address,
// reads the event, answers at once and leaves the event to the tenant's
// Notifier. Fineract reads no answer (its callback only logs the status
// at debug level) and never posts an event again, so the answers are for
// whoever tests the URL by hand.
type HookServer struct {
	opts    HookServerOptions
	tenants map[string]HookTenant
	mux     *http.ServeMux
}

// NewHookServer builds the endpoint.
func NewHookServer(opts HookServerOptions) (*HookServer, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &HookServer{opts: opts, tenants: map[string]HookTenant{}, mux: http.NewServeMux()}
	for _, t := range opts.Tenants {
		if t.Notifier == nil || t.Name == "" {
			return nil, errors.New("fineract: a hook tenant needs a name and a notifier")
		}
		s.tenants[t.Name] = t
	}
	var h http.Handler = http.HandlerFunc(s.serve)
	if opts.Backoff != nil {
		h = opts.Backoff.Guard(hookIface, h)
	}
	for _, p := range []string{HookPath + "{tenant}/{secret}/{$}", HookPath + "{tenant}/{secret}"} {
		s.mux.Handle("POST "+p, h)
		s.mux.Handle("GET "+p, h) // Fineract pings the URL when the hook is saved
	}
	return s, nil
}

// ServeHTTP routes hook requests.
func (s *HookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *HookServer) serve(w http.ResponseWriter, r *http.Request) {
	entity, action := r.Header.Get(HeaderEntity), r.Header.Get(HeaderAction)
	event := strings.ToUpper(entity + "/" + action)
	t, ok := s.authorize(w, r)
	if !ok {
		return
	}
	log := s.opts.Log.With("tenant", t.Name, "source", guard.Source(r.RemoteAddr))
	if r.Method == http.MethodGet {
		s.opts.Metrics.hook("", "ping")
		_, _ = io.WriteString(w, "ok: this URL takes Fineract's Web hooks for tenant "+t.Name+"\n")
		return
	}
	refuse := func(code int, result, msg string) {
		s.opts.Metrics.hook(event, result)
		log.Warn("hook refused", "event", event, "status", code, "why", msg)
		http.Error(w, msg, code)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		refuse(http.StatusUnsupportedMediaType, "bad_request",
			"want Content-Type application/json: set the hook's Content Type to json (Fineract's form bodies flatten the command's result)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		refuse(http.StatusRequestEntityTooLarge, "bad_request", "body over the limit of hooks.max_body_bytes")
		return
	}
	if err != nil {
		refuse(http.StatusBadRequest, "bad_request", "reading the body: "+err.Error())
		return
	}
	h, err := ParseHook(entity, action, r.Header.Get(HeaderTenant), r.Header.Get(HeaderEndpoint), body)
	if err != nil {
		refuse(http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if h.Tenant != t.FineractTenant {
		refuse(http.StatusBadRequest, "bad_request", "Fineract-Platform-TenantId "+quote(h.Tenant)+" is not this tenant's Fineract tenant "+quote(t.FineractTenant))
		return
	}
	h.Received = s.opts.Now()
	switch {
	case h.Failed:
		s.opts.Metrics.hook(event, "failed_command")
		log.Debug("hook for a command Fineract refused; ignored", "event", event)
		_, _ = io.WriteString(w, "ignored: the command failed\n")
		return
	case !slices.Contains(Events, h.Event()):
		s.opts.Metrics.hook(event, "ignored")
		log.Debug("hook for an event no rule can name; ignored", "event", event)
		_, _ = io.WriteString(w, "ignored: smsgw-fineract does not act on "+h.Event()+"\n")
		return
	}
	if err := t.Notifier.Enqueue(h); err != nil {
		refuse(http.StatusServiceUnavailable, "queue_full", err.Error()+"; this event is lost unless posted again")
		return
	}
	s.opts.Metrics.hook(event, "queued")
	log.Info("hook queued", "event", event, "key", h.Key())
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "queued "+h.Key()+"\n")
}

// authorize checks the tenant's secret in constant time and its allowed
// source addresses. An unknown tenant is refused as a wrong secret is, so
// the answer does not tell which tenants exist.
func (s *HookServer) authorize(w http.ResponseWriter, r *http.Request) (HookTenant, bool) {
	t, known := s.tenants[r.PathValue("tenant")]
	want := "\x00no tenant has this secret\x00"
	var allow []netip.Prefix
	if known {
		set := t.Notifier.settings.Load()
		want, allow = set.secret, set.allow
	}
	if len(allow) > 0 {
		src, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(src.Addr().Unmap()) }) {
			s.opts.Metrics.hook("", "forbidden")
			s.opts.Log.Warn("hook from an address not in allow_from", "tenant", t.Name, "source", guard.Source(r.RemoteAddr))
			http.Error(w, "this address may not post hooks for this tenant (events.allow_from)", http.StatusForbidden)
			return HookTenant{}, false
		}
	}
	if !guard.Equal(r.PathValue("secret"), want) || !known || want == "" {
		s.opts.Metrics.hook("", "unauthorized")
		s.opts.Log.Warn("hook with a wrong secret or tenant", "source", guard.Source(r.RemoteAddr))
		http.Error(w, "unknown tenant or wrong secret in the hook URL", http.StatusUnauthorized)
		return HookTenant{}, false
	}
	return t, true
}

func quote(s string) string { return `"` + s + `"` }
