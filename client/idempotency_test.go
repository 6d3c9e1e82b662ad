package client_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/app/apptest"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// TestClientRefIdempotency: a true retry answers the stored message with
// its status; the same client_ref with another text or number is refused
// with ALREADY_EXISTS naming the stored message, in Send and per item in
// SendBatch, and nothing new is stored; events carry the client_ref.
func TestClientRefIdempotency(t *testing.T) {
	a := startGateway(t, nil)
	c := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx := timeout(t, 10*time.Second)
	req := &pb.SendRequest{To: "+254712345678", Text: "Repayment received: KES 500", ClientRef: "receipt-991"}
	first, err := c.Send(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Send(ctx, &pb.SendRequest{To: "0712345678", Text: req.Text, ClientRef: req.ClientRef})
	if err != nil || again.GetId() != first.GetId() || !again.GetDuplicate() || again.GetStatus() == pb.Status_STATUS_UNSPECIFIED {
		t.Fatalf("retry (same number written nationally) = %v, %v; want the stored message, its status, duplicate", again, err)
	}
	for _, other := range []*pb.SendRequest{
		{To: req.To, Text: "Repayment received: KES 5,000", ClientRef: req.ClientRef},
		{To: "+254712345679", Text: req.Text, ClientRef: req.ClientRef},
	} {
		_, err := c.Send(ctx, other)
		if status.Code(err) != codes.AlreadyExists || !strings.Contains(status.Convert(err).Message(), first.GetId()) {
			t.Errorf("reused client_ref with another payload: %v; want ALREADY_EXISTS naming %s", err, first.GetId())
		}
	}
	batch, err := c.SendBatch(ctx, &pb.SendBatchRequest{Messages: []*pb.SendRequest{
		req, {To: req.To, Text: "something else", ClientRef: req.ClientRef}, {To: req.To, Text: "new", ClientRef: "receipt-992"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := batch.GetResults()
	if !r[0].GetAccepted().GetDuplicate() || r[0].GetAccepted().GetId() != first.GetId() ||
		r[1].GetCode() != int32(codes.AlreadyExists) || !strings.Contains(r[1].GetMessage(), first.GetId()) ||
		r[2].GetAccepted().GetId() == "" || r[2].GetAccepted().GetDuplicate() {
		t.Errorf("batch results %v", r)
	}
	list, err := c.ListMessages(ctx, &pb.ListMessagesRequest{})
	if err != nil || len(list.GetMessages()) != 2 {
		t.Errorf("stored messages: %d (%v), want 2", len(list.GetMessages()), err)
	}
	// Events name the client_ref too: an adapter matches them to its
	// records without a GetMessage each.
	stream, err := c.StreamEvents(ctx, &pb.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil || ev.GetMessageId() != first.GetId() || ev.GetClientRef() != "receipt-991" {
		t.Errorf("first event %v, %v; want the first message's with client_ref receipt-991", ev, err)
	}
}
