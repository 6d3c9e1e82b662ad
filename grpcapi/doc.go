// Package grpcapi serves the smsgw.v1 gRPC contract over the gateway Engine.
//
// Every call is authenticated by an interceptor before a handler runs: the
// API key in `authorization: Bearer KEY` selects the tenant, and handlers only
// ever pass that tenant to the engine, so no call can name another tenant's
// data. Keys are held as SHA-256 digests and compared in constant time.
package grpcapi
