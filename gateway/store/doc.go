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
// # Invariants of the SQLite store
//
// All methods are safe for concurrent use; none holds a lock while it waits
// for the disk except the writer itself.
//
// Durability: a method that changes state returns only after the transaction
// holding its change has committed with synchronous=FULL in WAL mode, that
// is, after the write-ahead log was fsync'd. An id returned by Accept is on
// disk; an event is durable in the same commit as the change it reports.
//
// One writer: every change (Accept, Claim, RecordSubmits, Reschedule, Finish,
// RecordReceipts, RecordInbound) is queued to a single writer goroutine that
// owns the only write connection. It drains what is queued (up to
// Options.MaxBatch operations) into one transaction, commits it once and then
// answers every caller of the batch: many callers share one fsync (group
// commit). Within a batch the Accepts run first, together, as multi-row
// INSERTs, and the events of the whole batch are appended just before the
// COMMIT; the batch's callers are concurrent, so this is a valid order. An
// operation that fails on its own (an unknown id, a constraint) fails only
// its caller; the others in the batch commit. An I/O failure or a
// failed commit fails every caller of that batch, and nothing of it is
// acknowledged. Once queued, a call waits for its batch; a context that ends
// before the writer reaches the operation cancels it without effect.
//
// Reads: Get and Events run on a separate read-only connection pool. WAL lets
// them run beside the writer, and each sees one committed snapshot.
//
// Leases: Claim leases the messages it returns until now+Options.LeaseDuration;
// a leased message is not claimed again until Reschedule, Finish or
// RecordSubmits (all parts submitted) releases it or the lease lapses. A
// SQLite store serves exactly one process (Open takes an exclusive lock on a
// sidecar ".lock" file), so opening it clears every lease: the process that
// held them is gone, and unfinished work resumes at once after a restart.
//
// Events: the event sequence number is an AUTOINCREMENT key assigned inside
// the single writer's transactions, so sequence order is commit order and a
// number is never reused, even across restarts.
//
// Times are stored as UTC unix nanoseconds (0 for the zero time), so they
// round-trip exactly.
// # Invariants of the PostgreSQL store
//
// Durability: every write is one transaction that returns after COMMIT, that
// is after PostgreSQL flushed its WAL (Open refuses fsync=off and
// synchronous_commit=off; a synchronous standby makes the commit wait for it
// too). Writes run concurrently on a connection pool (pool_max_conns in the
// DSN, else 24): PostgreSQL shares one WAL flush among the commits waiting
// for it, which is this store's group commit. A transaction that loses a
// deadlock or serialization check is retried from its start, up to 5 times.
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
// Rows shared by nodes: a transaction that decides from a message's state
// (RecordSubmits, RecordReceipts, Finish) locks that message's row first (in
// id order when there are several). So two nodes taking receipts for two
// parts of one message see each other's part, and exactly one emits the
// final event. RecordSubmits and RecordReceipts also take a transaction
// advisory lock per (carrier, carrier id), so a receipt arriving on one node
// while another node records its id is applied, never kept as unmatched
// after the id's transaction looked for it.
//
// Event order: seq is a bigserial, and sequence values can commit out of
// order. A writer draws its seqs last in its transaction, holding the event
// advisory lock in shared mode until it commits; writers never wait for each
// other. Events notes the last seq drawn, then takes the same lock
// exclusively, which waits out every transaction that drew a seq up to that
// one, and reads only up to it. So a consumer resuming at Seq+1 never skips
// an event that commits late (storetest's EventFollowerNeverSkips fails
// within a second without this). A rolled-back transaction leaves a gap in
// the numbers, never a reordering. Lock order: row locks, then the event
// lock, then COMMIT, so the event lock is never part of a deadlock.
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
// Reads: Get is one statement (one snapshot); Events is described above.
// Times are UTC unix nanoseconds in BIGINT columns, as in SQLite.
package store
