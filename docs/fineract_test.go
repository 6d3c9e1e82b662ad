// Package docs_test checks that the guides work as written: it reads the
// blocks of docs/fineract.md marked `<!-- doc-test: NAME -->` and follows
// them.
package docs_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp"
	"github.com/openmf/smsgw/smpp/smsc"
)

// blocks returns a guide's marked code blocks by name.
func blocks(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- doc-test: ([^ ]+) -->\n```[a-z]*\n(.*?)\n```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// jerseyPath is the path Fineract's SmsConfigUtils builds for an API
// ("sms", "sms/report") and its end_point setting: Jersey's UriBuilder
// fills the template "{apiEndPoint}", or "{endPoint}/{apiEndPoint}" when
// end_point is not "/", and build() encodes a '/' inside a value.
func jerseyPath(endPoint, api string) string {
	enc := func(v string) string { return strings.ReplaceAll(v, "/", "%2F") }
	if endPoint == "" || endPoint == "/" {
		return "/" + enc(api)
	}
	return "/" + enc(endPoint) + "/" + enc(api)
}

// TestFineractGuide follows docs/fineract.md: the gateway config with its
// secrets, Fineract's MESSAGE_GATEWAY settings (which must point at that
// config's listener with one of its app keys), and the requests Fineract
// sends, replayed byte for byte against a gateway started from the config
// (only its listeners, store path and carrier address are moved onto this
// machine) until the report says delivered. The adapter's example config
// must load with the guide's secrets.
func TestFineractGuide(t *testing.T) {
	doc := blocks(t, "fineract.md")
	for _, name := range []string{"smsgw.yaml", "env", "externalservice.json", "send.http", "report.http"} {
		if doc[name] == "" {
			t.Fatalf("docs/fineract.md has no block marked %q", name)
		}
	}
	env := map[string]string{}
	for _, l := range strings.Split(doc["env"], "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("env block: %q is not NAME=value", l)
		}
		t.Setenv(k, v)
		env[k] = v
	}
	cfg, err := config.Parse(strings.NewReader(doc["smsgw.yaml"]), app.Kinds(app.ConnectorKinds))
	if err != nil {
		t.Fatalf("the guide's gateway config: %v", err)
	}

	var es struct {
		Host   string `json:"host_name"`
		Port   string `json:"port_number"`
		End    string `json:"end_point"`
		AppKey string `json:"tenant_app_key"`
	}
	if err := json.Unmarshal([]byte(doc["externalservice.json"]), &es); err != nil {
		t.Fatal(err)
	}
	if hp := net.JoinHostPort(es.Host, es.Port); hp != cfg.Listen.HTTP {
		t.Errorf("Fineract's host_name:port_number %s is not the gateway's listen.http %s", hp, cfg.Listen.HTTP)
	}
	if strings.Trim(es.End, "/") != strings.Trim(cfg.MessageGateway.EndPoint, "/") {
		t.Errorf("Fineract's end_point %q differs from message_gateway.end_point %q", es.End, cfg.MessageGateway.EndPoint)
	}
	fin := cfg.Tenants[0].Fineract
	if fin == nil || !slices.Contains(fin.AppKeys, es.AppKey) {
		t.Errorf("Fineract's tenant_app_key is not one of tenants[0].fineract.app_keys")
	}

	// The requests as Fineract builds them from those settings.
	for name, api := range map[string]string{"send.http": "sms", "report.http": "sms/report"} {
		head, _, _ := strings.Cut(doc[name], "\n\n")
		lines := strings.Split(head, "\n")
		if want := "POST " + jerseyPath(es.End, api) + " HTTP/1.1"; lines[0] != want {
			t.Errorf("%s: request line %q, Fineract sends %q", name, lines[0], want)
		}
		for _, h := range []string{
			"Host: " + net.JoinHostPort(es.Host, es.Port),
			"Fineract-Tenant-App-Key: " + es.AppKey,
			"Fineract-Platform-TenantId: " + fin.TenantIDs[0],
		} {
			if !slices.Contains(lines, h) {
				t.Errorf("%s: no header line %q", name, h)
			}
		}
	}

	// The gateway, moved onto this machine.
	sim := smsc.NewServer()
	t.Cleanup(sim.Close)
	host, port, _ := net.SplitHostPort(sim.Addr())
	cfg.Listen.GRPC, cfg.Listen.HTTP = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store.Path = filepath.Join(t.TempDir(), "smsgw.db")
	carrier := cfg.Carriers[0].Section.(*smpp.Config)
	carrier.Host = host
	fmt.Sscan(port, &carrier.Port)
	gw := apptest.Start(t, cfg)

	code, body := replay(t, gw.HTTPAddr(), doc["send.http"])
	if code != http.StatusAccepted || !strings.Contains(body, `"accepted":2`) {
		t.Fatalf("the guide's send: %d %s, want 202 with both stored", code, body)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		code, body := replay(t, gw.HTTPAddr(), doc["report.http"])
		var es []struct {
			ID             int64 `json:"id"`
			DeliveryStatus int   `json:"deliveryStatus"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &es) != nil {
			return fmt.Errorf("report: %d %s", code, body)
		}
		if len(es) != 2 || es[0].DeliveryStatus != 300 || es[1].DeliveryStatus != 300 {
			return fmt.Errorf("report: %s, want 31 and 32 delivered (300)", body)
		}
		return nil
	})
	if n := len(sim.Submits()); n != 2 {
		t.Errorf("the carrier got %d submits, want 2", n)
	}

	// The adapter's example config loads with the guide's secrets.
	env["FINERACT_PASSWORD"] = "from-the-environment"
	env["FINERACT_HOOK_SECRET"] = "k7Qw2xV9pL4mN8rT3sY6hB1c"
	if _, err := fineract.LoadConfig("../deploy/smsgw-fineract.example.yaml", func(k string) string { return env[k] }); err != nil {
		t.Errorf("deploy/smsgw-fineract.example.yaml: %v", err)
	}
}

// replay sends a request block as it is written, with CRLF line ends and
// the Content-Length Fineract's client adds, and returns the answer.
func replay(t *testing.T, addr, block string) (int, string) {
	t.Helper()
	head, body, _ := strings.Cut(block, "\n\n")
	var req bytes.Buffer
	for _, l := range strings.Split(head, "\n") {
		req.WriteString(l + "\r\n")
	}
	fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n%s", len(body), body)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHookGuide: the hook docs/fineract.md creates through Fineract's API
// is a Web hook with the template's field names, posting JSON to the
// example config's tenant at the URL the adapter serves, for events its
// rules can name.
func TestHookGuide(t *testing.T) {
	var hook struct {
		Name     string `json:"name"`
		IsActive bool   `json:"isActive"`
		Events   []struct {
			EntityName string `json:"entityName"`
			ActionName string `json:"actionName"`
		} `json:"events"`
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal([]byte(blocks(t, "fineract.md")["hooks.json"]), &hook); err != nil {
		t.Fatal(err)
	}
	secret := "k7Qw2xV9pL4mN8rT3sY6hB1c"
	cfg, err := fineract.LoadConfig("../deploy/smsgw-fineract.example.yaml", func(k string) string {
		return map[string]string{"SMSGW_API_KEY": "k", "FINERACT_PASSWORD": "p", "FINERACT_HOOK_SECRET": secret}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if hook.Name != "Web" || !hook.IsActive || hook.Config["Content Type"] != "json" || len(hook.Config) != 2 {
		t.Errorf("hook %+v: want the Web template, active, with Payload URL and Content Type json", hook)
	}
	if u := hook.Config["Payload URL"]; !strings.HasSuffix(u, fineract.HookPath+cfg.Tenants[0].Name+"/"+secret+"/") {
		t.Errorf("Payload URL %s does not end in %s<tenant>/<secret>/", u, fineract.HookPath)
	}
	for _, e := range hook.Events {
		if !slices.Contains(fineract.Events, e.EntityName+"/"+e.ActionName) {
			t.Errorf("event %s/%s: no rule can name it", e.EntityName, e.ActionName)
		}
	}
}
