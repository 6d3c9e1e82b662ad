package grpcapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/openmf/smsgw/gateway"
)

// The error model every Messaging call follows, so a client knows from the
// code alone whether to fix the request, look elsewhere or retry:
//
//	INVALID_ARGUMENT     the request is wrong; BadRequest names each field
//	ALREADY_EXISTS       the client_ref is the key of a message with another
//	                     number or text (a true retry answers the stored one)
//	NOT_FOUND            no such message (another tenant's reads the same)
//	FAILED_PRECONDITION  the request is right but the state forbids it now
//	                     (canceling a message a carrier has taken)
//	RESOURCE_EXHAUSTED   over the tenant's rate; RetryInfo says when
//	UNAVAILABLE          a transient failure: the store cannot take writes,
//	                     the gateway is stopping; the same call may succeed
//	INTERNAL             anything else: a bug, logged with a reference the
//	                     answer carries
//
// No answer carries an internal error's text (a database message, a file
// path): the log has it under the answer's reference.

// fieldStatus is INVALID_ARGUMENT naming the field at fault.
func fieldStatus(fe *gateway.FieldError) *status.Status {
	return withInfo(violations(fe.Error(), &errdetails.BadRequest_FieldViolation{Field: fe.Field, Description: fe.Reason}), "FIELD_INVALID", "field", fe.Field)
}

// violations is INVALID_ARGUMENT with a BadRequest detail listing vs.
func violations(msg string, vs ...*errdetails.BadRequest_FieldViolation) *status.Status {
	st := status.New(codes.InvalidArgument, msg)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: vs}); err == nil {
		return d
	}
	return st
}

// errUnavailable is the one answer to a transient failure: it says what to
// do, not what broke.
var errUnavailable = statusErr(codes.Unavailable, "UNAVAILABLE", "the gateway cannot take this request right now; retry later with the same client_ref")

// toStatus answers err, an error of the engine, by the error model above.
// An error it does not recognise is logged at ERROR with a reference, and
// the client gets INTERNAL with that reference only.
func (s *Server) toStatus(ctx context.Context, op string, err error) error {
	var (
		fe *gateway.FieldError
		qe *gateway.QuotaError
		rc *gateway.RefConflictError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.As(err, &fe):
		return fieldStatus(fe).Err()
	case errors.As(err, &qe):
		if qe.TooLarge {
			return fieldStatus(&gateway.FieldError{Field: "messages", Reason: "more messages than the tenant's burst allows at once: split the batch"}).Err()
		}
		st := withInfo(status.New(codes.ResourceExhausted, qe.Error()), "RATE_LIMITED", "tenant", qe.Tenant)
		if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(qe.RetryAfter)}); derr == nil {
			st = d
		}
		return st.Err()
	case errors.As(err, &rc):
		return statusErr(codes.AlreadyExists, "CLIENT_REF_REUSED", rc.Error(), "client_ref", rc.ClientRef, "message_id", rc.ID)
	case errors.Is(err, gateway.ErrNotFound):
		return statusErr(codes.NotFound, "MESSAGE_NOT_FOUND", "no such message")
	case errors.Is(err, gateway.ErrNotCancelable):
		return statusErr(codes.FailedPrecondition, "NOT_CANCELABLE", "the message is already being sent or has ended")
	case errors.Is(err, gateway.ErrAckAhead):
		return fieldStatus(&gateway.FieldError{Field: "seq", Reason: "is beyond the last event"}).Err()
	case errors.Is(err, gateway.ErrUnavailable), errors.Is(err, gateway.ErrStopped):
		s.log.Warn("grpc: transient failure", "op", op, "err", err)
		return errUnavailable
	}
	ref := newRef()
	s.log.Error("grpc: internal error", "op", op, "ref", ref, "tenant", tenantFrom(ctx), "err", err)
	return statusErr(codes.Internal, "INTERNAL", fmt.Sprintf("internal error; the gateway logged it as ref %s", ref), "ref", ref)
}

// newRef is a short random reference tying an INTERNAL answer to its log
// line.
func newRef() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// discard is the logger of a server built without one.
var discard = slog.New(slog.DiscardHandler)
