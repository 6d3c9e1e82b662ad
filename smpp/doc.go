// Package smpp connects smsgw to carriers over SMPP 3.4, on top of
// github.com/linxGnu/gosmpp v0.3.1 (pinned: see /work/shared/SMPP-NOTES.md
// for the library's pitfalls this package works around).
//
// It has two halves. Text handling (text.go, gsm7.go, segment.go,
// receipt.go, msgid.go) encodes and segments text, parses receipts and
// normalizes message ids, with no I/O. The connector (config.go, pool.go,
// bind.go, errors.go, metrics.go) is Pool, the gateway.Connector of one
// carrier: N transceiver binds, a window per bind, a TPS limiter per
// carrier, keep-alive and rebinding, and the command_status → decision
// table. The SMSC simulator its tests run against lives in smpp/smsc.
//
// # Invariants
//
//   - A submit_sm's pending entry (sequence number → waiter) is stored
//     before the PDU is handed to gosmpp, so a submit_sm_resp that arrives
//     before gosmpp's own bookkeeping is still matched; we never use
//     gosmpp's request window, whose write-then-store race loses responses.
//   - Our window is a semaphore per bind, taken before the TPS limiter and
//     released after the response (or error): never more than `window`
//     submit_sm are unanswered on a bind.
//   - Every pending submit ends exactly once: by its response, a
//     generic_nack, a write error, response_timeout, the bind closing
//     (ErrConnectionLost) or Stop (ErrStopped). Whoever removes the entry
//     from the map delivers the outcome.
//   - Nothing the carrier sends is acknowledged automatically (gosmpp's
//     OnAllPDU mode). A deliver_sm (receipt or MO) is answered ESME_ROK only
//     after the gateway.Sink returned nil for it; a sink error answers
//     ESME_RX_T_APPN so the carrier resends, and a deliver_sm that can never
//     be stored (no receipt id, undecodable text) is answered ESME_RX_P_APPN.
//     The sink runs on a worker goroutine in batches, never on a read loop.
//   - Every part of a multi-part message asks for a receipt
//     (registered_delivery 1) and carries the same concatenation reference,
//     derived from the message id so a resend reuses it.
//
// # Concurrency and lock order
//
// Pool.mu guards the lifecycle state and the in-flight count; bind.mu
// guards the pending map. Neither is held while calling gosmpp, the sink or
// another lock, so there is no lock order to respect. gosmpp runs its
// callbacks (OnAllPDU, OnClosed, OnRebind, OnSubmitError) on its own
// goroutines; they only touch the pending map, atomics and the sink queue.
//
// # Lifecycle
//
// NewPool validates; Start returns at once and binds in the background
// (retrying with backoff while the SMSC is down; gosmpp rebinds after a
// lost link); Stop refuses new submits, waits for in-flight ones within its
// ctx, unbinds and ends the background work.
package smpp
