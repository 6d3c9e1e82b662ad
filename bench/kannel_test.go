package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKannel is the gateway's sendsms as Kannel answers it, recording what
// it was sent.
type fakeKannel struct {
	mu     sync.Mutex
	tokens map[uint64]int
	ucs2   int // requests with coding=2
	bad    []string
}

func (f *fakeKannel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/cgi-bin/sendsms" || r.Method != http.MethodGet {
		f.bad = append(f.bad, r.Method+" "+r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if q.Get("username") != "tester" || q.Get("password") != "s3cret" {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Authorization failed for sendsms"))
		return
	}
	_, seq, ok := parseToken([]byte(q.Get("text")))
	if !ok || !strings.HasPrefix(q.Get("to"), "+2547") || q.Get("charset") != "UTF-8" {
		f.bad = append(f.bad, r.URL.RawQuery)
	}
	if q.Get("coding") == "2" {
		f.ucs2++
		if !strings.Contains(q.Get("text"), "✓") {
			f.bad = append(f.bad, "coding=2 on a GSM text")
		}
	}
	f.tokens[seq]++
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte("0: Accepted for delivery"))
}

func TestKannelLoad(t *testing.T) {
	fake := &fakeKannel{tokens: map[uint64]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := LoadSpec{Driver: DriverKannel, Target: srv.URL + "/", Username: "tester", Password: "s3cret",
		Clients: 4, Count: 120, Mix: Mix{GSM: 1, UCS2: 1}, Prefixes: []string{"+2547"}}
	r, err := RunLoad(ctx, spec, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 120 || r.Accepted != 120 || r.Refused != 0 || r.Accept.Count != 120 {
		t.Errorf("sent %d accepted %d refused %d (accept latencies %d); want 120 120 0", r.Sent, r.Accepted, r.Refused, r.Accept.Count)
	}
	fake.mu.Lock()
	if len(fake.tokens) != 120 {
		t.Errorf("%d distinct tokens at the fake, want 120", len(fake.tokens))
	}
	for seq, n := range fake.tokens {
		if n != 1 || seq < 1 || seq > 120 {
			t.Errorf("token %d sent %d times", seq, n)
		}
	}
	if fake.ucs2 == 0 || len(fake.bad) > 0 {
		t.Errorf("%d UCS-2 requests; malformed: %q", fake.ucs2, fake.bad)
	}
	fake.mu.Unlock()
	if r.Ledger || r.SubmitSource != "" || r.Delivered != 0 {
		t.Errorf("a bare Kannel run claims carrier or event figures: %+v", r)
	}

	// Refused: counted, and the report keeps neither password nor number.
	spec.Password, spec.Count = "wrong", 10
	r, err = RunLoad(ctx, spec, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Accepted != 0 || r.Refused != 10 || len(r.Errors) != 1 {
		t.Errorf("accepted %d refused %d errors %v; want 0, 10, one kind", r.Accepted, r.Refused, r.Errors)
	}
	for e := range r.Errors {
		if strings.Contains(e, "wrong") || strings.Contains(e, "+2547") || !strings.Contains(e, "403") {
			t.Errorf("error %q: want the HTTP status, not the request", e)
		}
	}
}

// reportingKannel is a sendsms that calls each request's dlr-url as Kannel
// does for the types its dlr-mask asks for: 8 (smsc submit) when asked,
// then the final one, 1 (delivered) or, for every fifth message, 2
// (failed). It calls message 7's final report twice.
type reportingKannel struct {
	t  *testing.T
	wg sync.WaitGroup
}

func (k *reportingKannel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	_, seq, ok := parseToken([]byte(q.Get("text")))
	mask, err := strconv.Atoi(q.Get("dlr-mask"))
	if !ok || err != nil || !strings.Contains(q.Get("dlr-url"), "type=%d") {
		k.t.Errorf("sendsms without a token, dlr-mask or dlr-url with %%d: %s", r.URL.RawQuery)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	call := func(typ int) {
		resp, err := http.Get(strings.ReplaceAll(q.Get("dlr-url"), "%d", strconv.Itoa(typ)))
		if err != nil {
			k.t.Errorf("dlr-url: %v", err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			k.t.Errorf("dlr-url answered %d to type %d", resp.StatusCode, typ)
		}
	}
	k.wg.Go(func() {
		time.Sleep(time.Millisecond)
		if mask&8 != 0 {
			call(8)
		}
		final := 1
		if seq%5 == 0 {
			final = 2
		}
		call(final)
		if seq == 7 {
			call(final)
		}
	})
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte("0: Accepted for delivery"))
}

// TestKannelLoadFollowsDeliveryReports: with a dlr-mask, a Kannel run
// follows each message to its end by its dlr-url calls, times its
// submission when the mask asks for type 8, and counts a repeated final
// report.
func TestKannelLoadFollowsDeliveryReports(t *testing.T) {
	k := &reportingKannel{t: t}
	srv := httptest.NewServer(k)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, mask := range []int{3, 11} {
		spec := LoadSpec{Driver: DriverKannel, Target: srv.URL, Username: "u", Password: "p", Clients: 4, Count: 50,
			Prefixes: []string{"+2547"}, DLRMask: mask, Drain: 20 * time.Second}
		r, err := RunLoad(ctx, spec, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		k.wg.Wait()
		if r.Accepted != 50 || r.Delivered != 40 || r.Undelivered != 10 || r.Unfinished != 0 || r.EndToEnd.Count != 50 {
			t.Errorf("mask %d: accepted %d delivered %d undelivered %d unfinished %d e2e %d; want 50 40 10 0 50",
				mask, r.Accepted, r.Delivered, r.Undelivered, r.Unfinished, r.EndToEnd.Count)
		}
		calls := int64(51)
		if mask&8 != 0 {
			calls += 50
		}
		if d := r.DLR; d == nil || *d != (DLRCalls{Mask: mask, Calls: calls, Finals: 50, Repeated: 1}) {
			t.Errorf("mask %d: dlr %+v, want %d calls, 50 finals, 1 repeated", mask, d, calls)
		}
		wantSource := ""
		if mask&8 != 0 {
			wantSource = "dlr"
		}
		if r.SubmitSource != wantSource || (r.Submit.Count == 50) != (mask&8 != 0) {
			t.Errorf("mask %d: submit source %q with %d submit latencies", mask, r.SubmitSource, r.Submit.Count)
		}
		var s strings.Builder
		if err := r.WriteSummary(&s); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(s.String(), "50 messages with a final report, 1 repeated") {
			t.Errorf("summary lacks the dlr-url line:\n%s", s.String())
		}
	}
}

// TestDLREndpointRefusesStrangers: a call that names no message of the
// run or no Kannel report type is refused and counted, not recorded.
func TestDLREndpointRefusesStrangers(t *testing.T) {
	rec := newRecorder("r", false)
	d, err := startDLR("127.0.0.1:0", 3, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	for _, c := range []struct {
		query string
		code  int
	}{
		{"?seq=x&type=1", http.StatusNotFound},
		{"?type=1", http.StatusNotFound},
		{"?seq=3&type=32", http.StatusBadRequest},
		{"?seq=3&type=%25d", http.StatusBadRequest}, // the gateway left %d unfilled
		{"?seq=3&type=4", http.StatusOK},            // buffered: not an end
	} {
		resp, err := http.Get(d.base + c.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s: %d, want %d", c.query, resp.StatusCode, c.code)
		}
	}
	if d.bad.Load() != 4 || d.finals.Load() != 0 || rec.otherFinal.Load()+rec.delivered.Load() != 0 {
		t.Errorf("unknown %d finals %d recorded %d; want 4 0 0", d.bad.Load(), d.finals.Load(), rec.otherFinal.Load()+rec.delivered.Load())
	}
}

func TestDLRMaskChecked(t *testing.T) {
	for _, c := range []struct {
		spec LoadSpec
		want string
	}{
		{LoadSpec{Driver: DriverGRPC, DLRMask: 3}, "dlr_mask: delivery report URLs are Kannel's"},
		{LoadSpec{Driver: DriverKannel, DLRMask: 1}, "dlr_mask: 1 leaves out 1 (delivered) or 2 (failed)"},
		{LoadSpec{Driver: DriverKannel, DLRMask: 35}, "dlr_mask: 35 is not a Kannel dlr-mask"},
		{LoadSpec{Driver: DriverKannel, DLRListen: "127.0.0.1:0"}, "dlr_listen: set without dlr_mask"},
	} {
		c.spec.Count = 1
		c.spec.setDefaults()
		if err := errors.Join(c.spec.validate()...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.spec, err, c.want)
		}
	}
}

// TestReadProcs reads this process as a gateway measured by its pid, and
// refuses two sources at once.
func TestReadProcs(t *testing.T) {
	deadline := time.Now().Add(20 * time.Millisecond)
	for time.Now().Before(deadline) { // some CPU time to see
	}
	p, err := readProcs([]int{os.Getpid(), os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	one, err := readProcs([]int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if one.cpuSeconds <= 0 || one.rssBytes < 1<<20 || p.rssBytes < 2*one.rssBytes*0.9 {
		t.Errorf("this process: %+v, twice: %+v", one, p)
	}
	if _, err := readProcs([]int{1 << 30}); err == nil || !strings.Contains(err.Error(), "gateway pid 1073741824") {
		t.Errorf("a pid that is not there: %v", err)
	}
	_, err = RunLoad(context.Background(), LoadSpec{Driver: DriverKannel, Target: "http://127.0.0.1:1", Count: 1},
		LoadOptions{MetricsURL: "http://127.0.0.1:1/metrics", PIDs: []int{os.Getpid()}})
	if err == nil || !strings.Contains(err.Error(), "both given") {
		t.Errorf("metrics and pids: %v", err)
	}
}
