package fineract_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/smstext"
)

// amount reads s as Fineract sends an amount: a JSON number.
func amount(tb testing.TB, s string) fineract.Amount {
	tb.Helper()
	var a fineract.Amount
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestMoneyFormat(t *testing.T) {
	kes := fineract.Currency{Code: "KES", DecimalPlaces: 2, DisplaySymbol: "KSh"}
	eur := fineract.Currency{Code: "EUR", DecimalPlaces: 2, DisplaySymbol: "€"}
	ugx := fineract.Currency{Code: "UGX", DecimalPlaces: 0, DisplaySymbol: "USh"}
	en := fineract.MoneyFormat{Decimal: ".", Group: ",", Pattern: "{code} {amount}"}
	eu := fineract.MoneyFormat{Decimal: ",", Group: ".", Pattern: "{amount} {symbol}"}
	for _, tt := range []struct {
		f    fineract.MoneyFormat
		amt  string
		c    fineract.Currency
		want string
	}{
		{en, "1234.5", kes, "KES 1,234.50"},
		{eu, "1234.5", eur, "1.234,50 €"},
		{en, "0", kes, "KES 0.00"},
		{en, "999.995", kes, "KES 1,000.00"},
		{en, "1234567.891", kes, "KES 1,234,567.89"},
		{en, "-42.1", kes, "KES -42.10"},
		{en, "-0.001", kes, "KES 0.00"},
		{en, "150000.4", ugx, "UGX 150,000"},
		{fineract.MoneyFormat{Decimal: ".", Group: ",", Pattern: "{symbol} {amount}", Symbols: map[string]string{"KES": "Ksh"}}, "12", kes, "Ksh 12.00"},
	} {
		a := amount(t, tt.amt)
		if got := tt.f.Format(a, tt.c); got != tt.want {
			t.Errorf("Format(%s %s) = %q, want %q", tt.amt, tt.c.Code, got, tt.want)
		}
	}
}

func TestKeywords(t *testing.T) {
	k, err := fineract.NewKeywords([]string{"saldo"}, []string{"Deni"})
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]fineract.Keyword{
		"BAL": fineract.KeywordBalance, "bal": fineract.KeywordBalance, " Bal. please": fineract.KeywordBalance,
		"SALDO": fineract.KeywordBalance, "due?": fineract.KeywordDue, "deni": fineract.KeywordDue,
		"balance": "", "": "", "STOP": "", "hello BAL": "",
	} {
		got, ok := k.Match(text)
		if got != want || ok != (want != "") {
			t.Errorf("Match(%q) = %q, %v; want %q", text, got, ok, want)
		}
	}
	if _, err := fineract.NewKeywords([]string{"X"}, []string{"x"}); err == nil || err.Error() != `keyword "x" means both balance and due` {
		t.Errorf("a word meaning both: %v", err)
	}
	if _, err := fineract.NewKeywords([]string{"two words"}, nil); err == nil {
		t.Error("two words accepted as a keyword")
	}
}

