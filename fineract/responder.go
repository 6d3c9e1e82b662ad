package fineract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/openmf/smsgw/internal/mask"
	"github.com/openmf/smsgw/smstext"
)

// Fineract is what the Responder needs from Fineract; *Client is the real
// one, tests may put a fake in front.
type Fineract interface {
	Search(ctx context.Context, query string, exact bool) ([]SearchResult, error)
	Client(ctx context.Context, id int64) (*ClientData, error)
	Accounts(ctx context.Context, clientID int64) (*ClientAccounts, error)
	Savings(ctx context.Context, id int64) (*SavingsAccount, error)
	Loan(ctx context.Context, id int64) (*Loan, error)
}

var _ Fineract = (*Client)(nil)

// Responder turns a keyword and the sender's number into the text of the
// answer. It holds no state between requests, so handling the same message
// twice gives the same answer (if Fineract has not changed meanwhile).
type Responder struct {
	fineract Fineract
	texts    *Texts
	region   string
	maxParts int
	metrics  *Metrics
	log      *slog.Logger
}

// ResponderOptions configures a Responder.
type ResponderOptions struct {
	Fineract Fineract
	Texts    *Texts
	// Region (ISO 3166, e.g. "KE") reads numbers stored in national form.
	Region string
	// MaxParts bounds an answer listing several accounts; accounts that
	// do not fit are counted in .More. Default 3.
	MaxParts int
	Metrics  *Metrics
	Log      *slog.Logger
}

// maxAccounts bounds the accounts read for one answer: more would not fit
// in an SMS anyway and would cost one Fineract request each.
const maxAccounts = 6

// NewResponder checks opts.
func NewResponder(opts ResponderOptions) (*Responder, error) {
	if opts.Fineract == nil || opts.Texts == nil {
		return nil, errors.New("fineract: responder needs a Fineract client and texts")
	}
	if phonenumbers.GetCountryCodeForRegion(opts.Region) == 0 {
		return nil, fmt.Errorf("fineract: region %q is not an ISO 3166 region with a calling code", opts.Region)
	}
	if opts.MaxParts <= 0 {
		opts.MaxParts = 3
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Responder{fineract: opts.Fineract, texts: opts.Texts, region: opts.Region, maxParts: opts.MaxParts, metrics: opts.Metrics, log: opts.Log}, nil
}

// Outcomes of an answer, as reported in metrics and logs.
const (
	OutcomeAnswered    = "answered"
	OutcomeNoAccount   = "no_account"
	OutcomeRefused     = "refused"
	OutcomeUnavailable = "unavailable"
)

// Answer is the reply to keyword kw from the E.164 number from, and what
// kind of answer it is. It always has a text: Fineract trouble becomes the
// "unavailable" wording, never an error, except when ctx was canceled
// (shutdown), in which case the message must be handled again later.
func (r *Responder) Answer(ctx context.Context, kw Keyword, from string) (text, outcome string, err error) {
	text, outcome, err = r.answer(ctx, kw, from)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return "", "", err
		}
		r.log.Error("fineract lookup failed; answering try-again-later", "keyword", kw, "from", mask.Number(from), "err", err)
		text, err = r.texts.Render(TmplUnavailable, nil)
		if err != nil {
			return "", "", err
		}
		outcome = OutcomeUnavailable
	}
	r.metrics.reply(kw, outcome)
	return text, outcome, nil
}

func (r *Responder) answer(ctx context.Context, kw Keyword, from string) (string, string, error) {
	cl, err := r.FindClient(ctx, from)
	if errors.Is(err, errNoMatch) {
		t, err := r.texts.Render(TmplRefused, nil)
		return t, OutcomeRefused, err
	}
	if err != nil {
		return "", "", err
	}
	info := ClientInfo{Name: cl.Firstname}
	if info.Name == "" {
		info.Name = cl.DisplayName
	}
	accts, err := r.fineract.Accounts(ctx, cl.ID)
	if err != nil {
		return "", "", err
	}
	switch kw {
	case KeywordBalance:
		return r.balance(ctx, info, accts.SavingsAccounts)
	case KeywordDue:
		return r.due(ctx, info, accts.LoanAccounts)
	}
	return "", "", fmt.Errorf("fineract: unknown keyword %q", kw)
}

