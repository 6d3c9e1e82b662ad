package limits

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func reasons(rs []*Refusal) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		if r != nil {
			out[i] = r.Reason
		}
	}
	return out
}

func TestDestinationRules(t *testing.T) {
	f, err := NewFraud(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  FraudConfig
		to   string
		want string // "" allowed, else the reason
		in   string // in the detail
	}{
		{"satellite denied by default", FraudConfig{}, "+881612345678", "high_risk", "+881… is a high-risk range (global mobile satellite system"},
		{"international networks", FraudConfig{}, "+882345678901", "high_risk", "fraud.allow_high_risk"},
		{"premium rate", FraudConfig{}, "+979123456789", "high_risk", "premium rate"},
		{"ordinary number", FraudConfig{}, "+254712345678", "", ""},
		{"high risk allowed", FraudConfig{AllowHighRisk: true}, "+881612345678", "", ""},
		{"one range allowed", FraudConfig{AllowPrefixes: []string{"+8816"}}, "+881612345678", "", ""},
		{"the rest still denied", FraudConfig{AllowPrefixes: []string{"+8816"}}, "+881712345678", "high_risk", ""},
		{"denied prefix", FraudConfig{DenyPrefixes: []string{"+25471"}}, "+254712345678", "prefix", "numbers starting +25471 are denied"},
		{"allowed countries", FraudConfig{AllowCountries: []string{"KE", "UG"}}, "+255712345678", "country", "destination country TZ is not in fraud.allow_countries"},
		{"allowed country", FraudConfig{AllowCountries: []string{"KE", "UG"}}, "+256712345678", "", ""},
		{"denied country", FraudConfig{DenyCountries: []string{"GB"}}, "+442079460000", "country", "GB is in fraud.deny_countries"},
	} {
		rs, _ := f.Check("t", c.cfg, []Item{{To: c.to, Parts: 1}})
		if got := reasons(rs)[0]; got != c.want {
			t.Errorf("%s: %s refused for %q, want %q", c.name, c.to, got, c.want)
			continue
		}
		if c.in != "" && !strings.Contains(rs[0].Detail, c.in) {
			t.Errorf("%s: detail %q lacks %q", c.name, rs[0].Detail, c.in)
		}
	}
	if got := Country("+881612345678"); got != "001" {
		t.Errorf("Country(+881…) = %s, want 001", got)
	}
}

func TestSpendCaps(t *testing.T) {
	now := time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	f, err := NewFraud(reg, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	cfg := FraudConfig{DailySpendCap: 10, MonthlySpendCap: 25}
	item := Item{To: "+254712345678", Parts: 2, Cost: 1} // 2 a message
	batch := []Item{item, item, item, item}              // 8
	if rs, _ := f.Check("t", cfg, batch); strings.Join(reasons(rs), ",") != ",,," {
		t.Fatalf("8 of 10: %v", reasons(rs))
	}
	if got := gaugeValue(t, reg, "smsgw_tenant_spend_alert", "day"); got != 1 {
		t.Errorf("alert at 80%% of the daily cap: %v", got)
	}
	rs, undo := f.Check("t", cfg, []Item{item, item})
	if got := strings.Join(reasons(rs), ","); got != ",daily_cap" {
		t.Fatalf("over the daily cap: %s", got)
	}
	if !strings.Contains(rs[1].Detail, "tenant t reached its daily spend cap (10.00 of 10.00 spent today") {
		t.Errorf("detail: %s", rs[1].Detail)
	}
	undo([]bool{true, false}) // the allowed one was not stored after all
	if day, _ := f.Spend("t"); day != 8 {
		t.Fatalf("after undo: day %v, want 8", day)
	}
	now = now.Add(2 * time.Hour) // April 1st: a new day and a new month
	if day, month := f.Spend("t"); day != 0 || month != 0 {
		t.Fatalf("new day and month: %v %v", day, month)
	}
	cfg.DailySpendCap = 0
	for range 12 {
		f.Check("t", cfg, []Item{item})
	}
	if _, month := f.Spend("t"); month != 24 {
		t.Fatalf("month %v, want 24 (12×2)", month)
	}
	if rs, _ := f.Check("t", cfg, []Item{item}); reasons(rs)[0] != "monthly_cap" {
		t.Fatalf("over the monthly cap: %v", reasons(rs))
	}
	if got := counterValue(t, reg, "smsgw_fraud_refused_total"); got != 2 {
		t.Errorf("smsgw_fraud_refused_total = %v, want 2", got)
	}
}

func TestVelocity(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f, _ := NewFraud(nil, func() time.Time { return now })
	cfg := FraudConfig{PerRecipientPerHour: 2, PerPrefixPerHour: 3, PrefixDigits: 9}
	rs, _ := f.Check("t", cfg, []Item{{To: "+254712000001"}, {To: "+254712000001"}, {To: "+254712000001"}})
	if got := strings.Join(reasons(rs), ","); got != ",,recipient_rate" {
		t.Fatalf("per recipient: %s", got)
	}
	// Walking the range +25471200000x number by number: the range's third
	// message is its last this hour.
	rs, _ = f.Check("t", cfg, []Item{{To: "+254712000002"}, {To: "+254712000003"}})
	if got := strings.Join(reasons(rs), ","); got != ",prefix_velocity" {
		t.Fatalf("per prefix: %s", got)
	}
	if !strings.Contains(rs[1].Detail, "numbers starting +254712000") {
		t.Errorf("detail: %s", rs[1].Detail)
	}
	if rs, _ := f.Check("other", cfg, []Item{{To: "+254712000003"}}); rs[0] != nil {
		t.Fatalf("another tenant's budgets: %v", rs[0])
	}
	now = now.Add(time.Hour)
	if rs, _ := f.Check("t", cfg, []Item{{To: "+254712000003"}}); rs[0] != nil {
		t.Fatalf("an hour later: %v", rs[0])
	}
}

func TestFraudConfigValidate(t *testing.T) {
	c := FraudConfig{AllowCountries: []string{"XX"}, DenyPrefixes: []string{"881"}, DailySpendCap: -1, PrefixDigits: 20}
	var got []string
	for _, err := range c.Validate() {
		got = append(got, err.Error())
	}
	want := []string{
		`allow_countries[0]: "XX" is not an ISO 3166 region libphonenumber knows (e.g. KE)`,
		`daily_spend_cap, monthly_spend_cap: must be ≥ 0 (0: no cap)`,
		`deny_prefixes[0]: "881" must be "+" and digits, e.g. +8816`,
		`prefix_digits: must be 1..15 (an E.164 number has at most 15 digits)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name, period string) float64 {
	t.Helper()
	for _, m := range gather(t, reg, name) {
		for _, l := range m.GetLabel() {
			if l.GetName() == "period" && l.GetValue() == period {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	sum := 0.0
	for _, m := range gather(t, reg, name) {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func gather(t *testing.T, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

// BenchmarkFraudCheck is the check of one accepted message of a tenant
// with a daily cap, as every accept makes it (its spend gauges set).
func BenchmarkFraudCheck(b *testing.B) {
	f, err := NewFraud(prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := FraudConfig{DailySpendCap: 1e12}
	items := []Item{{To: "+254700000001", Parts: 1, Cost: 0.8}}
	b.ReportAllocs()
	for b.Loop() {
		if rs, _ := f.Check("t", cfg, items); rs[0] != nil {
			b.Fatal(rs[0])
		}
	}
}
