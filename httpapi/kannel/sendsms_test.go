package kannel

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/webhook"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the answers")

// testConfig has the users of the golden tests: "tester" sends for tenant
// mfi-a, "busy" for a tenant over its quota, "fixed" with a forced sender
// and one allowed carrier, "office" only from 10.0.0.0/8.
func testConfig() Config {
	return Config{Users: []User{
		{Username: "tester", Password: "foobar", Tenant: "mfi-a"},
		{Username: "busy", Password: "x", Tenant: "busy"},
		{Username: "fixed", Password: "x", Tenant: "mfi-a", ForcedSender: "MFI-A", AllowedSMSC: []string{"sim"}},
		{Username: "office", Password: "x", Tenant: "mfi-a", AllowIP: []string{"10.0.0.0/8"}},
	}, StatusPassword: "look", AdminPassword: "admin"}
}

func newTestServer(t *testing.T, eng Engine) *Server {
	t.Helper()
	// The golden cases fail logins on purpose, from one address: they
	// test answers, not the back-off (limits_test.go does).
	auth, err := guard.NewBackoff(guard.AuthConfig{Free: 1000}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(), eng, webhook.New(webhook.Config{AllowHosts: []string{"127.0.0.1"}}, nil), Options{
		Now:     func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) },
		Version: "test",
		Auth:    auth,
		Carriers: func() []Carrier {
			return []Carrier{
				{ID: "sim", Kind: "smpp", Name: "SMPP:127.0.0.1:2775/2775:smsgw:", SystemID: "smsgw", Up: true},
				{ID: "twilio", Kind: "twilio"},
			}
		},
		CarrierCounters: func() map[string]CarrierCounters {
			return map[string]CarrierCounters{"sim": {Received: 2, ReceivedDLR: 4, Sent: 125, Failed: 1, Queued: 3}}
		},
		Counters: func() (map[string]float64, error) {
			return map[string]float64{"smsgw_gateway_inbound_total": 2, "smsgw_gateway_submitted_parts_total": 125,
				"smsgw_gateway_receipts_total": 4, "smsgw_gateway_queue_depth": 7}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A gateway up for 1h 2m 3s whose carrier "sim" came up 42 s ago and
	// sent 60 parts in the last minute (1.00/s) and 125 over the uptime;
	// the machine as the version lines show it.
	now := s.opts.Now()
	s.started = now.Add(-(time.Hour + 2*time.Minute + 3*time.Second))
	s.sys = sysInfo{host: "gw1", ip: "10.0.0.5", compiler: "go1.24.4", system: "linux", machine: "amd64"}
	s.up["sim"] = now.Add(-42 * time.Second)
	s.loads.add(now.Add(-60*time.Second), "sim", [loadKinds]int64{0, 65, 0, 0})
	s.loads.add(now.Add(-60*time.Second), "", [loadKinds]int64{2, 65, 4, 0})
	return s
}

// goldenCase is one request of testdata/sendsms.golden: a request line,
// optional headers and body, and the full answer expected.
type goldenCase struct {
	name, request, answer string
}

// readGolden parses blocks of
//
//	=== name
//	GET /path
//	Header: value
//
//	body
//	---
//	answer
func readGolden(t *testing.T, path string) []goldenCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	for _, block := range strings.Split(string(b), "=== ")[1:] {
		name, rest, _ := strings.Cut(block, "\n")
		req, ans, ok := strings.Cut(rest, "---\n")
		if !ok {
			t.Fatalf("%s: case %q has no --- line", path, name)
		}
		cases = append(cases, goldenCase{name: name, request: req, answer: ans})
	}
	return cases
}

// replay sends one golden request to the handler and writes the answer as
// status line, sorted headers, blank line and body.
func replay(t *testing.T, h http.Handler, raw string) string {
	t.Helper()
	head, body, _ := strings.Cut(raw, "\n\n")
	sc := bufio.NewScanner(strings.NewReader(head))
	sc.Scan()
	method, target, _ := strings.Cut(sc.Text(), " ")
	r := httptest.NewRequest(method, target, strings.NewReader(strings.TrimSuffix(body, "\n")))
	r.RemoteAddr = "127.0.0.1:40000"
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		if k == "Remote-Addr" {
			r.RemoteAddr = v
			continue
		}
		r.Header.Add(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\n", w.Code, http.StatusText(w.Code))
	keys := make([]string, 0, len(w.Header()))
	for k := range w.Header() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&out, "%s: %s\n", k, strings.Join(w.Header()[k], ", "))
	}
	out.WriteString("\n")
	out.Write(w.Body.Bytes())
	out.WriteString("\n")
	return out.String()
}

