package gateway

import (
	"context"
	"errors"
	"fmt"
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

// The three outcomes every connector error maps to (DESIGN.md, "Errors and
// retries").
const (
	// Retry the same route later, with backoff.
	Retry Decision = iota
	// NextRoute tries the following candidate now.
	NextRoute
	// Permanent fails the message for good (REJECTED).
	Permanent
)

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
}

func (e *SubmitError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%s): %v", e.Code, e.Decision, e.Err)
	}
	return fmt.Sprintf("%s (%s)", e.Code, e.Decision)
}

func (e *SubmitError) Unwrap() error { return e.Err }

// DecisionOf classifies any error returned for a part.
func DecisionOf(err error) Decision {
	var se *SubmitError
	if errors.As(err, &se) {
		return se.Decision
	}
	return Retry
}

// Router orders the carriers that may take a message. Implementations live in
// routing; the engine only walks the list.
type Router interface {
	Plan(tenant, to string) []Candidate
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
