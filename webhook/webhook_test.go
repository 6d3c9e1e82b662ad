package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/keyword"
	"github.com/openmf/smsgw/webhook"
)

// received is one request a fake receiver saw.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	Length int64
}

// receiver is an httptest server on 127.0.0.1 that records every request
// and answers with whatever status and body the test set last.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []received
	status int
	body   string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{status: http.StatusOK}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body, Length: req.ContentLength})
		status, answer := r.status, r.body
		r.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) answer(status int, body string) {
	r.mu.Lock()
	r.status, r.body = status, body
	r.mu.Unlock()
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// last returns the only request the receiver saw, failing otherwise.
func (r *receiver) only(t *testing.T) received {
	t.Helper()
	reqs := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver saw %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// loopback is the allow-list every test server on 127.0.0.1 passes.
var loopback = webhook.Config{AllowHosts: []string{"127.0.0.1"}}

func TestCheck(t *testing.T) {
	c := webhook.New(webhook.Config{AllowHosts: []string{
		"127.0.0.1", "API.example.com:8443", "*.example.org", "*.svc.example.net:9000",
	}}, nil)
	cases := []struct {
		url     string
		allowed bool
	}{
		{"http://127.0.0.1/hook", true},
		{"http://127.0.0.1:8080/hook", true}, // a bare host admits any port
		{"https://api.example.com:8443/mo", true},
		{"https://API.EXAMPLE.COM:8443/mo", true}, // host names compare case-insensitively
		{"https://api.example.com/mo", false},     // host:port admits that port only
		{"https://api.example.com:9443/mo", false},
		{"https://hooks.example.org/mo", true},
		{"http://a.b.example.org:8080/mo", true},
		{"https://example.org/mo", false}, // "*." admits subdomains, not the domain
		{"https://evilexample.org/mo", false},
		{"https://example.org.evil.com/mo", false},
		{"http://x.svc.example.net:9000/", true},
		{"http://x.svc.example.net:9001/", false},
		{"http://x.svc.example.net/", false},
		{"http://127.0.0.2/hook", false},
		{"http://localhost/hook", false}, // the list names 127.0.0.1, not a name resolving to it
		{"http://169.254.169.254/latest/meta-data/", false},
	}
	for _, tc := range cases {
		err := c.Check(tc.url)
		switch {
		case tc.allowed && err != nil:
			t.Errorf("Check(%q) = %v, want allowed", tc.url, err)
		case !tc.allowed && !errors.Is(err, webhook.ErrNotAllowed):
			t.Errorf("Check(%q) = %v, want ErrNotAllowed", tc.url, err)
		}
	}
}

func TestCheckRefusesOtherSchemes(t *testing.T) {
	c := webhook.New(loopback, nil)
	for _, u := range []string{"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1:70/", "127.0.0.1/hook", "http://127.0.0.1:bad/"} {
		err := c.Check(u)
		if err == nil {
			t.Errorf("Check(%q) allowed", u)
			continue
		}
		if errors.Is(err, webhook.ErrNotAllowed) {
			t.Errorf("Check(%q) = %v: the scheme or syntax is wrong, not the host", u, err)
		}
	}
}

func TestEmptyAllowListAllowsNothing(t *testing.T) {
	r := newReceiver(t)
	_, err := webhook.New(webhook.Config{}, nil).Do(context.Background(), webhook.Request{URL: r.URL})
	if !errors.Is(err, webhook.ErrNotAllowed) || !gateway.IsGiveUp(err) {
		t.Fatalf("Do with an empty allow-list = %v, want a give-up ErrNotAllowed", err)
	}
	if n := len(r.requests()); n != 0 {
		t.Fatalf("receiver was called %d times", n)
	}
}

func TestDoHostNotAllowed(t *testing.T) {
	r := newReceiver(t)
	c := webhook.New(webhook.Config{AllowHosts: []string{"hooks.example.org"}}, nil)
	_, err := c.Do(context.Background(), webhook.Request{URL: r.URL + "/hook", Body: []byte("x")})
	if !errors.Is(err, webhook.ErrNotAllowed) {
		t.Fatalf("Do = %v, want ErrNotAllowed", err)
	}
	if !gateway.IsGiveUp(err) {
		t.Errorf("a host not allowed must give the task up: %v", err)
	}
	if n := len(r.requests()); n != 0 {
		t.Fatalf("receiver was called %d times", n)
	}

	_, err = c.Do(context.Background(), webhook.Request{URL: "ftp://hooks.example.org/x"})
	if err == nil || !gateway.IsGiveUp(err) {
		t.Errorf("Do with an ftp URL = %v, want a give-up error", err)
	}
}

func TestDoStatus(t *testing.T) {
	r := newReceiver(t)
	c := webhook.New(loopback, nil)
	cases := []struct {
		status int
		want   string // ok, retry or give up
	}{
		{200, "ok"}, {201, "ok"}, {202, "ok"}, {204, "ok"},
		{500, "retry"}, {502, "retry"}, {503, "retry"}, {504, "retry"},
		{408, "retry"}, {429, "retry"},
		{400, "give up"}, {401, "give up"}, {403, "give up"}, {404, "give up"},
		{405, "give up"}, {410, "give up"}, {422, "give up"},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			body := fmt.Sprintf("answer %d", tc.status)
			if tc.status == http.StatusNoContent {
				body = ""
			}
			r.answer(tc.status, body)
			resp, err := c.Do(context.Background(), webhook.Request{URL: r.URL + "/hook", Body: []byte(`{}`), ContentType: "application/json"})
			var got string
			switch {
			case err == nil:
				got = "ok"
			case gateway.IsGiveUp(err):
				got = "give up"
			default:
				got = "retry"
			}
			if got != tc.want {
				t.Fatalf("HTTP %d: Do = %v (%s), want %s", tc.status, err, got, tc.want)
			}
			if resp == nil {
				t.Fatalf("HTTP %d: no response returned", tc.status)
			}
			if resp.Status != tc.status || string(resp.Body) != body {
				t.Errorf("response = %d %q, want %d %q", resp.Status, resp.Body, tc.status, body)
			}
			if err != nil && !strings.Contains(err.Error(), strconv.Itoa(tc.status)) {
				t.Errorf("error %q does not say what the receiver answered", err)
			}
		})
	}
}

func TestDoConnectionRefusedIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = webhook.New(loopback, nil).Do(context.Background(), webhook.Request{URL: "http://" + addr + "/hook"})
	if err == nil {
		t.Fatal("Do to a closed port succeeded")
	}
	if gateway.IsGiveUp(err) || errors.Is(err, webhook.ErrNotAllowed) {
		t.Fatalf("a refused connection must be retried: %v", err)
	}
}

func TestDoTimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := webhook.New(webhook.Config{AllowHosts: []string{"127.0.0.1"}, Timeout: 50 * time.Millisecond}, nil)
	_, err := c.Do(context.Background(), webhook.Request{URL: srv.URL})
	if err == nil || gateway.IsGiveUp(err) {
		t.Fatalf("Do to a receiver that never answers = %v, want a retryable error", err)
	}
}

func TestDoSignsAndIdentifies(t *testing.T) {
	r := newReceiver(t)
	r.answer(http.StatusOK, `{"reply":"Your balance is KES 1,500"}`)
	body := []byte(`{"from":"+254712345678","text":"BAL 1234"}`)
	resp, err := webhook.New(loopback, nil).Do(context.Background(), webhook.Request{
		URL: r.URL + "/mo?src=smsgw", ContentType: "application/json", Body: body,
		Header: http.Header{"X-Tenant": {"mfi-a"}},
		Secret: "s3cret", ID: "mo:0190a1b2:webhook",
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"reply":"Your balance is KES 1,500"}` {
		t.Errorf("response body = %q", resp.Body)
	}
	got := r.only(t)
	if got.Method != http.MethodPost || got.Path != "/mo" {
		t.Errorf("request = %s %s, want POST /mo (a body defaults to POST)", got.Method, got.Path)
	}
	if !bytes.Equal(got.Body, body) {
		t.Errorf("body = %q, want %q", got.Body, body)
	}
	for h, want := range map[string]string{
		"Content-Type":     "application/json",
		"User-Agent":       "smsgw",
		"X-Smsgw-Delivery": "mo:0190a1b2:webhook",
		"X-Tenant":         "mfi-a",
	} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	ts, sig := got.Header.Get("X-Smsgw-Timestamp"), got.Header.Get("X-Smsgw-Signature")
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || sec <= 0 {
		t.Errorf("X-Smsgw-Timestamp = %q, want unix seconds", ts)
	}
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Errorf("X-Smsgw-Signature = %q, want sha256= and 64 hex digits", sig)
	}
	if !webhook.Verify("s3cret", ts, got.Body, sig) {
		t.Errorf("signature %q does not verify for the body and timestamp %s", sig, ts)
	}
	if webhook.Verify("wrong-secret", ts, got.Body, sig) {
		t.Error("signature verifies with a wrong secret")
	}
	if webhook.Verify("s3cret", ts+"0", got.Body, sig) {
		t.Error("signature verifies with another timestamp (a replay could move it)")
	}
	if webhook.Verify("s3cret", ts, append(got.Body, ' '), sig) {
		t.Error("signature verifies for a changed body")
	}
}

func TestDoGetWithoutBody(t *testing.T) {
	r := newReceiver(t)
	r.answer(http.StatusOK, "ok")
	resp, err := webhook.New(loopback, nil).Do(context.Background(), webhook.Request{URL: r.URL + "/dlr?id=42&status=1", ID: "dlr:42"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK || string(resp.Body) != "ok" {
		t.Errorf("response = %d %q", resp.Status, resp.Body)
	}
	got := r.only(t)
	if got.Method != http.MethodGet || len(got.Body) != 0 || got.Length != 0 {
		t.Errorf("request = %s with %d body bytes (Content-Length %d), want GET without a body", got.Method, len(got.Body), got.Length)
	}
	if te := got.Header.Get("Transfer-Encoding"); te != "" {
		t.Errorf("Transfer-Encoding = %q on a GET", te)
	}
	if got.Header.Get("X-Smsgw-Signature") != "" || got.Header.Get("X-Smsgw-Timestamp") != "" {
		t.Error("an unsigned request carries signature headers")
	}
	if got.Header.Get("X-Smsgw-Delivery") != "dlr:42" {
		t.Errorf("X-Smsgw-Delivery = %q", got.Header.Get("X-Smsgw-Delivery"))
	}
}

// TestRedirectStaysOnAllowList: an allowed receiver answering with a
// redirect must not lead the gateway to a host the list does not name.
func TestRedirectStaysOnAllowList(t *testing.T) {
	target := newReceiver(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/here", http.StatusFound)
			return
		}
		if r.URL.Path == "/here" {
			io.WriteString(w, "here")
			return
		}
		http.Redirect(w, r, target.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c := webhook.New(webhook.Config{AllowHosts: []string{srv.Listener.Addr().String()}}, nil)

	resp, err := c.Do(context.Background(), webhook.Request{URL: srv.URL + "/moved"})
	if err != nil || string(resp.Body) != "here" {
		t.Fatalf("redirect on the same allowed host: %v", err)
	}
	_, err = c.Do(context.Background(), webhook.Request{URL: srv.URL + "/away", Body: []byte("x"), Secret: "s"})
	if !errors.Is(err, webhook.ErrNotAllowed) || !gateway.IsGiveUp(err) {
		t.Fatalf("redirect off the allow-list: Do = %v, want a give-up ErrNotAllowed", err)
	}
	if n := len(target.requests()); n != 0 {
		t.Fatalf("the host not allowed was called %d times", n)
	}
}

func TestConfigValidate(t *testing.T) {
	c := webhook.Config{AllowHosts: []string{"ok.example.org", "", "http://x.org/"}, Timeout: -time.Second}
	var msgs []string
	for _, err := range c.Validate() {
		msgs = append(msgs, err.Error())
	}
	want := []string{
		`allow_hosts[1]: "" is not a host name`,
		`allow_hosts[2]: "http://x.org/" is not a host name`,
		"timeout: must be ≥ 0",
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("Validate:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}

// fakeInbounds is the engine as InboundHandler sees it.
type fakeInbounds struct {
	mu       sync.Mutex
	inbounds map[string]*gateway.Inbound
	keywords atomic.Pointer[keyword.Table]
	err      error // returned by GetInbound when set
}

func (f *fakeInbounds) GetInbound(_ context.Context, tenant, id string) (*gateway.Inbound, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	in := f.inbounds[id]
	if in == nil || (tenant != "" && in.Tenant != tenant) {
		return nil, fmt.Errorf("store: get inbound %s: %w", id, gateway.ErrNotFound)
	}
	c := *in
	return &c, nil
}

func (f *fakeInbounds) Keywords() *keyword.Table { return f.keywords.Load() }

func keywords(t *testing.T, rules ...keyword.Rule) *keyword.Table {
	t.Helper()
	tb, err := keyword.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// webhookTask is the task the engine stores for an inbound message that
// matched a rule with a webhook (gateway.Engine.route).
func webhookTask(t *testing.T, rule string, in *gateway.Inbound) gateway.Task {
	t.Helper()
	payload, err := json.Marshal(map[string]string{"rule": rule, "inbound": in.ID})
	if err != nil {
		t.Fatal(err)
	}
	return gateway.Task{ID: 7, Key: "mo:" + in.ID + ":webhook", Kind: gateway.TaskWebhook, Tenant: in.Tenant, Payload: payload}
}

func TestInboundHandler(t *testing.T) {
	r := newReceiver(t)
	in := &gateway.Inbound{
		ID: "0190f0a2-7c1e-7d3a-9b4f-5a6b7c8d9e0f", Tenant: "mfi-a", Carrier: "sim", CarrierRef: "smsc-1",
		From: "+254712345678", To: "22555", Text: "  bal   1234  5678 ", Keyword: "BAL",
		ReceivedAt: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC),
	}
	src := &fakeInbounds{inbounds: map[string]*gateway.Inbound{in.ID: in}}
	src.keywords.Store(keywords(t,
		keyword.Rule{Keywords: []string{"BAL"}, Webhook: &keyword.Webhook{URL: r.URL + "/bal", Secret: "bal-secret"}},
		keyword.Rule{Keywords: []string{"HELLO"}, Reply: "hi"},
	))
	h := webhook.New(loopback, nil).InboundHandler(src)
	task := webhookTask(t, "BAL", in)

	if err := h(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	got := r.only(t)
	if got.Method != http.MethodPost || got.Path != "/bal" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s (%s), want a JSON POST to /bal", got.Method, got.Path, got.Header.Get("Content-Type"))
	}
	var p webhook.InboundPayload
	dec := json.NewDecoder(bytes.NewReader(got.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("payload %s: %v", got.Body, err)
	}
	want := webhook.InboundPayload{
		ID: in.ID, Tenant: "mfi-a", Carrier: "sim", From: "+254712345678", To: "22555",
		Text: "  bal   1234  5678 ", Keyword: "BAL", Args: "1234  5678", ReceivedAt: in.ReceivedAt,
	}
	if !p.ReceivedAt.Equal(want.ReceivedAt) {
		t.Errorf("received_at = %v, want %v", p.ReceivedAt, want.ReceivedAt)
	}
	p.ReceivedAt = want.ReceivedAt
	if p != want {
		t.Errorf("payload:\n got %+v\nwant %+v", p, want)
	}
	for _, key := range []string{`"id"`, `"tenant"`, `"carrier"`, `"from"`, `"to"`, `"text"`, `"keyword"`, `"args"`, `"received_at"`} {
		if !bytes.Contains(got.Body, []byte(key+":")) {
			t.Errorf("payload lacks %s: %s", key, got.Body)
		}
	}
	if d := got.Header.Get("X-Smsgw-Delivery"); d != task.Key {
		t.Errorf("X-Smsgw-Delivery = %q, want the task key %q (the same on every retry)", d, task.Key)
	}
	ts, sig := got.Header.Get("X-Smsgw-Timestamp"), got.Header.Get("X-Smsgw-Signature")
	if !webhook.Verify("bal-secret", ts, got.Body, sig) {
		t.Errorf("payload is not signed with the rule's secret: %s", sig)
	}
	if webhook.Verify("other-secret", ts, got.Body, sig) {
		t.Error("signature verifies with another secret")
	}
}

func TestInboundHandlerFollowsReloads(t *testing.T) {
	before, after := newReceiver(t), newReceiver(t)
	in := &gateway.Inbound{ID: "in-1", Tenant: "mfi-a", Carrier: "sim", From: "+254712345678", To: "22555", Text: "BAL", Keyword: "BAL"}
	src := &fakeInbounds{inbounds: map[string]*gateway.Inbound{in.ID: in}}
	src.keywords.Store(keywords(t, keyword.Rule{Keywords: []string{"BAL"}, Webhook: &keyword.Webhook{URL: before.URL, Secret: "old"}}))
	h := webhook.New(loopback, nil).InboundHandler(src)
	task := webhookTask(t, "BAL", in)

	before.answer(http.StatusServiceUnavailable, "busy")
	err := h(context.Background(), task)
	if err == nil || gateway.IsGiveUp(err) {
		t.Fatalf("a 503 answer = %v, want a retryable error", err)
	}

	// A reload moves the rule's webhook and secret: the retry goes there.
	src.keywords.Store(keywords(t, keyword.Rule{Keywords: []string{"BAL"}, Webhook: &keyword.Webhook{URL: after.URL, Secret: "new"}}))
	if err := h(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	got := after.only(t)
	if !webhook.Verify("new", got.Header.Get("X-Smsgw-Timestamp"), got.Body, got.Header.Get("X-Smsgw-Signature")) {
		t.Error("the retry is not signed with the reloaded secret")
	}
	var p webhook.InboundPayload
	if err := json.Unmarshal(got.Body, &p); err != nil || p.ID != in.ID || p.Args != "" {
		t.Errorf("payload %s: %v", got.Body, err)
	}
	if n := len(before.requests()); n != 1 {
		t.Errorf("old webhook called %d times, want 1", n)
	}
}

func TestInboundHandlerGivesUp(t *testing.T) {
	r := newReceiver(t)
	in := &gateway.Inbound{ID: "in-1", Tenant: "mfi-a", Carrier: "sim", From: "+254712345678", To: "22555", Text: "BAL 1", Keyword: "BAL"}
	withHook := keywords(t, keyword.Rule{Keywords: []string{"BAL"}, Webhook: &keyword.Webhook{URL: r.URL, Secret: "s"}})
	cases := []struct {
		name  string
		table *keyword.Table
		task  gateway.Task
	}{
		{"rule removed", keywords(t, keyword.Rule{Keywords: []string{"DUE"}, Webhook: &keyword.Webhook{URL: r.URL}}), webhookTask(t, "BAL", in)},
		{"rule lost its webhook", keywords(t, keyword.Rule{Keywords: []string{"BAL"}, Reply: "later"}), webhookTask(t, "BAL", in)},
		{"no keyword table", nil, webhookTask(t, "BAL", in)},
		{"inbound message gone", withHook, webhookTask(t, "BAL", &gateway.Inbound{ID: "pruned", Tenant: "mfi-a"})},
		{"another tenant's message", withHook, webhookTask(t, "BAL", &gateway.Inbound{ID: in.ID, Tenant: "mfi-b"})},
		{"malformed payload", withHook, gateway.Task{Key: "mo:x:webhook", Kind: gateway.TaskWebhook, Tenant: "mfi-a", Payload: []byte("{")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeInbounds{inbounds: map[string]*gateway.Inbound{in.ID: in}}
			src.keywords.Store(tc.table)
			err := webhook.New(loopback, nil).InboundHandler(src)(context.Background(), tc.task)
			if !gateway.IsGiveUp(err) {
				t.Fatalf("handler = %v, want a give-up error", err)
			}
		})
	}
	if n := len(r.requests()); n != 0 {
		t.Fatalf("webhook called %d times", n)
	}

	// A rule whose webhook host is no longer allowed gives up too.
	src := &fakeInbounds{inbounds: map[string]*gateway.Inbound{in.ID: in}}
	src.keywords.Store(withHook)
	err := webhook.New(webhook.Config{AllowHosts: []string{"hooks.example.org"}}, nil).InboundHandler(src)(context.Background(), webhookTask(t, "BAL", in))
	if !errors.Is(err, webhook.ErrNotAllowed) || !gateway.IsGiveUp(err) {
		t.Fatalf("handler with the host off the allow-list = %v", err)
	}
}

func TestInboundHandlerRetriesStoreErrors(t *testing.T) {
	r := newReceiver(t)
	src := &fakeInbounds{err: errors.New("store: database is locked")}
	src.keywords.Store(keywords(t, keyword.Rule{Keywords: []string{"BAL"}, Webhook: &keyword.Webhook{URL: r.URL}}))
	err := webhook.New(loopback, nil).InboundHandler(src)(context.Background(), webhookTask(t, "BAL", &gateway.Inbound{ID: "in-1", Tenant: "mfi-a"}))
	if err == nil || gateway.IsGiveUp(err) {
		t.Fatalf("handler with a failing store = %v, want a retryable error", err)
	}
}

// TestRedirectToOtherSchemeIsPermanent: a 302 to file:// was retried 20
// times. A redirect to another scheme, or a redirect loop, now gives the
// task up at once.
func TestRedirectToOtherSchemeIsPermanent(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.URL.Path == "/loop" {
			http.Redirect(w, r, "/loop", http.StatusFound)
			return
		}
		w.Header().Set("Location", "file:///etc/passwd")
		w.WriteHeader(http.StatusFound)
	}))
	defer srv.Close()
	c := webhook.New(webhook.Config{AllowHosts: []string{"127.0.0.1"}}, nil)
	_, err := c.Do(context.Background(), webhook.Request{URL: srv.URL + "/hook"})
	if !errors.Is(err, webhook.ErrScheme) || !gateway.IsGiveUp(err) {
		t.Fatalf("302 to file:// = %v, want a give-up ErrScheme", err)
	}
	if calls != 1 {
		t.Fatalf("receiver called %d times, want 1", calls)
	}
	_, err = c.Do(context.Background(), webhook.Request{URL: srv.URL + "/loop"})
	if !errors.Is(err, webhook.ErrRedirectLoop) || !gateway.IsGiveUp(err) {
		t.Fatalf("redirect loop = %v, want a give-up ErrRedirectLoop", err)
	}
}
