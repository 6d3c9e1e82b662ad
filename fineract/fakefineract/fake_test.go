package fakefineract_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/openmf/smsgw/fineract/fakefineract"
)

func get(t *testing.T, srv *httptest.Server, path string, auth bool) (int, map[string]any, []any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+fakefineract.BasePath+path, nil)
	if auth {
		req.SetBasicAuth(fakefineract.DefaultUsername, fakefineract.DefaultPassword)
		req.Header.Set("Fineract-Platform-TenantId", fakefineract.DefaultTenant)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	var arr []any
	if strings.HasPrefix(string(b), "[") {
		_ = json.Unmarshal(b, &arr)
	} else if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatalf("%s: %s is not JSON", path, b)
	}
	return resp.StatusCode, obj, arr
}

// TestDemoData: the embedded data set loads and answers like Fineract:
// auth first, search by stored mobile number, derived account lists, the
// repayment schedule only when asked for, Fineract's error JSON.
func TestDemoData(t *testing.T) {
	srv := httptest.NewServer(fakefineract.Demo())
	defer srv.Close()

	if code, body, _ := get(t, srv, "/v1/clients/1", false); code != 400 || body["userMessageGlobalisationCode"] != "error.msg.invalid.tenant.identifier" {
		t.Errorf("no tenant header: %d %v", code, body)
	}
	if code, _, hits := get(t, srv, "/v1/search?query=0722000111&resource=clients&exactMatch=true", true); code != 200 || len(hits) != 1 ||
		hits[0].(map[string]any)["entityId"] != float64(2) || hits[0].(map[string]any)["entityType"] != "CLIENT" {
		t.Errorf("search: %d %v", code, hits)
	}
	if _, _, hits := get(t, srv, "/v1/search?query=%2B254722000111&resource=clients&exactMatch=true", true); len(hits) != 0 {
		t.Errorf("exact search matched another form of the number: %v", hits)
	}
	if _, _, hits := get(t, srv, "/v1/search?query=0722&resource=clients", true); len(hits) != 1 {
		t.Errorf("substring search: %v", hits)
	}
	// Without exactMatch (false by default) the query is a LIKE pattern:
	// '%' between the digits finds Jane, stored as "0712 345 678".
	if _, _, hits := get(t, srv, "/v1/search?query=7%251%252%253%254%255%256%257%258&resource=clients", true); len(hits) != 1 ||
		hits[0].(map[string]any)["entityMobileNo"] != "0712 345 678" {
		t.Errorf("LIKE search: %v", hits)
	}
	_, accts, _ := get(t, srv, "/v1/clients/2/accounts", true)
	l, s := accts["loanAccounts"].([]any), accts["savingsAccounts"].([]any)
	if len(l) != 1 || len(s) != 3 {
		t.Fatalf("accounts %v", accts)
	}
	// savingsAccounts[] lists the fixed deposit too, told apart by
	// depositType as Fineract does.
	for i, want := range []string{"depositAccountType.savingsDeposit", "depositAccountType.savingsDeposit", "depositAccountType.fixedDeposit"} {
		if dt, _ := s[i].(map[string]any)["depositType"].(map[string]any); dt["code"] != want {
			t.Errorf("savingsAccounts[%d].depositType = %v, want %s", i, dt, want)
		}
	}
	if code, fd, _ := get(t, srv, "/v1/fixeddepositaccounts/4", true); code != 200 || fd["depositProductName"] != "12-Month Fixed Deposit" {
		t.Errorf("fixed deposit: %d %v", code, fd)
	}
	if code, _, _ := get(t, srv, "/v1/savingsaccounts/4", true); code != 404 {
		t.Errorf("a fixed deposit read as a savings account: %d, want 404 as from Fineract", code)
	}
	if _, loan, _ := get(t, srv, "/v1/loans/11", true); loan["repaymentSchedule"] != nil || loan["summary"] == nil {
		t.Errorf("loan without associations has a schedule")
	}
	if _, loan, _ := get(t, srv, "/v1/loans/11?associations=repaymentSchedule", true); loan["repaymentSchedule"] == nil {
		t.Errorf("loan with associations=repaymentSchedule has none")
	}
	code, body, _ := get(t, srv, "/v1/clients/99", true)
	errs, _ := body["errors"].([]any)
	if code != 404 || len(errs) != 1 || errs[0].(map[string]any)["developerMessage"] != "Client with identifier 99 does not exist" {
		t.Errorf("missing client: %d %v", code, body)
	}
}

