package messagegateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
	if len(patterns) != 6 || h.Routes()["POST /api/v1/sms/report"] == nil || h.Routes()["GET /smsbridges"] == nil {
		t.Errorf("routes %v", patterns)
	}
	for _, tn := range h.byHeader {
		if tn.cfg.AppKeys != nil {
			t.Error("the handler keeps plain app keys")
		}
	}
}

// flakyEngine fails some lookups, and answers every Accept with a quota
// error that says the call can never pass.
type flakyEngine struct{ *fakeEngine }

func (f flakyEngine) Accept(context.Context, string, []gateway.SendRequest) ([]gateway.AcceptOutcome, error) {
	return nil, &gateway.QuotaError{Tenant: "mfi-a", TooLarge: true}
}

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
// hasError true (Fineract asks again), the others normally; a page larger
// than the tenant's burst is 413, not a retryable 429.
func TestPartialLookupFailureAndTooLarge(t *testing.T) {
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
	w = post(t, h, "/sms", `[{"internalId":1,"mobileNumber":"0712345678","message":"hi"}]`)
	if w.Code != http.StatusRequestEntityTooLarge || w.Header().Get("Retry-After") != "" || !strings.Contains(w.Body.String(), "burst") {
		t.Errorf("too large page = %d %s", w.Code, w.Body)
	}
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
