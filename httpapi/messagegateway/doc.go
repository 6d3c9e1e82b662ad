// Package messagegateway serves the openMF message-gateway HTTP API that
// Apache Fineract (Mifos X) already calls, so an MFI points Fineract's
// MESSAGE_GATEWAY external service at smsgw and changes nothing else:
//
//	POST /sms          a page of messages to send     → 202
//	POST /sms/report   a list of Fineract message ids → their delivery states
//	GET  /smsbridges   the senders a tenant may pick for its SMS campaigns
//
// # The URLs Fineract really calls
//
// Fineract builds each URL with Jersey's UriBuilder from the template
// "{apiEndPoint}" (or "{endPoint}/{apiEndPoint}" when its end_point is not
// "/"), and build() percent-encodes a '/' inside a value. The report's value
// is "sms/report", so the request line is POST /sms%2Freport, and an
// end_point of "/fineract" turns into the single segment /%2Ffineract/.
// Routes therefore serves every route at the root and under Options.Prefix
// (Fineract's end_point), the report both as /sms%2Freport and /sms/report
// (a proxy may decode it), and the prefix both as path segments and in each
// encoded form ("fineract", "/fineract", "fineract/", "/fineract/" as one
// segment). Nothing but the two Fineract headers is required: in
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
// # What POST /sms answers, and why it never refuses a page Fineract sent
//
// Fineract marks a page "waiting for delivery report" (150) before it posts
// it, treats anything but 202 as a connection failure it only logs (it
// ignores Retry-After), and never posts the page again; a triggered
// campaign posts all its messages in one call. The one way a verdict
// reaches Fineract's screens is therefore the report poll. So:
//
//   - A well-formed, authenticated page answers 202 even when some or all of
//     its items were refused (invalid or empty mobileNumber, empty message,
//     unknown providerId, a bridge whose phone_no the tenant may not send
//     from). The 202 body counts what became of the items and lists the
//     first 100 refusals for people reading logs (moreRefused counts the
//     rest); Fineract ignores it. Refused items are not stored as messages,
//     but their reasons are (Engine.NoteMissing), so the report answers them
//     400 at once.
//   - The tenant's rate never refuses a page: the engine stores it at once
//     and holds what is over the rate until the rate allows it
//     (gateway.Engine.AcceptPaced), so the carrier still sees the tenant's
//     pace and nothing Fineract posted is lost.
//   - The body is read and stored as it streams in, pageChunk (1,000) items
//     at a time, so memory stays flat however large the page; a page up to
//     1,000 items is stored all or nothing. A body that is not a JSON array
//     of message objects, or an item without an integer internalId,
//     answers 400 naming the item; items of earlier chunks stay stored and
//     the answer says how many (posting the corrected page again stores
//     none of them twice). Over Options.MaxBodyBytes (256 MiB by default,
//     over a million messages) the answer is 413, likewise.
//   - The store failed: 503; the answer says from which item on nothing was
//     stored.
//
// # What POST /sms/report answers
//
// At most one entry per id asked (an id asked twice is answered once;
// more than Options.MaxReportIDs ids, 10,000 by default, is 413), in the
// order asked: id (the internalId), externalId (the smsgw message id),
// addedOnDate (when smsgw stored it), deliveredOnDate (when it was
// delivered, else null), deliveryStatus, hasError and errorMessage.
// Fineract's report job asks only for its messages in status 150 and takes
// the first answer other than 100 and 150 as final, so 150 is the answer
// until smsgw knows the end:
//
//	ACCEPTED, SUBMITTED                       150 waiting for delivery report
//	SUBMITTED for longer than the horizon     200 sent (no receipt came)
//	DELIVERED                                 300 delivered
//	UNDELIVERED, EXPIRED, REJECTED, FAILED,
//	CANCELED, OPTED_OUT                       400 failed, errorMessage = the last error
//	refused when posted                       400 failed, errorMessage = the reason
//	never received, asked for < horizon       left out of the answer
//	never received, asked for ≥ horizon       400 failed, "smsgw never received ..."
//	the lookup failed                         100 pending, hasError true
//
// A failed message is hasError false with 400, because that is the only
// combination that makes Fineract record the failure. An id smsgw never
// received is left out at first, since its POST may still be on its way
// (Fineract marks a page 150 before it posts it, and both jobs fire at the
// same moment by default); the first poll that asks for it is recorded
// durably (Engine.NoteMissing), and once Options.ReportHorizon (72 h by
// default) has passed since then it is reported failed: Fineract never
// re-posts, and since its report job asks for the same first 200 waiting
// ids on every round, ids that stayed waiting for ever would stop it from
// learning about newer messages. The same holds for a message a carrier
// took but never sent a receipt for. Only a lookup that failed (the store
// is unreachable) answers hasError true, which Fineract skips and asks
// again; when every lookup fails the whole answer is 503. A caller that
// hangs up stops the lookups.
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
