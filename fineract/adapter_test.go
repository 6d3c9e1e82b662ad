package fineract_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// fakeGateway is the gateway's event log, cursors and Send in memory: the
// reply sink for tests of the adapter's stream handling. Like the real
// gateway, Send is idempotent by client_ref.
type fakeGateway struct {
	mu       sync.Mutex
	events   []*pb.Event
	cursor   int64
	acks     []int64
	attempts []*pb.SendRequest             // every Send call
	sent     map[string]*pb.SendRequest    // what the gateway accepted, by client_ref
	failSend []error                       // answers for the next Send calls
	failAck  []error                       // answers for the next AckEvents calls
	opened   int                           // streams opened
	changed  chan struct{}                 // closed when events are added
	ids      map[string]*pb.InboundMessage // by id, for reply_to checks
}

func newFakeGateway() *fakeGateway {
	return &fakeGateway{sent: map[string]*pb.SendRequest{}, changed: make(chan struct{}), ids: map[string]*pb.InboundMessage{}}
}

// mo appends an inbound event and returns its id.
func (g *fakeGateway) mo(from, text string, at time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	seq := int64(len(g.events) + 1)
	in := &pb.InboundMessage{Id: fmt.Sprintf("in-%d", seq), Carrier: "sim", From: from, To: "22555", Text: text, ReceivedAt: timestamppb.New(at)}
	g.events = append(g.events, &pb.Event{Seq: seq, Kind: pb.EventKind_EVENT_KIND_INBOUND, Time: timestamppb.New(at), Inbound: in})
	g.ids[in.Id] = in
	close(g.changed)
	g.changed = make(chan struct{})
	return in.Id
}

// other appends an event of a kind the adapter does not follow.
func (g *fakeGateway) other(ev *pb.Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ev.Seq = int64(len(g.events) + 1)
	g.events = append(g.events, ev)
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *fakeGateway) Send(_ context.Context, r *pb.SendRequest, _ ...grpc.CallOption) (*pb.SendResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.attempts = append(g.attempts, r)
	if len(g.failSend) > 0 {
		err := g.failSend[0]
		g.failSend = g.failSend[1:]
		if err != nil {
			return nil, err
		}
	}
	if g.ids[r.GetReplyTo()] == nil {
		return nil, status.Error(codes.InvalidArgument, "reply_to: no such inbound message")
	}
	if _, dup := g.sent[r.GetClientRef()]; dup {
		return &pb.SendResponse{Id: "out-" + r.GetClientRef(), Duplicate: true, Parts: 1}, nil
	}
	g.sent[r.GetClientRef()] = r
	return &pb.SendResponse{Id: "out-" + r.GetClientRef(), Parts: 1}, nil
}

func (g *fakeGateway) AckEvents(_ context.Context, r *pb.AckEventsRequest, _ ...grpc.CallOption) (*pb.AckEventsResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.failAck) > 0 {
		err := g.failAck[0]
		g.failAck = g.failAck[1:]
		if err != nil {
			return nil, err
		}
	}
	if r.GetCursor() != "test-cursor" {
		return nil, status.Error(codes.InvalidArgument, "unexpected cursor "+r.GetCursor())
	}
	g.acks = append(g.acks, r.GetSeq())
	g.cursor = max(g.cursor, r.GetSeq())
	return &pb.AckEventsResponse{Seq: g.cursor}, nil
}

func (g *fakeGateway) StreamEvents(ctx context.Context, r *pb.StreamEventsRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[pb.Event], error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.GetCursor() != "test-cursor" || !slices.Equal(r.GetKinds(), []pb.EventKind{pb.EventKind_EVENT_KIND_INBOUND}) {
		return nil, status.Errorf(codes.InvalidArgument, "stream request %v", r)
	}
	g.opened++
	return &fakeStream{g: g, ctx: ctx, next: g.cursor + 1}, nil
}

type fakeStream struct {
	grpc.ClientStream // not used; nil
	g                 *fakeGateway
	ctx               context.Context
	next              int64
}

func (s *fakeStream) Recv() (*pb.Event, error) {
	for {
		s.g.mu.Lock()
		if int(s.next) <= len(s.g.events) {
			ev := s.g.events[s.next-1]
			s.next++
			s.g.mu.Unlock()
			return ev, nil
		}
		changed := s.g.changed
		s.g.mu.Unlock()
		select {
		case <-s.ctx.Done():
			return nil, status.FromContextError(s.ctx.Err()).Err()
		case <-changed:
		}
	}
}

func (g *fakeGateway) state() (acks []int64, attempts []*pb.SendRequest, sent map[string]*pb.SendRequest, opened int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.acks), slices.Clone(g.attempts), func() map[string]*pb.SendRequest {
		m := map[string]*pb.SendRequest{}
		for k, v := range g.sent {
			m[k] = v
		}
		return m
	}(), g.opened
}

// startAdapter runs an adapter on gw against the fixtures until the test ends.
func startAdapter(t *testing.T, gw fineract.Gateway, now func() time.Time) {
	t.Helper()
	_, srv := fakeFineract(t)
	kw, _ := fineract.NewKeywords([]string{"SALDO"}, []string{"DENI"})
	a, err := fineract.NewAdapter(fineract.AdapterOptions{
		Gateway: gw, Answerer: newResponder(t, newClient(t, srv, 5*time.Second, nil), nil), Keywords: kw,
		Cursor: "test-cursor", MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

func waitAcked(t *testing.T, g *fakeGateway, seq int64) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if acks, _, _, _ := g.state(); len(acks) == 0 || acks[len(acks)-1] < seq {
			return fmt.Errorf("acks %v, waiting for %d", acks, seq)
		}
		return nil
	})
}

