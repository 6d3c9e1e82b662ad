package messagegateway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/httpapi/messagegateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
)

// The Fineract side of the end-to-end tests: apptest's tenant mfi-a (Kenya,
// sender MFI-A) is Fineract tenant "default"; mfi-b (Tanzania, extra sender
// 22555) is Fineract tenant "tz".
const (
	keyA = "fineract-app-key-a"
	keyB = "fineract-app-key-b"
)

func fineractTenants() map[string]messagegateway.TenantConfig {
	return map[string]messagegateway.TenantConfig{
		"mfi-a": {TenantIDs: []string{"default"}, AppKeys: []string{keyA}, Bridges: []messagegateway.Bridge{
			{ID: 1, PhoneNo: "MFI-A", ProviderName: "smsgw", Description: "campaigns"},
			{ID: 2, PhoneNo: "MFI-A", ProviderName: "smsgw", Description: "receipts", Category: gateway.CategoryTransactional},
		}},
		"mfi-b": {TenantIDs: []string{"tz"}, AppKeys: []string{keyB}, Bridges: []messagegateway.Bridge{
			{ID: 7, PhoneNo: "22555", ProviderName: "smsgw", Description: "shortcode"},
		}},
	}
}

// fixture is a real gateway bound to a simulator, with the API served over
// its engine on a loopback httptest server.
type fixture struct {
	sim  *smsc.Server
	gw   *app.App
	addr string // host:port of the API
}

func start(t *testing.T, opts ...smsc.Option) *fixture {
	t.Helper()
	return startWith(t, messagegateway.Options{Prefix: "fineract"}, opts...)
}