func active(in []AccountSummary) []AccountSummary {
	var out []AccountSummary
	for _, a := range in {
		if a.Status.Active {
			out = append(out, a)
		}
	}
	return out
}

// savingsDeposits drops the fixed and recurring deposits that Fineract
// lists among a client's savingsAccounts[].
func savingsDeposits(in []AccountSummary) []AccountSummary {
	var out []AccountSummary
	for _, a := range in {
		if a.isSavingsDeposit() {
			out = append(out, a)
		}
	}
	return out
}

func (r *Responder) balance(ctx context.Context, info ClientInfo, savings []AccountSummary) (string, string, error) {
	savings = active(savingsDeposits(savings))
	if len(savings) == 0 {
		t, err := r.texts.Render(TmplNoSavings, info)
		return t, OutcomeNoAccount, err
	}
	var lines []SavingsLine
	for _, a := range savings[:min(len(savings), maxAccounts)] {
		s, err := r.fineract.Savings(ctx, a.ID)
		if err != nil {
			return "", "", err
		}
		product := s.SavingsProductName
		if product == "" {
			product = a.ProductName
		}
		lines = append(lines, SavingsLine{Product: product, Number: last4(s.AccountNo), AccountNo: s.AccountNo, Balance: r.texts.Money(s.Summary.AccountBalance, s.Currency)})
	}
	extra := len(savings) - len(lines)
	t, err := r.fit(len(lines), func(n int) (string, error) {
		return r.texts.Render(TmplBalance, BalanceData{ClientInfo: info, Accounts: lines[:n], More: len(lines) - n + extra})
	})
	return t, OutcomeAnswered, err
}

func (r *Responder) due(ctx context.Context, info ClientInfo, loans []AccountSummary) (string, string, error) {
	loans = active(loans)
	if len(loans) == 0 {
		t, err := r.texts.Render(TmplNoLoan, info)
		return t, OutcomeNoAccount, err
	}
	var lines []LoanLine
	for _, a := range loans[:min(len(loans), maxAccounts)] {
		l, err := r.fineract.Loan(ctx, a.ID)
		if err != nil {
			return "", "", err
		}
		product := l.LoanProductName
		if product == "" {
			product = a.ProductName
		}
		line := LoanLine{Product: product, Number: last4(l.AccountNo), AccountNo: l.AccountNo, Paid: true}
		if p, ok := l.NextUnpaid(); ok {
			line.Paid = false
			line.DueDate = r.texts.Date(p.DueDate)
			line.Amount = r.texts.Money(p.TotalOutstandingForPeriod, l.Currency)
		}
		if l.Summary.TotalOverdue.Sign() > 0 {
			line.HasOverdue = true
			line.Overdue = r.texts.Money(l.Summary.TotalOverdue, l.Currency)
		}
		lines = append(lines, line)
	}
	extra := len(loans) - len(lines)
	t, err := r.fit(len(lines), func(n int) (string, error) {
		return r.texts.Render(TmplDue, DueData{ClientInfo: info, Loans: lines[:n], More: len(lines) - n + extra})
	})
	return t, OutcomeAnswered, err
}

// fit renders with as many of n accounts as keep the text within maxParts
// SMS parts (at least one account, however long).
func (r *Responder) fit(n int, render func(n int) (string, error)) (string, error) {
	for k := n; ; k-- {
		t, err := render(k)
		if err != nil {
			return "", err
		}
		if k == 1 {
			return t, nil
		}
		if _, parts, err := smstext.Count[smstext.Encoding](t); err == nil && parts <= r.maxParts {
			return t, nil
		}
	}
}

func last4(accountNo string) string {
	if len(accountNo) <= 4 {
		return accountNo
	}
	return accountNo[len(accountNo)-4:]
}

// errNoMatch: no client, or more than one, has this number. The two cases
// get the same answer, so nothing tells a stranger which it was.
var errNoMatch = errors.New("fineract: no single client has this number")

// searchLimit is the most results Fineract's search returns (its SQL
// ends in "limit 50"): a search that returns this many may have left out
// the client sought.
const searchLimit = 50

