package fineract

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// EventsConfig is a tenant's `events:` section: how Fineract's Web hooks
// reach the adapter, what each event sends to whom, and the daily digest.
type EventsConfig struct {
	// Secret is the last path segment of the tenant's hook URL
	// (…/fineract/hooks/<tenant name>/<secret>/): Fineract's Web hook
	// signs nothing, so knowing the URL is what proves a request came
	// from the Fineract it was given to. At least 16 characters.
	Secret    string `yaml:"secret"`
	SecretEnv string `yaml:"secret_env"`
	// AllowFrom, when set, also requires the request's source address to
	// be one of these addresses or prefixes (10.0.0.0/8, 192.0.2.7).
	AllowFrom []string `yaml:"allow_from"`
	// StaffGroups are named lists of staff numbers rules may send to
	// ("group:managers").
	StaffGroups map[string][]string `yaml:"staff_groups"`
	Rules       []RuleConfig        `yaml:"rules"`
	// RetryFor is how long an event is retried while Fineract or the
	// gateway is unavailable before it is dropped (logged and counted);
	// default 1h.
	RetryFor time.Duration `yaml:"retry_for"`
	Digest   *DigestConfig `yaml:"digest"`
}

// RuleConfig sends messages for one event when its conditions hold. Every
// condition given must hold; an empty list or a missing bound holds.
type RuleConfig struct {
	Name  string `yaml:"name"`  // in client_refs, logs and metrics; default rule-N
	Event string `yaml:"event"` // LOAN/REPAYMENT, LOAN/DISBURSE, SAVINGSACCOUNT/DEPOSIT, CLIENT/CREATE
	// MinAmount and MaxAmount bound the transaction's amount (inclusive),
	// in the account's currency: "50000", "0.5".
	MinAmount Decimal `yaml:"min_amount"`
	MaxAmount Decimal `yaml:"max_amount"`
	// Products, Offices and LoanOfficers are Fineract ids (the loan or
	// savings product, the client's office, the loan officer or savings
	// field officer).
	Products     []int64 `yaml:"products"`
	Offices      []int64 `yaml:"offices"`
	LoanOfficers []int64 `yaml:"loan_officers"`
	// To lists recipients: "client", "loan_officer" (the account's
	// officer, the client's for CLIENT/CREATE, read from Fineract's
	// staff API) and "group:NAME" (a staff group).
	To []string `yaml:"to"`
	// Template names the text (default: the event's receipt for the
	// client, staff_alert for staff); Text is a rule's own, replacing it.
	Template string `yaml:"template"`
	Text     string `yaml:"text"`
}

// DigestConfig is the daily SMS to each loan officer: clients in arrears
// and repayments due tomorrow.
type DigestConfig struct {
	At       string `yaml:"at"`        // local time, "17:30"
	TimeZone string `yaml:"time_zone"` // IANA, "Africa/Nairobi"; default UTC
	// LoanOfficers limits the digest to these staff ids; empty sends one
	// to every loan officer with something to report.
	LoanOfficers []int64 `yaml:"loan_officers"`
}

// Decimal is an amount in a rule, exact; empty is no bound.
type Decimal struct{ r *big.Rat }

// UnmarshalYAML reads 50000, "50000" or "1234.50".
func (d *Decimal) UnmarshalYAML(n *yaml.Node) error {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(n.Value))
	if !ok || n.Kind != yaml.ScalarNode || r.Sign() < 0 {
		return fmt.Errorf("line %d: %q is not an amount (e.g. 50000 or 1234.50)", n.Line, n.Value)
	}
	d.r = r
	return nil
}

// ParseDecimal reads an amount for a rule built in code.
func ParseDecimal(s string) (Decimal, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 {
		return Decimal{}, fmt.Errorf("%q is not an amount", s)
	}
	return Decimal{r}, nil
}

// Recipients of a rule.
const (
	ToClient      = "client"
	ToLoanOfficer = "loan_officer"
	toGroupPrefix = "group:"
)

// rule is a checked RuleConfig.
type rule struct {
	RuleConfig
	tmpl *template.Template // Text compiled, or nil
}

// eventSettings is what a config reload replaces at once.
type eventSettings struct {
	secret string
	allow  []netip.Prefix
	groups map[string][]string // E.164 numbers
	rules  []rule
	texts  *Texts
	digest *digestSettings
}

type digestSettings struct {
	hour, minute int
	loc          *time.Location
	officers     []int64
}

