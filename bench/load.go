package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/internal/mask"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// Drivers: how the load reaches the gateway.
const (
	DriverGRPC      = "grpc"       // Messaging.Send, one message per call
	DriverGRPCBatch = "grpc-batch" // Messaging.SendBatch, Batch messages per call
	DriverKannel    = "kannel"     // GET /cgi-bin/sendsms, Kannel's interface
)

// LoadSpec says what traffic to send. Either Duration or Count ends it (the
// first reached when both are set).
type LoadSpec struct {
	Driver string `yaml:"driver"` // grpc (default), grpc-batch or kannel
	// Target is the gateway's gRPC host:port, or for kannel the base URL
	// (http://host:port). A scenario with an in-process gateway fills it.
	Target string `yaml:"target"`
	APIKey string `yaml:"api_key"` // gRPC; default the scenario tenant's
	// Username and Password are the sendsms credentials (kannel).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	From     string `yaml:"from"` // sender id; empty: the tenant's default
	// Rate is messages per second over all clients; 0 sends flat out.
	Rate     float64       `yaml:"rate"`
	Clients  int           `yaml:"clients"` // concurrent callers, default 16
	Batch    int           `yaml:"batch"`   // messages per SendBatch, default 100
	Duration time.Duration `yaml:"duration"`
	Count    int64         `yaml:"count"`
	// Mix is the share of each kind of text (default all GSM).
	Mix Mix `yaml:"mix"`
	// Prefixes spread destinations over countries and networks; each
	// number is a prefix padded with random digits to 12 digits.
	Prefixes []string `yaml:"prefixes"`
	// Events follows the gateway's StreamEvents to time submissions and
	// receipts (default on for the gRPC drivers; Kannel's answer carries
	// no id, so it cannot).
	Events *bool `yaml:"events"`
	// Drain is how long to wait after the last send for every message to
	// reach a final status (default 30s).
	Drain time.Duration `yaml:"drain"`
	// DLRMask (kannel) asks for delivery reports with Kannel's dlr-mask and
	// a dlr-url per message pointing back at the run, which follows each
	// message by them as the gRPC drivers do by events: the path of an
	// application written for Kannel. It must include 1 and 2 (delivered,
	// failed) so that every message has an end; 8 (smsc submit) also times
	// submissions. 0: no reports asked.
	DLRMask int `yaml:"dlr_mask"`
	// DLRListen is where the run takes the dlr-url calls (default
	// 127.0.0.1:0); the gateway must reach it at that address.
	DLRListen string `yaml:"dlr_listen"`
}

// Mix weighs the kinds of text sent: single-part GSM 03.38, single-part
// UCS-2, and GSM texts of two parts.
type Mix struct {
	GSM       float64 `yaml:"gsm" json:"gsm"`
	UCS2      float64 `yaml:"ucs2" json:"ucs2"`
	Multipart float64 `yaml:"multipart" json:"multipart"`
}

// ParseMix reads "gsm=0.8,ucs2=0.1,multipart=0.1".
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 {
			return Mix{}, fmt.Errorf("bench: mix %q: %q is not kind=weight", s, kv)
		}
		switch strings.TrimSpace(k) {
		case "gsm":
			m.GSM = f
		case "ucs2":
			m.UCS2 = f
		case "multipart":
			m.Multipart = f
		default:
			return Mix{}, fmt.Errorf("bench: mix %q: unknown kind %q (gsm, ucs2, multipart)", s, k)
		}
	}
	return m, nil
}

// DefaultPrefixes are mobile ranges of Kenya, Tanzania and Uganda, valid
// numbers for the gateway's E.164 check.
var DefaultPrefixes = []string{"+25471", "+25575", "+25677"}

func (s *LoadSpec) setDefaults() {
	if s.Driver == "" {
		s.Driver = DriverGRPC
	}
	if s.Clients <= 0 {
		s.Clients = 16
	}
	if s.Batch <= 0 {
		s.Batch = 100
	}
	if s.Driver != DriverGRPCBatch {
		s.Batch = 1
	}
	if s.Mix == (Mix{}) {
		s.Mix.GSM = 1
	}
	if len(s.Prefixes) == 0 {
		s.Prefixes = DefaultPrefixes
	}
	if s.Events == nil {
		on := s.Driver != DriverKannel
		s.Events = &on
	}
	if s.Drain == 0 {
		s.Drain = 30 * time.Second
	}
	if s.DLRMask != 0 && s.DLRListen == "" {
		s.DLRListen = "127.0.0.1:0"
	}
}

