package smpp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/mask"
	"github.com/openmf/smsgw/smstext"
)

// Options are a Pool's dependencies, injected by the gateway's wiring.
type Options struct {
	// Logger receives bind events and failures (nil: discarded).
	Logger *slog.Logger
	// Registerer receives the smsgw_smpp_* metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Tenant owns inbound messages on this carrier; it overrides
	// Config.Tenant when set.
	Tenant string
	// Dialer opens the connection of each bind; nil dials TCP (TLS when
	// Config.TLS) with response_timeout as the connect timeout.
	Dialer func(addr string) (net.Conn, error)
	// BindSlots caps the carrier's binds across the nodes sharing a store:
	// when set, each bind holds one of Config.Binds slots from before it
	// first dials until the pool stops. Nil: every bind is local.
	BindSlots gateway.BindSlots

	clock clock // nil: real time; tests set a fake
}

// Pool is the SMPP connector of one carrier: Config.Binds transceiver binds,
// each with its own window, sharing one TPS limiter. It implements
// gateway.Connector; see the package documentation for its invariants.
type Pool struct {
	name    string
	cfg     Config
	opts    Options
	text    smstext.TextOptions
	tenant  string
	log     *slog.Logger
	m       *carrierMetrics
	limiter *rate.Limiter // nil when tps is 0
	tpsMu   sync.Mutex    // orders reservations on limiter by clock time
	binds   []*bind
	tls     *tls.Config // nil without Config.TLS
	refs    *refTable
	clock   clock

	// pausedUntil (unix nanoseconds) holds every submit of the carrier
	// after a throttling answer.
	pausedUntil atomic.Int64

	mu      sync.Mutex // guards the fields below; never held while blocking
	state   poolState
	active  int           // Submit calls in progress
	drained chan struct{} // closed when stopping and active reaches 0
	next    int           // round-robin start

	sink gateway.Sink
	work chan delivery
	mo   *moAssembler  // used by the sink worker only
	quit chan struct{} // closed by Stop: ends connect loops and the sink worker
	wg   sync.WaitGroup
}

type poolState int

const (
	poolNew poolState = iota
	poolStarted
	poolStopping
)

var _ gateway.Connector = (*Pool)(nil)

// sinkBatch bounds how many receipts and MO one sink call takes: batching is
// what lets the store group-commit them under one fsync.
const sinkBatch = 256

// NewPool checks cfg (filling defaults, see Config.Validate) and builds a
// pool named after the carrier routes refer to. Nothing connects before
// Start.
func NewPool(name string, cfg Config, opts Options) (*Pool, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("smpp: carrier %q: %w", name, errors.Join(errs...))
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{
		name: name,
		cfg:  cfg,
		opts: opts,
		text: smstext.TextOptions{PackGSM7: cfg.PackGSM7, Latin1: cfg.Latin1, Concat: cfg.Concat,
			Alphabet: cfg.DefaultAlphabet},
		refs:    newRefTable(),
		clock:   opts.clock,
		mo:      newMOAssembler(cfg.MOTimeout),
		tenant:  cmp(opts.Tenant, cfg.Tenant),
		log:     log.With("carrier", name, "system_id", cfg.SystemID),
		m:       newMetrics(opts.Registerer).forCarrier(name),
		drained: make(chan struct{}),
		work:    make(chan delivery, 4*sinkBatch),
		quit:    make(chan struct{}),
	}
	if p.clock == nil {
		p.clock = realClock{}
	}
	if cfg.TLS && opts.Dialer == nil {
		tc, err := tlsConfig(&cfg)
		if err != nil {
			return nil, fmt.Errorf("smpp: carrier %q: %w", name, err)
		}
		p.tls = tc
	}
	if cfg.TPS > 0 {
		p.limiter = rate.NewLimiter(rate.Limit(cfg.TPS), max(1, int(cfg.TPS/10)))
	}
	for i := range cfg.Binds {
		p.binds = append(p.binds, newBind(p, i))
	}
	return p, nil
}

// tlsConfig builds the client TLS settings: the CA file's certificates (or
// the system roots) and the server name (or the host).
func tlsConfig(cfg *Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cmp(cfg.ServerName, cfg.Host)}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: no PEM certificate in %s", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Name is the carrier name routes refer to.
func (p *Pool) Name() string { return p.name }

// Start opens the binds in the background and returns at once: an SMSC that
// is down at start is retried with backoff, and Up reports when a bind is
// ready. Receipts and MO go to sink.
func (p *Pool) Start(sink gateway.Sink) error {
	if sink == nil {
		return errors.New("smpp: Start needs a sink")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != poolNew {
		return errors.New("smpp: pool already started or stopped")
	}
	p.state = poolStarted
	p.sink = sink
	p.wg.Add(1 + len(p.binds))
	go p.sinkLoop()
	for _, b := range p.binds {
		go b.run()
	}
	return nil
}

// Window is how many parts may await their submit_sm_resp at once: window
// per bind times binds. The engine bounds its unrecorded parts by it.
func (p *Pool) Window() int { return p.cfg.Window * p.cfg.Binds }

// Up reports whether at least one bind is bound.
func (p *Pool) Up() bool {
	for _, b := range p.binds {
		if b.up.Load() {
			return true
		}
	}
	return false
}

func (p *Pool) stopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state == poolStopping
}

// Stop stops taking submissions, waits (within ctx) for those in flight to
// get their responses, then unbinds every bind and ends the background
// work. Receipts and MO not yet stored are not acknowledged, so the carrier
// sends them again. It is idempotent; the error is ctx's if draining was cut
// short.
func (p *Pool) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.state == poolStopping {
		p.mu.Unlock()
		return nil
	}
	p.state = poolStopping
	if p.active == 0 {
		close(p.drained)
	}
	p.mu.Unlock()

	var err error
	select {
	case <-p.drained:
	case <-ctx.Done():
		err = fmt.Errorf("smpp: stop %q: in-flight submits not drained: %w", p.name, ctx.Err())
	}
	close(p.quit)
	for _, b := range p.binds {
		b.close()
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("smpp: stop %q: %w", p.name, ctx.Err())
		}
	}
	p.log.Info("smpp: stopped")
	return err
}

// enter registers a Submit call, refusing once Stop began.
func (p *Pool) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == poolStopping {
		return false
	}
	p.active++
	return true
}

func (p *Pool) exit() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active--
	if p.active == 0 && p.state == poolStopping {
		close(p.drained)
	}
}

