// Package sinktest is a gateway.Sink for connector tests: it records what a
// connector hands over and can be made to refuse it. It lives apart from
// package testutil so that testutil imports only the standard library.
package sinktest

import (
	"context"
	"sync"
	"testing"

	"github.com/openmf/smsgw/gateway"
)

// Sink records the receipts and inbound messages a connector hands it;
// after Fail it refuses them with that error instead. The zero value is
// ready to use and safe for concurrent use.
type Sink struct {
	mu       sync.Mutex
	receipts []gateway.Receipt
	inbound  []*gateway.Inbound
	err      error
}

var _ gateway.Sink = (*Sink)(nil)

// HandleReceipts records rs, or returns the error given to Fail.
func (s *Sink) HandleReceipts(_ context.Context, rs []gateway.Receipt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.receipts = append(s.receipts, rs...)
	return nil
}

// HandleInbound records in, or returns the error given to Fail.
func (s *Sink) HandleInbound(_ context.Context, in []*gateway.Inbound) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.inbound = append(s.inbound, in...)
	return nil
}

// Fail makes every later call return err (nil: record again).
func (s *Sink) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// Receipts are the receipts recorded so far, in order.
func (s *Sink) Receipts() []gateway.Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gateway.Receipt(nil), s.receipts...)
}

// Inbound are the inbound messages recorded so far, in order.
func (s *Sink) Inbound() []*gateway.Inbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*gateway.Inbound(nil), s.inbound...)
}

// Start starts c with a new Sink and stops c when the test ends.
func Start(tb testing.TB, c gateway.Connector) *Sink {
	tb.Helper()
	s := &Sink{}
	if err := c.Start(s); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Stop(context.Background()) })
	return s
}
