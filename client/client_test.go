package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// The client rides out a tenant's rate limit by retrying, and its automatic
// client_ref makes a retried Send store one message, not two.
func TestRetriesThroughRateLimit(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Tenants[0].Rate, cfg.Tenants[0].Burst = 10, 1
	a := apptest.Start(t, cfg)
	c, err := client.Dial(a.GRPCAddr(), apptest.KeyA)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids := map[string]bool{}
	for range 5 {
		r, err := c.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "retried"})
		if err != nil {
			t.Fatalf("send through the rate limit: %v", err)
		}
		ids[r.GetId()] = true
	}
	if len(ids) != 5 {
		t.Fatalf("%d distinct ids for 5 sends", len(ids))
	}
	m, err := c.GetMessage(ctx, &pb.GetMessageRequest{Id: func() string {
		for id := range ids {
			return id
		}
		return ""
	}()})
	if err != nil || m.GetClientRef() == "" {
		t.Fatalf("message %v (%v): want an automatic client_ref", m, err)
	}
	req := &pb.SendRequest{To: "+254712345678", Text: "same", ClientRef: "loan-7-receipt"}
	r1, err := c.Send(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Send(ctx, req)
	if err != nil || r2.GetId() != r1.GetId() || !r2.GetDuplicate() {
		t.Fatalf("resend with the caller's client_ref: %v, %v", r2, err)
	}
}
