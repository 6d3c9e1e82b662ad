// Package guard holds the abuse and resource controls the interfaces share:
// constant-time secret comparison, failed-authentication back-off per
// source address and per user, bounds on every listener (timeouts, a cap
// on concurrent connections, body sizes) and an explicit answer to
// cross-origin browser requests.
//
// It imports nothing of this module, so every interface (gRPC, the HTTP
// listener, Kannel's, Fineract's) can use it without a dependency between
// them. docs/security.md lists each control with its default, its metric
// and how to tune it.
package guard
