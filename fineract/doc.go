// Package fineract is the logic of smsgw's reference Mifos adapter
// (cmd/smsgw-fineract): it follows a tenant's inbound messages over the
// gateway's gRPC API and answers the keywords BAL and DUE from Apache
// Fineract's REST API, only to the phone number registered on the client.
//
// The pieces, from the outside in:
//
//   - Adapter follows StreamEvents with a durable cursor, hands each inbound
//     message to a Responder, sends the answer as a reply and acknowledges
//     the event. Delivery is at least once: an event may be handled again
//     after a crash or a broken stream, so every reply carries the client_ref
//     "fineract-reply:<inbound id>" and the gateway sends it only once.
//   - Responder matches the keyword, finds the client by mobile number
//     (Fineract stores numbers as typed, so both the international and the
//     national form are searched and only an exact normalized match counts),
//     reads the accounts and renders the tenant's templates.
//   - Client is a small Fineract REST client: Basic auth, the tenant header,
//     a timeout per request, and ErrUnavailable for every failure that means
//     "Fineract is down, try later" (5xx, timeouts, refused connections).
//
// Invariants: the Responder never reveals whether a number is known (the
// refusal is the same for unknown and ambiguous numbers); logs carry masked
// numbers and no message bodies above debug level; metrics go to the
// registerer the caller injects, never the global one.
package fineract
