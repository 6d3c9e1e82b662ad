package fineract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/openmf/smsgw/smpp"
)

// Fineract is what the Responder needs from Fineract; *Client is the real
// one, tests may put a fake in front.
type Fineract interface {
	Search(ctx context.Context, q string) ([]SearchResult, error)
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
		r.log.Error("fineract lookup failed; answering try-again-later", "keyword", kw, "from", MaskNumber(from), "err", err)
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

func (r *Responder) balance(ctx context.Context, info ClientInfo, savings []AccountSummary) (string, string, error) {
	savings = active(savings)
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
		if _, parts, err := smpp.Count(t); err == nil && parts <= r.maxParts {
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

// FindClient finds the one active client whose stored mobile number is the
// E.164 number from, written any way Fineract may hold it. Fineract stores
// numbers as typed, so the search runs for the international form, the
// national form and the international digits without '+', and a hit counts
// only when the client's mobileNo normalizes to the same number (the search
// also matches account numbers, external ids and names).
func (r *Responder) FindClient(ctx context.Context, from string) (*ClientData, error) {
	e164, forms, err := r.numberForms(from)
	if err != nil {
		return nil, errNoMatch
	}
	seen := map[int64]bool{}
	var match []*ClientData
	for _, q := range forms {
		hits, err := r.fineract.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			if seen[h.EntityID] || (h.EntityType != "" && !strings.EqualFold(h.EntityType, "client")) {
				continue
			}
			seen[h.EntityID] = true
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
			if n, err := r.normalize(c.MobileNo); err == nil && n == e164 {
				match = append(match, c)
			}
		}
	}
	if len(match) != 1 {
		if len(match) > 1 {
			r.log.Warn("several Fineract clients have the same mobile number; refusing", "from", MaskNumber(e164), "clients", len(match))
		}
		return nil, errNoMatch
	}
	return match[0], nil
}

// numberForms are the ways Fineract may hold a number: "+254712345678",
// "0712345678", "254712345678".
func (r *Responder) numberForms(from string) (string, []string, error) {
	num, err := phonenumbers.Parse(from, r.region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", nil, fmt.Errorf("fineract: %s is not a valid number", MaskNumber(from))
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	forms := []string{e164}
	national := digits(phonenumbers.Format(num, phonenumbers.NATIONAL))
	if national != "" && national != e164[1:] {
		forms = append(forms, national)
	}
	forms = append(forms, e164[1:])
	return e164, forms, nil
}

// normalize reads a stored mobile number ("0712 345 678", "+254-712…",
// "00254…") as E.164.
func (r *Responder) normalize(stored string) (string, error) {
	s := strings.TrimSpace(stored)
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
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

// MaskNumber hides a phone number for logs, keeping the country and network
// and the last 3 digits: "+254712345678" → "+2547*****678".
func MaskNumber(n string) string {
	switch l := len(n); {
	case l <= 4:
		return strings.Repeat("*", l)
	case l < 9:
		return strings.Repeat("*", l-3) + n[l-3:]
	default:
		return n[:5] + strings.Repeat("*", l-8) + n[l-3:]
	}
}
