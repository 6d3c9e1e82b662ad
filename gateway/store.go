package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"
)

// ErrNotFound is returned by Store.Get when no message has the id for the
// tenant asking; callers map it to NotFound without revealing other tenants.
var ErrNotFound = errors.New("gateway: message not found")

// ErrLeaseLost is a Reschedule or Finish by a claim whose lease lapsed
// while another claim took the message: the other claim decides its fate,
// so that a message is not rescheduled (and sent again) under it.
var ErrLeaseLost = errors.New("gateway: the message's lease lapsed and another claim holds it")

// Store is the durable state the engine needs: the union of the role
// interfaces below, so one implementation serves every part of the engine
// while each part depends only on the roles it uses (doc.go lists who uses
// which). Implementations
// live in gateway/store and all pass its contract suite
// (gateway/store/storetest).
//
// Every method that changes state returns only after the change is durable
// (fsync'd or replicated); events it appends are durable in the same commit.
type Store interface {
	MessageStore
	Inbox
	EventLog
	Outbox
	OptOuts
	MissingRefs
	AuditTrail
	APIKeys

	// Close flushes pending writes and releases the store.
	Close() error
}

// MessageStore is the role of the store that keeps outbound messages, their
// parts, attempts and receipts: what the acceptor writes, the dispatcher
// claims and records, and the facade reads. Each change appends its status
// event in the same commit, so this role writes to the event log too, but
// no part needs more than this interface to move a message.
type MessageStore interface {
	// Accept stores each message with its parts and an ACCEPTED event. A
	// message whose (Tenant, ClientRef) exists already is not stored again:
	// its result carries the stored message's id and Duplicate. A message
	// given with Status OPTED_OUT is stored final, with that event instead,
	// and is never claimed. A message to send given with LeaseUntil set is
	// stored leased to this node until then, as Claim would have leased
	// it: its caller dispatches it without a claim, and no claim returns it
	// before the lease lapses (a duplicate leaves the stored message as it
	// is).
	Accept(ctx context.Context, msgs []*Message) ([]AcceptResult, error)

	// Get returns a message with its parts. An empty tenant matches any.
	Get(ctx context.Context, tenant, id string) (*Message, error)

	// GetByClientRef returns a tenant's message by its idempotency key, with
	// its parts; ErrNotFound when there is none.
	GetByClientRef(ctx context.Context, tenant, clientRef string) (*Message, error)

	// List returns a tenant's messages matching f, newest first (ids are
	// time-ordered), without their parts and attempts, at most f.Limit.
	List(ctx context.Context, tenant string, f ListFilter) ([]*Message, error)

	// Cancel ends a message no carrier has taken yet: CANCELED, one event.
	// It returns ErrNotFound for an unknown id or another tenant's, and
	// ErrNotCancelable when a part was submitted, the message is final, or
	// a node holds a live claim on it (it may be sending right now).
	Cancel(ctx context.Context, tenant, id string, now time.Time) error

	// Claim leases up to limit messages that still have unsubmitted parts and
	// are due (NotBefore and next attempt ≤ now), highest priority first. A
	// leased message is not returned again until Reschedule or Finish releases
	// it, or its lease lapses (a restart of a single-node store clears leases).
	// Each message's LeaseUntil says when.
	Claim(ctx context.Context, now time.Time, limit int) ([]*Message, error)

	// ClaimLease is how long Claim leases a message; the engine leases
	// what it accepts and dispatches itself (see Accept) as long.
	ClaimLease() time.Duration

	// ClaimFor is Claim over one tenant's messages only, so the dispatcher
	// can give each tenant its share of a claim whatever the others queued.
	ClaimFor(ctx context.Context, now time.Time, tenant string, limit int) ([]*Message, error)

	// RecordSubmits stores the carrier ids of submitted parts. A message whose
	// parts all have carrier ids becomes SUBMITTED (one event) and is released.
	// Receipts that arrived earlier for these ids are applied now.
	RecordSubmits(ctx context.Context, recs []SubmitRecord) error

	// Reschedule releases a claimed message for another attempt at the given
	// time, keeping lastErr. It counts an attempt only when counted is true:
	// waiting for a carrier that is down must not use up a message's retries.
	// lease is the LeaseUntil of the claim the caller holds: when the
	// message is leased otherwise (the caller's lease lapsed and another
	// claim took it, which may be sending it now) nothing changes and the
	// error is ErrLeaseLost. A zero lease skips that check.
	Reschedule(ctx context.Context, id string, lease, at time.Time, lastErr string, counted bool) error

	// RecordAttempts appends failed carrier attempts to messages' histories
	// (RecordSubmits records the successful ones itself).
	RecordAttempts(ctx context.Context, recs []AttemptRecord) error

	// Finish ends a message that will not be (further) submitted, with a final
	// status and an event. lease is as for Reschedule: a message another
	// claim holds is left to it (ErrLeaseLost).
	Finish(ctx context.Context, id string, lease time.Time, status Status, detail string) error

	// RecordReceipts matches receipts to parts and updates parts, messages
	// and events. A receipt applies only to parts that are not final, were
	// submitted to its carrier with its id (CarrierID, else each of AltIDs
	// in turn) and within its Window: of those, to the parts of the most
	// recent submission. A receipt that names only final parts (or parts
	// outside the window) is never applied to them: an intermediate one is
	// counted stale and dropped; a final one is held (it may have overtaken
	// the submit_sm_resp of a new part reusing the id). A final receipt
	// that applies to nothing is kept, and applied when RecordSubmits
	// records its id within ReceiptRace, until PruneReceipts drops it.
	RecordReceipts(ctx context.Context, rs []Receipt) (ReceiptTally, error)

	// PruneReceipts drops kept receipts as p says and reports them: held
	// ones past the race are the stale receipts operators are told about;
	// receipts for ids never recorded (junk, another gateway's) must not
	// pile up.
	PruneReceipts(ctx context.Context, p ReceiptPrune) (ReceiptsPruned, error)

	// Backlog counts the messages accepted and not yet taken by a carrier
	// (scheduled ones included): the queue depth operators watch.
	Backlog(ctx context.Context) (int64, error)
}