func (s *LoadSpec) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("load."+format, args...)) }
	switch s.Driver {
	case DriverGRPC, DriverGRPCBatch, DriverKannel:
	default:
		bad("driver: %q is not grpc, grpc-batch or kannel", s.Driver)
	}
	if s.Duration <= 0 && s.Count <= 0 {
		bad("duration, count: one is required")
	}
	if s.Rate < 0 || s.Mix.GSM < 0 || s.Mix.UCS2 < 0 || s.Mix.Multipart < 0 {
		bad("rate, mix: must be ≥ 0")
	}
	if *s.Events && s.Driver == DriverKannel {
		bad("events: Kannel's answer carries no message id to follow; follow delivery reports with dlr_mask")
	}
	if s.DLRMask != 0 {
		switch {
		case s.Driver != DriverKannel:
			bad("dlr_mask: delivery report URLs are Kannel's (driver kannel); the gRPC drivers follow events")
		case s.DLRMask < 0 || s.DLRMask > 31:
			bad("dlr_mask: %d is not a Kannel dlr-mask (1 delivered, 2 failed, 4 buffered, 8 smsc submit, 16 smsc reject)", s.DLRMask)
		case s.DLRMask&3 != 3:
			bad("dlr_mask: %d leaves out 1 (delivered) or 2 (failed): a message would have no end to wait for", s.DLRMask)
		}
	} else if s.DLRListen != "" {
		bad("dlr_listen: set without dlr_mask")
	}
	for i, p := range s.Prefixes {
		if len(p) < 2 || p[0] != '+' || len(p) > 12 || strings.Trim(p[1:], "0123456789") != "" {
			bad("prefixes[%d]: %q is not '+' and up to 11 digits", i, p)
		}
	}
	return errs
}

// Texts of each kind, after the token. Each fits its kind with a 20-octet
// token: GSM ≤ 160 septets, UCS-2 ≤ 70 characters, multipart 2 GSM parts.
const (
	textGSM       = " Your loan repayment of KES 1,500 is due on Friday 12 Dec. Reply BAL for your balance."
	textUCS2      = " Malipo ya KES 1,500 ✓ Ijumaa. Asante!"
	textMultipart = " Dear member, your group meeting moves to Tuesday 10:00 at the Kisumu branch." +
		" Please bring your passbook and the loan officer's form. Repayments made before Monday" +
		" count for this cycle, later ones for the next. Reply BAL for your balance. Thank you."
)

type outMsg struct {
	seq  uint64
	to   string
	text string
	ucs2 bool
}

// generator makes the messages of one run.
type generator struct {
	run      string
	mix      Mix
	prefixes []string
	next     atomic.Uint64
	count    uint64 // 0: unlimited
}

// claim takes up to n sequence numbers; fewer (or none) when the count is
// reached.
func (g *generator) claim(n int) (first uint64, got int) {
	end := g.next.Add(uint64(n))
	first = end - uint64(n) + 1
	if g.count > 0 && end > g.count {
		if first > g.count {
			return 0, 0
		}
		n = int(g.count - first + 1)
	}
	return first, n
}

func (g *generator) message(seq uint64) outMsg {
	m := outMsg{seq: seq, to: g.number()}
	tok := Token(g.run, seq)
	total := g.mix.GSM + g.mix.UCS2 + g.mix.Multipart
	switch x := rand.Float64() * total; {
	case x < g.mix.GSM:
		m.text = tok + textGSM
	case x < g.mix.GSM+g.mix.UCS2:
		m.text, m.ucs2 = tok+textUCS2, true
	default:
		m.text = tok + textMultipart
	}
	return m
}

func (g *generator) number() string {
	p := g.prefixes[rand.IntN(len(g.prefixes))]
	var b strings.Builder
	b.WriteString(p)
	for i := len(p) - 1; i < 12; i++ {
		b.WriteByte(byte('0' + rand.IntN(10)))
	}
	return b.String()
}

// result is the gateway's answer to one message of a call.
type result struct {
	id    string
	parts int
	err   error
}

// driver sends one call's worth of messages.
type driver interface {
	send(ctx context.Context, run string, msgs []outMsg) []result
	close()
}

type grpcDriver struct {
	c     *client.Client
	from  string
	batch bool
}

