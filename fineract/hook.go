package fineract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The events the adapter acts on, as Fineract names them in
// X-Fineract-Entity/X-Fineract-Action (CommandWrapperBuilder's entityName
// and actionName: loanRepaymentTransaction, disburseLoanApplication,
// savingsAccountDeposit, createClient).
const (
	EventLoanRepayment  = "LOAN/REPAYMENT"
	EventLoanDisburse   = "LOAN/DISBURSE"
	EventSavingsDeposit = "SAVINGSACCOUNT/DEPOSIT"
	EventClientCreate   = "CLIENT/CREATE"
)

// Events lists the events rules may name.
var Events = []string{EventLoanRepayment, EventLoanDisburse, EventSavingsDeposit, EventClientCreate}

// The headers of Fineract's Web hook (WebHookService in
// fineract-provider/…/infrastructure/hooks/processor): entity and action of
// the command, the tenant it ran in, and Fineract's own base URL (the
// system property baseUrl, often unset, in which case Retrofit leaves the
// header out).
const (
	HeaderEntity   = "X-Fineract-Entity"
	HeaderAction   = "X-Fineract-Action"
	HeaderTenant   = "Fineract-Platform-TenantId"
	HeaderEndpoint = "X-Fineract-Endpoint"
)

// Hook is one business event posted by Fineract's Web hook template.
type Hook struct {
	Entity, Action string // from the headers, upper case
	Tenant         string // Fineract-Platform-TenantId
	Endpoint       string // X-Fineract-Endpoint, often empty
	// Failed is a command Fineract refused: since FINERACT-1241 the hook
	// fires for those too, with "status": "Exception".
	Failed bool
	// OfficeID is the office of the command's entity.
	OfficeID int64
	Result   CommandResult
	// Received is when the adapter read it: lookups that find nothing
	// are retried for a while after it (Fineract posts the hook before
	// its transaction commits).
	Received time.Time
}

// CommandResult is Fineract's CommandProcessingResult, as the hook carries
// it in "response" (officeId moved up beside it); ids a command does not
// set are left out by Gson and read as 0.
type CommandResult struct {
	CommandID     int64  `json:"commandId"`
	GroupID       int64  `json:"groupId"`
	ClientID      int64  `json:"clientId"`
	LoanID        int64  `json:"loanId"`
	SavingsID     int64  `json:"savingsId"`
	ResourceID    int64  `json:"resourceId"`
	SubResourceID int64  `json:"subResourceId"`
	TransactionID string `json:"transactionId"`
}

// Event is "ENTITY/ACTION", e.g. "LOAN/REPAYMENT".
func (h *Hook) Event() string { return h.Entity + "/" + h.Action }

// hookBody is what SynchronousCommandProcessingService.publishHookEvent
// serializes (Fineract 1.5 and later): who ran the command, the request
// as sent, and the result.
type hookBody struct {
	EntityName string          `json:"entityName"`
	ActionName string          `json:"actionName"`
	OfficeID   *int64          `json:"officeId"`
	ClientID   int64           `json:"clientId"`
	Status     string          `json:"status"`
	Response   json.RawMessage `json:"response"`
	Timestamp  string          `json:"timestamp"`
}

// ParseHook reads a Web hook request's headers and JSON body. Bodies from
// Fineract before 1.5, which were the bare CommandProcessingResult, are
// read too.
func ParseHook(entity, action, tenant, endpoint string, body []byte) (*Hook, error) {
	h := &Hook{Entity: strings.ToUpper(strings.TrimSpace(entity)), Action: strings.ToUpper(strings.TrimSpace(action)),
		Tenant: tenant, Endpoint: endpoint}
	if h.Entity == "" || h.Action == "" {
		return nil, fmt.Errorf("no %s or %s header: not a Fineract Web hook", HeaderEntity, HeaderAction)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var b hookBody
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("body: not a JSON object: %w", err)
	}
	raw := json.RawMessage(body)
	if len(b.Response) > 0 && !bytes.Equal(b.Response, []byte("null")) {
		raw = b.Response
		h.Failed = b.Status == "Exception"
	}
	if h.Failed {
		return h, nil // the response is Fineract's error, not a result
	}
	if err := json.Unmarshal(raw, &h.Result); err != nil {
		return nil, fmt.Errorf("body: the command's result: %w", err)
	}
	if b.OfficeID != nil {
		h.OfficeID = *b.OfficeID
	} else {
		var old struct {
			OfficeID int64 `json:"officeId"`
		}
		_ = json.Unmarshal(raw, &old)
		h.OfficeID = old.OfficeID
	}
	if h.Result.ClientID == 0 {
		h.Result.ClientID = b.ClientID
	}
	return h, h.check()
}

// check says what a known event lacks to be acted on.
func (h *Hook) check() error {
	r := h.Result
	need := func(what string, v int64) error {
		if v <= 0 {
			return fmt.Errorf("%s without %s in the result", h.Event(), what)
		}
		return nil
	}
	switch h.Event() {
	case EventLoanRepayment:
		return errors.Join(need("loanId", r.LoanID), need("resourceId (the transaction)", r.ResourceID))
	case EventLoanDisburse:
		return need("loanId", h.loanID())
	case EventSavingsDeposit:
		return errors.Join(need("savingsId", r.SavingsID), need("resourceId (the transaction)", r.ResourceID))
	case EventClientCreate:
		return need("clientId", h.clientID())
	}
	return nil
}

func (h *Hook) loanID() int64 {
	if h.Result.LoanID != 0 {
		return h.Result.LoanID
	}
	return h.Result.ResourceID
}

func (h *Hook) clientID() int64 {
	if h.Result.ClientID != 0 {
		return h.Result.ClientID
	}
	if h.Event() == EventClientCreate {
		return h.Result.ResourceID
	}
	return 0
}

// Key names the event for good: the account and the transaction it made,
// which Fineract never reuses, so a hook posted twice (two hooks on one
// event, OkHttp resending on a dropped connection, a replay) has one key.
// It starts the client_ref of every message the event sends.
func (h *Hook) Key() string {
	r := h.Result
	id := strconv.FormatInt
	switch h.Event() {
	case EventLoanRepayment:
		return "loan-repayment:" + id(r.LoanID, 10) + ":" + id(r.ResourceID, 10)
	case EventLoanDisburse:
		// subResourceId is the disbursement transaction (one per tranche);
		// a disbursal to savings has none, and a loan is disbursed once.
		return "loan-disburse:" + id(h.loanID(), 10) + ":" + id(r.SubResourceID, 10)
	case EventSavingsDeposit:
		return "savings-deposit:" + id(r.SavingsID, 10) + ":" + id(r.ResourceID, 10)
	case EventClientCreate:
		return "client-create:" + id(h.clientID(), 10)
	}
	return strings.ToLower(h.Entity+"-"+h.Action) + ":" + id(r.ResourceID, 10) + ":" + id(r.SubResourceID, 10) + ":" + id(r.CommandID, 10)
}
