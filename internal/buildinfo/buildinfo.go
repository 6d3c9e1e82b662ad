// Package buildinfo says which smsgw is running: the version an operator
// quotes when upgrading or reporting a bug, in `smsgw version`, in the
// start-up log line and as the smsgw_build_info metric.
package buildinfo

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Version and Revision are stamped by `make build` with
// -ldflags "-X github.com/openmf/smsgw/internal/buildinfo.Version=…"; a plain
// `go build` leaves "dev" and takes the revision from Go's VCS stamp when
// there is one.
var (
	Version  = "dev"
	Revision = ""
)

// Info is what was built, from what, with which Go.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// Get reads the stamped values and the binary's own build information.
func Get() Info {
	i := Info{Version: Version, Revision: Revision, GoVersion: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	i.GoVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if i.Revision == "" {
				i.Revision = s.Value
			}
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	if i.Revision == "" {
		i.Revision = "unknown"
	}
	return i
}

// String is the one line `smsgw version` prints.
func (i Info) String() string {
	rev := i.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if i.Modified {
		rev += "-modified"
	}
	return fmt.Sprintf("smsgw %s (revision %s, %s)", i.Version, rev, i.GoVersion)
}

// Register adds smsgw_build_info{version,revision,go_version} = 1 to reg, so
// a dashboard shows which build each node runs. A registry that has it
// already (two gateways of a test sharing one) keeps the first.
func Register(reg prometheus.Registerer) error {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "smsgw_build_info",
		Help:        "Always 1; the labels say which smsgw build is running.",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.Revision, "go_version": i.GoVersion},
	})
	g.Set(1)
	if err := reg.Register(g); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return err
	}
	return nil
}
