// Package gateway is the domain of smsgw: messages, parts, statuses and
// events, and the Engine that moves a message from accept to its final
// status.
//
// Invariants a reader must keep in mind:
//
//   - Accept returns an id only after the Store made the message durable.
//     Nothing in the engine holds an accepted message only in memory: the
//     dispatcher re-reads due work from the Store (Claim), so a restart resumes
//     exactly what was unfinished.
//   - Delivery to carriers is at least once. A part whose submit_sm went out
//     but whose carrier id was not yet stored is sent again after a crash; the
//     number of such parts is bounded by the connectors' windows.
//   - A receipt or inbound message is acknowledged to the carrier only after
//     the engine's Sink methods returned, which is after the Store committed it.
//   - An inbound message is routed (tenant, keyword rule, opt-out word) before
//     it is stored, and the actions it calls for (a reply, an opt-out, a
//     webhook, a service's URL) are stored as outbox tasks in the same
//     commit. Tasks run at least once, so every handler is idempotent: a
//     reply uses its task's key as client_ref, a callback carries the key as
//     its delivery id. A task key is never enqueued twice, which is what
//     makes an event follower (Follow) re-reading a batch after a crash
//     harmless.
//   - A message to a number that opted out is stored OPTED_OUT (final, never
//     claimed) rather than refused, so the caller can see why it was not sent.
//   - The engine imports no implementation: connectors, the store and the
//     router are interfaces defined here and wired by cmd/smsgw.
package gateway
