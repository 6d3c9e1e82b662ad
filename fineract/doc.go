// Package fineract is the logic of smsgw's reference Mifos adapter
// (cmd/smsgw-fineract): it follows a tenant's inbound messages over the
// gateway's gRPC API and answers the keywords BAL and DUE from Apache
// Fineract's REST API, only to the phone number registered on the client.
// Its events side sends receipts to clients and alerts to staff from the
// business events Fineract's Web hooks post, and a daily digest to each
// loan officer.
//
// The pieces, from the outside in:
//
//   - Adapter follows StreamEvents with a durable cursor, hands each inbound
//     message to a Responder, sends the answer as a reply and acknowledges
//     the event. Delivery is at least once: an event may be handled again
//     after a crash or a broken stream, so every reply carries the client_ref
//     "fineract-reply:<inbound id>" and the gateway sends it only once.
//   - Responder matches the keyword, finds the client by mobile number,
//     reads the accounts and renders the tenant's templates. Fineract keeps
//     numbers as typed ("0712 345 678", "+254-712-345-678", "00254…"), so
//     FindClient makes one search with exactMatch=false, which Fineract
//     runs as SQL LIKE '%query%', for the national significant number with
//     '%' between the digits ("7%1%2%3%4%5%6%7%8"); a hit counts only when
//     its stored number normalizes to the sender's E.164 number, and more
//     than one matching client is refused like none. If the search returns
//     Fineract's maximum of 50 results, the exact forms (+254712345678,
//     0712345678, 254712345678) are searched too. BAL lists savings
//     accounts only, not the fixed and recurring deposits Fineract lists
//     with them (depositType).
//   - Client is a small Fineract REST client: HTTP Basic or OAuth2 bearer
//     tokens (client credentials or password grant, cached by
//     golang.org/x/oauth2), the tenant header, a timeout per request, and
//     ErrUnavailable for every failure that means "Fineract is down, try
//     later" (5xx, timeouts, refused connections, an identity provider
//     answering 5xx). Refused credentials are APIError (401 from Fineract)
//     or TokenError (the token endpoint): configuration errors, answered
//     "try again later" too but logged as what they are.
//   - HookServer is the endpoint Fineract's Web hook template posts to
//     (headers X-Fineract-Entity, X-Fineract-Action,
//     Fineract-Platform-TenantId; the command's request and
//     CommandProcessingResult as JSON). The template signs nothing, so each
//     tenant's URL ends in a secret (compared in constant time, wrong
//     guesses backing off), optionally limited to source addresses. It
//     queues the event and answers at once.
//   - Notifier reads the event's account and transaction from Fineract and
//     sends what the tenant's rules say (event, amount range, product,
//     office, loan officer → client, loan officer, staff groups), each
//     message with the client_ref "fineract-event:<event key>:<rule>:<to>":
//     Fineract posts a hook once, before its transaction commits, and
//     OkHttp may post it again, so lookups that find nothing are retried
//     for a while, failures while Fineract or the gateway is down are
//     retried for retry_for, and the gateway sends each client_ref once.
//     Rules, texts and secrets are replaced whole on reload (Update).
//   - Digest sends each loan officer, at a local time per tenant, the
//     loans in arrears and the installments due tomorrow, once per day
//     (client_ref "fineract-digest:<day>:<staff id>"), on an injectable
//     Clock.
//
// Invariants: the Responder never reveals whether a number is known (the
// refusal is the same for unknown and ambiguous numbers); logs carry masked
// numbers and no message bodies above debug level; metrics go to the
// registerer the caller injects, never the global one.
package fineract
