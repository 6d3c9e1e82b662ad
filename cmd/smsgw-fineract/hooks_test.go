package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/fineract/fakefineract"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/smstext"
)

// TestRunHooks wires the events side from a config file: the hook
// listener takes a deposit hook from Fineract and the receipt reaches the
// simulator; SIGHUP reloads the events section, here a new secret.
func TestRunHooks(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	gw := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	fake, err := fakefineract.New(os.DirFS("../../fineract/testdata/events"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Close)
	fin := srv.URL

	path := filepath.Join(t.TempDir(), "smsgw-fineract.yaml")
	write := func(secret string) {
		t.Helper()
		cfg := fmt.Sprintf(`
gateway: {addr: %q}
metrics: {listen: "off"}
hooks: {listen: "127.0.0.1:0"}
tenants:
  - name: mfi-a
    api_key: %s
    region: KE
    fineract: {url: %q, username: mifos, password: password}
    events:
      secret: %s
      rules: [{name: deposit, event: SAVINGSACCOUNT/DEPOSIT, to: [client]}]
`, gw.GRPCAddr(), apptest.KeyA, fin+fakefineract.BasePath, secret)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const first, second = "first-secret-0123456789", "second-secret-0123456789"
	write(first)
	stdout, stderr := start(t, "run", "--config", path)
	var base string
	testutil.Eventually(t, 10*time.Second, func() error {
		m := regexp.MustCompile(`Web hooks at (\S+)/fineract/hooks/`).FindStringSubmatch(stdout.String())
		if m == nil {
			return fmt.Errorf("stdout %q", stdout)
		}
		base = m[1]
		return nil
	})
	deposit := func(secret string) int {
		body := `{"entityName":"SAVINGSACCOUNT","actionName":"DEPOSIT","createdBy":1,"createdByName":"mifos","createdByFullName":"App Administrator",` +
			`"request":{"transactionDate":"12 March 2025","transactionAmount":1500.0,"dateFormat":"dd MMMM yyyy","locale":"en"},"officeId":1,"clientId":1,` +
			`"response":{"clientId":1,"savingsId":31,"resourceId":200,"changes":{}},"timestamp":"2025-03-12T09:00:00Z"}`
		req, _ := http.NewRequest(http.MethodPost, base+"/fineract/hooks/mfi-a/"+secret+"/", strings.NewReader(body))
		req.Header.Set("X-Fineract-Entity", "SAVINGSACCOUNT")
		req.Header.Set("X-Fineract-Action", "DEPOSIT")
		req.Header.Set("Fineract-Platform-TenantId", "default")
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := deposit(first); code != http.StatusAccepted {
		t.Fatalf("hook: HTTP %d", code)
	}
	const want = "Dear Jane, we received your deposit of KES 1,500.00 on 12 Mar 2025 to Passbook Savings *0031. Balance: KES 2,734.50. Ref 200."
	testutil.Eventually(t, 10*time.Second, func() error {
		subs := sim.Submits()
		if len(subs) != 1 {
			return fmt.Errorf("%d submits", len(subs))
		}
		if text, _ := smstext.DecodeGSM7(subs[0].ShortMessage); text != want || subs[0].Dest != "254712345678" {
			return fmt.Errorf("submit to %s: %q, want %q", subs[0].Dest, text, want)
		}
		return nil
	})

	write(second)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(stderr.String(), "events config reloaded") {
			return fmt.Errorf("not reloaded yet: %s", stderr)
		}
		return nil
	})
	if code := deposit(second); code != http.StatusAccepted {
		t.Fatalf("the new secret: HTTP %d", code)
	}
	if code := deposit(first); code != http.StatusUnauthorized {
		t.Fatalf("the old secret after the reload: HTTP %d", code)
	}
}
