package rest

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/openmf/smsgw/grpcapi"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// Prefix is where the routes live; every path the annotations give starts
// with it.
const Prefix = "/v1/"

// OpenAPIPath is where the OpenAPI document is served.
const OpenAPIPath = "/v1/openapi.json"

// eventsPath is the streamed route, exempt from the listener's timeouts.
const eventsPath = "/v1/events"

// Routes are the REST API's handlers by ServeMux pattern, calling the gRPC
// API through conn (a grpcapi.Server.InProcess connection).
func Routes(conn *grpc.ClientConn) (map[string]http.Handler, error) {
	mux := runtime.NewServeMux(
		// Proto field names are accepted on input as well; an unknown
		// field is refused (400 naming it) rather than dropped, and
		// unset fields are shown, so a client sees the whole message.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{},
		}}),
		runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
			return metadata.Pairs(grpcapi.RemoteAddrKey, r.RemoteAddr)
		}),
		runtime.WithErrorHandler(errorHandler),
	)
	if err := pb.RegisterMessagingHandlerClient(context.Background(), mux, pb.NewMessagingClient(conn)); err != nil {
		return nil, fmt.Errorf("rest: %w", err)
	}
	return map[string]http.Handler{
		Prefix: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == eventsPath {
				untimed(w)
			}
			mux.ServeHTTP(w, r)
		}),
		"GET " + OpenAPIPath: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(pb.OpenAPI)
		}),
	}, nil
}

// untimed lifts the listener's read and write deadlines from a streamed
// response: they bound ordinary requests, and would end an event stream
// within minutes (read 2 min, write 5 min by default) however healthy it
// is.
func untimed(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}

// errorHandler is grpc-gateway's (the google.rpc.Status as JSON, the HTTP
// code of its gRPC code), plus Retry-After when the error says when to
// retry (RATE_LIMITED), as HTTP clients and proxies expect of a 429. The
// gateway's own errors (a body that is not JSON, an unknown route) get an
// ErrorInfo too, as the gRPC API's do.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	err = grpcapi.EnsureErrorInfo(err)
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			secs := math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())
			w.Header().Set("Retry-After", strconv.Itoa(max(int(secs), 1)))
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}
