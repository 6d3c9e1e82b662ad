package kannel

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/keyword"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/webhook"
)

// TestDLRTypes maps each event to the Kannel DLR type and checks which
// masks ask for it, including 16 for a mask with 2 only
// (bb_smscconn_send_failed).
func TestDLRTypes(t *testing.T) {
	submitted := &gateway.Message{Parts: []gateway.Part{{CarrierID: "77"}}}
	unsent := &gateway.Message{Parts: []gateway.Part{{}}}
	cases := []struct {
		ev        gateway.Event
		m         *gateway.Message
		typ       int
		reply     string
		wantMasks []int
		notMasks  []int
	}{
		{gateway.Event{Status: gateway.StatusAccepted}, unsent, 0, "", nil, []int{31}},
		{gateway.Event{Status: gateway.StatusSubmitted}, submitted, 8, "ACK/", []int{8, 9, 31}, []int{1, 7, 16}},
		{gateway.Event{Status: gateway.StatusSubmitted, Detail: "ENROUTE"}, submitted, 4, "ENROUTE", []int{4, 7}, []int{1, 8}},
		{gateway.Event{Status: gateway.StatusAccepted, Detail: "ACCEPTD"}, submitted, 4, "ACCEPTD", []int{4}, nil},
		{gateway.Event{Status: gateway.StatusDelivered, Detail: "DELIVRD"}, submitted, 1, "DELIVRD", []int{1, 9}, []int{2, 8}},
		{gateway.Event{Status: gateway.StatusUndelivered, Detail: "UNDELIV err:034"}, submitted, 2, "UNDELIV err:034", []int{2, 3}, []int{1, 16}},
		{gateway.Event{Status: gateway.StatusExpired, Detail: "EXPIRED"}, submitted, 2, "EXPIRED", []int{2}, []int{16}},
		{gateway.Event{Status: gateway.StatusExpired, Detail: "validity passed"}, unsent, 16, "NACK/validity passed", []int{16, 2}, []int{1, 8}},
		{gateway.Event{Status: gateway.StatusRejected, Detail: "REJECTD"}, submitted, 2, "REJECTD", []int{2}, nil},
		{gateway.Event{Status: gateway.StatusRejected, Detail: "ESME_RINVDSTADR (permanent): smpp: ESME_RINVDSTADR (0x0000000B): Invalid destination address"},
			unsent, 16, "NACK/0x0000000b/Invalid Destination Address", []int{16, 2, 18}, []int{1, 8}},
		{gateway.Event{Status: gateway.StatusRejected, Detail: "0x00000401 (permanent): smpp: 0x00000401"}, unsent, 16,
			"NACK/0x00000401/Vendor-specific error, please refer to your SMPP provider", []int{16}, nil},
		{gateway.Event{Status: gateway.StatusFailed, Detail: "no route"}, unsent, 16, "NACK/no route", []int{16}, []int{1, 4}},
		{gateway.Event{Status: gateway.StatusCanceled}, unsent, 16, "NACK/", []int{16}, nil},
		{gateway.Event{Status: gateway.StatusOptedOut}, unsent, 16, "NACK/", []int{16}, nil},
	}
	for _, c := range cases {
		typ, reply := dlrType(c.ev, c.m)
		if typ != c.typ || reply != c.reply {
			t.Errorf("%s %q: type %d %q, want %d %q", c.ev.Status, c.ev.Detail, typ, reply, c.typ, c.reply)
		}
		for _, mask := range c.wantMasks {
			if !wanted(mask, typ) {
				t.Errorf("%s: mask %d should ask for type %d", c.ev.Status, mask, typ)
			}
		}
		for _, mask := range c.notMasks {
			if typ != 0 && wanted(mask, typ) {
				t.Errorf("%s: mask %d should not ask for type %d", c.ev.Status, mask, typ)
			}
		}
	}
}

