package client_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/smpp/smsc"
)

// startGateway runs a gateway bound to a simulated carrier until the test
// ends; edit, when not nil, changes its config first.
func startGateway(t *testing.T, edit func(*config.Config)) *app.App {
	t.Helper()
	sim := smsc.NewServer()
	t.Cleanup(func() { sim.Close() })
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	if edit != nil {
		edit(cfg)
	}
	return apptest.Start(t, cfg)
}

// dial is a client of the gateway at addr with key, closed when the test
// ends.
func dial(t *testing.T, addr, key string, opts ...grpc.DialOption) *client.Client {
	t.Helper()
	c, err := client.Dial(addr, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// timeout is a context that ends after d or with the test.
func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
