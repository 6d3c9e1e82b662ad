package routing

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/openmf/smsgw/gateway"
)

var update = flag.Bool("update", false, "rewrite the golden explain files")

func tableFromYAML(t testing.TB, src string) *Table {
	t.Helper()
	var routes []Route
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&routes); err != nil {
		t.Fatal(err)
	}
	tab, err := NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func carriers(t testing.TB, cs []gateway.Candidate, err error) string {
	t.Helper()
	if err != nil {
		return err.Error()
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Carrier)
	}
	return strings.Join(names, ",")
}

var noon = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func q(to string) gateway.RouteQuery {
	return gateway.RouteQuery{Tenant: "mfi", From: "MFI", To: to, At: noon, Key: "msg-1"}
}

func TestPlanLongestPrefixThenCost(t *testing.T) {
	tab := tableFromYAML(t, `
- {prefix: "+", carrier: cloud, cost: 3.0, currency: KES}
- {prefix: "+2547", carrier: safaricom, cost: 0.8, currency: KES}
- {prefix: "+2547", carrier: airtel, cost: 0.6, currency: KES}
- {prefix: "+25473", carrier: airtel-direct, cost: 0.9, currency: KES}
- {prefix: "+255", carrier: vodacom, cost: 1.1, currency: TZS}
`)
	cases := map[string]string{
		"+254733000111": "airtel-direct,airtel,safaricom,cloud",
		"+254712345678": "airtel,safaricom,cloud",
		"+255712345678": "vodacom,cloud",
		"+15551234567":  "cloud",
	}
	for to, want := range cases {
		cs, err := tab.Plan(q(to))
		if got := carriers(t, cs, err); got != want {
			t.Errorf("Plan(%s) = %s, want %s", to, got, want)
		}
	}
}

func TestPriorityBreaksCostTies(t *testing.T) {
	tab := tableFromYAML(t, `
- {prefix: "+254", carrier: low, cost: 1, priority: 1}
- {prefix: "+254", carrier: high, cost: 1, priority: 5}
`)
	cs, err := tab.Plan(q("+254712345678"))
	if got := carriers(t, cs, err); got != "high,low" {
		t.Fatalf("Plan = %s", got)
	}
}

// Equal candidates split by weight: over many messages the first choice
// follows the weights within ±2 percentage points, and one message always
// gets the same order (a retry does not hop between carriers).
func TestWeightsSplitEqualCandidates(t *testing.T) {
	tab := tableFromYAML(t, `
- {prefix: "+254", carrier: a, cost: 1, weight: 3}
- {prefix: "+254", carrier: b, cost: 1, weight: 1}
- {prefix: "+", carrier: cloud, cost: 5}
`)
	const n = 20000
	first := map[string]int{}
	for i := range n {
		qq := q("+254712345678")
		qq.Key = fmt.Sprintf("01a2-%d", i)
		cs, err := tab.Plan(qq)
		if err != nil || len(cs) != 3 || cs[2].Carrier != "cloud" {
			t.Fatalf("Plan = %v, %v", cs, err)
		}
		first[cs[0].Carrier]++
		again, _ := tab.Plan(qq)
		if again[0] != cs[0] {
			t.Fatalf("the same message got %s then %s", cs[0].Carrier, again[0].Carrier)
		}
	}
	share := float64(first["a"]) / n
	if share < 0.73 || share > 0.77 {
		t.Fatalf("carrier a first for %.3f of messages, want 0.75 ± 0.02", share)
	}
}

