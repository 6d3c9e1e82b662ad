package fineract_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/fineract/fakefineract"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// recorder is a gateway that records what it is asked to send and answers
// a client_ref it has seen as the gateway does: the same message again.
// The sends numbered in down (from 1) fail as a gateway that is down
// fails.
type recorder struct {
	mu    sync.Mutex
	sent  []*pb.SendRequest
	refs  map[string]bool
	down  []int
	tries int
}

func (r *recorder) Send(_ context.Context, in *pb.SendRequest, _ ...grpc.CallOption) (*pb.SendResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tries++; slices.Contains(r.down, r.tries) {
		return nil, status.Error(codes.Unavailable, "connection refused")
	}
	if r.refs == nil {
		r.refs = map[string]bool{}
	}
	if r.refs[in.GetClientRef()] {
		return &pb.SendResponse{Id: in.GetClientRef(), Duplicate: true}, nil
	}
	r.refs[in.GetClientRef()] = true
	r.sent = append(r.sent, in)
	return &pb.SendResponse{Id: in.GetClientRef(), Parts: 1}, nil
}

func (r *recorder) all() []*pb.SendRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// hookRig is a notifier on the events data set with a recording gateway,
// behind a hook endpoint.
type hookRig struct {
	fake *fakefineract.Server
	gw   *recorder
	n    *fineract.Notifier
	url  string // the tenant's hook URL
	srv  *httptest.Server
	reg  *prometheus.Registry
}

func newHookRig(t *testing.T, events *fineract.EventsConfig, opts fineract.NotifierOptions, backoff *guard.Backoff) *hookRig {
	return newHookRigDown(t, events, opts, backoff)
}