// TestSendsmsGolden replays Kannel request strings (the user guide's
// sendsms examples and one per error answer of gw/smsbox.c) and compares
// the whole answers.
func TestSendsmsGolden(t *testing.T) {
	runGolden(t, "testdata/sendsms.golden", func(eng *fakeEngine) {})
}

// TestSendsmsQueued answers "3: Queued for later delivery" while no carrier
// is up: the message is stored and goes when one binds.
func TestSendsmsQueued(t *testing.T) {
	runGolden(t, "testdata/queued.golden", func(eng *fakeEngine) { eng.ready = false })
}

func runGolden(t *testing.T, path string, setup func(*fakeEngine)) {
	eng := newFakeEngine()
	setup(eng)
	h := newTestServer(t, eng).Handler()
	cases := readGolden(t, path)
	var rewritten strings.Builder
	for _, c := range cases {
		got := replay(t, h, c.request)
		if *update {
			fmt.Fprintf(&rewritten, "=== %s\n%s---\n%s", c.name, c.request, got)
			continue
		}
		if got != c.answer {
			t.Errorf("%s:\n--- got\n%s--- want\n%s", c.name, got, c.answer)
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(rewritten.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSendsmsStoresWhatDLRsNeed checks the request reaches the engine as
// Kannel means it: receivers split, validity and deferred in minutes, the
// dlr-url and mask kept for the reports, the forced sender applied.
func TestSendsmsStoresWhatDLRsNeed(t *testing.T) {
	eng := newFakeEngine()
	h := newTestServer(t, eng).Handler()
	got := replay(t, h, "GET /cgi-bin/sendsms?user=tester&pass=foobar&to=%2B254712000001+0712000002+%2B254712000001&"+
		"text=Hi&from=MFI-A&dlr-mask=9&dlr-url=http%3A%2F%2F127.0.0.1%2Fdlr%3Ft%3D%25d&validity=30&deferred=5&priority=2&mclass=1&meta-data=%3Fsmpp%3Fx%3Dy\n")
	if !strings.Contains(got, "0: Accepted for delivery") {
		t.Fatalf("answer: %s", got)
	}
	if len(eng.accepted) != 2 {
		t.Fatalf("stored %d messages, want 2 (the duplicate receiver once)", len(eng.accepted))
	}
	r := eng.accepted[0]
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if r.To != "+254712000001" || r.From != "MFI-A" || r.Priority != 2 ||
		!r.ExpiresAt.Equal(now.Add(30*time.Minute)) || !r.NotBefore.Equal(now.Add(5*time.Minute)) {
		t.Errorf("request %+v", r)
	}
	want := map[string]string{metaUser: "tester", metaTo: "+254712000001", metaDLRURL: "http://127.0.0.1/dlr?t=%d",
		metaDLRMask: "9", metaMClass: "1", metaMetaData: "?smpp?x=y"}
	for k, v := range want {
		if r.Meta[k] != v {
			t.Errorf("meta %s = %q, want %q", k, r.Meta[k], v)
		}
	}
	replay(t, h, "GET /cgi-bin/sendsms?user=fixed&pass=x&to=0712000003&text=Hi&from=OTHER\n")
	if got := eng.accepted[2].From; got != "MFI-A" {
		t.Errorf("forced sender: from %q", got)
	}
}

func TestDecodeText(t *testing.T) {
	cases := []struct {
		raw, charset string
		coding       int
		want         string
		bad          bool
	}{
		{raw: "Hello", want: "Hello"},
		{raw: "caf\xe9", want: "café"}, // latin-1 without a charset
		{raw: "caf\xe9", charset: "ISO-8859-1", want: "café"},
		{raw: "caf\xc3\xa9", charset: "UTF-8", want: "café"},
		{raw: "caf\xe9", charset: "UTF-8", bad: true},
		{raw: "\x00H\x00i", coding: codingUCS2, want: "Hi"},
		{raw: "\x00H\x00", coding: codingUCS2, bad: true},
		{raw: "x", charset: "NO-SUCH-CHARSET", bad: true},
	}
	for _, c := range cases {
		got, err := decodeText(c.raw, c.charset, c.coding)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("decodeText(%q, %q, %d) = %q, %v", c.raw, c.charset, c.coding, got, err)
		}
	}
}

// TestUserConcatenation: a sendsms-user's concatenation and max-messages
// split a long text as gw/smsbox.c send_message and gw/sms.c sms_split do:
// separate SMS of one part each (max-messages of them, Kannel's default 1)
// with concatenation off; one concatenated message, cut to max-messages
// parts, with it on; the whole text by smsgw's default.
func TestUserConcatenation(t *testing.T) {
	text := strings.Repeat("abcdefghij", 40) // 400 GSM characters
	off, on, two, three := false, true, 2, 3
	for _, c := range []struct {
		name   string
		concat *bool
		max    *int
		want   []int // lengths of the texts stored, per receiver
	}{
		{"default", nil, nil, []int{400}},
		{"concatenation on, max 2", &on, &two, []int{306}},
		{"concatenation off, max 3", &off, &three, []int{160, 160, 80}},
		{"concatenation off, Kannel's max 1", &off, nil, []int{160}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Users[0].Concatenation, cfg.Users[0].MaxMessages = c.concat, c.max
			eng := newFakeEngine()
			s, err := New(cfg, eng, webhook.New(webhook.Config{AllowHosts: []string{"127.0.0.1"}}, nil), Options{})
			if err != nil {
				t.Fatal(err)
			}
			u := cfg.Users[0]
			got := replay(t, s.Handler(), "GET /cgi-bin/sendsms?user="+u.Username+"&pass="+u.Password+"&to=0712000001&text="+text+"\n")
			if !strings.Contains(got, "0: Accepted for delivery") {
				t.Fatalf("answer: %s", got)
			}
			var lens []int
			for _, r := range eng.accepted {
				lens = append(lens, len(r.Text))
			}
			if fmt.Sprint(lens) != fmt.Sprint(c.want) {
				t.Errorf("stored texts of %v characters, want %v", lens, c.want)
			}
		})
	}
}

// TestSMSCPinsOnlyCarriersThatRun: smsc= naming a carrier pins the message
// to it; naming none that runs here leaves it to routing with the smsc-id
// kept for %i (gw/smscconn.c smscconn_usable); a user's forced_smsc and
// default_smsc apply as in gw/smsbox.c smsbox_req_handle.
func TestSMSCPinsOnlyCarriersThatRun(t *testing.T) {
	cfg := testConfig()
	cfg.Users = append(cfg.Users, User{Username: "forced", Password: "x", Tenant: "mfi-a", ForcedSMSC: "sim"},
		User{Username: "default", Password: "x", Tenant: "mfi-a", DefaultSMSC: "sim"})
	eng := newFakeEngine()
	s, err := New(cfg, eng, webhook.New(webhook.Config{AllowHosts: []string{"127.0.0.1"}}, nil), Options{
		Carriers: func() []Carrier { return []Carrier{{ID: "sim", Kind: "smpp", Up: true}} }})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ user, smsc, pin, kept string }{
		{"tester", "sim", "sim", "sim"},
		{"tester", "nosuch", "", "nosuch"},
		{"forced", "nosuch", "sim", "sim"},
		{"default", "", "sim", "sim"},
		{"default", "nosuch", "", "nosuch"},
	} {
		pw := "x"
		if c.user == "tester" {
			pw = "foobar"
		}
		n := len(eng.accepted)
		got := replay(t, s.Handler(), "GET /cgi-bin/sendsms?user="+c.user+"&pass="+pw+"&to=0712000001&text=Hi&smsc="+c.smsc+"\n")
		if !strings.Contains(got, "0: Accepted for delivery") || len(eng.accepted) != n+1 {
			t.Fatalf("%s smsc=%s: %s", c.user, c.smsc, got)
		}
		if r := eng.accepted[n]; r.Carrier != c.pin || r.Meta[metaSMSC] != c.kept {
			t.Errorf("%s smsc=%q: pinned to %q with smsc-id %q, want %q and %q", c.user, c.smsc, r.Carrier, r.Meta[metaSMSC], c.pin, c.kept)
		}
	}
}

// TestUserConcatenationBinary: with concatenation off a long binary
// message becomes separate messages of one SMS each, the UDH on every
// one, max_messages of them; with it on, one message cut to max_messages
// concatenated parts.
func TestUserConcatenationBinary(t *testing.T) {
	off, on, two := false, true, 2
	b := &gateway.Binary{UDH: []byte{6, 5, 4, 0x0b, 0x84, 0x23, 0xf0}, Data: make([]byte, 400), DataCoding: 4}
	for _, c := range []struct {
		concat *bool
		max    *int
		want   []int // data octets per message
	}{
		{nil, nil, []int{400}},
		{&off, &two, []int{133, 133}},
		{&off, nil, []int{133}},
		{&on, &two, []int{256}},
	} {
		u := &user{User: User{Concatenation: c.concat, MaxMessages: c.max}}
		var got []int
		for _, m := range u.splitBinary(b) {
			if string(m.UDH) != string(b.UDH) {
				t.Errorf("UDH % x", m.UDH)
			}
			got = append(got, len(m.Data))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("concatenation %v max %v: %v, want %v", c.concat, c.max, got, c.want)
		}
	}
}
