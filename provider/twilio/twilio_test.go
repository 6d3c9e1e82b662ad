package twilio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/internal/testutil/sinktest"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "s3cr3t-token"
	testHook  = "https://sms.example.org/webhooks/twilio/status"
)

// newFake is a fake of the API that checks each request against the
// documented Messages API shape and answers 201 with a sid unless told
// otherwise (Answer).
func newFake(t *testing.T) *testutil.FormServer {
	return testutil.NewFormServer(t, func(r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("method %s, want POST", r.Method)
		}
		if want := "/2010-04-01/Accounts/" + testSID + "/Messages.json"; r.URL.Path != want {
			t.Errorf("path %s, want %s", r.URL.Path, want)
		}
		if u, p, ok := r.BasicAuth(); !ok || u != testSID || p != testToken {
			t.Errorf("basic auth %q:%q, want the account sid and token", u, p)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("content type %q", ct)
		}
	}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","error_code":null}`)
	})
}

func testConfig(base string) Config {
	return Config{BaseURL: base, AccountSID: testSID, AuthToken: testToken, From: "+15005550006", StatusCallbackURL: testHook}
}

func start(t *testing.T, cfg Config, reg prometheus.Registerer) (*Connector, *sinktest.Sink) {
	t.Helper()
	c, err := New("twilio", cfg, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return c, sinktest.Start(t, c)
}

func message(parts int) *gateway.Message {
	return &gateway.Message{ID: "m1", To: "+254712345678", From: "MFI", Text: strings.Repeat("x", 150*parts), Parts: make([]gateway.Part, parts)}
}

func TestSubmitSendsOneDocumentedRequestPerMessage(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(f.URL)
	cfg.MessagingServiceSID = "MG0123456789abcdef0123456789abcdef"
	c, _ := start(t, cfg, nil)
	m := message(3)
	res := c.Submit(context.Background(), m, []int{0, 1, 2})
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests for one message, want 1", len(reqs))
	}
	want := url.Values{
		"To": {"+254712345678"}, "From": {"+15005550006"}, "MessagingServiceSid": {cfg.MessagingServiceSID},
		"Body": {m.Text}, "StatusCallback": {testHook},
	}
	for k, v := range want {
		if got := reqs[0][k]; len(got) != 1 || got[0] != v[0] {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(reqs[0]) != len(want) {
		t.Errorf("form has fields %v, want exactly %v", reqs[0], want)
	}
	for i, r := range res {
		if r.Err != nil || r.Index != i || r.CarrierID != "SM0123456789abcdef0123456789abcdef" {
			t.Errorf("part %d: %+v", i, r)
		}
	}
}

func TestSubmitSubsetSendsWholeTextOnce(t *testing.T) {
	f := newFake(t)
	c, _ := start(t, testConfig(f.URL), nil)
	m := message(3)
	res := c.Submit(context.Background(), m, []int{2, 1})
	reqs := f.Requests()
	if len(reqs) != 1 || reqs[0].Get("Body") != m.Text {
		t.Fatalf("requests %v, want one with the whole text", reqs)
	}
	if len(res) != 2 || res[0].Index != 2 || res[1].Index != 1 || res[0].CarrierID == "" || res[0].CarrierID != res[1].CarrierID {
		t.Fatalf("results %+v, want parts 2 and 1 with the same sid", res)
	}
}

func TestSubmitErrorDecisions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   gateway.Decision
		code   string
	}{
		{"invalid To", 400, `{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}`, gateway.Permanent, "twilio:21211"},
		{"unsubscribed", 400, `{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}`, gateway.Permanent, "twilio:21610"},
		{"region not enabled", 400, `{"code":21408,"message":"Permission to send an SMS has not been enabled","status":400}`, gateway.NextRoute, "twilio:21408"},
		{"unknown 400 code", 400, `{"code":21999,"message":"?","status":400}`, gateway.Permanent, "twilio:21999"},
		{"auth", 401, `{"code":20003,"message":"Authenticate","status":401}`, gateway.NextRoute, "twilio:20003"},
		{"forbidden no body", 403, ``, gateway.NextRoute, "http:403"},
		{"wrong account", 404, `{"code":20404,"message":"not found","status":404}`, gateway.NextRoute, "twilio:20404"},
		{"throttled", 429, `{"code":20429,"message":"Too Many Requests","status":429}`, gateway.Retry, "twilio:20429"},
		{"server error", 500, `<html>oops</html>`, gateway.Retry, "http:500"},
		{"unavailable", 503, ``, gateway.Retry, "http:503"},
		{"other 4xx", 422, `nope`, gateway.Permanent, "http:422"},
		{"2xx not understood", 201, `not json`, gateway.Retry, "twilio:bad_answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.Answer = func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}
			c, _ := start(t, testConfig(f.URL), nil)
			res := c.Submit(context.Background(), message(2), []int{0, 1})
			for _, r := range res {
				var se *gateway.SubmitError
				if !errors.As(r.Err, &se) {
					t.Fatalf("part %d: %v is not a SubmitError", r.Index, r.Err)
				}
				if se.Decision != tc.want || se.Code != tc.code || r.CarrierID != "" {
					t.Errorf("part %d: %s %s (id %q), want %s %s", r.Index, se.Code, se.Decision, r.CarrierID, tc.code, tc.want)
				}
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
	res := c.Submit(context.Background(), message(1), []int{0})
	var se *gateway.SubmitError
	if !errors.As(res[0].Err, &se) || se.Decision != gateway.Retry || se.Code != "http:timeout" {
		t.Fatalf("got %v, want a Retry http:timeout", res[0].Err)
	}
}

func TestSubmitUnreachableIsRetry(t *testing.T) {
	f := newFake(t)
	f.Close()
	c, _ := start(t, testConfig(f.URL), nil)
	res := c.Submit(context.Background(), message(1), []int{0})
	var se *gateway.SubmitError
	if !errors.As(res[0].Err, &se) || se.Decision != gateway.Retry || se.Code != "http:transport" {
		t.Fatalf("got %v, want a Retry http:transport", res[0].Err)
	}
}

// Twilio's documented example (its SDKs' request-validator tests): auth
// token 12345, this URL and these parameters sign to this value.
func TestSignatureKnownVector(t *testing.T) {
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
	}
	if got := Signature("12345", u, params); got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Errorf("Signature = %s, want Twilio's RSOYDt4T1cUTdK1PDd93/VVr8B8=", got)
	}
	if !ValidSignature("12345", "https://mycompany.com:1234/myapp.php?foo=1&bar=2", params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("signature of the URL without its port refused for the URL with one")
	}
	repeated := url.Values{"Sid": {"CA123"}, "SidAccount": {"AC123"}, "Digits": {"5678", "1234", "1234"}}
	if got := Signature("12345", u, repeated); got != "IK+Dwps556ElfBT0I3Rgjkr1wJU=" {
		t.Errorf("repeated parameters sign to %s, want IK+Dwps556ElfBT0I3Rgjkr1wJU=", got)
	}
	params.Set("Digits", "9999")
	if ValidSignature("12345", u, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("tampered parameter accepted")
	}
}

// post sends a status callback the way Twilio does, signed with token
// unless sig is given ("" sends none).
func post(t *testing.T, h http.Handler, form url.Values, sig *string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/status", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s := Signature(testToken, testHook, form)
	if sig != nil {
		s = *sig
	}
	if s != "" {
		r.Header.Set(SignatureHeader, s)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func callback(status string) url.Values {
	return url.Values{
		"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "SmsSid": {"SM0123456789abcdef0123456789abcdef"},
		"MessageStatus": {status}, "SmsStatus": {status}, "AccountSid": {testSID},
		"From": {"+15005550006"}, "To": {"+254712345678"}, "ApiVersion": {"2010-04-01"},
	}
}

func TestWebhookMapsEachStatus(t *testing.T) {
	for state, want := range map[string]gateway.Status{
		"delivered": gateway.StatusDelivered, "undelivered": gateway.StatusUndelivered, "failed": gateway.StatusUndelivered,
		"queued": "", "sending": "", "sent": "", "accepted": "",
	} {
		t.Run(state, func(t *testing.T) {
			c, s := start(t, testConfig("http://unused.invalid"), nil)
			form := callback(state)
			if want == gateway.StatusUndelivered {
				form.Set("ErrorCode", "30003")
			}
			if w := post(t, c.WebhookHandler(), form, nil); w.Code != http.StatusOK {
				t.Fatalf("answer %d %s, want 200", w.Code, w.Body)
			}
			rs := s.Receipts()
			if len(rs) != 1 {
				t.Fatalf("sink got %d receipts, want 1", len(rs))
			}
			r := rs[0]
			if r.Carrier != "twilio" || r.CarrierID != "SM0123456789abcdef0123456789abcdef" || r.Status != want || r.State != state || r.Time.IsZero() {
				t.Errorf("receipt %+v, want status %q", r, want)
			}
			if want == gateway.StatusUndelivered && r.Error != "30003" {
				t.Errorf("error %q, want 30003", r.Error)
			}
		})
	}
}

func TestWebhookRefusesMissingOrForgedSignature(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, s := start(t, testConfig("http://unused.invalid"), reg)
	form := callback("delivered")
	none, forged := "", Signature("not-the-token", testHook, form)
	wrongURL := Signature(testToken, "https://evil.example/status", form)
	for name, sig := range map[string]*string{"missing": &none, "forged": &forged, "other URL": &wrongURL} {
		if w := post(t, c.WebhookHandler(), form, sig); w.Code != http.StatusForbidden {
			t.Errorf("%s signature: answer %d, want 403", name, w.Code)
		}
	}
	// Signed, then tampered with in transit.
	good := Signature(testToken, testHook, form)
	form.Set("MessageStatus", "failed")
	if w := post(t, c.WebhookHandler(), form, &good); w.Code != http.StatusForbidden {
		t.Errorf("tampered body: answer %d, want 403", w.Code)
	}
	if rs := s.Receipts(); len(rs) != 0 {
		t.Fatalf("sink got %+v from unsigned callbacks", rs)
	}
	if n := webhooks(t, reg, "forbidden"); n != 4 {
		t.Errorf("forbidden webhooks counted %v, want 4", n)
	}
}

// webhooks reads smsgw_provider_webhooks_total{result} from reg.
func webhooks(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "smsgw_provider_webhooks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no smsgw_provider_webhooks_total{result=%q}", result)
	return 0
}

func TestWebhookSinkErrorIs503(t *testing.T) {
	c, s := start(t, testConfig("http://unused.invalid"), nil)
	s.Fail(errors.New("disk full"))
	if w := post(t, c.WebhookHandler(), callback("delivered"), nil); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d, want 503 so Twilio retries", w.Code)
	}
}

func TestWebhookMissingFieldsIs400(t *testing.T) {
	c, s := start(t, testConfig("http://unused.invalid"), nil)
	form := url.Values{"AccountSid": {testSID}, "MessageStatus": {"delivered"}}
	if w := post(t, c.WebhookHandler(), form, nil); w.Code != http.StatusBadRequest {
		t.Fatalf("answer %d, want 400", w.Code)
	}
	if len(s.Receipts()) != 0 {
		t.Fatal("a receipt without a sid reached the sink")
	}
}

func TestWebhookOnlyPOSTStatus(t *testing.T) {
	c, _ := start(t, testConfig("http://unused.invalid"), nil)
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/status", nil),
		httptest.NewRequest(http.MethodPost, "/other", nil),
	} {
		w := httptest.NewRecorder()
		c.WebhookHandler().ServeHTTP(w, r)
		if w.Code != http.StatusMethodNotAllowed && w.Code != http.StatusNotFound {
			t.Errorf("%s %s: answer %d", r.Method, r.URL.Path, w.Code)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{
			"account_sid: required", "auth_token: required", "from: required unless messaging_service_sid is set",
			"status_callback_url: required: without it no delivery status ever arrives",
		}},
		{"bad values", Config{
			BaseURL: "ftp://x", AccountSID: "XX1", AuthToken: "t", MessagingServiceSID: "AB1",
			StatusCallbackURL: "/relative", Timeout: -1, TPS: -2, Concurrency: 5000,
		}, []string{
			`base_url: must be an absolute http(s) URL, got "ftp://x"`,
			"timeout: must be positive, got -1ns",
			"tps: must be ≥ 0 (0 = unlimited), got -2",
			"concurrency: must be 1..1000, got 5000",
			`account_sid: must be "AC" followed by 32 characters, as in the Twilio console`,
			`messaging_service_sid: must start with "MG"`,
			`status_callback_url: must be an absolute http(s) URL, got "/relative"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.cfg.Validate()
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	cfg := testConfig("")
	if errs := cfg.Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if cfg.BaseURL != DefaultBaseURL || cfg.Timeout != 10*time.Second || cfg.Concurrency != 16 {
		t.Errorf("defaults not filled: %+v", cfg)
	}
	if _, err := New("t", Config{}, Options{}); err == nil || !strings.Contains(err.Error(), `twilio: carrier "t": account_sid: required`) {
		t.Errorf("New with an empty config: %v", err)
	}
}
