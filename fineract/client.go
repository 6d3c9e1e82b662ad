package fineract

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ErrUnavailable marks every failure after which the right answer to the
// client is "try again later": Fineract answered 5xx, did not answer within
// the timeout, or could not be reached. Check it with errors.Is.
var ErrUnavailable = errors.New("fineract: unavailable")

// ErrNotFound is a 404 from Fineract: the client or account does not exist
// (or is outside the API user's office).
var ErrNotFound = errors.New("fineract: not found")

// APIError is an HTTP answer other than 200 from Fineract, with the
// endpoint that gave it and Fineract's developerMessage when there is one.
// It wraps ErrUnavailable for 5xx and ErrNotFound for 404, so callers
// decide with errors.Is and never by reading the message.
type APIError struct {
	Endpoint   string // the metric label, e.g. "loans"
	StatusCode int
	Message    string // Fineract's developerMessage, or the start of the body
}

// Error names the endpoint and status, for logs; decide with errors.Is.
func (e *APIError) Error() string {
	return fmt.Sprintf("fineract: %s: HTTP %d: %s", e.Endpoint, e.StatusCode, e.Message)
}

// Unwrap lets errors.Is see ErrUnavailable (5xx) and ErrNotFound (404).
func (e *APIError) Unwrap() error {
	switch {
	case e.StatusCode >= 500:
		return ErrUnavailable
	case e.StatusCode == http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

// TokenError is the OAuth2 token endpoint refusing to issue a token: a
// wrong client id or secret, a wrong user, a grant the client may not use,
// or the identity provider failing. It wraps ErrUnavailable only for 5xx:
// a 4xx means the tenant's oauth2 settings are wrong, and waiting will not
// mend them, so the log must say so rather than "Fineract is down".
type TokenError struct {
	Endpoint    string // the Fineract request that needed the token, e.g. "search"
	TokenURL    string
	StatusCode  int
	Code        string // RFC 6749's error, e.g. "invalid_client"
	Description string // RFC 6749's error_description, or the start of the body
}

// Error names the token endpoint, the status and the identity provider's
// reason, for logs; decide with errors.Is.
func (e *TokenError) Error() string {
	msg := e.Description
	if e.Code != "" {
		msg = strings.TrimSuffix(e.Code+": "+e.Description, ": ")
	}
	return fmt.Sprintf("fineract: %s: oauth2 token from %s: HTTP %d: %s", e.Endpoint, e.TokenURL, e.StatusCode, msg)
}

// Unwrap lets errors.Is see ErrUnavailable when the identity provider
// answered 5xx.
func (e *TokenError) Unwrap() error {
	if e.StatusCode >= 500 {
		return ErrUnavailable
	}
	return nil
}

// ClientConfig says how to reach one Fineract tenant.
type ClientConfig struct {
	// BaseURL ends before the API version, e.g.
	// https://host:8443/fineract-provider/api.
	BaseURL string
	// Tenant is sent as Fineract-Platform-TenantId ("default" on a stock
	// install).
	Tenant string
	// Username and Password are sent with HTTP Basic, Fineract's default
	// authentication; leave them empty with OAuth2.
	Username, Password string
	// OAuth2, when set, authenticates with bearer tokens from its token
	// endpoint instead, for a Fineract run as an OAuth2 resource server.
	// Its *_env fields are ignored here (Config.Complete reads them).
	OAuth2 *OAuth2Config
	// Timeout bounds each request, connection included, and each token
	// request; 0 means 10 s.
	Timeout time.Duration
	// InsecureTLS skips certificate checks, of Fineract and of the token
	// endpoint, for self-signed demo servers only.
	InsecureTLS bool
	// Transport replaces the HTTP transport (tests); InsecureTLS is then
	// ignored.
	Transport http.RoundTripper
}

// Client calls Fineract's REST API as one API user of one tenant. It is
// safe for concurrent use.
type Client struct {
	base    *url.URL
	cfg     ClientConfig
	http    *http.Client
	metrics *Metrics
}

// NewClient checks cfg and builds a client; m may be nil (no metrics).
// With OAuth2, tokens are fetched when first needed, cached, and fetched
// again shortly before they expire.
func NewClient(cfg ClientConfig, m *Metrics) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fineract: base URL %q: want http(s)://host[:port]/fineract-provider/api", cfg.BaseURL)
	}
	if cfg.Tenant == "" {
		return nil, errors.New("fineract: no tenant id (Fineract-Platform-TenantId)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	rt := cfg.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.InsecureTLS {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opted in for self-signed demo servers
		}
		rt = t
	}
	if o := cfg.OAuth2; o != nil {
		if cfg.Username != "" || cfg.Password != "" {
			return nil, errors.New("fineract: give Basic credentials or OAuth2, not both")
		}
		if t, err := url.Parse(o.TokenURL); err != nil || (t.Scheme != "http" && t.Scheme != "https") || t.Host == "" {
			return nil, fmt.Errorf("fineract: oauth2 token URL %q: want http(s)://host/…/token", o.TokenURL)
		}
		if o.ClientID == "" {
			return nil, errors.New("fineract: oauth2 needs a client id")
		}
		rt = &oauth2.Transport{Source: tokenSource(o, &http.Client{Transport: rt, Timeout: cfg.Timeout}), Base: rt}
	}
	return &Client{base: u, cfg: cfg, http: &http.Client{Transport: rt, Timeout: cfg.Timeout}, metrics: m}, nil
}