// newHookRigDown is newHookRig with a gateway whose sends numbered in down
// fail.
func newHookRigDown(t *testing.T, events *fineract.EventsConfig, opts fineract.NotifierOptions, backoff *guard.Backoff, down ...int) *hookRig {
	t.Helper()
	fake, err := fakefineract.New(os.DirFS("testdata/events"))
	if err != nil {
		t.Fatal(err)
	}
	fin := newServer(t, fake)
	reg := prometheus.NewRegistry()
	m := fineract.NewMetrics(reg)
	rig := &hookRig{fake: fake, gw: &recorder{down: down}, reg: reg}
	opts.Gateway, opts.Fineract, opts.Region, opts.Metrics = rig.gw, newClient(t, fin, 5*time.Second, m), "KE", m
	texts, err := fineract.NewTexts(fineract.TextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if rig.n, err = fineract.NewNotifier(opts, events, texts); err != nil {
		t.Fatal(err)
	}
	hs, err := fineract.NewHookServer(fineract.HookServerOptions{
		Tenants:      []fineract.HookTenant{{Name: "mfi-a", FineractTenant: "default", Notifier: rig.n}},
		MaxBodyBytes: 4096, Backoff: backoff, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	rig.srv = httptest.NewServer(hs)
	t.Cleanup(rig.srv.Close)
	rig.url = rig.srv.URL + fineract.HookPath + "mfi-a/" + hookSecret + "/"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rig.n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return rig
}

func rulesConfig(rules ...fineract.RuleConfig) *fineract.EventsConfig {
	return &fineract.EventsConfig{Secret: hookSecret, StaffGroups: map[string][]string{"managers": {"+254700000001"}}, Rules: rules}
}

// TestHookEndpointRefuses: what is not a hook from the tenant's Fineract is
// refused with a status and a reason, and sends nothing.
func TestHookEndpointRefuses(t *testing.T) {
	backoff, err := guard.NewBackoff(guard.AuthConfig{Free: 3, Base: time.Minute, Max: time.Minute}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rig := newHookRig(t, rulesConfig(fineract.RuleConfig{Name: "deposit", Event: "SAVINGSACCOUNT/DEPOSIT", To: []string{"client"}}), fineract.NotifierOptions{}, backoff)

	form := depositHook(t, rig.url, 31, 200)
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if body := post(t, form, http.StatusUnsupportedMediaType); !strings.Contains(body, "Content Type to json") {
		t.Errorf("form body: %q", body)
	}
	other := depositHook(t, rig.url, 31, 200)
	other.Header.Set("Fineract-Platform-TenantId", "kisumu")
	if body := post(t, other, http.StatusBadRequest); !strings.Contains(body, `"kisumu" is not this tenant's Fineract tenant "default"`) {
		t.Errorf("another Fineract tenant: %q", body)
	}
	noHeaders := depositHook(t, rig.url, 31, 200)
	noHeaders.Header.Del("X-Fineract-Entity")
	post(t, noHeaders, http.StatusBadRequest)
	big := fineractHook(t, rig.url, "SAVINGSACCOUNT", "DEPOSIT", map[string]any{"note": strings.Repeat("x", 5000)},
		map[string]any{"clientId": 1, "savingsId": 31, "resourceId": 200})
	post(t, big, http.StatusRequestEntityTooLarge)
	// A command Fineract refused fires the hook too, with status
	// "Exception" and its error as the response.
	if body := post(t, failedHook(t, rig.url), http.StatusOK); !strings.Contains(body, "the command failed") {
		t.Errorf("a failed command: %q", body)
	}
	approve := fineractHook(t, rig.url, "LOAN", "APPROVE", map[string]any{}, map[string]any{"clientId": 1, "loanId": 21, "resourceId": 21})
	if body := post(t, approve, http.StatusOK); !strings.Contains(body, "ignored") {
		t.Errorf("LOAN/APPROVE: %q", body)
	}
	if v, _ := counter(t, rig.reg, "smsgw_fineract_hooks_total", map[string]string{"event": "other", "result": "ignored"}); v != 1 {
		t.Errorf("ignored events counted %v", v)
	}

	// Wrong secrets and unknown tenants look alike; the third wrong guess
	// from an address makes it wait, the right secret included.
	for _, u := range []string{
		rig.srv.URL + fineract.HookPath + "mfi-a/" + strings.Repeat("x", len(hookSecret)) + "/",
		rig.srv.URL + fineract.HookPath + "mfi-b/" + hookSecret + "/",
	} {
		post(t, depositHook(t, u, 31, 200), http.StatusUnauthorized)
	}
	post(t, depositHook(t, rig.srv.URL+fineract.HookPath+"mfi-a/guess/", 31, 200), http.StatusUnauthorized)
	post(t, depositHook(t, rig.url, 31, 200), http.StatusTooManyRequests)
	if n := len(rig.gw.all()); n != 0 {
		t.Fatalf("%d messages sent for refused hooks", n)
	}
}

// failedHook is a hook as Fineract's publishHookErrorEvent posts it for a
// refused deposit: "status": "Exception" beside the error.
func failedHook(t *testing.T, url string) *http.Request {
	t.Helper()
	body := `{"entityName":"SAVINGSACCOUNT","actionName":"DEPOSIT","createdBy":1,"createdByName":"mifos","createdByFullName":"App Administrator",` +
		`"request":{"transactionAmount":10.0},"status":"Exception","response":{"developerMessage":"Insufficient account balance.",` +
		`"errorCode":"error.msg.savingsaccount.transaction.insufficient.account.balance","statusCode":403},"timestamp":"2025-03-10T08:15:30Z"}`
	out, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out.Header = depositHook(t, url, 31, 200).Header
	return out
}

// TestHookAllowFrom: with allow_from, a right secret from another address
// is refused.
func TestHookAllowFrom(t *testing.T) {
	events := rulesConfig(fineract.RuleConfig{Name: "deposit", Event: "SAVINGSACCOUNT/DEPOSIT", To: []string{"client"}})
	events.AllowFrom = []string{"192.0.2.0/24"}
	rig := newHookRig(t, events, fineract.NotifierOptions{}, nil)
	if body := post(t, depositHook(t, rig.url, 31, 200), http.StatusForbidden); !strings.Contains(body, "allow_from") {
		t.Errorf("from 127.0.0.1: %q", body)
	}
	// A reload that allows the loopback lets it in.
	events.AllowFrom = []string{"127.0.0.1"}
	texts, _ := fineract.NewTexts(fineract.TextConfig{})
	if err := rig.n.Update(events, texts); err != nil {
		t.Fatal(err)
	}
	post(t, depositHook(t, rig.url, 31, 200), http.StatusAccepted)
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := len(rig.gw.all()); n != 1 {
			return fmt.Errorf("%d sent", n)
		}
		return nil
	})
}

// TestHookRulesConditions: conditions on amount, product, office and loan
// officer pick the rules; CLIENT/CREATE welcomes the client; a rule's own
// text replaces the template; an unknown client is counted, not retried.
func TestHookRulesConditions(t *testing.T) {
	min, _ := fineract.ParseDecimal("2750")
	max, _ := fineract.ParseDecimal("2749.99")
	rig := newHookRig(t, rulesConfig(
		fineract.RuleConfig{Name: "at-least", Event: "LOAN/REPAYMENT", MinAmount: min, To: []string{"group:managers"}, Text: "{{.ClientName}} paid {{.Amount}}"},
		fineract.RuleConfig{Name: "below", Event: "LOAN/REPAYMENT", MaxAmount: max, To: []string{"client"}},
		fineract.RuleConfig{Name: "other-product", Event: "LOAN/REPAYMENT", Products: []int64{2}, To: []string{"client"}},
		fineract.RuleConfig{Name: "other-office", Event: "LOAN/REPAYMENT", Offices: []int64{2}, To: []string{"client"}},
		fineract.RuleConfig{Name: "marys", Event: "LOAN/REPAYMENT", LoanOfficers: []int64{5}, Products: []int64{1}, Offices: []int64{1}, To: []string{"loan_officer"}},
		fineract.RuleConfig{Name: "welcome", Event: "CLIENT/CREATE", To: []string{"client", "loan_officer"}},
	), fineract.NotifierOptions{NotFoundFor: 200 * time.Millisecond, MinBackoff: 20 * time.Millisecond}, nil)
	post(t, repaymentHook(t, rig.url), http.StatusAccepted)
	create := func(id int) *http.Request {
		return fineractHook(t, rig.url, "CLIENT", "CREATE",
			map[string]any{"officeId": 1.0, "firstname": "Jane", "lastname": "Wanjiru", "mobileNo": "0712 345 678", "active": true, "locale": "en", "dateFormat": "dd MMMM yyyy"},
			map[string]any{"commandId": 9, "clientId": id, "resourceId": id})
	}
	post(t, create(1), http.StatusAccepted)
	post(t, create(99), http.StatusAccepted) // not in Fineract (deleted since)
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := len(rig.gw.all()); n != 4 {
			return fmt.Errorf("%d sent", n)
		}
		return nil
	})
	var got []string
	for _, s := range rig.gw.all() {
		got = append(got, s.GetClientRef()+" "+s.GetTo()+" "+s.GetText())
		if s.GetCategory() != pb.Category_CATEGORY_TRANSACTIONAL {
			t.Errorf("%s: category %v, want transactional", s.GetClientRef(), s.GetCategory())
		}
	}
	slices.Sort(got)
	want := []string{
		"fineract-event:client-create:1:welcome:client +254712345678 Dear Jane, welcome! Your client number is 000000001. Text BAL for your savings balance, DUE for your next installment.",
		"fineract-event:client-create:1:welcome:officer +254733555111 new client: Jane Wanjiru.",
		"fineract-event:loan-repayment:21:101:at-least:managers-" + refHash("+254700000001") + " +254700000001 Jane Wanjiru paid KES 2,750.00",
		"fineract-event:loan-repayment:21:101:marys:officer +254733555111 repayment: Jane Wanjiru, Biashara Loan *0021, KES 2,750.00 on 10 Mar 2025.",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if v, _ := counter(t, rig.reg, "smsgw_fineract_event_messages_total", map[string]string{"rule": "", "outcome": "not_found"}); v != 1 {
			return fmt.Errorf("unknown client counted %v times", v)
		}
		return nil
	})
}

