package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// reloadRig is a gateway started from a file, as `smsgw serve --config`
// does, so that Reload reads the same file rewritten.
type reloadRig struct {
	sim  *smsc.Server
	a    *app.App
	path string
	vars map[string]string // the template's parts, changed by each step
}

// reloadTemplate is the whole file; {{name}} parts come from reloadRig.vars.
const reloadTemplate = `listen: {grpc: "{{grpc}}", http: "127.0.0.1:0"}
breaker: {consecutive_failures: {{trip}}}
store: {driver: sqlite, path: {{db}}}
gateway: {max_parts: {{max_parts}}}
admin: {api_keys: [{{admin_keys}}]}
tenants:
  - id: mfi-a
    api_keys: [{{api_keys}}]
    default_region: {{region}}
    sender: {{sender}}
    senders: [{{senders}}]
    rate: {{rate}}
    opt_out: {stop_words: [{{stop_words}}]}
    fineract:
      tenant_ids: [default]
      app_keys: [{{app_keys}}]
      bridges: [{{bridges}}]
{{more_tenants}}carriers:
  - name: sim
    smpp: {host: {{host}}, port: {{port}}, system_id: mfi, password: secret, window: 8}
routes:
  - {prefix: "+254", carrier: {{route_carrier}}, cost: {{cost}}, currency: KES}
keywords: [{{keywords}}]
webhooks: {allow_hosts: [{{allow_hosts}}]}
message_gateway: {end_point: {{end_point}}}
`

func startReloadRig(t *testing.T, opts ...smsc.Option) *reloadRig {
	t.Helper()
	sim := smsc.NewServer(opts...)
	t.Cleanup(sim.Close)
	host, port := hostPort(t, sim.Addr())
	dir := t.TempDir()
	r := &reloadRig{sim: sim, path: filepath.Join(dir, "smsgw.yaml"), vars: map[string]string{
		"db": filepath.Join(dir, "smsgw.db"), "max_parts": "10", "admin_keys": `"` + apptest.AdminKey + `"`,
		"api_keys": `"` + apptest.KeyA + `"`, "region": "KE", "sender": "MFI-A", "senders": "", "rate": "0",
		"stop_words": "STOP", "app_keys": "fineract-key-1", "bridges": "{id: 1, phone_no: MFI-A, provider_name: smsgw}",
		"host": host, "port": fmt.Sprint(port), "cost": "0.8", "keywords": "", "allow_hosts": "example.org",
		"end_point": "/", "route_carrier": "sim", "grpc": "127.0.0.1:0", "trip": "5", "more_tenants": "",
	}}
	r.write(t)
	cfg, err := app.LoadConfig(r.path)
	if err != nil {
		t.Fatal(err)
	}
	r.a = apptest.StartWith(t, cfg, app.Options{ConfigPath: r.path})
	return r
}

