package grpcapi

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/test/bufconn"

	"github.com/openmf/smsgw/internal/guard"
)

// RemoteAddrKey is the metadata key under which a caller in this process
// (the REST gateway) names the address of the client it calls for, so the
// failed-login back-off counts that client and not the gateway. It is read
// only on InProcess connections: a network client cannot set it.
const RemoteAddrKey = "smsgw-remote-addr"

// inProcessNetwork is the Network() of the addresses bufconn gives both
// ends of an InProcess connection; no network listener has it.
const inProcessNetwork = "bufconn"

// InProcess returns a client connection to this server over an in-memory
// listener, served from Serve on. The REST gateway calls the gRPC API
// through it, so a REST call passes the very interceptors a gRPC call does
// (API keys and their back-off, UTF-8 checks, ErrorInfo) and there is one
// error model. Call it before Serve; close the connection after Stop.
func (s *Server) InProcess() (*grpc.ClientConn, error) {
	l := bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///smsgw-in-process",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("grpcapi: in-process connection: %w", err)
	}
	s.inProcess = append(s.inProcess, l)
	return conn, nil
}

// callerSource is the address a call's failed logins count against: the
// peer's, or for an InProcess call the address its caller named.
func callerSource(ctx context.Context) (iface, src string) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "grpc", ""
	}
	if p.Addr.Network() != inProcessNetwork {
		return "grpc", guard.Source(p.Addr.String())
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(RemoteAddrKey); len(v) > 0 {
		return "rest", guard.Source(v[0])
	}
	return "rest", ""
}
