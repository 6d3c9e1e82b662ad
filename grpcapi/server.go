package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openmf/smsgw/gateway"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// DefaultMaxBatch bounds SendBatch so one call cannot hold the store's writer for
// long; larger batches are refused with InvalidArgument.
const DefaultMaxBatch = 1000

// Server is the gRPC listener: the Messaging and Admin services, the
// standard health service and server reflection.
type Server struct {
	pb.UnimplementedMessagingServer
	engine   *gateway.Engine
	grpc     *grpc.Server
	health   *health.Server
	done     chan struct{} // closed by Stop: ends event streams
	maxBatch int
	log      *slog.Logger
	once     sync.Once
	// inProcess are InProcess's listeners, served beside the network
	// listener and closed by Stop.
	inProcess []net.Listener
}

// KeepaliveEnforcement lets clients ping as often as every 5 s, with or
// without a call open. gRPC's default (one ping per 5 minutes) answers a
// client that keeps an idle StreamEvents alive through NATs and proxies
// with GOAWAY too_many_pings; client.Keepalive pings every 20 s.
var KeepaliveEnforcement = keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}

// New builds a server; Serve starts it. Internal errors are logged to log
// (nil discards); maxBatch ≤ 0 means DefaultMaxBatch.
func New(engine *gateway.Engine, op Operator, keys *Keys, log *slog.Logger, maxBatch int, opts ...grpc.ServerOption) *Server {
	codec := newUTF8Codec()
	// The codec's check runs first: it must see every request it decoded,
	// even one authentication then refuses.
	opts = append(opts, grpc.KeepaliveEnforcementPolicy(KeepaliveEnforcement), grpc.ForceServerCodecV2(codec),
		grpc.ChainUnaryInterceptor(errorInfoUnary, codec.unary, keys.unary), grpc.ChainStreamInterceptor(errorInfoStream, codec.stream, keys.stream))
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	if log == nil {
		log = discard
	}
	s := &Server{engine: engine, grpc: grpc.NewServer(opts...), health: health.NewServer(), done: make(chan struct{}), maxBatch: maxBatch, log: log}
	pb.RegisterMessagingServer(s.grpc, s)
	pb.RegisterAdminServer(s.grpc, adminServer{op: op, keys: keys, engine: engine})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus(pb.Messaging_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s
}

// Serve accepts connections on l, and on the InProcess listeners, until
// Stop.
func (s *Server) Serve(l net.Listener) error {
	for _, in := range s.inProcess {
		go func() { _ = s.grpc.Serve(in) }() // ends with the other at Stop
	}
	return s.grpc.Serve(l)
}

// Stop refuses new calls, lets running ones end within ctx, then closes.
// Event streams are ended at once (they never end on their own); any other
// stream a client keeps open holds Stop until ctx ends.
func (s *Server) Stop(ctx context.Context) {
	s.once.Do(func() {
		close(s.done)
		for _, in := range s.inProcess { // in case Serve never ran
			in.Close()
		}
	})
	s.health.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
	}
}

func toRequest(r *pb.SendRequest) gateway.SendRequest {
	out := gateway.SendRequest{To: r.GetTo(), Text: r.GetText(), From: r.GetFrom(), ClientRef: r.GetClientRef(), Priority: r.GetPriority(), ReplyTo: r.GetReplyTo()}
	if r.GetNotBefore() != nil {
		out.NotBefore = r.GetNotBefore().AsTime()
	}
	if r.GetExpiresAt() != nil {
		out.ExpiresAt = r.GetExpiresAt().AsTime()
	}
	switch r.GetCategory() {
	case pb.Category_CATEGORY_MARKETING:
		out.Category = gateway.CategoryMarketing
	case pb.Category_CATEGORY_TRANSACTIONAL:
		out.Category = gateway.CategoryTransactional
	}
	return out
}

