package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	r := &Report{Name: "unit", Description: "a <test> & more", Run: "abc123", Started: time.Now(), Machine: thisMachine(),
		LoadSummary: "grpc at 10 msg/s", Sent: 20, Accepted: 20, Delivered: 20, Ledger: true,
		Accept: Latency{Count: 20, P50: 1, P95: 2, P99: 3, Max: 4}, Gateway: Process{Measured: true, CPUSeconds: 1, RSSMaxMiB: 50},
		Marks: []Mark{{T: 1, What: "alpha down"}}, Errors: map[string]int64{"Unavailable: <busy>": 2}}
	for i := range 5 {
		r.Series = append(r.Series, Sample{T: float64(i + 1), Accepted: int64(10 * i), AcceptP99: float64(i), CPUPercent: 50, RSSMiB: 40})
	}
	return r
}

func TestReportHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("%d plots, want 4 (throughput, accept, end to end, process)", n)
	}
	for _, banned := range []string{"<script", "src=", "<link", "@import", "a <test>", "<busy>"} {
		if strings.Contains(page, banned) {
			t.Errorf("page contains %q: not self-contained or not escaped", banned)
		}
	}
	for _, want := range []string{"alpha down", "polyline", "a &lt;test&gt; &amp; more"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestReportJSONAndSummary(t *testing.T) {
	r := sampleReport()
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteFile(path, (*Report).WriteJSON); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Accepted != 20 || back.Accept.P99 != 3 || len(back.Series) != 5 || back.Machine.GoVersion == "" {
		t.Errorf("round trip lost figures: %+v", back)
	}
	var s bytes.Buffer
	if err := r.WriteSummary(&s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accepted 20", "lost 0, duplicated 0", "p99 3.00ms", "2× Unavailable"} {
		if !strings.Contains(s.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, s.String())
		}
	}
}

func TestParseProcess(t *testing.T) {
	text := "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n" +
		"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n" +
		"process_resident_memory_bytes 1.048576e+08\nsmsgw_gateway_accepted_total{tenant=\"a\"} 3\n"
	p, err := parseProcess(strings.NewReader(text))
	if err != nil || p.cpuSeconds != 12.5 || p.rssBytes != 104857600 {
		t.Errorf("parsed %+v, %v", p, err)
	}
	if _, err := parseProcess(strings.NewReader("go_goroutines 3\n")); err == nil {
		t.Error("no process metrics, no error")
	}
}

// TestScenarioFiles parses every shipped scenario strictly, so a typo in
// one fails here rather than at a NOC.
func TestScenarioFiles(t *testing.T) {
	files, err := filepath.Glob("scenarios/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		sc, err := LoadScenario(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		names[sc.Name] = true
	}
	for _, want := range []string{"smoke", "steady", "max", "outage", "throttle"} {
		if !names[want] {
			t.Errorf("no %s scenario in bench/scenarios", want)
		}
	}
	for _, bad := range []string{
		"carriers: [{name: a}]\nload: {count: 1, clientz: 2}\n",                       // unknown key
		"carriers: [{name: a}]\nload: {driver: smtp, count: 1}\n",                     // unknown driver
		"carriers: [{name: a}]\nload: {}\n",                                           // no end
		"carriers: [{name: a}]\nload: {count: 1}\ntimeline: [{at: 1s, carrier: b}]\n", // unknown carrier
	} {
		if _, err := ParseScenario(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}

// TestShortRunReport: a sub-second run is sampled finer, its axis labels
// are rounded, and a run too short for two samples says so instead of
// drawing empty charts.
func TestShortRunReport(t *testing.T) {
	if got := sampleEvery(600 * time.Millisecond); got != 60*time.Millisecond {
		t.Errorf("sampleEvery(600ms) = %s, want 60ms", got)
	}
	if got := sampleEvery(100 * time.Millisecond); got != 50*time.Millisecond {
		t.Errorf("sampleEvery(100ms) = %s, want the 50ms floor", got)
	}
	if got := sampleEvery(time.Minute); got != time.Second {
		t.Errorf("sampleEvery(1m) = %s, want 1s", got)
	}
	r := sampleReport()
	r.Series = nil
	for i := range 10 {
		r.Series = append(r.Series, Sample{T: 0.06 * float64(i+1), Accepted: 100})
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{">0.1s<", ">0.6s<", "Load as run: grpc at 10 msg/s"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "00000") {
		t.Error("an axis label carries float noise")
	}
	r.Series = r.Series[:1]
	b.Reset()
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if page := b.String(); strings.Contains(page, "<svg") || !strings.Contains(page, "too short to chart (1 sample)") {
		t.Errorf("a one-sample run: %d plots", strings.Count(page, "<svg"))
	}
}

// TestOverrideInHeader: a run's --rate and --duration replace the
// scenario's, and the description no longer passes the scenario's figures
// off as the run's.
func TestOverrideInHeader(t *testing.T) {
	sc := &Scenario{Description: "gRPC Send at 1,000 msg/s for 40 s.", Load: LoadSpec{Rate: 1000, Duration: 40 * time.Second}}
	sc.Apply(Override{Duration: 500 * time.Millisecond, Rate: 200})
	if sc.Load.Rate != 200 || sc.Load.Duration != 500*time.Millisecond {
		t.Errorf("load %+v", sc.Load)
	}
	want := "Scenario as written: gRPC Send at 1,000 msg/s for 40 s. This run overrode its duration 500ms, rate 200 msg/s."
	if sc.Description != want {
		t.Errorf("description %q, want %q", sc.Description, want)
	}
	same := &Scenario{Description: "d", Load: LoadSpec{Rate: 5}}
	same.Apply(Override{Rate: -1})
	if same.Description != "d" || same.Load.Rate != 5 {
		t.Errorf("no override changed %+v", same)
	}
}
