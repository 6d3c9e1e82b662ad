package gateway

import "time"

// Status is where a message or one of its parts stands. Every status is
// spelled in capitals, so that logs, events and the gRPC enum read the same.
type Status string

// The statuses a message moves through. ACCEPTED and SUBMITTED are the only
// non-terminal ones: a message leaves them exactly once.
const (
	StatusAccepted    Status = "ACCEPTED"
	StatusSubmitted   Status = "SUBMITTED"
	StatusDelivered   Status = "DELIVERED"
	StatusUndelivered Status = "UNDELIVERED"
	StatusExpired     Status = "EXPIRED"
	StatusRejected    Status = "REJECTED"
	StatusFailed      Status = "FAILED"
	StatusCanceled    Status = "CANCELED"
	// StatusOptedOut ends a message to a number that sent STOP to the
	// tenant: it is stored (so the caller can see why) but never sent.
	StatusOptedOut Status = "OPTED_OUT"
)

// Final reports whether no later event can change the status.
func (s Status) Final() bool {
	switch s {
	case StatusAccepted, StatusSubmitted, "":
		return false
	}
	return true
}

// Encoding names the alphabet a message's text is sent in. It is decided at
// accept time, so the part count a caller is told never changes on resend.
type Encoding string

// The encodings the engine knows how to count parts for.
const (
	EncodingGSM7 Encoding = "GSM7"
	EncodingUCS2 Encoding = "UCS2"
)

// Category says whether a message may go to a number that opted out.
// Marketing (the default) never does; transactional messages (receipts,
// payment confirmations) do when the tenant allows it.
type Category string

// The categories a message can have.
const (
	CategoryMarketing     Category = "marketing"
	CategoryTransactional Category = "transactional"
)

// Message is one outbound SMS as accepted from a caller. The store owns the
// durable copy; values handed around the engine are snapshots.
type Message struct {
	ID        string
	Tenant    string
	ClientRef string // idempotency key, unique per tenant when not empty
	From      string
	To        string // E.164, normalized at accept
	Text      string
	Encoding  Encoding
	Priority  int32 // higher is sent first
	Category  Category
	// Meta carries what an interface must find again when the message's
	// status changes (Kannel's dlr-url and dlr-mask, ...); the engine does
	// not read it.
	Meta map[string]string
	// PinnedCarrier, when set, is the only carrier the message may take: a
	// reply leaves through the carrier its inbound message came in on.
	PinnedCarrier string
	NotBefore     time.Time
	ExpiresAt     time.Time // zero: no validity limit

	Status    Status
	Tries     int    // counted submission attempts (see Store.Reschedule)
	Carrier   string // route taken by the last submission
	Cost      float64
	Currency  string
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time

	// LeaseUntil is set by Store.Claim: after it, another node may claim the
	// message, so this node must not start sending it.
	LeaseUntil time.Time
	claimedAt  time.Time // when this engine claimed it

	Parts    []Part
	Attempts []Attempt // oldest first; filled by Store.Get
}

// Part is one SMS segment of a Message. Every part is submitted, tracked and
// receipted on its own: a message is DELIVERED only when all its parts are.
type Part struct {
	Index     int // 0-based
	Carrier   string
	CarrierID string // normalized message id from the carrier, empty until submitted
	Status    Status
	Error     string
	Cost      float64 // of the route that took it
	UpdatedAt time.Time
}

// Attempt is one try of one carrier for a message: what GetMessage shows as
// the message's history. Outcome is "submitted" or the Decision taken after
// a failure (retry, next_route, permanent).
type Attempt struct {
	Carrier string
	Outcome string
	Detail  string
	At      time.Time
}

// EventKind separates the things followers read on one ordered log. The
// log grows new kinds: a follower acts on the kinds it knows and passes over
// the others (still acknowledging them), so a new kind breaks none.
type EventKind string

// Event kinds.
const (
	EventStatus  EventKind = "status"
	EventInbound EventKind = "inbound"
	// EventAudit is an operator's action (AuditTrail.RecordAudit), appended
	// in the same commit as the audit row; its Tenant is the acting user's
	// tenant limit ("" for a gateway-wide user), so a tenant's reader sees
	// only its own users' actions.
	EventAudit EventKind = "audit"
)

// Event is one entry of the ordered event log. Seq is assigned by the store
// in commit order and never reused, so a consumer resumes by sequence number.
type Event struct {
	Seq       int64
	Kind      EventKind
	Tenant    string
	MessageID string
	Status    Status // for EventStatus
	Detail    string // error text or receipt state, may be empty
	Time      time.Time
	Inbound   *Inbound // for EventInbound
	// Audit is an audit event's entry (numbers in Target masked); nil
	// for the other kinds.
	Audit *AuditEntry
	// ClientRef is a status event's message's client_ref ("" when it has
	// none), so an adapter matches events to its own records without a
	// GetMessage per event.
	ClientRef string
	// Message is what a status event's followers need of its message, read
	// with the event so that following costs no read per event: nil for
	// inbound events and for a message pruned since.
	Message *EventMessage
}

// EventMessage is the part of a message that followers of status events
// use (Kannel's dlr-url escapes need the numbers, the coding, the carrier,
// its id and the interface metadata). It is read with the event, so it
// shows the message as it stands then, not as it stood when the event was
// appended. It leaves out the text: followers never need it. A store may
// hand the same EventMessage (and Meta map) to every reader of the events
// of one message, so followers read it and never change it.
type EventMessage struct {
	From, To string
	Encoding Encoding
	// Carrier is the carrier that took the message, else the one its first
	// part was last given to; CarrierID is that carrier's id for the first
	// part ("" until submitted).
	Carrier, CarrierID string
	Meta               map[string]string
}

