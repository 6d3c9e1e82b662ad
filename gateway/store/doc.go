// Package store holds the durable implementations of gateway.Store: the
// embedded SQLite store (the default, one file, nothing to install) and the
// PostgreSQL store that several nodes share. Open picks one from a Config;
// both pass the contract suite in gateway/store/storetest unchanged, and
// share what reads the same in both (shared.go: input checks, SQL;
// receipts.go: the receipt rules).
//
// # Receipts, in both stores
//
// A receipt names (carrier, carrier id) and applies to every part of the
// most recently submitted message that carries that id: a carrier that took
// a message in one submit_sm with message_payload answers one id for all its
// parts, and a carrier that recycles ids only has its latest use in flight.
// A final receipt that matches nothing yet is kept and applied when
// RecordSubmits records the id; the message becomes final (one event) when
// its last part does.
//
// # Listing, canceling, cursors and retention, in both stores
//
// List reads one tenant's messages (a tenant is required), newest first by
// id (UUIDv7, so by creation), through the (tenant, id) index of migration
// 0003; filters are status, destination and created_at in [Since, Until),
// and Before pages by id. Limit ≤ 0 means 100 and is capped at 1000. It
// returns messages without parts or attempts (Get has them) and without
// LeaseUntil.
//
// Cancel decides in one write transaction: a message of another tenant is
// ErrNotFound (an empty tenant matches any, as in Get); one that left
// ACCEPTED, has a part with a carrier id, or is leased until after the
// caller's now (a node may be sending it) is ErrNotCancelable. Otherwise
// the message and its parts become CANCELED with last_error "canceled by
// the caller", the lease is cleared and one CANCELED event is appended. A
// lease that lapsed does not prevent it: its node is gone.
//
// Event cursors (table event_cursors, keyed by tenant and name) only move
// forward: AckEvents stores max(old, new). A seq beyond the last seq ever
// appended (SQLite's sqlite_sequence, PostgreSQL's event sequence; both
// count pruned events) is refused with gateway.ErrAckAhead, since such a cursor
// would skip events appended later. An empty cursor name is an error; an
// empty tenant is a cursor like any other (for an all-tenant consumer).
// Cursor is 0 for a cursor never acked.
//
// PruneEvents deletes the oldest events up to the first one appended at or
// after the given time: a prefix of the log by seq, found by walking the
// primary key, since an index on the append time cost a page write on every
// commit (an event dated more than an hour ahead of the pruning node's
// clock does not stop the walk). Sequence numbers are never reused
// (AUTOINCREMENT; a sequence), so a consumer resuming at a pruned seq
// simply goes on with the next kept one.
//
// # Invariants of the SQLite store
//
// All methods are safe for concurrent use; none holds a lock while it waits
// for the disk except the writer itself.
//
// Durability: a method that changes state returns only after the transaction
// holding its change has committed with synchronous=FULL in WAL mode, that
// is, after the write-ahead log was fsync'd; Accept, with the journal,
// after the journal was. An id returned by Accept is on disk; an event is
// durable in the same commit as the change it reports (an accepted
// message's event, with the journal, in the record it is restored from).
//
// One writer: every change (Accept, Claim, RecordSubmits, RecordAttempts,
// Reschedule, Finish, RecordReceipts, RecordInbound, Cancel, AckEvents,
// SetOptOut, EnqueueTasks, ClaimTasks, FinishTasks, NoteMissing and the
// prunes) is queued to a single writer goroutine that owns the only write
// connection. It drains what is queued (up to
// Options.MaxBatch operations) into one transaction, commits it once and then
// answers every caller of the batch: many callers share one fsync (group
// commit). Within a batch the Accepts run first, together, as multi-row
// INSERTs; then the other operations one by one; then the RecordSubmits,
// together; and the RecordReceipts last, together (so a receipt racing its
// submit record in the same batch finds the carrier id instead of being
// kept unmatched); the events of the whole batch are appended just before
// the COMMIT, in multi-row INSERTs. The batch's callers are concurrent, so
// this is a valid order. The RecordSubmits and RecordReceipts of a batch
// take a few set-based statements whatever their number of records (an
// UPDATE ... FROM a VALUES list of the group's rows per table, one query
// for the state they decide on; each statement is cut in power-of-two
// pieces of at most 256 rows), and leave exactly what the same calls
// would leave one after the other in batch order: a RecordSubmits naming a
// message that an earlier one of the batch names runs on its own, before
// the group, and receipts are applied in memory, one after the other, to
// the parts and messages the group read, which are then written back.
// Receipts kept as unmatched wait for their id in unmatched_receipts; the
// RecordSubmits group looks them up in one statement (none while the table
// is empty) and applies any it finds one by one. A kept receipt that named
// only final parts has named set: it is not stale until PruneReceipts finds
// it still there after gateway.ReceiptRace, since it may have overtaken the
// submit of a part reusing its id. The Accept group looks
// its client refs up in one statement too. An operation that fails
// on its own (an unknown id, a constraint) fails only its caller; the
// others in the batch commit: a group that hits a constraint is replayed
// one operation at a time, and a RecordSubmits naming an unknown part
// replays its batch without it. An I/O failure or a
// failed commit fails every caller of that batch, and nothing of it is
// acknowledged. Once queued, a call waits for its batch; a context that ends
// before the writer reaches the operation cancels it without effect.
//
// The accept journal (on unless Config.Journal is false): Accept does not
// queue to the writer. One acceptor goroutine takes the waiting Accept
// calls, decides their duplicates (client refs still in the journal first,
// then the database: a group leaves the journal's refs only after its
// insert committed, so one of the two always has it; an id the caller
// gives is checked the same way, and a taken one fails the call), appends
// the new messages as one record to <path>.journal/ with one fsync,
// queues their insert to the writer and only then answers, so an id
// returned is on disk and the insert is queued before any later operation
// of the caller (a Claim or Cancel after the Accept finds the messages
// inserted). The writer inserts a copy of the messages with the
// acceptor's time as created_at; the ACCEPTED events are dated by the
// acceptor's time too (an insert can come seconds later when the journal
// is full) and get the insert's sequence numbers, so an event's time does
// not always grow with its seq by a few milliseconds (retention's prefix
// walk stops at the first event it keeps). Reads that must see every accepted message (Get,
// GetByClientRef, List, Backlog) wait until every group journaled before
// them is inserted; reads of events (Events, EventsWithMessages, LastSeq)
// wait for the same but held inserts (below); others (OptedOut,
// GetInbound, cursors) do not. A failed insert is retried every second,
// never dropped; at most journalMaxPending messages wait for the writer,
// then the acceptor waits (once Close began, an Accept waiting for room
// fails with ErrClosed instead, and a failed insert is no longer retried
// but left in the journal: a writer that keeps failing does not hold Close
// up). A segment file is deleted once every record in
// it is inserted and the journal has moved to the next; on open, before
// anything else, every record is inserted unless its message id exists
// (replay), and the journal starts afresh. Records are CRC-32C framed: a
// torn record at the end of the last segment (an append a crash cut, never
// acknowledged) is dropped, damage elsewhere fails the open.
//
// Held inserts (sqlite_held.go): a message given to Accept with
// LeaseUntil (handed over to a worker of this node) is journaled like any
// other, but the writer holds back its insert, up to heldFor, until that
// message's RecordSubmits reaches it, and then inserts the rows as the
// submit leaves them, in the submit's batch, running none of the submit's
// own statements (fold): one commit and one write of each row where there
// were two. Anything that could read or change a held message first lets
// every held insert run: an operation not marked beside (Cancel,
// Reschedule, Finish, ...), a claim at a time a held lease has lapsed by,
// a read of messages (through the journal's flushBelow), Close. So a held
// message's ACCEPTED event takes its seq when the insert runs, beside its
// SUBMITTED event (dated at accept still): the order of events across
// messages is not the order of their accepts, while each message's own
// events keep theirs. An AckEvents beyond the log's end lets the held
// inserts run and tries again before it refuses the seq.
//
// Checkpoints: the writer's connection never copies the WAL back into the
// database file (wal_autocheckpoint 0); a connection of its own does, with
// a PASSIVE checkpoint once a second, beside the writer.
//
// Reads: Get, GetByClientRef, GetInbound, Events, List, Cursor, OptedOut
// and Backlog run on a separate read-only connection pool. WAL lets them
// run beside the writer, and each statement sees one committed snapshot
// (Get reads a message with its parts in one, its attempts in another).
//
// Leases: Claim leases the messages it returns until now+Options.LeaseDuration
// (ClaimLease); Accept stores a message given with LeaseUntil leased as
// given (the engine dispatches it itself; the accept journal does not keep
// the lease, since a replay follows a restart); a leased message is not
// claimed again until Reschedule, Finish or RecordSubmits (all parts
// submitted) releases it or the lease lapses. Reschedule and Finish are
// given the caller's lease and do nothing (ErrLeaseLost) when the message
// is leased otherwise: a claim whose lease lapsed must not release a
// message another claim has taken and may be sending. A
// SQLite store serves exactly one process (Open takes an exclusive lock on a
// sidecar ".lock" file), so opening it clears every lease: the process that
// held them is gone, and unfinished work resumes at once after a restart.
// Cancel runs on the writer too, so it and Claim are strictly ordered:
// either the claim came first (a live lease: ErrNotCancelable) or the
// message is CANCELED before any claim looks at it.
//
// Events: the event sequence number is an AUTOINCREMENT key assigned inside
// the single writer's transactions, so sequence order is commit order and a
// number is never reused, even across restarts.
//
// Times are stored as UTC unix nanoseconds (0 for the zero time), so they
// round-trip exactly.
//
// # Invariants of the PostgreSQL store
//
// Durability: a write returns only after the transaction holding it
// committed, that is after PostgreSQL flushed its WAL (Open refuses
// fsync=off and synchronous_commit=off; a synchronous standby makes the
// commit wait for it too).
//
// Group commit per node: every write except NoteMissing and the prunes is
// queued to the node's writers, two goroutines with a connection each that
// take turns. The one whose turn it is drains what is queued (up to
// Options.MaxBatch operations) into one transaction and answers every
// caller of the batch once it committed; it passes the turn just before its
// COMMIT, so the next batch runs while this one waits for the WAL flush.
// A batch takes its locks in one order on every node: the (carrier, carrier
// id) advisory locks of its RecordSubmits and RecordReceipts, sorted; the
// rows of the messages its operations decide on (RecordSubmits, Finish,
// Cancel, Reschedule, RecordAttempts, and the messages its receipts name),
// in id order; then what its operations write; the event lock last. Then
// the operations: RecordInbound, EnqueueTasks and the other kinds one by
// one, in queue order; then the Accepts, Claims, RecordSubmits and
// RecordReceipts of the batch, each kind as a few multi-row statements
// (unnest over arrays), which go with BEGIN and the locks as one pipeline,
// one round trip; receipts (and the stored receipts a RecordSubmits finds
// waiting) are applied in memory, in call order, to the state of their
// messages read in that pipeline, and written with the events and the
// COMMIT in a second round trip. The batch's callers are concurrent, so
// this is a valid order, and it leaves what the same calls one after the
// other would. An operation that fails on its own (an unknown id or part,
// a constraint, text PostgreSQL refuses) fails only its caller: the batch
// is rolled back and run again without it, or one operation at a time
// when a statement several calls share failed, to find which. A lost
// connection or a failed commit fails every caller of the batch, and
// nothing of it is acknowledged; a batch that loses a deadlock or
// serialization check is run again from its start, up to 5 runs in all.
// Once queued, a call waits for its batch; a context that ends before its
// batch starts cancels it without effect. A batch that waits for a lock
// another node's transaction holds holds up the node's writes until then.
// NoteMissing and the prunes run in transactions of their own on the
// connection pool (pool_max_conns in the DSN, else 24), beside the writers.
//
// Migrations: the embedded schema/postgres/NNNN_*.sql files newer than the
// schema_migrations table's version are applied at Open, each in its own
// transaction, under a session advisory lock, so nodes starting together
// migrate once. A database newer than the build is refused.
//
// Leases: Claim takes due rows with FOR UPDATE SKIP LOCKED, so nodes claim
// side by side without waiting for or overlapping each other, and sets
// lease_until and lease_owner (a node id made per Open). Open clears no
// lease: other nodes may be alive. A lease that lapses (its node died or
// hung) makes the message claimable by any node; lease_owner is only
// informative and matters only while lease_until is in the future.
//
// Rows shared by nodes: a batch locks the row of every message its
// operations decide from (above) before any of them reads that state. So
// two nodes taking receipts for two parts of one message see each other's
// part, and exactly one emits the final event. Claim's FOR UPDATE SKIP
// LOCKED skips a row Cancel holds and then finds it CANCELED; a Cancel that
// waited for a Claim's lock sees its live lease and refuses. The
// (carrier, carrier id) advisory locks make a receipt arriving on one node
// while another node records its id applied, never kept as unmatched after
// the id's transaction looked for it; and since they are held before the
// messages a batch's receipts name are looked up, those cannot change
// before they are locked.
//
// Event order: seq is a bigserial, and sequence values can commit out of
// order. A batch draws its seqs last in its transaction, holding the event
// advisory lock in shared mode until it commits; writers never wait for each
// other. Events notes the last seq drawn, then takes the same lock
// exclusively, which waits out every transaction that drew a seq up to that
// one, and reads only up to it. So a consumer resuming at Seq+1 never skips
// an event that commits late (storetest's EventFollowerNeverSkips fails
// within a second without this). A rolled-back transaction leaves a gap in
// the numbers, never a reordering. Lock order: row locks, then the event
// lock, then COMMIT, so the event lock is never part of a deadlock.
// PruneEvents draws no seq and takes no event lock: it deletes committed
// rows only, which a reader passes over like any gap.
//
// Notify: after a commit that appended events, the node sends NOTIFY
// smsgw_events from a notifier goroutine, one for however many commits
// happened meanwhile. Not inside the writing transaction: PostgreSQL holds a
// global lock from a NOTIFY's pre-commit to the end of its commit, WAL
// flush included, which serialized every node's commits (~190 accepts/s).
// Each store LISTENs on a dedicated connection (reconnecting on failure,
// with a wake-up after reconnecting) and implements gateway.EventNotifier:
// EventsChanged's channel is closed on the next notification from any node,
// waking every waiter. A node that dies between commit and NOTIFY leaves the
// others to find its events at their next poll.
//
// Bind slots: AcquireBindSlot implements gateway.BindSlots with a session
// advisory lock (the int8 key space, keyed by a hash of the carrier and the
// slot number) on a dedicated connection per held slot, polling every
// Options.BindSlotPoll until a slot is free or ctx ends. Release closes the
// connection, which ends the session and its lock; Close releases every slot
// of the store. A node that dies loses its sessions, and with them its
// slots: at once when the process dies, after TCP keepalive when its host
// vanishes.
//
// Reads: List, Cursor and the other lookups are one statement each (one
// snapshot); Get reads a message with its parts in one statement and its
// attempts in another; Events is described above.
//
// Times are UTC unix nanoseconds in BIGINT columns, as in SQLite.
//
// # Opt-outs and the task outbox, in both stores
//
// Migration 0005 adds what inbound services need. Messages carry a category
// and a JSON metadata object (an interface's own fields, such as Kannel's
// dlr-url), returned by Get, GetByClientRef and List. A message handed to
// Accept with Status OPTED_OUT is stored final (message and parts), with an
// OPTED_OUT event instead of ACCEPTED, outside the messages_due index, so no
// claim ever returns it. Inbound rows carry the keyword rule they matched.
//
// The optouts table holds one row per (tenant, number) that sent STOP;
// START deletes it. PostgreSQL's OptedOut reads it (several nodes change
// it); the SQLite store's answers from memory (below).
//
// # Opt-outs in memory (SQLite)
//
// The acceptor asks OptedOut on every accept, and almost always learns
// that no number opted out. The SQLite store keeps the optouts table's
// (tenant, number) pairs in memory instead, exact because it is the only
// process on the database (its lock file) and SetOptOut, run by the writer
// goroutine, is the table's only change: the store loads the table at open
// and the writer applies a batch's changes after its COMMIT succeeded, so
// a batch rolled back (or replayed) shows nothing it did not commit, and a
// SetOptOut that returned is seen by the next OptedOut. At most
// Options.OptOutsInMemory numbers (DefaultOptOutsInMemory, 100,000: about
// 7 MB) are kept; a table opened with more, or grown past it, is dropped
// from memory until the store is opened again, and OptedOut reads the
// table on the reader pool as it did before (a few numbers one by one, more
// as one JSON array), counted by OptOutDatabaseReads
// (smsgw_store_optout_database_reads_total). The database edited by another
// program while smsgw runs (which its lock does not stop) is not seen.
//
// The tasks table is the outbox: one row per action to run at least once,
// its key unique. EnqueueTasks skips a key seen before, done or not (a
// done task stays, with done_at, until PruneTasks removes it with the
// event retention), and RecordInbound inserts each new inbound message's
// tasks in the same transaction as the message, so a crash after the
// carrier got its deliver_sm_resp cannot lose the action. ClaimTasks leases
// due tasks (not_before ≤ now, no live lease) oldest first — with FOR
// UPDATE SKIP LOCKED in PostgreSQL, so nodes claim side by side.
// EnqueueLeasedTasks inserts the first due new tasks already leased, as a
// claim leaves them, for the enqueuing node's free workers: no claim for
// them, and if that node dies they are due again when the lease lapses.
// FinishTasks (a done task, or one released for a retry) only changes a task whose lease_until is still
// the one its claim set: a runner whose lease lapsed cannot end or release
// the claim of the runner that took over. Opening a SQLite store clears
// task leases as it clears message leases. In SQLite a claim also moves
// the task's not_before to its lease end, so running tasks leave the front
// of the due index (tasks_due) and claims do not step over them; the task
// is returned with the not_before it was due at, and opening the store
// makes a task that was running due at once.
//
// # Missing client refs, in both stores
//
// Migration 0006 adds missing_refs: per (tenant, client ref) that matched
// no message, the first time it was noted and, for a ref an interface
// refused when it was posted, the reason. Fineract's delivery-report poll
// uses it to answer a refused id with its reason at once, and to give up
// on an id whose POST never reached smsgw only a horizon after the first
// poll that asked for it, across restarts and nodes. Rows are only added by
// NoteMissing and only removed by PruneMissing (with the event retention,
// by first_seen, which is indexed). NoteMissing inserts the refs not
// recorded yet at the caller's now, fills the reason of a ref recorded
// without one (its time stays), and reads every ref's record back in the
// same write transaction: one operation on the SQLite writer (the notes as
// one JSON array, so a few thousand bind three variables), or an INSERT
// ... ON CONFLICT then a SELECT in PostgreSQL, the refs sorted so that
// nodes noting overlapping sets lock them in one order, the SELECT a
// statement of its own so that it sees a row another node committed while
// the INSERT waited for it. No refs is no write; an empty tenant or ref is
// an error.
package store