// refHash is the recipient part of a staff group member's client_ref.
func refHash(e164 string) string {
	sum := sha256.Sum256([]byte(e164))
	return fmt.Sprintf("%x", sum[:4])
}

// TestHookBeforeCommit: Fineract posts the hook before its transaction
// commits, so a transaction not found yet is looked up again, and given up
// once NotFoundFor has passed.
func TestHookBeforeCommit(t *testing.T) {
	rig := newHookRig(t, rulesConfig(fineract.RuleConfig{Name: "deposit", Event: "SAVINGSACCOUNT/DEPOSIT", To: []string{"client"}}),
		fineract.NotifierOptions{NotFoundFor: 300 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}, nil)
	post(t, depositHook(t, rig.url, 31, 999), http.StatusAccepted)
	testutil.Eventually(t, 10*time.Second, func() error {
		if v, _ := counter(t, rig.reg, "smsgw_fineract_event_messages_total", map[string]string{"rule": "", "outcome": "not_found"}); v != 1 {
			return fmt.Errorf("not_found counted %v times", v)
		}
		return nil
	})
	lookups := 0
	for _, r := range rig.fake.Requests() {
		if r.Path == "/v1/savingsaccounts/31/transactions/999" {
			lookups++
		}
	}
	if lookups < 2 {
		t.Fatalf("the transaction was looked up %d times, want it looked up again before giving up", lookups)
	}
	if n := len(rig.gw.all()); n != 0 {
		t.Fatalf("%d sent for a transaction Fineract does not have", n)
	}
}