// Inbound is a mobile-originated message received from a carrier.
type Inbound struct {
	ID         string
	Tenant     string
	Carrier    string
	CarrierRef string // carrier-side identity for duplicate detection, may be empty
	From       string
	To         string
	Text       string
	ReceivedAt time.Time
	// Keyword is the name of the keyword rule the message matched when it
	// was received ("" when none did): adapters filter on it.
	Keyword string
	// Tasks are the actions the keyword rule asks for. RecordInbound stores
	// them in the same commit as the message, so a crash between receiving
	// and handling loses neither; they are not read back.
	Tasks []Task
	// ResendAfter and ResendBefore, when set, bound when a copy of this
	// message may have been received for this one to be the carrier's
	// resend: a message with the same carrier, sender, recipient and text
	// stored with a receipt time in [ResendAfter, ResendBefore) makes
	// RecordInbound skip it. A connector sets them for a message that has
	// no id of its own and arrived on a link opened since (a carrier
	// resends what was not acknowledged after it binds again).
	ResendAfter, ResendBefore time.Time
}

// Task is one action the gateway must carry out at least once, even across a
// crash: a webhook call, a reply, an opt-out. Tasks live in the store's
// outbox; the engine runs each with the TaskHandler registered for its Kind,
// retrying with backoff until it succeeds or fails permanently.
type Task struct {
	ID     int64  // set by the store
	Key    string // unique: a task whose Key was enqueued before is skipped
	Kind   string // picks the TaskHandler
	Tenant string
	// Payload is the handler's own encoding of what to do.
	Payload   []byte
	Attempts  int       // runs that failed so far
	NotBefore time.Time // not run before this; zero means now
	LastError string
	// LeaseUntil is set by Store.ClaimTasks: until then no other claim
	// returns the task.
	LeaseUntil time.Time
}

// Receipt is a delivery report as a connector understood it, before matching.
type Receipt struct {
	Carrier   string // connector name
	CarrierID string // normalized the same way as Part.CarrierID
	Status    Status // DELIVERED, UNDELIVERED, EXPIRED, REJECTED; "" for intermediate states
	State     string // the carrier's own word (DELIVRD, UNDELIV, ...)
	Error     string // carrier error code, if any
	// Text is the receipt as the carrier wrote it ("id:… sub:001 dlvrd:001
	// submit date:… done date:… stat:DELIVRD err:000 text:…"), empty when
	// it sent only TLVs: the status event carries it, so interfaces can
	// hand it on as Kannel does (%A of a dlr-url).
	Text string
	Time time.Time
	// AltIDs are other readings of the id, tried in order when CarrierID
	// finds no part to apply to: a carrier whose id base is not configured
	// ("auto", as Kannel's unset msg-id-type) may write the receipt's id in
	// decimal for a hexadecimal submit id, or the reverse.
	AltIDs []string
	// Window is how long after a part's submission a receipt may still
	// apply to it (the longest validity the carrier gives a message, plus a
	// margin); zero means DefaultReceiptWindow. A part submitted earlier
	// than that with the receipt's id is an older use of a recycled id.
	Window time.Duration
}

// DefaultReceiptWindow is the receipt window of a carrier that sets none:
// SMSCs keep a message at most a few days (often 48 h to 7 days).
const DefaultReceiptWindow = 7 * 24 * time.Hour

// ReceiptTally is what became of the receipts given to RecordReceipts.
type ReceiptTally struct {
	// Matched receipts applied to a part.
	Matched int
	// Held final receipts named only parts that are final already (or
	// submitted before the receipt's window). They are kept for
	// ReceiptRace: such a receipt may have overtaken the submit_sm_resp of
	// a new part reusing its id. PruneReceipts reports those still kept
	// after that as stale.
	Held int
	// Stale intermediate receipts named only final parts: dropped at once,
	// never applied.
	Stale int
	// StaleIDs is a few of the stale receipts' ids, for the log.
	StaleIDs []string
}

// ReceiptRace is how long a kept receipt may wait for RecordSubmits to
// record its id: a receipt can overtake its own submit_sm_resp, but only
// by the submission's round trip. A receipt kept longer is never applied
// to an id recorded later (that is a reuse of the id).
const ReceiptRace = 30 * time.Second

// ReceiptPrune says which kept receipts PruneReceipts drops.
type ReceiptPrune struct {
	// StaleBefore: receipts held because they named only final parts
	// (ReceiptTally.Held) that arrived before it are dropped and reported
	// stale: no part reusing their id was recorded in time.
	StaleBefore time.Time
	// Before: receipts that named nothing and arrived before it are
	// dropped (junk, another gateway's ids, or a submit never recorded).
	Before time.Time
	// Keep is the most receipts kept; the oldest beyond it are dropped.
	Keep int
}

// ReceiptsPruned is what PruneReceipts dropped.
type ReceiptsPruned struct {
	// Dropped counts the receipts that named nothing, dropped by age or
	// count, and held ones dropped by count.
	Dropped int
	// Stale is, per carrier, the held receipts dropped after the race:
	// a stream of them means the carrier reuses ids (a counter reset) or
	// writes them in another base than the config says.
	Stale map[string]ReceiptTally
}

// CursorState is a named consumer's acknowledged position in the event log.
type CursorState struct {
	Name      string
	Seq       int64
	UpdatedAt time.Time
}
