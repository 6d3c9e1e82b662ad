package messagegateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/openmf/smsgw/gateway"
)

func TestValidate(t *testing.T) {
	ok := TenantConfig{TenantIDs: []string{"default"}, AppKeys: []string{"k"}, Bridges: []Bridge{{ID: 1, ProviderName: "smsgw"}}}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Fatalf("valid config: %v", errs)
	}
	cases := []struct {
		name string
		cfg  TenantConfig
		want []string
	}{
		{"empty", TenantConfig{}, []string{
			"tenant_ids: required: the Fineract-Platform-TenantId values (Fineract's tenant identifier) of this tenant",
			"app_keys: required: Fineract sends its MESSAGE_GATEWAY tenant_app_key with every call",
		}},
		{"bad lists", TenantConfig{TenantIDs: []string{"a", "", " b", "a"}, AppKeys: []string{"", " secret "}}, []string{
			"tenant_ids[1]: is empty",
			`tenant_ids[2]: " b" has leading or trailing spaces`,
			`tenant_ids[3]: "a" is listed twice`,
			"app_keys[0]: is empty",
			"app_keys[1]: has leading or trailing spaces",
		}},
		{"bad bridges", TenantConfig{TenantIDs: []string{"a"}, AppKeys: []string{"k"}, Bridges: []Bridge{
			{ID: 0, ProviderName: "x"},
			{ID: 2, ProviderName: "x", Category: "promo"},
			{ID: 2, PhoneNo: "22555 ", ProviderName: " "},
		}}, []string{
			"bridges[0].id: must be ≥ 1, got 0",
			`bridges[1].category: must be "marketing" or "transactional", got "promo"`,
			"bridges[2].id: 2 is also bridges[1].id",
			`bridges[2].phone_no: "22555 " has leading or trailing spaces`,
			"bridges[2].provider_name: required: Fineract's campaign screen lists bridges by it",
		}},
	}
	for _, c := range cases {
		var got []string
		for _, err := range c.cfg.Validate() {
			got = append(got, err.Error())
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:\ngot  %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	eng := newFakeEngine()
	_, err := New(map[string]TenantConfig{
		"mfi-a": {TenantIDs: []string{"default"}, AppKeys: []string{"k1"}},
		"mfi-b": {TenantIDs: []string{"default", "b"}, AppKeys: []string{"k2"}, Bridges: []Bridge{{ID: -1, ProviderName: "x"}}},
	}, eng, Options{})
	want := "messagegateway: mfi-b.bridges[0].id: must be ≥ 1, got -1\nmfi-b.tenant_ids[0]: \"default\" already names tenant mfi-a"
	if err == nil || err.Error() != want {
		t.Errorf("New = %v, want\n%s", err, want)
	}
	for _, p := range []string{"a b", "{x}", "a//b", "../x"} {
		if _, err := New(nil, eng, Options{Prefix: p}); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	if _, err := New(nil, nil, Options{}); err == nil {
		t.Error("nil engine accepted")
	}
	h, err := New(goldenTenants(), eng, Options{Prefix: "/api/v1/"})
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for p := range h.Routes() {
		patterns = append(patterns, p)
	}
	// 4 routes at the root, under /api/v1, and under each single-segment
	// form Fineract may write the end_point in: api%2Fv1, %2Fapi%2Fv1,
	// api%2Fv1%2F and %2Fapi%2Fv1%2F.
	if len(patterns) != 24 || h.Routes()["POST /api/v1/sms/report"] == nil || h.Routes()["GET /smsbridges"] == nil ||
		h.Routes()["POST /%2Fapi%2Fv1%2F/sms%2Freport"] == nil || h.Routes()["POST /sms%2Freport"] == nil {
		t.Errorf("routes %v", patterns)
	}
	mux(h) // registers without a conflict
	for _, tn := range h.byHeader {
		if tn.cfg.AppKeys != nil {
			t.Error("the handler keeps plain app keys")
		}
	}
}

// flakyEngine fails some lookups.
type flakyEngine struct{ *fakeEngine }

func (f flakyEngine) GetByClientRef(ctx context.Context, tenant, ref string) (*gateway.Message, error) {
	if ref == "fineract:2" {
		return nil, errors.New("store: timeout")
	}
	return f.fakeEngine.GetByClientRef(ctx, tenant, ref)
}

func post(t *testing.T, h *Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set(HeaderTenantID, "default")
	req.Header.Set(HeaderAppKey, "c2VjcmV0LWZpbmVyYWN0LWtleQ")
	w := httptest.NewRecorder()
	mux(h).ServeHTTP(w, req)
	return w
}

// TestPartialLookupFailure: an id whose lookup failed is reported
// hasError true (Fineract asks again), the others normally.
func TestPartialLookupFailure(t *testing.T) {
	eng := newFakeEngine()
	eng.seed("mfi-a", 1, gateway.StatusDelivered, "", fakeTime)
	h, err := New(goldenTenants(), flakyEngine{eng}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := post(t, h, "/sms/report", "[1,2]")
	want := `[{"id":1,"externalId":"0190e001-0000-7000-8000-000000000000","addedOnDate":"2024-03-01T08:30:00.000Z","deliveredOnDate":"2024-03-01T09:30:00.000Z","deliveryStatus":300,"hasError":false,"errorMessage":null},` +
		`{"id":2,"externalId":null,"addedOnDate":null,"deliveredOnDate":null,"deliveryStatus":100,"hasError":true,"errorMessage":"smsgw could not look this message up now; ask again"}]` + "\n"
	if w.Code != http.StatusOK || w.Body.String() != want {
		t.Errorf("report = %d %s\nwant %s", w.Code, w.Body, want)
	}
}

// TestReportLimits: more ids than MaxReportIDs is 413 and looks nothing
// up; an id asked twice counts once and is answered once; a caller that
// hung up stops the lookups.
func TestReportLimits(t *testing.T) {
	eng := &countingLookups{fakeEngine: newFakeEngine()}
	eng.seed("mfi-a", 1, gateway.StatusDelivered, "", fakeTime)
	h, err := New(goldenTenants(), eng, Options{MaxReportIDs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if w := post(t, h, "/sms/report", "[1,2,3,4]"); w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "more than 3 ids") {
		t.Errorf("4 ids over a cap of 3 = %d %s, want 413", w.Code, w.Body)
	}
	if eng.lookups.Load() != 0 {
		t.Errorf("%d lookups for a refused report", eng.lookups.Load())
	}
	w := post(t, h, "/sms/report", "[1,1,1,1,1,1]")
	if w.Code != http.StatusOK || strings.Count(w.Body.String(), `"id":1,`) != 1 || eng.lookups.Load() != 1 {
		t.Errorf("one id asked 6 times = %d %s after %d lookups, want one entry and one lookup", w.Code, w.Body, eng.lookups.Load())
	}

	ctx, cancel := context.WithCancel(context.Background())
	eng.lookups.Store(0)
	eng.onLookup = cancel // the caller hangs up during the first lookup
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/sms/report", strings.NewReader("[1,2,3]"))
	req.Header.Set(HeaderTenantID, "default")
	req.Header.Set(HeaderAppKey, "c2VjcmV0LWZpbmVyYWN0LWtleQ")
	mux(h).ServeHTTP(httptest.NewRecorder(), req)
	if n := eng.lookups.Load(); n != 1 {
		t.Errorf("%d lookups after the caller hung up during the first, want 1", n)
	}
}

// countingLookups counts GetByClientRef calls and runs onLookup in each.
type countingLookups struct {
	*fakeEngine
	lookups  atomic.Int64
	onLookup func()
}

func (c *countingLookups) GetByClientRef(ctx context.Context, tenant, ref string) (*gateway.Message, error) {
	c.lookups.Add(1)
	if c.onLookup != nil {
		c.onLookup()
	}
	return c.fakeEngine.GetByClientRef(ctx, tenant, ref)
}

// TestHugePageStreams posts a 100,000-item page, generated as it is sent,
// to an engine that keeps nothing: the handler must read and hand it on in
// chunks, so the live heap stays small (the whole page decoded at once
// took over 600 MB). The heap is read at every chunk the engine receives.
func TestHugePageStreams(t *testing.T) {
	const items = 100_000
	eng := &discardEngine{}
	h, err := New(goldenTenants(), eng, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	body, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		w.WriteString("[")
		for i := range items {
			if i > 0 {
				w.WriteString(",")
			}
			fmt.Fprintf(w, `{"internalId":%d,"tenantId":"default","mobileNumber":"07%08d","message":"Dear client, your loan repayment of KES 1,500 is due on Friday 05 March. Thank you.","providerId":1}`, i+1, i)
		}
		w.WriteString("]")
		pw.CloseWithError(w.Flush())
	}()
	req := httptest.NewRequest(http.MethodPost, "/sms", body)
	req.Header.Set(HeaderTenantID, "default")
	req.Header.Set(HeaderAppKey, "c2VjcmV0LWZpbmVyYWN0LWtleQ")
	w := httptest.NewRecorder()
	mux(h).ServeHTTP(w, req)
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), fmt.Sprintf(`"accepted":%d`, items)) {
		t.Fatalf("= %d %s", w.Code, w.Body)
	}
	if eng.items != items || eng.calls != items/pageChunk {
		t.Errorf("engine got %d items in %d calls, want %d in %d", eng.items, eng.calls, items, items/pageChunk)
	}
	// Bound: 32 MiB over the heap before the call, for a page whose body
	// alone is about 19 MB and whose decoded items were ~600 MB at once.
	grown := int64(eng.peakHeap) - int64(base.HeapAlloc)
	t.Logf("heap before %d KiB, at most %d KiB while %d items streamed", base.HeapAlloc>>10, eng.peakHeap>>10, items)
	if grown > 32<<20 {
		t.Errorf("the heap grew by %d MiB while the page streamed, want ≤ 32 MiB", grown>>20)
	}
}

// discardEngine accepts everything and keeps nothing but counts and the
// largest heap seen at a call.
type discardEngine struct {
	items, calls int
	peakHeap     uint64
}

func (d *discardEngine) AcceptPaced(_ context.Context, _ string, reqs []gateway.SendRequest) ([]gateway.AcceptOutcome, error) {
	d.calls++
	d.items += len(reqs)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	d.peakHeap = max(d.peakHeap, ms.HeapAlloc)
	return make([]gateway.AcceptOutcome, len(reqs)), nil
}

func (d *discardEngine) GetByClientRef(context.Context, string, string) (*gateway.Message, error) {
	return nil, gateway.ErrNotFound
}

func (d *discardEngine) NoteMissing(context.Context, string, map[string]string) (map[string]gateway.Missing, error) {
	return nil, nil
}

// TestBodyLimit: a body over MaxBodyBytes is 413 and never reaches the
// engine.
func TestBodyLimit(t *testing.T) {
	eng := newFakeEngine()
	h, err := New(goldenTenants(), eng, Options{MaxBodyBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	w := post(t, h, "/sms", `[{"internalId":1,"mobileNumber":"0712345678","message":"`+strings.Repeat("x", 100)+`"}]`)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("= %d %s, want 413", w.Code, w.Body)
	}
	if len(eng.msgs) != 0 {
		t.Error("stored")
	}
}

// TestLogsHideNumbersAndText: at info level no whole phone number and no
// message text reaches the log, refused items included.
func TestLogsHideNumbersAndText(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h, err := New(goldenTenants(), newFakeEngine(), Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w := post(t, h, "/sms", `[{"internalId":1,"mobileNumber":"0712345678","message":"secret balance 1234"},`+
		`{"internalId":2,"mobileNumber":"07123456789999","message":"secret balance 1234"},`+
		`{"internalId":3,"mobileNumber":"0712345678","message":"secret balance 1234","providerId":77}]`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("= %d %s", w.Code, w.Body)
	}
	post(t, h, "/sms", `["0712345678"]`)
	logged := buf.String()
	for _, secret := range []string{"712345678", "secret balance"} {
		if strings.Contains(logged, secret) {
			t.Errorf("log shows %q:\n%s", secret, logged)
		}
	}
	if !strings.Contains(logged, "internal_id=2") || !strings.Contains(logged, "to=07123*") {
		t.Errorf("log does not name the refused item with a masked number:\n%s", logged)
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	h, err := New(goldenTenants(), newFakeEngine(), Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	post(t, h, "/sms", `[{"internalId":1,"mobileNumber":"0712345678","message":"hi"},{"internalId":2,"mobileNumber":"1","message":"hi"}]`)
	// A second handler on the same registry (a reload) shares the series.
	if _, err := New(goldenTenants(), newFakeEngine(), Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf(",%s=%s", l.GetName(), l.GetValue())
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	for k, v := range map[string]float64{
		"smsgw_message_gateway_requests_total,code=202,route=sms":            1,
		"smsgw_message_gateway_messages_total,outcome=accepted,tenant=mfi-a": 1,
		"smsgw_message_gateway_messages_total,outcome=refused,tenant=mfi-a":  1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