// Inbox is the role of the store that keeps mobile-originated messages:
// the inbound router stores them (with their outbox tasks, one commit) and
// the acceptor reads the one a reply answers.
type Inbox interface {
	// RecordInbound stores mobile-originated messages with one event each,
	// and each new message's Tasks in the same commit, skipping any whose
	// (Carrier, CarrierRef) was stored before, and any that is a resend by
	// its ResendAfter/ResendBefore. It returns how many were new; each new
	// message has its ID, each skipped one an empty ID.
	RecordInbound(ctx context.Context, in []*Inbound) (added int, err error)

	// GetInbound returns a tenant's inbound message (for replies); an empty
	// tenant matches any. ErrNotFound when there is none.
	GetInbound(ctx context.Context, tenant, id string) (*Inbound, error)
}

// EventLog is the role of the store that serves the ordered event log:
// reads, named cursors and retention. Events are appended by the other
// roles' writes, never through this interface, so a reader depends on it
// alone.
type EventLog interface {
	// Events returns up to limit events with Seq ≥ fromSeq in order; an empty
	// tenant matches all tenants.
	Events(ctx context.Context, tenant string, fromSeq int64, limit int) ([]Event, error)

	// EventsWithMessages is Events with each status event's Message filled
	// in the same read, for followers that would otherwise read every
	// message back; readers that need only the status use Events, which
	// costs less.
	EventsWithMessages(ctx context.Context, tenant string, fromSeq int64, limit int) ([]Event, error)

	// AckEvents moves a tenant's named cursor forward to seq (never back),
	// so an adapter that lost its own position resumes from the server's.
	AckEvents(ctx context.Context, tenant, cursor string, seq int64) error

	// LastSeq returns the highest sequence number drawn so far (0 before the
	// first event), pruned or not: a stream that starts after it sees only
	// events appended later.
	LastSeq(ctx context.Context) (int64, error)

	// PrunedThrough returns the highest seq retention has deleted (0: none):
	// a reader resuming at or below it has missed events.
	PrunedThrough(ctx context.Context) (int64, error)

	// Cursors lists a tenant's cursors by name, so an operator sees which
	// consumers exist and how far behind each is.
	Cursors(ctx context.Context, tenant string) ([]CursorState, error)

	// DeleteCursor forgets a tenant's cursor (a consumer retired), saying
	// whether it existed.
	DeleteCursor(ctx context.Context, tenant, cursor string) (bool, error)

	// Cursor returns a named cursor's seq, 0 when it was never acked.
	Cursor(ctx context.Context, tenant, cursor string) (int64, error)

	// PruneEvents deletes events appended before the given time (retention)
	// and returns how many went. Sequence numbers are never reused.
	PruneEvents(ctx context.Context, before time.Time) (int, error)
}

