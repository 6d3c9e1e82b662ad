package limits

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// FraudConfig is a tenant's `fraud` section: where its messages may go and
// how much and how fast it may spend. It stops SMS pumping (toll fraud: a
// stolen key or an abused sign-up form texting premium or satellite ranges
// that pay the fraudster per message) before a message is stored as
// sendable. The zero value denies HighRiskPrefixes and nothing else.
type FraudConfig struct {
	// AllowCountries, when set, are the only destination countries (ISO
	// 3166 regions, "KE") the tenant may text.
	AllowCountries []string `yaml:"allow_countries"`
	// DenyCountries are countries the tenant may never text.
	DenyCountries []string `yaml:"deny_countries"`
	// AllowPrefixes are E.164 prefixes ("+8816") let through whatever the
	// country and deny lists say: the exception to a high-risk range a
	// tenant really uses.
	AllowPrefixes []string `yaml:"allow_prefixes"`
	// DenyPrefixes are further E.164 prefixes the tenant may never text.
	DenyPrefixes []string `yaml:"deny_prefixes"`
	// AllowHighRisk lets the tenant text HighRiskPrefixes; off by default.
	AllowHighRisk bool `yaml:"allow_high_risk"`

	// DailySpendCap and MonthlySpendCap stop accepting sendable messages
	// once the tenant's spend (each message priced at accept from its
	// route's cost per part, times its parts) would pass them; 0 for none.
	// The day and month are UTC's.
	DailySpendCap   float64 `yaml:"daily_spend_cap"`
	MonthlySpendCap float64 `yaml:"monthly_spend_cap"`

	// PerRecipientPerHour caps the messages to one number per hour; 0 for
	// no cap.
	PerRecipientPerHour int `yaml:"per_recipient_per_hour"`
	// PerPrefixPerHour caps the messages to one number range (the first
	// PrefixDigits digits) per hour: pumping walks a range number by
	// number, which a per-recipient cap never sees; 0 for no cap.
	PerPrefixPerHour int `yaml:"per_prefix_per_hour"`
	// PrefixDigits is the length of a range for PerPrefixPerHour, digits
	// after the "+"; default 7 (country code and operator block).
	PrefixDigits int `yaml:"prefix_digits"`
}

// HighRiskPrefixes are the ranges denied unless a tenant sets
// allow_high_risk or lists an allow_prefixes entry for them: the
// non-geographic ranges the industry's SMS-pumping guidance names, where
// termination is expensive and revenue-shared, and that no MFI client
// lives on.
var HighRiskPrefixes = []RiskRange{
	{"+870", "Inmarsat satellite"},
	{"+878", "universal personal telecommunications"},
	{"+881", "global mobile satellite system (Iridium, Globalstar, Thuraya)"},
	{"+882", "international networks (satellite, maritime, aero)"},
	{"+883", "international networks"},
	{"+888", "international humanitarian networks"},
	{"+979", "international premium rate service"},
}

// RiskRange is one high-risk range with what it is.
type RiskRange struct {
	Prefix, What string
}

// DefaultPrefixDigits is the range length PerPrefixPerHour counts by.
const DefaultPrefixDigits = 7

// SetDefaults fills the zero fields and writes countries in capitals.
func (c *FraudConfig) SetDefaults() {
	if c.PrefixDigits == 0 {
		c.PrefixDigits = DefaultPrefixDigits
	}
	for i, r := range c.AllowCountries {
		c.AllowCountries[i] = strings.ToUpper(strings.TrimSpace(r))
	}
	for i, r := range c.DenyCountries {
		c.DenyCountries[i] = strings.ToUpper(strings.TrimSpace(r))
	}
}