func (r *reloadRig) write(t *testing.T) {
	t.Helper()
	s := reloadTemplate
	for k, v := range r.vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	if err := os.WriteFile(r.path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reload rewrites the file with the changes and reloads it.
func (r *reloadRig) reload(t *testing.T, changes map[string]string) ([]string, error) {
	t.Helper()
	for k, v := range changes {
		r.vars[k] = v
	}
	r.write(t)
	return r.a.Reload()
}

// TestReloadAppliesLiveFields changes, one reload at a time, each field
// that may change live and checks it is in force, while a message held by
// the carrier stays in flight and the bind is never dropped.
func TestReloadAppliesLiveFields(t *testing.T) {
	r := startReloadRig(t, smsc.WithHandler(func(s *smsc.Submit) smsc.Action {
		// The carrier takes the held message and reports it only at the
		// end: it is in flight across every reload below.
		return smsc.Action{NoReceipt: strings.Contains(string(s.ShortMessage), "held")}
	}))
	ctx := context.Background()
	binds := len(r.sim.Binds())
	held, err := r.a.Engine().Accept(ctx, "mfi-a", []gateway.SendRequest{{To: "+254712345678", Text: "held by the carrier"}})
	if err != nil || held[0].Err != nil {
		t.Fatal(err, held)
	}
	statusOf := func(id string) gateway.Status {
		m, err := r.a.Engine().Get(ctx, "mfi-a", id)
		if err != nil {
			t.Fatal(err)
		}
		return m.Status
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if st := statusOf(held[0].ID); st != gateway.StatusSubmitted {
			return fmt.Errorf("held message %s, want SUBMITTED", st)
		}
		return nil
	})
	heldSubmit := r.sim.Submits()[0]

	step := func(name string, changes map[string]string, want ...string) {
		t.Helper()
		changed, err := r.reload(t, changes)
		if err != nil {
			t.Fatalf("%s: reload refused: %v", name, err)
		}
		if strings.Join(changed, " ") != strings.Join(want, " ") {
			t.Errorf("%s: changed %q, want %q", name, changed, want)
		}
	}
	admin := pb.NewAdminClient(dial(t, r.a.GRPCAddr(), apptest.AdminKey).Conn())
	cost := func() float64 {
		ex, err := admin.ExplainRoute(ctx, &pb.ExplainRouteRequest{To: "0712345678", Tenant: "mfi-a"})
		if err != nil || len(ex.GetCandidates()) == 0 {
			t.Fatalf("explain: %v %v", ex, err)
		}
		return ex.GetCandidates()[0].GetCost()
	}

	step("routes", map[string]string{"cost": "0.25"}, "routes[0].cost")
	if c := cost(); c != 0.25 {
		t.Errorf("route cost %v after reload, want 0.25", c)
	}

	step("api keys", map[string]string{"api_keys": `"tenant-a-key-new-0002"`}, "tenants[0].api_keys[0]")
	if _, err := dial(t, r.a.GRPCAddr(), apptest.KeyA).Send(ctx, &pb.SendRequest{To: "0712345678", Text: "x"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked key: %v, want Unauthenticated", err)
	}
	if _, err := dial(t, r.a.GRPCAddr(), "tenant-a-key-new-0002").Send(ctx, &pb.SendRequest{To: "0712345678", Text: "new key"}); err != nil {
		t.Errorf("added key: %v", err)
	}

	step("admin keys", map[string]string{"admin_keys": `"admin-key-rotated-000001"`}, "admin.api_keys[0]")
	if _, err := pb.NewAdminClient(dial(t, r.a.GRPCAddr(), "admin-key-rotated-000001").Conn()).ExplainRoute(ctx, &pb.ExplainRouteRequest{To: "0712345678"}); err != nil {
		t.Errorf("new admin key: %v", err)
	}

	step("senders", map[string]string{"senders": "MFI-B2"}, "tenants[0].senders")
	if out, err := r.a.Engine().Accept(ctx, "mfi-a", []gateway.SendRequest{{To: "+254712345678", Text: "from the new sender", From: "MFI-B2"}}); err != nil || out[0].Err != nil {
		t.Errorf("sending from the added sender: %v %v", err, out)
	}

	step("opt-out words", map[string]string{"stop_words": "ACHA"}, "tenants[0].opt_out.stop_words[0]")
	if err := r.sim.SendMO("+254733000111", "MFI-A", "ACHA"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		out, err := r.a.Engine().Accept(ctx, "mfi-a", []gateway.SendRequest{{To: "+254733000111", Text: "promo"}})
		if err != nil || out[0].Status != gateway.StatusOptedOut {
			return fmt.Errorf("after ACHA: %v %+v, want OPTED_OUT", err, out)
		}
		return nil
	})

	step("keywords", map[string]string{"keywords": `{keyword: HOURS, reply: "Open 8-17"}`}, "keywords")
	if err := r.sim.SendMO("+254722000333", "MFI-A", "hours"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, s := range r.sim.Submits() {
			if string(s.ShortMessage) == "Open 8-17" {
				return nil
			}
		}
		return fmt.Errorf("no reply from the reloaded HOURS keyword")
	})

	step("fineract keys and bridges", map[string]string{"app_keys": "fineract-key-2",
		"bridges": "{id: 1, phone_no: MFI-A, provider_name: smsgw}, {id: 2, phone_no: MFI-B2, provider_name: smsgw, description: receipts}"},
		"tenants[0].fineract.app_keys[0]", "tenants[0].fineract.bridges")
	bridges := func(key string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+r.a.HTTPAddr()+"/smsbridges", nil)
		req.Header.Set("Fineract-Platform-TenantId", "default")
		req.Header.Set("Fineract-Tenant-App-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := bridges("fineract-key-1"); code != http.StatusUnauthorized {
		t.Errorf("revoked Fineract key: %d, want 401", code)
	}
	if code, body := bridges("fineract-key-2"); code != http.StatusOK || !strings.Contains(body, `"phoneNo":"MFI-B2"`) {
		t.Errorf("new Fineract key: %d %s, want the new bridge", code, body)
	}

	step("webhook hosts", map[string]string{"allow_hosts": "example.org, crm.example.net"}, "webhooks.allow_hosts")

	step("rate", map[string]string{"rate": "1"}, "tenants[0].rate")
	if _, err := r.a.Engine().Accept(ctx, "mfi-a", make2(3)); err == nil {
		t.Error("3 messages at once accepted after the rate became 1/s")
	}

	if n := len(r.sim.Binds()); n != binds {
		t.Errorf("%d binds after the reloads, want %d: a reload dropped a bind", n, binds)
	}
	if err := r.sim.SendReceipt(heldSubmit, "DELIVRD", "000"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if st := statusOf(held[0].ID); st != gateway.StatusDelivered {
			return fmt.Errorf("held message %s after its receipt, want DELIVERED", st)
		}
		return nil
	})
}

