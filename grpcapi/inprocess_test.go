package grpcapi

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/test/bufconn"
)

// TestCallerSource: failed logins count against the network peer, or,
// on an in-process call only, against the client the REST gateway names.
// A network client naming an address is not believed.
func TestCallerSource(t *testing.T) {
	named := metadata.NewIncomingContext(context.Background(), metadata.Pairs(RemoteAddrKey, "203.0.113.7:51000"))
	tcp := &net.TCPAddr{IP: net.ParseIP("198.51.100.2"), Port: 40000}
	inProcess := bufconn.Listen(1).Addr()
	for _, tt := range []struct {
		ctx         context.Context
		iface, want string
	}{
		{peer.NewContext(named, &peer.Peer{Addr: tcp}), "grpc", "198.51.100.2"},
		{peer.NewContext(named, &peer.Peer{Addr: inProcess}), "rest", "203.0.113.7"},
		{peer.NewContext(context.Background(), &peer.Peer{Addr: inProcess}), "rest", ""},
		{context.Background(), "grpc", ""},
	} {
		if iface, src := callerSource(tt.ctx); iface != tt.iface || src != tt.want {
			t.Errorf("callerSource = %s %q, want %s %q", iface, src, tt.iface, tt.want)
		}
	}
}
