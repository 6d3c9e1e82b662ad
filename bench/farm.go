package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"

	"github.com/openmf/smsgw/smpp/smsc"
)

// Range is a duration drawn uniformly from [Min, Max]. In YAML and flags it
// is written "5ms" (fixed) or "1ms..20ms".
type Range struct {
	Min, Max time.Duration
}

// ParseRange reads "5ms" or "1ms..20ms".
func ParseRange(s string) (Range, error) {
	lo, hi, two := strings.Cut(strings.TrimSpace(s), "..")
	a, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		return Range{}, fmt.Errorf("bench: range %q: %w", s, err)
	}
	b := a
	if two {
		if b, err = time.ParseDuration(strings.TrimSpace(hi)); err != nil {
			return Range{}, fmt.Errorf("bench: range %q: %w", s, err)
		}
	}
	if a < 0 || b < a {
		return Range{}, fmt.Errorf("bench: range %q: want 0 ≤ min ≤ max", s)
	}
	return Range{a, b}, nil
}

// UnmarshalYAML reads a Range from its string form.
func (r *Range) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseRange(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// String writes the form ParseRange reads.
func (r Range) String() string {
	if r.Min == r.Max {
		return r.Min.String()
	}
	return r.Min.String() + ".." + r.Max.String()
}

// MarshalText lets reports carry a Range as its string form.
func (r Range) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// CarrierSpec is one simulated carrier of a farm: how it answers and what
// it sends back. The zero value (apart from Name) is a perfect carrier:
// immediate answers, every message delivered within 10 ms.
type CarrierSpec struct {
	Name string `yaml:"name"`
	// Listen is the address to listen on (default 127.0.0.1:0, an
	// ephemeral port; set a port when an external gateway's config must
	// name it).
	Listen string `yaml:"listen"`
	// SystemID and Password, when set, are the only credentials that bind.
	SystemID string `yaml:"system_id"`
	Password string `yaml:"password"`
	// Latency delays every submit_sm_resp (answers then come out of order).
	Latency Range `yaml:"latency"`
	// TPS is the account's cap: submits beyond it in a second are answered
	// ESME_RTHROTTLED (0: no cap).
	TPS float64 `yaml:"tps"`
	// Throttle is the share of submits answered ESME_RTHROTTLED regardless
	// of rate, as an SMSC under load does.
	Throttle float64 `yaml:"throttle"`
	// Reject is the share of submits refused for good (ESME_RINVDSTADR).
	Reject float64 `yaml:"reject"`
	// ReceiptDelay is when the receipt follows the submit_sm_resp (default
	// 0..10ms).
	ReceiptDelay *Range `yaml:"receipt_delay"`
	// Outcomes is the mix of receipt stat words, by weight (default all
	// DELIVRD): DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, UNKNOWN.
	Outcomes map[string]float64 `yaml:"outcomes"`
	// LinkDrops is the share of accepted submits whose connection dies
	// before the answer: the carrier has the message, the gateway cannot
	// know, so its resend is a duplicate the bench counts.
	LinkDrops float64 `yaml:"link_drops"`
	// ReceiptsFirst is the share of receipts sent before their
	// submit_sm_resp.
	ReceiptsFirst float64 `yaml:"receipts_first"`
	// MORate injects this many mobile-originated messages per second,
	// from random handsets to Shortcode, with one of MOKeywords.
	MORate     float64  `yaml:"mo_rate"`
	MOKeywords []string `yaml:"mo_keywords"` // default BAL, DUE
	Shortcode  string   `yaml:"shortcode"`   // default 22555

	// Prefixes and Cost become this carrier's routes when a scenario
	// writes the gateway's config (default: prefix "+", cost 1).
	Prefixes []string `yaml:"prefixes"`
	Cost     float64  `yaml:"cost"`
}

// receiptStats are the stat words a simulated receipt may carry and the err
// field that goes with each.
var receiptStats = map[string]string{
	"DELIVRD": "000", "UNDELIV": "001", "EXPIRED": "002", "REJECTD": "003", "DELETED": "004", "UNKNOWN": "005",
}

func (s *CarrierSpec) validate(i int) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("carriers[%d].%s: %s", i, field, fmt.Sprintf(format, args...)))
	}
	if s.Name == "" {
		bad("name", "required")
	}
	for field, v := range map[string]float64{"throttle": s.Throttle, "reject": s.Reject, "link_drops": s.LinkDrops, "receipts_first": s.ReceiptsFirst} {
		if v < 0 || v > 1 {
			bad(field, "must be 0..1, got %v", v)
		}
	}
	if s.TPS < 0 || s.MORate < 0 || s.Cost < 0 {
		bad("tps, mo_rate, cost", "must be ≥ 0")
	}
	for stat, w := range s.Outcomes {
		if _, ok := receiptStats[stat]; !ok {
			bad("outcomes."+stat, "unknown stat word (DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, UNKNOWN)")
		}
		if w < 0 {
			bad("outcomes."+stat, "weight must be ≥ 0")
		}
	}
	return errs
}

