package buildinfo

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	// A second gateway on the same registry keeps the first gauge.
	if err := Register(reg); err != nil {
		t.Fatalf("second Register: %v", err)
	}
	i := Get()
	want := `# HELP smsgw_build_info Always 1; the labels say which smsgw build is running.
# TYPE smsgw_build_info gauge
smsgw_build_info{go_version="` + i.GoVersion + `",revision="` + i.Revision + `",version="` + i.Version + `"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "smsgw_build_info"); err != nil {
		t.Error(err)
	}
	if !strings.HasPrefix(i.String(), "smsgw "+i.Version+" (revision ") {
		t.Errorf("String() = %q", i.String())
	}
}
