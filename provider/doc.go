// Package provider holds what smsgw's HTTP provider connectors share; the
// connectors themselves live one per folder beneath it (twilio, vonage,
// africastalking), each with the same rooms: the connector, its config.go,
// its tests against an httptest fake built to the provider's documented
// request and response shapes.
//
// What is here: Core (lifecycle, in-flight cap, TPS limiter, HTTP client,
// the one-request-per-message Submit skeleton and the webhook-to-Sink
// skeleton), the HTTP status → gateway.Decision table (HTTPDecision), the
// settings every provider config has (ValidateHTTP), the smsgw_provider_*
// metrics, and Mount for the HTTP listener. Each connector is one carrier
// kind of the composition root (app.ConnectorKinds), which decodes its
// config section and builds it.
//
// # Invariants
//
//   - One request per message. A cloud provider takes the whole text and
//     segments it itself, so Submit sends one request whatever parts it is
//     asked for, and returns the provider's id for every asked part. Window
//     is concurrency × MaxPartsPerRequest so the engine never splits a
//     message across two Submit calls (which would send it twice); the real
//     cap is `concurrency` requests in flight, a semaphore taken before the
//     TPS limiter.
//   - Every failure is a *gateway.SubmitError with a Code ("http:503",
//     "twilio:21211", "http:timeout") and the Decision from the tables in
//     HTTPDecision and each connector's code table.
//   - A callback's signature or token is verified before anything in it is
//     read into a receipt; a missing or wrong one is refused with 403 and
//     nothing reaches the sink.
//   - A receipt is acknowledged (200) only after the sink returned nil for
//     it; a sink error, or a connector not started or stopping, answers 503
//     so the provider resends.
//   - Numbers are masked in logs (gateway.MaskNumber) and bodies logged at
//     debug level at most.
//
// # Concurrency
//
// Core.mu guards the lifecycle state, the sink and the in-flight count; it
// is never held while sending, waiting or calling the sink. Stop cancels
// requests still running only after its ctx ends.
package provider
