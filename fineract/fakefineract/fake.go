// Package fakefineract is an in-process Apache Fineract for tests and
// demos: the few REST endpoints smsgw's adapter reads, answering with
// Fineract's JSON shapes, seeded from JSON documents as Fineract returns
// them (clients/{id}.json, savingsaccounts/{id}.json,
// fixeddepositaccounts/{id}.json, loans/{id}.json, staff/{id}.json,
// offices/{id}.json, centers/{id}.json).
// Search results, a client's account list, the loan list and single
// transactions (from a loan's or savings account's transactions[], as
// Fineract returns them with associations=transactions) are derived from
// those documents the way Fineract derives them, so a data set stays
// consistent.
//
// Search behaves like Fineract's SQL: exactMatch=true compares for
// equality, otherwise the query is a LIKE pattern ('%' and '_' are
// wildcards, unescaped, as Fineract passes them), case-insensitively, and
// at most 50 results come back.
//
// It starts like net/http/httptest: httptest.NewServer(fake) for tests,
// or `smsgw-fineract fake-fineract` for the README demo. Faults (5xx, a
// hanging server) are switched on with SetFault; SetOAuth2 switches from
// HTTP Basic to bearer tokens with a token endpoint of its own.
package fakefineract

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BasePath is where Fineract serves its API; clients use
// https://host:8443/fineract-provider/api as their base URL.
const BasePath = "/fineract-provider/api"

// TokenPath is where the fake serves an OAuth2 token endpoint in bearer
// mode (SetOAuth2): where Keycloak serves it for a realm named fineract,
// so a config written against the fake reads like a real one.
const TokenPath = "/realms/fineract/protocol/openid-connect/token"

// searchLimit is the most results Fineract's search returns (its SQL ends
// in "limit 50").
const searchLimit = 50

// Fineract's depositType ids (DepositAccountType): savingsAccounts[] in a
// client's account list holds all of them.
const (
	depositSavings = 100
	depositFixed   = 200
)

// The credentials of a stock Fineract install, which the fake expects
// unless told otherwise.
const (
	DefaultTenant   = "default"
	DefaultUsername = "mifos"
	DefaultPassword = "password"
)

//go:embed demodata
var demoData embed.FS

// Server is a fake Fineract. It implements http.Handler; its zero value is
// not usable, use New or Demo.
type Server struct {
	// Tenant, Username and Password are what requests must carry (set
	// them before serving).
	Tenant, Username, Password string

	clients map[int64]document
	// savings holds savings and fixed deposit accounts: Fineract keeps
	// both in one table, so their ids never collide.
	savings map[int64]document
	loans   map[int64]document
	staff   map[int64]document
	offices map[int64]document
	centers map[int64]document

	mu       sync.Mutex
	fault    Fault
	oauth    *OAuth2
	requests []Request
	closed   chan struct{}
	once     sync.Once
	mux      *http.ServeMux
}

// document is one stored Fineract JSON object, kept as decoded so it is
// served exactly as the fixture has it.
type document map[string]any

// Fault makes the fake misbehave, for tests of "Fineract is down".
type Fault struct {
	// Status answers every matching request with this HTTP status and a
	// Fineract-style error body (e.g. 500, 503).
	Status int
	// Hang holds matching requests until the client gives up or the
	// server is closed: a Fineract that accepts connections and never
	// answers.
	Hang bool
	// Path limits the fault to requests whose path (after BasePath)
	// starts with it, e.g. "/v1/loans", or TokenPath; empty means every
	// request.
	Path string
}

// OAuth2 is the fake's bearer-token mode: a Fineract run as an OAuth2
// resource server behind an identity provider such as Keycloak. The API
// then takes only "Authorization: Bearer <AccessToken>" (HTTP Basic is
// refused, as on such a Fineract), and TokenPath answers token requests
// as the identity provider would.
type OAuth2 struct {
	// AccessToken is what the token endpoint issues and the API accepts;
	// changing it (SetOAuth2 again) makes tokens issued before invalid.
	AccessToken string
	// ExpiresIn is the lifetime, in seconds, the token endpoint announces
	// (default 300). The fake itself never expires a token.
	ExpiresIn int
	// ClientID and ClientSecret authenticate the client at the token
	// endpoint, in an HTTP Basic header or in the form. An empty
	// ClientSecret is a public client, which may use only the password
	// grant.
	ClientID, ClientSecret string
	// Username and Password are the user of the password grant; empty
	// refuses that grant.
	Username, Password string
}