// Outbox is the role of the store that keeps tasks to run at least once:
// the outbox part claims and finishes them, and the engine enqueues the
// ones callers hand it (RecordInbound enqueues an inbound message's own).
type Outbox interface {
	// EnqueueTasks adds tasks to the outbox, skipping any whose Key was
	// enqueued before (done or not). It returns how many were new.
	EnqueueTasks(ctx context.Context, tasks []Task) (added int, err error)

	// EnqueueLeasedTasks is EnqueueTasks that also leases, in the same
	// write, up to claim of the new tasks that are due at now (the first
	// in order) until now+lease, as ClaimTasks would, and returns them
	// with their ID and LeaseUntil set: the node that enqueues tasks for
	// its own free workers runs them without a claim (a second writer
	// operation a task). A key skipped as known is never leased; a
	// PostgreSQL store may lease fewer than claim when the batch repeats a
	// known key. A leased task whose runner dies is due again once its
	// lease lapses, as a claimed one.
	EnqueueLeasedTasks(ctx context.Context, tasks []Task, now time.Time, claim int, lease time.Duration) (leased []Task, added int, err error)

	// ClaimTasks leases up to limit due tasks (NotBefore ≤ now) until
	// now+lease, oldest first.
	ClaimTasks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Task, error)

	// FinishTasks records how runs of tasks ClaimTasks (or
	// EnqueueLeasedTasks) returned ended, in one write: each done
	// (succeeded or given up, with LastErr saying why), or released to
	// run again at RetryAt with Attempts counted. A
	// task whose lease lapsed and that another claim took is left alone
	// (that runner finishes it).
	FinishTasks(ctx context.Context, outcomes []TaskOutcome) error

	// PruneTasks deletes done tasks finished before the given time and
	// returns how many went. A task key pruned can be enqueued again, so
	// this runs with event retention, long after a key's last use.
	PruneTasks(ctx context.Context, before time.Time) (int, error)

	// ListFailingTasks returns the tenant's tasks whose last run failed
	// (still retrying, or given up), the latest enqueued first, at most
	// limit (≤ 0: 100); tenant "" lists every tenant's. What an operator
	// reads to see why a webhook or reply does not get through.
	ListFailingTasks(ctx context.Context, tenant string, limit int) ([]FailingTask, error)

	// RetryTaskNow makes a failing task (retrying, or given up) due now,
	// keeping its failed runs: an operator who fixed the endpoint need not
	// wait for the backoff. Tenant "" may name any tenant's task; a task
	// that is not the tenant's, or does not exist, is ErrNotFound. A task
	// that has not failed, or is running now, is refused.
	RetryTaskNow(ctx context.Context, tenant string, id int64) error

	// DropTask gives up a failing task that still retries, noting by whom
	// in its last error, so it leaves the runner but stays listed until
	// retention prunes it. Errors as RetryTaskNow's; a task given up
	// already is refused.
	DropTask(ctx context.Context, tenant string, id int64, by string) error
}

// TaskOutcome is how one run of a claimed task ended. The outbox records
// them in batches: one write per task was a third of the writer
// operations a dlr-url callback cost.
type TaskOutcome struct {
	Task    Task // as ClaimTasks or EnqueueLeasedTasks returned it (its lease identifies the claim)
	Done    bool
	RetryAt time.Time // when not Done
	LastErr string
}

// FailingTask is an outbox task whose last run failed, without its
// payload (a webhook's body holds numbers and texts).
type FailingTask struct {
	ID        int64
	Key, Kind string
	Tenant    string
	Attempts  int       // failed runs so far
	LastError string    // why the last run failed
	NextRun   time.Time // when it runs again; zero once given up
	CreatedAt time.Time
	GaveUpAt  time.Time // zero while it still retries
}

