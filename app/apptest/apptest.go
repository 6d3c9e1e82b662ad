// Package apptest starts real gateways for tests and benchmarks: ephemeral
// loopback ports, a store in a temporary directory, bound to an SMSC
// simulator. It exists so every end-to-end test builds its gateway one way.
package apptest

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/routing"
	"github.com/openmf/smsgw/smpp"
)

// Tenants of the test config and their API keys. Tenant B has another
// default region (TZ) and one extra sender id.
const (
	KeyA = "tenant-a-key-0001"
	KeyB = "tenant-b-key-0002"
	// AdminKey opens the Admin service.
	AdminKey = "admin-key-0123456789"
)

// Config is a complete, valid gateway config on 127.0.0.1:0 with its store
// under dir and one carrier, "sim", bound to the simulator at simAddr.
func Config(tb testing.TB, simAddr, dir string) *config.Config {
	tb.Helper()
	host, p, err := net.SplitHostPort(simAddr)
	if err != nil {
		tb.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	cfg := &config.Config{
		Listen: config.Listen{GRPC: "127.0.0.1:0", HTTP: "127.0.0.1:0"},
		Store:  store.Config{Driver: "sqlite", Path: filepath.Join(dir, "smsgw.db")},
		Tenants: []config.Tenant{
			{ID: "mfi-a", APIKeys: []string{KeyA}, DefaultRegion: "KE", Sender: "MFI-A"},
			{ID: "mfi-b", APIKeys: []string{KeyB}, DefaultRegion: "TZ", Sender: "MFI-B", Senders: []string{"22555"}},
		},
		Carriers: []config.Carrier{{Name: "sim", Kind: "smpp", Section: &smpp.Config{
			Host: host, Port: port, SystemID: "mfi", Password: "secret", Bind: "transceiver",
			Binds: 2, Window: 64, EnquireLink: 30 * time.Second,
		}}},
		Routes: []routing.Route{{Prefix: "+", Carrier: "sim", Cost: 0.8, Currency: "KES"}},
		Admin:  config.Admin{APIKeys: []string{AdminKey}},
	}
	if err := config.Complete(cfg); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// Start runs a gateway until the test ends and returns it once a carrier
// bind is up.
func Start(tb testing.TB, cfg *config.Config) *app.App {
	tb.Helper()
	return StartWith(tb, cfg, app.Options{})
}

// StartShared starts one node of a cluster: it returns as soon as the
// node listens, since another node may hold every bind slot.
func StartShared(tb testing.TB, cfg *config.Config) *app.App {
	tb.Helper()
	return start(tb, cfg, app.Options{})
}

// StartWith is Start with options (a registry to inspect, a config path to
// reload from).
func StartWith(tb testing.TB, cfg *config.Config, opts app.Options) *app.App {
	tb.Helper()
	a := start(tb, cfg, opts)
	testutil.Eventually(tb, 10*time.Second, func() error {
		if !a.Engine().Ready() {
			return errors.New("no carrier bind is up")
		}
		return nil
	})
	return a
}

func start(tb testing.TB, cfg *config.Config, opts app.Options) *app.App {
	tb.Helper()
	a, err := app.New(context.Background(), cfg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			tb.Errorf("stop: %v", err)
		}
	})
	return a
}
