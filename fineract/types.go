package fineract

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// The types below follow the JSON Fineract's REST API returns (apache/fineract
// 1.x, default date format), keeping only the fields the adapter reads; the
// fixtures in testdata/ are complete responses.

// SearchResult is one item of GET /v1/search: an entity whose account
// number, external id, name or mobile number matched the query.
type SearchResult struct {
	EntityID       int64  `json:"entityId"`
	EntityAccount  string `json:"entityAccountNo"`
	EntityName     string `json:"entityName"`
	EntityType     string `json:"entityType"`
	EntityMobileNo string `json:"entityMobileNo"`
}

// EnumOption is Fineract's {id, code, value} enumeration.
type EnumOption struct {
	ID    int64  `json:"id"`
	Code  string `json:"code"`
	Value string `json:"value"`
}

// ClientData is GET /v1/clients/{id}; mobileNo is free text, as typed.
type ClientData struct {
	ID          int64      `json:"id"`
	AccountNo   string     `json:"accountNo"`
	Status      EnumOption `json:"status"`
	Active      bool       `json:"active"`
	Firstname   string     `json:"firstname"`
	DisplayName string     `json:"displayName"`
	MobileNo    string     `json:"mobileNo"`
	OfficeID    int64      `json:"officeId"`
	// StaffID is the client's loan officer (0: none assigned).
	StaffID int64 `json:"staffId"`
}

// AccountStatus is the status object of a loan or savings account; only
// active accounts are reported to clients.
type AccountStatus struct {
	ID     int64  `json:"id"`
	Code   string `json:"code"`
	Value  string `json:"value"`
	Active bool   `json:"active"`
}

// Currency is Fineract's currency object; decimalPlaces decides how amounts
// are printed (KES 2, UGX 0).
type Currency struct {
	Code          string `json:"code"`
	Name          string `json:"name"`
	DecimalPlaces int    `json:"decimalPlaces"`
	DisplaySymbol string `json:"displaySymbol"`
}

// AccountSummary is one entry of loanAccounts[] or savingsAccounts[] in GET
// /v1/clients/{id}/accounts.
type AccountSummary struct {
	ID               int64         `json:"id"`
	AccountNo        string        `json:"accountNo"`
	ProductName      string        `json:"productName"`
	ShortProductName string        `json:"shortProductName"`
	Status           AccountStatus `json:"status"`
	Currency         Currency      `json:"currency"`
	// DepositType tells savings from fixed and recurring deposits, which
	// savingsAccounts[] lists too; nil on loans and from Fineract versions
	// that do not send it.
	DepositType *EnumOption `json:"depositType"`
}

// depositTypeSavings is depositType.id of a plain savings account
// (depositAccountType.savingsDeposit); 200 is a fixed deposit, 300 a
// recurring deposit.
const depositTypeSavings = 100

// isSavingsDeposit reports a plain savings account, the only kind BAL
// reports: a fixed or recurring deposit's balance is locked until
// maturity, and GET /v1/savingsaccounts/{id} does not read it. An entry
// without depositType (older Fineract) counts as savings.
func (a AccountSummary) isSavingsDeposit() bool {
	return a.DepositType == nil || a.DepositType.ID == depositTypeSavings
}

// ClientAccounts is GET /v1/clients/{id}/accounts.
type ClientAccounts struct {
	LoanAccounts    []AccountSummary `json:"loanAccounts"`
	SavingsAccounts []AccountSummary `json:"savingsAccounts"`
}

// SavingsAccount is GET /v1/savingsaccounts/{id}.
type SavingsAccount struct {
	ID                 int64         `json:"id"`
	AccountNo          string        `json:"accountNo"`
	ClientID           int64         `json:"clientId"`
	ClientName         string        `json:"clientName"`
	SavingsProductID   int64         `json:"savingsProductId"`
	SavingsProductName string        `json:"savingsProductName"`
	FieldOfficerID     int64         `json:"fieldOfficerId"` // 0: none assigned
	Status             AccountStatus `json:"status"`
	Currency           Currency      `json:"currency"`
	Summary            struct {
		AccountBalance Amount `json:"accountBalance"`
	} `json:"summary"`
}

// Loan is GET /v1/loans/{id}?associations=repaymentSchedule.
type Loan struct {
	ID              int64         `json:"id"`
	AccountNo       string        `json:"accountNo"`
	ClientID        int64         `json:"clientId"`
	ClientName      string        `json:"clientName"`
	ClientOfficeID  int64         `json:"clientOfficeId"`
	LoanProductID   int64         `json:"loanProductId"`
	LoanProductName string        `json:"loanProductName"`
	LoanOfficerID   int64         `json:"loanOfficerId"` // 0: none assigned
	LoanOfficerName string        `json:"loanOfficerName"`
	Principal       Amount        `json:"principal"`
	Status          AccountStatus `json:"status"`
	Currency        Currency      `json:"currency"`
	Summary         struct {
		TotalOutstanding Amount `json:"totalOutstanding"`
		TotalOverdue     Amount `json:"totalOverdue"`
	} `json:"summary"`
	RepaymentSchedule struct {
		Periods []Period `json:"periods"`
	} `json:"repaymentSchedule"`
}

