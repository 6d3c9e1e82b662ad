package fineract

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/template"
	"unicode"
)

// Keyword is what a client asked for, whatever word they typed.
type Keyword string

// The keywords the adapter answers.
const (
	KeywordBalance Keyword = "balance" // BAL: savings balances
	KeywordDue     Keyword = "due"     // DUE: the next loan installment
)

// Keywords maps first words (upper case) to what they ask for. The gateway's
// keyword router may have matched the message already, but the adapter
// matches again itself, so it works behind any router configuration.
type Keywords struct {
	words map[string]Keyword
}

// NewKeywords knows BAL and DUE plus the given aliases (e.g. SALDO, DENI);
// a word may not mean both.
func NewKeywords(balance, due []string) (Keywords, error) {
	k := Keywords{words: map[string]Keyword{"BAL": KeywordBalance, "DUE": KeywordDue}}
	for _, set := range []struct {
		kw    Keyword
		words []string
	}{{KeywordBalance, balance}, {KeywordDue, due}} {
		for _, w := range set.words {
			u := strings.ToUpper(strings.TrimSpace(w))
			if u == "" || strings.IndexFunc(u, unicode.IsSpace) >= 0 {
				return Keywords{}, fmt.Errorf("keyword %q: want one word", w)
			}
			if had, ok := k.words[u]; ok && had != set.kw {
				return Keywords{}, fmt.Errorf("keyword %q means both %s and %s", w, had, set.kw)
			}
			k.words[u] = set.kw
		}
	}
	return k, nil
}

// Match reads the first word of an SMS, ignoring case and punctuation
// around it ("bal", "Bal.", " DUE ?").
func (k Keywords) Match(text string) (Keyword, bool) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return "", false
	}
	w := strings.ToUpper(strings.TrimFunc(f[0], func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }))
	kw, ok := k.words[w]
	return kw, ok
}