// TestSearch: the fake's search is Fineract's SQL: equality with
// exactMatch=true, otherwise an unescaped LIKE '%query%' on the same four
// fields, case-insensitive, at most 50 results, entityMobileNo only when
// the client has a number.
func TestSearch(t *testing.T) {
	fsys := fstest.MapFS{}
	for i := 1; i <= 60; i++ {
		mobile := fmt.Sprintf(`"mobileNo": "0700 000 %03d", `, i)
		if i == 60 {
			mobile = ""
		}
		fsys[fmt.Sprintf("clients/%d.json", i)] = &fstest.MapFile{Data: fmt.Appendf(nil,
			`{"id": %d, "accountNo": "%09d", %s"displayName": "Client_%d", "externalId": "EXT-%d", "active": true}`, i, i, mobile, i, i)}
	}
	fake, err := fakefineract.New(fsys)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ids := func(query string) []int {
		t.Helper()
		code, body, hits := get(t, srv, "/v1/search?resource=clients&"+query, true)
		if code != 200 {
			t.Fatalf("%s: %d %v", query, code, body)
		}
		var out []int
		for _, h := range hits {
			out = append(out, int(h.(map[string]any)["entityId"].(float64)))
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []int
	}{
		{"exactMatch=true&query=0700+000+007", []int{7}},
		{"exactMatch=true&query=0700000007", nil},                          // equality, not digits
		{"exactMatch=true&query=000000007", []int{7}},                      // the account number
		{"exactMatch=true&query=client_7", []int{7}},                       // the name, ignoring case
		{"exactMatch=true&query=ext-59", []int{59}},                        // the external id
		{"exactMatch=false&query=0+007", []int{7}},                         // a substring
		{"query=0%25000%25007", []int{7}},                                  // '%' is a wildcard; exactMatch defaults to false
		{"query=000+0_7", []int{7, 17, 27, 37, 47, 57}},                    // '_' is one character
		{"query=t%5C_1", []int{1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}}, // '\_' is a literal '_'
		{"query=client+60", nil},
	} {
		if got := ids(tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("%s: clients %v, want %v", tt.query, got, tt.want)
		}
	}
	if got := ids("query=_"); len(got) != 50 || got[49] != 50 {
		t.Errorf("a query every client matches: %d results ending %v, want the first 50", len(got), got[len(got)-1:])
	}
	_, _, hits := get(t, srv, "/v1/search?resource=clients&query=EXT-60", true)
	if len(hits) != 1 || hits[0].(map[string]any)["entityMobileNo"] != nil {
		t.Errorf("client without a number: %v, want no entityMobileNo", hits)
	}
}

// TestOAuth2Mode: in bearer mode the token endpoint issues the token for
// either grant and refuses wrong clients and users as RFC 6749 says; the
// API takes the token and refuses Basic and other tokens as a Spring
// resource server does.
func TestOAuth2Mode(t *testing.T) {
	fake := fakefineract.Demo()
	fake.SetOAuth2(&fakefineract.OAuth2{AccessToken: "tok-1", ClientID: "smsgw", ClientSecret: "s3cret", Username: "sms", Password: "pw"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	token := func(form url.Values, basicID, basicSecret string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+fakefineract.TokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basicID != "" {
			req.SetBasicAuth(basicID, basicSecret)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	for _, tt := range []struct {
		name     string
		form     url.Values
		id, pass string
		status   int
		errCode  string
	}{
		{"client credentials, secret in a header", url.Values{"grant_type": {"client_credentials"}}, "smsgw", "s3cret", 200, ""},
		{"client credentials, secret in the form", url.Values{"grant_type": {"client_credentials"}, "client_id": {"smsgw"}, "client_secret": {"s3cret"}}, "", "", 200, ""},
		{"password", url.Values{"grant_type": {"password"}, "username": {"sms"}, "password": {"pw"}}, "smsgw", "s3cret", 200, ""},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}}, "smsgw", "nope", 401, "invalid_client"},
		{"wrong password", url.Values{"grant_type": {"password"}, "username": {"sms"}, "password": {"x"}}, "smsgw", "s3cret", 400, "invalid_grant"},
		{"other grant", url.Values{"grant_type": {"authorization_code"}}, "smsgw", "s3cret", 400, "unsupported_grant_type"},
	} {
		code, body := token(tt.form, tt.id, tt.pass)
		if code != tt.status || (tt.errCode == "" && (body["access_token"] != "tok-1" || body["token_type"] != "Bearer" || body["expires_in"] != float64(300))) ||
			(tt.errCode != "" && body["error"] != tt.errCode) {
			t.Errorf("%s: %d %v", tt.name, code, body)
		}
	}

	call := func(auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+fakefineract.BasePath+"/v1/clients/1", nil)
		req.Header.Set("Fineract-Platform-TenantId", "default")
		req.Header.Set("Authorization", auth)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if code, _ := call("Bearer tok-1"); code != 200 {
		t.Errorf("with the token: %d", code)
	}
	if code, h := call("Basic bWlmb3M6cGFzc3dvcmQ="); code != 401 || h != "Bearer" {
		t.Errorf("with Basic: %d %q", code, h)
	}
	if code, h := call("Bearer tok-0"); code != 401 || !strings.Contains(h, `error="invalid_token"`) {
		t.Errorf("with another token: %d %q", code, h)
	}
	reqs := fake.Requests()
	if last := reqs[len(reqs)-1]; last.Auth != "bearer" || last.Status != 401 {
		t.Errorf("last request recorded as %+v", last)
	}
	if first := reqs[0]; first.Path != fakefineract.TokenPath || first.User != "smsgw" || first.Grant != "client_credentials" {
		t.Errorf("token request recorded as %+v", first)
	}
}
