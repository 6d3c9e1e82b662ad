package vonage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/internal/testutil/sinktest"
)

const testHook = "https://sms.example.org/webhooks/vonage/status"

// newFake is a fake of the API that checks each request against the
// documented /sms/json shape and answers one accepted message unless told
// otherwise (Answer).
func newFake(t *testing.T) *testutil.FormServer {
	return testutil.NewFormServer(t, func(r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/sms/json" {
			t.Errorf("%s %s, want POST /sms/json", r.Method, r.URL.Path)
		}
		if r.PostForm.Get("api_key") != "key" || r.PostForm.Get("api_secret") != "secret" {
			t.Errorf("credentials %q/%q", r.PostForm.Get("api_key"), r.PostForm.Get("api_secret"))
		}
	}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"message-count":"1","messages":[{"to":"254712345678","message-id":"0c000000217b7f02","status":"0","remaining-balance":"15.53590000","message-price":"0.03330000","network":"63902"}]}`)
	})
}

func testConfig(base string) Config {
	return Config{BaseURL: base, APIKey: "key", APISecret: "secret", From: "MyMFI", StatusCallbackURL: testHook}
}

func start(t *testing.T, cfg Config, reg prometheus.Registerer) (*Connector, *sinktest.Sink) {
	t.Helper()
	c, err := New("vonage", cfg, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return c, sinktest.Start(t, c)
}

func TestSubmitSendsDocumentedRequest(t *testing.T) {
	f := newFake(t)
	reg := prometheus.NewRegistry()
	c, _ := start(t, testConfig(f.URL), reg)
	m := &gateway.Message{ID: "019a-msg", To: "+254712345678", From: "ignored", Text: "Loan due Friday", Encoding: gateway.EncodingGSM7, Parts: make([]gateway.Part, 1)}
	res := c.Submit(context.Background(), m, []int{0})
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	want := url.Values{
		"api_key": {"key"}, "api_secret": {"secret"}, "from": {"MyMFI"}, "to": {"254712345678"},
		"text": {"Loan due Friday"}, "status-report-req": {"1"}, "client-ref": {"019a-msg"}, "callback": {testHook},
	}
	if got := reqs[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("form\n%v\nwant\n%v", got, want)
	}
	if res[0].Err != nil || res[0].CarrierID != "0C000000217B7F02" {
		t.Errorf("result %+v, want the upper-cased message-id", res[0])
	}
	var b dto.Metric
	if err := newBalance(reg, "vonage").Write(&b); err != nil || b.GetGauge().GetValue() != 15.5359 {
		t.Errorf("balance gauge %v (%v), want 15.5359", b.GetGauge().GetValue(), err)
	}
}

func TestSubmitUnicodeType(t *testing.T) {
	f := newFake(t)
	c, _ := start(t, testConfig(f.URL), nil)
	for _, m := range []*gateway.Message{
		{ID: "a", To: "+254712345678", Text: "Habari ✓", Encoding: gateway.EncodingUCS2},
		{ID: "b", To: "+254712345678", Text: "Привет"}, // not classified: detected
	} {
		c.Submit(context.Background(), m, []int{0})
	}
	for i, r := range f.Requests() {
		if r.Get("type") != "unicode" {
			t.Errorf("request %d: type %q, want unicode", i, r.Get("type"))
		}
	}
}

func TestSubmitMultipartIDs(t *testing.T) {
	f := newFake(t)
	f.Answer = func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"message-count":"2","messages":[{"message-id":"AAA1","status":"0"},{"message-id":"AAA2","status":"0"}]}`)
	}
	c, _ := start(t, testConfig(f.URL), nil)
	m := &gateway.Message{ID: "m", To: "+254712345678", Text: strings.Repeat("x", 200), Parts: make([]gateway.Part, 2)}
	res := c.Submit(context.Background(), m, []int{0, 1})
	if res[0].CarrierID != "AAA1" || res[1].CarrierID != "AAA2" {
		t.Errorf("results %+v, want one id per part", res)
	}
	res = c.Submit(context.Background(), m, []int{1})
	if len(f.Requests()) != 2 || res[0].Index != 1 || res[0].CarrierID != "AAA2" {
		t.Errorf("retry of part 1: %+v after %d requests", res, len(f.Requests()))
	}
	// Vonage split into a different count than we did: first id for all.
	m3 := &gateway.Message{ID: "m3", To: "+254712345678", Text: "x", Parts: make([]gateway.Part, 3)}
	for _, r := range c.Submit(context.Background(), m3, []int{0, 1, 2}) {
		if r.CarrierID != "AAA1" {
			t.Errorf("part %d: id %q, want AAA1", r.Index, r.CarrierID)
		}
	}
}