// tokenSource caches tokens from o's token endpoint, fetched through hc:
// the client credentials grant, or the resource-owner password grant when
// o has a username.
func tokenSource(o *OAuth2Config, hc *http.Client) oauth2.TokenSource {
	// The context only carries the HTTP client: token requests outlive
	// the Fineract request that triggers them, and hc's timeout bounds
	// them.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	if o.Username == "" {
		cc := &clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL, Scopes: o.Scopes}
		return cc.TokenSource(ctx)
	}
	conf := &oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, Endpoint: oauth2.Endpoint{TokenURL: o.TokenURL}, Scopes: o.Scopes}
	return oauth2.ReuseTokenSource(nil, passwordGrant{ctx: ctx, conf: conf, username: o.Username, password: o.Password})
}

// passwordGrant gets a token with the user's password each time the cached
// one expires. Refresh tokens are not used: Keycloak's end with the SSO
// session anyway, and a new grant costs the same one request.
type passwordGrant struct {
	ctx                context.Context
	conf               *oauth2.Config
	username, password string
}

func (p passwordGrant) Token() (*oauth2.Token, error) {
	return p.conf.PasswordCredentialsToken(p.ctx, p.username, p.password)
}

// Search is GET /v1/search?query=Q&resource=clients&exactMatch=E: the
// clients, within the API user's office, whose mobile number, account
// number, external id or display name equals query (exact) or matches the
// SQL LIKE pattern '%query%' (not exact; Fineract does not escape the
// query, so '%' and '_' in it are wildcards). Fineract returns at most 50.
func (c *Client) Search(ctx context.Context, query string, exact bool) ([]SearchResult, error) {
	v := url.Values{"query": {query}, "resource": {"clients"}, "exactMatch": {strconv.FormatBool(exact)}}
	var out []SearchResult
	err := c.get(ctx, "search", "/v1/search", v, &out)
	return out, err
}