// Request is one request the fake received, for tests to check the
// headers and queries the adapter sends.
type Request struct {
	Method, Path string
	Query        string
	Tenant       string // Fineract-Platform-TenantId
	User         string // Basic auth user name; the client id at TokenPath
	Auth         string // "basic", "bearer" or "" for none
	Grant, Scope string // at TokenPath: grant_type and scope
	Status       int    // answered
}

// Demo is the fake with the built-in demo data set: Jane Wanjiru stored as
// "0712 345 678" (savings and a loan) and Peter Otieno stored as
// 0722000111 (two savings accounts, a fixed deposit, an overdue loan);
// both answer from their E.164 numbers.
func Demo() *Server {
	sub, err := fs.Sub(demoData, "demodata")
	if err != nil {
		panic(err)
	}
	s, err := New(sub)
	if err != nil {
		panic(fmt.Sprintf("fakefineract: embedded demo data: %v", err))
	}
	return s
}

// New loads a data set from fsys: clients/*.json, savingsaccounts/*.json,
// fixeddepositaccounts/*.json, loans/*.json and staff/*.json, each the
// answer Fineract gives for that resource (loans with
// associations=repaymentSchedule,transactions; savings accounts with
// associations=transactions).
// Files are named by id; savings and fixed deposit accounts share one
// sequence of ids, as in Fineract.
func New(fsys fs.FS) (*Server, error) {
	s := &Server{
		Tenant: DefaultTenant, Username: DefaultUsername, Password: DefaultPassword,
		clients: map[int64]document{}, savings: map[int64]document{}, loans: map[int64]document{}, staff: map[int64]document{},
		offices: map[int64]document{}, centers: map[int64]document{},
		closed: make(chan struct{}),
	}
	for _, set := range []struct {
		dir     string
		into    map[int64]document
		deposit int64 // the depositType the documents must have; 0 for none
	}{
		{"clients", s.clients, 0},
		{"savingsaccounts", s.savings, depositSavings},
		{"fixeddepositaccounts", s.savings, depositFixed},
		{"loans", s.loans, 0},
		{"staff", s.staff, 0},
		{"offices", s.offices, 0},
		{"centers", s.centers, 0},
	} {
		dir, into := set.dir, set.into
		files, err := fs.Glob(fsys, dir+"/*.json")
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				return nil, err
			}
			var d document
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if err := dec.Decode(&d); err != nil {
				return nil, fmt.Errorf("fakefineract: %s: %w", f, err)
			}
			id, err := strconv.ParseInt(strings.TrimSuffix(path.Base(f), ".json"), 10, 64)
			if err != nil || d.int("id") != id {
				return nil, fmt.Errorf("fakefineract: %s: the file name must be the document's id", f)
			}
			if _, dup := into[id]; dup {
				return nil, fmt.Errorf("fakefineract: %s: id %d is taken (savings and fixed deposit accounts share ids)", f, id)
			}
			if set.deposit != 0 && d.depositType() != set.deposit {
				return nil, fmt.Errorf("fakefineract: %s: depositType.id is %d, want %d in %s/", f, d.depositType(), set.deposit, dir)
			}
			into[id] = d
		}
	}
	if len(s.clients) == 0 {
		return nil, errors.New("fakefineract: no clients/*.json in the data set")
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET "+BasePath+"/v1/search", s.search)
	s.mux.HandleFunc("GET "+BasePath+"/v1/clients/{id}", s.client)
	s.mux.HandleFunc("GET "+BasePath+"/v1/clients/{id}/accounts", s.accounts)
	s.mux.HandleFunc("GET "+BasePath+"/v1/savingsaccounts/{id}", s.deposit(depositSavings, "Savings account"))
	s.mux.HandleFunc("GET "+BasePath+"/v1/fixeddepositaccounts/{id}", s.deposit(depositFixed, "Fixed deposit account"))
	s.mux.HandleFunc("GET "+BasePath+"/v1/loans", s.loanList)
	s.mux.HandleFunc("GET "+BasePath+"/v1/loans/{id}", s.loan)
	s.mux.HandleFunc("GET "+BasePath+"/v1/loans/{id}/transactions/{tx}", s.transaction(s.loans, "Loan"))
	s.mux.HandleFunc("GET "+BasePath+"/v1/savingsaccounts/{id}/transactions/{tx}", s.transaction(s.savings, "Savings account"))
	s.mux.HandleFunc("GET "+BasePath+"/v1/staff/{id}", s.staffMember)
	s.mux.HandleFunc("GET "+BasePath+"/v1/offices", s.officeList)
	s.mux.HandleFunc("GET "+BasePath+"/v1/centers", s.centerList)
	return s, nil
}