// newEventSettings checks a tenant's events section against its texts;
// normalize reads a staff number as E.164. The error lists every
// problem, each with its path under events.
func newEventSettings(c *EventsConfig, texts *Texts, normalize func(string) (string, error)) (*eventSettings, error) {
	var errs []string
	bad := func(path, format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	s := &eventSettings{secret: c.Secret, groups: map[string][]string{}, texts: texts}
	if c.Secret != "" && len(c.Secret) < 16 {
		bad("secret", "at least 16 characters are needed (it is all that proves a hook came from your Fineract)")
	}
	if strings.ContainsAny(c.Secret, "/?#% ") {
		bad("secret", "must not contain / ? # %% or spaces (it is a URL path segment)")
	}
	for i, a := range c.AllowFrom {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			addr, err2 := netip.ParseAddr(a)
			if err2 != nil {
				bad(fmt.Sprintf("allow_from[%d]", i), "%q is not an address or prefix (10.0.0.0/8)", a)
				continue
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		s.allow = append(s.allow, p.Masked())
	}
	for name, nums := range c.StaffGroups {
		if name == "" || strings.ContainsAny(name, " :") {
			bad("staff_groups", "%q: a name is one word", name)
		}
		for i, n := range nums {
			e, err := normalize(n)
			if err != nil {
				bad(fmt.Sprintf("staff_groups.%s[%d]", name, i), "%q is not a phone number", n)
				continue
			}
			s.groups[name] = append(s.groups[name], e)
		}
	}
	names := map[string]bool{}
	for i, rc := range c.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		if rc.Name == "" {
			rc.Name = fmt.Sprintf("rule-%d", i)
		}
		if names[rc.Name] {
			bad(p+".name", "%q is taken by another rule", rc.Name)
		}
		names[rc.Name] = true
		if strings.ContainsAny(rc.Name, " :") {
			bad(p+".name", "%q: one word without ':' (it is part of each message's client_ref)", rc.Name)
		}
		rc.Event = strings.ToUpper(rc.Event)
		if !slices.Contains(Events, rc.Event) {
			bad(p+".event", "%q: want one of %s", rc.Event, strings.Join(Events, ", "))
		}
		if rc.MinAmount.r != nil && rc.MaxAmount.r != nil && rc.MinAmount.r.Cmp(rc.MaxAmount.r) > 0 {
			bad(p, "min_amount is above max_amount")
		}
		if rc.Event == EventClientCreate && (rc.MinAmount.r != nil || rc.MaxAmount.r != nil || len(rc.Products) > 0) {
			bad(p, "CLIENT/CREATE has no amount or product to compare")
		}
		if len(rc.To) == 0 {
			bad(p+".to", "name at least one recipient: client, loan_officer or group:NAME")
		}
		for j, to := range rc.To {
			g, isGroup := strings.CutPrefix(to, toGroupPrefix)
			switch {
			case to == ToClient, to == ToLoanOfficer:
			case isGroup:
				if _, ok := c.StaffGroups[g]; !ok {
					bad(fmt.Sprintf("%s.to[%d]", p, j), "no staff group %q in staff_groups", g)
				}
			default:
				bad(fmt.Sprintf("%s.to[%d]", p, j), "%q: want client, loan_officer or group:NAME", to)
			}
		}
		r := rule{RuleConfig: rc}
		switch {
		case rc.Text != "" && rc.Template != "":
			bad(p, "give template or text, not both")
		case rc.Text != "":
			tm, err := texts.compile(rc.Name, rc.Text)
			if err != nil {
				bad(p+".text", "%v", err)
			}
			r.tmpl = tm
		case rc.Template != "":
			if !slices.Contains(eventTemplates(), rc.Template) {
				bad(p+".template", "%q: want one of %s", rc.Template, strings.Join(eventTemplates(), ", "))
			}
		}
		s.rules = append(s.rules, r)
	}
	if d := c.Digest; d != nil {
		ds := &digestSettings{officers: d.LoanOfficers, loc: time.UTC}
		at, err := time.Parse("15:04", d.At)
		if err != nil {
			bad("digest.at", "%q: want a local time, 17:30", d.At)
		}
		ds.hour, ds.minute = at.Hour(), at.Minute()
		if d.TimeZone != "" {
			if ds.loc, err = time.LoadLocation(d.TimeZone); err != nil {
				bad("digest.time_zone", "%q: want an IANA zone, Africa/Nairobi", d.TimeZone)
			}
		}
		s.digest = ds
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return s, nil
}

// eventTemplates are the templates a rule may name.
func eventTemplates() []string {
	return []string{TmplRepaymentReceipt, TmplDisbursalReceipt, TmplDepositReceipt, TmplWelcome, TmplStaffAlert}
}

// facts are what a rule's conditions and texts read about one event.
type facts struct {
	event     string
	amount    Amount // zero for CLIENT/CREATE
	product   int64
	office    int64
	officer   int64
	clientID  int64
	data      EventData
	hasAmount bool
}

// matches reports whether the rule's conditions hold for f.
func (r *rule) matches(f *facts) bool {
	if r.Event != f.event {
		return false
	}
	if f.hasAmount {
		if r.MinAmount.r != nil && f.amount.cmp(r.MinAmount.r) < 0 {
			return false
		}
		if r.MaxAmount.r != nil && f.amount.cmp(r.MaxAmount.r) > 0 {
			return false
		}
	}
	return (len(r.Products) == 0 || slices.Contains(r.Products, f.product)) &&
		(len(r.Offices) == 0 || slices.Contains(r.Offices, f.office)) &&
		(len(r.LoanOfficers) == 0 || slices.Contains(r.LoanOfficers, f.officer))
}

// template is the text a rule sends to recipient to.
func (r *rule) template(to string) string {
	if r.Template != "" {
		return r.Template
	}
	if to != ToClient {
		return TmplStaffAlert
	}
	switch r.Event {
	case EventLoanRepayment:
		return TmplRepaymentReceipt
	case EventLoanDisburse:
		return TmplDisbursalReceipt
	case EventSavingsDeposit:
		return TmplDepositReceipt
	}
	return TmplWelcome
}