// Words lists the known words, for logs and usage texts.
func (k Keywords) Words() []string {
	out := make([]string, 0, len(k.words))
	for w := range k.words {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

// The template names a tenant may override.
const (
	TmplBalance     = "balance"     // BalanceData
	TmplDue         = "due"         // DueData
	TmplNoSavings   = "no_savings"  // ClientInfo
	TmplNoLoan      = "no_loan"     // ClientInfo
	TmplRefused     = "refused"     // no data: must not depend on who asked
	TmplUnavailable = "unavailable" // no data
)

// The templates of messages Fineract's events and the daily digest send
// (EventData; DigestData for the digest). A rule names one, or gets the
// receipt of its event for the client and staff_alert for staff.
const (
	TmplRepaymentReceipt = "repayment_receipt"
	TmplDisbursalReceipt = "disbursal_receipt"
	TmplDepositReceipt   = "deposit_receipt"
	TmplWelcome          = "welcome"
	TmplStaffAlert       = "staff_alert"
	TmplDigest           = "digest"
)

var templateNames = []string{TmplBalance, TmplDue, TmplNoSavings, TmplNoLoan, TmplRefused, TmplUnavailable,
	TmplRepaymentReceipt, TmplDisbursalReceipt, TmplDepositReceipt, TmplWelcome, TmplStaffAlert, TmplDigest}

// EventData feeds the templates of event messages. Amounts and dates are
// formatted; fields an event does not have are empty.
type EventData struct {
	ClientInfo
	Event      string // "LOAN/REPAYMENT"
	What       string // the event in the tenant's language, "repayment"
	ClientName string // the client's display name, for staff
	Product    string
	Number     string // the last 4 characters of the account number
	AccountNo  string // the loan's or savings account's, or the client's for CLIENT/CREATE
	Amount     string
	Date       string
	// Balance is after the transaction: outstanding on a loan, the
	// running balance of savings.
	Balance     string
	Transaction int64 // Fineract's transaction id, the receipt's reference
	Officer     string
}

// DigestData feeds the "digest" template: one loan officer's day.
type DigestData struct {
	Officer     string // first name
	Date        string // the day the digest is for (today)
	Arrears     []DigestLine
	DueTomorrow []DigestLine
	// Meetings are the names of the officer's centers meeting tomorrow.
	Meetings []string
	More     int // lines left out to keep the SMS short
}

// DigestLine is one loan in a digest.
type DigestLine struct {
	Client    string
	Product   string
	Number    string
	AccountNo string
	Amount    string // overdue, or due tomorrow
}

// eventWords are the events in each language, EventData.What.
var eventWords = map[string]map[string]string{
	"en": {EventLoanRepayment: "repayment", EventLoanDisburse: "loan disbursed", EventSavingsDeposit: "deposit", EventClientCreate: "new client"},
	"fr": {EventLoanRepayment: "remboursement", EventLoanDisburse: "prêt décaissé", EventSavingsDeposit: "dépôt", EventClientCreate: "nouveau client"},
}

// ClientInfo is what every answer to a known client may use.
type ClientInfo struct {
	Name string // first name, or the display name
}

// BalanceData feeds the "balance" template.
type BalanceData struct {
	ClientInfo
	Accounts []SavingsLine
	More     int // accounts left out to keep the SMS short
}

// SavingsLine is one savings account, amounts already formatted.
type SavingsLine struct {
	Product   string
	Number    string // the last 4 characters of the account number
	AccountNo string
	Balance   string // e.g. "KES 1,234.50"
}

// DueData feeds the "due" template.
type DueData struct {
	ClientInfo
	Loans []LoanLine
	More  int // loans left out to keep the SMS short
}

// LoanLine is one active loan, amounts and dates already formatted.
type LoanLine struct {
	Product    string
	Number     string // the last 4 characters of the account number
	AccountNo  string
	Paid       bool   // no installment left unpaid
	DueDate    string // of the next unpaid installment
	Amount     string // still owed on that installment
	HasOverdue bool
	Overdue    string // the loan's total overdue
}

// defaultTexts are the built-in wordings per language; a tenant's templates
// replace them one by one. They stay within the GSM 03.38 alphabet so an
// answer costs as few parts as possible.
var defaultTexts = map[string]map[string]string{
	"en": {
		TmplBalance: `Dear {{.Name}}, savings balance: {{range $i, $a := .Accounts}}{{if $i}}; {{end}}{{$a.Product}} *{{$a.Number}}: {{$a.Balance}}{{end}}` +
			`{{if .More}}; {{.More}} more at your branch{{end}}.`,
		TmplDue: `Dear {{.Name}}, {{range $i, $l := .Loans}}{{if $i}}; {{end}}{{$l.Product}} *{{$l.Number}}: ` +
			`{{if $l.Paid}}no installment due{{else}}{{$l.Amount}} due {{$l.DueDate}}{{end}}{{if $l.HasOverdue}}, overdue {{$l.Overdue}}{{end}}{{end}}` +
			`{{if .More}}; {{.More}} more at your branch{{end}}.`,
		TmplNoSavings:   `Dear {{.Name}}, you have no active savings account.`,
		TmplNoLoan:      `Dear {{.Name}}, you have no active loan.`,
		TmplRefused:     `Sorry, we cannot give account information to this number. Please contact your branch.`,
		TmplUnavailable: `Sorry, we cannot reach your account right now. Please try again later.`,
		TmplRepaymentReceipt: `Dear {{.Name}}, we received your repayment of {{.Amount}} on {{.Date}} for {{.Product}} *{{.Number}}. ` +
			`Outstanding: {{.Balance}}. Ref {{.Transaction}}.`,
		TmplDisbursalReceipt: `Dear {{.Name}}, your loan {{.Product}} *{{.Number}} of {{.Amount}} was disbursed on {{.Date}}. Ref {{.Transaction}}.`,
		TmplDepositReceipt: `Dear {{.Name}}, we received your deposit of {{.Amount}} on {{.Date}} to {{.Product}} *{{.Number}}. ` +
			`Balance: {{.Balance}}. Ref {{.Transaction}}.`,
		TmplWelcome:    `Dear {{.Name}}, welcome! Your client number is {{.AccountNo}}. Text BAL for your savings balance, DUE for your next installment.`,
		TmplStaffAlert: `{{.What}}: {{.ClientName}}{{if .Product}}, {{.Product}} *{{.Number}}{{end}}{{if .Amount}}, {{.Amount}}{{end}}{{if .Date}} on {{.Date}}{{end}}.`,
		TmplDigest: `{{.Officer}}, {{.Date}}: {{len .Arrears}} in arrears{{range .Arrears}}; {{.Client}} *{{.Number}} {{.Amount}}{{end}}. ` +
			`Due tomorrow: {{len .DueTomorrow}}{{range .DueTomorrow}}; {{.Client}} *{{.Number}} {{.Amount}}{{end}}{{if .More}}; {{.More}} more{{end}}.` +
			`{{if .Meetings}} Meetings tomorrow: {{range $i, $m := .Meetings}}{{if $i}}, {{end}}{{$m}}{{end}}.{{end}}`,
	},
	"fr": {
		TmplBalance: `{{.Name}}, solde épargne : {{range $i, $a := .Accounts}}{{if $i}} ; {{end}}{{$a.Product}} *{{$a.Number}} : {{$a.Balance}}{{end}}` +
			`{{if .More}} ; {{.More}} autre(s) en agence{{end}}.`,
		TmplDue: `{{.Name}}, {{range $i, $l := .Loans}}{{if $i}} ; {{end}}{{$l.Product}} *{{$l.Number}} : ` +
			`{{if $l.Paid}}aucune échéance due{{else}}{{$l.Amount}} à payer le {{$l.DueDate}}{{end}}{{if $l.HasOverdue}}, en retard {{$l.Overdue}}{{end}}{{end}}` +
			`{{if .More}} ; {{.More}} autre(s) en agence{{end}}.`,
		TmplNoSavings:   `{{.Name}}, vous n'avez pas de compte d'épargne actif.`,
		TmplNoLoan:      `{{.Name}}, vous n'avez pas de prêt en cours.`,
		TmplRefused:     `Désolé, nous ne pouvons pas donner d'informations de compte à ce numéro. Contactez votre agence.`,
		TmplUnavailable: `Désolé, votre compte est momentanément inaccessible. Veuillez réessayer plus tard.`,
		TmplRepaymentReceipt: `{{.Name}}, nous avons reçu votre remboursement de {{.Amount}} le {{.Date}} pour {{.Product}} *{{.Number}}. ` +
			`Reste dû : {{.Balance}}. Réf {{.Transaction}}.`,
		TmplDisbursalReceipt: `{{.Name}}, votre prêt {{.Product}} *{{.Number}} de {{.Amount}} a été décaissé le {{.Date}}. Réf {{.Transaction}}.`,
		TmplDepositReceipt: `{{.Name}}, nous avons reçu votre dépôt de {{.Amount}} le {{.Date}} sur {{.Product}} *{{.Number}}. ` +
			`Solde : {{.Balance}}. Réf {{.Transaction}}.`,
		TmplWelcome:    `{{.Name}}, bienvenue ! Votre numéro de client est {{.AccountNo}}. Envoyez BAL pour votre solde, DUE pour votre prochaine échéance.`,
		TmplStaffAlert: `{{.What}} : {{.ClientName}}{{if .Product}}, {{.Product}} *{{.Number}}{{end}}{{if .Amount}}, {{.Amount}}{{end}}{{if .Date}} le {{.Date}}{{end}}.`,
		TmplDigest: `{{.Officer}}, {{.Date}} : {{len .Arrears}} en retard{{range .Arrears}} ; {{.Client}} *{{.Number}} {{.Amount}}{{end}}. ` +
			`Échéances demain : {{len .DueTomorrow}}{{range .DueTomorrow}} ; {{.Client}} *{{.Number}} {{.Amount}}{{end}}{{if .More}} ; {{.More}} autre(s){{end}}.` +
			`{{if .Meetings}} Réunions demain : {{range $i, $m := .Meetings}}{{if $i}}, {{end}}{{$m}}{{end}}.{{end}}`,
	},
}

// defaultFormats are each language's number and date conventions.
var defaultFormats = map[string]struct {
	money MoneyFormat
	date  string
}{
	"en": {MoneyFormat{Decimal: ".", Group: ",", Pattern: "{code} {amount}"}, "2 Jan 2006"},
	"fr": {MoneyFormat{Decimal: ",", Group: ".", Pattern: "{amount} {symbol}"}, "02/01/2006"},
}

// Languages are those with built-in wordings.
func Languages() []string {
	out := make([]string, 0, len(defaultTexts))
	for l := range defaultTexts {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// MoneyFormat says how amounts are written: "KES 1,234.50" is Decimal ".",
// Group ",", Pattern "{code} {amount}"; "1.234,50 €" is Decimal ",", Group
// ".", Pattern "{amount} {symbol}". {symbol} is Symbols[code], else
// Fineract's displaySymbol, else the code.
type MoneyFormat struct {
	Decimal string            `yaml:"decimal"`
	Group   string            `yaml:"group"`
	Pattern string            `yaml:"pattern"`
	Symbols map[string]string `yaml:"symbols"`
}

// Format writes an amount in currency c.
func (f MoneyFormat) Format(a Amount, c Currency) string {
	places := max(c.DecimalPlaces, 0)
	s := a.Fixed(places)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg && strings.Trim(s, "0.") != "" {
		b.WriteByte('-')
	}
	for i, d := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(f.Group)
		}
		b.WriteRune(d)
	}
	if frac != "" {
		b.WriteString(f.Decimal)
		b.WriteString(frac)
	}
	sym := f.Symbols[c.Code]
	if sym == "" {
		sym = c.DisplaySymbol
	}
	if sym == "" {
		sym = c.Code
	}
	return strings.NewReplacer("{amount}", b.String(), "{code}", c.Code, "{symbol}", sym).Replace(f.Pattern)
}

// TextConfig is a tenant's wording: a language for the defaults, number and
// date formats, and templates (Go text/template) that replace the defaults
// by name.
type TextConfig struct {
	Language   string            `yaml:"language"`    // default "en"
	DateFormat string            `yaml:"date_format"` // Go layout, e.g. "2 Jan 2006"
	Money      MoneyFormat       `yaml:"money"`
	Templates  map[string]string `yaml:"templates"`
}

// Texts renders a tenant's answers.
type Texts struct {
	tmpl  map[string]*template.Template
	money MoneyFormat
	date  string
	words map[string]string // eventWords of the language
}

// NewTexts compiles a tenant's templates over the language's defaults and
// checks each against sample data, so a broken template fails at start and
// not at a client's request.
func NewTexts(cfg TextConfig) (*Texts, error) {
	lang := cfg.Language
	if lang == "" {
		lang = "en"
	}
	defs, ok := defaultTexts[lang]
	if !ok {
		return nil, fmt.Errorf("language %q has no built-in texts (have %s)", lang, strings.Join(Languages(), ", "))
	}
	f := defaultFormats[lang]
	t := &Texts{tmpl: map[string]*template.Template{}, money: f.money, date: f.date, words: eventWords[lang]}
	if cfg.DateFormat != "" {
		t.date = cfg.DateFormat
	}
	m := cfg.Money
	if m.Decimal != "" {
		t.money.Decimal = m.Decimal
	}
	if m.Group != "" {
		t.money.Group = m.Group
	}
	if m.Pattern != "" {
		t.money.Pattern = m.Pattern
	}
	t.money.Symbols = m.Symbols
	if !strings.Contains(t.money.Pattern, "{amount}") {
		return nil, fmt.Errorf("money.pattern %q: has no {amount}", t.money.Pattern)
	}
	var errs []string
	for name := range cfg.Templates {
		if !slices.Contains(templateNames, name) {
			errs = append(errs, fmt.Sprintf("templates.%s: unknown template (have %s)", name, strings.Join(templateNames, ", ")))
		}
	}
	for _, name := range templateNames {
		src, ok := cfg.Templates[name]
		if !ok {
			src = defs[name]
		}
		tm, err := template.New(name).Option("missingkey=error").Parse(src)
		if err != nil {
			errs = append(errs, fmt.Sprintf("templates.%s: %v", name, err))
			continue
		}
		t.tmpl[name] = tm
		if _, err := t.Render(name, sampleData(name)); err != nil {
			errs = append(errs, fmt.Sprintf("templates.%s: %v", name, err))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return t, nil
}

func sampleData(name string) any {
	ci := ClientInfo{Name: "Jane"}
	switch name {
	case TmplBalance:
		return BalanceData{ClientInfo: ci, Accounts: []SavingsLine{{Product: "Savings", Number: "0012", AccountNo: "000000012", Balance: "KES 1.00"}}, More: 1}
	case TmplDue:
		return DueData{ClientInfo: ci, Loans: []LoanLine{{Product: "Loan", Number: "0021", AccountNo: "000000021", DueDate: "1 Jan 2025", Amount: "KES 1.00", HasOverdue: true, Overdue: "KES 1.00"}}, More: 1}
	case TmplNoSavings, TmplNoLoan:
		return ci
	case TmplRepaymentReceipt, TmplDisbursalReceipt, TmplDepositReceipt, TmplWelcome, TmplStaffAlert:
		return sampleEvent
	case TmplDigest:
		line := DigestLine{Client: "Jane Wanjiru", Product: "Loan", Number: "0021", AccountNo: "000000021", Amount: "KES 1.00"}
		return DigestData{Officer: "Mary", Date: "1 Jan 2025", Arrears: []DigestLine{line}, DueTomorrow: []DigestLine{line}, Meetings: []string{"Centre A"}, More: 1}
	}
	return nil
}

// sampleEvent checks a template of event messages, and a rule's own text.
var sampleEvent = EventData{ClientInfo: ClientInfo{Name: "Jane"}, Event: EventLoanRepayment, What: "repayment", ClientName: "Jane Wanjiru",
	Product: "Loan", Number: "0021", AccountNo: "000000021", Amount: "KES 1.00", Date: "1 Jan 2025", Balance: "KES 1.00", Transaction: 1, Officer: "Mary"}

// What is an event in the tenant's language ("repayment"), or the event
// itself when the language has no word for it.
func (t *Texts) What(event string) string {
	if w, ok := t.words[event]; ok {
		return w
	}
	return event
}

// compile checks a rule's own text the way NewTexts checks a template.
func (t *Texts) compile(name, src string) (*template.Template, error) {
	tm, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := tm.Execute(&b, sampleEvent); err != nil {
		return nil, err
	}
	return tm, nil
}

// renderWith executes a rule's own text (tm) or the named template.
func (t *Texts) renderWith(tm *template.Template, name string, data any) (string, error) {
	if tm == nil {
		return t.Render(name, data)
	}
	var b strings.Builder
	if err := tm.Execute(&b, data); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// Render executes one template.
func (t *Texts) Render(name string, data any) (string, error) {
	tm, ok := t.tmpl[name]
	if !ok {
		return "", fmt.Errorf("fineract: no template %q", name)
	}
	var b strings.Builder
	if err := tm.Execute(&b, data); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// Money writes an amount in the tenant's format.
func (t *Texts) Money(a Amount, c Currency) string { return t.money.Format(a, c) }

// Date writes a date in the tenant's layout.
func (t *Texts) Date(d LocalDate) string { return d.Time().Format(t.date) }
