// Package console serves smsgw's web console under /console/ on the HTTP
// listener: an overview with live counters, carriers, routes, messages,
// inbound messages, opt-outs and the audit trail of operator actions.
// Pages are drawn on the server with html/template from files embedded in
// the binary; one small script (static/console.js) draws the overview's
// charts from a server-sent event stream. Nothing needs Node to build.
//
// It reads and drives the gateway in process: the engine, the store and
// the app's Gateway (carriers, routes, breakers); never through gRPC.
//
// # Invariants
//
//   - Every page but the sign-in form and the static files needs a live
//     session. Sessions live in memory (a restart signs everyone out),
//     keyed by the hash of a random token that only the browser's cookie
//     holds: HttpOnly, SameSite=Strict, path /console/, Secure under TLS or
//     with secure_cookies. A session ends at session_ttl after sign-in, at
//     idle_timeout without a request, at sign-out, and when a reload
//     removes or changes its user.
//   - Every POST carries the session's CSRF token in a form field, compared
//     in constant time (guard.Equal), and must come from this origin (its
//     Origin or Referer names the request's host). The sign-in form, which
//     has no session yet, carries a token it must match in a short-lived
//     cookie (double submit). GET never changes anything.
//   - Sign-in is under the listeners' failed-login back-off (guard.Backoff,
//     interface "console"), per source address and per username; an
//     unknown username costs the same bcrypt comparison as a known one.
//   - Roles: a viewer reads; an operator also acts. An action that changes
//     the gateway for every tenant (pausing a carrier, resetting a breaker,
//     reloading the config) needs an operator not limited to a tenant. A
//     user limited to a tenant sees only that tenant's messages, inbound
//     messages, opt-outs and audit entries. Checks run on the server for every request; hiding a
//     button is only a courtesy.
//   - Viewers never see a full phone number (internal/mask) or a message
//     text; error texts shown to them go through mask.Text.
//   - Every operator action, and every sign-in and sign-out, is an audit
//     entry: one "console audit" log line at info level (who, role,
//     tenant, source address, action, target, outcome; numbers masked)
//     and a row of the store's audit trail (gateway.AuditTrail), which the
//     audit page reads, with an audit event on the ordered event log in
//     the same commit (Engine.RecordAudit), which the user's tenant's keys
//     may stream. Logs never hold a full number or a message text.
//   - An API key made on the tenants page is shown once, on the page
//     that answers the form; the store keeps its SHA-256 and prefix only,
//     and the log and audit trail hold the prefix alone.
//   - Answers carry a Content-Security-Policy allowing only the console's
//     own script and stylesheet, and may not be framed or cached.
package console
