package client_test

import (
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/app/apptest"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// TestPageTokensAreOpaqueAndBound: the next page follows with the token
// and the same filters; a token with other filters, a message id passed as
// a token and garbage are refused with INVALID_ARGUMENT on page_token
// instead of answering page one again.
func TestPageTokensAreOpaqueAndBound(t *testing.T) {
	a := startGateway(t, nil)
	c := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx := timeout(t, 10*time.Second)
	for _, to := range []string{"+254712000001", "+254712000001", "+254712000001", "+254712000002"} {
		if _, err := c.Send(ctx, &pb.SendRequest{To: to, Text: "page me"}); err != nil {
			t.Fatal(err)
		}
	}
	req := &pb.ListMessagesRequest{To: "+254712000001", PageSize: 2}
	p1, err := c.ListMessages(ctx, req)
	if err != nil || len(p1.GetMessages()) != 2 || p1.GetNextPageToken() == "" || p1.GetNextPageToken() == p1.GetMessages()[1].GetId() {
		t.Fatalf("page 1: %v, %v; want 2 messages and an opaque token", p1, err)
	}
	p2, err := c.ListMessages(ctx, &pb.ListMessagesRequest{To: "+254712000001", PageSize: 2, PageToken: p1.GetNextPageToken()})
	if err != nil || len(p2.GetMessages()) != 1 || p2.GetNextPageToken() != "" {
		t.Fatalf("page 2: %v, %v; want the third message and no token", p2, err)
	}
	for name, bad := range map[string]*pb.ListMessagesRequest{
		"other filters": {To: "+254712000002", PageSize: 2, PageToken: p1.GetNextPageToken()},
		"a message id":  {To: "+254712000001", PageSize: 2, PageToken: p1.GetMessages()[1].GetId()},
		"garbage":       {PageToken: "%%%"},
	} {
		_, err := c.ListMessages(ctx, bad)
		if status.Code(err) != codes.InvalidArgument || !hasFieldViolation(err, "page_token") {
			t.Errorf("%s: %v, want INVALID_ARGUMENT naming page_token", name, err)
		}
	}
}

// hasFieldViolation says whether err carries a BadRequest naming field.
func hasFieldViolation(err error, field string) bool {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return true
				}
			}
		}
	}
	return false
}