// FindClient finds the one active client whose stored mobile number is the
// E.164 number from, however Fineract holds it.
//
// Fineract never normalizes mobileNo: it is free text, as typed ("0712 345
// 678", "+254-712-345-678", "(0712) 345-678", "00254712345678"). Its search
// compares a query with the mobile number, account number, display name
// and external id, either for equality (exactMatch=true) or as SQL LIKE
// '%query%' (exactMatch=false), with '%' and '_' in the query acting as
// wildcards because Fineract does not escape them. So FindClient searches
// once with exactMatch=false for the national significant number with '%'
// between every two digits ("7%1%2%3%4%5%6%7%8" for +254712345678), which
// every formatting of the number matches.
//
// That search also finds longer numbers holding those digits, other
// countries' numbers and account numbers, so a result counts only when its
// stored number (entityMobileNo, or when the result has none the client's
// mobileNo) normalizes to the same E.164 number; the client, read with GET
// /v1/clients/{id}, must then be active and still have that number.
//
// Fineract returns at most 50 results. When the LIKE search returns 50 the
// client may have been cut off, so the exact forms (E.164, national, and
// the international digits without '+') are searched too and the results
// merged; a client stored formatted and cut off is still missed, and a
// warning says the limit was reached.
//
// More than one matching client is refused like none (errNoMatch): the
// answer must go to the one person the number belongs to.
func (r *Responder) FindClient(ctx context.Context, from string) (*ClientData, error) {
	num, err := phonenumbers.Parse(from, r.region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return nil, errNoMatch
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	hits, err := r.fineract.Search(ctx, likeDigits(phonenumbers.GetNationalSignificantNumber(num)), false)
	if err != nil {
		return nil, err
	}
	if len(hits) >= searchLimit {
		r.log.Warn("Fineract's search returned its maximum of results for a mobile number; searching the exact forms too (a client stored formatted may be missed)",
			"from", mask.Number(e164), "results", len(hits))
		for _, q := range exactForms(num) {
			more, err := r.fineract.Search(ctx, q, true)
			if err != nil {
				return nil, err
			}
			hits = append(hits, more...)
		}
	}
	seen := map[int64]bool{}
	var match []*ClientData
	for _, h := range hits {
		if seen[h.EntityID] || (h.EntityType != "" && !strings.EqualFold(h.EntityType, "client")) {
			continue
		}
		seen[h.EntityID] = true
		if h.EntityMobileNo != "" && !r.sameNumber(h.EntityMobileNo, e164) {
			continue // a longer number, another country's, or the digits matched another field
		}
		c, err := r.fineract.Client(ctx, h.EntityID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !c.Active {
			continue // a closed client's number may now be someone else's
		}
		if r.sameNumber(c.MobileNo, e164) {
			match = append(match, c)
		}
	}
	if len(match) != 1 {
		if len(match) > 1 {
			r.log.Warn("several Fineract clients have the same mobile number; refusing", "from", mask.Number(e164), "clients", len(match))
		}
		return nil, errNoMatch
	}
	return match[0], nil
}

// likeDigits is a LIKE pattern matching digits with anything between them:
// "712" → "7%1%2". Fineract adds the '%' at both ends.
func likeDigits(digits string) string {
	return strings.Join(strings.Split(digits, ""), "%")
}

// exactForms are the ways Fineract most often holds a number unformatted:
// "+254712345678", "0712345678", "254712345678".
func exactForms(num *phonenumbers.PhoneNumber) []string {
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	forms := []string{e164}
	if national := digits(phonenumbers.Format(num, phonenumbers.NATIONAL)); national != "" && national != e164[1:] {
		forms = append(forms, national)
	}
	return append(forms, e164[1:])
}

// sameNumber reports whether a stored mobile number is the E.164 number
// e164.
func (r *Responder) sameNumber(stored, e164 string) bool {
	n, err := r.normalize(stored)
	return err == nil && n == e164
}

// normalize reads a stored mobile number as E.164: international with '+'
// or "00", national ("0712…"), or the international digits alone
// ("254712…"), with any spaces, dashes, parentheses or dots.
func (r *Responder) normalize(stored string) (string, error) {
	s := strings.TrimSpace(stored)
	if d := digits(s); !strings.HasPrefix(s, "+") && strings.HasPrefix(d, "00") {
		s = "+" + d[2:]
	}
	num, err := phonenumbers.Parse(s, r.region)
	if err != nil {
		return "", err
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", errors.New("not a valid number")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
