package grpcapi

import (
	"context"
	"strings"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the ErrorInfo domain of every error the API returns.
const ErrorDomain = "smsgw.openmf.org"

// Every error carries an ErrorInfo (AIP-193) whose reason a client can
// switch on without parsing text; the reasons are listed in the Messaging
// service's comment (docs/api.md). A status built without one gets the
// code's name as its reason on the way out (withErrorInfo).

// statusErr is an error with code, message and an ErrorInfo of reason and
// the metadata pairs kv.
func statusErr(c codes.Code, reason, msg string, kv ...string) error {
	return withInfo(status.New(c, msg), reason, kv...).Err()
}

// withInfo adds an ErrorInfo to st.
func withInfo(st *status.Status, reason string, kv ...string) *status.Status {
	info := &errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain}
	if len(kv) > 0 {
		info.Metadata = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			info.Metadata[kv[i]] = kv[i+1]
		}
	}
	if d, err := st.WithDetails(info); err == nil {
		return d
	}
	return st
}

// hasInfo says whether st carries an ErrorInfo.
func hasInfo(st *status.Status) bool {
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.ErrorInfo); ok {
			return true
		}
	}
	return false
}

// EnsureErrorInfo gives err an ErrorInfo (domain ErrorDomain) named after
// its code when it has none: errors gRPC itself makes (a deadline
// passing), or the REST gateway (a body that is not JSON), so a client
// always has a reason to switch on.
func EnsureErrorInfo(err error) error { return ensureInfo(err) }

// ensureInfo is EnsureErrorInfo.
func ensureInfo(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK || hasInfo(st) {
		return err
	}
	return withInfo(st, codeReason(st.Code())).Err()
}

// codeReason is a code's name as a reason: InvalidArgument → INVALID_ARGUMENT.
func codeReason(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// errorInfoUnary and errorInfoStream run outermost, so every error leaving
// the server has its ErrorInfo.
func errorInfoUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	return resp, ensureInfo(err)
}

func errorInfoStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return ensureInfo(h(srv, ss))
}
