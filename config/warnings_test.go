package config_test

import (
	"strings"
	"testing"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/config"
)

// TestWarnings: check-config said ok to plain-text secrets, 0.0.0.0
// listeners without TLS and 8-character API keys. Each is now a warning
// naming its path; the ${ENV} form and loopback listeners are not.
func TestWarnings(t *testing.T) {
	t.Setenv("SMSC_PASSWORD", "from-the-environment")
	t.Setenv("LONG_KEY", "a-long-random-key-from-the-environment")
	raw := `
listen: {grpc: "0.0.0.0:9190", http: ":9191"}
store: {driver: postgres, dsn: "postgres://smsgw:hunter2@db/smsgw"}
tenants:
  - id: t
    api_keys: ["short-key", "${LONG_KEY}"]
    sender: MFI
    default_region: KE
carriers:
  - {name: a, smpp: {host: 127.0.0.1, port: 2775, system_id: x, password: "${SMSC_PASSWORD}"}}
  - {name: b, smpp: {host: 127.0.0.1, port: 2776, system_id: y, password: plain-text}}
routes: [{prefix: "+", carrier: a, cost: 1}]
kannel: {listen: "10.0.0.5:13013", users: [{username: u, password: p4ssw0rd, tenant: t}]}
console:
  users:
    - {username: noc, role: operator, password_hash: "$2a$04$rw0SWClTSxS1T4NS/bgxROZFQ.ePdYEEGt3MfRylhVEfmWtzsMSjS"}
    - {username: ops, role: viewer, password_hash: "$2a$10$ZEsaVh4h9N/UDpK4irE.k.csfTE/JNuiPDPBzAAj/hw8.g2VkCSWq"}
`
	c, err := config.Parse(strings.NewReader(raw), app.Kinds(app.ConnectorKinds))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(config.Warnings(c, []byte(raw)), "\n")
	want := []string{
		"store.dsn: line 3 holds a database password; write it as ${ENV_VAR} (or use a .pgpass file)",
		"tenants[0].api_keys[0]: line 6 holds a secret in the file; write it as ${ENV_VAR}",
		"carriers[1].smpp.password: line 11 holds a secret in the file",
		"kannel.users[0].password: line 13 holds a secret in the file",
		"tenants[0].api_keys[0]: 9 characters; use at least 24 random ones",
		"listen.grpc: 0.0.0.0:9190 is reachable off this host without TLS",
		"listen.http: :9191 is reachable off this host in clear text",
		"kannel.listen: 10.0.0.5:13013 is reachable off this host in clear text",
		"kannel.status_password: empty, so /status is open to anyone who reaches kannel.listen",
		"console.users[0].password_hash: bcrypt cost 4; use 10 or more",
		"console.secure_cookies: false while listen.http (:9191) is reachable off this host",
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("warnings lack %q:\n%s", w, got)
		}
	}
	if n := len(strings.Split(got, "\n")); n != len(want) {
		t.Errorf("%d warnings, want %d:\n%s", n, len(want), got)
	}

	quiet := `
tenants: [{id: t, api_keys: ["${LONG_KEY}"], sender: MFI, default_region: KE}]
carriers: [{name: a, smpp: {host: 127.0.0.1, port: 2775, system_id: x, password: "${SMSC_PASSWORD}"}}]
routes: [{prefix: "+", carrier: a, cost: 1}]
`
	c, err = config.Parse(strings.NewReader(quiet), app.Kinds(app.ConnectorKinds))
	if err != nil {
		t.Fatal(err)
	}
	if ws := config.Warnings(c, []byte(quiet)); len(ws) != 0 {
		t.Errorf("a loopback config with secrets from the environment: %q", ws)
	}
}
