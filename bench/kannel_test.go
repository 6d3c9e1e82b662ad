package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
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