// Send implements smsgw.v1.Messaging.
func (s *Server) Send(ctx context.Context, r *pb.SendRequest) (*pb.SendResponse, error) {
	out, err := s.engine.Accept(ctx, tenantFrom(ctx), []gateway.SendRequest{toRequest(r)})
	if err != nil {
		return nil, s.toStatus(ctx, "Send", err)
	}
	o := out[0]
	if o.Err != nil {
		return nil, s.toStatus(ctx, "Send", o.Err)
	}
	resp := &pb.SendResponse{}
	fillSendResponse(resp, o)
	return resp, nil
}

// fillSendResponse writes o into r, so SendBatch can fill responses it
// allocated all at once.
func fillSendResponse(r *pb.SendResponse, o gateway.AcceptOutcome) {
	r.Id, r.Duplicate, r.Parts, r.Encoding = o.ID, o.Duplicate, int32(o.Parts), string(o.Encoding)
	r.EncodingType, r.Status = encodings[o.Encoding], statuses[o.Status]
}

// SendBatch implements smsgw.v1.Messaging. The answers of a batch are
// allocated in two slices rather than two objects a message: at 100
// messages a call that is ~200 allocations fewer per call.
func (s *Server) SendBatch(ctx context.Context, r *pb.SendBatchRequest) (*pb.SendBatchResponse, error) {
	n := len(r.GetMessages())
	if n == 0 || n > s.maxBatch {
		fe := &gateway.FieldError{Field: "messages", Reason: fmt.Sprintf("has %d items; send 1 to %d", n, s.maxBatch)}
		return nil, fieldStatus(fe).Err()
	}
	reqs := make([]gateway.SendRequest, n)
	for i, m := range r.GetMessages() {
		reqs[i] = toRequest(m)
	}
	out, err := s.engine.Accept(ctx, tenantFrom(ctx), reqs)
	if err != nil {
		return nil, s.toStatus(ctx, "SendBatch", err)
	}
	resp := &pb.SendBatchResponse{Results: make([]*pb.BatchResult, n)}
	results := make([]pb.BatchResult, n)
	var accepted []pb.SendResponse
	for i, o := range out {
		resp.Results[i] = &results[i]
		if o.Err == nil {
			if accepted == nil {
				accepted = make([]pb.SendResponse, n-i)
			}
			a := &accepted[0]
			accepted = accepted[1:]
			fillSendResponse(a, o)
			results[i].Accepted = a
			continue
		}
		var fe *gateway.FieldError
		if errors.As(o.Err, &fe) {
			field := fmt.Sprintf("messages[%d].%s", i, fe.Field)
			st := fieldStatus(&gateway.FieldError{Field: field, Reason: fe.Reason})
			results[i].Code, results[i].Message, results[i].Field, results[i].Status = int32(st.Code()), fe.Error(), field, st.Proto()
			continue
		}
		st := status.Convert(s.toStatus(ctx, "SendBatch", o.Err))
		results[i].Code, results[i].Message, results[i].Status = int32(st.Code()), st.Message(), st.Proto()
	}
	return resp, nil
}

// ListMessages implements smsgw.v1.Messaging.
func (s *Server) ListMessages(ctx context.Context, r *pb.ListMessagesRequest) (*pb.ListMessagesResponse, error) {
	size := int(r.GetPageSize())
	if size < 0 || size > 500 {
		return nil, fieldStatus(&gateway.FieldError{Field: "page_size", Reason: "must be 0 (default 100) to 500"}).Err()
	}
	if size == 0 {
		size = 100
	}
	before, err := decodePageToken(r)
	if err != nil {
		return nil, s.toStatus(ctx, "ListMessages", err)
	}
	// One more than the page tells whether another page follows.
	f := gateway.ListFilter{To: r.GetTo(), Before: before, Limit: size + 1}
	if r.GetStatus() != pb.Status_STATUS_UNSPECIFIED {
		for st, v := range statuses {
			if v == r.GetStatus() {
				f.Status = st
			}
		}
	}
	if r.GetSince() != nil {
		f.Since = r.GetSince().AsTime()
	}
	if r.GetUntil() != nil {
		f.Until = r.GetUntil().AsTime()
	}
	msgs, err := s.engine.List(ctx, tenantFrom(ctx), f)
	if err != nil {
		return nil, s.toStatus(ctx, "ListMessages", err)
	}
	out := &pb.ListMessagesResponse{}
	if len(msgs) > size {
		msgs = msgs[:size]
		out.NextPageToken = encodePageToken(r, msgs[size-1].ID)
	}
	for _, m := range msgs {
		out.Messages = append(out.Messages, toMessage(m))
	}
	return out, nil
}

