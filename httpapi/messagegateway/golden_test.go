package messagegateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
)

var update = flag.Bool("update", false, "rewrite the golden .response files")

// fakeEngine is a deterministic stand-in for *gateway.Engine: sequential
// ids, fixed times, the engine's number normalization and sender rules,
// and a per-tenant failure mode the real engine cannot be pushed into on
// demand (a full store).
type fakeEngine struct {
	mu       sync.Mutex
	msgs     map[string]*gateway.Message // tenant + "/" + client ref
	missing  map[string]gateway.Missing  // tenant + "/" + client ref
	n        int
	now      time.Time       // the engine's clock, fixed
	optedOut map[string]bool // E.164 numbers that sent STOP
	down     map[string]bool // tenants whose store fails
}

var fakeTime = time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)

// fakeTenants are the engine-side tenants: region, default sender, senders.
var fakeTenants = map[string]struct {
	region, sender string
	senders        []string
}{
	"mfi-a":    {"KE", "MFI-A", []string{"22555", "MFI-ALERTS"}},
	"mfi-b":    {"TZ", "MFI-B", nil},
	"mfi-down": {"KE", "DOWN", nil},
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		msgs:     map[string]*gateway.Message{},
		missing:  map[string]gateway.Missing{},
		now:      fakeTime,
		optedOut: map[string]bool{},
		down:     map[string]bool{"mfi-down": true},
	}
}

func (f *fakeEngine) AcceptPaced(_ context.Context, tenant string, reqs []gateway.SendRequest) ([]gateway.AcceptOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[tenant] {
		return nil, errors.New("gateway: accept: disk I/O error")
	}
	t := fakeTenants[tenant]
	out := make([]gateway.AcceptOutcome, len(reqs))
	for i, r := range reqs {
		to, err := gateway.NormalizeNumber(r.To, t.region)
		if err != nil {
			out[i].Err = &gateway.FieldError{Field: "to", Reason: err.Error()}
			continue
		}
		if r.Text == "" {
			out[i].Err = &gateway.FieldError{Field: "text", Reason: "is empty"}
			continue
		}
		from := r.From
		if from == "" {
			from = t.sender
		}
		if from != t.sender && !contains(t.senders, from) {
			out[i].Err = &gateway.FieldError{Field: "from", Reason: fmt.Sprintf("sender %q is not allowed for tenant %s", from, tenant)}
			continue
		}
		key := tenant + "/" + r.ClientRef
		if m, dup := f.msgs[key]; dup {
			out[i] = gateway.AcceptOutcome{ID: m.ID, Duplicate: true, Parts: 1, Encoding: gateway.EncodingGSM7}
			continue
		}
		f.n++
		m := &gateway.Message{
			ID: fmt.Sprintf("0190f%03d-0000-7000-8000-000000000000", f.n), Tenant: tenant, ClientRef: r.ClientRef,
			From: from, To: to, Text: r.Text, Category: r.Category, Meta: r.Meta,
			Status: gateway.StatusAccepted, CreatedAt: fakeTime, UpdatedAt: fakeTime,
		}
		if f.optedOut[to] && r.Category != gateway.CategoryTransactional {
			m.Status, m.LastError = gateway.StatusOptedOut, "the number opted out (STOP)"
		}
		f.msgs[key] = m
		out[i] = gateway.AcceptOutcome{ID: m.ID, Status: m.Status, Parts: 1, Encoding: gateway.EncodingGSM7}
	}
	return out, nil
}

func (f *fakeEngine) GetByClientRef(_ context.Context, tenant, ref string) (*gateway.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[tenant] {
		return nil, errors.New("gateway: get: disk I/O error")
	}
	m, ok := f.msgs[tenant+"/"+ref]
	if !ok {
		return nil, gateway.ErrNotFound
	}
	c := *m
	return &c, nil
}

// NoteMissing keeps the first note of each ref, as the stores do; a reason
// fills a note that had none.
func (f *fakeEngine) NoteMissing(_ context.Context, tenant string, notes map[string]string) (map[string]gateway.Missing, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[tenant] {
		return nil, errors.New("gateway: note missing: disk I/O error")
	}
	out := map[string]gateway.Missing{}
	for ref, reason := range notes {
		k := tenant + "/" + ref
		m, ok := f.missing[k]
		if !ok {
			m.Since = f.now
		}
		if m.Reason == "" {
			m.Reason = reason
		}
		f.missing[k] = m
		out[ref] = m
	}
	return out, nil
}