func TestSubmitStatusDecisions(t *testing.T) {
	for code, want := range map[string]gateway.Decision{
		"1": gateway.Retry, "2": gateway.Permanent, "3": gateway.Permanent, "4": gateway.NextRoute,
		"5": gateway.Retry, "6": gateway.Permanent, "7": gateway.Permanent, "8": gateway.NextRoute,
		"9": gateway.NextRoute, "10": gateway.Retry, "15": gateway.NextRoute, "29": gateway.NextRoute,
		"33": gateway.Permanent, "99": gateway.Permanent,
	} {
		t.Run("status "+code, func(t *testing.T) {
			f := newFake(t)
			f.Answer = func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprintf(w, `{"message-count":"1","messages":[{"status":%q,"error-text":"refused"}]}`, code)
			}
			c, _ := start(t, testConfig(f.URL), nil)
			res := c.Submit(context.Background(), &gateway.Message{ID: "m", To: "+254712345678", Text: "x", Parts: make([]gateway.Part, 1)}, []int{0})
			var se *gateway.SubmitError
			if !errors.As(res[0].Err, &se) || se.Decision != want || se.Code != "vonage:"+code {
				t.Fatalf("got %v, want vonage:%s %s", res[0].Err, code, want)
			}
		})
	}
}

func TestSubmitHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   gateway.Decision
		code   string
	}{
		{401, `{"type":"unauthorized"}`, gateway.NextRoute, "http:401"},
		{429, ``, gateway.Retry, "http:429"},
		{500, ``, gateway.Retry, "http:500"},
		{400, `bad`, gateway.Permanent, "http:400"},
		{200, `not json`, gateway.Retry, "vonage:bad_answer"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			f := newFake(t)
			f.Answer = func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}
			c, _ := start(t, testConfig(f.URL), nil)
			res := c.Submit(context.Background(), &gateway.Message{ID: "m", To: "+254712345678", Text: "x"}, []int{0})
			var se *gateway.SubmitError
			if !errors.As(res[0].Err, &se) || se.Decision != tc.want || se.Code != tc.code {
				t.Fatalf("got %v, want %s %s", res[0].Err, tc.code, tc.want)
			}
		})
	}
}

func TestSubmitTimeoutIsRetry(t *testing.T) {
	f := newFake(t)
	f.Answer = func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	cfg := testConfig(f.URL)
	cfg.Timeout = 50 * time.Millisecond
	c, _ := start(t, cfg, nil)
	res := c.Submit(context.Background(), &gateway.Message{ID: "m", To: "+254712345678", Text: "x"}, []int{0})
	var se *gateway.SubmitError
	if !errors.As(res[0].Err, &se) || se.Decision != gateway.Retry || se.Code != "http:timeout" {
		t.Fatalf("got %v, want a Retry http:timeout", res[0].Err)
	}
}

// Vonage's SDK test vector: a=1, b=2, timestamp=1461605396 with secret
// "secret" sign (md5hash) to 6af838ef94998832dbfc29020b564830.
func TestSignatureKnownVector(t *testing.T) {
	p := url.Values{"a": {"1"}, "b": {"2"}, "timestamp": {"1461605396"}}
	if got := Signature(SignMD5Hash, "secret", p); got != "6af838ef94998832dbfc29020b564830" {
		t.Errorf("Signature = %s", got)
	}
	p.Set("sig", "6AF838EF94998832DBFC29020B564830")
	if !ValidSignature(SignMD5Hash, "secret", p) {
		t.Error("upper-case sig refused")
	}
	p.Set("b", "3")
	if ValidSignature(SignMD5Hash, "secret", p) {
		t.Error("tampered parameter accepted")
	}
}

func receipt(status string) url.Values {
	return url.Values{
		"msisdn": {"254712345678"}, "to": {"MyMFI"}, "network-code": {"63902"}, "messageId": {"0c000000217b7f02"},
		"price": {"0.03330000"}, "status": {status}, "scts": {"2601151230"}, "err-code": {"0"},
		"client-ref": {"019a-msg"}, "message-timestamp": {"2026-01-15 12:30:00"},
	}
}

func TestWebhookMapsEachStatus(t *testing.T) {
	for state, want := range map[string]gateway.Status{
		"delivered": gateway.StatusDelivered, "expired": gateway.StatusExpired, "failed": gateway.StatusUndelivered,
		"rejected": gateway.StatusRejected, "accepted": "", "buffered": "", "unknown": "",
	} {
		t.Run(state, func(t *testing.T) {
			c, s := start(t, testConfig("http://unused.invalid"), nil)
			form := receipt(state)
			if state == "failed" {
				form.Set("err-code", "6")
			}
			r := httptest.NewRequest(http.MethodPost, "/status", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			c.WebhookHandler().ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("answer %d, want 200", w.Code)
			}
			rs := s.Receipts()
			if len(rs) != 1 {
				t.Fatalf("sink got %d receipts", len(rs))
			}
			got := rs[0]
			wantErr := map[bool]string{true: "6"}[state == "failed"]
			if got.Carrier != "vonage" || got.CarrierID != "0C000000217B7F02" || got.Status != want || got.State != state ||
				got.Error != wantErr || !got.Time.Equal(time.Date(2026, 1, 15, 12, 30, 0, 0, time.UTC)) {
				t.Errorf("receipt %+v, want status %q", got, want)
			}
		})
	}
}

