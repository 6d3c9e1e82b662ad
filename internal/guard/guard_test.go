package guard

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestEqual(t *testing.T) {
	for _, c := range []struct {
		got, want string
		eq        bool
	}{{"secret", "secret", true}, {"secret", "secreT", false}, {"", "", true}, {"s", "", false}, {"secret-longer", "secret", false}} {
		if Equal(c.got, c.want) != c.eq {
			t.Errorf("Equal(%q, %q) = %v", c.got, c.want, !c.eq)
		}
	}
}

func TestBackoff(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	b, err := NewBackoff(AuthConfig{Free: 3, Base: time.Second, Max: 4 * time.Second, Forget: time.Minute}, reg, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		b.Fail("kannel", "10.0.0.1", "alice")
	}
	if err := b.Check("kannel", "10.0.0.1", "alice"); err != nil {
		t.Fatalf("two failures of three free: %v", err)
	}
	b.Fail("kannel", "10.0.0.1", "alice")
	var be *BackoffError
	if err := b.Check("kannel", "10.0.0.1", "bob"); !errors.As(err, &be) || be.RetryAfter != time.Second {
		t.Fatalf("the source backs off for every user: %v", err)
	}
	if err := b.Check("kannel", "10.0.0.2", "alice"); !errors.As(err, &be) {
		t.Fatalf("the user backs off from every source: %v", err)
	}
	if err := b.Check("kannel", "10.0.0.2", "bob"); err != nil {
		t.Fatalf("another source and user: %v", err)
	}
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		now = now.Add(10 * time.Second)
		b.Fail("kannel", "10.0.0.1", "alice")
		if err := b.Check("kannel", "10.0.0.1", ""); !errors.As(err, &be) || be.RetryAfter != want {
			t.Fatalf("want a back-off of %s (doubling to max), got %v", want, err)
		}
	}
	b.Pass("alice")
	if err := b.Check("kannel", "10.0.0.3", "alice"); err != nil {
		t.Fatalf("a success clears the user: %v", err)
	}
	now = now.Add(2 * time.Minute)
	b.Fail("kannel", "10.0.0.1", "")
	if err := b.Check("kannel", "10.0.0.1", ""); err != nil {
		t.Fatalf("a quiet source is forgotten: %v", err)
	}
	if got := value(b.failures.WithLabelValues("kannel")); got != 7 {
		t.Errorf("smsgw_auth_failures_total = %v, want 7", got)
	}
	if got := value(b.refused.WithLabelValues("kannel")); got != 5 {
		t.Errorf("smsgw_auth_backoff_refused_total = %v, want 5", got)
	}
	if _, err := NewBackoff(AuthConfig{Base: time.Minute, Max: time.Second}, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "limits.auth.backoff_max: must be ≥ backoff_base ≥ 0") {
		t.Fatalf("bad config: %v", err)
	}
}

// TestLimitListener holds more clients than the cap: the extra ones are not
// accepted until one of the first closes.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := NewListeners(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	l := ls.Limit("test", inner, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	first, second := <-accepted, <-accepted
	select {
	case c := <-accepted:
		t.Fatalf("a third connection was accepted over the cap of 2: %v", c.RemoteAddr())
	case <-time.After(100 * time.Millisecond):
	}
	if got := value(ls.open.WithLabelValues("test")); got != 2 {
		t.Errorf("smsgw_listener_connections = %v", got)
	}
	first.Close()
	third := <-accepted
	if third == nil {
		t.Fatal("listener closed")
	}
	third.Close()
	second.Close()
	if got := value(ls.waited.WithLabelValues("test")); got < 1 {
		t.Errorf("smsgw_listener_waits_total = %v, want ≥ 1", got)
	}
}

func TestCORS(t *testing.T) {
	acted := 0
	h := CORS([]string{"https://ops.example"}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { acted++ }))
	do := func(method, origin string, preflight bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/cgi-bin/sendsms?to=1&text=x", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if preflight {
			r.Header.Set("Access-Control-Request-Method", "GET")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do(http.MethodOptions, "https://evil.example", true); w.Code != http.StatusForbidden ||
		!strings.Contains(w.Body.String(), "origin https://evil.example is not in limits.cors_origins") || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %q", w.Code, w.Body.String())
	}
	if w := do(http.MethodGet, "https://evil.example", false); w.Code != http.StatusForbidden {
		t.Fatalf("foreign GET: %d", w.Code)
	}
	if w := do(http.MethodOptions, "https://ops.example", true); w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "https://ops.example" {
		t.Fatalf("allowed preflight: %d %v", w.Code, w.Header())
	}
	if acted != 0 {
		t.Fatalf("the handler acted on %d preflights or refused calls", acted)
	}
	do(http.MethodGet, "https://ops.example", false)
	do(http.MethodGet, "", false)
	if acted != 2 {
		t.Fatalf("allowed origin and no origin: handler ran %d times, want 2", acted)
	}
	// A page of this host posting to it (the console's forms) is not
	// cross-origin; a host that merely starts the same is.
	if w := do(http.MethodPost, "http://example.com", false); w.Code != http.StatusOK || acted != 3 {
		t.Fatalf("same-origin POST: %d, handler ran %d times", w.Code, acted)
	}
	if w := do(http.MethodPost, "http://example.com.evil.example", false); w.Code != http.StatusForbidden {
		t.Fatalf("look-alike origin: %d", w.Code)
	}
}

// value reads one counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// TestGuard: a provider webhook answering 403 to forged signatures puts
// the forger's address under the back-off; the handler no longer runs for
// it, and other addresses are served.
func TestGuard(t *testing.T) {
	b, err := NewBackoff(AuthConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	h := b.Guard("webhook", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs++
		if r.Header.Get("X-Signature") != "good" {
			http.Error(w, "bad signature", http.StatusForbidden)
		}
	}))
	do := func(addr, sig string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/twilio/status", nil)
		w := httptest.NewRecorder()
		r.RemoteAddr = addr
		r.Header.Set("X-Signature", sig)
		h.ServeHTTP(w, r)
		return w
	}
	for range 5 {
		do("198.51.100.1:1", "forged")
	}
	if w := do("198.51.100.1:1", "good"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || runs != 5 {
		t.Fatalf("after 5 forgeries: %d %v, handler ran %d times", w.Code, w.Header(), runs)
	}
	if w := do("198.51.100.2:1", "good"); w.Code != http.StatusOK {
		t.Fatalf("another address: %d", w.Code)
	}
}
