// Package vonage is the gateway.Connector for Vonage's (formerly Nexmo's)
// SMS API: `POST {base_url}/sms/json`, form-encoded api_key, api_secret,
// from, to (E.164 digits without '+'), text, type=unicode for UCS-2 texts,
// status-report-req=1, client-ref (the smsgw message id) and callback; the
// answer lists one message per SMS, each with a status ("0" = accepted)
// and a message-id.
//
// Its rooms are those of every provider connector: vonage.go (Connector,
// the status-code table, the webhook), config.go, signature.go,
// metrics.go (the account balance gauge; requests and webhooks use the
// shared smsgw_provider_* series), tests against an httptest fake.
//
// # Invariants
//
//   - One request per message: Vonage segments the text itself. When it
//     answers one id per part of the message, part i gets id i and each
//     gets its own receipt; otherwise every part gets the first id.
//   - A status other than "0" is an error coded "vonage:N" with the
//     decision of codeDecisions; HTTP-level failures follow
//     provider.HTTPDecision.
//   - With signature_secret configured, a receipt's `sig` is verified
//     before anything in it is read; a missing or wrong one is answered
//     403 and nothing reaches the sink.
//   - A receipt is answered 200 only after the sink stored it; otherwise
//     503, and Vonage retries.
package vonage