func (d *grpcDriver) req(run string, m outMsg) *pb.SendRequest {
	return &pb.SendRequest{To: m.to, Text: m.text, From: d.from, ClientRef: run + "-" + strconv.FormatUint(m.seq, 10)}
}

func (d *grpcDriver) send(ctx context.Context, run string, msgs []outMsg) []result {
	out := make([]result, len(msgs))
	if !d.batch {
		for i, m := range msgs {
			resp, err := d.c.Send(ctx, d.req(run, m))
			if err != nil {
				out[i].err = err
				continue
			}
			out[i] = result{id: resp.GetId(), parts: int(resp.GetParts())}
		}
		return out
	}
	req := &pb.SendBatchRequest{Messages: make([]*pb.SendRequest, len(msgs))}
	for i, m := range msgs {
		req.Messages[i] = d.req(run, m)
	}
	resp, err := d.c.SendBatch(ctx, req)
	if err != nil {
		for i := range out {
			out[i].err = err
		}
		return out
	}
	for i := range out {
		if i >= len(resp.GetResults()) {
			out[i].err = errors.New("bench: SendBatch answered fewer results than messages")
			continue
		}
		r := resp.GetResults()[i]
		if a := r.GetAccepted(); a != nil {
			out[i] = result{id: a.GetId(), parts: int(a.GetParts())}
		} else {
			out[i].err = fmt.Errorf("refused (code %d): %s: %s", r.GetCode(), r.GetField(), r.GetMessage())
		}
	}
	return out
}

func (d *grpcDriver) close() { d.c.Close() }

// errorKey is an error as the report lists it: the gRPC code and message,
// with anything like a phone number masked.
func errorKey(err error) string {
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Code().String() + ": " + s.Message()
	}
	if len(msg) > 160 {
		msg = msg[:160]
	}
	return mask.Text(msg)
}

// loader drives one run: the clients, the rate, the end.
type loader struct {
	spec LoadSpec
	gen  *generator
	drv  driver
	rec  *recorder
}

// newDriver makes spec's driver; dlr, when not nil, is the run's dlr-url
// (kannel).
func newDriver(spec LoadSpec, dlr *dlrEndpoint) (driver, error) {
	switch spec.Driver {
	case DriverKannel:
		d := newKannelDriver(spec)
		d.dlr = dlr
		return d, nil
	default:
		if spec.APIKey == "" {
			return nil, errors.New("bench: load.api_key: required for the gRPC drivers")
		}
		c, err := client.Dial(spec.Target, spec.APIKey)
		if err != nil {
			return nil, fmt.Errorf("bench: dial %s: %w", spec.Target, err)
		}
		return &grpcDriver{c: c, from: spec.From, batch: spec.Driver == DriverGRPCBatch}, nil
	}
}

// sendAll runs the clients until the duration or count is reached or ctx
// ends. Calls already started finish (their answers count); no new one
// starts.
func (l *loader) sendAll(ctx context.Context) {
	stopCtx := ctx
	if l.spec.Duration > 0 {
		var cancel context.CancelFunc
		stopCtx, cancel = context.WithTimeout(ctx, l.spec.Duration)
		defer cancel()
	}
	var lim *rate.Limiter
	if l.spec.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(l.spec.Rate), max(l.spec.Batch, int(l.spec.Rate/50), 1))
		// Start with an empty bucket: the first second is not a burst.
		lim.AllowN(time.Now(), lim.Burst())
	}
	var wg sync.WaitGroup
	for range l.spec.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]outMsg, 0, l.spec.Batch)
			for stopCtx.Err() == nil {
				first, n := l.gen.claim(l.spec.Batch)
				if n == 0 {
					return
				}
				if lim != nil && lim.WaitN(stopCtx, n) != nil {
					return
				}
				msgs = msgs[:0]
				for i := range n {
					msgs = append(msgs, l.gen.message(first+uint64(i)))
				}
				start := time.Now()
				for _, m := range msgs {
					l.rec.started(m.seq, start)
				}
				res := l.drv.send(ctx, l.gen.run, msgs)
				now := time.Now()
				for i, r := range res {
					if r.err != nil {
						l.rec.failed(r.err)
						continue
					}
					l.rec.acceptedAs(msgs[i].seq, r.id, r.parts, now.Sub(start), now)
				}
			}
		}()
	}
	wg.Wait()
}