// OptOuts is the role of the store that keeps each tenant's opt-out list:
// the inbound router changes it (STOP, START) and the acceptor consults it,
// so a message to a number that opted out is stored OPTED_OUT.
type OptOuts interface {
	// SetOptOut records that a number opted out of a tenant's messages
	// (out) or back in (!out). Keyword is the word it used, kept for audit.
	SetOptOut(ctx context.Context, tenant, number string, out bool, keyword string) error

	// OptedOut returns which of numbers are opted out of the tenant's
	// messages.
	OptedOut(ctx context.Context, tenant string, numbers []string) (map[string]bool, error)

	// ListOptOuts returns a tenant's opted-out numbers, the latest opt-out
	// first, at most limit (≤ 0: 100): what an operator reviews.
	ListOptOuts(ctx context.Context, tenant string, limit int) ([]OptOutEntry, error)
}

// OptOutMemory is implemented by stores that answer OptedOut from memory
// while the opt-out list is short enough (the SQLite store), so operators
// see when it is not: then every accept reads the database again.
type OptOutMemory interface {
	// OptOutDatabaseReads returns how many OptedOut calls read the
	// database so far.
	OptOutDatabaseReads() uint64
}

// OptOutEntry is one number on a tenant's opt-out list.
type OptOutEntry struct {
	Number  string
	Keyword string    // the word it used, or who put it there ("console:noc")
	At      time.Time // when it opted out
}

// AuditTrail is the role of the store that keeps what people did through
// the operator interfaces (the web console), durably and on every node of
// a cluster, so "who paused carrier A last night" has an answer after a
// restart.
type AuditTrail interface {
	// RecordAudit appends an entry, and in the same commit an EventAudit
	// event carrying it, so followers of the log see operators' actions in
	// order with what they changed.
	RecordAudit(ctx context.Context, e AuditEntry) error

	// ListAudit returns the latest entries, newest first, at most limit
	// (≤ 0: 100); a non-empty tenant keeps only the entries of users
	// limited to that tenant.
	ListAudit(ctx context.Context, tenant string, limit int) ([]AuditEntry, error)
}

// AuditEntry is one thing a person did: who, from where, what, to what,
// when, and the outcome. Numbers in Target are masked by the caller.
type AuditEntry struct {
	At      time.Time
	User    string
	Role    string
	Tenant  string // the user's tenant limit ("" for none)
	Source  string // the client's address
	Action  string // sign-in, pause-carrier, cancel-message, opt-out, ...
	Target  string // carrier name, message id, masked number
	Outcome string // "done" or why it failed
}

// APIKeys is the role of the store that keeps the tenants' API keys made
// through the console, beside the config's: shared by every node of a
// cluster and revocable without editing a file. Only a key's SHA-256 and
// a short prefix are kept, so neither the store nor a backup can give a
// key back.
type APIKeys interface {
	// CreateAPIKey stores a new key; its Prefix must be unused.
	CreateAPIKey(ctx context.Context, k APIKey) error

	// ListAPIKeys returns a tenant's keys, revoked ones too, newest first;
	// tenant "" returns every tenant's.
	ListAPIKeys(ctx context.Context, tenant string) ([]APIKey, error)

	// RevokeAPIKey marks the tenant's key with that prefix revoked by by,
	// at once; ErrNotFound when the tenant has no such key not yet revoked.
	RevokeAPIKey(ctx context.Context, tenant, prefix, by string) error
}

// APIKey is a stored API key: never the key itself, only its digest.
type APIKey struct {
	Prefix    string            // the key's first characters, shown to tell keys apart
	Tenant    string            // whose key it is
	Label     string            // what the operator called it ("loan reminders")
	Hash      [sha256.Size]byte // SHA-256 of the whole key
	CreatedAt time.Time
	CreatedBy string // the console user who made it
	// ExpiresAt is when the key stops opening the API, as if revoked then;
	// zero for never.
	ExpiresAt time.Time
	RevokedAt time.Time // zero while the key works
	RevokedBy string
}