// Submit sends the asked parts of m (indexes into its segmentation),
// concurrently within the windows, and returns one result per part in the
// order asked. Every part requests the same receipts (registered_delivery
// 1, or the message's SubmitOptions). It blocks while all windows
// are full or the TPS limit holds, until ctx ends; a part already written
// waits for its response up to response_timeout regardless of ctx.
func (p *Pool) Submit(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult {
	results := make([]gateway.PartResult, len(parts))
	fail := func(err error) []gateway.PartResult {
		for i, idx := range parts {
			results[i] = gateway.PartResult{Index: idx, Err: err}
			p.m.countSubmit(err)
		}
		return results
	}
	if !p.enter() {
		return fail(ErrStopped)
	}
	defer p.exit()

	segs, err := p.segment(m)
	switch {
	case errors.Is(err, smstext.ErrAlphabet):
		return fail(&gateway.SubmitError{Decision: gateway.NextRoute, Code: "DATA_CODING", Err: err})
	case err != nil:
		return fail(permanent("TEXT", err))
	}
	if len(m.Parts) > 0 && len(m.Parts) != len(segs.Parts) {
		return fail(permanent("PART_COUNT", fmt.Errorf("%w: %d now, %d at accept", ErrPartCount, len(segs.Parts), len(m.Parts))))
	}
	for i, idx := range parts {
		if idx < 0 || idx >= len(segs.Parts) {
			results[i] = gateway.PartResult{Index: idx,
				Err: permanent("PART_INDEX", fmt.Errorf("smpp: part %d of a %d-part message", idx, len(segs.Parts)))}
		}
	}
	var ref uint16
	if len(segs.Parts) > 1 && segs.Concat != smstext.ConcatPayload {
		ref = p.refs.get(m.To, m.ID, segs.Concat != smstext.ConcatUDH8)
	}
	if segs.Concat == smstext.ConcatPayload {
		// One submit_sm carries the whole text; its id stands for every
		// part asked (the store applies one receipt to all of them).
		id, err := p.submitPart(ctx, m, &segs, -1, 0)
		for i, idx := range parts {
			if results[i].Err == nil {
				results[i] = gateway.PartResult{Index: idx, CarrierID: id, Err: err}
			}
			p.m.countSubmit(results[i].Err)
		}
		return results
	}
	if len(parts) == 1 {
		// Most messages: no goroutine, no closure, segs stays on the stack.
		p.submitOne(ctx, m, &segs, ref, results, 0, parts[0])
		return results
	}
	shared, sharedRef := segs, ref // the goroutines' copies: segs and ref stay on the stack
	var wg sync.WaitGroup
	for i, idx := range parts {
		wg.Go(func() { p.submitOne(ctx, m, &shared, sharedRef, results, i, idx) })
	}
	wg.Wait()
	return results
}

// submitOne sends part idx, the i-th asked, unless results[i] already
// holds why it cannot go, and counts the outcome.
func (p *Pool) submitOne(ctx context.Context, m *gateway.Message, segs *smstext.Segments, ref uint16, results []gateway.PartResult, i, idx int) {
	r := results[i]
	if r.Err == nil {
		r = gateway.PartResult{Index: idx}
		r.CarrierID, r.Err = p.submitPart(ctx, m, segs, idx, ref)
	}
	p.m.countSubmit(r.Err)
	results[i] = r
}

// throttleRetries is how often a part answered ESME_RTHROTTLED or
// ESME_RMSGQFUL is sent again, after the carrier's pause, before the Retry
// goes back to the engine.
const throttleRetries = 3

// submitPart sends one part (idx -1: the whole text as message_payload)
// and returns its normalized carrier id. A throttling answer pauses the
// whole carrier (throttle_pause) and the part is sent again, keeping its
// window slot, up to throttleRetries times.
func (p *Pool) submitPart(ctx context.Context, m *gateway.Message, segs *smstext.Segments, idx int, ref uint16) (string, error) {
	b, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer b.release()
	for try := 0; ; try++ {
		sm, err := p.buildSubmit(m, segs, idx, ref)
		if err != nil {
			return "", err
		}
		if err := p.pace(ctx); err != nil {
			return "", err
		}
		sent := time.Now()
		o := b.submit(sm)
		if o.err == nil {
			d := time.Since(sent)
			p.m.respTime.Observe(d.Seconds())
			b.noteResponse(d)
		}
		switch {
		case o.err != nil:
			p.log.Debug("smpp: submit failed", "msg_id", m.ID, "part", idx, "to", mask.Number(m.To), "err", o.err)
			return "", o.err
		case o.status == CommandStatus(data.ESME_RTHROTTLED) || o.status == CommandStatus(data.ESME_RMSGQFUL):
			p.m.throttled.Inc()
			p.pause()
			if try < throttleRetries {
				// Spread the retries so the parts a pause held do not all
				// hit the carrier in the same instant.
				if err := p.wait(ctx, rand.N(p.cfg.ThrottlePause+1)); err != nil {
					return "", submitError(o.status)
				}
				continue
			}
			return "", submitError(o.status)
		case o.status != 0:
			p.log.Debug("smpp: submit refused", "msg_id", m.ID, "part", idx, "to", mask.Number(m.To), "status", o.status.Name())
			return "", submitError(o.status)
		}
		return smstext.NormalizeID(o.id, p.cfg.SubmitIDFormat), nil
	}
}

// pause holds the carrier's sending for throttle_pause from now.
func (p *Pool) pause() {
	until := p.clock.now().Add(p.cfg.ThrottlePause).UnixNano()
	for {
		cur := p.pausedUntil.Load()
		if cur >= until || p.pausedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// wait sleeps d unless ctx ends first.
func (p *Pool) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if !p.clock.sleep(ctx.Done(), d) {
		return fmt.Errorf("smpp: waiting out a throttle pause: %w", ctx.Err())
	}
	return nil
}

// pace waits out a throttle pause, then for the TPS limiter.
func (p *Pool) pace(ctx context.Context) error {
	if err := p.wait(ctx, time.Unix(0, p.pausedUntil.Load()).Sub(p.clock.now())); err != nil {
		return err
	}
	if p.limiter == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("smpp: waiting for the TPS limit: %w", err)
	}
	// The limiter's Wait on the pool's clock: reserve a token now, wait
	// for its time, and give it back when the wait is cut short. Reading
	// the clock and reserving go together, so the limiter never sees time
	// go back.
	p.tpsMu.Lock()
	now := p.clock.now()
	r := p.limiter.ReserveN(now, 1)
	p.tpsMu.Unlock()
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && now.Add(d).After(deadline) {
		r.CancelAt(now)
		return fmt.Errorf("smpp: waiting for the TPS limit: %w", context.DeadlineExceeded)
	}
	if !p.clock.sleep(ctx.Done(), d) {
		r.CancelAt(p.clock.now())
		return fmt.Errorf("smpp: waiting for the TPS limit: %w", ctx.Err())
	}
	return nil
}

// acquire picks a bound bind round-robin and takes a slot in its window,
// preferring one with a free slot; it fails at once when no bind is up.
func (p *Pool) acquire(ctx context.Context) (*bind, error) {
	p.mu.Lock()
	start := p.next
	p.next++
	p.mu.Unlock()
	var first *bind
	for i := range p.binds {
		b := p.binds[(start+i)%len(p.binds)]
		if !b.up.Load() {
			continue
		}
		if b.tryAcquire() {
			return b, nil
		}
		if first == nil {
			first = b
		}
	}
	if first == nil {
		return nil, ErrNotBound
	}
	if err := first.acquire(ctx); err != nil {
		return nil, err
	}
	return first, nil
}

// buildSubmit encodes part idx (-1: the whole text in message_payload) as a
// submit_sm. gosmpp assigns its sequence number here, before anything is
// written.
func (p *Pool) buildSubmit(m *gateway.Message, segs *smstext.Segments, idx int, ref uint16) (*pdu.SubmitSM, error) {
	sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
	src, err := p.source(m.From)
	if err != nil {
		return nil, permanent("ESME_RINVSRCADR", err)
	}
	dst, err := pdu.NewAddressWithTonNpiAddr(intOr(p.cfg.DestTON, DefaultDestTON), intOr(p.cfg.DestNPI, DefaultDestNPI),
		strings.TrimPrefix(m.To, "+"))
	if err != nil {
		return nil, permanent("ESME_RINVDSTADR", fmt.Errorf("smpp: destination: %w", err))
	}
	sm.SourceAddr, sm.DestAddr = src, dst
	opts := m.SubmitOptions()
	// Every part asks: Jasmin's last-part-only receipts are its worst DLR bug.
	sm.RegisteredDelivery = 1
	if opts.RegisteredDelivery != nil {
		sm.RegisteredDelivery = byte(*opts.RegisteredDelivery)
	}
	if opts.ProtocolID != nil {
		sm.ProtocolID = byte(*opts.ProtocolID)
	}
	if !m.ExpiresAt.IsZero() {
		sm.ValidityPeriod = validityPeriod(m.ExpiresAt)
	}
	dc := dataCoding(segs.DataCoding, opts)
	if m.Encoding == gateway.EncodingBinary {
		// The caller's data_coding, class included, and its UDH, with
		// the concatenation element when there are several parts.
		b, err := m.Binary()
		if err != nil {
			return nil, permanent("BINARY", fmt.Errorf("smpp: %w", err))
		}
		udh := b.PartUDH(byte(ref), len(segs.Parts), idx)
		if len(udh) > 0 {
			sm.EsmClass |= data.SM_UDH_GSM
		}
		payload := append(append([]byte(nil), udh...), segs.Parts[idx]...)
		if err := sm.Message.SetMessageDataWithEncoding(payload, rawCoding(segs.DataCoding)); err != nil {
			return nil, permanent("ESME_RINVMSGLEN", fmt.Errorf("smpp: part %d: %w", idx, err))
		}
		return sm, nil
	}
	if idx < 0 {
		sm.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: segs.Whole})
		if err := sm.Message.SetMessageDataWithEncoding(nil, rawCoding(dc)); err != nil {
			return nil, permanent("ESME_RINVMSGLEN", fmt.Errorf("smpp: message_payload: %w", err))
		}
		return sm, nil
	}
	payload := segs.Parts[idx]
	if n := len(segs.Parts); n > 1 {
		switch segs.Concat {
		case smstext.ConcatSAR:
			sm.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarMsgRefNum, Data: []byte{byte(ref >> 8), byte(ref)}})
			sm.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarTotalSegments, Data: []byte{byte(n)}})
			sm.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarSegmentSeqnum, Data: []byte{byte(idx + 1)}})
		case smstext.ConcatUDH16:
			payload = append(smstext.ConcatUDH16Bit(ref, n, idx+1), payload...)
			sm.EsmClass |= data.SM_UDH_GSM
		default:
			payload = append(smstext.ConcatUDH(byte(ref), n, idx+1), payload...)
			sm.EsmClass |= data.SM_UDH_GSM
		}
	}
	if err := sm.Message.SetMessageDataWithEncoding(payload, rawCoding(dc)); err != nil {
		return nil, permanent("ESME_RINVMSGLEN", fmt.Errorf("smpp: part %d: %w", idx, err))
	}
	return sm, nil
}

// segment is the message's parts as the carrier gets them: the text cut
// and encoded for the carrier's alphabet, or a binary message's one
// short_message (UDH and octets) as the caller built it.
func (p *Pool) segment(m *gateway.Message) (smstext.Segments, error) {
	b, err := m.Binary()
	switch {
	case err != nil:
		return smstext.Segments{}, err
	case b == nil:
		opt := p.text
		opt.UCS2 = m.SubmitOptions().UCS2
		return smstext.Segment(m.Text, opt)
	}
	return smstext.Segments{DataCoding: b.DataCoding, Parts: b.Parts(), Concat: smstext.ConcatUDH8}, nil
}

// validityPeriod is an absolute SMPP time in UTC, "YYMMDDhhmmss000+", the
// form Kannel sends (gw/smsc/smsc_smpp.c msg_to_pdu): the carrier drops the
// message when smsgw would consider it expired.
func validityPeriod(t time.Time) string {
	return t.UTC().Format("060102150405") + "000+"
}

// dataCoding adds a message class to the data_coding the text was encoded
// for, as Kannel's gw/sms.c fields_to_dcs does: GSM 7-bit goes to the 0xF0
// group (0xF0|class; smsc_smpp.c forces that group whenever a class is
// set), UCS-2 to the general group (0x18|class). Other alphabets (Latin-1,
// IA5) have no class form and stay as they are.
func dataCoding(dc byte, o gateway.SubmitOptions) byte {
	if o.MessageClass == nil {
		return dc
	}
	class := byte(*o.MessageClass) & 0x03
	switch dc {
	case smstext.DataCodingDefault:
		return 0xF0 | class
	case smstext.DataCodingUCS2:
		return 0x18 | class
	}
	return dc
}

