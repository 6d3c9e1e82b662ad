package fineract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/fineract/fakefineract"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/smstext"
)

// hookSecret is the test tenant's events.secret.
const hookSecret = "s3cret-hook-path-0123456789"

// eventsConfig is a tenant with receipts and alerts: a repayment receipt to
// the client with an alert to the loan officer, disbursals of 50,000 and
// more to the managers and the officer (and of 100,000 and more to the
// client, which the test's 60,000 must not reach), and a deposit receipt.
func eventsConfig(t *testing.T, gwAddr, fineractURL string) *fineract.Config {
	t.Helper()
	cfg, err := fineract.ParseConfig(fmt.Appendf(nil, `
gateway: {addr: %q}
hooks: {listen: "127.0.0.1:0"}
tenants:
  - name: mfi-a
    api_key: %s
    region: KE
    fineract:
      url: %s/fineract-provider/api
      username: mifos
      password: password
      timeout: 5s
    events:
      secret: %s
      staff_groups:
        managers: ["+254700000001"]
      rules:
        - {name: repayment, event: LOAN/REPAYMENT, to: [client, loan_officer]}
        - {name: big-disbursal, event: LOAN/DISBURSE, min_amount: 50000, to: [group:managers, loan_officer]}
        - {name: huge-disbursal, event: LOAN/DISBURSE, min_amount: "100000", to: [client]}
        - {name: deposit, event: SAVINGSACCOUNT/DEPOSIT, to: [client]}
`, gwAddr, apptest.KeyA, fineractURL, hookSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fineractHook is the request Fineract's Web hook template makes, built as
// apache/fineract builds it: SynchronousCommandProcessingService
// .publishHookEvent (fineract-core/src/main/java/org/apache/fineract/
// commands/service/) serializes the body — who ran the command, the
// request as sent (through a Gson Map, so its numbers are doubles), the
// office and client, the CommandProcessingResult as "response" without its
// officeId, a timestamp; WebHookProcessor and WebHookService
// (fineract-provider/src/main/java/org/apache/fineract/infrastructure/
// hooks/processor/) post it with Retrofit to the payload URL ("." against
// a base URL ending in '/') with the headers X-Fineract-Entity,
// X-Fineract-Action and Fineract-Platform-TenantId (X-Fineract-Endpoint is
// System.getProperty("baseUrl"), unset on a stock install, so Retrofit
// leaves it out), and GsonConverterFactory's Content-Type; OkHttp adds its
// User-Agent and Accept-Encoding.
func fineractHook(t *testing.T, url, entity, action string, request, response map[string]any) *http.Request {
	t.Helper()
	body := map[string]any{
		"entityName": entity, "actionName": action,
		"createdBy": 1, "createdByName": "mifos", "createdByFullName": "App Administrator",
		"request": request, "officeId": 1, "clientId": response["clientId"], "response": response,
		"timestamp": "2025-03-10T08:15:30.123456Z",
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Fineract-Entity", entity)
	req.Header.Set("X-Fineract-Action", action)
	req.Header.Set("Fineract-Platform-TenantId", "default")
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set("User-Agent", "okhttp/4.12.0")
	return req
}

// The three hooks of the test, as Fineract posts them for the commands
// LoanWritePlatformServiceJpaRepositoryImpl.makeLoanRepayment (resourceId
// the transaction), .disburseLoan (resourceId the loan, subResourceId the
// disbursement transaction) and SavingsAccountWritePlatformService
// JpaRepositoryImpl.deposit (resourceId the transaction, savingsId).
func repaymentHook(t *testing.T, url string) *http.Request {
	return fineractHook(t, url, "LOAN", "REPAYMENT",
		map[string]any{"transactionDate": "10 March 2025", "transactionAmount": 2750.0, "paymentTypeId": 1.0, "note": "", "dateFormat": "dd MMMM yyyy", "locale": "en"},
		map[string]any{"commandId": 801, "clientId": 1, "loanId": 21, "resourceId": 101,
			"changes": map[string]any{"transactionDate": "10 March 2025", "transactionAmount": "2750.0", "locale": "en", "dateFormat": "dd MMMM yyyy", "paymentTypeId": 1}})
}

func disburseHook(t *testing.T, url string) *http.Request {
	return fineractHook(t, url, "LOAN", "DISBURSE",
		map[string]any{"actualDisbursementDate": "10 January 2025", "transactionAmount": 60000.0, "paymentTypeId": 1.0, "dateFormat": "dd MMMM yyyy", "locale": "en"},
		map[string]any{"commandId": 790, "clientId": 1, "loanId": 21, "resourceId": 21, "subResourceId": 100,
			"changes": map[string]any{"status": map[string]any{"id": 300, "code": "loanStatusType.active", "value": "Active"}, "locale": "en", "dateFormat": "dd MMMM yyyy", "actualDisbursementDate": "10 January 2025"}})
}

func depositHook(t *testing.T, url string, savings, tx int) *http.Request {
	return fineractHook(t, url, "SAVINGSACCOUNT", "DEPOSIT",
		map[string]any{"transactionDate": "12 March 2025", "transactionAmount": 1500.0, "paymentTypeId": 1.0, "dateFormat": "dd MMMM yyyy", "locale": "en"},
		map[string]any{"clientId": 1, "savingsId": savings, "resourceId": tx, "changes": map[string]any{"paymentTypeId": 1}})
}

func post(t *testing.T, req *http.Request, want int) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d %s, want %d", req.Method, req.URL.Path, resp.StatusCode, b, want)
	}
	return string(b)
}

// TestHooksSendReceiptsAndAlerts: a real gateway bound to the SMSC
// simulator, the fake Fineract, and the hook endpoint. Fineract's hooks for
// a repayment, a disbursal above the threshold and a deposit send the
// receipts and the staff alerts the rules name; the same hooks posted
// again to a restarted adapter send nothing.
func TestHooksSendReceiptsAndAlerts(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	gw := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	fake, err := fakefineract.New(os.DirFS("testdata/events"))
	if err != nil {
		t.Fatal(err)
	}
	fin := newServer(t, fake)
	cfg := eventsConfig(t, gw.GRPCAddr(), fin.URL)

	start := func(t *testing.T) (url string, reg *prometheus.Registry) {
		cl, err := client.Dial(cfg.Gateway.Addr, cfg.Tenants[0].APIKey)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		reg = prometheus.NewRegistry()
		m := fineract.NewMetrics(reg)
		n, _, err := fineract.NewTenantNotifier(cfg.Tenants[0], pb.NewMessagingClient(cl.Conn()), "", m, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		hs, err := fineract.NewHookServer(fineract.HookServerOptions{
			Tenants: []fineract.HookTenant{{Name: "mfi-a", FineractTenant: "default", Notifier: n}}, Metrics: m,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(hs)
		t.Cleanup(srv.Close)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = n.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return srv.URL + fineract.HookPath + "mfi-a/" + hookSecret + "/", reg
	}
	url, reg := start(t)

	// Saving the hook in Fineract pings the URL (sendEmptyRequest).
	ping, _ := http.NewRequest(http.MethodGet, url, nil)
	post(t, ping, http.StatusOK)

	post(t, repaymentHook(t, url), http.StatusAccepted)
	post(t, disburseHook(t, url), http.StatusAccepted)
	post(t, depositHook(t, url, 31, 200), http.StatusAccepted)

	want := map[string]string{
		"254712345678/repayment": "Dear Jane, we received your repayment of KES 2,750.00 on 10 Mar 2025 for Biashara Loan *0021. Outstanding: KES 5,500.00. Ref 101.",
		"254733555111/repayment": "repayment: Jane Wanjiru, Biashara Loan *0021, KES 2,750.00 on 10 Mar 2025.",
		"254700000001/disbursal": "loan disbursed: Jane Wanjiru, Biashara Loan *0021, KES 60,000.00 on 10 Jan 2025.",
		"254733555111/disbursal": "loan disbursed: Jane Wanjiru, Biashara Loan *0021, KES 60,000.00 on 10 Jan 2025.",
		"254712345678/deposit":   "Dear Jane, we received your deposit of KES 1,500.00 on 12 Mar 2025 to Passbook Savings *0031. Balance: KES 2,734.50. Ref 200.",
	}
	var got []string
	testutil.Eventually(t, 15*time.Second, func() error {
		got = submitted(t, sim)
		if len(got) < len(want) {
			return fmt.Errorf("%d of %d messages submitted", len(got), len(want))
		}
		return nil
	})
	var wantList []string
	for k, text := range want {
		to, _, _ := strings.Cut(k, "/")
		wantList = append(wantList, to+" "+text)
	}
	slices.Sort(wantList)
	if !slices.Equal(got, wantList) {
		t.Fatalf("submitted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantList, "\n"))
	}
	if v, _ := counter(t, reg, "smsgw_fineract_event_messages_total", map[string]string{"rule": "huge-disbursal", "outcome": "sent"}); v != 0 {
		t.Fatalf("the 100,000 rule sent for a 60,000 disbursal")
	}

	// A restarted adapter (new notifier, same config) gets the same hooks
	// again, as a replay or OkHttp resending on a dropped connection
	// would post them: every message is a duplicate, nothing is sent.
	url2, reg2 := start(t)
	post(t, repaymentHook(t, url2), http.StatusAccepted)
	post(t, disburseHook(t, url2), http.StatusAccepted)
	post(t, depositHook(t, url2, 31, 200), http.StatusAccepted)
	testutil.Eventually(t, 15*time.Second, func() error {
		v, _ := counter(t, reg2, "smsgw_fineract_event_messages_total", map[string]string{"rule": "repayment", "outcome": "duplicate"})
		w, _ := counter(t, reg2, "smsgw_fineract_event_messages_total", map[string]string{"rule": "big-disbursal", "outcome": "duplicate"})
		d, _ := counter(t, reg2, "smsgw_fineract_event_messages_total", map[string]string{"rule": "deposit", "outcome": "duplicate"})
		if v != 2 || w != 2 || d != 1 {
			return fmt.Errorf("duplicates: repayment %v, disbursal %v, deposit %v", v, w, d)
		}
		return nil
	})
	if n := len(sim.Submits()); n != len(want) {
		t.Fatalf("%d submits after the hooks were replayed, want %d", n, len(want))
	}

	// A deposit of a client with no mobile number is counted, not retried.
	post(t, depositHook(t, url2, 32, 201), http.StatusAccepted)
	testutil.Eventually(t, 15*time.Second, func() error {
		if v, _ := counter(t, reg2, "smsgw_fineract_event_messages_total", map[string]string{"rule": "deposit", "outcome": "no_mobile"}); v != 1 {
			return fmt.Errorf("no_mobile counted %v times", v)
		}
		return nil
	})
	if n := len(sim.Submits()); n != len(want) {
		t.Fatalf("%d submits after a deposit to a client without a number", n)
	}
}

// submitted lists what the simulator received as "dest text", sorted.
func submitted(t *testing.T, sim *smsc.Server) []string {
	t.Helper()
	var out []string
	for _, s := range sim.Submits() {
		text, err := smstext.DecodeGSM7(s.ShortMessage)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Dest+" "+text)
	}
	slices.Sort(out)
	return out
}
