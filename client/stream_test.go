package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// TestStreamStartsAtLatestWithHeartbeats: a consumer with no use for
// history starts at the latest event, learns its position from the first
// heartbeat (and may acknowledge it), then sees only what comes after;
// heartbeats stop nothing.
func TestStreamStartsAtLatestWithHeartbeats(t *testing.T) {
	a := startGateway(t, nil)
	c := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx := timeout(t, 30*time.Second)
	old, err := c.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "history"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.GetMessage(ctx, &pb.GetMessageRequest{Id: old.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if m.GetStatus() == pb.Status_STATUS_DELIVERED {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stream, err := c.StreamEvents(ctx, &pb.StreamEventsRequest{Start: pb.StartPosition_START_POSITION_LATEST,
		HeartbeatInterval: durationpb.New(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	hb, err := stream.Recv()
	if err != nil || hb.GetKind() != pb.EventKind_EVENT_KIND_HEARTBEAT || hb.GetSeq() < 3 || hb.GetMessageId() != "" {
		t.Fatalf("first on a quiet stream: %v, %v; want a heartbeat at the history's last seq (≥ 3)", hb, err)
	}
	if ack, err := c.AckEvents(ctx, &pb.AckEventsRequest{Cursor: "late-joiner", Seq: hb.GetSeq()}); err != nil || ack.GetSeq() != hb.GetSeq() {
		t.Fatalf("acknowledging the heartbeat's seq: %v, %v", ack, err)
	}
	next, err := c.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "news"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetKind() == pb.EventKind_EVENT_KIND_HEARTBEAT {
			continue
		}
		if ev.GetMessageId() != next.GetId() || ev.GetSeq() <= hb.GetSeq() {
			t.Fatalf("event %v after starting at the latest; want only the new message's, after seq %d", ev, hb.GetSeq())
		}
		if ev.GetStatus() == pb.Status_STATUS_DELIVERED {
			break
		}
	}
	for _, bad := range []*pb.StreamEventsRequest{
		{FromSeq: 5, Start: pb.StartPosition_START_POSITION_LATEST},
		{FromSeq: -1},
		{HeartbeatInterval: durationpb.New(100 * time.Millisecond)},
		{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_HEARTBEAT}},
	} {
		s, err := c.StreamEvents(ctx, bad)
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("StreamEvents(%v) = %v, want INVALID_ARGUMENT", bad, err)
		}
	}
}

// TestResumingIntoPrunedHistoryIsOutOfRange: a consumer whose cursor is
// older than what retention kept gets OUT_OF_RANGE instead of silently
// resuming after the gap; it can start at the latest event, and a new
// cursor starts at the oldest event kept.
func TestResumingIntoPrunedHistoryIsOutOfRange(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := apptest.Start(t, apptest.Config(t, sim.Addr(), dir))
	c, err := client.Dial(first.GRPCAddr(), apptest.KeyA)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := c.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "soon pruned"})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.StreamEvents(ctx, &pb.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil || ev.GetMessageId() != sent.GetId() {
		t.Fatalf("first event %v, %v", ev, err)
	}
	if _, err := c.AckEvents(ctx, &pb.AckEventsRequest{Cursor: "adapter", Seq: ev.GetSeq()}); err != nil {
		t.Fatal(err)
	}
	// The message's later events are written by this node too, so the
	// second's prune takes them all: a node stopped before it submitted
	// would leave the submission to the next one, whose events are new.
	for last := ev; last.GetStatus() != pb.Status_STATUS_DELIVERED; {
		if last, err = stream.Recv(); err != nil {
			t.Fatalf("waiting for the message to be delivered: %v", err)
		}
	}
	c.Close()
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	cfg := apptest.Config(t, sim.Addr(), dir)
	cfg.Gateway.EventRetention = time.Second // prunes every event at start
	cfg.MessageGateway.ReportHorizon = 0
	second := apptest.Start(t, cfg)
	c, err = client.Dial(second.GRPCAddr(), apptest.KeyA)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check := func(req *pb.StreamEventsRequest, want codes.Code) {
		t.Helper()
		var err error
		testutil.Eventually(t, 10*time.Second, func() error { // the prune runs as the node starts
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			defer scancel()
			var s pb.Messaging_StreamEventsClient
			if s, err = c.StreamEvents(sctx, req); err == nil {
				_, err = s.Recv()
			}
			if status.Code(err) == codes.DeadlineExceeded {
				err = nil // nothing to send yet: the stream was accepted
			}
			if got := status.Code(err); got != want {
				return fmt.Errorf("StreamEvents(%v) = %v, want %v", req, err, want)
			}
			return nil
		})
	}
	check(&pb.StreamEventsRequest{Cursor: "adapter"}, codes.OutOfRange)
	check(&pb.StreamEventsRequest{FromSeq: ev.GetSeq() + 1}, codes.OutOfRange)
	check(&pb.StreamEventsRequest{Cursor: "adapter", Start: pb.StartPosition_START_POSITION_LATEST}, codes.OK)
	check(&pb.StreamEventsRequest{Cursor: "new-consumer"}, codes.OK)
}

// TestCursorsListAndDelete: an operator sees the tenant's consumers and
// how far each got, and retires one; a missing one is NOT_FOUND.
func TestCursorsListAndDelete(t *testing.T) {
	a := startGateway(t, nil)
	c := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx := timeout(t, 10*time.Second)
	if _, err := c.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mifos-adapter", "old-bridge"} {
		if _, err := c.AckEvents(ctx, &pb.AckEventsRequest{Cursor: name, Seq: 1}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.ListCursors(ctx, &pb.ListCursorsRequest{})
	if err != nil || len(list.GetCursors()) != 2 || list.GetCursors()[0].GetName() != "mifos-adapter" ||
		list.GetCursors()[0].GetSeq() != 1 || list.GetCursors()[0].GetUpdateTime() == nil {
		t.Fatalf("ListCursors = %v, %v", list, err)
	}
	if _, err := c.DeleteCursor(ctx, &pb.DeleteCursorRequest{Name: "old-bridge"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCursor(ctx, &pb.DeleteCursorRequest{Name: "old-bridge"}); status.Code(err) != codes.NotFound {
		t.Errorf("deleting it again: %v, want NOT_FOUND", err)
	}
	if _, err := c.DeleteCursor(ctx, &pb.DeleteCursorRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("deleting no name: %v, want INVALID_ARGUMENT", err)
	}
	if list, err := c.ListCursors(ctx, &pb.ListCursorsRequest{}); err != nil || len(list.GetCursors()) != 1 {
		t.Errorf("after delete: %v, %v", list, err)
	}
}