// CancelMessage implements smsgw.v1.Messaging.
func (s *Server) CancelMessage(ctx context.Context, r *pb.CancelMessageRequest) (*pb.Message, error) {
	if r.GetId() == "" {
		return nil, fieldStatus(&gateway.FieldError{Field: "id", Reason: "is empty"}).Err()
	}
	m, err := s.engine.Cancel(ctx, tenantFrom(ctx), r.GetId())
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return nil, statusErr(codes.NotFound, "MESSAGE_NOT_FOUND", fmt.Sprintf("no message %q", r.GetId()))
	case errors.Is(err, gateway.ErrNotCancelable):
		return nil, statusErr(codes.FailedPrecondition, "NOT_CANCELABLE", fmt.Sprintf("message %q is already being sent or has ended", r.GetId()))
	case err != nil:
		return nil, s.toStatus(ctx, "CancelMessage", err)
	}
	return toMessage(m), nil
}

// AckEvents implements smsgw.v1.Messaging.
func (s *Server) AckEvents(ctx context.Context, r *pb.AckEventsRequest) (*pb.AckEventsResponse, error) {
	seq, err := s.engine.AckEvents(ctx, tenantFrom(ctx), r.GetCursor(), r.GetSeq())
	if err != nil {
		return nil, s.toStatus(ctx, "AckEvents", err)
	}
	return &pb.AckEventsResponse{Seq: seq}, nil
}

// ListCursors implements smsgw.v1.Messaging.
func (s *Server) ListCursors(ctx context.Context, _ *pb.ListCursorsRequest) (*pb.ListCursorsResponse, error) {
	cs, err := s.engine.Cursors(ctx, tenantFrom(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, "ListCursors", err)
	}
	out := &pb.ListCursorsResponse{}
	for _, c := range cs {
		out.Cursors = append(out.Cursors, &pb.Cursor{Name: c.Name, Seq: c.Seq, UpdateTime: ts(c.UpdatedAt)})
	}
	return out, nil
}

// DeleteCursor implements smsgw.v1.Messaging.
func (s *Server) DeleteCursor(ctx context.Context, r *pb.DeleteCursorRequest) (*pb.DeleteCursorResponse, error) {
	if err := s.engine.DeleteCursor(ctx, tenantFrom(ctx), r.GetName()); err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, statusErr(codes.NotFound, "CURSOR_NOT_FOUND", fmt.Sprintf("no cursor named %q", r.GetName()))
		}
		return nil, s.toStatus(ctx, "DeleteCursor", err)
	}
	return &pb.DeleteCursorResponse{}, nil
}

// GetMessage implements smsgw.v1.Messaging.
func (s *Server) GetMessage(ctx context.Context, r *pb.GetMessageRequest) (*pb.Message, error) {
	if r.GetId() == "" {
		return nil, fieldStatus(&gateway.FieldError{Field: "id", Reason: "is empty"}).Err()
	}
	m, err := s.engine.Get(ctx, tenantFrom(ctx), r.GetId())
	if errors.Is(err, gateway.ErrNotFound) {
		return nil, statusErr(codes.NotFound, "MESSAGE_NOT_FOUND", fmt.Sprintf("no message %q", r.GetId()))
	}
	if err != nil {
		return nil, s.toStatus(ctx, "GetMessage", err)
	}
	return toMessage(m), nil
}

