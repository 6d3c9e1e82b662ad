package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

var update = flag.Bool("update", false, "rewrite the golden help texts in testdata/help")

const (
	tenantKey = "cli-tenant-key-0001"
	adminKey  = "cli-admin-key-00001"
)

// gateway starts a real gateway from a config file (so reload has a file
// to reread) with the demo's MO endpoint, and points the CLI at it.
func startGateway(t *testing.T) (*app.App, string) {
	t.Helper()
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 5*time.Millisecond))
	t.Cleanup(sim.Close)
	host, port, _ := net.SplitHostPort(sim.Addr())
	dir := t.TempDir()
	path := filepath.Join(dir, "smsgw.yaml")
	yaml := fmt.Sprintf(`listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
store: {driver: sqlite, path: %s}
admin: {api_keys: ["${CLI_ADMIN_KEY}"]}
tenants:
  - {id: mfi, api_keys: ["${CLI_TENANT_KEY}"], default_region: KE, sender: MFI, senders: ["22555"]}
keywords:
  - {keyword: HELLO, reply: "Hello from the test gateway."}
carriers:
  - name: sim
    smpp: {host: %s, port: %s, system_id: mfi, password: "${CLI_SMPP_PASSWORD}", bind: transceiver, binds: 1, window: 16, tps: 40, enquire_link: 30s}
routes:
  - {prefix: "+254", carrier: sim, cost: 0.8, currency: KES}
smpp_server:
  listen: "127.0.0.1:0"
  accounts:
    - {system_id: app, password_hash: "${CLI_SMPP_HASH}", tenant: mfi}
`, filepath.Join(dir, "smsgw.db"), host, port)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CLI_ADMIN_KEY", adminKey)
	t.Setenv("CLI_TENANT_KEY", tenantKey)
	t.Setenv("CLI_SMPP_PASSWORD", "secret")
	hash, err := bcrypt.GenerateFromPassword([]byte("apppw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CLI_SMPP_HASH", string(hash))
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a := apptest.StartWith(t, cfg, app.Options{ConfigPath: path,
		Routes: map[string]http.Handler{"POST /demo/mo": http.StripPrefix("/demo", sim.ControlHandler())}})
	t.Setenv("SMSGW_ADDR", a.GRPCAddr())
	t.Setenv("SMSGW_HTTP", a.HTTPAddr())
	t.Setenv("SMSGW_API_KEY", tenantKey)
	t.Setenv("SMSGW_ADMIN_KEY", adminKey)
	return a, path
}

