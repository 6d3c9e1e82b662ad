package routing

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/openmf/smsgw/gateway"
)

func tableFromYAML(t *testing.T, src string) *Table {
	t.Helper()
	var routes []Route
	if err := yaml.Unmarshal([]byte(src), &routes); err != nil {
		t.Fatal(err)
	}
	tab, err := NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestPlanLongestPrefixThenCost(t *testing.T) {
	tab := tableFromYAML(t, `
- {prefix: "+", carrier: cloud, cost: 3.0, currency: KES}
- {prefix: "+2547", carrier: safaricom, cost: 0.8, currency: KES}
- {prefix: "+2547", carrier: airtel, cost: 0.6, currency: KES}
- {prefix: "+25473", carrier: airtel-direct, cost: 0.9, currency: KES}
- {prefix: "+255", carrier: vodacom, cost: 1.1, currency: TZS}
`)
	cases := []struct {
		to   string
		want []string
	}{
		{"+254733000111", []string{"airtel-direct", "airtel", "safaricom", "cloud"}},
		{"+254712345678", []string{"airtel", "safaricom", "cloud"}},
		{"+255712345678", []string{"vodacom", "cloud"}},
		{"+15551234567", []string{"cloud"}},
	}
	for _, c := range cases {
		var got []string
		for _, cand := range tab.Plan("default", c.to) {
			got = append(got, cand.Carrier)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("Plan(%s) = %v, want %v", c.to, got, c.want)
		}
	}
}

func TestPlanCarrierListedOnceAtBestPosition(t *testing.T) {
	tab := tableFromYAML(t, `
- {prefix: "+", carrier: a, cost: 1}
- {prefix: "+254", carrier: a, cost: 0.5}
- {prefix: "+254", carrier: b, cost: 0.7}
`)
	got := tab.Plan("", "+254712345678")
	want := []gateway.Candidate{{Carrier: "a", Cost: 0.5}, {Carrier: "b", Cost: 0.7}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Plan = %+v, want %+v", got, want)
	}
	if ex := tab.Explain("", "+254712345678"); !strings.Contains(ex, "a via prefix + at 1  skipped") {
		t.Errorf("Explain does not say why the shadowed route was skipped:\n%s", ex)
	}
}

func TestPriorityBreaksCostTies(t *testing.T) {
	tab := tableFromYAML(t, `
- {prefix: "+254", carrier: low, cost: 1, priority: 1}
- {prefix: "+254", carrier: high, cost: 1, priority: 5}
`)
	if got := tab.Plan("", "+254712345678"); got[0].Carrier != "high" {
		t.Fatalf("Plan = %+v, want high first", got)
	}
}

func TestNoRoute(t *testing.T) {
	tab := tableFromYAML(t, `[{prefix: "+254", carrier: a, cost: 1}]`)
	if got := tab.Plan("", "+15551234567"); len(got) != 0 {
		t.Fatalf("Plan = %+v, want none", got)
	}
	if ex := tab.Explain("", "+15551234567"); !strings.Contains(ex, "no route matches") {
		t.Errorf("Explain = %q", ex)
	}
}

func TestNewTableReportsEveryError(t *testing.T) {
	_, err := NewTable([]Route{
		{Prefix: "254", Carrier: "a", Cost: 1},
		{Prefix: "+25x", Carrier: "", Cost: -1, Currency: "KENYA"},
	})
	if err == nil {
		t.Fatal("invalid routes accepted")
	}
	for _, want := range []string{
		`routes[0].prefix: "254" must start with +`,
		`routes[1].prefix: "+25x" must be + followed by digits`,
		`routes[1].carrier: required`,
		`routes[1].cost: must be ≥ 0`,
		`routes[1].currency: "KENYA" is not an ISO 4217 code`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	var routes []Route
	for i := range 500 {
		routes = append(routes, Route{Prefix: "+2547" + string(rune('0'+i%10)) + string(rune('0'+i/10%10)), Carrier: "c" + string(rune('a'+i%26)), Cost: float64(i%7) / 10})
	}
	routes = append(routes, Route{Prefix: "+", Carrier: "cloud", Cost: 3})
	tab, err := NewTable(routes)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(tab.Plan("t", "+254712345678")) == 0 {
			b.Fatal("no candidates")
		}
	}
}
