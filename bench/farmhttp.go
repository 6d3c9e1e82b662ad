package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Handler serves the farm's counters to a load generator in another
// process: GET /stats lists the carriers, GET /runs/{run} the ledger of one
// run (sequence number → copies accepted), so `smsbench load --farm URL`
// counts lost and duplicated messages as a scenario does.
func (f *Farm) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.Stats())
	})
	mux.HandleFunc("GET /runs/{run}", func(w http.ResponseWriter, r *http.Request) {
		counts := f.ledger.RunCounts(r.PathValue("run"))
		out := make(map[string]int32, len(counts))
		for seq, n := range counts {
			out[strconv.FormatUint(seq, 10)] = n
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}

// fetchRunCounts reads one run's ledger from a farm's Handler.
func fetchRunCounts(ctx context.Context, base, run string) (map[uint64]int32, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/runs/"+run, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: farm: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: farm: %s", resp.Status)
	}
	var raw map[string]int32
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return nil, fmt.Errorf("bench: farm: %w", err)
	}
	out := make(map[uint64]int32, len(raw))
	for k, n := range raw {
		seq, err := strconv.ParseUint(k, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bench: farm: sequence number %q", k)
		}
		out[seq] = n
	}
	return out, nil
}

// LoadCarriers reads the carriers of a farm from a YAML file with a
// `carriers:` list: a scenario file or a file of carriers alone. Other
// top-level keys are ignored; unknown keys inside a carrier are errors.
func LoadCarriers(path string) ([]CarrierSpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	return parseCarriers(f, path)
}

func parseCarriers(r io.Reader, name string) ([]CarrierSpec, error) {
	var doc struct {
		Carriers []CarrierSpec  `yaml:"carriers"`
		Rest     map[string]any `yaml:",inline"`
	}
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	if len(doc.Carriers) == 0 {
		return nil, fmt.Errorf("bench: %s: no carriers", name)
	}
	return doc.Carriers, nil
}
