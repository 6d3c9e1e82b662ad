package client_test

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/openmf/smsgw/app/apptest"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// TestIdleStreamSurvivesClientPings: a consumer that pings every 10 s (the
// least gRPC clients allow) keeps an idle StreamEvents for 50 s (five
// pings) and then gets the next event on it. With gRPC's default
// enforcement the server would answer the third ping with GOAWAY
// too_many_pings (~30–40 s).
func TestIdleStreamSurvivesClientPings(t *testing.T) {
	a := startGateway(t, nil)
	c := dial(t, a.GRPCAddr(), apptest.KeyA,
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}))
	ctx := timeout(t, 3*time.Minute)
	stream, err := c.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_STATUS}})
	if err != nil {
		t.Fatal(err)
	}
	// A first message's events commit the stream: from then on the
	// client's retry policy cannot quietly replace a stream that died.
	first, err := c.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "before the idle minutes"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetMessageId() == first.GetId() && ev.GetStatus() == pb.Status_STATUS_DELIVERED {
			break
		}
	}
	got := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the idle stream ended: %v", err)
	case <-time.After(50 * time.Second):
	}
	if _, err := c.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "after 50 idle seconds"}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("the stream after 50 idle seconds: %v", err)
	}
}