func TestWebhookGETAndJSON(t *testing.T) {
	c, s := start(t, testConfig("http://unused.invalid"), nil)
	get := httptest.NewRequest(http.MethodGet, "/status?"+receipt("delivered").Encode(), nil)
	post := httptest.NewRequest(http.MethodPost, "/status",
		strings.NewReader(`{"msisdn":"254712345678","messageId":"0C000000217B7F02","status":"expired","err-code":"0","scts":"2601151230"}`))
	post.Header.Set("Content-Type", "application/json")
	for _, r := range []*http.Request{get, post} {
		w := httptest.NewRecorder()
		c.WebhookHandler().ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Errorf("%s: answer %d", r.Method, w.Code)
		}
	}
	if rs := s.Receipts(); len(rs) != 2 || rs[0].Status != gateway.StatusDelivered || rs[1].Status != gateway.StatusExpired {
		t.Errorf("receipts %+v", rs)
	}
}

func TestWebhookMissingFieldsIs400(t *testing.T) {
	c, s := start(t, testConfig("http://unused.invalid"), nil)
	r := httptest.NewRequest(http.MethodGet, "/status?status=delivered", nil)
	w := httptest.NewRecorder()
	c.WebhookHandler().ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || len(s.Receipts()) != 0 {
		t.Fatalf("answer %d with %d receipts stored, want 400 and none", w.Code, len(s.Receipts()))
	}
}

func TestWebhookSignedReceipts(t *testing.T) {
	for _, method := range []string{SignMD5Hash, SignSHA256} {
		t.Run(method, func(t *testing.T) {
			cfg := testConfig("http://unused.invalid")
			cfg.SignatureSecret, cfg.SignatureMethod = "sigsecret", method
			c, s := start(t, cfg, nil)
			serve := func(form url.Values) int {
				w := httptest.NewRecorder()
				c.WebhookHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/status?"+form.Encode(), nil))
				return w.Code
			}
			form := receipt("delivered")
			form.Set("timestamp", "1768480200")
			if code := serve(form); code != http.StatusForbidden {
				t.Errorf("unsigned: answer %d, want 403", code)
			}
			form.Set("sig", Signature(method, "other", form))
			if code := serve(form); code != http.StatusForbidden {
				t.Errorf("wrong secret: answer %d, want 403", code)
			}
			form.Set("sig", strings.ToUpper(Signature(method, "sigsecret", form)))
			form.Set("status", "failed") // tampered after signing
			if code := serve(form); code != http.StatusForbidden {
				t.Errorf("tampered: answer %d, want 403", code)
			}
			if len(s.Receipts()) != 0 {
				t.Fatal("an unverified receipt reached the sink")
			}
			form.Set("status", "delivered")
			if code := serve(form); code != http.StatusOK {
				t.Errorf("signed: answer %d, want 200", code)
			}
			if len(s.Receipts()) != 1 {
				t.Errorf("signed receipt not stored")
			}
		})
	}
}

func TestWebhookSinkErrorIs503(t *testing.T) {
	c, s := start(t, testConfig("http://unused.invalid"), nil)
	s.Fail(errors.New("store closed"))
	w := httptest.NewRecorder()
	c.WebhookHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/status?"+receipt("delivered").Encode(), nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d, want 503 so Vonage retries", w.Code)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{"api_key: required", "api_secret: required", "from: required"}},
		{"bad values", Config{
			APIKey: "k", APISecret: "s", From: "f", StatusCallbackURL: "nope", SignatureMethod: "sha3", Concurrency: -1,
		}, []string{
			"concurrency: must be 1..1000, got -1",
			`status_callback_url: must be an absolute http(s) URL, got "nope"`,
			`signature_method: must be md5hash, md5, sha1, sha256 or sha512, got "sha3"`,
		}},
		{"method without secret", Config{APIKey: "k", APISecret: "s", From: "f", SignatureMethod: "sha1"},
			[]string{"signature_method: set, but signature_secret is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range tc.cfg.Validate() {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	cfg := Config{APIKey: "k", APISecret: "s", From: "f", SignatureSecret: "x"}
	if errs := cfg.Validate(); len(errs) != 0 || cfg.BaseURL != DefaultBaseURL || cfg.SignatureMethod != SignMD5Hash {
		t.Errorf("defaults: %v %+v", errs, cfg)
	}
}