// seed stores a message in a given state, as if Fineract had posted it
// earlier and the carrier had answered since.
func (f *fakeEngine) seed(tenant string, internalID int64, st gateway.Status, lastErr string, updated time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := fmt.Sprintf("%s%d", ClientRefPrefix, internalID)
	f.msgs[tenant+"/"+ref] = &gateway.Message{
		ID: fmt.Sprintf("0190e%03d-0000-7000-8000-000000000000", internalID%1000), Tenant: tenant, ClientRef: ref,
		Status: st, LastError: lastErr, CreatedAt: fakeTime.Add(-time.Hour), UpdatedAt: updated,
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// goldenTenants is the Fineract side of the golden tests.
func goldenTenants() map[string]TenantConfig {
	return map[string]TenantConfig{
		"mfi-a": {
			TenantIDs: []string{"default"},
			AppKeys:   []string{"c2VjcmV0LWZpbmVyYWN0LWtleQ", "rotated-key-2"},
			Bridges: []Bridge{
				{ID: 1, PhoneNo: "MFI-A", ProviderName: "smsgw", Description: "Marketing campaigns"},
				{ID: 2, PhoneNo: "22555", ProviderName: "smsgw", Description: "Receipts and reminders", Category: gateway.CategoryTransactional},
				{ID: 3, PhoneNo: "NOT-OURS", ProviderName: "smsgw", Description: "A sender the tenant may not use"},
			},
		},
		"mfi-b":    {TenantIDs: []string{"tz-mfi"}, AppKeys: []string{"tz-key"}},
		"mfi-down": {TenantIDs: []string{"down"}, AppKeys: []string{"down-key"}},
	}
}

// TestGolden replays, in file order, the requests Fineract sends
// (testdata/*.request, written the way its RestTemplate, Jersey's
// UriBuilder and Gson write them) byte for byte over a TCP connection, so
// the request line reaches the server exactly as Fineract writes it (no
// client normalizes /sms%2Freport), and compares each answer with its
// .response file: status line, the headers Fineract or a proxy reads, and
// the body.
func TestGolden(t *testing.T) {
	eng := newFakeEngine()
	ke := func(n string) string { s, _ := gateway.NormalizeNumber(n, "KE"); return s }
	eng.optedOut[ke("0722000111")] = true
	// Messages posted earlier, in every state the report knows.
	eng.seed("mfi-a", 901, gateway.StatusAccepted, "", fakeTime)
	eng.seed("mfi-a", 902, gateway.StatusSubmitted, "", fakeTime.Add(2*time.Second))
	eng.seed("mfi-a", 903, gateway.StatusDelivered, "", fakeTime.Add(9*time.Second+250*time.Millisecond))
	eng.seed("mfi-a", 904, gateway.StatusUndelivered, "carrier: UNDELIV err 001", fakeTime.Add(time.Minute))
	eng.seed("mfi-a", 905, gateway.StatusExpired, "", fakeTime.Add(time.Hour))
	eng.seed("mfi-a", 906, gateway.StatusFailed, "no route to +2547*****678", fakeTime.Add(time.Minute))
	eng.seed("mfi-a", 907, gateway.StatusCanceled, "canceled by the tenant", fakeTime.Add(time.Minute))
	eng.seed("mfi-a", 908, gateway.StatusRejected, "carrier refused: ESME_RINVDSTADR", fakeTime.Add(time.Minute))
	// Past the horizon: sent four days ago and no receipt since; asked
	// for since four days and never received.
	eng.seed("mfi-a", 909, gateway.StatusSubmitted, "", fakeTime.Add(-96*time.Hour))
	eng.missing["mfi-a/"+ClientRefPrefix+"910"] = gateway.Missing{Since: fakeTime.Add(-96 * time.Hour)}

	h, err := New(goldenTenants(), eng, Options{Prefix: "/fineract/", Now: func() time.Time { return fakeTime }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux(h))
	defer srv.Close()

	files, _ := filepath.Glob("testdata/*.request")
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no golden requests in testdata")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".request")
		got := dumpResponse(t, sendRaw(t, srv.Listener.Addr().String(), readRequest(t, file)))
		want := strings.TrimSuffix(file, ".request") + ".response"
		if *update {
			if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(want)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to write it)", name, err)
		}
		if got != string(b) {
			t.Errorf("%s: answer differs\n--- got\n%s--- want\n%s", name, got, b)
		}
	}
}

func mux(h *Handler) *http.ServeMux {
	m := http.NewServeMux()
	for p, hh := range h.Routes() {
		m.Handle(p, hh)
	}
	return m
}

// readRequest reads a request file: a request line, headers, a blank line
// and the body exactly as Fineract writes it (the file's final newline is
// not part of it). It returns the request as bytes on the wire: CRLF line
// ends and a Content-Length, as Java's HttpURLConnection computes it.
func readRequest(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(b), "\n\n")
	body = strings.TrimSuffix(body, "\n")
	var wire bytes.Buffer
	for _, l := range strings.Split(head, "\n") {
		wire.WriteString(l + "\r\n")
	}
	if !strings.HasPrefix(head, http.MethodGet+" ") {
		fmt.Fprintf(&wire, "Content-Length: %d\r\n", len(body))
	}
	wire.WriteString("\r\n" + body)
	return wire.Bytes()
}

// sendRaw writes req to addr as it is and reads one answer.
func sendRaw(t *testing.T, addr string, req []byte) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", bytes.SplitN(req, []byte("\r\n"), 2)[0], err)
	}
	return resp
}

// dumpResponse writes what the golden files compare: the status line, the
// headers that matter, and the body.
func dumpResponse(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	fmt.Fprintf(w, "HTTP/1.1 %s\n", resp.Status)
	for _, k := range []string{"Content-Type", "Retry-After"} {
		if v := resp.Header.Get(k); v != "" {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintf(w, "\n%s", body)
	w.Flush()
	return buf.String()
}