// maxShortcode is the longest numeric sender treated as a shortcode.
const maxShortcode = 8

// source addresses the sender by kind: alphanumeric (alpha_ton/npi,
// default 5/0), "+digits" international (intl_ton/npi, 1/1), up to 8 digits
// a shortcode (shortcode_ton/npi, 3/0), other digits source_ton/npi (0/0).
func (p *Pool) source(from string) (pdu.Address, error) {
	c := &p.cfg
	ton, npi := intOr(c.SourceTON, 0), intOr(c.SourceNPI, 0)
	switch {
	case strings.HasPrefix(from, "+") && isDigits(from[1:]):
		ton, npi, from = intOr(c.IntlTON, 1), intOr(c.IntlNPI, 1), from[1:]
	case from != "" && !isDigits(from):
		ton, npi = intOr(c.AlphaTON, 5), intOr(c.AlphaNPI, 0)
	case from != "" && len(from) <= maxShortcode:
		ton, npi = intOr(c.ShortcodeTON, DefaultShortcodeTON), intOr(c.ShortcodeNPI, DefaultShortcodeNPI)
	}
	a, err := pdu.NewAddressWithTonNpiAddr(ton, npi, from)
	if err != nil {
		return a, fmt.Errorf("smpp: source: %w", err)
	}
	return a, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// rawCoding lets gosmpp write already-encoded bytes with our data_coding;
// its Encode and Decode are never called.
type rawCoding byte

func (c rawCoding) Encode(s string) ([]byte, error) { return []byte(s), nil }
func (c rawCoding) Decode(b []byte) (string, error) { return string(b), nil }
func (c rawCoding) DataCoding() byte                { return byte(c) }
