package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
)

// loopSection is the config section of a fake carrier kind, "loop": it
// owns its YAML shape and its validation, as a connector package does.
type loopSection struct {
	Window int    `yaml:"window"`
	Prefix string `yaml:"id_prefix"`
}

func (s *loopSection) Validate() []error {
	if s.Window < 1 {
		return []error{errors.New("window: must be ≥ 1")}
	}
	return nil
}

// loop is its connector: it takes every part and numbers it.
type loop struct {
	name string
	cfg  loopSection
	n    atomic.Int64
}

func (l *loop) Name() string             { return l.name }
func (l *loop) Start(gateway.Sink) error { return nil }
func (l *loop) Up() bool                 { return true }
func (l *loop) Window() int              { return l.cfg.Window }
func (l *loop) Stop(context.Context) error {
	return nil
}

func (l *loop) Submit(_ context.Context, _ *gateway.Message, parts []int) []gateway.PartResult {
	out := make([]gateway.PartResult, len(parts))
	for i, p := range parts {
		out[i] = gateway.PartResult{Index: p, CarrierID: fmt.Sprintf("%s%d", l.cfg.Prefix, l.n.Add(1))}
	}
	return out
}

// TestFakeConnectorKind adds a carrier kind with nothing but this test and
// one entry in the list of kinds: the file names it, the loader decodes and
// validates its section, the gateway builds it, sends through it and
// reports its kind; an unknown kind fails loudly, naming the known ones.
func TestFakeConnectorKind(t *testing.T) {
	kinds := append(slices.Clone(app.ConnectorKinds), app.Kind("loop",
		func(name string, c *loopSection, _ app.ConnectorEnv) (gateway.Connector, error) {
			return &loop{name: name, cfg: *c}, nil
		}))
	file := func(section string) string {
		p := filepath.Join(t.TempDir(), "smsgw.yaml")
		body := fmt.Sprintf(`
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
store: {driver: sqlite, path: %s}
tenants: [{id: mfi, api_keys: ["loop-key-0001"], default_region: KE, sender: MFI}]
carriers: [{name: lo, %s}]
routes: [{prefix: "+", carrier: lo, cost: 0.1, currency: KES}]
`, filepath.Join(filepath.Dir(p), "smsgw.db"), section)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	if _, err := config.Load(file("loop: {window: 0}"), app.Kinds(kinds)); err == nil || !strings.Contains(err.Error(), "carriers[0].loop.window: must be ≥ 1") {
		t.Errorf("invalid loop section: %v", err)
	}
	if _, err := config.Load(file("loop: {window: 4, colour: red}"), app.Kinds(kinds)); err == nil || !strings.Contains(err.Error(), ".loop.colour: not a known key") {
		t.Errorf("unknown key in the loop section: %v", err)
	}
	if _, err := app.LoadConfig(file("loop: {window: 4}")); err == nil ||
		!strings.Contains(err.Error(), "carriers[0].loop: unknown carrier kind (known: smpp, twilio, vonage, africastalking)") {
		t.Errorf("a kind not registered: %v", err)
	}

	cfg, err := config.Load(file("loop: {window: 4, id_prefix: L-}"), app.Kinds(kinds))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{ConnectorKinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Stop(ctx)
	})
	out, err := a.Engine().Accept(t.Context(), "mfi", []gateway.SendRequest{{To: "+254712345678", Text: "through the loop"}})
	if err != nil || out[0].Err != nil {
		t.Fatal(err, out)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		m, err := a.Engine().Get(t.Context(), "mfi", out[0].ID)
		if err != nil || m.Status != gateway.StatusSubmitted || m.Parts[0].CarrierID != "L-1" {
			return fmt.Errorf("message %+v %v, want SUBMITTED with carrier id L-1", m, err)
		}
		return nil
	})
	if cs := a.Carriers(); len(cs) != 1 || cs[0].Kind != "loop" || !cs[0].Up {
		t.Errorf("Carriers() = %+v, want the loop carrier, up", cs)
	}
}