// cli runs a command line and returns its exit status, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// mustCLI runs a command line that must succeed.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errb := cli(t, args...)
	if code != 0 {
		t.Fatalf("smsgw %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errb)
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

// TestCommandsAgainstAGateway drives each operator command against one
// running gateway, in table and JSON form.
func TestCommandsAgainstAGateway(t *testing.T) {
	a, _ := startGateway(t)

	// send --wait, then the message in the list.
	out := mustCLI(t, "send", "--to", "0712345678", "--text", "Your repayment is due", "--client-ref", "loan-42", "--wait")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[1] != "DELIVERED" {
		t.Fatalf("send --wait printed %q", out)
	}
	delivered := lines[0]
	// An unroutable number: stored FAILED at once.
	code, out, errb := cli(t, "send", "--to", "+255754123456", "--text", "hi")
	if code != 0 || !strings.Contains(errb, "stored FAILED") {
		t.Fatalf("unroutable send: exit %d %s %s", code, out, errb)
	}
	failed := strings.TrimSpace(out)

	t.Run("messages list", func(t *testing.T) {
		table := mustCLI(t, "messages", "list")
		hdr := regexp.MustCompile(`^ID\s+CREATED \(UTC\)\s+STATUS\s+TO\s+FROM\s+CARRIER\s+CLIENT REF\s+LAST ERROR\n`)
		if !hdr.MatchString(table) {
			t.Errorf("table header:\n%s", table)
		}
		row := regexp.MustCompile(delivered + `\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+DELIVERED\s+\+254712345678\s+MFI\s+sim\s+loan-42\s+-\n`)
		if !row.MatchString(table) {
			t.Errorf("no row for the delivered message:\n%s", table)
		}
		// Filters, and flags after the subcommand's arguments or before it.
		table = mustCLI(t, "messages", "list", "--status", "failed")
		if !strings.Contains(table, failed) || strings.Contains(table, delivered) || !strings.Contains(table, "no route for +255754123456") {
			t.Errorf("--status failed:\n%s", table)
		}
		got := decode[[]messageJSON](t, mustCLI(t, "-o", "json", "messages", "list", "--to", "+254712345678"))
		if len(got) != 1 || got[0].ID != delivered || got[0].Status != "DELIVERED" || got[0].Carrier != "sim" || got[0].Cost != 0.8 || got[0].CreatedAt == nil {
			t.Errorf("--to -o json: %+v", got)
		}
		got = decode[[]messageJSON](t, mustCLI(t, "messages", "list", "--client-ref", "loan-42", "--json"))
		if len(got) != 1 || got[0].ID != delivered {
			t.Errorf("--client-ref: %+v", got)
		}
		got = decode[[]messageJSON](t, mustCLI(t, "messages", "list", "--since", "2099-01-01", "-o", "json"))
		if len(got) != 0 {
			t.Errorf("--since in the future: %+v", got)
		}
		got = decode[[]messageJSON](t, mustCLI(t, "messages", "list", "--since", "1h", "--until", "2099-01-01T00:00:00Z", "-o", "json"))
		if len(got) != 2 {
			t.Errorf("--since 1h: %d messages, want 2", len(got))
		}
		if code, _, errb := cli(t, "messages", "list", "--status", "lost"); code != 2 || !strings.Contains(errb, `--status: unknown status "lost": want one of accepted,`) {
			t.Errorf("bad status: exit %d: %s", code, errb)
		}
		if code, _, errb := cli(t, "messages", "list", "--since", "yesterday"); code != 2 || !strings.Contains(errb, `--since: "yesterday" is not a time`) {
			t.Errorf("bad time: exit %d: %s", code, errb)
		}
	})

	t.Run("get", func(t *testing.T) {
		m := decode[messageJSON](t, mustCLI(t, "get", delivered))
		if m.Status != "DELIVERED" || len(m.Parts) != 1 || m.Parts[0].CarrierID == "" || len(m.History) == 0 {
			t.Errorf("get: %+v", m)
		}
	})

	t.Run("messages cancel", func(t *testing.T) {
		c, err := client.Dial(os.Getenv("SMSGW_ADDR"), tenantKey)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		later, err := c.Send(context.Background(), &pb.SendRequest{To: "0712345679", Text: "tomorrow", NotBefore: timestamppb.New(time.Now().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		table := mustCLI(t, "messages", "cancel", later.GetId())
		if !regexp.MustCompile(`^ID\s+STATUS\n` + later.GetId() + `\s+CANCELED\n$`).MatchString(table) {
			t.Errorf("cancel table:\n%s", table)
		}
		// A delivered message cannot be called back: exit 1, the reason.
		code, out, errb := cli(t, "messages", "cancel", delivered, "-o", "json")
		if code != 1 || !strings.Contains(errb, delivered+": FailedPrecondition") || strings.TrimSpace(out) != "[]" {
			t.Errorf("cancel delivered: exit %d\nstdout: %s\nstderr: %s", code, out, errb)
		}
	})

	t.Run("carriers", func(t *testing.T) {
		table := mustCLI(t, "carriers")
		if !regexp.MustCompile(`^CARRIER\s+KIND\s+STATE\s+BINDS\s+WINDOW\s+IN FLIGHT\s+TPS\s+BREAKER\s+THROTTLED\nsim\s+smpp\s+up\s+1/1\s+16\s+0\s+40\s+closed\s+0\n$`).MatchString(table) {
			t.Errorf("carriers table:\n%s", table)
		}
		got := decode[[]map[string]any](t, mustCLI(t, "carriers", "-o", "json"))
		if len(got) != 1 || got[0]["name"] != "sim" || got[0]["up"] != true || got[0]["window"] != 16.0 || got[0]["breaker"] != "closed" ||
			got[0]["binds_up"] != 1.0 || got[0]["binds"] != 1.0 || got[0]["tps"] != 40.0 || got[0]["throttled"] != 0.0 {
			t.Errorf("carriers json: %v", got)
		}
	})

	t.Run("smpp-accounts", func(t *testing.T) {
		conn, err := net.Dial("tcp", a.SMPPServer().Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		bind := pdu.NewBindRequest(pdu.Transmitter)
		bind.SystemID, bind.Password = "app", "apppw"
		buf := pdu.NewBuffer(nil)
		bind.Marshal(buf)
		if _, err := conn.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		if resp, err := pdu.Parse(conn); err != nil || resp.GetHeader().CommandStatus != data.ESME_ROK {
			t.Fatalf("bind: %v %v", resp, err)
		}
		table := mustCLI(t, "smpp-accounts")
		if !regexp.MustCompile(`^SYSTEM_ID\s+TENANT\s+BINDS\s+WINDOW\s+RATE\s+BIND\s+FROM\s+SINCE\s+IN FLIGHT\napp\s+mfi\s+1/4\s+10\s+-\s+transmitter\s+127\.0\.0\.1:\d+\s+\S+Z\s+0\n$`).MatchString(table) {
			t.Errorf("smpp-accounts table:\n%s", table)
		}
		got := decode[[]map[string]any](t, mustCLI(t, "smpp-accounts", "-o", "json"))
		if len(got) != 1 || got[0]["system_id"] != "app" || got[0]["tenant"] != "mfi" || len(got[0]["binds"].([]any)) != 1 {
			t.Errorf("smpp-accounts json: %v", got)
		}
	})

	t.Run("routes explain", func(t *testing.T) {
		text := mustCLI(t, "routes", "explain", "--to", "0712345678")
		if !strings.Contains(text, "+254712345678") || !strings.Contains(text, "sim via +254 at 0.8 KES/part") {
			t.Errorf("routes explain:\n%s", text)
		}
		got := decode[map[string]any](t, mustCLI(t, "routes", "explain", "--to", "0712345678", "-o", "json"))
		cands, _ := got["candidates"].([]any)
		if got["to"] != "+254712345678" || len(cands) != 1 || cands[0].(map[string]any)["carrier"] != "sim" {
			t.Errorf("routes explain json: %v", got)
		}
	})

	t.Run("counters", func(t *testing.T) {
		table := mustCLI(t, "counters")
		if !regexp.MustCompile(`(?m)^COUNTER\s+VALUE$`).MatchString(table) || !regexp.MustCompile(`(?m)^smsgw_\w+_total\s+\d`).MatchString(table) {
			t.Errorf("counters table:\n%s", table)
		}
		got := decode[map[string]float64](t, mustCLI(t, "counters", "--json"))
		if len(got) == 0 {
			t.Fatal("no counters")
		}
		for name, v := range got {
			if !strings.HasPrefix(name, "smsgw_") || v < 0 {
				t.Errorf("counter %s = %v", name, v)
			}
		}
	})

	t.Run("reload", func(t *testing.T) {
		if out := mustCLI(t, "reload"); out != "reloaded: 1 routes in force\n" {
			t.Errorf("reload: %q", out)
		}
		// A tenant key cannot operate the gateway.
		code, _, errb := cli(t, "reload", "--admin-key", tenantKey)
		if code != 1 || !strings.Contains(errb, "Unauthenticated") && !strings.Contains(errb, "PermissionDenied") {
			t.Errorf("reload with a tenant key: exit %d: %s", code, errb)
		}
	})

	t.Run("simulate mo", func(t *testing.T) {
		out := mustCLI(t, "simulate", "mo", "--from", "+254700000001", "--text", "HELLO")
		if !strings.HasSuffix(out, "reply from 22555: Hello from the test gateway.\n") {
			t.Errorf("simulate mo:\n%s", out)
		}
		out = mustCLI(t, "simulate", "mo", "--no-wait", "--from", "+254700000002", "--text", "HELLO")
		if strings.Contains(out, "reply") {
			t.Errorf("--no-wait waited:\n%s", out)
		}
	})

	t.Run("cursors", func(t *testing.T) {
		c, err := client.Dial(os.Getenv("SMSGW_ADDR"), tenantKey)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.AckEvents(context.Background(), &pb.AckEventsRequest{Cursor: "fineract-adapter", Seq: 3}); err != nil {
			t.Fatal(err)
		}
		table := mustCLI(t, "cursors")
		if !regexp.MustCompile(`^CURSOR\s+SEQ\s+LAST ACK \(UTC\)\s+AGO\nfineract-adapter\s+3\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+s\n$`).MatchString(table) {
			t.Errorf("cursors table:\n%s", table)
		}
		got := decode[[]map[string]any](t, mustCLI(t, "cursors", "-o", "json"))
		if len(got) != 1 || got[0]["name"] != "fineract-adapter" || got[0]["seq"] != 3.0 {
			t.Errorf("cursors json: %v", got)
		}
		if out := mustCLI(t, "cursors", "delete", "fineract-adapter"); out != "cursor fineract-adapter deleted\n" {
			t.Errorf("delete: %q", out)
		}
		if code, _, errb := cli(t, "cursors", "delete", "fineract-adapter"); code != 1 || !strings.Contains(errb, "NotFound") {
			t.Errorf("delete again: exit %d: %s", code, errb)
		}
		if out := mustCLI(t, "cursors", "--json"); strings.TrimSpace(out) != "[]" {
			t.Errorf("after delete: %s", out)
		}
	})

	t.Run("events", func(t *testing.T) {
		out := mustCLI(t, "events", "--idle", "500ms", "--kind", "inbound")
		first := strings.SplitN(out, "\n", 2)[0]
		ev := decode[eventJSON](t, first)
		if ev.Seq <= 0 || ev.Kind != "inbound" || ev.Inbound == nil || ev.Inbound.Text != "HELLO" {
			t.Errorf("events: %s", first)
		}
		if !regexp.MustCompile(`^\{"seq":\d+,`).MatchString(first) {
			t.Errorf("seq is not a number first in the line: %s", first)
		}
		// From the latest event on, with heartbeats: nothing of the
		// history, a heartbeat a second, and --idle still ends it.
		out = mustCLI(t, "events", "--latest", "--heartbeat", "1s", "--idle", "2500ms")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 1 || strings.Contains(out, `"kind":"status"`) || strings.Contains(out, `"kind":"inbound"`) ||
			decode[eventJSON](t, lines[0]).Kind != "heartbeat" {
			t.Errorf("--latest --heartbeat:\n%s", out)
		}
	})

	t.Run("api-keys", func(t *testing.T) {
		if code, out, errb := cli(t, "api-keys"); code != 0 || out != "" || !strings.Contains(errb, "no stored API keys") {
			t.Errorf("api-keys with none: exit %d\n%s%s", code, out, errb)
		}
		code, out, errb := cli(t, "api-keys", "create", "mfi", "--label", "loan reminders", "--ttl", "720h")
		key := strings.TrimSpace(out)
		if code != 0 || !regexp.MustCompile(`^smsgw_[A-Za-z0-9_-]{43}$`).MatchString(key) || !strings.Contains(errb, "made for mfi (expires ") {
			t.Fatalf("api-keys create: exit %d\n%s%s", code, out, errb)
		}
		mustCLI(t, "send", "--api-key", key, "--to", "0712345678", "--text", "with a key made by the CLI")
		keys := decode[[]apiKeyJSON](t, mustCLI(t, "api-keys", "--tenant", "mfi", "-o", "json"))
		if len(keys) != 1 || keys[0].Tenant != "mfi" || keys[0].Label != "loan reminders" || keys[0].CreatedBy != "admin-api" ||
			keys[0].Expires == nil || keys[0].Expires.Sub(*keys[0].Created) != 720*time.Hour || keys[0].Revoked != nil || !strings.HasPrefix(key, keys[0].Prefix) {
			t.Fatalf("api-keys -o json: %+v", keys)
		}
		if table := mustCLI(t, "api-keys"); !regexp.MustCompile(regexp.QuoteMeta(keys[0].Prefix)+`…\s+mfi\s+loan reminders\s+.*admin-api\s+\d{4}-`).MatchString(table) || strings.Contains(table, key) {
			t.Errorf("api-keys table:\n%s", table)
		}
		if code, _, errb := cli(t, "api-keys", "create", "nosuch"); code == 0 || !strings.Contains(errb, `no tenant "nosuch"`) {
			t.Errorf("a key for an unknown tenant: exit %d: %s", code, errb)
		}
		if code, _, errb := cli(t, "api-keys", "create", "mfi", "--ttl", "1s"); code == 0 || !strings.Contains(errb, "at least a minute") {
			t.Errorf("a key for a second: exit %d: %s", code, errb)
		}
		if out := mustCLI(t, "api-keys", "revoke", "mfi", keys[0].Prefix); !strings.Contains(out, "revoked") {
			t.Errorf("api-keys revoke: %s", out)
		}
		if code, _, errb := cli(t, "send", "--api-key", key, "--to", "0712345678", "--text", "after revoke"); code == 0 || !strings.Contains(errb, "unknown API key") {
			t.Errorf("sending with the revoked key: exit %d: %s", code, errb)
		}
		if code, _, errb := cli(t, "api-keys", "revoke", "mfi", keys[0].Prefix); code == 0 || !strings.Contains(errb, "no stored API key") {
			t.Errorf("revoking twice: exit %d: %s", code, errb)
		}
		if code, _, errb := cli(t, "--admin-key", tenantKey, "api-keys"); code == 0 || !strings.Contains(errb, "admin API key") {
			t.Errorf("api-keys with a tenant's key: exit %d: %s", code, errb)
		}
	})
}

// TestUnreachableGatewayNamed: a client command without a gateway says
// which address it tried.
func TestUnreachableGatewayNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("SMSGW_ADDR", addr)
	t.Setenv("SMSGW_API_KEY", tenantKey)
	t.Setenv("SMSGW_ADMIN_KEY", adminKey)
	for _, args := range [][]string{{"messages", "list"}, {"carriers"}} {
		code, _, errb := cli(t, args...)
		if code != 1 || !strings.Contains(errb, "is a gateway running at "+addr+"? (set --addr or SMSGW_ADDR)") {
			t.Errorf("%v: exit %d: %s", args, code, errb)
		}
	}
	t.Setenv("SMSGW_API_KEY", "")
	if code, _, errb := cli(t, "messages", "list"); code != 2 || !strings.Contains(errb, "no API key: set --api-key or SMSGW_API_KEY") {
		t.Errorf("no key: exit %d: %s", code, errb)
	}
}

func TestVersion(t *testing.T) {
	out := mustCLI(t, "version")
	if !regexp.MustCompile(`^smsgw \S+ \(revision \S+, go\d`).MatchString(out) {
		t.Errorf("version: %q", out)
	}
	if v := mustCLI(t, "--version"); v != out {
		t.Errorf("--version %q, version %q", v, out)
	}
	i := decode[map[string]any](t, mustCLI(t, "version", "-o", "json"))
	if i["version"] == "" || i["go_version"] == "" {
		t.Errorf("version json: %v", i)
	}
}

// TestHelp: every command's --help exits 0 and prints its golden text
// (go test ./internal/cli -update rewrites them, and docs/cli.md).
func TestHelp(t *testing.T) {
	t.Setenv("SMSGW_ADDR", "")
	t.Setenv("SMSGW_HTTP", "")
	t.Setenv("SMSGW_GRPC_LISTEN", "")
	t.Setenv("SMSGW_HTTP_LISTEN", "")
	var all []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.HasParent() && c.Parent().Name() == "completion" {
			return
		}
		all = append(all, c.CommandPath())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRoot(&bytes.Buffer{}, &bytes.Buffer{}))
	var doc strings.Builder
	doc.WriteString("# smsgw command reference\n\nGenerated from the command definitions by `go test ./internal/cli -update`; `smsgw COMMAND --help` prints the same.\n")
	for _, path := range all {
		args := append(strings.Fields(path)[1:], "--help")
		code, out, errb := cli(t, args...)
		if code != 0 || errb != "" {
			t.Errorf("%s --help: exit %d: %s", path, code, errb)
			continue
		}
		fmt.Fprintf(&doc, "\n## %s\n\n```\n%s```\n", path, out)
		golden := filepath.Join("testdata", "help", strings.ReplaceAll(path, " ", "_")+".txt")
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Errorf("%s: %v (go test ./internal/cli -update writes it)", path, err)
			continue
		}
		if out != string(want) {
			t.Errorf("%s --help differs from %s (go test ./internal/cli -update if intended):\n%s", path, golden, out)
		}
	}
	docPath := filepath.Join("..", "..", "docs", "cli.md")
	if *update {
		if err := os.WriteFile(docPath, []byte(doc.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want, err := os.ReadFile(docPath); err != nil || string(want) != doc.String() {
		t.Errorf("docs/cli.md is stale: go test ./internal/cli -update")
	}
	// A usage mistake still exits 2, with the way to the help.
	if code, _, errb := cli(t, "messages", "list", "--bogus"); code != 2 || !strings.Contains(errb, "unknown flag: --bogus") || !strings.Contains(errb, "smsgw messages list --help") {
		t.Errorf("unknown flag: exit %d: %s", code, errb)
	}
}

// TestCheckConfigEveryProblem: one run lists every problem of a file, one
// a line with the file, path and line, then the count.
func TestCheckConfigEveryProblem(t *testing.T) {
	const file = "../../config/testdata/typos.yaml"
	code, out, errb := cli(t, "check-config", file)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{
		file + ": gateway.max_attemps: not a known key; did you mean max_attempts? (line 1)\n",
		file + ": tenants[0].rate: `fast` is not a number (line 7)\n",
		file + ": carriers[0].smpp.tsp: not a known key; did you mean tps? (line 11)\n",
		file + ": 7 problems\n",
	} {
		if !strings.Contains(errb, want) {
			t.Errorf("check-config lacks %q:\n%s", want, errb)
		}
	}
	// An unset ${VAR}: the one error, and where the values come from.
	code, _, errb = cli(t, "check-config", "../../config/testdata/unset_env.yaml")
	if code != 1 || !strings.Contains(errb, ": 1 problem\n") || !strings.Contains(errb, "load the env file first") {
		t.Errorf("unset variable: exit %d:\n%s", code, errb)
	}
}

// hash-password hashes the first line of stdin for console users, and
// refuses what bcrypt cannot take.
func TestHashPassword(t *testing.T) {
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		root := NewRoot(&out, &errb)
		root.SetIn(strings.NewReader(stdin))
		root.SetArgs(append([]string{"hash-password"}, args...))
		code := 0
		if err := root.Execute(); err != nil {
			code = 1
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
				errb.WriteString(ee.msg)
			}
		}
		return code, out.String(), errb.String()
	}
	code, out, errb := run("correct horse battery\nsecond line\n", "--cost", "10")
	hash := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(hash, "$2a$10$") || bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse battery")) != nil {
		t.Fatalf("exit %d, hash %q, stderr %q", code, out, errb)
	}
	for _, c := range []struct{ stdin, flag, want string }{
		{"", "12", "no password on stdin"},
		{"\n", "12", "the password is empty"},
		{strings.Repeat("x", 73) + "\n", "12", "longer than bcrypt's 72 bytes"},
		{"pw\n", "4", "--cost: must be 10 to 16"},
	} {
		if code, _, errb := run(c.stdin, "--cost", c.flag); code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("stdin %q cost %s: exit %d, %q; want 2 and %q", c.stdin, c.flag, code, errb, c.want)
		}
	}
}

// The demo's console user signs in with the password the demo prints.
func TestDemoConsoleUser(t *testing.T) {
	cfg := demoConfig("127.0.0.1:2775")
	if cfg.Console == nil || len(cfg.Console.Users) != 1 || cfg.Console.Users[0].Username != DemoConsoleUser {
		t.Fatalf("demo console: %+v", cfg.Console)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(cfg.Console.Users[0].PasswordHash), []byte(DemoConsolePassword)); err != nil {
		t.Fatalf("the demo's printed password does not match its hash: %v", err)
	}
}
