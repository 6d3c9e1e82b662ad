package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.yaml.in/yaml/v3"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/smpp/smsc"
)

// The files operators load into Prometheus and Grafana.
const (
	alertsFile    = "../deploy/prometheus/alerts.yaml"
	dashboardFile = "../deploy/grafana/smsgw-dashboard.json"
)

// metricName finds the names a PromQL expression may refer to that a
// gateway exports (its own, and the Go and process collectors').
var metricName = regexp.MustCompile(`\b(?:smsgw|process|go)_[a-zA-Z0-9_:]+`)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// alertExprs parses the rules file strictly (Prometheus rejects unknown
// keys too) and returns every alert's expression by name.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			switch {
			case r.Alert == "" || r.Expr == "":
				t.Errorf("group %s: a rule without alert or expr", g.Name)
			case out[r.Alert] != "":
				t.Errorf("alert %s defined twice", r.Alert)
			case r.Labels["severity"] == "" || r.Annotations["summary"] == "":
				t.Errorf("alert %s: severity label and summary annotation are required", r.Alert)
			}
			if _, err := time.ParseDuration(r.For); r.For != "" && err != nil {
				t.Errorf("alert %s: for: %v", r.Alert, err)
			}
			out[r.Alert] = r.Expr
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no alert", alertsFile)
	}
	return out
}

// dashboardExprs returns every query of the dashboard: panel targets and
// template variables.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			title, _ := v["title"].(string)
			for k, c := range v {
				if s, ok := c.(string); ok && (k == "expr" || k == "definition") {
					out[path+" "+k] = s
				}
				walk(path+"/"+title+"."+k, c)
			}
		case []any:
			for _, c := range v {
				walk(path, c)
			}
		}
	}
	walk("", doc)
	if len(out) == 0 {
		t.Fatalf("%s holds no query", dashboardFile)
	}
	return out
}

// registered says whether reg has a metric family called name: registering
// a probe under the same name fails exactly when one exists, whether or not
// it has been observed yet (an untouched CounterVec gathers nothing).
func registered(reg *prometheus.Registry, name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "smsbench probe for an existing metric name"})
	if err := reg.Register(probe); err != nil {
		return true
	}
	reg.Unregister(probe)
	return false
}

// TestDeployMetricsExist starts a real gateway and checks that every metric
// the alert rules and the dashboard query is one it registers, so a renamed
// metric breaks this test instead of silently emptying a NOC's panel.
func TestDeployMetricsExist(t *testing.T) {
	alerts, dash := alertExprs(t), dashboardExprs(t)

	sim := smsc.NewServer(smsc.WithoutRecording())
	defer sim.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	apptest.StartWith(t, apptest.Config(t, sim.Addr(), t.TempDir()), app.Options{Registry: reg})

	if registered(reg, "smsgw_bench_no_such_metric_total") {
		t.Fatal("the probe finds a metric that does not exist")
	}
	exists := func(name string) bool {
		if registered(reg, name) {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && registered(reg, base) {
				return true
			}
		}
		return false
	}
	for _, src := range []struct {
		file  string
		exprs map[string]string
	}{{alertsFile, alerts}, {dashboardFile, dash}} {
		var used []string
		for where, expr := range src.exprs {
			for _, name := range metricName.FindAllString(expr, -1) {
				used = append(used, name)
				if !exists(name) {
					t.Errorf("%s: %s uses %s, which the gateway does not register", src.file, where, name)
				}
			}
		}
		if len(used) == 0 {
			t.Errorf("%s: no smsgw metric found in its queries", src.file)
		}
		slices.Sort(used)
		t.Logf("%s: %d metric references, %d distinct", src.file, len(used), len(slices.Compact(used)))
	}
}
