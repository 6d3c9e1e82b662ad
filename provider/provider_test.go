package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/internal/testutil/sinktest"
	"github.com/openmf/smsgw/provider"
	"github.com/openmf/smsgw/provider/africastalking"
	"github.com/openmf/smsgw/provider/twilio"
	"github.com/openmf/smsgw/provider/vonage"
)

func TestHTTPDecision(t *testing.T) {
	for status, want := range map[int]gateway.Decision{
		301: gateway.NextRoute, 400: gateway.Permanent, 401: gateway.NextRoute, 403: gateway.NextRoute,
		404: gateway.NextRoute, 408: gateway.Retry, 413: gateway.Permanent, 422: gateway.Permanent,
		429: gateway.Retry, 500: gateway.Retry, 502: gateway.Retry, 503: gateway.Retry, 504: gateway.Retry,
	} {
		if got := provider.HTTPDecision(status); got != want {
			t.Errorf("HTTP %d → %s, want %s", status, got, want)
		}
		if e := provider.HTTPError(status, "x"); e.Code != fmt.Sprintf("http:%d", status) || e.Decision != want {
			t.Errorf("HTTPError(%d) = %+v", status, e)
		}
	}
}

// echo is a minimal connector on Core: its send calls the test server and
// answers with segs.
type echo struct {
	*provider.Core
	url  string
	segs []provider.Segment
}

func newEcho(t *testing.T, url string, conc int, reg prometheus.Registerer) *echo {
	t.Helper()
	l := provider.Limits{BaseURL: url, Concurrency: conc}
	if errs := provider.ValidateHTTP(&l, "http://default.invalid"); len(errs) > 0 {
		t.Fatal(errs)
	}
	return &echo{Core: provider.NewCore("echo", "echo", l, provider.Options{Registerer: reg}), url: url, segs: []provider.Segment{{ID: "ID1"}}}
}

