package fineract_test

import (
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/fineract"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfig(t *testing.T) {
	cfg, err := fineract.ParseConfig([]byte(`
gateway: {addr: "127.0.0.1:9190"}
metrics: {listen: "127.0.0.1:0"}
tenants:
  - name: mfi-ke
    api_key_env: KE_KEY
    region: ke
    keywords: {balance: [SALDO], due: [DENI]}
    fineract:
      url: https://fineract.example:8443/fineract-provider/api
      username: sms
      password_env: FINERACT_PASSWORD
      insecure_tls: true
  - name: mfi-fr
    api_key: key-2
    region: SN
    cursor: other
    language: fr
    date_format: "02/01/2006"
    money: {pattern: "{amount} {code}"}
    templates:
      no_loan: "{{.Name}}, aucun prêt en cours."
    fineract:
      url: http://127.0.0.1:8080/fineract-provider/api
      tenant: senegal
      username: sms
      password: secret
      timeout: 3s
`), env(map[string]string{"KE_KEY": "key-1", "FINERACT_PASSWORD": "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	ke, fr := cfg.Tenants[0], cfg.Tenants[1]
	if ke.APIKey != "key-1" || ke.Region != "KE" || ke.Cursor != "smsgw-fineract" || ke.MaxAge != time.Hour || ke.MaxParts != 3 ||
		ke.Fineract.Password != "pw" || ke.Fineract.Tenant != "default" || ke.Fineract.Timeout != 10*time.Second || !ke.Fineract.InsecureTLS {
		t.Errorf("tenant 0 = %+v", ke)
	}
	if fr.Texts.Language != "fr" || fr.Fineract.Tenant != "senegal" || fr.Fineract.Timeout != 3*time.Second {
		t.Errorf("tenant 1 = %+v", fr)
	}
}

// TestConfigOAuth2: an oauth2 section replaces username and password;
// secrets come from the environment; the password grant may have no
// client secret.
func TestConfigOAuth2(t *testing.T) {
	cfg, err := fineract.ParseConfig([]byte(`
tenants:
  - api_key: k1
    region: KE
    fineract:
      url: https://fineract:8443/fineract-provider/api
      oauth2:
        token_url: https://keycloak:8443/realms/fineract/protocol/openid-connect/token
        client_id: smsgw
        client_secret_env: OAUTH_SECRET
        scopes: [fineract]
  - api_key: k2
    region: KE
    fineract:
      url: https://fineract:8443/fineract-provider/api
      oauth2:
        token_url: https://keycloak:8443/realms/fineract/protocol/openid-connect/token
        client_id: community-app
        username: sms
        password_env: OAUTH_PASSWORD
`), env(map[string]string{"OAUTH_SECRET": "s3cret", "OAUTH_PASSWORD": "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Tenants[0].Fineract.OAuth2; o.ClientSecret != "s3cret" || o.Username != "" || len(o.Scopes) != 1 {
		t.Errorf("client credentials: %+v", o)
	}
	if o := cfg.Tenants[1].Fineract.OAuth2; o.ClientSecret != "" || o.Username != "sms" || o.Password != "pw" {
		t.Errorf("password grant: %+v", o)
	}
}

// TestConfigErrors: every problem is reported, with its path.
func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"unknown key", "tenants: []\nlisten: x\n", "yaml: unmarshal errors:\n  line 2: field listen not found in type fineract.Config"},
		{"no tenants", "gateway: {addr: x}\n", "tenants: at least one tenant is needed"},
		{"everything wrong", `
tenants:
  - api_key: k
    api_key_env: K
    region: XX
    max_parts: 11
    keywords: {balance: [BAL, DUE]}
    language: sw
    fineract: {url: "fineract:8443", password: p, password_env: P}
  - api_key_env: MISSING
    region: KE
    fineract: {url: "https://h/api", username: u}
`, `tenants[0].api_key: give api_key or api_key_env, not both
tenants[0].region: "XX" is not an ISO 3166 region with a calling code (e.g. KE)
tenants[0].max_parts: must be 1 to 10
tenants[0].keywords: keyword "DUE" means both due and balance
tenants[0].fineract.url: want http(s)://host[:port]/fineract-provider/api, got "fineract:8443"
tenants[0].fineract.username: required (or an oauth2 section)
tenants[0].fineract.password: give password or password_env, not both
tenants[0]: language "sw" has no built-in texts (have en, fr)
tenants[1].api_key_env: $MISSING is empty
tenants[1].fineract.password: required (or password_env)`},
		{"basic and oauth2", `
tenants:
  - api_key: k
    region: KE
    fineract:
      url: https://h/api
      username: u
      password: p
      oauth2: {token_url: "https://idp/token", client_id: c, client_secret: s}
`, `tenants[0].fineract: give username and password (HTTP Basic) or oauth2, not both`},
		{"oauth2 incomplete", `
tenants:
  - api_key: k
    region: KE
    fineract:
      url: https://h/api
      oauth2: {client_id: c, client_secret: s, scopes: [read, "a b"]}
  - api_key: k2
    region: KE
    fineract:
      url: https://h/api
      oauth2: {token_url: "idp:8080/token"}
  - api_key: k3
    region: KE
    fineract:
      url: https://h/api
      oauth2: {token_url: "https://idp/token", client_id: c, client_secret: s, client_secret_env: S, password: p}
  - api_key: k4
    region: KE
    fineract:
      url: https://h/api
      oauth2: {token_url: "https://idp/token", client_id: community-app, username: u, password_env: NOPE}
`, `tenants[0].fineract.oauth2.token_url: want http(s)://host/…/token, got ""
tenants[0].fineract.oauth2.scopes[1]: "a b" is not one scope
tenants[1].fineract.oauth2.token_url: want http(s)://host/…/token, got "idp:8080/token"
tenants[1].fineract.oauth2.client_id: required
tenants[1].fineract.oauth2.client_secret: required (or client_secret_env)
tenants[2].fineract.oauth2.username: required with a password (the password grant)
tenants[3].fineract.oauth2.password_env: $NOPE is empty`},
		{"same cursor twice", `
tenants:
  - {api_key: k, region: KE, fineract: {url: "https://h/api", username: u, password: p}}
  - {api_key: k, region: KE, fineract: {url: "https://h/api", username: u, password: p}}
`, `tenants[1].cursor: tenants[0] already follows this API key with cursor "smsgw-fineract"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fineract.ParseConfig([]byte(tt.yaml), env(nil))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

// TestEventsConfigErrors: every mistake in an events section is reported
// with its path, in one error.
func TestEventsConfigErrors(t *testing.T) {
	_, err := fineract.ParseConfig([]byte(`
tenants:
  - name: mfi-ke
    api_key: k
    region: KE
    fineract: {url: "https://f/fineract-provider/api", username: u, password: p}
    events:
      secret: short
      allow_from: [10.0.0.0/8, "not-an-address"]
      staff_groups: {managers: ["+254700000001", "call me"]}
      rules:
        - {name: a, event: LOAN/REPAY, to: [client]}
        - {name: a, event: LOAN/DISBURSE, min_amount: 100, max_amount: 10, to: [boss, "group:board"]}
        - {name: c, event: CLIENT/CREATE, min_amount: 1, to: []}
        - {name: d, event: LOAN/REPAYMENT, to: [client], template: balance}
        - {name: e, event: LOAN/REPAYMENT, to: [client], text: "{{.Nope}}"}
      digest: {at: "25:00", time_zone: Mars/Olympus}
`), nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"hooks.listen",
		"tenants[0].events.secret: at least 16 characters",
		`tenants[0].events.allow_from[1]: "not-an-address" is not an address`,
		`tenants[0].events.staff_groups.managers[1]: "call me" is not a phone number`,
		`tenants[0].events.rules[0].event: "LOAN/REPAY": want one of`,
		`tenants[0].events.rules[1].name: "a" is taken`,
		"tenants[0].events.rules[1]: min_amount is above max_amount",
		`tenants[0].events.rules[1].to[0]: "boss": want client, loan_officer or group:NAME`,
		`tenants[0].events.rules[1].to[1]: no staff group "board"`,
		"tenants[0].events.rules[2]: CLIENT/CREATE has no amount",
		"tenants[0].events.rules[2].to: name at least one recipient",
		`tenants[0].events.rules[3].template: "balance": want one of repayment_receipt`,
		"tenants[0].events.rules[4].text:",
		`tenants[0].events.digest.at: "25:00"`,
		`tenants[0].events.digest.time_zone: "Mars/Olympus"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := fineract.ParseConfig([]byte(`
tenants:
  - {name: x, api_key: k, region: KE, fineract: {url: "https://f/fineract-provider/api", username: u, password: p}, events: {rules: [{event: CLIENT/CREATE, to: [client]}]}}
hooks: {listen: "127.0.0.1:0"}
`), nil); err == nil || !strings.Contains(err.Error(), "tenants[0].events.secret: required (or secret_env)") {
		t.Errorf("rules without a secret: %v", err)
	}
}
