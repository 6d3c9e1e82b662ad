package client_test

import (
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/grpcapi"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// errorInfo is the ErrorInfo an error carries, nil when none.
func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// TestErrorsCarryReasons: each kind of refusal names its reason in an
// ErrorInfo of smsgw's domain, with the metadata a client acts on.
func TestErrorsCarryReasons(t *testing.T) {
	a := startGateway(t, nil)
	c := dial(t, a.GRPCAddr(), apptest.KeyA)
	stranger := dial(t, a.GRPCAddr(), "not-a-key-of-anyone-here")
	ctx := timeout(t, 10*time.Second)
	sent, err := c.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "first", ClientRef: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, badNumber := c.Send(ctx, &pb.SendRequest{To: "07123abc45", Text: "x"})
	_, reused := c.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "second", ClientRef: "r-1"})
	_, missing := c.GetMessage(ctx, &pb.GetMessageRequest{Id: "0190d9c4-0000-7000-8000-000000000000"})
	_, noCursor := c.DeleteCursor(ctx, &pb.DeleteCursorRequest{Name: "nobody"})
	_, unknownKey := stranger.GetMessage(ctx, &pb.GetMessageRequest{Id: sent.GetId()})
	for _, tc := range []struct {
		name   string
		err    error
		reason string
		meta   map[string]string
	}{
		{"invalid number", badNumber, "FIELD_INVALID", map[string]string{"field": "to"}},
		{"reused client_ref", reused, "CLIENT_REF_REUSED", map[string]string{"message_id": sent.GetId(), "client_ref": "r-1"}},
		{"no such message", missing, "MESSAGE_NOT_FOUND", nil},
		{"no such cursor", noCursor, "CURSOR_NOT_FOUND", nil},
		{"unknown key", unknownKey, "API_KEY_UNKNOWN", nil},
	} {
		info := errorInfo(tc.err)
		if info == nil || info.GetReason() != tc.reason || info.GetDomain() != grpcapi.ErrorDomain {
			t.Errorf("%s: %v carries %v; want reason %s in %s", tc.name, tc.err, info, tc.reason, grpcapi.ErrorDomain)
			continue
		}
		for k, v := range tc.meta {
			if info.GetMetadata()[k] != v {
				t.Errorf("%s: metadata %v, want %s=%s", tc.name, info.GetMetadata(), k, v)
			}
		}
	}
}
