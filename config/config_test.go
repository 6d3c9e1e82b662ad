package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/smpp"
)

func TestValidFileFromTheIssue(t *testing.T) {
	t.Setenv("SMSGW_DEFAULT_KEY", "k-0123456789")
	c, err := app.LoadConfig("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Tenants[0].APIKeys[0]; got != "k-0123456789" {
		t.Errorf("api key = %q, want the environment's value", got)
	}
	s := c.Carriers[0].Section.(*smpp.Config)
	if s.Host != "127.0.0.1" || s.Port != 2775 || s.Window != 32 || s.TPS != 200 || s.EnquireLink != 30*time.Second {
		t.Errorf("smpp section parsed as %+v", s)
	}
	if c.Routes[0].Currency != "KES" || c.Routes[0].Cost != 1 {
		t.Errorf("route parsed as %+v", c.Routes[0])
	}
	if c.Gateway.MaxParts != 10 || c.Listen.GRPC != "127.0.0.1:9190" {
		t.Errorf("defaults not applied: %+v %+v", c.Gateway, c.Listen)
	}
	if et := c.EngineTenants(); et[0].DefaultRegion != "KE" || et[0].Sender != "MFI" {
		t.Errorf("EngineTenants = %+v", et)
	}
}

// Each invalid fixture must produce exactly these lines (in any order), so
// an operator gets every problem with its path in one run.
func TestInvalidFiles(t *testing.T) {
	cases := map[string][]string{
		"unknown_key.yaml": {
			"bogus_key: not a known key (known here: listen, store, gateway, tenants, carriers, routes, breaker, admin, keywords, webhooks, message_gateway, kannel, smpp_server, limits, console) (line 1)",
			"tenants: at least one tenant is required",
			"carriers: at least one carrier is required",
			"routes: at least one route is required",
		},
		"unknown_nested_key.yaml": {
			"tenants[0].colour: not a known key (known here: id, api_keys, default_region, sender, senders, rate, burst, weight, opt_out, fraud, fineract) (line 6)",
			"carriers[0].smpp.windw: not a known key; did you mean window? (line 9)",
		},
		"bad_types.yaml": {
			"gateway.max_parts: `many` is not a whole number (line 1)",
			"tenants: at least one tenant is required",
			"carriers: at least one carrier is required",
			"routes: at least one route is required",
		},
		"unset_env.yaml": {
			"tenants[0].api_keys[0]: environment variable SMSGW_TEST_UNSET_VARIABLE is not set (line 3)",
		},
		"empty.yaml": {
			"tenants: at least one tenant is required",
			"carriers: at least one carrier is required",
			"routes: at least one route is required",
		},
		"references.yaml": {
			"carriers[1]: exactly one of smpp, twilio, vonage, africastalking is required, not 0 (line 11)",
			`tenants[0].default_region: "XX" is not a region phone numbers know (line 4)`,
			`tenants[1].id: "default" is used by an earlier tenant (line 6)`,
			"tenants[1].api_keys[0]: the same key is used by tenants[0] (line 7)",
			"tenants[1].api_keys[1]: must be at least 8 characters (line 7)",
			"tenants[1].default_region: required (ISO 3166 code, e.g. KE) (line 6)",
			"tenants[1].sender: required (the default sender id or shortcode) (line 6)",
			`carriers[0].smpp.tenant: "nobody" is not a configured tenant (line 10)`,
			`carriers[1].name: "a" is used by an earlier carrier (line 11)`,
			`routes[0].carrier: "b" is not a configured carrier (line 13)`,
			`routes[1].prefix: "254" must start with + (line 14)`,
			"routes[1].cost: must be ≥ 0 (line 14)",
		},
		"bad_inbound.yaml": {
			"message_gateway.report_horizon: must be > 0 and shorter than gateway.event_retention (720h0m0s), which prunes the record of when an id was first asked for (line 31)",
			`tenants[0].fineract.bridges[0].phone_no: "OTHER" is not the tenant's sender or one of its senders (line 10)`,
			`webhooks.allow_hosts[0]: "http://example.org/" is not a host name (line 26)`,
			"keywords[1] (nothing): needs keywords, a regex or default: true (line 18)",
			"keywords[2] (loan): regex: error parsing regexp: missing closing ): `(` (line 19)",
			`keywords[3]: name "BAL" is used twice (line 20)`,
			`keywords[3].tenants[0]: "nobody" is not a configured tenant (line 22)`,
			"keywords[3].webhook, kannel, frontline: choose one (reply may go with any) (line 23)",
			`kannel.users[0].tenant: "nobody" is not a configured tenant (line 29)`,
		},
		"typos.yaml": {
			"gateway.max_attemps: not a known key; did you mean max_attempts? (line 1)",
			"gateway.retry_base: `soon` is not a duration (30s, 5m, 2h) (line 1)",
			"tenants[0].rate: `fast` is not a number (line 7)",
			"tenants[0].opt_out.stop_words: `STOP` is not a list (line 8)",
			"routes[0].currancy: not a known key; did you mean currency? (line 13)",
			"carriers[0].smpp.tsp: not a known key; did you mean tps? (line 11)",
			"carriers[0].smpp.binds: `many` is not a whole number (line 11)",
		},
		"bad_console.yaml": {
			"console.users[3].pasword_hash: not a known key; did you mean password_hash? (line 14)",
			"console.session_ttl: must be 1m to 168h0m0s (line 9)",
			"console.idle_timeout: must be 1m to session_ttl (1s) (line 8)",
			`console.users[0].role: "admin" is not viewer or operator (line 11)`,
			`console.users[1].username: "noc" is used by an earlier user (line 12)`,
			"console.users[1].password_hash: is not a bcrypt hash ($2a$, $2b$ or $2y$ followed by the cost) (line 12)",
			"console.users[3].password_hash: required (a bcrypt hash of the password, never the password) (line 14)",
			`console.users[1].tenant: "nobody" is not a configured tenant (line 12)`,
		},
		"bad_smpp_server.yaml": {
			"smpp_server.accounts[2].pasword: not a known key (known here: system_id, password_hash, tenant, allow_ip, max_binds, rate, burst, window, mo) (line 14)",
			`smpp_server.listen: "nowhere" is not host:port (line 9)`,
			"smpp_server.reassembly_wait: must be ≥ 0 (line 10)",
			"smpp_server.accounts[0].password_hash: is not a bcrypt hash ($2a$, $2b$ or $2y$ followed by the cost), never the password (line 12)",
			`smpp_server.accounts[0].allow_ip[0]: "10.0.0.300" is neither an IP nor a CIDR (line 12)`,
			"smpp_server.accounts[0].window: must be 1 to 10000 (line 12)",
			`smpp_server.accounts[1].system_id: "bank" is used twice (line 13)`,
			"smpp_server.accounts[1].password_hash: required (a bcrypt hash: smsgw hash-password) (line 13)",
			`smpp_server.accounts[2].system_id: "a-name-too-long-for-smpp" is longer than SMPP's 15 characters (line 14)`,
			`smpp_server.accounts[0].tenant: "nobody" is not a configured tenant (line 12)`,
		},
		"bad_smpp.yaml":     nil, // lines come from smpp.Config.Validate; checked by prefix below
		"store_driver.yaml": nil, // lines come from store.Config.Validate; checked by prefix below
	}
	prefixes := map[string]string{"bad_smpp.yaml": "carriers[0].smpp.", "store_driver.yaml": "store.driver: "}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			_, err := app.LoadConfig(filepath.Join("testdata", file))
			if err == nil {
				t.Fatal("invalid file accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: testdata/"+file+": ") {
				t.Errorf("error does not name the file: %q", msg)
			}
			lines := strings.Split(strings.TrimPrefix(msg, "config: testdata/"+file+": "), "\n")
			if p, ok := prefixes[file]; ok {
				for _, l := range lines {
					if !strings.HasPrefix(l, p) {
						t.Errorf("line %q lacks the path %q", l, p)
					}
				}
				return
			}
			if strings.Join(sorted(lines), "\n") != strings.Join(sorted(want), "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestBadSMPPReportsEachField(t *testing.T) {
	_, err := app.LoadConfig("testdata/bad_smpp.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, field := range []string{"host", "port", "binds", "bind"} {
		if !strings.Contains(err.Error(), "carriers[0].smpp."+field+": ") {
			t.Errorf("no error for carriers[0].smpp.%s in:\n%v", field, err)
		}
	}
}

func TestMissingFile(t *testing.T) {
	_, err := app.LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// The example shipped in deploy/ must stay valid as the config grows, with
// the example env file beside it setting every variable it names.
func TestDeployExampleIsValid(t *testing.T) {
	env, err := os.ReadFile("../deploy/smsgw.example.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			t.Setenv(k, v)
		}
	}
	c, err := app.LoadConfig("../deploy/smsgw.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Carriers[0].Section.(*smpp.Config).Password != "changeme" || c.Tenants[0].Senders[0] != "22555" {
		t.Errorf("example parsed as %+v", c)
	}
	kw, err := c.KeywordTable()
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := kw.Match("default", "22555", "saldo"); !ok || m.Rule.Name != "BAL" {
		t.Errorf("SALDO matched %+v, %v; want BAL", m.Rule, ok)
	}
	if r := kw.Rule("JOIN"); r == nil || r.Webhook == nil || r.Webhook.Secret != os.Getenv("SMSGW_JOIN_WEBHOOK_SECRET") {
		t.Errorf("JOIN rule %+v: webhook secret not expanded", r)
	}
	tenants := c.EngineTenants()
	if o := tenants[0].OptOut; !o.AllowTransactional || o.HelpReply == "" {
		t.Errorf("opt_out parsed as %+v", o)
	}
	if f := c.FineractTenants()["default"]; len(f.Bridges) != 2 || f.AppKeys[0] != os.Getenv("SMSGW_FINERACT_APP_KEY") {
		t.Errorf("fineract section parsed as %+v", f)
	}
	if c.Kannel == nil || c.Kannel.Users[0].Password != os.Getenv("SMSGW_KANNEL_APP_PASSWORD") {
		t.Errorf("kannel section parsed as %+v", c.Kannel)
	}
}

func TestDefaultOptOutWhenAbsent(t *testing.T) {
	t.Setenv("SMSGW_DEFAULT_KEY", "k-0123456789")
	c, err := app.LoadConfig(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.EngineTenants()[0].OptOut; o.StopReply == "" || o.AllowTransactional {
		t.Errorf("a tenant without opt_out got %+v, want the default wording and no transactional exception", o)
	}
}

func TestGRPCTLSFilesAreChecked(t *testing.T) {
	_, err := config.Parse(strings.NewReader(`
listen: {grpc_tls: {cert_file: /nonexistent/server.crt, key_file: /nonexistent/server.key}}
tenants: [{id: t, api_keys: ["0123456789"], default_region: KE, sender: MFI}]
carriers: [{name: a, smpp: {host: 127.0.0.1, port: 2775, system_id: x, password: y}}]
routes: [{prefix: "+", carrier: a, cost: 1}]
`), app.Kinds(app.ConnectorKinds))
	if err == nil || !strings.Contains(err.Error(), "listen.grpc_tls.cert_file, key_file: open /nonexistent/server.crt") {
		t.Fatalf("err = %v", err)
	}
}

// TestDiff names what changed the way the file spells it, leaves and whole
// lists, inside a carrier's section too, and never a value.
func TestDiff(t *testing.T) {
	t.Setenv("SMSGW_DEFAULT_KEY", "k-0123456789")
	load := func() *config.Config {
		c, err := app.LoadConfig("testdata/valid.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := load(), load()
	if d := config.Diff(a, b); len(d) != 0 {
		t.Fatalf("the same file differs: %v", d)
	}
	b.Carriers[0].Section.(*smpp.Config).Host = "10.0.0.9"
	b.Tenants[0].APIKeys = append(b.Tenants[0].APIKeys, "k-another-key-01")
	b.Tenants[0].Sender = "OTHER"
	b.Routes[0].Cost = 2
	b.Gateway.MaxParts = 3
	want := []string{"gateway.max_parts", "tenants[0].api_keys", "tenants[0].sender", "carriers[0].smpp.host", "routes[0].cost"}
	if d := config.Diff(a, b); strings.Join(d, " ") != strings.Join(want, " ") {
		t.Errorf("Diff = %q, want %q", d, want)
	}
	b = load()
	b.Carriers[0].Kind, b.Carriers[0].Section = "twilio", nil
	if d := config.Diff(a, b); strings.Join(d, " ") != "carriers[0].twilio" {
		t.Errorf("another kind: Diff = %q", d)
	}
}

// TestRegionUpperCasedOnce: "ke" is read as KE when the file is loaded, so
// every user of the tenant (the engine, the route explanation of the CLI
// and of the Admin service) reads national numbers the same way.
func TestRegionUpperCasedOnce(t *testing.T) {
	c, err := config.Parse(strings.NewReader(`
tenants: [{id: t, api_keys: ["0123456789"], default_region: ke, sender: MFI}]
carriers: [{name: a, smpp: {host: 127.0.0.1, port: 2775, system_id: x, password: y}}]
routes: [{prefix: "+254", carrier: a, cost: 1}]
`), app.Kinds(app.ConnectorKinds))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Tenants[0].DefaultRegion; r != "KE" {
		t.Errorf("default_region read as %q, want KE", r)
	}
	q, err := c.RouteQuery("", "0712345678", "")
	if err != nil || q.To != "+254712345678" || q.Tenant != "t" || q.From != "MFI" {
		t.Errorf("RouteQuery = %+v, %v", q, err)
	}
	var fe *gateway.FieldError
	if _, err := c.RouteQuery("nobody", "0712345678", ""); !errors.As(err, &fe) || fe.Field != "tenant" {
		t.Errorf("unknown tenant: %v, want a tenant field error", err)
	}
}