// LoanPage is one page of GET /v1/loans: every loan the API user's office
// sees, without schedules.
type LoanPage struct {
	TotalFilteredRecords int    `json:"totalFilteredRecords"`
	PageItems            []Loan `json:"pageItems"`
}

// Transaction is GET /v1/loans/{id}/transactions/{tx} or
// /v1/savingsaccounts/{id}/transactions/{tx}: the two share the fields the
// adapter reads except the balance after it (outstandingLoanBalance on a
// loan, runningBalance on savings).
type Transaction struct {
	ID                     int64      `json:"id"`
	Type                   EnumOption `json:"type"`            // loans
	TransactionType        EnumOption `json:"transactionType"` // savings
	Date                   LocalDate  `json:"date"`
	Currency               Currency   `json:"currency"`
	Amount                 Amount     `json:"amount"`
	OutstandingLoanBalance Amount     `json:"outstandingLoanBalance"`
	RunningBalance         Amount     `json:"runningBalance"`
	ManuallyReversed       bool       `json:"manuallyReversed"` // loans
	Reversed               bool       `json:"reversed"`         // savings
}

// Office is one entry of GET /v1/offices.
type Office struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// StaffCenters is one entry of GET /v1/centers?meetingDate=: a loan
// officer and the centers of theirs that meet that day.
type StaffCenters struct {
	StaffID            int64  `json:"staffId"`
	StaffName          string `json:"staffName"`
	MeetingFallCenters []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"meetingFallCenters"`
}

// Staff is GET /v1/staff/{id}: a loan officer's or other employee's
// mobile number, as typed.
type Staff struct {
	ID          int64  `json:"id"`
	Firstname   string `json:"firstname"`
	DisplayName string `json:"displayName"`
	MobileNo    string `json:"mobileNo"`
	OfficeID    int64  `json:"officeId"`
	IsActive    bool   `json:"isActive"`
}

// Period is one line of a repayment schedule. Period 0 (no "period" field)
// is the disbursement.
type Period struct {
	Period                    int       `json:"period"`
	DueDate                   LocalDate `json:"dueDate"`
	Complete                  bool      `json:"complete"`
	TotalDueForPeriod         Amount    `json:"totalDueForPeriod"`
	TotalOutstandingForPeriod Amount    `json:"totalOutstandingForPeriod"`
}

// NextUnpaid is the first installment not fully paid, overdue or not, and
// false when every installment is paid.
func (l *Loan) NextUnpaid() (Period, bool) {
	for _, p := range l.RepaymentSchedule.Periods {
		if p.Period > 0 && !p.Complete {
			return p, true
		}
	}
	return Period{}, false
}

// Amount is a decimal as Fineract writes it (a JSON number), kept exact:
// balances are money and must not pass through float64.
type Amount struct {
	r *big.Rat
}

// UnmarshalJSON reads a JSON number (or null, which is zero).
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		a.r = nil
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("fineract: amount %s: %w", s, err)
	}
	r, ok := new(big.Rat).SetString(n.String())
	if !ok {
		return fmt.Errorf("fineract: amount %s is not a number", s)
	}
	a.r = r
	return nil
}

// Sign is -1, 0 or +1.
func (a Amount) Sign() int {
	if a.r == nil {
		return 0
	}
	return a.r.Sign()
}

// cmp compares the amount with r (a missing amount is zero).
func (a Amount) cmp(r *big.Rat) int {
	if a.r == nil {
		return new(big.Rat).Cmp(r)
	}
	return a.r.Cmp(r)
}

// Fixed is the amount rounded to places decimals ("1234.50"), half away
// from zero as Fineract rounds by default.
func (a Amount) Fixed(places int) string {
	if a.r == nil {
		return new(big.Rat).FloatString(places)
	}
	return a.r.FloatString(places)
}

// LocalDate is a date without time zone. Fineract writes dates as
// [yyyy, mm, dd] arrays by default and as "yyyy-MM-dd" strings when asked.
type LocalDate struct {
	Year  int
	Month time.Month
	Day   int
}

// UnmarshalJSON reads [2025, 3, 10], "2025-03-10" or null.
func (d *LocalDate) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch {
	case s == "null":
		*d = LocalDate{}
		return nil
	case strings.HasPrefix(s, "["):
		var parts []int
		if err := json.Unmarshal(b, &parts); err != nil || len(parts) != 3 {
			return fmt.Errorf("fineract: date %s is not [yyyy, mm, dd]", s)
		}
		*d = LocalDate{Year: parts[0], Month: time.Month(parts[1]), Day: parts[2]}
		return nil
	default:
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("fineract: date %s: %w", s, err)
		}
		t, err := time.Parse(time.DateOnly, str)
		if err != nil {
			return fmt.Errorf("fineract: date %s: %w", s, err)
		}
		*d = LocalDate{Year: t.Year(), Month: t.Month(), Day: t.Day()}
		return nil
	}
}

// IsZero reports a missing date.
func (d LocalDate) IsZero() bool { return d.Year == 0 }

// Time is the date at midnight UTC, for formatting with a Go layout.
func (d LocalDate) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }
