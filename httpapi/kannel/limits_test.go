package kannel

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/keyword"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/webhook"
)

// call sends one request to h from addr and returns the code and body.
func call(h http.Handler, method, target, ct, body, addr string) (int, string) {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = addr
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// TestSendsmsManyReceiversRefused: a url-encoded POST with 20,000
// receivers (320 KB) was answered "Accepted" with 4,093 stored, its body
// cut at 64 KiB. It is now refused whole with the limit, and a list at the
// limit is stored whole.
func TestSendsmsManyReceiversRefused(t *testing.T) {
	eng := newFakeEngine()
	h := newTestServer(t, eng).Handler()
	form := func(n int) string {
		rcv := make([]string, n)
		for i := range rcv {
			rcv[i] = "+25471" + strconv.Itoa(1000000+2*i) // never "999": the fake refuses those
		}
		return url.Values{"username": {"tester"}, "password": {"foobar"}, "text": {"Hi"}, "to": {strings.Join(rcv, " ")}}.Encode()
	}
	code, body := call(h, http.MethodPost, "/cgi-bin/sendsms", "application/x-www-form-urlencoded", form(20000), "127.0.0.1:1")
	if code != http.StatusRequestEntityTooLarge || body != "Too many receivers (20000; at most 1000 per request), rejected" {
		t.Fatalf("20,000 receivers: %d %q", code, body)
	}
	if len(eng.accepted) != 0 {
		t.Fatalf("stored %d messages of a refused call", len(eng.accepted))
	}
	code, body = call(h, http.MethodPost, "/cgi-bin/sendsms", "application/x-www-form-urlencoded", form(1000), "127.0.0.1:1")
	if code != http.StatusAccepted || len(eng.accepted) != 1000 {
		t.Fatalf("1,000 receivers: %d %q, stored %d", code, body, len(eng.accepted))
	}
}

// TestSendsmsBodyOverCapRefused: a body over max_body_bytes is answered
// 413 with the limit, never read half and acted on.
func TestSendsmsBodyOverCapRefused(t *testing.T) {
	eng := newFakeEngine()
	s, err := New(testConfig(), eng, webhook.New(webhook.Config{}, nil), Options{MaxBodyBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	body := "username=tester&password=foobar&to=%2B254712000001&text=" + strings.Repeat("a", 2000)
	code, answer := call(s.Handler(), http.MethodPost, "/cgi-bin/sendsms", "application/x-www-form-urlencoded", body, "127.0.0.1:1")
	if code != http.StatusRequestEntityTooLarge || answer != "Request body larger than 1000 bytes, rejected" {
		t.Fatalf("%d %q", code, answer)
	}
	code, answer = call(s.Handler(), http.MethodPost, "/frontline/send", "application/x-www-form-urlencoded", body, "127.0.0.1:1")
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(answer, "larger than 1000 bytes") {
		t.Fatalf("frontline: %d %q", code, answer)
	}
	if len(eng.accepted) != 0 {
		t.Fatalf("stored %d messages", len(eng.accepted))
	}
}

// TestSendsmsOnlyGETAndPOSTSend: OPTIONS (a CORS preflight) and HEAD with
// sendsms parameters sent the SMS; now they are answered 405 and store
// nothing, while a GET still sends.
func TestSendsmsOnlyGETAndPOSTSend(t *testing.T) {
	eng := newFakeEngine()
	h := newTestServer(t, eng).Handler()
	q := "/cgi-bin/sendsms?user=tester&pass=foobar&to=%2B254712000001&text=Hi"
	for _, m := range []string{http.MethodOptions, http.MethodHead, http.MethodPut, http.MethodDelete} {
		code, _ := call(h, m, q, "", "", "127.0.0.1:1")
		if code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, code)
		}
	}
	if len(eng.accepted) != 0 {
		t.Fatalf("stored %d messages from non-GET/POST calls", len(eng.accepted))
	}
	if code, body := call(h, http.MethodGet, q, "", "", "127.0.0.1:1"); code != http.StatusAccepted {
		t.Fatalf("GET: %d %q", code, body)
	}
	if len(eng.accepted) != 1 {
		t.Fatalf("GET stored %d", len(eng.accepted))
	}
}

// TestSendsmsPasswordGuessesBackOff: 300 wrong guesses met no delay. Now
// after five failures from one address every attempt, even the right
// password, is refused unchecked (429 with the wait) until the back-off
// passes; other addresses and what was accepted before are untouched.
func TestSendsmsPasswordGuessesBackOff(t *testing.T) {
	eng := newFakeEngine()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := func() time.Time { return now }
	b, err := guard.NewBackoff(guard.AuthConfig{}, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(), eng, webhook.New(webhook.Config{}, nil), Options{Now: clock, Auth: b})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	send := func(pass, addr string) (int, string) {
		return call(h, http.MethodGet, "/cgi-bin/sendsms?user=tester&pass="+pass+"&to=%2B254712000001&text=Hi", "", "", addr)
	}
	if code, _ := send("foobar", "192.0.2.1:1"); code != http.StatusAccepted {
		t.Fatalf("first call: %d", code)
	}
	for i := range 5 {
		if code, body := send("guess", "192.0.2.9:1"); code != http.StatusForbidden || body != answerAuthFailed {
			t.Fatalf("guess %d: %d %q", i, code, body)
		}
	}
	code, body := send("foobar", "192.0.2.9:1")
	if code != http.StatusTooManyRequests || body != "Too many failed logins, retry in 1 seconds" {
		t.Fatalf("after 5 failures: %d %q", code, body)
	}
	now = now.Add(2 * time.Second)
	if code, _ := send("guess", "192.0.2.9:1"); code != http.StatusForbidden {
		t.Fatalf("after the back-off: %d", code)
	}
	if code, body := send("foobar", "192.0.2.9:1"); code != http.StatusTooManyRequests || body != "Too many failed logins, retry in 2 seconds" {
		t.Fatalf("second back-off doubles: %d %q", code, body)
	}
	if len(eng.accepted) != 1 || eng.accepted[0].To != "+254712000001" {
		t.Fatalf("accepted %d messages, want the first one untouched", len(eng.accepted))
	}
}

// TestServiceAnswerWithinAutoReplyLimit: an sms-service is still called
// for every inbound message (the application sees them all), but its
// answer is sent only while the number is within limits.auto_reply.
func TestServiceAnswerWithinAutoReplyLimit(t *testing.T) {
	eng := newFakeEngine()
	calls := 0
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("Your balance is 100"))
	}))
	defer svc.Close()
	table, err := keyword.New([]keyword.Rule{{Name: "BAL", Keywords: []string{"BAL"}, Service: ServiceKind}})
	if err != nil {
		t.Fatal(err)
	}
	eng.keywords = table
	eng.inbound["in-1"] = &gateway.Inbound{ID: "in-1", Tenant: "mfi-a", From: "+254712000001", To: "22555", Text: "BAL", Keyword: "BAL"}
	eng.noReplies = map[string]bool{"+254712000001": true}
	s := newTestServer(t, eng)
	s.SetServices(Services{SMS: map[string]*Service{"BAL": {GetURL: svc.URL + "/bal"}}})
	task := gateway.Task{Key: "mo:in-1:service", Kind: ServiceKind, Tenant: "mfi-a", Payload: []byte(`{"rule":"BAL","inbound":"in-1"}`)}
	run := s.TaskHandlers()[ServiceKind]
	if err := run(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || len(eng.accepted) != 0 {
		t.Fatalf("over the limit: service called %d times, %d replies stored; want 1 and none", calls, len(eng.accepted))
	}
	eng.noReplies = nil
	if err := run(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	if calls != 2 || len(eng.accepted) != 1 || eng.accepted[0].Text != "Your balance is 100" {
		t.Fatalf("within the limit: service called %d times, replies %+v", calls, eng.accepted)
	}
}

// TestSendsmsRefusedByFraudControls: a call whose every receiver the
// tenant's fraud controls refused (stored REJECTED, never sent) is
// answered as unroutable, not "Accepted"; with one allowed receiver it is
// accepted.
func TestSendsmsRefusedByFraudControls(t *testing.T) {
	eng := newFakeEngine()
	h := newTestServer(t, eng).Handler()
	code, body := call(h, http.MethodGet, "/cgi-bin/sendsms?user=tester&pass=foobar&to=%2B881612345678&text=Hi", "", "", "127.0.0.1:1")
	if code != http.StatusForbidden || body != answerNotRoutable {
		t.Fatalf("satellite number: %d %q", code, body)
	}
	code, body = call(h, http.MethodGet, "/cgi-bin/sendsms?user=tester&pass=foobar&to=%2B881612345678+%2B254712000001&text=Hi", "", "", "127.0.0.1:1")
	if code != http.StatusAccepted || body != answerAccepted {
		t.Fatalf("one allowed receiver: %d %q", code, body)
	}
}

// TestStatusPasswordsBackOff: wrong /status passwords count towards the
// failed-login back-off, and a source backing off is denied even the right
// password.
func TestStatusPasswordsBackOff(t *testing.T) {
	s, err := New(Config{StatusPassword: "look", AdminPassword: "admin-secret"}, newFakeEngine(), webhook.New(webhook.Config{}, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	if _, body := call(h, http.MethodGet, "/status.txt", "", "", "192.0.2.3:1"); !strings.Contains(body, "Denied") {
		t.Fatalf("no password: %q", body)
	}
	if _, body := call(h, http.MethodGet, "/status.txt?password=look", "", "", "192.0.2.3:1"); strings.Contains(body, "Denied") {
		t.Fatalf("the status password: %q", body)
	}
	for range 5 {
		call(h, http.MethodGet, "/status.txt?password=guess", "", "", "192.0.2.4:1")
	}
	if _, body := call(h, http.MethodGet, "/status.txt?password=look", "", "", "192.0.2.4:1"); !strings.Contains(body, "Denied") {
		t.Fatalf("right password while backing off: %q", body)
	}
}
