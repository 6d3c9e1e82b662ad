// Package twilio is the gateway.Connector for Twilio's Programmable
// Messaging API: `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`,
// form-encoded To, From and/or MessagingServiceSid, Body and
// StatusCallback, HTTP Basic auth with the account sid and auth token; a
// 201 answer carries the message's sid.
//
// Its rooms are those of every provider connector: twilio.go (Connector,
// the error-code table, the webhook), config.go, signature.go, tests
// against an httptest fake of the API. Metrics are the shared
// smsgw_provider_* series (see package provider).
//
// # Invariants
//
//   - One request per message: Twilio segments the text itself, and every
//     part of the message gets the same sid (the store applies one receipt
//     to all of them).
//   - Errors carry Code "twilio:NNNNN" (Twilio's error code) or "http:NNN"
//     and the decision of codeDecisions, else of provider.HTTPDecision.
//   - A status callback's X-Twilio-Signature is verified, against
//     status_callback_url and the POST parameters, before anything in it
//     is read; a missing or forged signature is answered 403 and nothing
//     reaches the sink.
//   - A receipt is answered 200 only after the sink stored it; otherwise
//     503, and Twilio retries.
package twilio
