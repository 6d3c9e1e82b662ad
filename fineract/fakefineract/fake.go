// Package fakefineract is an in-process Apache Fineract for tests and
// demos: the few REST endpoints smsgw's adapter reads, answering with
// Fineract's JSON shapes, seeded from JSON documents as Fineract returns
// them (clients/{id}.json, savingsaccounts/{id}.json, loans/{id}.json).
// Search results and a client's account list are derived from those
// documents the way Fineract derives them, so a data set stays consistent.
//
// It starts like net/http/httptest: httptest.NewServer(fake) for tests,
// or `smsgw-fineract fake-fineract` for the README demo. Faults (5xx, a
// hanging server) are switched on with SetFault.
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
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// BasePath is where Fineract serves its API; clients use
// https://host:8443/fineract-provider/api as their base URL.
const BasePath = "/fineract-provider/api"

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
	savings map[int64]document
	loans   map[int64]document

	mu       sync.Mutex
	fault    Fault
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
	// starts with it, e.g. "/v1/loans"; empty means every request.
	Path string
}

// Request is one request the fake received, for tests to check the
// headers and queries the adapter sends.
type Request struct {
	Method, Path string
	Query        string
	Tenant       string // Fineract-Platform-TenantId
	User         string // Basic auth user name
	Status       int    // answered
}

// Demo is the fake with the built-in demo data set: Jane Wanjiru on
// +254712345678 (savings and a loan) and Peter Otieno stored as 0722000111
// (two savings accounts, an overdue loan).
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

// New loads a data set from fsys: clients/*.json, savingsaccounts/*.json
// and loans/*.json, each the answer Fineract gives for that resource
// (loans with associations=repaymentSchedule). Files are named by id.
func New(fsys fs.FS) (*Server, error) {
	s := &Server{
		Tenant: DefaultTenant, Username: DefaultUsername, Password: DefaultPassword,
		clients: map[int64]document{}, savings: map[int64]document{}, loans: map[int64]document{},
		closed: make(chan struct{}),
	}
	for dir, into := range map[string]map[int64]document{"clients": s.clients, "savingsaccounts": s.savings, "loans": s.loans} {
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
	s.mux.HandleFunc("GET "+BasePath+"/v1/savingsaccounts/{id}", s.savingsAccount)
	s.mux.HandleFunc("GET "+BasePath+"/v1/loans/{id}", s.loan)
	return s, nil
}

// SetFault switches a fault on; the zero Fault switches it off.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
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

// ServeHTTP checks the tenant header and Basic auth as Fineract does, then
// applies the fault, then answers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, BasePath), Query: r.URL.RawQuery,
			Tenant: r.Header.Get("Fineract-Platform-TenantId"), User: user, Status: rec.status,
		})
		s.mu.Unlock()
	}()
	s.mu.Lock()
	fault := s.fault
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
	switch tenant := r.Header.Get("Fineract-Platform-TenantId"); {
	case tenant == "":
		writeError(rec, http.StatusBadRequest, "error.msg.invalid.tenant.identifier",
			"No tenant identifier found: Add request header of 'Fineract-Platform-TenantId' or add the parameter 'tenantIdentifier' to query string of request URL.", "")
		return
	case tenant != s.Tenant:
		writeError(rec, http.StatusUnauthorized, "error.msg.invalid.tenant.identifier", "The tenant identifier "+tenant+" is not valid.", "")
		return
	}
	if !ok || user != s.Username || pass != s.Password {
		writeError(rec, http.StatusUnauthorized, "error.msg.not.authenticated", "Invalid authentication details were passed in api request.", "")
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// search answers GET /v1/search for resource=clients: Fineract compares
// the query with the account number, external id, display name and mobile
// number, exactly when exactMatch=true and as a substring otherwise.
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
	exact := q.Get("exactMatch") == "true"
	match := func(field string) bool {
		if field == "" {
			return false
		}
		if exact {
			return strings.EqualFold(field, query)
		}
		return strings.Contains(strings.ToLower(field), strings.ToLower(query))
	}
	for _, id := range sortedIDs(s.clients) {
		c := s.clients[id]
		if !match(c.str("accountNo")) && !match(c.str("externalId")) && !match(c.str("displayName")) && !match(c.str("mobileNo")) {
			continue
		}
		hit := document{
			"entityId": c["id"], "entityAccountNo": c["accountNo"], "entityName": c["displayName"],
			"entityType": "CLIENT", "parentId": c["officeId"], "parentName": c["officeName"],
			"entityMobileNo": c["mobileNo"], "entityStatus": c["status"],
		}
		if ext, ok := c["externalId"]; ok {
			hit["entityExternalId"] = ext
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
		a := document{
			"id": sv["id"], "accountNo": sv["accountNo"], "productId": sv["savingsProductId"], "productName": sv["savingsProductName"],
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

func (s *Server) savingsAccount(w http.ResponseWriter, r *http.Request) {
	sv, ok := s.lookup(w, r, s.savings, "Savings account")
	if ok {
		writeJSON(w, sv)
	}
}

// loan leaves the repayment schedule out unless associations asks for it,
// as Fineract does.
func (s *Server) loan(w http.ResponseWriter, r *http.Request) {
	l, ok := s.lookup(w, r, s.loans, "Loan")
	if !ok {
		return
	}
	assoc := strings.Split(r.URL.Query().Get("associations"), ",")
	if !slices.Contains(assoc, "repaymentSchedule") && !slices.Contains(assoc, "all") {
		l = maps.Clone(l)
		delete(l, "repaymentSchedule")
	}
	writeJSON(w, l)
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

func (d document) int(k string) int64 {
	n, _ := d[k].(json.Number)
	i, _ := n.Int64()
	return i
}