// Client is GET /v1/clients/{id}.
func (c *Client) Client(ctx context.Context, id int64) (*ClientData, error) {
	var out ClientData
	if err := c.get(ctx, "clients", "/v1/clients/"+strconv.FormatInt(id, 10), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Accounts is GET /v1/clients/{id}/accounts.
func (c *Client) Accounts(ctx context.Context, clientID int64) (*ClientAccounts, error) {
	var out ClientAccounts
	if err := c.get(ctx, "client_accounts", "/v1/clients/"+strconv.FormatInt(clientID, 10)+"/accounts", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Savings is GET /v1/savingsaccounts/{id}.
func (c *Client) Savings(ctx context.Context, id int64) (*SavingsAccount, error) {
	var out SavingsAccount
	if err := c.get(ctx, "savingsaccounts", "/v1/savingsaccounts/"+strconv.FormatInt(id, 10), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Loan is GET /v1/loans/{id}?associations=repaymentSchedule.
func (c *Client) Loan(ctx context.Context, id int64) (*Loan, error) {
	var out Loan
	v := url.Values{"associations": {"repaymentSchedule"}}
	if err := c.get(ctx, "loans", "/v1/loans/"+strconv.FormatInt(id, 10), v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Loans is GET /v1/loans?offset=O&limit=L: one page of every loan the
// API user sees.
func (c *Client) Loans(ctx context.Context, offset, limit int) (*LoanPage, error) {
	var out LoanPage
	v := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(limit)}}
	if err := c.get(ctx, "loan_list", "/v1/loans", v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LoanTransaction is GET /v1/loans/{id}/transactions/{tx}.
func (c *Client) LoanTransaction(ctx context.Context, loanID, txID int64) (*Transaction, error) {
	var out Transaction
	p := "/v1/loans/" + strconv.FormatInt(loanID, 10) + "/transactions/" + strconv.FormatInt(txID, 10)
	if err := c.get(ctx, "loan_transactions", p, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SavingsTransaction is GET /v1/savingsaccounts/{id}/transactions/{tx}.
func (c *Client) SavingsTransaction(ctx context.Context, savingsID, txID int64) (*Transaction, error) {
	var out Transaction
	p := "/v1/savingsaccounts/" + strconv.FormatInt(savingsID, 10) + "/transactions/" + strconv.FormatInt(txID, 10)
	if err := c.get(ctx, "savings_transactions", p, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Offices is GET /v1/offices: every office the API user sees.
func (c *Client) Offices(ctx context.Context) ([]Office, error) {
	var out []Office
	err := c.get(ctx, "offices", "/v1/offices", nil, &out)
	return out, err
}

// MeetingCenters is GET /v1/centers?officeId=O&meetingDate=D: the
// centers of one office (not its branches) that meet on day, by loan
// officer, as Fineract's collection sheet finds them (centers with
// group loans due by then whose meeting calendar falls on the day).
func (c *Client) MeetingCenters(ctx context.Context, officeID int64, day LocalDate) ([]StaffCenters, error) {
	v := url.Values{"officeId": {strconv.FormatInt(officeID, 10)}, "meetingDate": {day.Time().Format(time.DateOnly)},
		"dateFormat": {"yyyy-MM-dd"}, "locale": {"en"}}
	var out []StaffCenters
	err := c.get(ctx, "centers", "/v1/centers", v, &out)
	return out, err
}

// Staff is GET /v1/staff/{id}.
func (c *Client) Staff(ctx context.Context, id int64) (*Staff, error) {
	var out Staff
	if err := c.get(ctx, "staff", "/v1/staff/"+strconv.FormatInt(id, 10), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// maxBody bounds what is read from Fineract: a loan with a long schedule is
// tens of kilobytes, nothing legitimate comes near this.
const maxBody = 8 << 20

// get performs one request and decodes a 200 answer into out; endpoint is
// the metric label.
func (c *Client) get(ctx context.Context, endpoint, path string, q url.Values, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("fineract: %s: %w", endpoint, err)
	}
	if c.cfg.OAuth2 == nil {
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password) // else the transport adds the bearer token
	}
	req.Header.Set("Fineract-Platform-TenantId", c.cfg.Tenant)
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	err = c.do(req, endpoint, out)
	c.metrics.request(endpoint, resultOf(err), time.Since(start))
	return err
}

func (c *Client) do(req *http.Request, endpoint string, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		// The error is logged, and the URL it quotes holds the query: the
		// number a Search looks for. Keep the path only.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL, _, _ = strings.Cut(ue.URL, "?")
		}
		if errors.Is(req.Context().Err(), context.Canceled) {
			// The caller gave up (shutdown): not Fineract's fault.
			return fmt.Errorf("fineract: %s: %w", endpoint, context.Canceled)
		}
		var refused *oauth2.RetrieveError
		if errors.As(err, &refused) {
			return c.tokenError(endpoint, refused)
		}
		return fmt.Errorf("fineract: %s: %w: %w", endpoint, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("fineract: %s: reading the answer: %w: %w", endpoint, ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := developerMessage(body)
		if h := resp.Header.Get("WWW-Authenticate"); msg == "" && h != "" {
			// Fineract as an OAuth2 resource server refuses a token with
			// an empty body and the reason in this header.
			msg = "WWW-Authenticate: " + h
		}
		return &APIError{Endpoint: endpoint, StatusCode: resp.StatusCode, Message: msg}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("fineract: %s: decoding the answer: %w", endpoint, err)
	}
	return nil
}

// tokenError reads the token endpoint's refusal.
func (c *Client) tokenError(endpoint string, re *oauth2.RetrieveError) *TokenError {
	e := &TokenError{Endpoint: endpoint, TokenURL: c.cfg.OAuth2.TokenURL, Code: re.ErrorCode, Description: re.ErrorDescription}
	if re.Response != nil {
		e.StatusCode = re.Response.StatusCode
	}
	if e.Code == "" {
		e.Description = developerMessage(re.Body)
	}
	return e
}

// developerMessage is the useful part of Fineract's error JSON
// ({"developerMessage": …, "errors": [{"developerMessage": …}]}), or the
// start of a body that is not such JSON.
func developerMessage(body []byte) string {
	var e struct {
		DeveloperMessage string `json:"developerMessage"`
		Errors           []struct {
			DeveloperMessage string `json:"developerMessage"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && e.DeveloperMessage != "" {
		if len(e.Errors) > 0 && e.Errors[0].DeveloperMessage != "" {
			return e.DeveloperMessage + " " + e.Errors[0].DeveloperMessage
		}
		return e.DeveloperMessage
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// resultOf is the result label of one request; a token endpoint's refusal
// counts as Fineract's would (a wrong secret is a client_error, like a
// wrong Basic password).
func resultOf(err error) string {
	var apiErr *APIError
	var tokenErr *TokenError
	var netErr net.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &apiErr) && apiErr.StatusCode >= 500, errors.As(err, &tokenErr) && tokenErr.StatusCode >= 500:
		return "server_error"
	case errors.As(err, &apiErr), errors.As(err, &tokenErr):
		return "client_error"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrUnavailable):
		return "unreachable"
	default:
		return "bad_answer"
	}
}
