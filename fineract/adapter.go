package fineract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/internal/mask"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// Gateway is the part of smsgw's Messaging API the adapter uses;
// pb.NewMessagingClient(conn) is the real one.
type Gateway interface {
	Send(ctx context.Context, in *pb.SendRequest, opts ...grpc.CallOption) (*pb.SendResponse, error)
	StreamEvents(ctx context.Context, in *pb.StreamEventsRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[pb.Event], error)
	AckEvents(ctx context.Context, in *pb.AckEventsRequest, opts ...grpc.CallOption) (*pb.AckEventsResponse, error)
}

var _ Gateway = pb.MessagingClient(nil)

// ReplyRefPrefix starts the client_ref of every reply; the inbound id
// follows. The gateway sends a client_ref once per tenant, so an event
// handled twice (after a crash, a broken stream, a lost ack) is answered
// once.
const ReplyRefPrefix = "fineract-reply:"

// Answerer is what the Adapter needs to answer a keyword; *Responder is the
// real one.
type Answerer interface {
	Answer(ctx context.Context, kw Keyword, from string) (text, outcome string, err error)
}

var _ Answerer = (*Responder)(nil)

// AdapterOptions configures an Adapter for one smsgw tenant.
type AdapterOptions struct {
	Gateway  Gateway
	Answerer Answerer
	Keywords Keywords
	// Cursor names the adapter's position in the tenant's event log on the
	// gateway; a restarted adapter resumes after the last acknowledged
	// event. Default "smsgw-fineract".
	Cursor string
	// MaxAge: inbound messages older than this when read (an adapter that
	// was down for a day) are acknowledged without an answer, since a
	// balance sent hours late confuses more than it helps. Default 1 h;
	// negative answers everything.
	MaxAge time.Duration
	// EventTimeout bounds the Fineract lookups for one message; default
	// 60 s (each request has its own, shorter timeout).
	EventTimeout time.Duration
	// Backoff after a broken stream: from MinBackoff doubling to MaxBackoff
	// (defaults 200 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	Metrics                *Metrics
	Log                    *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// sendTimeout bounds one reply's Send, retries by the client included.
const sendTimeout = 30 * time.Second

// Adapter follows one tenant's inbound messages and answers BAL and DUE.
type Adapter struct {
	opts AdapterOptions
	log  *slog.Logger
}

// NewAdapter checks opts and fills defaults.
func NewAdapter(opts AdapterOptions) (*Adapter, error) {
	if opts.Gateway == nil || opts.Answerer == nil {
		return nil, errors.New("fineract: adapter needs a gateway and an answerer")
	}
	if opts.Keywords.words == nil {
		k, _ := NewKeywords(nil, nil)
		opts.Keywords = k
	}
	if opts.Cursor == "" {
		opts.Cursor = "smsgw-fineract"
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = time.Hour
	}
	if opts.EventTimeout <= 0 {
		opts.EventTimeout = time.Minute
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Adapter{opts: opts, log: opts.Log.With("cursor", opts.Cursor)}, nil
}

// Run follows the stream until ctx ends, reopening it with backoff whenever
// it breaks or a reply cannot be sent; it returns ctx's error.
func (a *Adapter) Run(ctx context.Context) error {
	backoff := a.opts.MinBackoff
	for {
		progressed, err := a.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if progressed {
			backoff = a.opts.MinBackoff
		}
		a.opts.Metrics.reconnect()
		wait := backoff/2 + rand.N(backoff/2+1)
		a.log.Warn("event stream interrupted; reconnecting", "err", errText(err), "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, a.opts.MaxBackoff)
	}
}

// follow reads one stream until it breaks; progressed says whether any
// event was acknowledged (so the backoff starts over).
func (a *Adapter) follow(ctx context.Context) (progressed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := a.opts.Gateway.StreamEvents(sctx, &pb.StreamEventsRequest{
		Cursor: a.opts.Cursor,
		Kinds:  []pb.EventKind{pb.EventKind_EVENT_KIND_INBOUND},
	})
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	a.log.Info("following inbound messages", "keywords", a.opts.Keywords.Words())
	for {
		ev, err := stream.Recv()
		if err != nil {
			return progressed, fmt.Errorf("stream: %w", err)
		}
		if err := a.Handle(ctx, ev); err != nil {
			return progressed, err
		}
		if _, err := a.opts.Gateway.AckEvents(ctx, &pb.AckEventsRequest{Cursor: a.opts.Cursor, Seq: ev.GetSeq()}); err != nil {
			return progressed, fmt.Errorf("ack seq %d: %w", ev.GetSeq(), err)
		}
		progressed = true
	}
}

// Handle answers one event if it asks for BAL or DUE. A nil error means
// the event is done with (answered, or not for this adapter) and may be
// acknowledged; an error means it must be handled again (the gateway was
// unreachable, or the adapter is stopping).
func (a *Adapter) Handle(ctx context.Context, ev *pb.Event) error {
	in := ev.GetInbound()
	if ev.GetKind() != pb.EventKind_EVENT_KIND_INBOUND || in == nil {
		return nil
	}
	log := a.log.With("seq", ev.GetSeq(), "inbound_id", in.GetId(), "from", mask.Number(in.GetFrom()))
	kw, ok := a.opts.Keywords.Match(in.GetText())
	if !ok {
		a.opts.Metrics.event("ignored")
		log.Debug("not a keyword of this adapter", "text", in.GetText())
		return nil
	}
	if at := in.GetReceivedAt(); a.opts.MaxAge > 0 && at != nil && a.opts.Now().Sub(at.AsTime()) > a.opts.MaxAge {
		a.opts.Metrics.event("stale")
		log.Warn("inbound message too old to answer; skipped", "keyword", kw, "received_at", at.AsTime())
		return nil
	}
	ectx, cancel := context.WithTimeout(ctx, a.opts.EventTimeout)
	defer cancel()
	text, outcome, err := a.opts.Answerer.Answer(ectx, kw, in.GetFrom())
	if err != nil {
		return fmt.Errorf("answer %s: %w", in.GetId(), err)
	}
	sctx, cancelSend := context.WithTimeout(ctx, sendTimeout)
	defer cancelSend()
	resp, err := a.opts.Gateway.Send(sctx, &pb.SendRequest{
		ReplyTo:   in.GetId(),
		Text:      text,
		ClientRef: ReplyRefPrefix + in.GetId(),
		Priority:  10,
		// The client asked: an answer is not marketing, so it reaches a
		// number that sent STOP when the tenant allows transactional texts.
		Category: pb.Category_CATEGORY_TRANSACTIONAL,
	})
	switch status.Code(err) {
	case codes.OK:
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.PermissionDenied, codes.OutOfRange:
		// The gateway will never take this reply (the inbound message is
		// gone, the text is refused): retrying would wedge the stream.
		a.opts.Metrics.event("send_refused")
		log.Error("the gateway refused the reply; skipped", "keyword", kw, "err", errText(err))
		return nil
	default:
		return fmt.Errorf("send reply to %s: %w", in.GetId(), err)
	}
	a.opts.Metrics.event("replied")
	log.Info("answered", "keyword", kw, "outcome", outcome, "reply_id", resp.GetId(), "duplicate", resp.GetDuplicate(),
		"parts", resp.GetParts(), "status", resp.GetStatus())
	log.Debug("answer text", "text", text)
	return nil
}

// errText is err for a log line with any phone number in it masked: the
// gateway's refusals may quote the number they refuse.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return mask.Text(err.Error())
}
