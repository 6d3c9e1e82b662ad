// Package client is the Go client of smsgw's gRPC API, used by the smsgw CLI,
// the bench tool and Mifos-side adapters written in Go.
package client

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

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

// Dial connects lazily (the first call dials). Without opts the transport is
// plain text; pass grpc.WithTransportCredentials for TLS.
func Dial(addr, apiKey string, opts ...grpc.DialOption) (*Client, error) {
	if apiKey == "" {
		return nil, errors.New("client: no API key")
	}
	all := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	all = append(all, grpc.WithPerRPCCredentials(Bearer(apiKey)))
	conn, err := grpc.NewClient(addr, all...)
	if err != nil {
		return nil, err
	}
	return &Client{MessagingClient: pb.NewMessagingClient(conn), conn: conn}, nil
}

// Conn is the underlying connection, for other services on the same
// listener (health, reflection).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }
