package docs_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/config"
)

// TestCarriersGuide loads every config of docs/carriers.md as written and,
// for each cloud provider, checks that the webhook URL the guide gives is
// one the gateway serves: the provider's callback reaches the connector
// (which refuses it for its missing signature or token), not a 404.
func TestCarriersGuide(t *testing.T) {
	bs := blocks(t, "carriers.md")
	guide, err := os.ReadFile("carriers.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"SMSGW_ADMIN_KEY=admin-key-0123456789", "SMSGW_DEFAULT_KEY=tenant-key-0001", "SMSGW_CARRIER_A_PASSWORD=secret",
		"SMSGW_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "SMSGW_TWILIO_AUTH_TOKEN=twilio-token",
		"SMSGW_TWILIO_MESSAGING_SERVICE_SID=MG0123456789abcdef0123456789abcdef", "SMSGW_VONAGE_API_KEY=vonage-key",
		"SMSGW_VONAGE_API_SECRET=vonage-secret", "SMSGW_VONAGE_SIGNATURE_SECRET=vonage-signature-secret",
		"SMSGW_AT_USERNAME=sandbox", "SMSGW_AT_API_KEY=at-key", "SMSGW_AT_CALLBACK_TOKEN=at-callback-token-0123"} {
		k, val, _ := strings.Cut(v, "=")
		t.Setenv(k, val)
	}
	for _, name := range []string{"smpp", "twilio", "vonage", "africastalking"} {
		t.Run(name, func(t *testing.T) {
			yaml, ok := bs[name]
			if !ok {
				t.Fatalf("docs/carriers.md has no doc-test block %q", name)
			}
			path := filepath.Join(t.TempDir(), "smsgw.yaml")
			if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := app.LoadConfig(path)
			if err != nil {
				t.Fatalf("the guide's %s config does not load:\n%v", name, err)
			}
			if name == "smpp" {
				return // its host is the guide's example carrier
			}
			// The webhook URL the guide tells the operator to use.
			m := regexp.MustCompile("Webhook URL: (?:[^`]*\\n?)*?`(https://sms\\.example\\.org/webhooks/" + name + "/status[^`]*)`").FindSubmatch(guide)
			if m == nil {
				t.Fatalf("the guide gives no webhook URL for %s", name)
			}
			u, err := url.Parse(strings.ReplaceAll(string(m[1]), "<callback_token>", os.Getenv("SMSGW_AT_CALLBACK_TOKEN")))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Listen = config.Listen{GRPC: "127.0.0.1:0", HTTP: "127.0.0.1:0"}
			cfg.Store.Path = filepath.Join(t.TempDir(), "smsgw.db")
			a := apptest.StartShared(t, cfg)
			post := func(uri string) int {
				resp, err := http.PostForm("http://"+a.HTTPAddr()+uri, url.Values{"id": {"unknown"}})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := post(u.RequestURI()); code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
				t.Errorf("POST %s: %d; the gateway does not serve the guide's URL", u.Path, code)
			}
			// The check can fail: a carrier that is not configured has no URL.
			if code := post("/webhooks/" + name + "-other/status"); code != http.StatusNotFound {
				t.Errorf("POST to an unconfigured carrier's webhook: %d, want 404", code)
			}
		})
	}
}
