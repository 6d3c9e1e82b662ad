package grpcapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/grpcapi"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/routing"
)

// failingStore is a real SQLite store whose Accept fails with the error the
// test sets: how a full disk or a bug looks to the API.
type failingStore struct {
	gateway.Store
	acceptErr atomic.Pointer[error]
}

func (f *failingStore) Accept(ctx context.Context, msgs []*gateway.Message) ([]gateway.AcceptResult, error) {
	if err := f.acceptErr.Load(); err != nil {
		return nil, *err
	}
	return f.Store.Accept(ctx, msgs)
}

const key = "tenant-key-0001"

func start(t *testing.T) (*grpc.ClientConn, *failingStore, *testutil.Logs) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "s.db")}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := &failingStore{Store: st}
	table, err := routing.NewTable([]routing.Route{{Prefix: "+", Carrier: "none", Cost: 1}})
	if err != nil {
		t.Fatal(err)
	}
	router, err := routing.NewRouter(table, routing.Options{Up: func(string) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	e, err := gateway.New(gateway.Options{Store: fs, Router: router,
		Segment: func(text string) (gateway.Encoding, int, error) { return gateway.EncodingGSM7, 1, nil },
		Tenants: []gateway.Tenant{{ID: "t", DefaultRegion: "KE", Sender: "MFI"}}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Logs{}
	srv := grpcapi.New(e, nil, grpcapi.NewKeys(map[string][]string{"t": {key}}, nil), logs.Logger(), 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
		st.Close()
	})
	return conn, fs, logs
}

func authed() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
}

func violations(err error) []string {
	st, _ := status.FromError(err)
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

// rawCodec sends a request's bytes as they are, so a test can send what no
// protobuf library would encode (invalid UTF-8), and decodes answers as
// protobuf.
type rawCodec struct{ encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(*[]byte); ok {
		return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// withInvalidText encodes m with "PLACEHOLDER" in a string field replaced
// by bytes of the same length that are not UTF-8.
func withInvalidText(t *testing.T, m proto.Message) *[]byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("PLACEHOLDER"), []byte("PLACEHOLD\xff\xfe"))
	return &b
}

// TestErrorModel: each kind of failure gets its code, so a client retries
// only what may succeed later; no answer shows an internal error's text;
// validation failures name their fields.
func TestErrorModel(t *testing.T) {
	cc, fs, logs := start(t)
	cl := pb.NewMessagingClient(cc)
	ctx := authed()

	// Letters are refused, not read as keypad digits (0712abc678 once
	// became +254712222678).
	_, err := cl.Send(ctx, &pb.SendRequest{To: "0712abc678", Text: "hello"})
	if status.Code(err) != codes.InvalidArgument || fmt.Sprint(violations(err)) != "[to]" || !strings.Contains(err.Error(), "letter") {
		t.Errorf("letters in the number: %v, want INVALID_ARGUMENT on to", err)
	}

	// A negative seq is the caller's mistake, not the store's.
	_, err = cl.AckEvents(ctx, &pb.AckEventsRequest{Cursor: "c", Seq: -5})
	if status.Code(err) != codes.InvalidArgument || fmt.Sprint(violations(err)) != "[seq]" || strings.Contains(err.Error(), "store") {
		t.Errorf("AckEvents seq -5: %v, want INVALID_ARGUMENT on seq", err)
	}
	_, err = cl.AckEvents(ctx, &pb.AckEventsRequest{Cursor: "c", Seq: 1 << 40})
	if status.Code(err) != codes.InvalidArgument || fmt.Sprint(violations(err)) != "[seq]" {
		t.Errorf("AckEvents ahead of the log: %v, want INVALID_ARGUMENT on seq", err)
	}

	// A date past 2262 once overflowed the store's nanoseconds: beyond the
	// schedule horizon (a year by default) it is refused by field.
	far := timestamppb.New(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))
	for field, req := range map[string]*pb.SendRequest{
		"not_before": {To: "+254712345678", Text: "hello", NotBefore: far},
		"expires_at": {To: "+254712345678", Text: "hello", ExpiresAt: far},
	} {
		_, err = cl.Send(ctx, req)
		if status.Code(err) != codes.InvalidArgument || fmt.Sprint(violations(err)) != "["+field+"]" {
			t.Errorf("%s in 2300: %v, want INVALID_ARGUMENT on %s", field, err, field)
		}
	}

	// Invalid UTF-8 is the request's fault, named by field, in a batch too.
	raw := grpc.ForceCodecV2(rawCodec{encoding.GetCodecV2(protocodec.Name)})
	var resp pb.SendResponse
	err = cc.Invoke(ctx, "/smsgw.v1.Messaging/Send", withInvalidText(t, &pb.SendRequest{To: "+254712345678", Text: "PLACEHOLDER"}), &resp, raw)
	if status.Code(err) != codes.InvalidArgument || fmt.Sprint(violations(err)) != "[text]" {
		t.Errorf("invalid UTF-8 text: %v, want INVALID_ARGUMENT on text", err)
	}
	var bresp pb.SendBatchResponse
	err = cc.Invoke(ctx, "/smsgw.v1.Messaging/SendBatch", withInvalidText(t, &pb.SendBatchRequest{Messages: []*pb.SendRequest{
		{To: "+254712345678", Text: "fine"}, {To: "+254712345678", Text: "PLACEHOLDER"}}}), &bresp, raw)
	if status.Code(err) != codes.InvalidArgument || fmt.Sprint(violations(err)) != "[messages[1].text]" {
		t.Errorf("invalid UTF-8 in a batch: %v, want INVALID_ARGUMENT on messages[1].text", err)
	}

	// Not found and state conflicts.
	_, err = cl.GetMessage(ctx, &pb.GetMessageRequest{Id: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetMessage unknown: %v, want NOT_FOUND", err)
	}
	ok, err := cl.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "to cancel"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CancelMessage(ctx, &pb.CancelMessageRequest{Id: ok.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err = cl.CancelMessage(ctx, &pb.CancelMessageRequest{Id: ok.GetId()}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("cancel twice: %v, want FAILED_PRECONDITION", err)
	}

	// A failed commit (a full disk) is transient: UNAVAILABLE, without the
	// database's words.
	full := fmt.Errorf("store: commit: database or disk is full /var/lib/smsgw/smsgw.db (%w)", gateway.ErrUnavailable)
	fs.acceptErr.Store(&full)
	_, err = cl.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "hello"})
	if status.Code(err) != codes.Unavailable || strings.Contains(err.Error(), "disk") || strings.Contains(err.Error(), "/var/lib") {
		t.Errorf("store full: %v, want UNAVAILABLE without the cause", err)
	}

	// Anything else is a bug: INTERNAL with a reference to the log line,
	// never UNAVAILABLE (a client would retry it forever).
	bug := errors.New("store: accept: SQL logic error near \"SELEC\" in /src/sqlite_ops.go")
	fs.acceptErr.Store(&bug)
	_, err = cl.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "hello"})
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "SQL") || !strings.Contains(err.Error(), "ref ") {
		t.Fatalf("unknown store error: %v, want INTERNAL with a reference only", err)
	}
	ref := strings.TrimSpace(err.Error()[strings.LastIndex(err.Error(), "ref ")+4:])
	rec, found := logs.Find("internal error")
	if !found || rec["ref"] != ref || !strings.Contains(fmt.Sprint(rec["err"]), "SQL logic error") || rec["level"] != "ERROR" {
		t.Errorf("log of the internal error: %v, want ref %s with the cause at ERROR", rec, ref)
	}
}
