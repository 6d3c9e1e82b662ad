package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Report is everything one run measured. It is written as a text summary,
// as JSON (to compare runs and fill bench/RESULTS.md) and as HTML.
type Report struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Run         string    `json:"run_id"` // the token run id, to find the messages
	Started     time.Time `json:"started"`
	Machine     Machine   `json:"machine"`
	Load        LoadSpec  `json:"-"`
	LoadSummary string    `json:"load"` // the traffic in one line

	LoadSeconds  float64 `json:"load_seconds"`  // first send to last answer
	TotalSeconds float64 `json:"total_seconds"` // load and drain

	Sent     int64 `json:"sent"`     // messages tried
	Accepted int64 `json:"accepted"` // given an id (or 202 by sendsms)
	Refused  int64 `json:"refused"`  // calls that failed or items refused
	Parts    int64 `json:"parts"`    // SMS parts of the accepted messages (gRPC only)

	Submitted   int64            `json:"submitted"`   // reached a carrier (see SubmitSource)
	Delivered   int64            `json:"delivered"`   // DELIVERED event seen (events only)
	Undelivered int64            `json:"undelivered"` // another final status (events only)
	Unfinished  int64            `json:"unfinished"`  // no final status when the drain ended (events only)
	Final       map[string]int64 `json:"final_statuses,omitempty"`

	// Lost and Duplicated are counted at the simulated carriers (Ledger
	// true): accepted messages no carrier took, and messages a carrier took
	// more than once (ExtraCopies in all). Only the first part carries the
	// token, so a duplicated later part is not counted.
	Ledger      bool  `json:"ledger"`
	Lost        int64 `json:"lost"`
	Duplicated  int64 `json:"duplicated"`
	ExtraCopies int64 `json:"extra_copies"`

	AcceptedPerSec  float64 `json:"accepted_per_sec"`
	SubmittedPerSec float64 `json:"submitted_per_sec"`
	ReceiptsPerSec  float64 `json:"receipts_per_sec"`

	// Accept is the call's latency; Submit runs from the call to the
	// carrier (SubmitSource "carrier": the first part's submit_sm at the
	// simulator) or to the SUBMITTED event ("events"); EndToEnd from the
	// call to the final status that a receipt brought.
	Accept       Latency `json:"accept_latency"`
	Submit       Latency `json:"submit_latency"`
	SubmitSource string  `json:"submit_source"`
	EndToEnd     Latency `json:"end_to_end_latency"`

	// DLR is what the run's dlr-url was called with (kannel with
	// dlr_mask); nil when no report was asked.
	DLR *DLRCalls `json:"dlr,omitempty"`

	Gateway  Process          `json:"gateway"`
	Carriers []CarrierStats   `json:"carriers,omitempty"`
	Marks    []Mark           `json:"marks,omitempty"`
	Errors   map[string]int64 `json:"errors,omitempty"`
	Series   []Sample         `json:"series"`
}

// Machine names where the figures were made, as RESULTS.md wants.
type Machine struct {
	GoVersion string `json:"go"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
}

func thisMachine() Machine {
	m := Machine{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// DLRCalls counts the calls of a run's dlr-url. Kannel calls it once per
// report type the mask asks for, so Repeated (a second final report for a
// message) should be 0; a crash's retry is the only excuse.
type DLRCalls struct {
	Mask     int   `json:"mask"`
	Calls    int64 `json:"calls"`    // every call, whatever its type
	Finals   int64 `json:"finals"`   // messages given a final report (1, 2 or 16)
	Repeated int64 `json:"repeated"` // final reports beyond a message's first
	Unknown  int64 `json:"unknown"`  // calls naming no message of the run, or no known type
}

// Process is the gateway's resource use over the run. InProcess says the
// gateway shared its process with the farm and the load generator, whose
// CPU and memory are then included.
type Process struct {
	Measured   bool    `json:"measured"`
	InProcess  bool    `json:"in_process"`
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"` // average, 100 = one core
	RSSMaxMiB  float64 `json:"rss_max_mib"`
	RSSEndMiB  float64 `json:"rss_end_mib"`
}

// Sample is one second of the run, for the plots.
type Sample struct {
	T          float64 `json:"t"` // seconds since the load started
	Accepted   int64   `json:"accepted"`
	Submitted  int64   `json:"submitted"`
	Receipts   int64   `json:"receipts"`
	AcceptP50  float64 `json:"accept_p50_ms"`
	AcceptP99  float64 `json:"accept_p99_ms"`
	EndP50     float64 `json:"e2e_p50_ms"`
	EndP99     float64 `json:"e2e_p99_ms"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSMiB     float64 `json:"rss_mib"`
}

// Mark is a scripted event of a scenario (a carrier going down), drawn on
// the plots.
type Mark struct {
	T    float64 `json:"t"`
	What string  `json:"what"`
}

// WriteJSON writes the report, indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteSummary writes the report as the few lines a developer reads after
// `make bench`.
func (r *Report) WriteSummary(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("%s: %s\n", r.Name, r.LoadSummary)
	p("  machine      %s %s/%s, %d CPUs", r.Machine.GoVersion, r.Machine.OS, r.Machine.Arch, r.Machine.CPUs)
	if r.Machine.CPUModel != "" {
		p(" (%s)", r.Machine.CPUModel)
	}
	p("\n")
	p("  messages     sent %d, accepted %d, refused %d", r.Sent, r.Accepted, r.Refused)
	if r.Parts > 0 {
		p(", %d parts", r.Parts)
	}
	p("\n")
	p("  outcome      submitted %d, delivered %d, undelivered %d, unfinished %d\n", r.Submitted, r.Delivered, r.Undelivered, r.Unfinished)
	if r.Ledger {
		p("  at carriers  lost %d, duplicated %d (%d extra copies)\n", r.Lost, r.Duplicated, r.ExtraCopies)
	} else {
		p("  at carriers  not counted (the carriers are not in this process)\n")
	}
	p("  throughput   accepted %.0f/s, submitted %.0f/s, receipts %.0f/s (load %.1fs, total %.1fs)\n",
		r.AcceptedPerSec, r.SubmittedPerSec, r.ReceiptsPerSec, r.LoadSeconds, r.TotalSeconds)
	lat := func(name string, l Latency) {
		if l.Count == 0 {
			p("  %-12s -\n", name)
			return
		}
		p("  %-12s p50 %s  p95 %s  p99 %s  max %s  (n=%d)\n", name, fmtMS(l.P50), fmtMS(l.P95), fmtMS(l.P99), fmtMS(l.Max), l.Count)
	}
	if d := r.DLR; d != nil {
		p("  dlr-url      mask %d: %d calls, %d messages with a final report, %d repeated, %d unknown\n", d.Mask, d.Calls, d.Finals, d.Repeated, d.Unknown)
	}
	lat("accept", r.Accept)
	lat("submit", r.Submit)
	lat("end to end", r.EndToEnd)
	if g := r.Gateway; g.Measured {
		where := "gateway"
		if g.InProcess {
			where = "process"
		}
		p("  %-12s cpu %.1fs (%.0f%% of a core", where, g.CPUSeconds, g.CPUPercent)
		if r.Accepted > 0 {
			p(", %.0f µs a message", g.CPUSeconds/float64(r.Accepted)*1e6)
		}
		p("), rss max %.0f MiB, end %.0f MiB\n", g.RSSMaxMiB, g.RSSEndMiB)
	}
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p("  error        %d× %s\n", r.Errors[k], k)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtMS(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}

// WriteFile writes the report to path with write (WriteJSON or WriteHTML).
func (r *Report) WriteFile(path string, write func(*Report, io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(r, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
