package messagegateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/guard"
)

// TestWrongAppKeysBackOff: after five wrong app keys from one address
// every call from it, even with the right key, is answered 429 with
// Retry-After until the back-off passes, and looks nothing up.
func TestWrongAppKeysBackOff(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	b, err := guard.NewBackoff(guard.AuthConfig{}, nil, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(goldenTenants(), newFakeEngine(), Options{Auth: b})
	if err != nil {
		t.Fatal(err)
	}
	call := func(key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/smsbridges", nil)
		req.RemoteAddr = "192.0.2.7:5555"
		req.Header.Set(HeaderTenantID, "default")
		req.Header.Set(HeaderAppKey, key)
		w := httptest.NewRecorder()
		mux(h).ServeHTTP(w, req)
		return w
	}
	for i := range 5 {
		if w := call("guess"); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	w := call("c2VjcmV0LWZpbmVyYWN0LWtleQ")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" ||
		!strings.Contains(w.Body.String(), "too many failed logins from this address or for this user; retry in 1s") {
		t.Fatalf("right key while backing off: %d %v %s", w.Code, w.Header(), w.Body)
	}
	now = now.Add(time.Second)
	if w := call("c2VjcmV0LWZpbmVyYWN0LWtleQ"); w.Code != http.StatusOK {
		t.Fatalf("right key after the back-off: %d %s", w.Code, w.Body)
	}
}

// rejectingEngine stores every item, REJECTED for the high-risk +881
// range as the fraud controls do.
type rejectingEngine struct{ discardEngine }

func (r *rejectingEngine) AcceptPaced(_ context.Context, _ string, reqs []gateway.SendRequest) ([]gateway.AcceptOutcome, error) {
	out := make([]gateway.AcceptOutcome, len(reqs))
	for i, q := range reqs {
		out[i] = gateway.AcceptOutcome{ID: q.ClientRef, Status: gateway.StatusAccepted}
		if strings.HasPrefix(q.To, "+881") {
			out[i].Status = gateway.StatusRejected
		}
	}
	return out, nil
}

// TestPageCountsRejected: an item the fraud controls stored REJECTED is
// counted as rejected in the answer, not as accepted.
func TestPageCountsRejected(t *testing.T) {
	h, err := New(goldenTenants(), &rejectingEngine{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := post(t, h, "/sms", `[{"internalId":1,"mobileNumber":"+881612345678","message":"x"},{"internalId":2,"mobileNumber":"+254712345678","message":"x"}]`)
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), `"accepted":1,`) || !strings.Contains(w.Body.String(), `"rejected":1`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