// TestAdapterAnswersAndAcks: BAL and DUE (and their aliases) are answered
// as replies with the idempotent client_ref; other texts and stale
// messages are acknowledged without an answer.
func TestAdapterAnswersAndAcks(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	g := newFakeGateway()
	bal := g.mo("+254712345678", "bal", now)
	g.mo("+254712345678", "hello there", now)
	due := g.mo("+254722000111", "DENI", now)
	g.mo("+254712345678", "BAL", now.Add(-2*time.Hour)) // an hour past max_age
	unknown := g.mo("+254799999999", "Saldo?", now)
	startAdapter(t, g, func() time.Time { return now })
	waitAcked(t, g, 5)

	acks, attempts, sent, _ := g.state()
	if !slices.Equal(acks, []int64{1, 2, 3, 4, 5}) {
		t.Errorf("acks %v, want every event once, in order", acks)
	}
	if len(attempts) != 3 || len(sent) != 3 {
		t.Fatalf("%d sends, %d accepted; want 3", len(attempts), len(sent))
	}
	for _, tt := range []struct{ in, text string }{
		{bal, "Dear Jane, savings balance: Passbook Savings *0001: KES 1,234.50."},
		{due, "Dear Peter, Biashara Loan *0012: KES 4,250.00 due 5 Jan 2025, overdue KES 4,250.00; Asset Loan *0013: KES 2,250.00 due 15 Mar 2025."},
		{unknown, refusal},
	} {
		r := sent[fineract.ReplyRefPrefix+tt.in]
		if r == nil || r.GetReplyTo() != tt.in || r.GetText() != tt.text || r.GetTo() != "" {
			t.Errorf("reply to %s: %v\nwant text %q", tt.in, r, tt.text)
		}
	}
}

// TestAdapterPassesOverOtherKinds: events of other kinds on the stream
// (an audit entry, a kind newer than this adapter) are acknowledged without
// an answer, and the inbound message after them is still answered.
func TestAdapterPassesOverOtherKinds(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	g := newFakeGateway()
	g.other(&pb.Event{Kind: pb.EventKind_EVENT_KIND_AUDIT, Audit: &pb.AuditEntry{User: "anna", Action: "opt-out"}})
	g.other(&pb.Event{Kind: pb.EventKind(99), Detail: "from a newer gateway"})
	g.other(&pb.Event{Kind: pb.EventKind_EVENT_KIND_STATUS, MessageId: "m1", Status: pb.Status_STATUS_DELIVERED})
	bal := g.mo("+254712345678", "bal", now)
	startAdapter(t, g, func() time.Time { return now })
	waitAcked(t, g, 4)
	acks, attempts, sent, _ := g.state()
	if !slices.Equal(acks, []int64{1, 2, 3, 4}) {
		t.Errorf("acks %v, want every event once, in order", acks)
	}
	if len(attempts) != 1 || sent[fineract.ReplyRefPrefix+bal] == nil {
		t.Errorf("sends %v; want one, the answer to %s", attempts, bal)
	}
}

// TestAdapterRetries: a reply the gateway could not take is tried again on
// a new stream before the event is acknowledged; a lost ack makes the
// event come again, and the client_ref keeps the SMS from going twice; a
// reply the gateway refuses for good is skipped, not retried forever.
func TestAdapterRetries(t *testing.T) {
	now := time.Now()
	g := newFakeGateway()
	g.failSend = []error{status.Error(codes.Unavailable, "store busy")}
	g.failAck = []error{nil, status.Error(codes.Unavailable, "gone")}
	first := g.mo("+254712345678", "BAL", now)
	second := g.mo("+254712345678", "DUE", now)
	startAdapter(t, g, nil)
	waitAcked(t, g, 2)

	acks, attempts, sent, opened := g.state()
	if opened < 3 {
		t.Errorf("%d streams opened, want a new one after each failure", opened)
	}
	var refs []string
	for _, a := range attempts {
		refs = append(refs, a.GetClientRef())
	}
	// first: refused with Unavailable, then sent; second: sent, its ack
	// lost, sent again (a duplicate the gateway drops).
	want := []string{fineract.ReplyRefPrefix + first, fineract.ReplyRefPrefix + first, fineract.ReplyRefPrefix + second, fineract.ReplyRefPrefix + second}
	if !slices.Equal(refs, want) {
		t.Errorf("send attempts %q\nwant %q", refs, want)
	}
	if len(sent) != 2 || !slices.Equal(acks, []int64{1, 2}) {
		t.Errorf("%d replies accepted, acks %v; want 2 and [1 2]", len(sent), acks)
	}

	// A refused reply (the inbound message is not the gateway's) is
	// acknowledged and skipped.
	g.mu.Lock()
	g.failSend = []error{status.Error(codes.InvalidArgument, "reply_to: unknown")}
	g.mu.Unlock()
	g.mo("+254712345678", "BAL", now)
	g.mo("+254712345678", "DUE", now)
	waitAcked(t, g, 4)
	if _, _, sent, _ := g.state(); len(sent) != 3 {
		t.Errorf("%d replies after a refused one, want 3", len(sent))
	}
}
