package fineract_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/fineract/fakefineract"
)

// oauthFake is the fixtures' Fineract in bearer mode, with a client
// "smsgw" (secret "s3cret") and a public client's user "sms".
func oauthFake(t *testing.T) (*fakefineract.Server, string) {
	t.Helper()
	fake, srv := fakeFineract(t)
	fake.SetOAuth2(&fakefineract.OAuth2{AccessToken: "tok-1", ClientID: "smsgw", ClientSecret: "s3cret", Username: "sms", Password: "pw"})
	return fake, srv.URL
}

// TestOAuth2ClientCredentials: a tenant configured with oauth2 (client
// credentials, secret from the environment) answers BAL through the fake
// Fineract in bearer mode. One token serves every request; the tenant
// header is still sent and Basic is not.
func TestOAuth2ClientCredentials(t *testing.T) {
	fake, base := oauthFake(t)
	cfg, err := fineract.ParseConfig(fmt.Appendf(nil, `
tenants:
  - api_key: k
    region: KE
    cursor: test-cursor
    fineract:
      url: %s/fineract-provider/api
      oauth2:
        token_url: %s%s
        client_id: smsgw
        client_secret_env: SMSGW_OAUTH_SECRET
        scopes: [fineract.read, fineract.sms]
`, base, base, fakefineract.TokenPath), env(map[string]string{"SMSGW_OAUTH_SECRET": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGateway()
	in := g.mo("+254712345678", "BAL", time.Now())
	a, err := fineract.NewTenantAdapter(cfg.Tenants[0], g, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitAcked(t, g, 1)

	_, _, sent, _ := g.state()
	if r := sent[fineract.ReplyRefPrefix+in]; r == nil || r.GetText() != "Dear Jane, savings balance: Passbook Savings *0001: KES 1,234.50." {
		t.Fatalf("reply %v", r)
	}
	var tokens, api int
	for _, q := range fake.Requests() {
		if q.Path == fakefineract.TokenPath {
			tokens++
			if q.Grant != "client_credentials" || q.User != "smsgw" || q.Scope != "fineract.read fineract.sms" || q.Status != 200 {
				t.Errorf("token request %+v", q)
			}
			continue
		}
		api++
		if q.Auth != "bearer" || q.Tenant != "default" || q.Status != 200 {
			t.Errorf("API request %+v", q)
		}
	}
	if tokens != 1 || api != 4 {
		t.Errorf("%d token requests for %d API requests, want 1 for 4", tokens, api)
	}
}

// TestOAuth2PasswordGrant: with a username the password grant is used, by
// a public client (no secret) as Keycloak's community-app is.
func TestOAuth2PasswordGrant(t *testing.T) {
	fake, base := oauthFake(t)
	fake.SetOAuth2(&fakefineract.OAuth2{AccessToken: "tok-1", ClientID: "community-app", Username: "sms", Password: "pw"})
	c, err := fineract.NewClient(fineract.ClientConfig{
		BaseURL: base + fakefineract.BasePath, Tenant: "default", Timeout: 5 * time.Second,
		OAuth2: &fineract.OAuth2Config{TokenURL: base + fakefineract.TokenPath, ClientID: "community-app", Username: "sms", Password: "pw"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := newResponder(t, c, nil).Answer(context.Background(), fineract.KeywordDue, "+254712345678")
	if want := "Dear Jane, Biashara Loan *0011: KES 2,750.00 due 10 Apr 2025."; err != nil || got != want {
		t.Fatalf("Answer = %q, %v, want %q", got, err, want)
	}
	if q := fake.Requests()[0]; q.Path != fakefineract.TokenPath || q.Grant != "password" || q.User != "community-app" {
		t.Errorf("first request %+v, want the password grant", q)
	}
}

// TestOAuth2Refused: what an operator sees when tokens fail. The client
// always gets "try again later" (never the unknown-number refusal). A
// wrong secret is a TokenError naming the token endpoint and the
// provider's reason, not ErrUnavailable (waiting will not mend it) and a
// client_error in metrics, like a wrong Basic password; a failing identity
// provider is ErrUnavailable; a token Fineract rejects is an APIError
// carrying Fineract's WWW-Authenticate reason.
func TestOAuth2Refused(t *testing.T) {
	const later = "Sorry, we cannot reach your account right now. Please try again later."
	oauthClient := func(t *testing.T, base, secret string, m *fineract.Metrics) *fineract.Client {
		t.Helper()
		c, err := fineract.NewClient(fineract.ClientConfig{
			BaseURL: base + fakefineract.BasePath, Tenant: "default", Timeout: 5 * time.Second,
			OAuth2: &fineract.OAuth2Config{TokenURL: base + fakefineract.TokenPath, ClientID: "smsgw", ClientSecret: secret},
		}, m)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("wrong client secret", func(t *testing.T) {
		_, base := oauthFake(t)
		reg := prometheus.NewPedanticRegistry()
		m := fineract.NewMetrics(reg)
		c := oauthClient(t, base, "wrong", m)
		got, outcome, err := newResponder(t, c, m).Answer(context.Background(), fineract.KeywordBalance, "+254712345678")
		if err != nil || got != later || outcome != fineract.OutcomeUnavailable {
			t.Fatalf("Answer = %q, %s, %v", got, outcome, err)
		}
		if v, _ := counter(t, reg, "smsgw_fineract_requests_total", map[string]string{"endpoint": "search", "result": "client_error"}); v != 1 {
			t.Errorf("requests_total{search,client_error} = %v, want 1", v)
		}
		_, err = c.Search(context.Background(), "x", true)
		var tokenErr *fineract.TokenError
		if !errors.As(err, &tokenErr) || tokenErr.StatusCode != 401 || tokenErr.Code != "invalid_client" || errors.Is(err, fineract.ErrUnavailable) {
			t.Fatalf("Search: %v, want a TokenError 401 invalid_client", err)
		}
		want := "fineract: search: oauth2 token from " + base + fakefineract.TokenPath + ": HTTP 401: invalid_client: Invalid client or Invalid client credentials"
		if err.Error() != want {
			t.Errorf("error %q\nwant  %q", err, want)
		}
	})

	t.Run("identity provider down", func(t *testing.T) {
		fake, base := oauthFake(t)
		fake.SetFault(fakefineract.Fault{Status: 503, Path: fakefineract.TokenPath})
		_, err := oauthClient(t, base, "s3cret", nil).Search(context.Background(), "x", true)
		var tokenErr *fineract.TokenError
		if !errors.As(err, &tokenErr) || tokenErr.StatusCode != 503 || !errors.Is(err, fineract.ErrUnavailable) {
			t.Fatalf("Search: %v, want a TokenError 503 that is ErrUnavailable", err)
		}
	})

	t.Run("Fineract rejects the token", func(t *testing.T) {
		fake, base := oauthFake(t)
		c := oauthClient(t, base, "s3cret", nil)
		if _, err := c.Client(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		// The signing key changes: the cached token is no longer valid.
		fake.SetOAuth2(&fakefineract.OAuth2{AccessToken: "tok-2", ClientID: "smsgw", ClientSecret: "s3cret"})
		_, err := c.Client(context.Background(), 1)
		var apiErr *fineract.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || errors.Is(err, fineract.ErrUnavailable) ||
			!strings.Contains(err.Error(), `WWW-Authenticate: Bearer error="invalid_token"`) {
			t.Fatalf("Client: %v, want an APIError 401 with the invalid_token reason", err)
		}
		got, outcome, err := newResponder(t, c, nil).Answer(context.Background(), fineract.KeywordBalance, "+254712345678")
		if err != nil || got != later || outcome != fineract.OutcomeUnavailable {
			t.Fatalf("Answer = %q, %s, %v", got, outcome, err)
		}
	})
}