// StreamEvents implements smsgw.v1.Messaging. It reads the store in pages,
// so a slow client only falls behind; it never holds the gateway back.
func (s *Server) StreamEvents(r *pb.StreamEventsRequest, stream pb.Messaging_StreamEventsServer) error {
	return s.streamEvents(stream.Context(), r, func(evs []*pb.Event) error {
		for _, ev := range evs {
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// StreamEventBatches implements smsgw.v1.Messaging: StreamEvents sending
// each page it reads in one message, where the per-message cost of gRPC
// (framing, a write, the client's read and wake-up) was most of what an
// event cost to stream.
func (s *Server) StreamEventBatches(r *pb.StreamEventBatchesRequest, stream pb.Messaging_StreamEventBatchesServer) error {
	req := &pb.StreamEventsRequest{FromSeq: r.GetFromSeq(), Kinds: r.GetKinds(), Cursor: r.GetCursor(), Start: r.GetStart(),
		HeartbeatInterval: r.GetHeartbeatInterval()}
	return s.streamEvents(stream.Context(), req, func(evs []*pb.Event) error {
		return stream.Send(&pb.EventBatch{Events: evs})
	})
}

// streamEvents serves an event stream, handing send the events of each
// page read (never none) and each heartbeat alone.
func (s *Server) streamEvents(ctx context.Context, r *pb.StreamEventsRequest, send func([]*pb.Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	tenant := tenantFrom(ctx)
	var want kindSet
	if len(r.GetKinds()) == 0 {
		// Audit events, added later, go only to streams that ask for them.
		want.status, want.inbound = true, true
	}
	for _, k := range r.GetKinds() {
		switch k {
		case pb.EventKind_EVENT_KIND_STATUS:
			want.status = true
		case pb.EventKind_EVENT_KIND_INBOUND:
			want.inbound = true
		case pb.EventKind_EVENT_KIND_AUDIT:
			want.audit = true
		case pb.EventKind_EVENT_KIND_HEARTBEAT:
			return fieldStatus(&gateway.FieldError{Field: "kinds", Reason: "heartbeats are asked for with heartbeat_interval, not in kinds"}).Err()
		default:
			return fieldStatus(&gateway.FieldError{Field: "kinds", Reason: fmt.Sprintf("unknown kind %v", k)}).Err()
		}
	}
	next, err := s.streamStart(ctx, tenant, r)
	if err != nil {
		return err
	}
	var beat time.Duration
	if hb := r.GetHeartbeatInterval(); hb != nil {
		if beat = hb.AsDuration(); beat < time.Second {
			return fieldStatus(&gateway.FieldError{Field: "heartbeat_interval", Reason: "must be at least 1s"}).Err()
		}
	}
	lastSent := time.Now()
	for {
		rctx, rcancel := ctx, context.CancelFunc(func() {})
		if beat > 0 {
			rctx, rcancel = context.WithDeadline(ctx, lastSent.Add(beat))
		}
		evs, err := s.engine.Events(rctx, tenant, next, 500)
		if err != nil && ctx.Err() == nil && rctx.Err() != nil {
			// The interval ended the wait (or a read it interrupted): a
			// heartbeat below, and the read again.
			evs, err = nil, nil
		}
		rcancel()
		if err != nil {
			select {
			case <-s.done:
				return statusErr(codes.Unavailable, "SHUTTING_DOWN", "the gateway is shutting down; resume from the next sequence number")
			default:
			}
			if errors.Is(err, gateway.ErrStopped) {
				return statusErr(codes.Unavailable, "SHUTTING_DOWN", "the gateway is shutting down; resume from the next sequence number")
			}
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return s.toStatus(ctx, "StreamEvents", err)
		}
		if len(evs) > 0 {
			next = evs[len(evs)-1].Seq + 1
		}
		if out := toEvents(evs, want); len(out) > 0 {
			if err := send(out); err != nil {
				return err
			}
			lastSent = time.Now()
		}
		if beat > 0 && time.Since(lastSent) >= beat {
			hb := &pb.Event{Seq: max(next-1, 0), Kind: pb.EventKind_EVENT_KIND_HEARTBEAT, Time: timestamppb.Now()}
			if err := send([]*pb.Event{hb}); err != nil {
				return err
			}
			lastSent = time.Now()
		}
	}
}

// resumeAt checks that a stream resuming at seq has missed nothing:
// OUT_OF_RANGE when retention deleted events from seq on, so a consumer
// learns it must reconcile (ListMessages) instead of going on silently
// after a gap.
func (s *Server) resumeAt(ctx context.Context, seq int64) (int64, error) {
	pruned, err := s.engine.PrunedThrough(ctx)
	if err != nil {
		return 0, s.toStatus(ctx, "StreamEvents", err)
	}
	if seq <= pruned {
		return 0, statusErr(codes.OutOfRange, "HISTORY_PRUNED", fmt.Sprintf("events up to seq %d were deleted by retention, so resuming at %d would skip some; "+
			"reconcile with ListMessages, then start at the latest event (start = START_POSITION_LATEST) or at %d", pruned, seq, pruned+1),
			"pruned_through", strconv.FormatInt(pruned, 10))
	}
	return seq, nil
}

// streamStart is the first seq a stream asks for: from_seq, else by the
// start position, else after the cursor, else the oldest kept.
func (s *Server) streamStart(ctx context.Context, tenant string, r *pb.StreamEventsRequest) (int64, error) {
	if r.GetFromSeq() < 0 {
		return 0, fieldStatus(&gateway.FieldError{Field: "from_seq", Reason: "must not be negative"}).Err()
	}
	if r.GetFromSeq() > 0 {
		if r.GetStart() != pb.StartPosition_START_POSITION_UNSPECIFIED {
			return 0, fieldStatus(&gateway.FieldError{Field: "start", Reason: "must be unspecified when from_seq is set"}).Err()
		}
		return s.resumeAt(ctx, r.GetFromSeq())
	}
	switch r.GetStart() {
	case pb.StartPosition_START_POSITION_EARLIEST:
		return 0, nil
	case pb.StartPosition_START_POSITION_LATEST:
		seq, err := s.engine.LastSeq(ctx)
		if err != nil {
			return 0, s.toStatus(ctx, "StreamEvents", err)
		}
		return seq + 1, nil
	case pb.StartPosition_START_POSITION_UNSPECIFIED:
		if r.GetCursor() == "" {
			return 0, nil
		}
		seq, err := s.engine.Cursor(ctx, tenant, r.GetCursor())
		if err != nil {
			return 0, s.toStatus(ctx, "StreamEvents", err)
		}
		if seq == 0 {
			return 0, nil // a new cursor starts at the oldest kept
		}
		return s.resumeAt(ctx, seq+1)
	}
	return 0, fieldStatus(&gateway.FieldError{Field: "start", Reason: fmt.Sprintf("unknown start position %v", r.GetStart())}).Err()
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

var statuses = map[gateway.Status]pb.Status{
	gateway.StatusAccepted:    pb.Status_STATUS_ACCEPTED,
	gateway.StatusSubmitted:   pb.Status_STATUS_SUBMITTED,
	gateway.StatusDelivered:   pb.Status_STATUS_DELIVERED,
	gateway.StatusUndelivered: pb.Status_STATUS_UNDELIVERED,
	gateway.StatusExpired:     pb.Status_STATUS_EXPIRED,
	gateway.StatusRejected:    pb.Status_STATUS_REJECTED,
	gateway.StatusFailed:      pb.Status_STATUS_FAILED,
	gateway.StatusCanceled:    pb.Status_STATUS_CANCELED,
	gateway.StatusOptedOut:    pb.Status_STATUS_OPTED_OUT,
}

func toMessage(m *gateway.Message) *pb.Message {
	out := &pb.Message{
		Id: m.ID, ClientRef: m.ClientRef, From: m.From, To: m.To, Text: m.Text,
		Encoding: string(m.Encoding), EncodingType: encodings[m.Encoding], Priority: m.Priority, Status: statuses[m.Status],
		Attempts: int32(m.Tries), Carrier: m.Carrier, Cost: m.Cost, Currency: m.Currency,
		LastError: m.LastError, CreatedAt: ts(m.CreatedAt), UpdatedAt: ts(m.UpdatedAt), PinnedCarrier: m.PinnedCarrier,
		NotBefore: ts(m.NotBefore), ExpiresAt: ts(m.ExpiresAt),
	}
	if m.Cost != 0 || m.Currency != "" {
		out.Price = toMoney(m.Cost, m.Currency)
	}
	for _, p := range m.Parts {
		part := &pb.Part{Index: int32(p.Index), Carrier: p.Carrier, CarrierId: p.CarrierID,
			Status: statuses[p.Status], Error: p.Error, UpdatedAt: ts(p.UpdatedAt), Cost: p.Cost}
		if p.Cost != 0 || p.CarrierID != "" {
			part.Price = toMoney(p.Cost, m.Currency)
		}
		out.Parts = append(out.Parts, part)
	}
	for _, a := range m.Attempts {
		out.History = append(out.History, &pb.Attempt{Carrier: a.Carrier, Outcome: a.Outcome, OutcomeType: outcomes[a.Outcome], Detail: a.Detail, At: ts(a.At)})
	}
	return out
}

// kindSet is the event kinds a stream asked for.
type kindSet struct{ status, inbound, audit bool }

// has says whether k was asked for; a kind this API has no value for
// never is.
func (w kindSet) has(k gateway.EventKind) bool {
	switch k {
	case gateway.EventStatus:
		return w.status
	case gateway.EventInbound:
		return w.inbound
	case gateway.EventAudit:
		return w.audit
	}
	return false
}

// toEvents is the events of evs that want has, as the API sends them. A
// stream sends a page of up to 500 at a time, so their Events and
// Timestamps are made in two allocations, not two an event.
func toEvents(evs []gateway.Event, want kindSet) []*pb.Event {
	n := 0
	for i := range evs {
		if want.has(evs[i].Kind) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out, msgs, times := make([]*pb.Event, 0, n), make([]pb.Event, n), make([]timestamppb.Timestamp, n)
	for i := range evs {
		if ev := &evs[i]; want.has(ev.Kind) {
			j := len(out)
			toEvent(&msgs[j], &times[j], ev)
			out = append(out, &msgs[j])
		}
	}
	return out
}

// toEvent fills out with ev as the API sends it, its time in at (unless
// ev has none); StreamEvents sends only the kinds it has a value for.
func toEvent(out *pb.Event, at *timestamppb.Timestamp, ev *gateway.Event) {
	out.Seq, out.MessageId, out.Status, out.Detail, out.ClientRef = ev.Seq, ev.MessageID, statuses[ev.Status], ev.Detail, ev.ClientRef
	if !ev.Time.IsZero() {
		at.Seconds, at.Nanos = ev.Time.Unix(), int32(ev.Time.Nanosecond())
		out.Time = at
	}
	switch ev.Kind {
	case gateway.EventStatus:
		out.Kind = pb.EventKind_EVENT_KIND_STATUS
	case gateway.EventInbound:
		out.Kind = pb.EventKind_EVENT_KIND_INBOUND
		if in := ev.Inbound; in != nil {
			out.Inbound = &pb.InboundMessage{Id: in.ID, Carrier: in.Carrier, From: in.From, To: in.To, Text: in.Text, ReceivedAt: ts(in.ReceivedAt),
				Keyword: in.Keyword}
		}
	case gateway.EventAudit:
		out.Kind = pb.EventKind_EVENT_KIND_AUDIT
		if a := ev.Audit; a != nil {
			out.Audit = &pb.AuditEntry{User: a.User, Role: a.Role, Source: a.Source, Action: a.Action, Target: a.Target,
				Outcome: a.Outcome, At: ts(a.At)}
		}
	}
}