// SetFault switches a fault on; the zero Fault switches it off.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// SetOAuth2 switches bearer-token mode on with o (see OAuth2), or back to
// HTTP Basic with nil. It may be called while serving.
func (s *Server) SetOAuth2(o *OAuth2) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o == nil {
		s.oauth = nil
		return
	}
	c := *o
	if c.ExpiresIn <= 0 {
		c.ExpiresIn = 300
	}
	s.oauth = &c
}

// Requests are the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Close releases hanging requests (call it before closing the HTTP
// server, which waits for them).
func (s *Server) Close() { s.once.Do(func() { close(s.closed) }) }

// statusRecorder notes the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// ServeHTTP applies the fault, answers the token endpoint in bearer mode,
// then checks the tenant header and the credentials as Fineract does, then
// answers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	seen := Request{
		Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, BasePath), Query: r.URL.RawQuery,
		Tenant: r.Header.Get("Fineract-Platform-TenantId"),
	}
	user, pass, basic := r.BasicAuth()
	bearer, isBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case basic:
		seen.User, seen.Auth = user, "basic"
	case isBearer:
		seen.Auth = "bearer"
	}
	defer func() {
		seen.Status = rec.status
		s.mu.Lock()
		s.requests = append(s.requests, seen)
		s.mu.Unlock()
	}()
	s.mu.Lock()
	fault, oauth := s.fault, s.oauth
	s.mu.Unlock()
	if strings.HasPrefix(strings.TrimPrefix(r.URL.Path, BasePath), fault.Path) {
		if fault.Hang {
			select {
			case <-r.Context().Done():
			case <-s.closed:
			}
			return
		}
		if fault.Status != 0 {
			writeError(rec, fault.Status, "error.msg.platform.service.unavailable", "Injected fault: the platform is not available.", "")
			return
		}
	}
	if oauth != nil && r.URL.Path == TokenPath {
		s.token(rec, r, oauth, &seen)
		return
	}
	switch tenant := r.Header.Get("Fineract-Platform-TenantId"); {
	case tenant == "":
		writeError(rec, http.StatusBadRequest, "error.msg.invalid.tenant.identifier",
			"No tenant identifier found: Add request header of 'Fineract-Platform-TenantId' or add the parameter 'tenantIdentifier' to query string of request URL.", "")
		return
	case tenant != s.Tenant:
		writeError(rec, http.StatusUnauthorized, "error.msg.invalid.tenant.identifier", "The tenant identifier "+tenant+" is not valid.", "")
		return
	}
	switch {
	case oauth != nil && !isBearer:
		// Spring Security's resource server: a bare challenge, no body.
		rec.Header().Set("WWW-Authenticate", "Bearer")
		rec.WriteHeader(http.StatusUnauthorized)
		return
	case oauth != nil && bearer != oauth.AccessToken:
		rec.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="An error occurred while attempting to decode the Jwt: Signed JWT rejected: Invalid signature", error_uri="https://tools.ietf.org/html/rfc6750#section-3.1"`)
		rec.WriteHeader(http.StatusUnauthorized)
		return
	case oauth == nil && (!basic || user != s.Username || pass != s.Password):
		writeError(rec, http.StatusUnauthorized, "error.msg.not.authenticated", "Invalid authentication details were passed in api request.", "")
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// token is the identity provider's token endpoint (RFC 6749 sections 4.3,
// 4.4 and 5): client credentials and password grants, the client
// authenticated in a Basic header or in the form, errors as RFC 6749 JSON.
func (s *Server) token(w http.ResponseWriter, r *http.Request, o *OAuth2, seen *Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "HTTP method not allowed")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: form-encoded before Basic encoding.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	grant := r.PostForm.Get("grant_type")
	seen.User, seen.Grant, seen.Scope = id, grant, r.PostForm.Get("scope")
	if id != o.ClientID || secret != o.ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Invalid client or Invalid client credentials")
		return
	}
	switch grant {
	case "client_credentials":
		if o.ClientSecret == "" {
			oauthError(w, http.StatusBadRequest, "unauthorized_client", "Public client not allowed to retrieve service account")
			return
		}
	case "password":
		if o.Username == "" || r.PostForm.Get("username") != o.Username || r.PostForm.Get("password") != o.Password {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid user credentials")
			return
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, document{"access_token": o.AccessToken, "token_type": "Bearer", "expires_in": o.ExpiresIn, "scope": seen.Scope})
}

// oauthError is RFC 6749's error answer.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(document{"error": code, "error_description": description})
}

// search answers GET /v1/search for resource=clients as Fineract's SQL
// does: the query is compared with the account number, external id,
// display name and mobile number, for equality when exactMatch=true and
// otherwise as LIKE '%query%' with the query unescaped (Fineract's
// default), ignoring case as MySQL's default collation does; at most 50
// results.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := q.Get("query")
	if query == "" {
		writeError(w, http.StatusBadRequest, "validation.msg.validation.errors.exist", "Validation errors exist.", "The parameter `query` is mandatory.")
		return
	}
	out := []document{}
	if !slices.Contains(strings.Split(q.Get("resource"), ","), "clients") {
		writeJSON(w, out)
		return
	}
	exact := strings.EqualFold(q.Get("exactMatch"), "true")
	match := func(field string) bool {
		if field == "" {
			return false
		}
		if exact {
			return strings.EqualFold(field, query)
		}
		return like(field, "%"+query+"%")
	}
	for _, id := range sortedIDs(s.clients) {
		if len(out) == searchLimit {
			break
		}
		c := s.clients[id]
		if !match(c.str("accountNo")) && !match(c.str("externalId")) && !match(c.str("displayName")) && !match(c.str("mobileNo")) {
			continue
		}
		hit := document{
			"entityId": c["id"], "entityAccountNo": c["accountNo"], "entityName": c["displayName"],
			"entityType": "CLIENT", "parentId": c["officeId"], "parentName": c["officeName"],
			"entityStatus": c["status"],
		}
		// Fineract's JSON leaves null fields out.
		if ext, ok := c["externalId"]; ok {
			hit["entityExternalId"] = ext
		}
		if mobile, ok := c["mobileNo"]; ok {
			hit["entityMobileNo"] = mobile
		}
		out = append(out, hit)
	}
	writeJSON(w, out)
}

func (s *Server) client(w http.ResponseWriter, r *http.Request) {
	c, ok := s.lookup(w, r, s.clients, "Client")
	if ok {
		writeJSON(w, c)
	}
}

// accounts answers GET /v1/clients/{id}/accounts from the client's loans
// and savings, with the fields Fineract's account summaries carry.
func (s *Server) accounts(w http.ResponseWriter, r *http.Request) {
	c, ok := s.lookup(w, r, s.clients, "Client")
	if !ok {
		return
	}
	id := c.int("id")
	loans, savings := []document{}, []document{}
	for _, lid := range sortedIDs(s.loans) {
		l := s.loans[lid]
		if l.int("clientId") != id {
			continue
		}
		sum, _ := l["summary"].(map[string]any)
		a := document{
			"id": l["id"], "accountNo": l["accountNo"], "productId": l["loanProductId"], "productName": l["loanProductName"],
			"status": l["status"], "loanType": l["loanType"], "loanCycle": 1, "timeline": l["timeline"],
			"inArrears": l["inArrears"], "originalLoan": l["principal"], "currency": l["currency"],
		}
		if sum != nil {
			a["loanBalance"] = sum["totalOutstanding"]
			a["amountPaid"] = sum["totalRepayment"]
		}
		loans = append(loans, a)
	}
	for _, sid := range sortedIDs(s.savings) {
		sv := s.savings[sid]
		if sv.int("clientId") != id {
			continue
		}
		sum, _ := sv["summary"].(map[string]any)
		product, productName := sv["savingsProductId"], sv["savingsProductName"]
		if sv.depositType() != depositSavings {
			product, productName = sv["depositProductId"], sv["depositProductName"]
		}
		a := document{
			"id": sv["id"], "accountNo": sv["accountNo"], "productId": product, "productName": productName,
			"status": sv["status"], "currency": sv["currency"], "timeline": sv["timeline"], "depositType": sv["depositType"],
			"accountType": map[string]any{"id": 1, "code": "accountType.individual", "value": "Individual"},
		}
		if sum != nil {
			a["accountBalance"] = sum["accountBalance"]
		}
		savings = append(savings, a)
	}
	out := document{}
	// Fineract leaves empty lists out.
	if len(loans) > 0 {
		out["loanAccounts"] = loans
	}
	if len(savings) > 0 {
		out["savingsAccounts"] = savings
	}
	writeJSON(w, out)
}

// deposit answers GET /v1/savingsaccounts/{id} or
// /v1/fixeddepositaccounts/{id}: like Fineract, each reads only accounts
// of its own depositType, so a fixed deposit's id is 404 as a savings
// account.
func (s *Server) deposit(kind int64, name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if sv, ok := s.savings[id]; ok && sv.depositType() != kind {
			writeError(w, http.StatusNotFound, "error.msg.resource.not.found", "The requested resource is not available.",
				fmt.Sprintf("%s with identifier %d does not exist", name, id))
			return
		}
		if sv, ok := s.lookup(w, r, s.savings, name); ok {
			writeJSON(w, withAssociations(sv, r, "transactions"))
		}
	}
}

// loan leaves the repayment schedule and the transactions out unless
// associations asks for them, as Fineract does.
func (s *Server) loan(w http.ResponseWriter, r *http.Request) {
	if l, ok := s.lookup(w, r, s.loans, "Loan"); ok {
		writeJSON(w, withAssociations(l, r, "repaymentSchedule", "transactions"))
	}
}

// withAssociations is d without those of the named associations the
// request's associations parameter does not ask for ("all" asks for
// every one).
func withAssociations(d document, r *http.Request, names ...string) document {
	assoc := strings.Split(r.URL.Query().Get("associations"), ",")
	if slices.Contains(assoc, "all") {
		return d
	}
	out := d
	for _, n := range names {
		if _, has := d[n]; has && !slices.Contains(assoc, n) {
			if len(out) == len(d) {
				out = maps.Clone(d)
			}
			delete(out, n)
		}
	}
	return out
}

// loanList answers GET /v1/loans as Fineract's paged list: offset and
// limit (default 200), totalFilteredRecords and pageItems, each a loan
// without its schedule or transactions, ordered by id.
func (s *Server) loanList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 200
	}
	ids := sortedIDs(s.loans)
	items := []document{}
	for i := max(offset, 0); i < len(ids) && len(items) < limit; i++ {
		l := maps.Clone(s.loans[ids[i]])
		delete(l, "repaymentSchedule")
		delete(l, "transactions")
		items = append(items, l)
	}
	writeJSON(w, document{"totalFilteredRecords": len(ids), "pageItems": items})
}

// transaction answers GET /v1/loans/{id}/transactions/{tx} or
// /v1/savingsaccounts/{id}/transactions/{tx} from the account's
// transactions[]; a transaction of another account is 404, as in Fineract.
func (s *Server) transaction(in map[int64]document, name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		acct, ok := s.lookup(w, r, in, name)
		if !ok {
			return
		}
		txs, _ := acct["transactions"].([]any)
		for _, t := range txs {
			if tx, _ := t.(map[string]any); tx != nil && document(tx).int("id") == mustInt(r.PathValue("tx")) {
				writeJSON(w, tx)
				return
			}
		}
		writeError(w, http.StatusNotFound, "error.msg.resource.not.found", "The requested resource is not available.",
			fmt.Sprintf("Transaction with identifier %s does not exist for %s %d", r.PathValue("tx"), name, acct.int("id")))
	}
}

func (s *Server) staffMember(w http.ResponseWriter, r *http.Request) {
	if st, ok := s.lookup(w, r, s.staff, "Staff"); ok {
		writeJSON(w, st)
	}
}

func (s *Server) officeList(w http.ResponseWriter, _ *http.Request) {
	out := []document{}
	for _, id := range sortedIDs(s.offices) {
		out = append(out, s.offices[id])
	}
	writeJSON(w, out)
}

// centerList answers GET /v1/centers. With officeId and meetingDate (in
// dateFormat yyyy-MM-dd, the only one the fake reads) it answers as
// Fineract's collection sheet does: the office's centers whose
// collectionMeetingCalendar.nextTenRecurringDates holds the date, grouped
// by loan officer ([{staffId, staffName, meetingFallCenters}]); without,
// every center.
func (s *Server) centerList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("meetingDate") == "" || q.Get("officeId") == "" {
		out := []document{}
		for _, id := range sortedIDs(s.centers) {
			out = append(out, s.centers[id])
		}
		writeJSON(w, out)
		return
	}
	day, err := time.Parse(time.DateOnly, q.Get("meetingDate"))
	if err != nil || q.Get("dateFormat") != "yyyy-MM-dd" {
		writeError(w, http.StatusBadRequest, "validation.msg.validation.errors.exist", "Validation errors exist.",
			"The fake reads meetingDate only with dateFormat yyyy-MM-dd.")
		return
	}
	want := []any{json.Number(strconv.Itoa(day.Year())), json.Number(strconv.Itoa(int(day.Month()))), json.Number(strconv.Itoa(day.Day()))}
	office := mustInt(q.Get("officeId"))
	out := []document{}
	byStaff := map[int64]document{}
	for _, id := range sortedIDs(s.centers) {
		c := s.centers[id]
		cal, _ := c["collectionMeetingCalendar"].(map[string]any)
		dates, _ := cal["nextTenRecurringDates"].([]any)
		meets := slices.ContainsFunc(dates, func(d any) bool { a, _ := d.([]any); return slices.Equal(a, want) })
		if c.int("officeId") != office || !meets {
			continue
		}
		staff := c.int("staffId")
		if byStaff[staff] == nil {
			byStaff[staff] = document{"staffId": c["staffId"], "staffName": c["staffName"], "meetingFallCenters": []any{}}
			out = append(out, byStaff[staff])
		}
		byStaff[staff]["meetingFallCenters"] = append(byStaff[staff]["meetingFallCenters"].([]any), c)
	}
	writeJSON(w, out)
}

// mustInt is a path id, or -1 (which no document has) when it is not a
// number.
func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request, in map[int64]document, name string) (document, bool) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "error.msg.resource.not.found", "The requested resource is not available.", "")
		return nil, false
	}
	d, ok := in[id]
	if !ok {
		writeError(w, http.StatusNotFound, "error.msg.resource.not.found", "The requested resource is not available.",
			fmt.Sprintf("%s with identifier %d does not exist", name, id))
		return nil, false
	}
	return d, true
}

// writeError writes Fineract's error JSON (PlatformApiDataValidation /
// ResourceNotFound style).
func writeError(w http.ResponseWriter, status int, code, developerMessage, detail string) {
	body := document{
		"developerMessage":             developerMessage,
		"httpStatusCode":               strconv.Itoa(status),
		"defaultUserMessage":           developerMessage,
		"userMessageGlobalisationCode": code,
		"errors":                       []any{},
	}
	if detail != "" {
		body["errors"] = []any{document{
			"developerMessage": detail, "defaultUserMessage": detail,
			"userMessageGlobalisationCode": code, "parameterName": "id",
		}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func sortedIDs(m map[int64]document) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (d document) str(k string) string {
	s, _ := d[k].(string)
	return s
}

// depositType is the document's depositType id, savings when it has none
// (as in Fineract versions before deposit accounts).
func (d document) depositType() int64 {
	t, _ := d["depositType"].(map[string]any)
	if t == nil {
		return depositSavings
	}
	return document(t).int("id")
}

func (d document) int(k string) int64 {
	n, _ := d[k].(json.Number)
	i, _ := n.Int64()
	return i
}
