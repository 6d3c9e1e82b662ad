package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Connector is a way to a carrier: an SMPP bind pool or an HTTP provider.
// The engine owns its lifecycle: Start once with the sink for what the carrier
// sends back, Stop once at shutdown.
type Connector interface {
	// Name is the carrier name routes refer to.
	Name() string
	// Start connects and begins delivering receipts and inbound messages to
	// sink. It does not wait for the carrier to be reachable.
	Start(sink Sink) error
	// Submit sends the given parts (indexes into the message's segmentation)
	// and returns one result per part, in the order asked. It blocks while
	// the connector's window is full, until ctx ends.
	Submit(ctx context.Context, m *Message, parts []int) []PartResult
	// Up reports whether the connector can take a submission now.
	Up() bool
	// Window is how many parts may be sent and not yet answered at once,
	// across all of the connector's binds. The engine holds that many parts
	// at most between "handed to Submit" and "carrier id stored", which
	// bounds what a crash can make it send twice.
	Window() int
	// Stop drains in-flight submissions within ctx and disconnects.
	Stop(ctx context.Context) error
}

// PartResult is what became of one part handed to Connector.Submit.
type PartResult struct {
	Index     int
	CarrierID string // normalized, set when Err is nil
	Err       error  // classify with DecisionOf
}

// Sink takes what carriers send back. A connector acknowledges a receipt or
// inbound message to the carrier only after the sink returned nil: that is
// what makes them survive a crash.
type Sink interface {
	HandleReceipts(ctx context.Context, rs []Receipt) error
	HandleInbound(ctx context.Context, in []*Inbound) error
}

// Decision is what the engine does after a failed submission.
type Decision int

// The three outcomes every connector error maps to.
const (
	// Retry the same route later, with backoff.
	Retry Decision = iota
	// NextRoute tries the following candidate now.
	NextRoute
	// Permanent fails the message for good (REJECTED).
	Permanent
)

// String is the decision as metrics (the decision label) and a message's
// history (Attempt.Outcome) spell it, so both read the same.
func (d Decision) String() string {
	switch d {
	case Retry:
		return "retry"
	case NextRoute:
		return "next_route"
	case Permanent:
		return "permanent"
	}
	return fmt.Sprintf("decision(%d)", int(d))
}

// SubmitError is a connector failure that knows what should happen next.
// Errors that are not SubmitErrors (timeouts, closed links) mean Retry.
type SubmitError struct {
	Decision Decision
	Code     string // carrier-level code, e.g. "ESME_RINVDSTADR" or an HTTP status
	Err      error
	// Throttled says the carrier asked to slow down (ESME_RTHROTTLED, HTTP
	// 429): it is working, so its circuit breaker does not count a failure
	// (a throttling storm must not open the breaker of the only route).
	Throttled bool
}

// Error puts the carrier's code and the decision first, so a log line or a
// message's last error says what the carrier said and what happens next.
func (e *SubmitError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%s): %v", e.Code, e.Decision, e.Err)
	}
	return fmt.Sprintf("%s (%s)", e.Code, e.Decision)
}

// Unwrap exposes the connector's cause under the classification, so
// errors.Is still finds a deadline or a closed link.
func (e *SubmitError) Unwrap() error { return e.Err }

// IsThrottled reports whether err is a carrier asking to slow down.
func IsThrottled(err error) bool {
	var se *SubmitError
	return errors.As(err, &se) && se.Throttled
}

// DecisionOf classifies any error returned for a part.
func DecisionOf(err error) Decision {
	var se *SubmitError
	if errors.As(err, &se) {
		return se.Decision
	}
	return Retry
}

// Router orders the carriers that may take a message and guards each with a
// circuit breaker. Implementations live in routing; the engine only walks
// the list and reports how each submission went.
type Router interface {
	// Plan returns the carriers that may take the message now, best first:
	// routes that do not apply, open breakers and carriers with no bind up
	// are left out. It returns ErrNoRoute when no route could ever take the
	// message (no prefix matches, or tenant or sender filters exclude all);
	// an empty list without error means "none now, wait".
	//
	// A query with Pinned plans that carrier alone: at its route's price
	// where a route lists it now, else at cost 0 as long as it is up (a
	// reply leaves through its inbound carrier even where no route prices
	// it for the number; Admit still asks its breaker). A pinned carrier
	// that is down means waiting; ErrNoRoute stands only when it does not
	// run here either. The dispatcher walks whatever Plan returns and
	// decides nothing about pinning itself.
	Plan(q RouteQuery) ([]Candidate, error)
	// Routable is false exactly when Plan would return ErrNoRoute, found
	// without carrier states or candidates: accept asks it of every
	// message, and a plan cost a tenth of the accept path's CPU.
	Routable(q RouteQuery) bool
	// Admit asks the carrier's breaker for one submission. When ok, done
	// must be called with whether the carrier handled it (a permanent
	// refusal of the message is still a working carrier).
	Admit(carrier string) (done func(success bool), ok bool)
	// Closed reports whether the carrier's breaker is closed. A message
	// whose submission should be retried stays on its carrier only while
	// it is; a breaker that tripped, or that was only letting a probe
	// through, sends the message to the next route at once.
	Closed(carrier string) bool
}

// ErrNoRoute says that no configured route can carry a message, so waiting
// will not help: the message fails.
var ErrNoRoute = errors.New("no route for this destination, tenant and sender")

// RouteQuery is what a routing decision depends on.
type RouteQuery struct {
	Tenant string
	From   string
	To     string    // E.164
	At     time.Time // for routes limited to hours of the day
	Key    string    // spreads equal-cost traffic by weight, stably per message
	// Pinned, when set, is the only carrier the message may take (a reply's
	// inbound carrier, a caller's Carrier): see Router.Plan.
	Pinned string
}

// Candidate is one carrier a message may leave through, with its price.
type Candidate struct {
	Carrier  string
	Cost     float64 // per part
	Currency string
}

// Segmenter decides a text's encoding and how many SMS parts it takes. The
// SMPP package provides the real one; the engine calls it at accept time so a
// part count is fixed before anything is sent.
type Segmenter func(text string) (Encoding, int, error)
