// Package kannel makes smsgw speak Kannel's HTTP interface, so an
// application written for Kannel (sendsms, dlr-url callbacks, sms-service
// keyword URLs, the bearerbox /status page) works against smsgw unchanged,
// and connects FrontlineSMS the same way. docs/kannel.md is the migration
// guide.
//
// # Where the answers come from
//
// Every text an application can parse is Kannel's, byte for byte, taken
// from Kannel 1.4.5's sources (SVN trunk has the same lines):
//
//   - sendsms answers (answers.go): gw/smsbox.c — delayed_http_reply for
//     202 "0: Accepted for delivery", 202 "3: Queued for later delivery",
//     403 "Not routable. Do not try again." and 503 "Temporal failure, try
//     again later."; smsbox_req_sendsms, smsbox_sendsms_post and
//     smsbox_req_handle for the 400/403/415 request errors, checked in
//     their order; sendsms_thread for 404 "Unknown request."; the reply
//     headers (Content-type text/html, Pragma and Cache-Control no-cache)
//     from main's sendsms_reply_hdrs. smsgw answers as Kannel does with
//     immediate-sendsms-reply off (the default): the answer is the
//     store's acknowledgement, given once the messages are durable.
//   - escapes (escape.go): gw/urltrans.c urltrans_fill_escape_codes,
//     including gwlib/octstr.c's URL encoding (alphanumerics and
//     -_.!~*'() kept, space as '+', %XX upper-case); %U from
//     gw/bb_alog.c (UDH length).
//   - DLR types and mask bits (dlr.go): gw/dlr.h (1 delivered, 2 not
//     delivered, 4 buffered, 8 accepted by the SMSC, 16 refused by it);
//     when each is sent: gw/dlr.c dlr_find and gw/bb_smscconn.c
//     (bb_smscconn_sent's "ACK/", bb_smscconn_send_failed's "NACK/", sent
//     for a mask with 16 or 2).
//   - sms-service replies (service.go): gw/smsbox.c url_result_thread and
//     send_message, gw/sms.c sms_split (max-messages, header, footer,
//     split-chars, split-suffix, concatenation, omit-empty), the
//     reply-emptymessage and reply-couldnotfetch defaults.
//   - /status (status.go): gw/bb_http.c httpd_serve, gw/bearerbox.c
//     bb_print_status, gwlib/utils.c version_report_string, gw/bb_boxc.c
//     boxc_status, gw/bb_smscconn.c smsc2_status, gw/load.c (the loads).
//   - type-16 texts (nack.go): gw/smsc/smsc_smpp.c submit_sm_resp,
//     gw/smsc/smpp_pdu.c smpp_error_to_string.
//   - submit_sm fields (sendsms.go submitOptions): gw/smsc/smsc_smpp.c
//     msg_to_pdu, gw/sms.c fields_to_dcs.
//
// # Invariants
//
// An answer of 202 means every accepted message is durable (the engine's
// Accept contract); nothing is answered before.
//
// Every dlr-url is called exactly once per requested DLR type in normal
// operation, and at least once across crashes. FollowDLR reads status
// events from its own cursor (DLRCursor) and, for each event a message's
// dlr-mask asks for, enqueues a task keyed "kannel-dlr:<message id>:<type>"
// before the cursor moves. The outbox skips a key it has seen, so a batch
// handed again after a restart, or a second intermediate receipt, adds no
// call; the task is retried with backoff until the receiver answers 2xx,
// gives up on a 4xx, and fails at once for a host outside
// webhooks.allow_hosts (logged at warn with the host). A task that ran but
// was not recorded done before a crash runs again: that is the only
// duplicate, and the call carries the task key as X-Smsgw-Delivery.
//
// sms-service and Frontline tasks are the engine's keyword tasks (kinds
// ServiceKind and FrontlineKind). A reply's client_ref is the task key and
// the part number, so a task run twice sends each reply SMS once.
//
// Logs name users, tenants, message ids and URL hosts; phone numbers only
// masked (gateway.MaskNumber), and never a message text or a full URL (a
// dlr-url's query holds numbers).
package kannel
