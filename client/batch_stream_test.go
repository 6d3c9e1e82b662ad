package client_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/openmf/smsgw/app/apptest"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// TestEventBatchesAsStreamEvents: StreamEventBatches gives a tenant the
// events StreamEvents gives it, in the same order, in batches of one or
// more; it starts where StreamEvents would (from_seq, a cursor), filters
// kinds alike, sends a heartbeat alone in its batch and refuses what
// StreamEvents refuses. Another tenant's messages are on neither.
func TestEventBatchesAsStreamEvents(t *testing.T) {
	a := startGateway(t, nil)
	ctx := timeout(t, 30*time.Second)
	ca, cb := dial(t, a.GRPCAddr(), apptest.KeyA), dial(t, a.GRPCAddr(), apptest.KeyB)
	batch := func(tenant string, n int) map[string]bool {
		t.Helper()
		req := &pb.SendBatchRequest{}
		for i := range n {
			req.Messages = append(req.Messages, &pb.SendRequest{To: fmt.Sprintf("+2547123456%02d", i), Text: "batched",
				ClientRef: fmt.Sprintf("%s-%d", tenant, i)})
		}
		c := ca
		if tenant == "b" {
			c = cb
		}
		resp, err := c.SendBatch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, r := range resp.GetResults() {
			if r.GetAccepted() == nil {
				t.Fatalf("tenant %s: %v not accepted", tenant, r)
			}
			ids[r.GetAccepted().GetId()] = true
		}
		return ids
	}
	const sent = 20
	mine := batch("a", sent)
	batch("b", 5)

	// What StreamEvents gives tenant a, up to its last message's delivery.
	stream, err := ca.StreamEvents(ctx, &pb.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var want []*pb.Event
	for delivered := 0; delivered < sent; {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if !mine[ev.GetMessageId()] {
			t.Fatalf("tenant a streamed %v, not one of its messages", ev)
		}
		want = append(want, ev)
		if ev.GetStatus() == pb.Status_STATUS_DELIVERED {
			delivered++
		}
	}
	if len(want) != 3*sent {
		t.Fatalf("%d events for %d messages, want accepted, submitted and delivered each", len(want), sent)
	}

	// batches reads a StreamEventBatches stream until it gave n events.
	batches := func(r *pb.StreamEventBatchesRequest, n int) []*pb.Event {
		t.Helper()
		s, err := ca.StreamEventBatches(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		var got []*pb.Event
		for len(got) < n {
			b, err := s.Recv()
			if err != nil {
				t.Fatalf("after %d events: %v", len(got), err)
			}
			if len(b.GetEvents()) == 0 {
				t.Fatal("an empty batch")
			}
			got = append(got, b.GetEvents()...)
		}
		return got
	}
	same := func(what string, got, want []*pb.Event) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("%s: event %d is %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	same("from the start", batches(&pb.StreamEventBatchesRequest{}, len(want)), want)
	same("from a seq", batches(&pb.StreamEventBatchesRequest{FromSeq: want[7].GetSeq()}, len(want)-7), want[7:])
	if _, err := ca.AckEvents(ctx, &pb.AckEventsRequest{Cursor: "adapter", Seq: want[11].GetSeq()}); err != nil {
		t.Fatal(err)
	}
	same("after a cursor", batches(&pb.StreamEventBatchesRequest{Cursor: "adapter"}, len(want)-12), want[12:])

	// No inbound message: the first batch is a heartbeat, alone, at the
	// log's last seq.
	s, err := ca.StreamEventBatches(ctx, &pb.StreamEventBatchesRequest{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_INBOUND},
		HeartbeatInterval: durationpb.New(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	hb, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if evs := hb.GetEvents(); len(evs) != 1 || evs[0].GetKind() != pb.EventKind_EVENT_KIND_HEARTBEAT || evs[0].GetSeq() < want[len(want)-1].GetSeq() {
		t.Fatalf("first batch of an inbound stream with nothing inbound: %v; want one heartbeat at seq ≥ %d", hb, want[len(want)-1].GetSeq())
	}

	for _, bad := range []*pb.StreamEventBatchesRequest{
		{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_HEARTBEAT}},
		{FromSeq: 3, Start: pb.StartPosition_START_POSITION_LATEST},
	} {
		s, err := ca.StreamEventBatches(ctx, bad)
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v, want InvalidArgument", bad, err)
		}
	}
}