func (e *echo) Submit(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult {
	return e.SubmitOnce(ctx, m, parts, func(ctx context.Context) ([]provider.Segment, error) {
		req, _ := http.NewRequest(http.MethodPost, e.url, nil)
		resp, err := e.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		if resp.Status != http.StatusOK {
			return nil, provider.HTTPError(resp.Status, provider.Snippet(resp.Body))
		}
		return e.segs, nil
	})
}

func TestConcurrencyCapsRequestsInFlight(t *testing.T) {
	var inflight, peak atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
	}))
	defer srv.Close()
	e := newEcho(t, srv.URL, 2, nil)
	if err := e.Start(&sinktest.Sink{}); err != nil {
		t.Fatal(err)
	}
	if e.Window() != 2*provider.MaxPartsPerRequest {
		t.Errorf("Window %d, want concurrency × %d", e.Window(), provider.MaxPartsPerRequest)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if r := e.Submit(context.Background(), &gateway.Message{ID: "m"}, []int{0}); r[0].Err != nil {
				t.Error(r[0].Err)
			}
		})
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if inflight.Load() != 2 {
			return fmt.Errorf("%d requests in flight, want 2", inflight.Load())
		}
		return nil
	})
	close(release)
	wg.Wait()
	if peak.Load() != 2 {
		t.Errorf("peak in flight %d, want 2", peak.Load())
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestStopDrainsThenRefuses(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer srv.Close()
	e := newEcho(t, srv.URL, 4, nil)
	if err := e.Start(&sinktest.Sink{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan []gateway.PartResult)
	go func() { done <- e.Submit(context.Background(), &gateway.Message{ID: "m"}, []int{0}) }()
	<-arrived
	stopped := make(chan error)
	go func() { stopped <- e.Stop(context.Background()) }()
	testutil.Eventually(t, 5*time.Second, func() error {
		if e.Up() {
			return errors.New("still up after Stop began")
		}
		return nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if r := <-done; r[0].Err != nil || r[0].CarrierID != "ID1" {
		t.Errorf("in-flight submit: %+v, want it to complete", r[0])
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	r := e.Submit(context.Background(), &gateway.Message{ID: "m"}, []int{0})
	var se *gateway.SubmitError
	if !errors.As(r[0].Err, &se) || se.Decision != gateway.Retry || !errors.Is(r[0].Err, provider.ErrStopped) {
		t.Errorf("submit after Stop: %v, want a Retry wrapping ErrStopped", r[0].Err)
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStopDeadlineCancelsInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	e := newEcho(t, srv.URL, 1, nil)
	e.Start(&sinktest.Sink{})
	done := make(chan []gateway.PartResult)
	go func() { done <- e.Submit(context.Background(), &gateway.Message{ID: "m"}, []int{0}) }()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop with a stuck request: %v, want the deadline", err)
	}
	select {
	case r := <-done:
		if gateway.DecisionOf(r[0].Err) != gateway.Retry {
			t.Errorf("cut-short submit: %v, want Retry", r[0].Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request not canceled once Stop gave up")
	}
}

func TestSegmentsFanOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	e := newEcho(t, srv.URL, 1, nil)
	e.Start(&sinktest.Sink{})
	defer e.Stop(context.Background())
	refused := provider.Errorf(gateway.Permanent, "x:1", "refused")
	m := &gateway.Message{ID: "m", Parts: make([]gateway.Part, 2)}

	e.segs = []provider.Segment{{ID: "A"}, {Err: refused}}
	r := e.Submit(context.Background(), m, []int{0, 1})
	if r[0].CarrierID != "A" || r[0].Err != nil || r[1].Err != refused || r[1].CarrierID != "" {
		t.Errorf("one segment per part: %+v", r)
	}
	// Three segments for a two-part message: a refusal anywhere fails all.
	e.segs = []provider.Segment{{ID: "A"}, {ID: "B"}, {Err: refused}}
	for _, p := range e.Submit(context.Background(), m, []int{0, 1}) {
		if p.Err != refused {
			t.Errorf("part %d: %+v, want the refusal", p.Index, p)
		}
	}
	e.segs = nil
	if p := e.Submit(context.Background(), m, []int{1})[0]; p.Index != 1 || gateway.DecisionOf(p.Err) != gateway.Retry {
		t.Errorf("no segments: %+v, want Retry", p)
	}
}

func TestWebhookNotStartedOrStoppedIs503(t *testing.T) {
	e := newEcho(t, "http://x.invalid", 1, nil)
	h := e.ReceiptHandler(func(*http.Request) (gateway.Receipt, error) {
		return gateway.Receipt{CarrierID: "A", Status: gateway.StatusDelivered}, nil
	})
	serve := func() int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/status", nil))
		return w.Code
	}
	if code := serve(); code != http.StatusServiceUnavailable {
		t.Errorf("before Start: %d, want 503", code)
	}
	e.Start(&sinktest.Sink{})
	if code := serve(); code != http.StatusOK {
		t.Errorf("started: %d, want 200", code)
	}
	e.Stop(context.Background())
	if code := serve(); code != http.StatusServiceUnavailable {
		t.Errorf("after Stop: %d, want 503", code)
	}
}

func TestMount(t *testing.T) {
	e := newEcho(t, "http://x.invalid", 1, nil)
	e.Start(&sinktest.Sink{})
	defer e.Stop(context.Background())
	var got gateway.Receipt
	sub := http.NewServeMux()
	sub.Handle("POST /status", e.ReceiptHandler(func(*http.Request) (gateway.Receipt, error) {
		got.CarrierID = "seen"
		return got, nil
	}))
	mux := http.NewServeMux()
	provider.Mount(mux, "echo", sub)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, provider.WebhookPrefix("echo")+"/status", nil))
	if w.Code != http.StatusOK || got.CarrierID != "seen" {
		t.Errorf("POST /webhooks/echo/status: %d", w.Code)
	}
}

// Every connector registers on one registry without conflict, and all
// their series pass promlint.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := provider.Options{Registerer: reg}
	if _, err := twilio.New("tw", twilio.Config{AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: "t", From: "+1", StatusCallbackURL: "https://x/s"}, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := vonage.New("vo", vonage.Config{APIKey: "k", APISecret: "s", From: "f"}, opts); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"at", "at2"} {
		if _, err := africastalking.New(name, africastalking.Config{Username: "u", APIKey: "k"}, opts); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"smsgw_provider_requests_total", "smsgw_provider_request_duration_seconds", "smsgw_provider_webhooks_total", "smsgw_provider_account_balance"} {
		if !names[n] {
			t.Errorf("%s not registered", n)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// The wiring the gateway uses: each connector's webhook mounted on one mux
// under /webhooks/{name}/; the id a Submit returned comes back in the
// receipt its provider posts there.
func TestRoundTripThroughMountedWebhooks(t *testing.T) {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/2010-04-01/Accounts/AC" + strings.Repeat("0", 32) + "/Messages.json":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"sid":"SMabc","status":"queued"}`)
		case "/sms/json":
			fmt.Fprint(w, `{"message-count":"1","messages":[{"status":"0","message-id":"v-1"}]}`)
		case "/version1/messaging":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"SMSMessageData":{"Recipients":[{"statusCode":101,"messageId":"ATXid_9"}]}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer fake.Close()
	mux := http.NewServeMux()
	gw := httptest.NewServer(mux)
	defer gw.Close()
	tw, err := twilio.New("tw", twilio.Config{BaseURL: fake.URL, AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: "tok",
		From: "+15005550006", StatusCallbackURL: gw.URL + provider.WebhookPrefix("tw") + "/status"}, provider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vo, err := vonage.New("vo", vonage.Config{BaseURL: fake.URL, APIKey: "k", APISecret: "s", From: "MFI"}, provider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at, err := africastalking.New("at", africastalking.Config{BaseURL: fake.URL, Username: "u", APIKey: "k"}, provider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sink := &sinktest.Sink{}
	for _, c := range []interface {
		gateway.Connector
		provider.Webhooks
	}{tw, vo, at} {
		if err := c.Start(sink); err != nil {
			t.Fatal(err)
		}
		defer c.Stop(context.Background())
		provider.Mount(mux, c.Name(), c.WebhookHandler())
	}

	m := &gateway.Message{ID: "m", To: "+254712345678", Text: "hi", Parts: make([]gateway.Part, 1)}
	ids := map[string]string{}
	for _, c := range []gateway.Connector{tw, vo, at} {
		r := c.Submit(context.Background(), m, []int{0})
		if r[0].Err != nil {
			t.Fatalf("%s: %v", c.Name(), r[0].Err)
		}
		ids[c.Name()] = r[0].CarrierID
	}

	twForm := url.Values{"MessageSid": {ids["tw"]}, "MessageStatus": {"delivered"}}
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/webhooks/tw/status", strings.NewReader(twForm.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Signature("tok", gw.URL+"/webhooks/tw/status", twForm))
	reqs := []*http.Request{req}
	req, _ = http.NewRequest(http.MethodGet, gw.URL+"/webhooks/vo/status?messageId=v-1&status=delivered", nil)
	reqs = append(reqs, req)
	req, _ = http.NewRequest(http.MethodPost, gw.URL+"/webhooks/at/status", strings.NewReader("id=ATXid_9&status=Success"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	reqs = append(reqs, req)
	for _, req := range reqs {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %d", req.Method, req.URL.Path, resp.StatusCode)
		}
	}
	rs := sink.Receipts()
	if len(rs) != 3 {
		t.Fatalf("receipts %+v, want 3", rs)
	}
	for _, r := range rs {
		if r.CarrierID != ids[r.Carrier] || r.Status != gateway.StatusDelivered {
			t.Errorf("receipt %+v does not match the submitted id %q", r, ids[r.Carrier])
		}
	}
}

// TestBinaryGoesToTheNextRoute: an HTTP provider never sends a
// caller-built short_message (it would send the hex as text); the message
// goes to the next route, and the provider is not called.
func TestBinaryGoesToTheNextRoute(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	defer srv.Close()
	e := newEcho(t, srv.URL, 1, nil)
	if err := e.Start(&sinktest.Sink{}); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	m := &gateway.Message{ID: "b1", To: "+254712345678", Text: "0102ff", Encoding: gateway.EncodingBinary, Parts: []gateway.Part{{}}}
	res := e.Submit(context.Background(), m, []int{0})
	if len(res) != 1 || gateway.DecisionOf(res[0].Err) != gateway.NextRoute || calls.Load() != 0 {
		t.Errorf("binary message: %+v after %d calls, want next_route and no call", res, calls.Load())
	}
}
