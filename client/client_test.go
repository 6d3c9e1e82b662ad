package client_test

import (
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/config"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// The client rides out a tenant's rate limit by retrying, and its automatic
// client_ref makes a retried Send store one message, not two.
func TestRetriesThroughRateLimit(t *testing.T) {
	a := startGateway(t, func(cfg *config.Config) { cfg.Tenants[0].Rate, cfg.Tenants[0].Burst = 10, 1 })
	c := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx := timeout(t, 10*time.Second)
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

// The refs the client makes sort in the order it made them, so the
// gateway's unique (tenant, client_ref) index grows at its right edge
// instead of taking each ref on a random page.
func TestAutomaticRefsSortByTime(t *testing.T) {
	a := startGateway(t, nil)
	c := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx := timeout(t, 10*time.Second)
	var reqs []*pb.SendRequest
	for range 50 {
		reqs = append(reqs, &pb.SendRequest{To: "+254712345678", Text: "ordered"})
	}
	out, err := c.SendBatch(ctx, &pb.SendBatchRequest{Messages: reqs})
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i, r := range out.GetResults() {
		m, err := c.GetMessage(ctx, &pb.GetMessageRequest{Id: r.GetAccepted().GetId()})
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if ref := m.GetClientRef(); ref <= prev {
			t.Fatalf("message %d has client_ref %q after %q: want increasing refs", i, ref, prev)
		} else {
			prev = ref
		}
	}
}
