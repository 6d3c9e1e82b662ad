package africastalking

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

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/internal/testutil/sinktest"
)

const testToken = "0123456789abcdef-token"

// newFake is a fake of the API that checks each request against the
// documented /version1/messaging shape and answers one recipient sent
// unless told otherwise (Answer).
func newFake(t *testing.T) *testutil.FormServer {
	return testutil.NewFormServer(t, func(r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/version1/messaging" {
			t.Errorf("%s %s, want POST /version1/messaging", r.Method, r.URL.Path)
		}
		if r.Header.Get("apiKey") != "atkey" || r.Header.Get("Accept") != "application/json" {
			t.Errorf("headers apiKey=%q Accept=%q", r.Header.Get("apiKey"), r.Header.Get("Accept"))
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("content type %q", ct)
		}
	}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"SMSMessageData":{"Message":"Sent to 1/1 Total Cost: KES 0.8000","Recipients":[{"statusCode":101,"number":"+254712345678","status":"Success","cost":"KES 0.8000","messageId":"ATXid_0123456789"}]}}`)
	})
}

func testConfig(base string) Config {
	return Config{BaseURL: base, Username: "mfi", APIKey: "atkey", From: "MFI-BANK", CallbackToken: testToken}
}

func start(t *testing.T, cfg Config) (*Connector, *sinktest.Sink) {
	t.Helper()
	c, err := New("at", cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, sinktest.Start(t, c)
}

func message(parts int) *gateway.Message {
	return &gateway.Message{ID: "m1", To: "+254712345678", From: "ignored", Text: strings.Repeat("y", 150*parts), Parts: make([]gateway.Part, parts)}
}

func TestSubmitSendsDocumentedRequest(t *testing.T) {
	f := newFake(t)
	c, _ := start(t, testConfig(f.URL))
	m := message(2)
	res := c.Submit(context.Background(), m, []int{0, 1})
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	want := url.Values{"username": {"mfi"}, "to": {"+254712345678"}, "message": {m.Text}, "from": {"MFI-BANK"}}
	if fmt.Sprint(reqs[0]) != fmt.Sprint(want) {
		t.Errorf("form\n%v\nwant\n%v", reqs[0], want)
	}
	for _, r := range res {
		if r.Err != nil || r.CarrierID != "ATXid_0123456789" {
			t.Errorf("part %d: %+v", r.Index, r)
		}
	}
}

func TestSubmitWithoutFromUsesAccountDefault(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(f.URL)
	cfg.From = ""
	c, _ := start(t, cfg)
	c.Submit(context.Background(), message(1), []int{0})
	if r := f.Requests()[0]; r.Has("from") {
		t.Errorf("from sent as %q, want it left out", r.Get("from"))
	}
}

func TestSubmitStatusCodeDecisions(t *testing.T) {
	for code, want := range map[int]gateway.Decision{
		401: gateway.Permanent, 402: gateway.NextRoute, 403: gateway.Permanent, 404: gateway.NextRoute,
		405: gateway.NextRoute, 406: gateway.Permanent, 407: gateway.NextRoute, 409: gateway.Permanent,
		500: gateway.Retry, 501: gateway.Retry, 502: gateway.Permanent, 999: gateway.Permanent,
	} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newFake(t)
			f.Answer = func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusCreated)
				fmt.Fprintf(w, `{"SMSMessageData":{"Message":"Sent to 0/1","Recipients":[{"statusCode":%d,"number":"+254712345678","status":"X","cost":"0","messageId":"None"}]}}`, code)
			}
			c, _ := start(t, testConfig(f.URL))
			res := c.Submit(context.Background(), message(1), []int{0})
			var se *gateway.SubmitError
			if !errors.As(res[0].Err, &se) || se.Decision != want || se.Code != fmt.Sprintf("africastalking:%d", code) {
				t.Fatalf("got %v, want africastalking:%d %s", res[0].Err, code, want)
			}
		})
	}
	for _, code := range []int{100, 101, 102} {
		f := newFake(t)
		f.Answer = func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `{"SMSMessageData":{"Recipients":[{"statusCode":%d,"messageId":"ATXid_1"}]}}`, code)
		}
		c, _ := start(t, testConfig(f.URL))
		if res := c.Submit(context.Background(), message(1), []int{0}); res[0].Err != nil || res[0].CarrierID != "ATXid_1" {
			t.Errorf("statusCode %d: %+v, want accepted", code, res[0])
		}
	}
}

func TestSubmitHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   gateway.Decision
		code   string
	}{
		{401, `The supplied authentication is invalid`, gateway.NextRoute, "http:401"},
		{500, ``, gateway.Retry, "http:500"},
		{400, `Invalid phone number`, gateway.Permanent, "http:400"},
		{201, `{"SMSMessageData":{"Message":"InvalidSenderId","Recipients":[]}}`, gateway.NextRoute, "africastalking:no_recipients"},
		{201, `<html>`, gateway.Retry, "africastalking:bad_answer"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			f := newFake(t)
			f.Answer = func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}
			c, _ := start(t, testConfig(f.URL))
			res := c.Submit(context.Background(), message(1), []int{0})
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
	c, _ := start(t, cfg)
	res := c.Submit(context.Background(), message(1), []int{0})
	var se *gateway.SubmitError
	if !errors.As(res[0].Err, &se) || se.Decision != gateway.Retry || se.Code != "http:timeout" {
		t.Fatalf("got %v, want a Retry http:timeout", res[0].Err)
	}
}

// report posts a delivery report the way Africa's Talking does, to
// /status?token=token ("" sends no token).
func report(t *testing.T, h http.Handler, token string, form url.Values) int {
	t.Helper()
	target := "/status"
	if token != "" {
		target += "?token=" + url.QueryEscape(token)
	}
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func dlr(status string) url.Values {
	return url.Values{"id": {"ATXid_0123456789"}, "status": {status}, "phoneNumber": {"+254712345678"}, "networkCode": {"63902"}, "retryCount": {"0"}}
}

func TestWebhookMapsEachStatus(t *testing.T) {
	for state, want := range map[string]gateway.Status{
		"Success": gateway.StatusDelivered, "Failed": gateway.StatusUndelivered, "Rejected": gateway.StatusRejected,
		"Sent": "", "Submitted": "", "Buffered": "",
	} {
		t.Run(state, func(t *testing.T) {
			c, s := start(t, testConfig("http://unused.invalid"))
			form := dlr(state)
			if state == "Failed" {
				form.Set("failureReason", "AbsentSubscriber")
			}
			if code := report(t, c.WebhookHandler(), testToken, form); code != http.StatusOK {
				t.Fatalf("answer %d, want 200", code)
			}
			rs := s.Receipts()
			if len(rs) != 1 {
				t.Fatalf("sink got %d receipts", len(rs))
			}
			r := rs[0]
			if r.Carrier != "at" || r.CarrierID != "ATXid_0123456789" || r.Status != want || r.State != state {
				t.Errorf("receipt %+v, want status %q", r, want)
			}
			if state == "Failed" && r.Error != "AbsentSubscriber" {
				t.Errorf("error %q, want the failureReason", r.Error)
			}
		})
	}
}

func TestWebhookToken(t *testing.T) {
	c, s := start(t, testConfig("http://unused.invalid"))
	for _, tok := range []string{"", "wrong-token-wrong-token", testToken + "x"} {
		if code := report(t, c.WebhookHandler(), tok, dlr("Success")); code != http.StatusForbidden {
			t.Errorf("token %q: answer %d, want 403", tok, code)
		}
	}
	if len(s.Receipts()) != 0 {
		t.Fatal("a report without the token reached the sink")
	}
	// Without a configured token, reports are taken as they come.
	open, s2 := start(t, Config{BaseURL: "http://unused.invalid", Username: "u", APIKey: "k"})
	if code := report(t, open.WebhookHandler(), "", dlr("Success")); code != http.StatusOK || len(s2.Receipts()) != 1 {
		t.Errorf("untokened config: answer %d, %d receipts", code, len(s2.Receipts()))
	}
}

func TestWebhookMissingFieldsIs400(t *testing.T) {
	c, s := start(t, testConfig("http://unused.invalid"))
	if code := report(t, c.WebhookHandler(), testToken, url.Values{"status": {"Success"}}); code != http.StatusBadRequest {
		t.Errorf("answer %d, want 400", code)
	}
	if len(s.Receipts()) != 0 {
		t.Fatal("a report without an id reached the sink")
	}
}

func TestWebhookSinkErrorIs503(t *testing.T) {
	c, s := start(t, testConfig("http://unused.invalid"))
	s.Fail(errors.New("store closed"))
	if code := report(t, c.WebhookHandler(), testToken, dlr("Success")); code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d, want 503", code)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{"username: required", "api_key: required"}},
		{"bad values", Config{BaseURL: "api.africastalking.com", Username: "u", APIKey: "k", CallbackToken: "short", Timeout: -time.Second}, []string{
			`base_url: must be an absolute http(s) URL, got "api.africastalking.com"`,
			"timeout: must be positive, got -1s",
			"callback_token: must be at least 16 characters, got 5",
		}},
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
	cfg := Config{Username: "sandbox", APIKey: "k"}
	if errs := cfg.Validate(); len(errs) != 0 || cfg.BaseURL != DefaultBaseURL || cfg.Concurrency != 16 {
		t.Errorf("defaults: %v %+v", errs, cfg)
	}
}
