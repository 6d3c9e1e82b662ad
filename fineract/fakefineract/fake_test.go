package fakefineract_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	_, accts, _ := get(t, srv, "/v1/clients/2/accounts", true)
	if l, s := accts["loanAccounts"].([]any), accts["savingsAccounts"].([]any); len(l) != 1 || len(s) != 2 {
		t.Errorf("accounts %v", accts)
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