// Validate reports every problem, each naming its key.
func (c *FraudConfig) Validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	regions := phonenumbers.GetSupportedRegions()
	for name, list := range map[string][]string{"allow_countries": c.AllowCountries, "deny_countries": c.DenyCountries} {
		for i, r := range list {
			if !regions[strings.ToUpper(strings.TrimSpace(r))] {
				add("%s[%d]: %q is not an ISO 3166 region libphonenumber knows (e.g. KE)", name, i, r)
			}
		}
	}
	for name, list := range map[string][]string{"allow_prefixes": c.AllowPrefixes, "deny_prefixes": c.DenyPrefixes} {
		for i, p := range list {
			if len(p) < 2 || p[0] != '+' || strings.Trim(p[1:], "0123456789") != "" {
				add("%s[%d]: %q must be \"+\" and digits, e.g. +8816", name, i, p)
			}
		}
	}
	if c.DailySpendCap < 0 || c.MonthlySpendCap < 0 {
		add("daily_spend_cap, monthly_spend_cap: must be ≥ 0 (0: no cap)")
	}
	if c.PerRecipientPerHour < 0 || c.PerPrefixPerHour < 0 {
		add("per_recipient_per_hour, per_prefix_per_hour: must be ≥ 0 (0: no cap)")
	}
	if c.PrefixDigits < 0 || c.PrefixDigits > 15 {
		add("prefix_digits: must be 1..15 (an E.164 number has at most 15 digits)")
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}

// Item is one message as the fraud controls see it.
type Item struct {
	To    string  // E.164
	Parts int     // SMS parts
	Cost  float64 // price of one part on its route
	// Country is Country(To) when the caller worked it out (it can do so
	// faster); "" when it did not, and allow/deny_countries ask Country.
	Country string
}

// Refusal is why a message may not be sent: what the caller is told and
// what the message's final status says.
type Refusal struct {
	// Reason is a metric label: country, prefix, high_risk, daily_cap,
	// monthly_cap, recipient_rate, prefix_velocity.
	Reason string
	Detail string
}

func (r *Refusal) Error() string { return r.Detail }

// Fraud applies tenants' FraudConfig and keeps their spend and velocity
// counts. The counts live in memory, per node, since the node started.
// It is safe for concurrent use.
type Fraud struct {
	now func() time.Time

	mu        sync.Mutex
	spend     map[string]*spend // by tenant
	recipient map[string]*rate.Limiter
	prefix    map[string]*rate.Limiter

	refused *prometheus.CounterVec
	spent   *prometheus.GaugeVec
	caps    *prometheus.GaugeVec
	alert   *prometheus.GaugeVec
}

type spend struct {
	day, month       time.Time // the period each total counts
	dayTot, monthTot float64
	gauges           *spendGauges // nil until first published
}

// spendGauges are one tenant's spend gauges, day then month, looked up
// once: publish runs on every accept, under the lock all tenants share,
// and a vector's lookup hashes the labels each time.
type spendGauges struct {
	spent, caps, alert [2]prometheus.Gauge
}

// NewFraud builds the controls; reg takes smsgw_fraud_refused_total,
// smsgw_tenant_spend, smsgw_tenant_spend_cap and
// smsgw_tenant_spend_alert (nil registers none); now nil is time.Now.
func NewFraud(reg prometheus.Registerer, now func() time.Time) (*Fraud, error) {
	if now == nil {
		now = time.Now
	}
	f := &Fraud{now: now, spend: map[string]*spend{}, recipient: map[string]*rate.Limiter{}, prefix: map[string]*rate.Limiter{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_fraud_refused_total",
			Help: "Messages refused by a tenant's fraud and spend controls (stored REJECTED with the reason, never sent), by tenant and reason.",
		}, []string{"tenant", "reason"}),
		spent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsgw_tenant_spend",
			Help: "A tenant's spend in the current UTC day or month, priced at accept from route costs, since this node started.",
		}, []string{"tenant", "period"}),
		caps: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsgw_tenant_spend_cap", Help: "A tenant's daily or monthly spend cap (fraud.daily_spend_cap, monthly_spend_cap).",
		}, []string{"tenant", "period"}),
		alert: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsgw_tenant_spend_alert",
			Help: "1 once a tenant's spend reached 80% of its daily or monthly cap, else 0: alert on it before the cap refuses messages.",
		}, []string{"tenant", "period"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{f.refused, f.spent, f.caps, f.alert} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("limits: metrics: %w", err)
			}
		}
	}
	return f, nil
}

// AlertRatio is the share of a spend cap at which smsgw_tenant_spend_alert
// turns 1.
const AlertRatio = 0.8

// maxVelocityKeys bounds each velocity table; past it, the entries whose
// budget has refilled are dropped, and while every entry is live a new
// number or range is refused (fail closed: a flood of distinct numbers is
// what pumping looks like).
const maxVelocityKeys = 200_000