func TestFilters(t *testing.T) {
	tab := tableFromYAML(t, `
- {prefix: "+254", carrier: night, cost: 0.1, hours: "22:00-06:00", timezone: Africa/Nairobi}
- {prefix: "+254", carrier: mfi-only, cost: 0.2, tenants: [mfi]}
- {prefix: "+254", carrier: shortcode, cost: 0.3, senders: ["22555"]}
- {prefix: "+254", carrier: any, cost: 0.9}
`)
	// 12:00 UTC is 15:00 in Nairobi: the night route is out.
	cs, err := tab.Plan(q("+254712345678"))
	if got := carriers(t, cs, err); got != "mfi-only,any" {
		t.Errorf("noon, tenant mfi, sender MFI: %s", got)
	}
	night := q("+254712345678")
	night.At = time.Date(2026, 11, 26, 20, 30, 0, 0, time.UTC) // 23:30 in Nairobi
	night.Tenant, night.From = "other", "22555"
	cs, err = tab.Plan(night)
	if got := carriers(t, cs, err); got != "night,shortcode,any" {
		t.Errorf("night, tenant other, sender 22555: %s", got)
	}
}

func TestNoRouteIsPermanentOnlyWhenFiltersExcludeAll(t *testing.T) {
	tab := tableFromYAML(t, `
- {prefix: "+254", carrier: a, cost: 1, tenants: [mfi]}
- {prefix: "+255", carrier: b, cost: 1, hours: "00:00-00:01"}
`)
	if _, err := tab.Plan(q("+15551234567")); !errors.Is(err, gateway.ErrNoRoute) {
		t.Errorf("unmatched prefix: %v, want ErrNoRoute", err)
	}
	other := q("+254712345678")
	other.Tenant = "other"
	if _, err := tab.Plan(other); !errors.Is(err, gateway.ErrNoRoute) {
		t.Errorf("tenant filtered out: %v, want ErrNoRoute", err)
	}
	// Outside its hours a route comes back later: wait, do not fail.
	if cs, err := tab.Plan(q("+255712345678")); err != nil || len(cs) != 0 {
		t.Errorf("outside hours: %v, %v; want no candidate and no error", cs, err)
	}
}

func TestNewTableReportsEveryError(t *testing.T) {
	_, err := NewTable([]Route{
		{Prefix: "254", Carrier: "a", Cost: 1},
		{Prefix: "+25x", Carrier: "", Cost: -1, Currency: "KENYA", Weight: -1},
		{Prefix: "+1", Carrier: "b", Hours: "9-17"},
		{Prefix: "+1", Carrier: "c", Hours: "09:00-17:00", Timezone: "Mars/Olympus"},
		{Prefix: "+1", Carrier: "d", Timezone: "UTC"},
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
		`routes[1].weight: must be ≥ 0`,
		`routes[2].hours: "9" is not HH:MM`,
		`routes[3].timezone: "Mars/Olympus" is not a known IANA zone`,
		`routes[4].timezone: set without hours`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// golden compares got with testdata/NAME.golden (go test -update rewrites).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

const explainTable = `
- {prefix: "+", carrier: twilio, cost: 4.5, currency: KES}
- {prefix: "+2547", carrier: safaricom, cost: 0.8, currency: KES}
- {prefix: "+2547", carrier: airtel, cost: 0.6, currency: KES, tenants: [other-mfi]}
- {prefix: "+2547", carrier: backup, cost: 0.8, currency: KES, priority: -1}
- {prefix: "+254", carrier: safaricom, cost: 1.0, currency: KES}
`

func TestExplainOfflineGolden(t *testing.T) {
	tab := tableFromYAML(t, explainTable)
	golden(t, "explain_offline", tab.Explain(q("+254712345678"))+tab.Explain(q("+15551234567")))
}

func BenchmarkRoute(b *testing.B) {
	// 10,000 prefixes over a national plan (+2547xxxx) plus a catch-all.
	var src strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&src, "- {prefix: \"+2547%04d\", carrier: c%d, cost: %g}\n", i, i%7, float64(i%5)/10)
	}
	src.WriteString("- {prefix: \"+\", carrier: cloud, cost: 3}\n")
	tab := tableFromYAML(b, src.String())
	qq := q("+254712345678")
	b.ReportAllocs()
	for b.Loop() {
		if cs, err := tab.Plan(qq); err != nil || len(cs) != 2 {
			b.Fatal(cs, err)
		}
	}
}