// startWith is start with the API's options.
func startWith(t *testing.T, mg messagegateway.Options, opts ...smsc.Option) *fixture {
	t.Helper()
	sim := smsc.NewServer(opts...)
	t.Cleanup(sim.Close) // runs after the gateway's Stop, registered later
	gw := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	h, err := messagegateway.New(fineractTenants(), gw.Engine(), mg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, hh := range h.Routes() {
		mux.Handle(p, hh)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{sim: sim, gw: gw, addr: srv.Listener.Addr().String()}
}

// call sends what Fineract's RestTemplate sends, byte for byte: the
// request line as Jersey's UriBuilder writes it (the report is
// /sms%2Freport), its headers in its order, and the body.
func (f *fixture) call(t *testing.T, method, path, tenant, key, body string) (int, string) {
	t.Helper()
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nAccept: application/json, application/*+json\r\nContent-Type: application/json\r\n", method, path)
	fmt.Fprintf(&req, "%s: %s\r\n%s: %s\r\n", messagegateway.HeaderTenantID, tenant, messagegateway.HeaderAppKey, key)
	fmt.Fprintf(&req, "User-Agent: Java/17.0.10\r\nHost: %s\r\nConnection: keep-alive\r\n", f.addr)
	if method != http.MethodGet {
		fmt.Fprintf(&req, "Content-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n" + body)
	resp := messagegateway.SendRaw(t, f.addr, []byte(req.String()))
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fixture) send(t *testing.T, tenant, key, body string) sendAnswer {
	t.Helper()
	code, b := f.call(t, http.MethodPost, "/sms", tenant, key, body)
	if code != http.StatusAccepted {
		t.Fatalf("POST /sms = %d %s, want 202", code, b)
	}
	var a sendAnswer
	if err := json.Unmarshal([]byte(b), &a); err != nil {
		t.Fatalf("POST /sms body %q: %v", b, err)
	}
	return a
}

type sendAnswer struct {
	Accepted, Duplicates, OptedOut int
	Refused                        []struct {
		InternalID int64
		Field      string
		Error      string
	}
}

type entry struct {
	ID              int64   `json:"id"`
	ExternalID      *string `json:"externalId"`
	AddedOnDate     *string `json:"addedOnDate"`
	DeliveredOnDate *string `json:"deliveredOnDate"`
	DeliveryStatus  int     `json:"deliveryStatus"`
	HasError        bool    `json:"hasError"`
	ErrorMessage    *string `json:"errorMessage"`
}

// report polls as Fineract's report job does; ids smsgw left out of the
// answer are missing from the map.
func (f *fixture) report(t *testing.T, tenant, key string, ids ...int64) map[int64]entry {
	t.Helper()
	b, _ := json.Marshal(ids)
	code, body := f.call(t, http.MethodPost, "/fineract/sms%2Freport", tenant, key, string(b))
	if code != http.StatusOK {
		t.Fatalf("POST /sms/report = %d %s", code, body)
	}
	var es []entry
	if err := json.Unmarshal([]byte(body), &es); err != nil {
		t.Fatalf("report %q: %v", body, err)
	}
	if len(es) > len(ids) {
		t.Fatalf("report answered %d entries for %d ids: %s", len(es), len(ids), body)
	}
	out := map[int64]entry{}
	for _, e := range es {
		out[e.ID] = e
	}
	return out
}

// statusIs polls the report until id has the wanted Fineract status.
func (f *fixture) statusIs(t *testing.T, tenant, key string, id int64, want int) entry {
	t.Helper()
	var e entry
	testutil.Eventually(t, 10*time.Second, func() error {
		e = f.report(t, tenant, key, id)[id]
		if e.DeliveryStatus != want || e.HasError {
			return fmt.Errorf("id %d: deliveryStatus %d hasError %v, want %d", id, e.DeliveryStatus, e.HasError, want)
		}
		return nil
	})
	return e
}

// TestReportWalksThroughStatuses replays Fineract's send and report jobs
// (POST /sms, then POST /fineract/sms%2Freport as Jersey writes it) while
// the simulator holds its answer and receipt: the report says 150 while
// the message waits for the carrier and still 150 once the carrier took it
// (Fineract polls only status 150 and takes any other answer as final),
// then 300 once the receipt came.
func TestReportWalksThroughStatuses(t *testing.T) {
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	f := start(t, smsc.WithHandler(func(*smsc.Submit) smsc.Action {
		<-gate                              // hold the submit_sm_resp: the message stays ACCEPTED
		return smsc.Action{NoReceipt: true} // the test sends the receipt itself
	}))
	t.Cleanup(release) // before the simulator closes, if the test fails early

	a := f.send(t, "default", keyA, `[{"internalId":101,"tenantId":"default","mobileNumber":"0712345678","message":"Your loan repayment of KES 1,500 is due on 05 March.","providerId":1}]`)
	if a.Accepted != 1 {
		t.Fatalf("accepted %+v", a)
	}
	e := f.report(t, "default", keyA, 101)[101]
	if e.DeliveryStatus != messagegateway.StatusWaitingForReport || e.HasError || e.ExternalID == nil || e.DeliveredOnDate != nil {
		t.Fatalf("before the carrier answered: %+v, want 150 with an externalId", e)
	}
	if _, err := time.Parse(time.RFC3339Nano, *e.AddedOnDate); err != nil || !strings.HasSuffix(*e.AddedOnDate, "Z") {
		t.Errorf("addedOnDate %q: want RFC 3339 UTC (%v)", *e.AddedOnDate, err)
	}
	externalID := *e.ExternalID

	release()
	f.hasStatus(t, 101, gateway.StatusSubmitted)
	e = f.report(t, "default", keyA, 101)[101]
	if e.DeliveryStatus != messagegateway.StatusWaitingForReport || *e.ExternalID != externalID || e.DeliveredOnDate != nil {
		t.Fatalf("carrier took it, no receipt yet: %+v, want still 150", e)
	}

	subs := f.sim.Submits()
	if len(subs) != 1 || subs[0].Dest != "254712345678" || subs[0].Source != "MFI-A" {
		t.Fatalf("simulator got %+v, want one submit from MFI-A to 254712345678 (national number normalized for KE)", subs)
	}
	f.receipt(t, subs[0], "DELIVRD", "000")
	e = f.statusIs(t, "default", keyA, 101, messagegateway.StatusDelivered)
	if *e.ExternalID != externalID || e.DeliveredOnDate == nil || e.ErrorMessage != nil {
		t.Fatalf("after the receipt: %+v", e)
	}
	if _, err := time.Parse(time.RFC3339Nano, *e.DeliveredOnDate); err != nil {
		t.Errorf("deliveredOnDate %q: %v", *e.DeliveredOnDate, err)
	}
}

// TestCarrierFailureAfterFirstPoll: a message the carrier took is 150 at
// Fineract's first poll, and 400 with the carrier's reason once an
// UNDELIV receipt came; both answers go to the same Fineract request form.
func TestCarrierFailureAfterFirstPoll(t *testing.T) {
	f := start(t, smsc.WithHandler(func(*smsc.Submit) smsc.Action { return smsc.Action{NoReceipt: true} }))
	f.send(t, "default", keyA, `[{"internalId":111,"tenantId":"default","mobileNumber":"0712345678","message":"Group meeting moved to Tuesday.","providerId":1}]`)
	f.hasStatus(t, 111, gateway.StatusSubmitted)
	if e := f.report(t, "default", keyA, 111)[111]; e.DeliveryStatus != messagegateway.StatusWaitingForReport || e.HasError {
		t.Fatalf("first poll: %+v, want 150", e)
	}
	f.receipt(t, f.sim.Submits()[0], "UNDELIV", "001")
	e := f.statusIs(t, "default", keyA, 111, messagegateway.StatusFailed)
	if e.ErrorMessage == nil || !strings.Contains(*e.ErrorMessage, "UNDELIV") || e.DeliveredOnDate != nil {
		t.Fatalf("after the UNDELIV receipt: %+v, want 400 naming UNDELIV", e)
	}
}

// hasStatus waits until Fineract's message id has the smsgw status.
func (f *fixture) hasStatus(t *testing.T, id int64, want gateway.Status) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		m, err := f.gw.Engine().GetByClientRef(t.Context(), "mfi-a", fmt.Sprintf("%s%d", messagegateway.ClientRefPrefix, id))
		if err != nil || m.Status != want {
			return fmt.Errorf("message %d: %v %v, want %s", id, m, err, want)
		}
		return nil
	})
}

// receipt sends the carrier's delivery receipt for a submit.
func (f *fixture) receipt(t *testing.T, s smsc.Submit, stat, errCode string) {
	t.Helper()
	if err := f.sim.SendReceipt(s, stat, errCode); err != nil {
		t.Fatal(err)
	}
}

// TestNeverReceivedLeftOutUntilTheHorizon: an id whose POST never reached
// smsgw is left out of the answer (Fineract keeps it waiting and asks
// again; its POST may be on its way), until the horizon has passed since
// the first poll that asked for it; then it is 400 "never received". A
// POST that arrives in between is reported as any other message.
func TestNeverReceivedLeftOutUntilTheHorizon(t *testing.T) {
	const horizon = time.Hour
	clock := testutil.NewClock(time.Now())
	f := startWith(t, messagegateway.Options{Prefix: "fineract", ReportHorizon: horizon, Now: clock.Now})
	if rep := f.report(t, "default", keyA, 777, 778); len(rep) != 0 {
		t.Fatalf("first poll of unknown ids answered %+v, want them left out", rep)
	}
	f.send(t, "default", keyA, `[{"internalId":778,"tenantId":"default","mobileNumber":"0712345678","message":"late page","providerId":1}]`)
	clock.Advance(horizon - time.Minute)
	if e, ok := f.report(t, "default", keyA, 777)[777]; ok {
		t.Fatalf("777 answered before the horizon: %+v", e)
	}
	clock.Advance(2 * time.Minute)
	var e entry
	testutil.Eventually(t, 10*time.Second, func() error {
		rep := f.report(t, "default", keyA, 777)
		var ok bool
		if e, ok = rep[777]; !ok {
			return errors.New("777 still left out")
		}
		return nil
	})
	if e.DeliveryStatus != messagegateway.StatusFailed || e.HasError || e.ErrorMessage == nil || !strings.Contains(*e.ErrorMessage, "never received") {
		t.Fatalf("777 after the horizon: %+v, want 400 never received", e)
	}
	f.statusIs(t, "default", keyA, 778, messagegateway.StatusDelivered)
}

// TestResendStoresOnce: Fineract posting the same page again (a retry, an
// operator's replay) stores and sends nothing new, per tenant; national
// numbers are normalized by each tenant's region and the bridge picks the
// sender.
func TestResendStoresOnce(t *testing.T) {
	f := start(t)
	page := `[{"internalId":201,"tenantId":"default","mobileNumber":"0712345678","message":"Reminder 1","providerId":1},` +
		`{"internalId":202,"tenantId":"default","mobileNumber":"+254 733 123 456","message":"Reminder 2","providerId":1},` +
		`{"internalId":203,"tenantId":"default","mobileNumber":"0722000222","message":"Reminder \u0026 receipt","providerId":2}]`
	if a := f.send(t, "default", keyA, page); a.Accepted != 3 || a.Duplicates != 0 {
		t.Fatalf("first post: %+v", a)
	}
	if a := f.send(t, "default", keyA, page); a.Accepted != 0 || a.Duplicates != 3 {
		t.Fatalf("second post: %+v, want 3 duplicates", a)
	}
	// The same internalId from another Fineract tenant is another message.
	if a := f.send(t, "tz", keyB, `[{"internalId":201,"mobileNumber":"0712345678","message":"Habari","providerId":7}]`); a.Accepted != 1 {
		t.Fatalf("tz post: %+v", a)
	}
	for _, id := range []int64{201, 202, 203} {
		f.statusIs(t, "default", keyA, id, messagegateway.StatusDelivered)
	}
	f.statusIs(t, "tz", keyB, 201, messagegateway.StatusDelivered)
	if a := f.send(t, "default", keyA, page); a.Duplicates != 3 {
		t.Fatalf("post after delivery: %+v, want 3 duplicates", a)
	}

	got := map[string]string{}
	for _, s := range f.sim.Submits() {
		if _, dup := got[s.Dest]; dup {
			t.Fatalf("%s received twice", s.Dest)
		}
		got[s.Dest] = s.Source
	}
	want := map[string]string{"254712345678": "MFI-A", "254733123456": "MFI-A", "254722000222": "MFI-A", "255712345678": "22555"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("simulator got destination → sender %v, want %v", got, want)
	}

	// The bridge's category travels with the message.
	m, err := f.gw.Engine().GetByClientRef(t.Context(), "mfi-a", messagegateway.ClientRefPrefix+"203")
	if err != nil {
		t.Fatal(err)
	}
	if m.Category != gateway.CategoryTransactional || m.To != "+254722000222" {
		t.Errorf("message 203: category %q to %s, want transactional to +254722000222", m.Category, m.To)
	}
}

// TestRefusedItems: items the gateway refuses do not spoil the page, are
// not stored as messages, and the report says at once that they failed,
// with the reason, so Fineract stops waiting.
func TestRefusedItems(t *testing.T) {
	f := start(t)
	a := f.send(t, "default", keyA, `[{"internalId":301,"tenantId":"default","mobileNumber":"0712345678","message":"ok","providerId":1},`+
		`{"internalId":302,"tenantId":"default","mobileNumber":"0712345678","message":"unknown bridge","providerId":99},`+
		`{"internalId":303,"tenantId":"default","mobileNumber":"12345","message":"bad number","providerId":1},`+
		`{"internalId":304,"tenantId":"default","mobileNumber":"0712345678","message":""}]`)
	if a.Accepted != 1 || len(a.Refused) != 3 {
		t.Fatalf("answer %+v, want 1 accepted and 3 refused", a)
	}
	for i, want := range []struct {
		id    int64
		field string
	}{{302, "providerId"}, {303, "mobileNumber"}, {304, "message"}} {
		if r := a.Refused[i]; r.InternalID != want.id || r.Field != want.field {
			t.Errorf("refused[%d] = %+v, want id %d field %s", i, r, want.id, want.field)
		}
	}
	f.statusIs(t, "default", keyA, 301, messagegateway.StatusDelivered)
	rep := f.report(t, "default", keyA, 302, 303, 304)
	for _, id := range []int64{302, 303, 304} {
		e := rep[id]
		if e.DeliveryStatus != messagegateway.StatusFailed || e.HasError || e.ExternalID != nil || e.ErrorMessage == nil || !strings.HasPrefix(*e.ErrorMessage, "refused when posted: ") {
			t.Errorf("refused %d reported %+v, want 400 failed without error flag, with the reason", id, e)
		}
		if _, err := f.gw.Engine().GetByClientRef(t.Context(), "mfi-a", fmt.Sprintf("fineract:%d", id)); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("refused %d: stored (%v)", id, err)
		}
	}
	if n := len(f.sim.Submits()); n != 1 {
		t.Errorf("simulator got %d submits, want 1", n)
	}
}

// TestOptedOutReportsFailed: a number that texted STOP gets no marketing,
// and Fineract sees the message failed with the reason.
func TestOptedOutReportsFailed(t *testing.T) {
	f := start(t)
	if err := f.sim.SendMO("+254712000999", "MFI-A", "STOP"); err != nil {
		t.Fatal(err)
	}
	id := int64(400)
	testutil.Eventually(t, 10*time.Second, func() error {
		id++ // a fresh message each try: the opt-out is recorded asynchronously
		a := f.send(t, "default", keyA, fmt.Sprintf(`[{"internalId":%d,"tenantId":"default","mobileNumber":"0712000999","message":"Offer!","providerId":1}]`, id))
		if a.OptedOut != 1 {
			return fmt.Errorf("answer %+v, want opted out", a)
		}
		return nil
	})
	e := f.report(t, "default", keyA, id)[id]
	if e.DeliveryStatus != messagegateway.StatusFailed || e.HasError || e.ExternalID == nil || e.ErrorMessage == nil || *e.ErrorMessage == "" {
		t.Fatalf("opted-out message reported %+v, want 400 with a reason", e)
	}
}

// TestAuthAndMalformed against the real engine: nothing is stored.
func TestAuthAndMalformed(t *testing.T) {
	f := start(t)
	page := `[{"internalId":501,"tenantId":"default","mobileNumber":"0712345678","message":"hi"}]`
	for _, c := range []struct{ name, tenant, key string }{
		{"wrong key", "default", "nope"},
		{"other tenant's key", "default", keyB},
		{"unknown tenant", "elsewhere", keyA},
		{"no key", "default", ""},
	} {
		code, body := f.call(t, http.MethodPost, "/sms", c.tenant, c.key, page)
		if code != http.StatusUnauthorized || !strings.Contains(body, "unknown tenant or app key") {
			t.Errorf("%s: %d %s, want 401 unknown tenant or app key", c.name, code, body)
		}
	}
	for _, body := range []string{`[{"internalId":501,`, `{"internalId":501}`, `[{"message":"no id"}]`, `[501]`, ``} {
		code, ans := f.call(t, http.MethodPost, "/sms", "default", keyA, body)
		if code != http.StatusBadRequest || !strings.Contains(ans, "malformed request") {
			t.Errorf("body %q: %d %s, want 400 malformed request", body, code, ans)
		}
	}
	if _, err := f.gw.Engine().GetByClientRef(t.Context(), "mfi-a", "fineract:501"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("a refused call stored message 501 (%v)", err)
	}
	code, body := f.call(t, http.MethodGet, "/fineract/smsbridges", "tz", keyB, "")
	if code != http.StatusOK || body != `[{"id":7,"tenantId":"tz","phoneNo":"22555","providerAppKey":"","providerName":"smsgw","providerDescription":"shortcode"}]`+"\n" {
		t.Errorf("GET /smsbridges = %d %s", code, body)
	}
}
