package bench

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/openmf/smsgw/client"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// oldGateway serves StreamEvents only, as a gateway from before
// StreamEventBatches: the first stream ends after its events, as a
// restart would, and the next resumes where the client asks.
type oldGateway struct {
	pb.UnimplementedMessagingServer
	events []*pb.Event
	mu     sync.Mutex
	froms  []int64
}

func (g *oldGateway) StreamEvents(r *pb.StreamEventsRequest, s pb.Messaging_StreamEventsServer) error {
	g.mu.Lock()
	g.froms = append(g.froms, r.GetFromSeq())
	first := len(g.froms) == 1
	g.mu.Unlock()
	for _, ev := range g.events {
		if ev.GetSeq() < r.GetFromSeq() {
			continue
		}
		if err := s.Send(ev); err != nil {
			return err
		}
		if first && ev.GetSeq() == 2 {
			return nil // the stream breaks after seq 2
		}
	}
	<-s.Context().Done()
	return nil
}

// TestFollowEventsOnAnOlderGateway: smsbench follows a gateway that has
// no StreamEventBatches through StreamEvents, resuming after a break with
// nothing lost or repeated.
func TestFollowEventsOnAnOlderGateway(t *testing.T) {
	g := &oldGateway{}
	for i, st := range []pb.Status{pb.Status_STATUS_ACCEPTED, pb.Status_STATUS_SUBMITTED, pb.Status_STATUS_DELIVERED} {
		g.events = append(g.events, &pb.Event{Seq: int64(i + 1), Kind: pb.EventKind_EVENT_KIND_STATUS, MessageId: "m1", Status: st})
	}
	srv := grpc.NewServer()
	pb.RegisterMessagingServer(srv, g)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(l.Addr().String(), "key")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []pb.Status
	err = followEvents(ctx, c, func(id string, st pb.Status, _ time.Time) {
		if id != "m1" {
			t.Errorf("event of %q", id)
		}
		if got = append(got, st); len(got) == 3 {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != pb.Status_STATUS_ACCEPTED || got[2] != pb.Status_STATUS_DELIVERED {
		t.Fatalf("statuses %v, want accepted, submitted, delivered once each", got)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.froms) != 2 || g.froms[0] != 0 || g.froms[1] != 3 {
		t.Fatalf("streams from %v, want from 0 then from 3", g.froms)
	}
}
