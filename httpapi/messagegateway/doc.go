// Package messagegateway serves the openMF message-gateway HTTP API that
// Apache Fineract (Mifos X) already calls, so an MFI points Fineract's
// MESSAGE_GATEWAY external service at smsgw and changes nothing else:
//
//	POST /sms          a page of messages to send     → 202
//	POST /sms/report   a list of Fineract message ids → their delivery states
//	GET  /smsbridges   the senders a tenant may pick for its SMS campaigns
//
// The same routes are served under Options.Prefix (Fineract's end_point
// setting), and nothing but the two Fineract headers is required: in
// particular not the x-orchestrator header the original gateway demands on
// /sms/report, which Fineract never sends.
//
// # Authentication
//
// Every route needs Fineract-Platform-TenantId (a value of some tenant's
// tenant_ids) and Fineract-Tenant-App-Key (one of that tenant's app_keys).
// Keys are kept only as SHA-256 digests and compared in constant time. A
// wrong key, an unknown tenant id and a missing header all answer the same
// 401 "unknown tenant or app key", so a caller learns nothing about which
// part was wrong.
//
// # Idempotency
//
// Each item is accepted with the client reference "fineract:<internalId>"
// in the smsgw tenant the headers name, so the engine stores it once however
// often Fineract (or an operator replaying a page) posts it, and the report
// finds it again by that reference alone: the handler keeps no state of its
// own, in memory or elsewhere, and any number of smsgw nodes may serve the
// API. Two Fineract tenants mapped to one smsgw tenant share that key space:
// give each Fineract tenant its own smsgw tenant.
//
// # What POST /sms answers, and why refused items still answer 202
//
// Fineract marks a page "waiting for delivery report" (150) before it posts
// it, treats anything but 202 as a connection failure it only logs, and never
// posts the page again. The one way a verdict reaches Fineract's screens is
// therefore the report poll. So:
//
//   - A well-formed, authenticated page answers 202 even when some or all of
//     its items were refused (invalid or empty mobileNumber, empty message,
//     unknown providerId, a bridge whose phone_no the tenant may not send
//     from). The 202 body lists the refusals for people reading logs;
//     Fineract ignores it. Refused items are not stored.
//   - A body that is not a JSON array of message objects, or an item without
//     an integer internalId, answers 400 and stores nothing; a body over
//     Options.MaxBodyBytes answers 413.
//   - Over the tenant's rate: 429 with Retry-After; nothing stored. A page
//     larger than the tenant's burst can never pass: 413 (set the smsgw
//     tenant's burst to at least 200, Fineract's page size).
//   - The store failed: 503; nothing of the page was stored.
//
// # What POST /sms/report answers
//
// One entry per id asked, in order: id (the internalId), externalId (the
// smsgw message id), addedOnDate (when smsgw stored it), deliveredOnDate
// (when it was delivered, else null), deliveryStatus, hasError and
// errorMessage. Fineract updates a message only when hasError is false and
// deliveryStatus is not 100, and copies externalId. The mapping:
//
//	ACCEPTED                                  150 waiting for delivery report
//	SUBMITTED                                 200 sent
//	DELIVERED                                 300 delivered
//	UNDELIVERED, EXPIRED, REJECTED, FAILED,
//	CANCELED, OPTED_OUT                       400 failed, errorMessage = the last error
//	no message for the id                     400 failed, hasError false
//	the lookup failed                         100 pending, hasError true
//
// A failed message is hasError false with 400, because that is the only
// combination that makes Fineract record the failure. An id smsgw has no
// message for is reported failed too ("smsgw has no message for this id:
// refused when posted, or never received"): it was refused (see above) or
// its POST never arrived, and Fineract, which does not re-post, would
// otherwise poll it forever — and since it asks for the same first page of
// waiting ids every run, enough such ids would stop it from ever learning
// about newer messages. The price is a narrow window: an id polled between
// Fineract marking its page and that page's POST reaching smsgw is reported
// failed although it is then sent. Only a lookup that failed (the store is
// unreachable) answers hasError true, which Fineract skips and asks again;
// when every lookup fails the whole answer is 503.
//
// Dates are RFC 3339 in UTC with milliseconds ("2024-03-01T09:30:00.000Z").
// Fineract declares both fields as strings and does not parse them; the
// original gateway's Jackson wrote java.util.Date the same ISO-8601 way, and
// any client that does parse them reads this form.
//
// # Bridges
//
// A bridge is a sender the tenant may pick in Fineract's campaign screen;
// its id is the providerId Fineract then sends. Its phone_no becomes the
// message's sender (it must be the smsgw tenant's sender or one of its
// senders) and its category, when set, the message's category (a
// transactional bridge reaches numbers that sent STOP when the tenant allows
// it). Items without providerId go from the tenant's default sender as
// marketing. GET /smsbridges never shows a secret: providerAppKey is
// always "".
//
// Logs never show a whole phone number or a message body at info level.
package messagegateway
