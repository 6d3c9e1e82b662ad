package fineract_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/smstext"
)

// TestEndToEnd: a real gateway bound to the SMSC simulator, the adapter
// built from a config file following its stream, the fake Fineract behind
// it. A client texts BAL; the answer reaches the simulator as a submit_sm
// from the shortcode to the client. A second adapter reading the same
// events from the start answers again, and the gateway sends nothing twice.
func TestEndToEnd(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	gw := apptest.Start(t, shortcodeConfig(t, sim.Addr()))
	_, fin := fakeFineract(t)

	cfg, err := fineract.ParseConfig(fmt.Appendf(nil, `
gateway: {addr: %q}
tenants:
  - name: mfi-a
    api_key_env: TEST_SMSGW_KEY
    region: KE
    cursor: fineract-e2e
    keywords: {balance: [SALDO]}
    fineract:
      url: %s/fineract-provider/api
      username: mifos
      password: password
      timeout: 5s
`, gw.GRPCAddr(), fin.URL), func(name string) string {
		if name == "TEST_SMSGW_KEY" {
			return apptest.KeyA
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, tc fineract.TenantConfig) *prometheus.Registry {
		cl, err := client.Dial(cfg.Gateway.Addr, tc.APIKey)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		reg := prometheus.NewRegistry()
		a, err := fineract.NewTenantAdapter(tc, pb.NewMessagingClient(cl.Conn()), fineract.NewMetrics(reg), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return reg
	}
	run(t, cfg.Tenants[0])

	testutil.Eventually(t, 10*time.Second, func() error { return sim.SendMO("+254712345678", "22555", "Saldo") })
	const want = "Dear Jane, savings balance: Passbook Savings *0001: KES 1,234.50."
	var sub smsc.Submit
	testutil.Eventually(t, 10*time.Second, func() error {
		subs := sim.Submits()
		if len(subs) != 1 {
			return fmt.Errorf("%d submits", len(subs))
		}
		sub = subs[0]
		return nil
	})
	text, err := smstext.DecodeGSM7(sub.ShortMessage)
	if err != nil || sub.DataCoding != 0 || text != want {
		t.Fatalf("submitted %q (data_coding %d, %v), want %q", sub.ShortMessage, sub.DataCoding, err, want)
	}
	if sub.Source != "22555" || sub.Dest != "254712345678" {
		t.Fatalf("reply went from %s to %s, want from the shortcode 22555 to 254712345678", sub.Source, sub.Dest)
	}

	// The same event handled again (a second cursor starts at the oldest
	// event) is answered with the same client_ref: no second SMS.
	again := cfg.Tenants[0]
	again.Cursor = "fineract-e2e-again"
	reg := run(t, again)
	testutil.Eventually(t, 10*time.Second, func() error {
		if v, _ := counter(t, reg, "smsgw_fineract_inbound_events_total", map[string]string{"action": "replied"}); v != 1 {
			return fmt.Errorf("second adapter replied %v times", v)
		}
		return nil
	})
	if n := len(sim.Submits()); n != 1 {
		t.Fatalf("%d submits after the event was handled twice, want 1", n)
	}
}

// shortcodeConfig is apptest's config with the shortcode 22555 given to
// tenant A, so an MO to it is tenant A's whether the gateway picks the
// tenant by carrier or by the number written to.
func shortcodeConfig(t *testing.T, simAddr string) *config.Config {
	t.Helper()
	cfg := apptest.Config(t, simAddr, t.TempDir())
	cfg.Tenants[0].Senders = append(cfg.Tenants[0].Senders, "22555")
	cfg.Tenants[1].Senders = nil
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}
