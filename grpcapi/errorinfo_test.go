package grpcapi

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestErrorsWithoutInfoGetOne: a status made without an ErrorInfo (by gRPC
// itself, or code that forgot) leaves the server with its code's name as
// the reason; one that has an ErrorInfo keeps it.
func TestErrorsWithoutInfoGetOne(t *testing.T) {
	err := ensureInfo(status.Error(codes.DeadlineExceeded, "late"))
	st := status.Convert(err)
	if st.Code() != codes.DeadlineExceeded || st.Message() != "late" || !hasInfo(st) {
		t.Fatalf("ensureInfo = %v", st)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && (info.GetReason() != "DEADLINE_EXCEEDED" || info.GetDomain() != ErrorDomain) {
			t.Errorf("ErrorInfo %v, want DEADLINE_EXCEEDED in %s", info, ErrorDomain)
		}
	}
	kept := statusErr(codes.NotFound, "CURSOR_NOT_FOUND", "no cursor")
	if got := ensureInfo(kept); len(status.Convert(got).Details()) != 1 {
		t.Errorf("an error with its ErrorInfo got another: %v", status.Convert(got).Details())
	}
	if ensureInfo(nil) != nil {
		t.Error("ensureInfo(nil) is not nil")
	}
}