// TestOnEventsOnePerType hands the same events twice (a batch redelivered
// after a crash) and a second intermediate receipt: one task per message
// and type.
func TestOnEventsOnePerType(t *testing.T) {
	eng := newFakeEngine()
	s := newTestServer(t, eng)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	// The message as the store joins it to each event, without a read.
	m1 := &gateway.EventMessage{From: "MFI-A", To: "+254712000001", Carrier: "sim", CarrierID: "4242",
		Meta: map[string]string{metaDLRURL: "http://127.0.0.1/dlr?id=%I&type=%d&to=%p&from=%P&fid=%F&smsc=%i&text=%A&user=%n&t=%T",
			metaDLRMask: "13", metaTo: "0712000001", metaUser: "tester"}}
	m2 := &gateway.EventMessage{Meta: map[string]string{}} // sent without dlr-url
	evs := []gateway.Event{
		{Tenant: "mfi-a", MessageID: "m1", Status: gateway.StatusAccepted, Time: at, Message: m1},
		{Tenant: "mfi-a", MessageID: "m2", Status: gateway.StatusSubmitted, Time: at, Message: m2},
		{Tenant: "mfi-a", MessageID: "m1", Status: gateway.StatusSubmitted, Time: at, Message: m1},
		{Tenant: "mfi-a", MessageID: "m1", Status: gateway.StatusSubmitted, Detail: "ENROUTE", Time: at, Message: m1},
		{Tenant: "mfi-a", MessageID: "m1", Status: gateway.StatusSubmitted, Detail: "ENROUTE", Time: at, Message: m1},
		{Tenant: "mfi-a", MessageID: "m1", Status: gateway.StatusDelivered, Detail: "DELIVRD", Time: at, Message: m1},
		{Tenant: "mfi-a", MessageID: "gone", Status: gateway.StatusDelivered, Time: at}, // pruned since
	}
	for range 2 {
		if err := s.onEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, task := range eng.tasks {
		got = append(got, task.Key+" "+string(task.Payload))
	}
	want := []string{
		"kannel-dlr:m1:8 http://127.0.0.1/dlr?id=m1&type=8&to=0712000001&from=MFI-A&fid=&smsc=sim&text=ACK%2F&user=tester&t=1772600767",
		"kannel-dlr:m1:4 http://127.0.0.1/dlr?id=m1&type=4&to=0712000001&from=MFI-A&fid=4242&smsc=sim&text=ENROUTE&user=tester&t=1772600767",
		"kannel-dlr:m1:1 http://127.0.0.1/dlr?id=m1&type=1&to=0712000001&from=MFI-A&fid=4242&smsc=sim&text=DELIVRD&user=tester&t=1772600767",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tasks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRunDLRRefusesHostsOutsideAllowList: the call is not made, the task
// fails for good, and the refusal is logged with the host.
func TestRunDLRRefusesHostsOutsideAllowList(t *testing.T) {
	logs := &testutil.Logs{}
	s, err := New(testConfig(), newFakeEngine(), webhook.New(webhook.Config{AllowHosts: []string{"127.0.0.1"}}, nil),
		Options{Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	err = s.runDLR(context.Background(), gateway.Task{Key: "kannel-dlr:m1:1", Kind: TaskDLR,
		Payload: []byte("http://169.254.169.254/latest/meta-data?to=%2B254712000001")})
	if !gateway.IsGiveUp(err) {
		t.Fatalf("runDLR = %v, want a give-up", err)
	}
	rec, ok := logs.Find("dlr-url refused")
	if !ok || rec["host"] != "169.254.169.254" || rec["level"] != "WARN" || rec["msg_id"] != "m1" || rec["dlr_type"] != "1" {
		t.Fatalf("log record %v", rec)
	}
	if strings.Contains(logs.String(), "254712000001") {
		t.Errorf("the log shows the number: %s", logs.String())
	}
}

// TestRunDLRPayloads: a task's payload is the URL as it is; a task
// enqueued by an earlier version carries a JSON object with the URL and
// still runs; an empty payload gives up at once.
func TestRunDLRPayloads(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.RequestURI())
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s, err := New(testConfig(), newFakeEngine(), webhook.New(webhook.Config{AllowHosts: []string{"127.0.0.1"}}, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := json.Marshal(map[string]any{"url": srv.URL + "/dlr?id=m1&type=1", "msg": "m1", "type": 1})
	for _, payload := range [][]byte{[]byte(srv.URL + "/dlr?id=m2&type=8&text=ACK%2F"), legacy} {
		if err := s.runDLR(t.Context(), gateway.Task{Key: "kannel-dlr:m:1", Kind: TaskDLR, Payload: payload}); err != nil {
			t.Fatalf("runDLR(%s) = %v", payload, err)
		}
	}
	mu.Lock()
	calls := strings.Join(got, " ")
	mu.Unlock()
	if want := "/dlr?id=m2&type=8&text=ACK%2F /dlr?id=m1&type=1"; calls != want {
		t.Errorf("calls %q, want %q", calls, want)
	}
	if err := s.runDLR(t.Context(), gateway.Task{Key: "kannel-dlr:m:1", Kind: TaskDLR}); !gateway.IsGiveUp(err) {
		t.Errorf("runDLR of an empty payload = %v, want a give-up", err)
	}
}

func TestSMSSplit(t *testing.T) {
	long := strings.Repeat("abcdefghi ", 40) // 400 characters
	cases := []struct {
		name                                   string
		text, header, footer, suffix, splitChr string
		catenate                               bool
		max                                    int
		want                                   []int // part lengths
	}{
		{name: "fits", text: "Your balance is 100", max: 1, want: []int{19}},
		{name: "truncated to one SMS", text: long, max: 1, want: []int{160}},
		{name: "three parts", text: long, max: 3, want: []int{160, 160, 80}},
		{name: "capped at two", text: long, max: 2, want: []int{160, 160}},
		{name: "concatenated parts are 153", text: long, catenate: true, max: 3, want: []int{153, 153, 94}},
		{name: "header and footer count", text: long, header: "(", footer: ")", max: 2, want: []int{160, 160}},
		{name: "split at a blank", text: long, splitChr: " ", max: 3, want: []int{160, 160, 80}},
		{name: "split chars move the cut", text: strings.Repeat("x", 150) + " " + strings.Repeat("y", 20), splitChr: " ", max: 2, want: []int{151, 20}},
		{name: "suffix on all but the last", text: long, suffix: "+", max: 3, want: []int{160, 160, 82}},
		{name: "UCS-2 is 70 characters", text: strings.Repeat("ж", 100), max: 2, want: []int{70, 30}},
	}
	for _, c := range cases {
		parts := smsSplit(c.text, c.header, c.footer, c.suffix, c.splitChr, c.catenate, c.max)
		var lens []int
		for _, p := range parts {
			lens = append(lens, len([]rune(p)))
		}
		if len(lens) != len(c.want) {
			t.Errorf("%s: parts %v, want %v", c.name, lens, c.want)
			continue
		}
		for i := range lens {
			if lens[i] != c.want[i] {
				t.Errorf("%s: parts %v, want %v", c.name, lens, c.want)
				break
			}
		}
	}
}

// TestFrontlineForward posts an inbound message in the Frontline API
// webhook's shape, and as a form for a custom connection.
func TestFrontlineForward(t *testing.T) {
	got := make(chan *http.Request, 2)
	bodies := make(chan string, 2)
	fl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
	}))
	defer fl.Close()
	eng := newFakeEngine()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	eng.inbound["in1"] = &gateway.Inbound{ID: "in1", Tenant: "mfi-b", From: "+254712000001", To: "22555", Text: "JOIN group",
		Keyword: "JOIN", ReceivedAt: at}
	table, err := keyword.New([]keyword.Rule{
		{Name: "JOIN", Keywords: []string{"JOIN"}, Service: FrontlineKind},
		{Name: "FORM", Keywords: []string{"FORM"}, Service: FrontlineKind},
	})
	if err != nil {
		t.Fatal(err)
	}
	eng.keywords = table
	s := newTestServer(t, eng)
	s.SetServices(Services{Frontline: map[string]*Frontline{
		"JOIN": {URL: fl.URL + "/api/1/webhook", APIKey: "k-1"},
		"FORM": {URL: fl.URL + "/receive", Format: "form"},
	}})
	for _, rule := range []string{"JOIN", "FORM"} {
		payload, _ := json.Marshal(map[string]string{"rule": rule, "inbound": "in1"})
		if err := s.runFrontline(context.Background(), gateway.Task{Key: "mo:in1:service", Tenant: "mfi-b", Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	r, body := <-got, <-bodies
	if r.URL.Path != "/api/1/webhook" || r.Header.Get("Content-Type") != "application/json" ||
		body != `{"apiKey":"k-1","payload":{"id":"in1","from":"+254712000001","to":"22555","text":"JOIN group","keyword":"JOIN","receivedAt":"2026-03-04T05:06:07Z"}}` {
		t.Errorf("json forward: %s %s %s", r.URL.Path, r.Header.Get("Content-Type"), body)
	}
	r, body = <-got, <-bodies
	if r.URL.Path != "/receive" || body != "from=%2B254712000001&id=in1&keyword=JOIN&received_at=2026-03-04T05%3A06%3A07Z&text=JOIN+group&to=22555" {
		t.Errorf("form forward: %s %s", r.URL.Path, body)
	}
}

// TestFrontlineSend is what a FrontlineSMS custom connection does: a JSON
// payload with ${destination} and ${text}, HTTP Basic credentials.
func TestFrontlineSend(t *testing.T) {
	eng := newFakeEngine()
	h := newTestServer(t, eng).Handler()
	req := httptest.NewRequest("POST", "/frontline/send", strings.NewReader(`{"destination":"+254712000001","text":"Meeting at 10"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("tester", "foobar")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusAccepted || w.Body.String() != `{"status":"accepted","ids":["msg-0"]}`+"\n" {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
	if r := eng.accepted[0]; r.To != "+254712000001" || r.Text != "Meeting at 10" {
		t.Errorf("stored %+v", r)
	}
	req = httptest.NewRequest("GET", "/frontline/send?username=tester&password=bad&to=1&text=x", nil)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusForbidden {
		t.Errorf("bad credentials: %d %s", w.Code, w.Body.String())
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Listen: "nohost", StatusPassword: "x", Users: []User{
		{Username: "a", Password: "p", Tenant: "t"},
		{Username: "a", Tenant: "", AllowIP: []string{"10.0.0.0/33"}, MaxMessages: new(int)},
	}}
	var got []string
	for _, e := range c.Validate() {
		got = append(got, e.Error())
	}
	want := []string{
		`listen: "nohost" is not host:port`,
		"admin_password: must be set when status_password is",
		`users[1].username: "a" is used twice`,
		"users[1].password: must not be empty",
		"users[1].tenant: must name a tenant",
		"users[1].max_messages: must be ≥ 1, got 0",
		`users[1].allow_ip[0]: "10.0.0.0/33" is neither an IP nor a CIDR`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	svc := Service{GetURL: "ftp://x", PostURL: "http://y"}
	if errs := svc.Validate(); len(errs) != 2 {
		t.Errorf("service errors %v", errs)
	}
	if errs := (&Frontline{Format: "xml"}).Validate(); len(errs) != 2 {
		t.Errorf("frontline errors %v", errs)
	}
}