// Revoked says whether the key was revoked (it no longer opens the API).
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// InForce says whether the key opens the API at now: neither revoked nor
// expired.
func (k APIKey) InForce(now time.Time) bool {
	return !k.Revoked() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// MissingRefs is the role of the store that remembers client refs an
// interface looked for in vain or refused (the Fineract report), kept
// across restarts and nodes until retention prunes them.
type MissingRefs interface {
	// NoteMissing records the tenant's client refs that matched no message:
	// each ref maps to "" when it was looked for in vain, or to the reason
	// an interface refused it when it was posted. A ref is recorded once,
	// at now; a later note keeps its time and only fills a reason it
	// lacked. It returns the record of every ref given. The Fineract report
	// uses it to answer a refused id with its reason, and to give up on an
	// id whose POST never reached smsgw only a horizon after the first poll
	// that asked for it, across restarts and nodes. A tenant and non-empty
	// refs are required; no refs is an empty map and no write.
	NoteMissing(ctx context.Context, tenant string, notes map[string]string, now time.Time) (map[string]Missing, error)

	// PruneMissing deletes the records NoteMissing made before the given
	// time and returns how many went (run with event retention).
	PruneMissing(ctx context.Context, before time.Time) (int, error)
}

// Missing is what the store keeps of a client ref that matched no message
// (Store.NoteMissing).
type Missing struct {
	Since  time.Time // when it was first noted
	Reason string    // why it was refused when posted; "" when it never arrived
}

// ErrNotCancelable says a message can no longer be canceled: a carrier has
// (or may have) part of it, or it already ended.
var ErrNotCancelable = errors.New("gateway: message is already being sent or has ended")

// ErrUnavailable marks a failure of the store itself, not of the request: a
// commit that failed (disk full, I/O error, a lost database connection) or a
// store that is closing. The same request may succeed later, so APIs answer
// it as retryable (gRPC UNAVAILABLE, HTTP 503) and never with its text.
// Stores wrap such errors with it; every other error is the request's or a
// bug, and is not worth retrying.
var ErrUnavailable = errors.New("gateway: the store cannot take writes now")

// ErrAckAhead refuses a cursor acknowledgment past the last event appended:
// the cursor would silently skip events not yet written.
var ErrAckAhead = errors.New("gateway: acknowledged seq is beyond the last event")

// ListFilter selects messages for Store.List. Zero fields match everything.
type ListFilter struct {
	Status Status    // only this status
	To     string    // only this destination (E.164)
	Since  time.Time // created at or after
	Until  time.Time // created before
	Before string    // page token: only ids before this one (the last id of the previous page)
	Limit  int       // at most this many; ≤ 0 means 100
}

// AcceptResult tells a caller what became of one message given to Accept.
type AcceptResult struct {
	ID        string
	Duplicate bool // an earlier message had the same (tenant, client_ref)
}

// AttemptRecord is one failed attempt of one message.
type AttemptRecord struct {
	MessageID string
	Attempt
}

// SubmitRecord is one part a carrier has taken responsibility for.
type SubmitRecord struct {
	MessageID string
	Index     int
	Carrier   string
	CarrierID string
	Cost      float64 // per part, added to the message's cost
	Currency  string
	At        time.Time
}

// BindSlots caps a carrier's binds across every node sharing a store:
// carriers limit binds per account, so `binds: N` in the config is a total
// for the cluster. A store shared by several nodes implements it; a
// single-node store does not need to (every slot is local).
type BindSlots interface {
	// AcquireBindSlot blocks until one of the carrier's slots (0..slots-1)
	// is free for this node or ctx ends. The slot is held until release is
	// called or this node dies (its database session ends), whichever
	// comes first.
	AcquireBindSlot(ctx context.Context, carrier string, slots int) (slot int, release func(), err error)
}

// WriteHealth is implemented by stores that know when their writes fail for
// reasons of their own (a full disk, an I/O error, a lost database
// connection: gateway.ErrUnavailable), so the engine can tell operators
// (an ERROR line a minute, a metric) and stop calling the node ready while
// they last.
type WriteHealth interface {
	// WriteFailures returns how many commits failed that way so far; while
	// they keep failing (no commit succeeded since), since is when the run
	// began, else zero; lastAt and last are the latest failure.
	WriteFailures() (total uint64, since, lastAt time.Time, last error)
	// Commits returns how many of the store's write transactions have
	// committed: against the messages a second, how well writes share
	// commits (each costs an fsync).
	Commits() uint64
}

// EventNotifier is implemented by stores shared by several nodes, so an
// event stream on one node wakes when another node appends events.
type EventNotifier interface {
	// EventsChanged returns a channel that receives after events may have
	// been appended by any node.
	EventsChanged() <-chan struct{}
}
