package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// snapshot is the overview's state at one moment: what the live stream
// sends each tick and what the page is first drawn with. Rates are per
// second since the previous snapshot of the same stream.
type snapshot struct {
	At        int64              `json:"at"` // Unix milliseconds
	Totals    map[string]float64 `json:"totals"`
	Rates     map[string]float64 `json:"rates"`
	Queue     float64            `json:"queue"`
	Delivery  float64            `json:"delivery"`   // share of final receipts that say delivered, since start; -1: none yet
	LatencyMS float64            `json:"latency_ms"` // mean accept-to-submitted, since start; -1: none yet
	BindsUp   int                `json:"binds_up"`
	BindsDown int                `json:"binds_down"`
	Carriers  []carrierLive      `json:"carriers"`
	Failures  []reason           `json:"failures"`
}

// carrierLive is one carrier on the overview.
type carrierLive struct {
	Name    string `json:"name"`
	Up      bool   `json:"up"`
	Paused  bool   `json:"paused"`
	BindsUp int    `json:"binds_up"`
	Binds   int    `json:"binds"`
	Breaker string `json:"breaker"`
	// DownFor is how long the carrier has been down (unbound or paused),
	// in whole seconds; 0 while up.
	DownFor int64 `json:"down_for"`
}

// reason is one kind of failure and how often it happened since start.
type reason struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// The series the overview draws.
var series = []string{"accepted", "submitted", "delivered", "failed"}

// sample reads the gateway's own counters (the registry /metrics shows)
// and carriers now. prev, when given, is the previous snapshot the rates
// are computed from.
func (c *Console) sample(prev *snapshot) *snapshot {
	s := &snapshot{At: c.opts.Now().UnixMilli(), Totals: map[string]float64{}, Rates: map[string]float64{}, Delivery: -1, LatencyMS: -1}
	reasons := map[string]float64{}
	var finalReceipts float64
	if mfs, err := c.opts.Gatherer.Gather(); err == nil {
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				l := labels(m)
				v := m.GetCounter().GetValue()
				switch mf.GetName() {
				case "smsgw_gateway_accepted_total":
					s.Totals["accepted"] += v
				case "smsgw_gateway_submitted_parts_total":
					s.Totals["submitted"] += v
				case "smsgw_gateway_receipts_total":
					switch st := l["status"]; st {
					case "DELIVERED":
						s.Totals["delivered"] += v
						finalReceipts += v
					case "intermediate", "ACCEPTED", "SUBMITTED":
					default:
						s.Totals["failed"] += v
						finalReceipts += v
						reasons[fmt.Sprintf("%s: receipt %s", l["carrier"], st)] += v
					}
				case "smsgw_gateway_ended_unsent_total":
					s.Totals["failed"] += v
					reasons["ended unsent: "+l["status"]] += v
				case "smsgw_gateway_submit_failures_total":
					reasons[fmt.Sprintf("%s: submit failed (%s)", l["carrier"], l["decision"])] += v
				case "smsgw_gateway_queue_depth":
					s.Queue = m.GetGauge().GetValue()
				case "smsgw_gateway_submit_latency_seconds":
					if h := m.GetHistogram(); h.GetSampleCount() > 0 {
						s.LatencyMS = 1000 * h.GetSampleSum() / float64(h.GetSampleCount())
					}
				}
			}
		}
	}
	if finalReceipts > 0 {
		s.Delivery = s.Totals["delivered"] / finalReceipts
	}
	for r, n := range reasons {
		if n > 0 {
			s.Failures = append(s.Failures, reason{r, int(n)})
		}
	}
	slices.SortFunc(s.Failures, byCount)
	s.Failures = s.Failures[:min(len(s.Failures), 8)]
	for _, cs := range c.opts.Gateway.Carriers() {
		cl := carrierLive{Name: cs.Name, Up: cs.Up, Paused: c.opts.Engine.CarrierPaused(cs.Name), BindsUp: cs.BindsUp, Binds: cs.Binds, Breaker: cs.Breaker}
		if since := c.opts.Engine.CarrierDownSince(cs.Name); !since.IsZero() {
			cl.DownFor = int64(c.opts.Now().Sub(since).Seconds())
		}
		if cl.Binds == 0 { // a cloud provider: one client, up or not
			cl.Binds = 1
			if cs.Up {
				cl.BindsUp = 1
			}
		}
		s.BindsUp += cl.BindsUp
		s.BindsDown += cl.Binds - cl.BindsUp
		s.Carriers = append(s.Carriers, cl)
	}
	if prev != nil {
		if dt := float64(s.At-prev.At) / 1000; dt > 0 {
			for _, k := range series {
				s.Rates[k] = max(0, s.Totals[k]-prev.Totals[k]) / dt
			}
		}
	}
	return s
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// live streams a snapshot every tick as server-sent events, until the
// browser goes, the session ends or the console stops.
func (c *Console) live(w http.ResponseWriter, r *http.Request, ss *session) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // nginx in front: do not hold events back
	tick := time.NewTicker(c.opts.Tick)
	defer tick.Stop()
	var prev *snapshot
	for {
		s := c.sample(prev)
		prev = s
		b, err := json.Marshal(s)
		if err != nil {
			return
		}
		// The listener's write timeout bounds a whole answer; a stream
		// pushes it along with each event instead.
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case <-tick.C:
		}
		if !c.sessions.alive(ss) {
			return
		}
	}
}