// ParseCarrier reads a carrier from a flag value: comma-separated key=value
// pairs with the YAML keys of CarrierSpec, lists separated by '/', outcome
// weights as STAT:weight, e.g.
//
//	name=a,latency=1ms..5ms,tps=500,outcomes=DELIVRD:0.95/UNDELIV:0.05,prefixes=+2547/+2557
func ParseCarrier(s string) (CarrierSpec, error) {
	var b strings.Builder
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return CarrierSpec{}, fmt.Errorf("bench: carrier %q: want key=value pairs separated by commas", s)
		}
		switch k {
		case "outcomes":
			var parts []string
			for _, o := range strings.Split(v, "/") {
				stat, w, _ := strings.Cut(o, ":")
				if _, err := strconv.ParseFloat(w, 64); err != nil {
					return CarrierSpec{}, fmt.Errorf("bench: carrier %q: outcomes: %q is not STAT:weight", s, o)
				}
				parts = append(parts, strconv.Quote(stat)+": "+w)
			}
			v = "{" + strings.Join(parts, ", ") + "}"
		case "prefixes", "mo_keywords":
			var parts []string
			for _, p := range strings.Split(v, "/") {
				parts = append(parts, strconv.Quote(p))
			}
			v = "[" + strings.Join(parts, ", ") + "]"
		case "tps", "throttle", "reject", "link_drops", "receipts_first", "mo_rate", "cost":
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return CarrierSpec{}, fmt.Errorf("bench: carrier %q: %s: %q is not a number", s, k, v)
			}
		default:
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	var spec CarrierSpec
	dec := yaml.NewDecoder(strings.NewReader(b.String()))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return CarrierSpec{}, fmt.Errorf("bench: carrier %q: %w", s, err)
	}
	if errs := spec.validate(0); len(errs) > 0 {
		return CarrierSpec{}, fmt.Errorf("bench: carrier %q: %w", s, errors.Join(errs...))
	}
	return spec, nil
}

// Farm is a set of simulated carriers on loopback sharing one Ledger.
type Farm struct {
	carriers []*Carrier
	ledger   *Ledger
	log      *slog.Logger
}

// Carrier is one running simulated carrier. Its throttle, TPS cap and
// outage can change while it runs, which is how scenarios script storms and
// failovers.
type Carrier struct {
	spec     CarrierSpec
	srv      *smsc.Server
	ledger   *Ledger
	outcomes []weightedStat

	throttle atomic.Uint64 // math.Float64bits of the ratio
	limiter  atomic.Pointer[rate.Limiter]
	down     atomic.Bool

	submits, accepted, throttled, rejected atomic.Int64
	moSent, moFailed                       atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup
}

type weightedStat struct {
	upTo float64 // cumulative weight
	stat string
}

