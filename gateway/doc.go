// Package gateway is the domain of smsgw: messages, parts, statuses and
// events, and the Engine that moves a message from accept to its final
// status.
//
// # Parts
//
// Engine is a facade. The interfaces (grpcapi, httpapi/kannel,
// httpapi/messagegateway) and the app call its methods, and each method
// delegates to one part. Every part is a type of its own, in its own file,
// and depends only on the roles of the Store it uses (store.go). Store is
// the union of those roles, which is what the implementations in
// gateway/store provide.
//
//   - acceptor (accept.go): Accept and AcceptPaced. It validates, applies
//     the tenant's rate (refusing, or pacing with NotBefore), marks
//     messages to opted-out numbers OPTED_OUT and stores them. Roles:
//     MessageStore (Accept), Inbox (the message a reply answers), OptOuts
//     (OptedOut).
//   - dispatcher (dispatcher.go): claim → plan → submit → record. It
//     claims due messages, asks the Router for candidates, submits through
//     the connectors' windows, and records submits, failed attempts,
//     reschedules and final statuses; it also records receipts
//     (HandleReceipts) and samples the queue depth. Role: MessageStore.
//   - inboundRouter (inbound.go): HandleInbound. It resolves an inbound
//     message's tenant, matches STOP/START/HELP and then the keyword rules,
//     and stores the message with its tasks in one commit. It carries out
//     its own task kinds: TaskReply (through the acceptor) and TaskOptOut
//     (SetOptOut, then the reply). Roles: Inbox, OptOuts.
//   - outbox (outbox.go): it runs tasks with the handler registered for
//     their kind (the inbound router's at New, the interfaces' through
//     HandleTasks), takes EnqueueTasks, and serves Follow. Roles: Outbox,
//     and EventLog through the event feed.
//   - eventFeed (events.go): Events and AckEvents. Readers wait on it and
//     every part that commits events wakes them. Role: EventLog.
//   - retention (retention.go): prunes events, finished tasks and
//     missing-ref records at start and then hourly. Its dependencies are just the prune
//     methods of EventLog, Outbox and MissingRefs.
//   - carriers (carriers.go): the connectors, their windows, and whether
//     each carrier runs and is up.
//   - tenants (tenants.go): the configured tenants by id and in order,
//     with each rated tenant's limiter. The acceptor and the inbound router
//     read them; SetTenants swaps the whole set while the engine runs,
//     keeping each tenant's limiter.
//
// The facade reads directly through MessageStore (Get, List, Cancel,
// GetByClientRef), Inbox (GetInbound), MissingRefs (NoteMissing) and
// EventLog (Cursor), and writes AuditTrail (RecordAudit) to wake the event
// feed for the audit event and Outbox (RetryTaskNow, DropTask) to wake the
// outbox for a task an operator retries. No other part of the engine uses AuditTrail,
// APIKeys or ListOptOuts: the web console reads them on the store itself,
// and the gRPC API's keys (grpcapi.Keys) read APIKeys.
//
// Who calls whom: connectors call the Engine as their Sink, which hands
// receipts to the dispatcher and inbound messages to the inbound router.
// The inbound router stores tasks and wakes the outbox. The outbox runs
// them, and a reply task calls the acceptor. The acceptor wakes the
// dispatcher. The dispatcher asks the Router (Plan, Admit, Closed) and the
// carrier set, and calls Connector.Submit. Every part that commits events
// wakes the event feed.
//
// # Who decides a carrier is up
//
// Only the carrier set decides, from Connector.Up and the operator's pauses
// (Engine.PauseCarrier: a paused carrier is down, its binds kept). Ready, the dispatcher's
// gate before claiming and its check before each submission all ask it.
// New also hands it to a CarrierAware router (routing.Router is one), so
// plans and explanations leave out exactly the carriers the dispatcher
// considers down. The router decides everything else: which routes apply,
// whether a breaker admits a submission, and how a message pinned to a
// carrier is planned (RouteQuery.Pinned). The dispatcher walks the plan.
//
// # Goroutines and stopping
//
// Start starts the connectors (their sink is the Engine) and then the
// parts. The dispatcher runs a claim loop, one worker per message in
// flight (at most Options.Workers) and a queue-depth sampler. The outbox
// runs a task runner, 32 workers and a finisher; tasks given to
// EnqueueTasks are written leased to those workers and handed over in
// memory while there is room (up to 1,024 waiting), else claimed.
// Retention runs one goroutine, and only when EventRetention > 0. The
// acceptor, the inbound router and the event feed run on their callers'
// goroutines, and so does Follow.
//
// Stop runs in this order:
//  1. It halts every part at once, so no message or task is claimed after
//     this.
//  2. It waits for the claim loop and the sampler, for the task runner and
//     the tasks it started (their context ended), and for retention.
//  3. It waits for the messages in flight, within Stop's context. Their
//     outcomes are recorded on a context that outlives the stop by up to
//     30 s.
//  4. It stops the connectors. Their last receipts and inbound messages
//     still reach the store through the Sink.
//  5. It closes the event feed, so readers that have read everything get
//     ErrStopped.
//
// The Store stays open; its owner closes it after Stop.
//
// # Invariants
//
// Invariants a reader must keep in mind:
//
//   - Accept returns an id only after the Store made the message durable.
//     Nothing in the engine holds an accepted message only in memory: the
//     dispatcher re-reads due work from the Store (Claim), so a restart resumes
//     exactly what was unfinished.
//   - Delivery to carriers is at least once. A part whose submit_sm went out
//     but whose carrier id was not yet stored is sent again after a crash; the
//     number of such parts is bounded by the connectors' windows.
//   - A receipt or inbound message is acknowledged to the carrier only after
//     the engine's Sink methods returned, which is after the Store committed it.
//   - An inbound message is routed (tenant, keyword rule, opt-out word) before
//     it is stored, and the actions it calls for (a reply, an opt-out, a
//     webhook, a service's URL) are stored as outbox tasks in the same
//     commit. Tasks run at least once, so every handler is idempotent: a
//     reply uses its task's key as client_ref, a callback carries the key as
//     its delivery id. A task key is never enqueued twice, which is what
//     makes an event follower (Follow) re-reading a batch after a crash
//     harmless.
//   - A message to a number that opted out is stored OPTED_OUT (final, never
//     claimed) rather than refused, so the caller can see why it was not sent.
//   - NormalizeNumber answers exactly what phonenumbers answers (Parse,
//     IsValidNumber, Format to E.164, after numberText's letter and "00"
//     rules), though most numbers never reach phonenumbers: fastParse
//     (numberparse.go) is its parse restricted to numbers written in
//     digits, '+' and separators, and validDecider (numbervalid.go)
//     decides validity once for every number of a length that starts with
//     the same digits, where the patterns prove the other digits cannot
//     change it. Neither guesses: each step is argued in its comments, and
//     TestFastParseAnswersAsPhonenumbers, TestValidDeciderAnswersAsPhonenumbers
//     and FuzzNormalizeNumber hold the answers to phonenumbers' own. An
//     upgrade of phonenumbers must pass them; the patterns fastParse
//     assumes cannot match are proven again at start, and it turns itself
//     off when they could.
//   - A part depends on the store roles it uses, never on Store as a whole:
//     a new Store method goes into the role of the part that needs it.
//   - The engine imports no implementation: connectors, the store and the
//     router are interfaces defined here, wired by the composition root
//     (app, for cmd/smsgw).
package gateway
