package gateway

import (
	"context"
	"sync/atomic"
	"testing"
)

// upConn is a connector that is up or down as told and sends nothing.
type upConn struct{ up atomic.Bool }

func (c *upConn) Name() string                                         { return "a" }
func (c *upConn) Start(Sink) error                                     { return nil }
func (c *upConn) Submit(context.Context, *Message, []int) []PartResult { return nil }
func (c *upConn) Up() bool                                             { return c.up.Load() }
func (c *upConn) Window() int                                          { return 1 }
func (c *upConn) Stop(context.Context) error                           { return nil }

// reserve hands slots over only while the dispatcher runs, a carrier is up
// and no due message waits in the store, and never more than are free.
func TestReserveOnlyWhenNothingWaits(t *testing.T) {
	conn := &upConn{}
	conn.up.Store(true)
	cs, err := newCarriers([]Connector{conn})
	if err != nil {
		t.Fatal(err)
	}
	d := &dispatcher{carriers: cs, slots: make(chan struct{}, 3), handed: make(chan *Message, 3)}
	d.idle.Store(true)
	if n := d.reserve(2); n != 0 {
		t.Errorf("before start reserve = %d, want 0", n)
	}
	d.running.Store(true)
	d.idle.Store(false)
	if n := d.reserve(2); n != 0 {
		t.Errorf("before a claim found the store empty reserve = %d, want 0", n)
	}
	d.idle.Store(true)
	if n := d.reserve(2); n != 2 {
		t.Errorf("idle with 3 free slots reserve(2) = %d, want 2", n)
	}
	if n := d.reserve(2); n != 1 {
		t.Errorf("with 1 free slot reserve(2) = %d, want 1", n)
	}
	d.unreserve(3)
	if len(d.slots) != 0 {
		t.Errorf("%d slots held after unreserve, want 0", len(d.slots))
	}
	conn.up.Store(false)
	if n := d.reserve(1); n != 0 {
		t.Errorf("with every carrier down reserve = %d, want 0", n)
	}
	conn.up.Store(true)
	d.storedWaiting()
	if n := d.reserve(1); n != 0 {
		t.Errorf("with due messages stored unleased reserve = %d, want 0", n)
	}
	d.running.Store(false)
	d.idle.Store(true)
	if n := d.reserve(1); n != 0 {
		t.Errorf("after halt reserve = %d, want 0", n)
	}
}
