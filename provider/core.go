package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/openmf/smsgw/gateway"
)

// Options are a connector's dependencies, injected by the gateway's wiring.
// Every provider package re-exports it as its own Options.
type Options struct {
	// Logger receives request failures and webhook refusals (nil:
	// discarded). Numbers are masked and bodies never logged above debug.
	Logger *slog.Logger
	// Registerer receives the smsgw_provider_* metrics (nil: not
	// registered).
	Registerer prometheus.Registerer
	// HTTPClient sends the requests; nil builds one with dial, TLS and
	// header timeouts that does not follow redirects. The config's timeout
	// applies per request either way.
	HTTPClient *http.Client
}

// maxBody bounds what is read of a provider's answer or callback: enough
// for any documented response, small enough that a broken peer cannot
// exhaust memory.
const maxBody = 1 << 20

// Core is what every HTTP connector shares: the lifecycle (Start, Stop, Up),
// the in-flight cap (Window and its semaphore), the TPS limiter, the HTTP
// client, the metrics and the webhook-to-Sink skeleton. Connectors embed
// it, so its Name, Start, Up, Window and Stop are theirs, and add Submit
// and WebhookHandler.
type Core struct {
	name    string
	log     *slog.Logger
	client  *http.Client
	timeout time.Duration
	conc    int
	sem     chan struct{}
	limiter *rate.Limiter // nil when tps is 0
	m       *carrierMetrics

	mu       sync.Mutex // guards the fields below; never held while blocking
	sink     gateway.Sink
	started  bool
	stopping bool
	active   int           // submissions in progress
	drained  chan struct{} // closed when stopping and active reaches 0

	hard       context.Context // canceled when Stop gives up draining
	cancelHard context.CancelFunc
}

// NewCore builds the shared part of connector name; kind ("twilio") tags
// its logs. l must have been through ValidateHTTP.
func NewCore(kind, name string, l Limits, opts Options) *Core {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := opts.HTTPClient
	if client == nil {
		client = NewHTTPClient(l.Timeout)
	}
	c := &Core{
		name:    name,
		log:     log.With("carrier", name, "provider", kind),
		client:  client,
		timeout: l.Timeout,
		conc:    l.Concurrency,
		sem:     make(chan struct{}, l.Concurrency),
		m:       newMetrics(opts.Registerer).forCarrier(name),
		drained: make(chan struct{}),
	}
	c.hard, c.cancelHard = context.WithCancel(context.Background())
	if l.TPS > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(l.TPS), max(1, int(l.TPS/10)))
	}
	return c
}

// NewHTTPClient is the client used when Options.HTTPClient is nil: every
// phase of a request is bounded (a provider that accepts the connection and
// then says nothing must not hold a window slot forever), and redirects are
// not followed, because a redirected POST loses its body and means our
// base_url is wrong.
func NewHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = timeout
	t.ResponseHeaderTimeout = timeout
	t.MaxIdleConnsPerHost = DefaultConcurrency
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Name is the carrier name routes refer to.
func (c *Core) Name() string { return c.name }

// Logger is the connector's logger, tagged with carrier and provider.
func (c *Core) Logger() *slog.Logger { return c.log }

// Start records the sink that webhooks hand receipts to. There is nothing
// to connect: each request opens (or reuses) its own connection.
func (c *Core) Start(sink gateway.Sink) error {
	if sink == nil {
		return errors.New("provider: Start needs a sink")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.stopping {
		return errors.New("provider: connector already started or stopped")
	}
	c.started, c.sink = true, sink
	return nil
}

// Up is true until Stop. A provider that keeps failing is the routing
// layer's circuit breaker's business, not ours: its errors already say
// Retry or NextRoute.
func (c *Core) Up() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.stopping
}

// Window is concurrency × MaxPartsPerRequest: the engine counts its window
// in parts and chunks a message's parts by it, and one request carries a
// whole message, so every message must fit one chunk. The real in-flight
// cap is concurrency requests, enforced by Submit.
func (c *Core) Window() int { return c.conc * MaxPartsPerRequest }

// Stop refuses new submissions, waits (within ctx) for those in flight to
// get their answers, then cancels any still running. Webhooks answer 503
// from then on, so providers resend what we could not store. It is
// idempotent; the error is ctx's when draining was cut short.
func (c *Core) Stop(ctx context.Context) error {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return nil
	}
	c.stopping = true
	if c.active == 0 {
		close(c.drained)
	}
	c.mu.Unlock()

	var err error
	select {
	case <-c.drained:
	case <-ctx.Done():
		err = fmt.Errorf("provider: stop %q: in-flight requests not drained: %w", c.name, ctx.Err())
	}
	c.cancelHard()
	c.client.CloseIdleConnections()
	c.log.Info("provider: stopped")
	return err
}

func (c *Core) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	c.active++
	return true
}

func (c *Core) exit() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active--
	if c.active == 0 && c.stopping {
		close(c.drained)
	}
}

// Segment is what a provider answered about one SMS of a message: its id,
// or why it was refused. Most providers answer one segment per message;
// Vonage answers one per SMS it split the text into.
type Segment struct {
	ID  string
	Err error
}

// SubmitOnce is the Submit every connector shares: it takes a slot of the
// in-flight cap and the TPS limiter, calls send once for the whole message
// (the provider segments the text itself), and gives each asked part its
// result:
//
//   - send failed: every part gets the error;
//   - one segment: every part gets its id (the store applies one receipt to
//     every part sharing a carrier id);
//   - one segment per part of m: part i gets segment i;
//   - any other count (the provider split differently than we counted):
//     every part gets the first segment's id, or the first refusal.
//
// A subset of parts (a retry after a partial failure) still sends the whole
// text once.
func (c *Core) SubmitOnce(ctx context.Context, m *gateway.Message, parts []int,
	send func(ctx context.Context) ([]Segment, error)) []gateway.PartResult {
	var (
		segs []Segment
		err  error
	)
	if m.Encoding == gateway.EncodingBinary {
		// HTTP providers take text only: a caller-built short_message
		// needs an SMPP route.
		err = Errorf(gateway.NextRoute, "binary", "provider: %s cannot send a binary message (UDH or 8-bit data)", c.name)
	} else {
		segs, err = c.gated(ctx, send)
	}
	if err == nil && len(segs) == 0 {
		err = Errorf(gateway.Retry, "no_id", "provider: the answer named no message id")
	}
	c.m.countRequest(firstErr(segs, err))
	if err != nil {
		c.log.Debug("provider: submit failed", "msg_id", m.ID, "to", gateway.MaskNumber(m.To), "err", err)
	}
	results := make([]gateway.PartResult, len(parts))
	for i, idx := range parts {
		r := gateway.PartResult{Index: idx}
		switch {
		case err != nil:
			r.Err = err
		case len(segs) == 1:
			r.CarrierID, r.Err = segs[0].ID, segs[0].Err
		case len(segs) == len(m.Parts) && idx >= 0 && idx < len(segs):
			r.CarrierID, r.Err = segs[idx].ID, segs[idx].Err
		default:
			if e := firstErr(segs, nil); e != nil {
				r.Err = e
			} else {
				r.CarrierID = segs[0].ID
			}
		}
		if r.Err != nil {
			r.CarrierID = ""
		}
		results[i] = r
	}
	return results
}

func firstErr(segs []Segment, err error) error {
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s.Err != nil {
			return s.Err
		}
	}
	return nil
}

// gated runs send inside the in-flight cap and the TPS limit. Waiting for
// either ends with ctx; the request itself is bounded by the timeout and
// by Stop giving up.
func (c *Core) gated(ctx context.Context, send func(ctx context.Context) ([]Segment, error)) ([]Segment, error) {
	if !c.enter() {
		return nil, transportError(ErrStopped)
	}
	defer c.exit()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, transportError(fmt.Errorf("waiting for a request slot: %w", ctx.Err()))
	}
	defer func() { <-c.sem }()
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, transportError(fmt.Errorf("waiting for the TPS limit: %w", err))
		}
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	defer context.AfterFunc(c.hard, cancel)()
	return send(rctx)
}

// Response is a provider's answer, its body read (up to 1 MiB).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req with ctx and reads the answer, timing it. A request that got
// no answer returns a Retry SubmitError ("http:timeout", "http:transport");
// any answer, whatever its status, is returned for the connector to read.
func (c *Core) Do(ctx context.Context, req *http.Request) (*Response, error) {
	start := time.Now()
	resp, err := c.client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, transportError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	c.m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, transportError(fmt.Errorf("reading the answer: %w", err))
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// Snippet shortens a provider's answer for an error message: providers put
// their reason in the body, never the request's number or text.
func Snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
