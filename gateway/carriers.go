package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// CarrierStates answers the two questions about a carrier that only the
// engine can, because it owns the connectors: does the carrier run here,
// and can it take a submission now. The engine's connector set is the one
// owner of those answers (doc.go, "Who decides a carrier is up"); routing
// asks it instead of keeping a view of its own that could disagree.
type CarrierStates interface {
	// Runs reports whether a connector of that name was configured, so a
	// message pinned to it may wait for it rather than fail.
	Runs(carrier string) bool
	// Up reports whether the carrier can take a submission now: it runs
	// and its connector says it is up (a bind or client is ready).
	Up(carrier string) bool
}

// CarrierAware is a Router that takes carrier states from the engine. New
// hands such a router the engine's CarrierStates, so Plan and Explain leave
// out exactly the carriers the dispatcher and Ready consider down. A Router
// that is not CarrierAware still works: the dispatcher asks the engine
// again before every submission, so nothing is sent to a carrier that is
// down, but the router's plans may then list carriers that are.
type CarrierAware interface {
	UseCarrierStates(CarrierStates)
}

// carriers is the engine's connector set and the one owner of whether a
// carrier is up: Engine.Ready, the dispatcher's gate before claiming, its
// check before each submission and (through CarrierAware) the router's
// plans all ask it. It also holds each carrier's window, which bounds the
// parts sent and not yet recorded.
type carriers struct {
	list    []Connector // in configured order: started and stopped in it
	byName  map[string]Connector
	windows map[string]*semaphore.Weighted // per carrier: parts sent, carrier id not yet stored

	mu        sync.Mutex
	downSince map[string]time.Time // carriers seen down by observe, since when
	paused    map[string]bool      // carriers an operator paused: down whatever their binds say
}

var _ CarrierStates = (*carriers)(nil)

func newCarriers(conns []Connector) (*carriers, error) {
	c := &carriers{list: conns, byName: make(map[string]Connector), windows: make(map[string]*semaphore.Weighted),
		downSince: make(map[string]time.Time), paused: make(map[string]bool)}
	for _, conn := range conns {
		if _, dup := c.byName[conn.Name()]; dup {
			return nil, fmt.Errorf("gateway: carrier %q configured twice", conn.Name())
		}
		c.byName[conn.Name()] = conn
		c.windows[conn.Name()] = semaphore.NewWeighted(int64(max(conn.Window(), 1)))
	}
	return c, nil
}

// Runs implements CarrierStates.
func (c *carriers) Runs(carrier string) bool { return c.byName[carrier] != nil }

// Up implements CarrierStates.
func (c *carriers) Up(carrier string) bool {
	conn := c.byName[carrier]
	return conn != nil && c.up(conn)
}

// up is whether conn can take a submission now: its link is up and no
// operator paused it.
func (c *carriers) up(conn Connector) bool {
	c.mu.Lock()
	paused := c.paused[conn.Name()]
	c.mu.Unlock()
	return !paused && conn.Up()
}

// pause takes a carrier out of service (paused) or puts it back, without
// touching its binds, so resuming sends at once.
func (c *carriers) pause(carrier string, paused bool) error {
	if c.byName[carrier] == nil {
		return &FieldError{"carrier", fmt.Sprintf("no carrier %q runs here", carrier)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if paused {
		c.paused[carrier] = true
	} else {
		delete(c.paused, carrier)
	}
	return nil
}

// isPaused says whether an operator paused the carrier.
func (c *carriers) isPaused(carrier string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused[carrier]
}

// anyUp says whether any carrier can take a submission now.
func (c *carriers) anyUp() bool {
	for _, conn := range c.list {
		if c.up(conn) {
			return true
		}
	}
	return false
}

// observe notes which carriers are down at now, keeping the time each was
// first seen down, so a message waiting for one can say since when. The
// claim loop calls it on every round (at most pollEvery apart).
func (c *carriers) observe(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.list {
		if !c.paused[conn.Name()] && conn.Up() {
			delete(c.downSince, conn.Name())
		} else if _, seen := c.downSince[conn.Name()]; !seen {
			c.downSince[conn.Name()] = now
		}
	}
}

// down lists the carriers that are down now, in configured order, with the
// time each was first seen down (zero when observe has not seen it yet).
func (c *carriers) down() []downCarrier {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []downCarrier
	for _, conn := range c.list {
		if c.paused[conn.Name()] || !conn.Up() {
			out = append(out, downCarrier{conn.Name(), c.downSince[conn.Name()]})
		}
	}
	return out
}

// downSinceOf is when observe first saw the carrier down; zero while it
// is up, and before observe looked.
func (c *carriers) downSinceOf(carrier string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.downSince[carrier]
}

// downCarrier is a carrier with no bound link, and since when.
type downCarrier struct {
	name  string
	since time.Time
}

// get returns the carrier's connector and window; nil when it does not run.
func (c *carriers) get(carrier string) (Connector, *semaphore.Weighted) {
	return c.byName[carrier], c.windows[carrier]
}

// start starts every connector with sink, or none: a failed start stops
// those already started.
func (c *carriers) start(sink Sink) error {
	for i, conn := range c.list {
		if err := conn.Start(sink); err != nil {
			// Leave nothing running behind a failed start.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, started := range c.list[:i] {
				_ = started.Stop(ctx)
			}
			return fmt.Errorf("gateway: start carrier %s: %w", conn.Name(), err)
		}
	}
	return nil
}

// stop stops every connector within ctx and returns the first error.
func (c *carriers) stop(ctx context.Context) error {
	var first error
	for _, conn := range c.list {
		if err := conn.Stop(ctx); err != nil && first == nil {
			first = fmt.Errorf("gateway: stop carrier %s: %w", conn.Name(), err)
		}
	}
	return first
}
