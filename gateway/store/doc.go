// Package store holds the durable implementations of gateway.Store: the
// embedded SQLite store (the default, one file, nothing to install) and, in a
// later issue, the PostgreSQL store for several nodes. Open picks one from a
// Config; every implementation passes the contract suite in
// gateway/store/storetest unchanged.
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
package store
