// Package client is the Go client of smsgw's gRPC API, used by the smsgw CLI,
// the bench tool and Mifos-side adapters written in Go.
package client

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// Client is a connection to one gateway, authenticated as one tenant. It
// embeds the generated client, so every RPC is a method.
type Client struct {
	pb.MessagingClient
	conn *grpc.ClientConn
}

// Bearer sends an API key with every call, as the gateway expects:
// `authorization: Bearer KEY`.
type Bearer string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b Bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity allows plain text: the gateway listens on
// loopback by default, and TLS is configured with opts when it does not.
func (Bearer) RequireTransportSecurity() bool { return false }

// retryPolicy retries calls the gateway answered Unavailable (restarting,
// store busy) or ResourceExhausted (tenant over its rate) with backoff.
// Send is safe to retry because Client.Send always carries a client_ref.
const retryPolicy = `{"methodConfig": [{
  "name": [{"service": "smsgw.v1.Messaging"}],
  "retryPolicy": {
    "maxAttempts": 5, "initialBackoff": "0.2s", "maxBackoff": "5s", "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]
  }
}]}`

// Keepalive pings the gateway every 20 s, even with no call open, and
// gives a silent connection 10 s: an event stream that waits for hours
// notices a dead link or a NAT that forgot it, instead of waiting forever.
// The gateway accepts pings down to every 5 s (grpcapi.KeepaliveEnforcement).
var Keepalive = keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}

// Dial connects lazily (the first call dials). Without opts the transport is
// plain text; pass grpc.WithTransportCredentials for TLS. Calls are retried
// on Unavailable and ResourceExhausted (see retryPolicy); opts may override.
func Dial(addr, apiKey string, opts ...grpc.DialOption) (*Client, error) {
	if apiKey == "" {
		return nil, errors.New("client: no API key")
	}
	all := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(retryPolicy),
		grpc.WithKeepaliveParams(Keepalive),
	}, opts...)
	all = append(all, grpc.WithPerRPCCredentials(Bearer(apiKey)))
	conn, err := grpc.NewClient(addr, all...)
	if err != nil {
		return nil, err
	}
	return &Client{MessagingClient: pb.NewMessagingClient(conn), conn: conn}, nil
}

// Send sends one message. A request without client_ref gets a fresh one,
// so a retry after a lost answer returns the first message's id instead of
// sending the SMS twice.
func (c *Client) Send(ctx context.Context, r *pb.SendRequest, opts ...grpc.CallOption) (*pb.SendResponse, error) {
	if r.GetClientRef() == "" {
		r = proto.CloneOf(r)
		r.ClientRef = newRef()
	}
	return c.MessagingClient.Send(ctx, r, opts...)
}

// newRef makes a client_ref: a UUIDv7, so the refs one client makes sort
// by time. The gateway keeps a unique index on (tenant, client_ref), and
// time-ordered refs land at its right edge: random (v4) refs each dirtied
// a page of their own in every commit, which was over a third of the
// SQLite store's page writes (bench/RESULTS.md "Ordered client refs").
func newRef() string {
	return uuid.Must(uuid.NewV7()).String()
}

// SendBatch is Send for many messages: each item without client_ref gets
// one, so retrying the whole batch duplicates nothing.
func (c *Client) SendBatch(ctx context.Context, r *pb.SendBatchRequest, opts ...grpc.CallOption) (*pb.SendBatchResponse, error) {
	r = proto.CloneOf(r)
	for _, m := range r.GetMessages() {
		if m.GetClientRef() == "" {
			m.ClientRef = newRef()
		}
	}
	return c.MessagingClient.SendBatch(ctx, r, opts...)
}

// Conn is the underlying connection, for other services on the same
// listener (health, reflection).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }
