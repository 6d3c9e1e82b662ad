package smpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/openmf/smsgw/gateway"
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
	// Dialer opens the TCP (or TLS) connection of each bind; nil dials plain
	// TCP with response_timeout as the connect timeout.
	Dialer func(addr string) (net.Conn, error)
}

// Pool is the SMPP connector of one carrier: Config.Binds transceiver binds,
// each with its own window, sharing one TPS limiter. It implements
// gateway.Connector; see the package documentation for its invariants.
type Pool struct {
	name    string
	cfg     Config
	opts    Options
	text    TextOptions
	tenant  string
	log     *slog.Logger
	m       *carrierMetrics
	limiter *rate.Limiter // nil when tps is 0
	binds   []*bind

	mu      sync.Mutex // guards the fields below; never held while blocking
	state   poolState
	active  int           // Submit calls in progress
	drained chan struct{} // closed when stopping and active reaches 0
	next    int           // round-robin start

	sink gateway.Sink
	work chan delivery
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
		name:    name,
		cfg:     cfg,
		opts:    opts,
		text:    TextOptions{PackGSM7: cfg.PackGSM7},
		tenant:  cmp(opts.Tenant, cfg.Tenant),
		log:     log.With("carrier", name, "system_id", cfg.SystemID),
		m:       newMetrics(opts.Registerer).forCarrier(name),
		drained: make(chan struct{}),
		work:    make(chan delivery, 4*sinkBatch),
		quit:    make(chan struct{}),
	}
	if cfg.TPS > 0 {
		p.limiter = rate.NewLimiter(rate.Limit(cfg.TPS), max(1, int(cfg.TPS/10)))
	}
	for i := range cfg.Binds {
		p.binds = append(p.binds, newBind(p, i))
	}
	return p, nil
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
// order asked. Every part requests a receipt. It blocks while all windows
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

	segs, err := Segment(m.Text, p.text)
	if err != nil {
		return fail(permanent("TEXT", err))
	}
	if len(m.Parts) > 0 && len(m.Parts) != len(segs.Parts) {
		return fail(permanent("PART_COUNT", fmt.Errorf("%w: %d now, %d at accept", ErrPartCount, len(segs.Parts), len(m.Parts))))
	}
	ref := ConcatRef(m.ID)
	one := func(i, idx int) {
		r := gateway.PartResult{Index: idx}
		if idx < 0 || idx >= len(segs.Parts) {
			r.Err = permanent("PART_INDEX", fmt.Errorf("smpp: part %d of a %d-part message", idx, len(segs.Parts)))
		} else {
			r.CarrierID, r.Err = p.submitPart(ctx, m, &segs, idx, ref)
		}
		p.m.countSubmit(r.Err)
		results[i] = r
	}
	if len(parts) == 1 {
		one(0, parts[0])
		return results
	}
	var wg sync.WaitGroup
	for i, idx := range parts {
		wg.Go(func() { one(i, idx) })
	}
	wg.Wait()
	return results
}

// submitPart sends one part and returns its normalized carrier id.
func (p *Pool) submitPart(ctx context.Context, m *gateway.Message, segs *Segments, idx int, ref byte) (string, error) {
	sm, err := p.buildSubmit(m, segs, idx, ref)
	if err != nil {
		return "", err
	}
	b, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer b.release()
	if p.limiter != nil {
		if err := p.limiter.Wait(ctx); err != nil {
			return "", fmt.Errorf("smpp: waiting for the TPS limit: %w", err)
		}
	}
	o := b.submit(sm)
	switch {
	case o.err != nil:
		p.log.Debug("smpp: submit failed", "msg_id", m.ID, "part", idx, "to", MaskNumber(m.To), "err", o.err)
		return "", o.err
	case o.status != 0:
		p.log.Debug("smpp: submit refused", "msg_id", m.ID, "part", idx, "to", MaskNumber(m.To), "status", o.status.Name())
		return "", submitError(o.status)
	}
	return NormalizeID(o.id, p.cfg.SubmitIDFormat), nil
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

// buildSubmit encodes part idx as a submit_sm. gosmpp assigns its sequence
// number here, before anything is written.
func (p *Pool) buildSubmit(m *gateway.Message, segs *Segments, idx int, ref byte) (*pdu.SubmitSM, error) {
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
	sm.RegisteredDelivery = 1 // every part: Jasmin's last-part-only receipts are its worst DLR bug
	payload := segs.Parts[idx]
	if n := len(segs.Parts); n > 1 {
		payload = append(ConcatUDH(ref, n, idx+1), payload...)
		sm.EsmClass |= data.SM_UDH_GSM
	}
	if err := sm.Message.SetMessageDataWithEncoding(payload, rawCoding(segs.DataCoding)); err != nil {
		return nil, permanent("ESME_RINVMSGLEN", fmt.Errorf("smpp: part %d: %w", idx, err))
	}
	return sm, nil
}

// source addresses the sender: alphanumeric as TON 5/NPI 0, "+digits" as
// international, other digits per source_ton/source_npi.
func (p *Pool) source(from string) (pdu.Address, error) {
	ton, npi := intOr(p.cfg.SourceTON, 0), intOr(p.cfg.SourceNPI, 0)
	switch {
	case strings.HasPrefix(from, "+") && isDigits(from[1:]):
		ton, npi, from = 1, 1, from[1:]
	case from != "" && !isDigits(from):
		ton, npi = 5, 0
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

// delivery is one deliver_sm waiting for the sink, with the transceiver it
// arrived on (its response must go back there).
type delivery struct {
	b   *bind
	trx gosmpp.Transceiver
	d   *pdu.DeliverSM
	at  time.Time
}

// enqueue hands a deliver_sm from a read loop to the sink worker; it blocks
// (back-pressure on the carrier) when the worker is behind, but never after
// Stop, so a closing read loop cannot hang.
func (p *Pool) enqueue(d delivery) {
	select {
	case p.work <- d:
	case <-p.quit:
	}
}

// sinkLoop stores receipts and MO in batches and only then acknowledges
// them: the read loops never wait for an fsync.
func (p *Pool) sinkLoop() {
	defer p.wg.Done()
	batch := make([]delivery, 0, sinkBatch)
	for {
		select {
		case d := <-p.work:
			batch = append(batch, d)
		case <-p.quit:
			return
		}
	fill:
		for len(batch) < sinkBatch {
			select {
			case d := <-p.work:
				batch = append(batch, d)
			default:
				break fill
			}
		}
		p.handle(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// handle stores one batch and answers every deliver_sm in it: ESME_ROK when
// stored, ESME_RX_T_APPN when the sink failed (the carrier resends),
// ESME_RX_P_APPN when it can never be stored (undecodable text, receipt
// without an id: resending would not help).
func (p *Pool) handle(batch []delivery) {
	status := make([]data.CommandStatusType, len(batch))
	var (
		rs          []gateway.Receipt
		rIdx, inIdx []int
		ins         []*gateway.Inbound
	)
	for i, d := range batch {
		if d.d.EsmClass&0x3C == data.SM_SMSC_DLV_RCPT_TYPE {
			r, err := p.receiptOf(d.d, d.at)
			if err != nil {
				p.log.Warn("smpp: receipt without id, rejected", "err", err)
				p.m.rejNoID.Inc()
				status[i] = data.ESME_RX_P_APPN
				continue
			}
			rs, rIdx = append(rs, r), append(rIdx, i)
			continue
		}
		in, err := p.inboundOf(d.d, d.at)
		if err != nil {
			p.log.Warn("smpp: MO not decodable, rejected", "err", err, "from", MaskNumber(d.d.SourceAddr.Address()))
			p.m.rejUndecodable.Inc()
			status[i] = data.ESME_RX_P_APPN
			continue
		}
		ins, inIdx = append(ins, in), append(inIdx, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ResponseTimeout)
	defer cancel()
	if len(rs) > 0 {
		if err := p.sink.HandleReceipts(ctx, rs); err != nil {
			p.log.Warn("smpp: storing receipts failed, carrier will resend", "err", err, "n", len(rs))
			for _, i := range rIdx {
				status[i] = data.ESME_RX_T_APPN
			}
			p.m.rejSink.Add(float64(len(rs)))
		} else {
			p.m.receipts.Add(float64(len(rs)))
		}
	}
	if len(ins) > 0 {
		if err := p.sink.HandleInbound(ctx, ins); err != nil {
			p.log.Warn("smpp: storing inbound failed, carrier will resend", "err", err, "n", len(ins))
			for _, i := range inIdx {
				status[i] = data.ESME_RX_T_APPN
			}
			p.m.rejSink.Add(float64(len(ins)))
		} else {
			p.m.inbound.Add(float64(len(ins)))
		}
	}
	for i, d := range batch {
		resp := d.d.GetResponse().(*pdu.DeliverSMResp)
		resp.CommandStatus = status[i]
		trx := d.trx
		if trx == nil { // arrived while gosmpp was still publishing the session
			if s := d.b.sess.Load(); s != nil {
				trx = s.Transceiver()
			}
		}
		if trx == nil {
			continue
		}
		if err := trx.Submit(resp); err != nil {
			p.log.Debug("smpp: deliver_sm_resp not sent, carrier will resend", "err", err)
		}
	}
}

// receiptOf reads a delivery receipt: the id from the receipted_message_id
// TLV when present, else from the text; the status from the message_state
// TLV when present, else from the text's stat.
func (p *Pool) receiptOf(d *pdu.DeliverSM, at time.Time) (gateway.Receipt, error) {
	raw, _ := d.Message.GetMessageData()
	f, perr := ParseReceipt(string(raw))
	id := f.ID
	if tlv, ok := d.OptionalParameters[pdu.TagReceiptedMessageID]; ok {
		if s := tlv.String(); strings.Trim(s, " \x00") != "" {
			id = s
		}
	}
	if strings.Trim(id, " \x00") == "" {
		if perr == nil {
			perr = ErrNoReceiptID
		}
		return gateway.Receipt{}, fmt.Errorf("smpp: receipt: %w", perr)
	}
	r := gateway.Receipt{
		Carrier:   p.name,
		CarrierID: NormalizeID(id, p.cfg.ReceiptIDFormat),
		Status:    StatusOfStat(f.Stat),
		State:     f.Stat,
		Error:     f.Err,
		Time:      f.DoneDate,
	}
	if tlv, ok := d.OptionalParameters[pdu.TagMessageStateOption]; ok && len(tlv.Data) == 1 {
		r.Status = StatusOfState(tlv.Data[0])
		if r.State == "" {
			r.State = stateNames[tlv.Data[0]]
		}
	}
	if r.Time.IsZero() {
		r.Time = at
	}
	return r, nil
}

// stateNames spell message_state values the way receipt texts do, for
// receipts that carry only the TLV.
var stateNames = map[byte]string{
	StateEnroute: "ENROUTE", StateDelivered: "DELIVRD", StateExpired: "EXPIRED", StateDeleted: "DELETED",
	StateUndeliverable: "UNDELIV", StateAccepted: "ACCEPTD", StateUnknown: "UNKNOWN", StateRejected: "REJECTD",
}

// inboundOf decodes a mobile-originated deliver_sm. gosmpp v0.3.1 leaves
// the encoding nil for a data_coding it does not know (e.g. the GSM 03.38
// message-class groups 0x10–0x13, 0xF0–0xF3), losing the value: such an MO
// is reported undecodable rather than guessed at.
func (p *Pool) inboundOf(d *pdu.DeliverSM, at time.Time) (*gateway.Inbound, error) {
	enc := d.Message.Encoding()
	if enc == nil {
		return nil, fmt.Errorf("%w (not known to gosmpp)", ErrDataCoding)
	}
	body, _ := d.Message.GetMessageData()
	var (
		text string
		err  error
	)
	if udh := d.Message.UDH(); d.EsmClass&data.SM_UDH_GSM != 0 && udh != nil {
		raw, merr := udh.MarshalBinary()
		if merr != nil {
			return nil, fmt.Errorf("smpp: MO UDH: %w", merr)
		}
		text, err = DecodeTextUDH(enc.DataCoding(), raw, body, p.text)
	} else {
		text, err = DecodeText(enc.DataCoding(), body, p.text)
	}
	if err != nil {
		return nil, err
	}
	from := d.SourceAddr.Address()
	if d.SourceAddr.Ton() == 1 && !strings.HasPrefix(from, "+") && from != "" {
		from = "+" + from
	}
	return &gateway.Inbound{
		Tenant:     p.tenant,
		Carrier:    p.name,
		From:       from,
		To:         d.DestAddr.Address(),
		Text:       text,
		ReceivedAt: at,
	}, nil
}

// MaskNumber hides the middle of a phone number for logs, keeping enough to
// recognise the country, network and line ("+254712345123" →
// "+2547*****123"); short codes and sender names are not personal and stay
// readable. DESIGN.md forbids full numbers in logs above debug.
func MaskNumber(n string) string {
	switch l := len(n); {
	case l <= 6:
		return n
	case l < 10:
		return n[:2] + strings.Repeat("*", l-4) + n[l-2:]
	default:
		return n[:5] + strings.Repeat("*", l-8) + n[l-3:]
	}
}
