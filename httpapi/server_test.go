package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func TestHealthAndReadiness(t *testing.T) {
	var readyErr error = errors.New("no carrier bound")
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "smsgw_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()
	h := New(Options{Gatherer: reg, Ready: func() error { return readyErr }}).Handler()

	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "no carrier bound") {
		t.Errorf("/readyz = %d %q, want 503 naming the reason", code, body)
	}
	readyErr = nil
	if code, _ := get(t, h, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d once ready, want 200", code)
	}
	if code, body := get(t, h, "/metrics"); code != 200 || !strings.Contains(body, "smsgw_test_total 1") {
		t.Errorf("/metrics = %d, body lacks the injected registry's series:\n%s", code, body)
	}
}