func TestTexts(t *testing.T) {
	fr, err := fineract.NewTexts(fineract.TextConfig{Language: "fr", Money: fineract.MoneyFormat{Pattern: "{amount} {code}"}})
	if err != nil {
		t.Fatal(err)
	}
	a := amount(t, "1234.5")
	got, err := fr.Render(fineract.TmplDue, fineract.DueData{
		ClientInfo: fineract.ClientInfo{Name: "Awa"},
		Loans:      []fineract.LoanLine{{Product: "Crédit AGR", Number: "0042", Amount: fr.Money(a, fineract.Currency{Code: "XOF"}), DueDate: fr.Date(fineract.LocalDate{Year: 2025, Month: 3, Day: 10})}},
	})
	if want := "Awa, Crédit AGR *0042 : 1.235 XOF à payer le 10/03/2025."; err != nil || got != want {
		t.Errorf("fr due = %q, %v; want %q", got, err, want)
	}

	custom, err := fineract.NewTexts(fineract.TextConfig{Templates: map[string]string{
		fineract.TmplNoLoan: "Hi {{.Name}}: no loan.",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := custom.Render(fineract.TmplNoLoan, fineract.ClientInfo{Name: "Jane"}); got != "Hi Jane: no loan." {
		t.Errorf("custom no_loan = %q", got)
	}

	for _, tt := range []struct {
		cfg  fineract.TextConfig
		want string
	}{
		{fineract.TextConfig{Language: "de"}, `language "de" has no built-in texts (have en, fr)`},
		{fineract.TextConfig{Templates: map[string]string{"balanse": "x"}}, "templates.balanse: unknown template (have balance, due, no_savings, no_loan, refused, unavailable, repayment_receipt, disbursal_receipt, deposit_receipt, welcome, staff_alert, digest)"},
		{fineract.TextConfig{Templates: map[string]string{"refused": "Sorry {{.Name}}"}}, "templates.refused: template: refused:1:8: executing \"refused\" at <.Name>: nil data; no entry for key \"Name\""},
		{fineract.TextConfig{Templates: map[string]string{"due": "{{range .Loans}}"}}, "templates.due: template: due:1: unexpected EOF"},
		{fineract.TextConfig{Money: fineract.MoneyFormat{Pattern: "{code}"}}, `money.pattern "{code}": has no {amount}`},
	} {
		if _, err := fineract.NewTexts(tt.cfg); err == nil || err.Error() != tt.want {
			t.Errorf("NewTexts(%+v) = %v\nwant %s", tt.cfg, err, tt.want)
		}
	}
}

// manyAccounts is a Fineract with one client who holds n savings accounts
// with long product names.
type manyAccounts struct{ n int }

func (f manyAccounts) Search(context.Context, string, bool) ([]fineract.SearchResult, error) {
	return []fineract.SearchResult{{EntityID: 1, EntityType: "CLIENT"}}, nil
}

func (f manyAccounts) Client(context.Context, int64) (*fineract.ClientData, error) {
	return &fineract.ClientData{ID: 1, Active: true, Firstname: "Jane", MobileNo: "0712345678"}, nil
}

func (f manyAccounts) Accounts(context.Context, int64) (*fineract.ClientAccounts, error) {
	var a fineract.ClientAccounts
	for i := range f.n {
		a.SavingsAccounts = append(a.SavingsAccounts, fineract.AccountSummary{ID: int64(i + 1), Status: fineract.AccountStatus{Active: true}})
	}
	return &a, nil
}

func (f manyAccounts) Savings(_ context.Context, id int64) (*fineract.SavingsAccount, error) {
	s := &fineract.SavingsAccount{ID: id, AccountNo: fmt.Sprintf("%09d", id), SavingsProductName: "Women's Group Emergency and School Fees Savings Plan", Currency: fineract.Currency{Code: "KES", DecimalPlaces: 2}}
	if err := json.Unmarshal([]byte("123456.78"), &s.Summary.AccountBalance); err != nil {
		return nil, err
	}
	return s, nil
}

func (f manyAccounts) Loan(context.Context, int64) (*fineract.Loan, error) {
	return nil, fineract.ErrNotFound
}

// TestLongAnswersFit: many accounts are cut to what fits in the tenant's
// part limit, saying how many were left out.
func TestLongAnswersFit(t *testing.T) {
	r := newResponder(t, manyAccounts{n: 9}, nil)
	got, _, err := r.Answer(context.Background(), fineract.KeywordBalance, "+254712345678")
	if err != nil {
		t.Fatal(err)
	}
	_, parts, err := smstext.Count[smstext.Encoding](got)
	if err != nil || parts > 3 {
		t.Fatalf("answer takes %d parts (%v): %q", parts, err, got)
	}
	shown := strings.Count(got, "KES 123,456.78")
	if shown < 2 || !strings.HasSuffix(got, fmt.Sprintf("; %d more at your branch.", 9-shown)) {
		t.Fatalf("answer %q shows %d accounts", got, shown)
	}
}