func make2(n int) []gateway.SendRequest {
	out := make([]gateway.SendRequest, n)
	for i := range out {
		out[i] = gateway.SendRequest{To: "+254712345678", Text: fmt.Sprint("burst ", i)}
	}
	return out
}

// TestReloadRefusesFixedFields: a change that needs a restart is refused
// with its path, the whole file with it, and the config in force stays.
func TestReloadRefusesFixedFields(t *testing.T) {
	r := startReloadRig(t)
	for _, c := range []struct {
		name    string
		changes map[string]string
		want    string
	}{
		{"carrier host", map[string]string{"host": "localhost"}, "carriers[0].smpp.host cannot change without a restart"},
		{"store", map[string]string{"db": filepath.Join(t.TempDir(), "other.db")}, "store.path cannot change without a restart"},
		{"engine", map[string]string{"max_parts": "3"}, "gateway.max_parts cannot change without a restart"},
		{"region", map[string]string{"region": "TZ"}, "tenants[0].default_region cannot change without a restart"},
		{"end point", map[string]string{"end_point": "fineract"}, "message_gateway.end_point cannot change without a restart"},
		{"listener", map[string]string{"grpc": "127.0.0.2:0"}, "listen.grpc cannot change without a restart"},
		{"breaker", map[string]string{"trip": "9"}, "breaker.consecutive_failures cannot change without a restart"},
		{"a new tenant", map[string]string{"more_tenants": "  - {id: mfi-new, api_keys: [\"tenant-new-key-0003\"], default_region: KE, sender: NEW}\n"},
			"tenants cannot change without a restart"},
		{"kannel keyword without kannel", map[string]string{"keywords": `{keyword: BAL, kannel: {get_url: "http://example.org/bal?from=%p"}}`},
			"keywords[0] (BAL): its kannel action needs a restart: this gateway was started without it"},
	} {
		// A live change in the same file is refused with it.
		_, err := r.reload(t, mergeMaps(c.changes, map[string]string{"cost": "0.1"}))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "refused, nothing changed") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		// Back to the file in force.
		startVars(r, c.changes)
	}
	changed, err := r.reload(t, map[string]string{"cost": "0.8"})
	if err != nil || len(changed) != 0 {
		t.Errorf("the original file: changed %v, %v; want nothing changed (the refused reloads applied nothing)", changed, err)
	}
}

func mergeMaps(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// startVars puts back the values a case changed.
func startVars(r *reloadRig, changed map[string]string) {
	start := map[string]string{"host": "127.0.0.1", "max_parts": "10", "region": "KE", "end_point": "/", "keywords": "", "cost": "0.8",
		"grpc": "127.0.0.1:0", "trip": "5", "more_tenants": ""}
	for k := range changed {
		if v, ok := start[k]; ok {
			r.vars[k] = v
		}
	}
	r.vars["db"] = filepath.Join(filepath.Dir(r.path), "smsgw.db")
}
