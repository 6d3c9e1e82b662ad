// Package africastalking is the gateway.Connector for Africa's Talking's
// SMS API: `POST {base_url}/version1/messaging`, form-encoded username, to
// (E.164 with '+'), message and from, the key in the apiKey header,
// Accept: application/json; the answer's SMSMessageData.Recipients[] has,
// for our one recipient, a statusCode (100, 101, 102 = accepted), a
// messageId and a cost.
//
// Its rooms are those of every provider connector: africastalking.go
// (Connector, the statusCode table, the webhook), config.go, tests against
// an httptest fake. Metrics are the shared smsgw_provider_* series (see
// package provider).
//
// # Invariants
//
//   - One request per message, one recipient per request: Africa's Talking
//     segments the text itself, and every part gets the recipient's
//     messageId (the store applies one receipt to all of them).
//   - Errors carry Code "africastalking:NNN" (the recipient's statusCode)
//     or "http:NNN", with the decision of accepted or of
//     provider.HTTPDecision.
//   - Africa's Talking does not sign its callbacks. With callback_token
//     set, a delivery report's `token` query parameter is checked (in
//     constant time) before its body is read; a missing or wrong one is
//     answered 403 and nothing reaches the sink.
//   - A report is answered 200 only after the sink stored it; otherwise
//     503, and Africa's Talking retries.
package africastalking