// TestHookOldBody: Fineract before 1.5 posted the bare
// CommandProcessingResult, officeId included.
func TestHookOldBody(t *testing.T) {
	h, err := fineract.ParseHook("LOAN", "REPAYMENT", "default", "", []byte(`{"commandId":801,"officeId":1,"clientId":1,"loanId":21,"resourceId":101,"changes":{}}`))
	if err != nil || h.OfficeID != 1 || h.Key() != "loan-repayment:21:101" {
		t.Fatalf("ParseHook = %+v, %v", h, err)
	}
	if _, err := fineract.ParseHook("LOAN", "REPAYMENT", "default", "", []byte(`{"response":{"loanId":21}}`)); err == nil ||
		!strings.Contains(err.Error(), "LOAN/REPAYMENT without resourceId") {
		t.Fatalf("a repayment without its transaction: %v", err)
	}
}

// TestHookGatewayDown: while the gateway is unavailable the event is tried
// again; the message sent before the failure is not sent twice.
func TestHookGatewayDown(t *testing.T) {
	rig := newHookRigDown(t, rulesConfig(fineract.RuleConfig{Name: "repayment", Event: "LOAN/REPAYMENT", To: []string{"client", "loan_officer"}}),
		fineract.NotifierOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, nil, 2)
	post(t, repaymentHook(t, rig.url), http.StatusAccepted)
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := len(rig.gw.all()); n != 2 {
			return fmt.Errorf("%d sent", n)
		}
		return nil
	})
	// The client's receipt went out, the officer's alert failed; the
	// retry sent the receipt again under its client_ref, a duplicate.
	testutil.Eventually(t, 10*time.Second, func() error {
		sent, _ := counter(t, rig.reg, "smsgw_fineract_event_messages_total", map[string]string{"rule": "repayment", "outcome": "sent"})
		dup, _ := counter(t, rig.reg, "smsgw_fineract_event_messages_total", map[string]string{"rule": "repayment", "outcome": "duplicate"})
		if sent != 2 || dup != 1 {
			return fmt.Errorf("sent %v, duplicate %v; want 2 and 1", sent, dup)
		}
		return nil
	})
}

// TestHookSpool: a hook taken while the gateway is down stays in the
// spool when the adapter stops, and the next start sends it.
func TestHookSpool(t *testing.T) {
	fake, err := fakefineract.New(os.DirFS("testdata/events"))
	if err != nil {
		t.Fatal(err)
	}
	fc := newClient(t, newServer(t, fake), 5*time.Second, nil)
	texts, err := fineract.NewTexts(fineract.TextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	events := rulesConfig(fineract.RuleConfig{Name: "deposit", Event: "SAVINGSACCOUNT/DEPOSIT", To: []string{"client"}})
	spool := t.TempDir()
	// run starts a notifier on the spool, handing it the deposit hook
	// when post is set.
	run := func(gw *recorder, post bool) (stop func()) {
		n, err := fineract.NewNotifier(fineract.NotifierOptions{Gateway: gw, Fineract: fc, Region: "KE", Spool: spool,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, events, texts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = n.Run(ctx) }()
		if post {
			h, err := fineract.ParseHook("SAVINGSACCOUNT", "DEPOSIT", "default", "",
				[]byte(`{"officeId":1,"clientId":1,"response":{"clientId":1,"savingsId":31,"resourceId":200}}`))
			if err != nil {
				t.Fatal(err)
			}
			h.Received = time.Now()
			if err := n.Enqueue(h); err != nil {
				t.Fatal(err)
			}
		}
		return func() { cancel(); <-done }
	}
	spooled := func() []string {
		files, _ := filepath.Glob(filepath.Join(spool, "*.json"))
		return files
	}

	down := &recorder{down: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}
	stop := run(down, true)
	testutil.Eventually(t, 10*time.Second, func() error {
		down.mu.Lock()
		defer down.mu.Unlock()
		if down.tries < 2 {
			return fmt.Errorf("%d tries", down.tries)
		}
		return nil
	})
	stop()
	if files := spooled(); len(files) != 1 || !strings.Contains(files[0], "savings-deposit_31_200") {
		t.Fatalf("spool after a stop: %v, want the deposit", files)
	}

	up := &recorder{}
	defer run(up, false)()
	testutil.Eventually(t, 10*time.Second, func() error {
		if sent := up.all(); len(sent) != 1 || sent[0].GetClientRef() != "fineract-event:savings-deposit:31:200:deposit:client" {
			return fmt.Errorf("sent %v", sent)
		}
		if files := spooled(); len(files) != 0 {
			return fmt.Errorf("spool still holds %v", files)
		}
		return nil
	})
}