// Check decides for each item of a tenant's call whether it may be sent,
// and takes what the allowed ones spend from the tenant's caps and
// velocity budgets. refusals[i] is nil for an allowed item. undo gives
// back what the items it is told were not stored took (a failed commit, a
// duplicate), so a retry is not charged twice.
func (f *Fraud) Check(tenant string, cfg FraudConfig, items []Item) (refusals []*Refusal, undo func(notStored []bool)) {
	refusals = make([]*Refusal, len(items))
	type taken struct {
		cost       float64
		rcpt, rnge *rate.Reservation
	}
	took := make([]taken, len(items))
	// Destinations depend on the config alone, and Country parses the
	// number with phonenumbers (~15 µs) unless the caller gave it:
	// outside the lock every tenant's accepts share.
	for i, it := range items {
		refusals[i] = destination(cfg, it.To, it.Country)
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	sp := f.spendOf(tenant, now)
	for i, it := range items {
		if refusals[i] != nil {
			continue
		}
		cost := it.Cost * float64(it.Parts)
		if cfg.DailySpendCap > 0 && sp.dayTot+cost > cfg.DailySpendCap {
			refusals[i] = &Refusal{"daily_cap", fmt.Sprintf("tenant %s reached its daily spend cap (%.2f of %.2f spent today, UTC; this message costs %.2f): fraud.daily_spend_cap", tenant, sp.dayTot, cfg.DailySpendCap, cost)}
			continue
		}
		if cfg.MonthlySpendCap > 0 && sp.monthTot+cost > cfg.MonthlySpendCap {
			refusals[i] = &Refusal{"monthly_cap", fmt.Sprintf("tenant %s reached its monthly spend cap (%.2f of %.2f spent this month, UTC; this message costs %.2f): fraud.monthly_spend_cap", tenant, sp.monthTot, cfg.MonthlySpendCap, cost)}
			continue
		}
		var rr, pr *rate.Reservation
		if cfg.PerRecipientPerHour > 0 {
			if rr = f.take(f.recipient, tenant+"\x00"+it.To, cfg.PerRecipientPerHour, now); rr == nil {
				refusals[i] = &Refusal{"recipient_rate", fmt.Sprintf("more than %d messages an hour to this number: fraud.per_recipient_per_hour", cfg.PerRecipientPerHour)}
				continue
			}
		}
		if cfg.PerPrefixPerHour > 0 {
			digits := cfg.PrefixDigits
			if digits <= 0 {
				digits = DefaultPrefixDigits
			}
			rng := it.To[:min(len(it.To), 1+digits)]
			if pr = f.take(f.prefix, tenant+"\x00"+rng, cfg.PerPrefixPerHour, now); pr == nil {
				if rr != nil {
					rr.CancelAt(now) // not sent: the number's budget is given back
				}
				refusals[i] = &Refusal{"prefix_velocity", fmt.Sprintf("more than %d messages an hour to numbers starting %s: fraud.per_prefix_per_hour", cfg.PerPrefixPerHour, rng)}
				continue
			}
		}
		sp.dayTot += cost
		sp.monthTot += cost
		took[i] = taken{cost, rr, pr}
	}
	for _, r := range refusals {
		if r != nil {
			f.refused.WithLabelValues(tenant, r.Reason).Inc()
		}
	}
	f.publish(tenant, cfg, sp)
	return refusals, func(notStored []bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, t := range took {
			if !notStored[i] {
				continue
			}
			sp.dayTot -= t.cost
			sp.monthTot -= t.cost
			for _, r := range []*rate.Reservation{t.rcpt, t.rnge} {
				if r != nil {
					r.CancelAt(now)
				}
			}
		}
		f.publish(tenant, cfg, sp)
	}
}

// Spend is a tenant's spend in the current UTC day and month on this node.
func (f *Fraud) Spend(tenant string) (day, month float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sp := f.spendOf(tenant, f.now())
	return sp.dayTot, sp.monthTot
}

// spendOf is the tenant's totals, started again when a new day or month
// began; f.mu is held.
func (f *Fraud) spendOf(tenant string, now time.Time) *spend {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	sp := f.spend[tenant]
	if sp == nil {
		sp = &spend{day: day, month: month}
		f.spend[tenant] = sp
	}
	if !sp.day.Equal(day) {
		sp.day, sp.dayTot = day, 0
	}
	if !sp.month.Equal(month) {
		sp.month, sp.monthTot = month, 0
	}
	return sp
}

// publish sets the spend gauges; f.mu is held.
func (f *Fraud) publish(tenant string, cfg FraudConfig, sp *spend) {
	g := sp.gauges
	if g == nil {
		g = &spendGauges{}
		for i, period := range [...]string{"day", "month"} {
			g.spent[i] = f.spent.WithLabelValues(tenant, period)
			g.caps[i] = f.caps.WithLabelValues(tenant, period)
			g.alert[i] = f.alert.WithLabelValues(tenant, period)
		}
		sp.gauges = g
	}
	for i, p := range [...]struct{ total, cap float64 }{{sp.dayTot, cfg.DailySpendCap}, {sp.monthTot, cfg.MonthlySpendCap}} {
		g.spent[i].Set(p.total)
		g.caps[i].Set(p.cap)
		alert := 0.0
		if p.cap > 0 && p.total >= AlertRatio*p.cap {
			alert = 1
		}
		g.alert[i].Set(alert)
	}
}

// take reserves one message from key's per-hour budget in table, or
// returns nil when it is spent or the table is full of live entries; f.mu
// is held.
func (f *Fraud) take(table map[string]*rate.Limiter, key string, perHour int, now time.Time) *rate.Reservation {
	l := table[key]
	if l == nil || l.Burst() != perHour { // new, or the cap changed: start full
		if l == nil && len(table) >= maxVelocityKeys {
			for k, old := range table {
				if old.TokensAt(now) >= float64(old.Burst()) {
					delete(table, k)
				}
			}
			if len(table) >= maxVelocityKeys {
				return nil
			}
		}
		l = rate.NewLimiter(rate.Limit(float64(perHour)/3600), perHour)
		table[key] = l
	}
	r := l.ReserveN(now, 1)
	if !r.OK() || r.DelayFrom(now) > 0 {
		r.CancelAt(now)
		return nil
	}
	return r
}

// destination refuses a number the tenant may not text, or returns nil.
// An allow_prefixes entry wins over every deny rule.
func destination(cfg FraudConfig, to, region string) *Refusal {
	if slices.ContainsFunc(cfg.AllowPrefixes, func(p string) bool { return strings.HasPrefix(to, p) }) {
		return nil
	}
	if !cfg.AllowHighRisk {
		for _, r := range HighRiskPrefixes {
			if strings.HasPrefix(to, r.Prefix) {
				return &Refusal{"high_risk", fmt.Sprintf("%s… is a high-risk range (%s) denied by default: fraud.allow_high_risk or fraud.allow_prefixes opens it", r.Prefix, r.What)}
			}
		}
	}
	if i := slices.IndexFunc(cfg.DenyPrefixes, func(p string) bool { return strings.HasPrefix(to, p) }); i >= 0 {
		return &Refusal{"prefix", fmt.Sprintf("numbers starting %s are denied: fraud.deny_prefixes", cfg.DenyPrefixes[i])}
	}
	if len(cfg.AllowCountries) == 0 && len(cfg.DenyCountries) == 0 {
		return nil
	}
	if region == "" {
		region = Country(to)
	}
	if len(cfg.AllowCountries) > 0 && !slices.Contains(cfg.AllowCountries, region) {
		return &Refusal{"country", fmt.Sprintf("destination country %s is not in fraud.allow_countries", regionName(region))}
	}
	if slices.Contains(cfg.DenyCountries, region) {
		return &Refusal{"country", fmt.Sprintf("destination country %s is in fraud.deny_countries", regionName(region))}
	}
	return nil
}

// Country is the ISO 3166 region of an E.164 number ("KE"), "001" for a
// non-geographic range, "ZZ" when unknown.
func Country(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return "ZZ"
	}
	if r := phonenumbers.GetRegionCodeForNumber(n); r != "" {
		return r
	}
	return "ZZ"
}

func regionName(r string) string {
	switch r {
	case "ZZ":
		return "unknown"
	case "001":
		return "non-geographic (001)"
	}
	return r
}
