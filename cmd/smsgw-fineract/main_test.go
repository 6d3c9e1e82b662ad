package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/fineract/fakefineract"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/smstext"
)

// start runs a command until the test ends.
func start(t *testing.T, args ...string) (stdout, stderr *testutil.Buffer) {
	t.Helper()
	stdout, stderr = &testutil.Buffer{}, &testutil.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("%s exited %d: %s", args[0], code, stderr)
		}
	})
	return stdout, stderr
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"nope"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "nope"`) {
		t.Errorf("unknown command: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"run", "--api-key", ""}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "tenants[0].api_key: required (or api_key_env)") {
		t.Errorf("run without an API key: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"run", "--config", "x.yaml", "--region", "TZ"}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "--region: set these in the config file") {
		t.Errorf("--config with tenant flags: %d %q", code, errOut.String())
	}
}

// TestRunHelp: run --help documents the config file, oauth2 included.
func TestRunHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"run", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("run --help exited %d", code)
	}
	for _, key := range []string{"-fineract-url", "password_env:", "oauth2:", "token_url:", "client_secret_env:", "scopes:"} {
		if !strings.Contains(errOut.String(), key) {
			t.Errorf("run --help lacks %s:\n%s", key, errOut.String())
		}
	}
	// The example is a valid config, with the Basic lines or with the
	// oauth2 section instead.
	_, example, _ := strings.Cut(configHelp, "\n\n")
	env := func(string) string { return "x" }
	if _, err := fineract.ParseConfig([]byte(example), env); err != nil {
		t.Errorf("the example with Basic: %v", err)
	}
	var oauth []string
	for _, line := range strings.Split(example, "\n") {
		switch t := strings.TrimSpace(line); {
		case strings.HasPrefix(t, "username:"), strings.HasPrefix(t, "password_env:"):
			continue
		case strings.HasPrefix(t, "# oauth2:"), strings.HasPrefix(t, "#   ") && !strings.HasPrefix(t, "#   #"):
			line = strings.Replace(line, "# ", "", 1)
		}
		oauth = append(oauth, line)
	}
	cfg, err := fineract.ParseConfig([]byte(strings.Join(oauth, "\n")), env)
	if err != nil || cfg.Tenants[0].Fineract.OAuth2 == nil || cfg.Tenants[0].Fineract.OAuth2.ClientSecret != "x" {
		t.Errorf("the example with oauth2: %+v, %v", cfg, err)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("tenants:\n  - {api_key: k, region: KE, fineract: {url: \"https://h:8443/fineract-provider/api\", username: u, password: p}}\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("tenants:\n  - {api_key: k, region: KE, fineract: {url: \"https://h/api\", username: u}}\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"check-config", good}, &out, &errOut); code != 0 || out.String() != good+": ok\n" {
		t.Errorf("good: %d %q %q", code, out.String(), errOut.String())
	}
	if code := run(context.Background(), []string{"check-config", bad}, &out, &errOut); code != 1 ||
		errOut.String() != bad+": tenants[0].fineract.password: required (or password_env)\n" {
		t.Errorf("bad: %d %q", code, errOut.String())
	}
}

// TestFakeFineract: the demo's fake answers over HTTPS with its own
// certificate and Fineract's credentials.
func TestFakeFineract(t *testing.T) {
	stdout, _ := start(t, "fake-fineract", "--listen", "127.0.0.1:0")
	var base string
	testutil.Eventually(t, 5*time.Second, func() error {
		m := regexp.MustCompile(`fake Fineract at (\S+) `).FindStringSubmatch(stdout.String())
		if m == nil {
			return fmt.Errorf("stdout %q", stdout)
		}
		base = m[1]
		return nil
	})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/clients/1", nil)
	req.SetBasicAuth(fakefineract.DefaultUsername, fakefineract.DefaultPassword)
	req.Header.Set("Fineract-Platform-TenantId", "default")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(base, "https://127.0.0.1:") || resp.StatusCode != 200 || !strings.Contains(string(body), `"mobileNo":"0712 345 678"`) {
		t.Fatalf("%s: %d %s", base, resp.StatusCode, body)
	}
}

// TestRun wires the command from flags: a real gateway, the fake Fineract
// over HTTPS, and a BAL answered through the simulator.
func TestRun(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	gw := apptest.Start(t, shortcodeConfig(t, sim.Addr()))
	fake := fakefineract.Demo()
	fin := httptest.NewTLSServer(fake)
	t.Cleanup(fin.Close)
	t.Cleanup(fake.Close)

	stdout, _ := start(t, "run", "--addr", gw.GRPCAddr(), "--api-key", apptest.KeyA,
		"--fineract-url", fin.URL+fakefineract.BasePath, "--insecure-tls", "--keywords-balance", "SALDO,SALIO",
		"--metrics-listen", "127.0.0.1:0")
	testutil.Eventually(t, 10*time.Second, func() error { return sim.SendMO("+254712345678", "22555", "salio") })
	const want = "Dear Jane, savings balance: Passbook Savings *0001: KES 12,345.50."
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

	m := regexp.MustCompile(`metrics at (\S+)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("stdout %q", stdout)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{
		`smsgw_fineract_requests_total{endpoint="search",result="ok"} 1`, // one LIKE search finds "0712 345 678"
		`smsgw_fineract_replies_total{keyword="balance",outcome="answered"} 1`,
	} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

// shortcodeConfig is apptest's config with the shortcode 22555 given to
// tenant A, so an MO to it is tenant A's whether the gateway picks the
// tenant by carrier or by the number written to.
func shortcodeConfig(t *testing.T, simAddr string) *config.Config {
	t.Helper()
	cfg := apptest.Config(t, simAddr, t.TempDir())
	cfg.Tenants[0].Senders = append(cfg.Tenants[0].Senders, "22555")
	cfg.Tenants[1].Senders = nil
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}