// StartFarm validates the specs and starts one simulator per carrier. The
// simulators do not record submits (the ledger counts them instead), so a
// farm runs for hours in constant memory.
func StartFarm(specs []CarrierSpec, log *slog.Logger) (*Farm, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if len(specs) == 0 {
		errs = append(errs, errors.New("carriers: at least one is required"))
	}
	seen := map[string]bool{}
	for i := range specs {
		errs = append(errs, specs[i].validate(i)...)
		if seen[specs[i].Name] {
			errs = append(errs, fmt.Errorf("carriers[%d].name: %q is used by an earlier carrier", i, specs[i].Name))
		}
		seen[specs[i].Name] = true
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("bench: %w", errors.Join(errs...))
	}
	f := &Farm{ledger: newLedger(), log: log}
	for _, spec := range specs {
		c, err := startCarrier(spec, f.ledger, log.With("carrier", spec.Name))
		if err != nil {
			f.Close()
			return nil, err
		}
		f.carriers = append(f.carriers, c)
	}
	return f, nil
}

func startCarrier(spec CarrierSpec, ledger *Ledger, log *slog.Logger) (*Carrier, error) {
	c := &Carrier{spec: spec, ledger: ledger, stop: make(chan struct{})}
	total := 0.0
	stats := make([]string, 0, len(spec.Outcomes))
	for stat := range spec.Outcomes {
		stats = append(stats, stat)
	}
	slices.Sort(stats)
	for _, stat := range stats {
		if w := spec.Outcomes[stat]; w > 0 {
			total += w
			c.outcomes = append(c.outcomes, weightedStat{total, stat})
		}
	}
	c.SetThrottle(spec.Throttle)
	c.SetTPS(spec.TPS)
	opts := []smsc.Option{smsc.WithoutRecording(), smsc.WithHandler(c.handle), smsc.WithLogger(log)}
	if spec.SystemID != "" {
		opts = append(opts, smsc.WithCredentials(spec.SystemID, spec.Password))
	}
	if spec.Latency.Max > 0 {
		opts = append(opts, smsc.WithResponseDelay(spec.Latency.Min, spec.Latency.Max))
	}
	if r := spec.ReceiptDelay; r != nil {
		opts = append(opts, smsc.WithReceiptDelay(r.Min, r.Max))
	}
	if spec.LinkDrops > 0 {
		opts = append(opts, smsc.WithLinkDrops(spec.LinkDrops))
	}
	if spec.ReceiptsFirst > 0 {
		opts = append(opts, smsc.WithReceiptsFirst(spec.ReceiptsFirst))
	}
	addr := spec.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	srv, err := smsc.Listen(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("bench: carrier %s: %w", spec.Name, err)
	}
	c.srv = srv
	if spec.MORate > 0 {
		c.wg.Add(1)
		go c.moLoop()
	}
	return c, nil
}

// handle is the simulator's verdict on one submit_sm. Throttling and the
// TPS cap are decided here rather than by the simulator's own options, so
// that a message counted in the ledger is one the carrier really took.
func (c *Carrier) handle(s *smsc.Submit) smsc.Action {
	c.submits.Add(1)
	if thr := c.throttleRatio(); thr > 0 && rand.Float64() < thr {
		c.throttled.Add(1)
		return smsc.Action{Status: uint32(data.ESME_RTHROTTLED)}
	}
	if l := c.limiter.Load(); l != nil && !l.Allow() {
		c.throttled.Add(1)
		return smsc.Action{Status: uint32(data.ESME_RTHROTTLED)}
	}
	if c.spec.Reject > 0 && rand.Float64() < c.spec.Reject {
		c.rejected.Add(1)
		return smsc.Action{Status: uint32(data.ESME_RINVDSTADR)}
	}
	c.accepted.Add(1)
	if text, part := submitText(s); part == 1 {
		if run, seq, ok := parseToken(text); ok {
			c.ledger.note(run, seq)
		}
	}
	if len(c.outcomes) == 0 {
		return smsc.Action{}
	}
	x := rand.Float64() * c.outcomes[len(c.outcomes)-1].upTo
	for _, o := range c.outcomes {
		if x < o.upTo {
			return smsc.Action{ReceiptStat: o.stat, ReceiptErr: receiptStats[o.stat]}
		}
	}
	return smsc.Action{}
}

func (c *Carrier) moLoop() {
	defer c.wg.Done()
	keywords := c.spec.MOKeywords
	if len(keywords) == 0 {
		keywords = []string{"BAL", "DUE"}
	}
	to := c.spec.Shortcode
	if to == "" {
		to = "22555"
	}
	every := time.Duration(float64(time.Second) / c.spec.MORate)
	t := time.NewTicker(max(every, time.Millisecond))
	defer t.Stop()
	owed := 0.0
	last := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			// A ticker cannot go faster than 1 kHz: catch up in bursts.
			owed += now.Sub(last).Seconds() * c.spec.MORate
			last = now
			for ; owed >= 1; owed-- {
				from := fmt.Sprintf("+2547%08d", rand.IntN(100_000_000))
				if c.down.Load() || c.srv.SendMO(from, to, keywords[rand.IntN(len(keywords))]) != nil {
					c.moFailed.Add(1)
				} else {
					c.moSent.Add(1)
				}
			}
		}
	}
}

// Name is the carrier's name in the farm and in generated gateway configs.
func (c *Carrier) Name() string { return c.spec.Name }

// Addr is the host:port a gateway binds to.
func (c *Carrier) Addr() string { return c.srv.Addr() }

// Spec is the configuration the carrier started with.
func (c *Carrier) Spec() CarrierSpec { return c.spec }

func (c *Carrier) throttleRatio() float64 { return math.Float64frombits(c.throttle.Load()) }

// SetThrottle changes the share of submits answered ESME_RTHROTTLED.
func (c *Carrier) SetThrottle(ratio float64) { c.throttle.Store(math.Float64bits(ratio)) }

// SetTPS changes the TPS cap (0 removes it). The burst is a tenth of a
// second's worth, as the simulator's own WithTPS does.
func (c *Carrier) SetTPS(tps float64) {
	if tps <= 0 {
		c.limiter.Store(nil)
		return
	}
	c.limiter.Store(rate.NewLimiter(rate.Limit(tps), max(1, int(tps/10))))
}

// SetDown simulates an outage: every connection is cut and new ones are
// left unanswered (binds time out) until SetDown(false). Receipts due
// meanwhile wait and go out when the gateway binds again, as a carrier's
// store-and-forward does.
func (c *Carrier) SetDown(down bool) {
	c.down.Store(down)
	c.srv.Stall(down)
	if down {
		c.srv.KillConnections()
	}
}

// CarrierStats are one carrier's counters. Parts are submit_sm PDUs; a
// multi-part message is several.
type CarrierStats struct {
	Name          string `json:"name"`
	Addr          string `json:"addr"`
	Down          bool   `json:"down"`
	Bound         int    `json:"bound"`
	Submits       int64  `json:"submits"`        // submit_sm received
	Accepted      int64  `json:"accepted_parts"` // answered ESME_ROK
	Throttled     int64  `json:"throttled"`
	Rejected      int64  `json:"rejected"`
	ReceiptsSent  int64  `json:"receipts_sent"` // including redeliveries
	Redelivered   int64  `json:"receipts_redelivered"`
	DeliverResps  int64  `json:"deliver_resps"` // answers to receipts and MO
	MOSent        int64  `json:"mo_sent"`
	MOFailed      int64  `json:"mo_failed"` // no bound receiver (outage)
	LinkDrops     int64  `json:"link_drops"`
	MaxInFlight   int64  `json:"max_in_flight"`
	BindsAccepted int64  `json:"binds"`
}

// Stats snapshots the carrier's counters.
func (c *Carrier) Stats() CarrierStats {
	st := c.srv.Stats()
	return CarrierStats{
		Name: c.spec.Name, Addr: c.Addr(), Down: c.down.Load(), Bound: st.Bound,
		Submits: c.submits.Load(), Accepted: c.accepted.Load(), Throttled: c.throttled.Load(), Rejected: c.rejected.Load(),
		ReceiptsSent: st.ReceiptsSent, Redelivered: st.ReceiptsRedelivered, DeliverResps: st.DeliverResps,
		MOSent: c.moSent.Load(), MOFailed: c.moFailed.Load(), LinkDrops: st.LinkDrops, MaxInFlight: st.MaxInFlight,
		BindsAccepted: st.Binds,
	}
}

func (c *Carrier) close() {
	close(c.stop)
	c.wg.Wait()
	c.srv.Close()
}

// Carriers lists the farm's carriers in spec order.
func (f *Farm) Carriers() []*Carrier { return f.carriers }

// Carrier finds a carrier by name, nil if there is none.
func (f *Farm) Carrier(name string) *Carrier {
	for _, c := range f.carriers {
		if c.spec.Name == name {
			return c
		}
	}
	return nil
}

// Ledger is where the farm counts each token it accepted.
func (f *Farm) Ledger() *Ledger { return f.ledger }

// Stats snapshots every carrier.
func (f *Farm) Stats() []CarrierStats {
	out := make([]CarrierStats, len(f.carriers))
	for i, c := range f.carriers {
		out[i] = c.Stats()
	}
	return out
}

// Close stops every carrier; it is safe to call once.
func (f *Farm) Close() {
	for _, c := range f.carriers {
		c.close()
	}
}

// WriteGatewayConfig writes the `carriers:` and `routes:` sections of a
// gateway config pointing at the farm, to paste into smsgw.yaml.
func (f *Farm) WriteGatewayConfig(w io.Writer) error {
	var b strings.Builder
	b.WriteString("carriers:\n")
	for _, c := range f.carriers {
		host, port, _ := net.SplitHostPort(c.Addr())
		sys, pw := c.spec.SystemID, c.spec.Password
		if sys == "" {
			sys, pw = "smsbench", "smsbench"
		}
		fmt.Fprintf(&b, "  - name: %s\n    smpp:\n      host: %s\n      port: %s\n      system_id: %s\n      password: %s\n      binds: 2\n      window: 64\n",
			c.spec.Name, host, port, sys, pw)
	}
	b.WriteString("routes:\n")
	for i, c := range f.carriers {
		for _, r := range carrierRoutes(c.spec, i) {
			fmt.Fprintf(&b, "  - {prefix: %q, carrier: %s, cost: %g, currency: KES}\n", r.Prefix, r.Carrier, r.Cost)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Ledger counts, per run and sequence number, how many times the carriers
// accepted the first part of a message. Zero is a lost message, more than
// one a duplicate. It is sharded so the carriers' reading goroutines do not
// queue on one lock at 20,000 submits a second.
type Ledger struct {
	shards [32]ledgerShard
	hook   atomic.Pointer[func(run string, seq uint64, n int32)]
}

type ledgerShard struct {
	mu sync.Mutex
	m  map[tokenKey]int32
}

type tokenKey struct {
	run string
	seq uint64
}

func newLedger() *Ledger {
	l := &Ledger{}
	for i := range l.shards {
		l.shards[i].m = map[tokenKey]int32{}
	}
	return l
}

func (l *Ledger) note(run string, seq uint64) {
	sh := &l.shards[seq%uint64(len(l.shards))]
	sh.mu.Lock()
	k := tokenKey{run, seq}
	n := sh.m[k] + 1
	sh.m[k] = n
	sh.mu.Unlock()
	if h := l.hook.Load(); h != nil {
		(*h)(run, seq, n)
	}
}

// OnNote sets a function called (on a carrier's goroutine, so it must be
// quick) each time a token is accepted, with its count so far; the load
// generator uses it to time submissions. nil removes it.
func (l *Ledger) OnNote(f func(run string, seq uint64, n int32)) {
	if f == nil {
		l.hook.Store(nil)
		return
	}
	l.hook.Store(&f)
}

// Count is how many times the carriers accepted message seq of run.
func (l *Ledger) Count(run string, seq uint64) int {
	sh := &l.shards[seq%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return int(sh.m[tokenKey{run, seq}])
}

// RunCounts is every sequence number of one run the carriers accepted, with
// how many times: what an external load generator needs to count its lost
// and duplicated messages.
func (l *Ledger) RunCounts(run string) map[uint64]int32 {
	out := map[uint64]int32{}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, n := range sh.m {
			if k.run == run {
				out[k.seq] = n
			}
		}
		sh.mu.Unlock()
	}
	return out
}
