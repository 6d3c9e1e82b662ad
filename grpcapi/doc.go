// Package grpcapi serves the smsgw.v1 gRPC contract: the Messaging service
// over the gateway Engine, and the Admin service over an Operator (the app).
//
// Every call but the health and reflection services is authenticated by an
// interceptor before a handler runs, from `authorization: Bearer KEY`. A
// tenant's API key selects the tenant, and Messaging handlers only ever pass
// that tenant to the engine, so no call can name another tenant's data. An
// admin key has no tenant and opens the Admin service only; a tenant's key
// never opens it. Keys are held as SHA-256 digests and compared in constant
// time; Keys.Set replaces them all at once on a reload.
package grpcapi
