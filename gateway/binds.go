package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Binder is a Connector with binds (SMPP pools): long-lived links an
// operator watches and may renew. HTTP providers have none and do not
// implement it; the engine answers ErrNoBinds for them.
type Binder interface {
	// Rebind closes every bind cleanly (unbind) and binds again at once.
	// What awaits a response when a link closes fails the way it does on a
	// lost link, so the engine retries it. by says who asked, for the
	// binds' history and the log.
	Rebind(ctx context.Context, by string) error
	// Binds reports each bind now, in configured order.
	Binds() []BindState
}

// The states a bind is in (BindState.State, BindChange.State).
const (
	// BindBound: the link is up and takes submissions.
	BindBound = "bound"
	// BindConnecting: dialing and binding, before any failure (at start,
	// after a rebind).
	BindConnecting = "connecting"
	// BindDown: the link was lost or an attempt failed; it is retried with
	// backoff.
	BindDown = "down"
)

// BindState is one bind as an operator sees it: whether it carries
// traffic, since when and why, how full its window is and how fast the
// carrier answers on it.
type BindState struct {
	Index int
	// Type is transceiver, or transmitter_receiver for a pair (its state
	// is the transmitter's; the receiver's changes are in History).
	Type   string
	State  string // BindBound, BindConnecting or BindDown
	Since  time.Time
	Reason string // why it entered State
	// InFlight parts await their response, of Window.
	InFlight, Window int
	// Responses is how long the carrier took to answer submits on this
	// bind lately.
	Responses ResponseTimes
	// History is the bind's last transitions, newest first.
	History []BindChange
}

// ResponseTimes summarises recent submit → response latencies.
type ResponseTimes struct {
	// Count responses were measured over the last Over.
	Count     int
	Over      time.Duration
	Mean, P99 time.Duration
}

// BindChange is one transition of a bind: of its transmitting link, or of
// its receiver (Link says which).
type BindChange struct {
	At     time.Time
	Link   string // transceiver, transmitter or receiver
	State  string
	Reason string
}

// ErrNoBinds says a carrier has no binds to rebind or show: it is reached
// over HTTP, one request per message.
var ErrNoBinds = errors.New("the carrier has no binds (an HTTP carrier: nothing to rebind)")

// RebindCarrier closes a carrier's binds cleanly and binds them again at
// once: the operator's lever after the carrier changed something on its
// side (a new SMSC behind the address, credentials, bind caps) or when a
// bind misbehaves without dropping. Parts awaiting their response are
// handled as on a lost link. An unknown carrier is a *FieldError; one
// without binds answers ErrNoBinds.
func (e *Engine) RebindCarrier(ctx context.Context, carrier, by string) error {
	b, err := e.binder(carrier)
	if err != nil {
		return err
	}
	return b.Rebind(ctx, by)
}

// CarrierBinds reports a carrier's binds now; ErrNoBinds for a carrier
// reached over HTTP.
func (e *Engine) CarrierBinds(carrier string) ([]BindState, error) {
	b, err := e.binder(carrier)
	if err != nil {
		return nil, err
	}
	return b.Binds(), nil
}

func (e *Engine) binder(carrier string) (Binder, error) {
	conn, _ := e.carriers.get(carrier)
	if conn == nil {
		return nil, &FieldError{"carrier", fmt.Sprintf("no carrier %q runs here", carrier)}
	}
	b, ok := conn.(Binder)
	if !ok {
		return nil, fmt.Errorf("carrier %q: %w", carrier, ErrNoBinds)
	}
	return b, nil
}
