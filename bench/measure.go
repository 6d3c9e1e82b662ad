package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openmf/smsgw/client"
)

// LoadOptions connect `smsbench load` (or a scenario) to what surrounds
// the load.
type LoadOptions struct {
	Name string // the report's title; default "load"
	// Progress receives a line a second while the run lasts; nil: none.
	Progress io.Writer
	// MetricsURL is the gateway's /metrics, read each second for its CPU
	// and resident memory; empty: not measured.
	MetricsURL string
	// PIDs are the gateway's processes, read from /proc each second
	// instead (Linux): for a gateway without /metrics, such as Kannel's
	// bearerbox and smsbox, whose CPU and memory are summed.
	PIDs []int
	// FarmURL is an `smsbench smsc --http` address: with it the carriers'
	// ledger is read after the drain to count lost and duplicated
	// messages.
	FarmURL string
}

// runEnv is what a scenario adds to a bare load run.
type runEnv struct {
	LoadOptions
	description string
	farm        *Farm // in-process carriers: lost and duplicates counted
	inProcess   bool  // the gateway runs in this process
	// atStart runs when the load starts (the scenario's timeline) and
	// returns the marks made so far when called again.
	atStart func(start time.Time) func() []Mark
}

// RunLoad drives a running gateway with spec's traffic and reports. Lost
// and duplicated messages are not counted: the carriers are elsewhere.
func RunLoad(ctx context.Context, spec LoadSpec, opts LoadOptions) (*Report, error) {
	return measure(ctx, spec, runEnv{LoadOptions: opts})
}

func measure(ctx context.Context, spec LoadSpec, env runEnv) (*Report, error) {
	spec.setDefaults()
	if errs := spec.validate(); len(errs) > 0 {
		return nil, fmt.Errorf("bench: %w", errors.Join(errs...))
	}
	if spec.Target == "" {
		return nil, errors.New("bench: load.target: required (the gateway's gRPC address or sendsms base URL)")
	}
	if env.Name == "" {
		env.Name = "load"
	}
	if env.MetricsURL != "" && len(env.PIDs) > 0 {
		return nil, errors.New("bench: the gateway's metrics URL and its pids both given: measure it by one")
	}
	run := NewRunID()
	rec := newRecorder(run, env.farm != nil)
	var err error
	if env.farm != nil {
		env.farm.Ledger().OnNote(rec.carrierSaw)
		defer env.farm.Ledger().OnNote(nil)
	}
	var dlr *dlrEndpoint
	if spec.DLRMask != 0 {
		if dlr, err = startDLR(spec.DLRListen, spec.DLRMask, rec); err != nil {
			return nil, err
		}
		defer dlr.close()
	}
	drv, err := newDriver(spec, dlr)
	if err != nil {
		return nil, err
	}
	defer drv.close()
	// follow: each message is seen to its end, by events or by reports.
	follow := *spec.Events || dlr != nil

	bg, stopBG := context.WithCancel(context.Background())
	var bgWG sync.WaitGroup
	defer bgWG.Wait()
	defer stopBG() // runs before Wait
	eventsErr := make(chan error, 1)
	if *spec.Events {
		evc, err := client.Dial(spec.Target, spec.APIKey)
		if err != nil {
			return nil, fmt.Errorf("bench: events: %w", err)
		}
		defer evc.Close()
		bgWG.Add(1)
		go func() {
			defer bgWG.Done()
			eventsErr <- followEvents(bg, evc, rec.event)
		}()
	}

	r := &Report{
		Name: env.Name, Description: env.description, Run: run, Started: time.Now().UTC(), Machine: thisMachine(),
		Load: spec, LoadSummary: loadSummary(spec), Ledger: env.farm != nil,
		SubmitSource: "events", Gateway: Process{InProcess: env.inProcess},
	}
	switch {
	case env.farm != nil:
		r.SubmitSource = "carrier"
	case dlr != nil && spec.DLRMask&8 != 0:
		r.SubmitSource = "dlr"
	case !*spec.Events:
		r.SubmitSource = ""
	}

	samp := &sampler{every: sampleEvery(spec.expectedDuration()), rec: rec, env: env, follow: follow, hc: &http.Client{Timeout: 900 * time.Millisecond}}
	start := time.Now()
	samp.start = start
	samp.first(bg)
	bgWG.Add(1)
	go func() {
		defer bgWG.Done()
		samp.loop(bg)
	}()
	marks := func() []Mark { return nil }
	if env.atStart != nil {
		marks = env.atStart(start)
	}

	l := &loader{spec: spec, gen: &generator{run: run, mix: spec.Mix, prefixes: spec.Prefixes, count: uint64(max(spec.Count, 0))}, drv: drv, rec: rec}
	l.sendAll(ctx)
	loadEnd := time.Now()

	// Drain: wait for every accepted message to end, as far as can be seen.
	deadline := time.Now().Add(spec.Drain)
	for ctx.Err() == nil && time.Now().Before(deadline) && !drained(rec, env.farm, follow) {
		select {
		case err := <-eventsErr:
			if err != nil {
				return nil, fmt.Errorf("bench: events: %w", err)
			}
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	end := time.Now()
	samp.stop()
	stopBG()

	r.LoadSeconds = loadEnd.Sub(start).Seconds()
	r.TotalSeconds = end.Sub(start).Seconds()
	r.Sent, r.Accepted, r.Refused, r.Parts = rec.sent.Load(), rec.accepted.Load(), rec.refused.Load(), rec.parts.Load()
	r.Submitted = rec.submitted.Load()
	var seen func(uint64) int
	if env.farm != nil {
		ledger := env.farm.Ledger()
		seen = func(seq uint64) int { return ledger.Count(run, seq) }
	} else if env.FarmURL != "" {
		counts, err := fetchRunCounts(ctx, env.FarmURL, run)
		if err != nil {
			return nil, err
		}
		seen = func(seq uint64) int { return int(counts[seq]) }
		r.Ledger = true
	}
	t := rec.count(seen)
	r.Lost, r.Duplicated, r.ExtraCopies = t.lost, t.duplicated, t.extraCopies
	if follow {
		r.Delivered, r.Undelivered, r.Unfinished, r.Final = t.delivered, t.undelivered, t.unfinished, t.byStatus
	}
	if dlr != nil {
		r.DLR = &DLRCalls{Mask: spec.DLRMask, Calls: dlr.calls.Load(), Finals: dlr.finals.Load(), Repeated: dlr.repeated.Load(), Unknown: dlr.bad.Load()}
	}
	r.Accept, r.Submit, r.EndToEnd = rec.acceptAll.Summary(), rec.submitAll.Summary(), rec.e2eAll.Summary()
	first := time.Unix(0, rec.firstSend.Load())
	rate := func(n int64, last int64) float64 {
		if n == 0 || last == 0 {
			return 0
		}
		d := time.Unix(0, last).Sub(first).Seconds()
		if d <= 0 {
			return 0
		}
		return float64(n) / d
	}
	r.AcceptedPerSec = rate(r.Accepted, rec.lastAccept.Load())
	r.SubmittedPerSec = rate(r.Submitted, rec.lastSub.Load())
	if follow {
		r.ReceiptsPerSec = rate(r.Delivered+r.Undelivered, rec.lastFi.Load())
	} else if env.farm != nil {
		r.ReceiptsPerSec = samp.farmReceiptRate()
	}
	r.Series, r.Gateway = samp.result(r.Gateway)
	if env.farm != nil {
		r.Carriers = env.farm.Stats()
	}
	r.Marks = marks()
	r.Errors = rec.errorCounts()
	return r, nil
}

// drained says whether every accepted message has visibly ended.
func drained(rec *recorder, farm *Farm, follow bool) bool {
	acc := rec.accepted.Load()
	if follow {
		return rec.delivered.Load()+rec.otherFinal.Load() >= acc
	}
	if farm == nil {
		return true
	}
	if rec.submitted.Load() < acc {
		return false
	}
	var parts, receipts, answers, sent int64
	for _, s := range farm.Stats() {
		parts += s.Accepted
		receipts += s.ReceiptsSent - s.Redelivered
		answers += s.DeliverResps
		sent += s.ReceiptsSent + s.MOSent
	}
	return receipts >= parts && answers >= sent
}

func loadSummary(s LoadSpec) string {
	var b strings.Builder
	b.WriteString(s.Driver)
	if s.Driver == DriverGRPCBatch {
		fmt.Fprintf(&b, " ×%d", s.Batch)
	}
	if s.Rate > 0 {
		fmt.Fprintf(&b, " at %g msg/s", s.Rate)
	} else {
		b.WriteString(" flat out")
	}
	fmt.Fprintf(&b, ", %d clients", s.Clients)
	if s.Duration > 0 {
		fmt.Fprintf(&b, ", %s", s.Duration)
	}
	if s.Count > 0 {
		fmt.Fprintf(&b, ", up to %d messages", s.Count)
	}
	fmt.Fprintf(&b, ", mix gsm %g / ucs2 %g / multipart %g", s.Mix.GSM, s.Mix.UCS2, s.Mix.Multipart)
	return b.String()
}

// sampler makes the per-second series and the progress line.
type sampler struct {
	every  time.Duration // sampleEvery
	rec    *recorder
	env    runEnv
	follow bool // each message is followed to its end (events or dlr-url calls)
	hc     *http.Client
	start  time.Time
	// proc reads the gateway's CPU and memory; nil: not measured.
	proc func(context.Context) (procSample, error)

	mu        sync.Mutex
	series    []Sample
	prev      counts
	procFirst *procSample
	procPrev  *procSample
	prevAt    time.Time
	rssMax    float64
	rssEnd    float64
	cpuEnd    float64
	done      chan struct{}
	stopped   chan struct{}
	farmRcpt  []farmPoint
}

type counts struct{ accepted, submitted, receipts int64 }

type farmPoint struct {
	t time.Time
	n int64
}

func (s *sampler) counts() counts {
	c := counts{accepted: s.rec.accepted.Load(), submitted: s.rec.submitted.Load()}
	if s.follow {
		c.receipts = s.rec.delivered.Load() + s.rec.otherFinal.Load()
	} else if s.env.farm != nil {
		for _, st := range s.env.farm.Stats() {
			c.receipts += st.ReceiptsSent - st.Redelivered
		}
	}
	return c
}

func (s *sampler) first(ctx context.Context) {
	s.done, s.stopped = make(chan struct{}), make(chan struct{})
	s.prevAt = s.start
	switch {
	case s.env.MetricsURL != "":
		s.proc = func(ctx context.Context) (procSample, error) { return scrapeProcess(ctx, s.hc, s.env.MetricsURL) }
	case len(s.env.PIDs) > 0:
		s.proc = func(context.Context) (procSample, error) { return readProcs(s.env.PIDs) }
	}
	if s.proc != nil {
		if p, err := s.proc(ctx); err == nil {
			s.procFirst, s.procPrev = &p, &p
			s.rssMax, s.rssEnd, s.cpuEnd = p.rssBytes/(1<<20), p.rssBytes/(1<<20), p.cpuSeconds
		}
	}
}

// expectedDuration is how long the load will send: its duration, else its
// count at its rate, else unknown (0: a count sent flat out).
func (l LoadSpec) expectedDuration() time.Duration {
	switch {
	case l.Duration > 0:
		return l.Duration
	case l.Count > 0 && l.Rate > 0:
		return time.Duration(float64(l.Count) / l.Rate * float64(time.Second))
	}
	return 0
}

// sampleEvery is the series' step: a second, or a tenth of a run shorter
// than ten seconds (at least 50 ms), so a short run still draws a line.
func sampleEvery(d time.Duration) time.Duration {
	if d <= 0 || d >= 10*time.Second {
		return time.Second
	}
	return max(d/10, 50*time.Millisecond)
}

func (s *sampler) loop(ctx context.Context) {
	defer close(s.stopped)
	t := time.NewTicker(s.every)
	defer t.Stop()
	purge := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			s.sample(ctx, time.Now())
			return
		case now := <-t.C:
			s.sample(ctx, now)
			if purge++; purge%int(10*time.Second/s.every) == 0 {
				s.rec.purgeEarly(now)
			}
		}
	}
}

func (s *sampler) stop() {
	close(s.done)
	<-s.stopped
}

func (s *sampler) sample(ctx context.Context, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts()
	dt := now.Sub(s.prevAt).Seconds()
	if dt <= 0.05 {
		return
	}
	acc, e2e := s.rec.acceptSec.take(), s.rec.e2eSec.take()
	per := func(n int64) int64 { return int64(float64(n)/dt + 0.5) }
	smp := Sample{
		T:        now.Sub(s.start).Seconds(),
		Accepted: per(c.accepted - s.prev.accepted), Submitted: per(c.submitted - s.prev.submitted), Receipts: per(c.receipts - s.prev.receipts),
		AcceptP50: acc.P50, AcceptP99: acc.P99, EndP50: e2e.P50, EndP99: e2e.P99,
	}
	if s.env.farm != nil && !s.follow {
		s.farmRcpt = append(s.farmRcpt, farmPoint{now, c.receipts})
	}
	if s.proc != nil {
		if p, err := s.proc(ctx); err == nil {
			if s.procPrev != nil {
				smp.CPUPercent = (p.cpuSeconds - s.procPrev.cpuSeconds) / dt * 100
			}
			if s.procFirst == nil {
				s.procFirst = &p
			}
			s.procPrev = &p
			smp.RSSMiB = p.rssBytes / (1 << 20)
			s.rssMax = max(s.rssMax, smp.RSSMiB)
			s.rssEnd, s.cpuEnd = smp.RSSMiB, p.cpuSeconds
		}
	}
	s.series = append(s.series, smp)
	s.prev, s.prevAt = c, now
	if w := s.env.Progress; w != nil {
		fmt.Fprintf(w, "%5.0fs  accepted %d (%d/s)  submitted %d (%d/s)  receipts %d (%d/s)  accept p99 %s  e2e p99 %s",
			smp.T, c.accepted, smp.Accepted, c.submitted, smp.Submitted, c.receipts, smp.Receipts, fmtMS(smp.AcceptP99), fmtMS(smp.EndP99))
		if s.procPrev != nil {
			fmt.Fprintf(w, "  cpu %.0f%%  rss %.0f MiB", smp.CPUPercent, smp.RSSMiB)
		}
		if n := s.rec.refused.Load(); n > 0 {
			fmt.Fprintf(w, "  refused %d", n)
		}
		fmt.Fprintln(w)
	}
}

// farmReceiptRate is receipts a second at the carriers, from the first to
// the last second that sent any.
func (s *sampler) farmReceiptRate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	pts := s.farmRcpt
	if len(pts) == 0 {
		return 0
	}
	// The receipts ended at the first point that reached the last count.
	j := len(pts) - 1
	for j > 0 && pts[j-1].n == pts[j].n {
		j--
	}
	d := pts[j].t.Sub(s.start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(pts[j].n) / d
}

func (s *sampler) result(p Process) ([]Sample, Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.procFirst != nil && s.procPrev != nil {
		p.Measured = true
		p.CPUSeconds = s.cpuEnd - s.procFirst.cpuSeconds
		if d := s.prevAt.Sub(s.start).Seconds(); d > 0 {
			p.CPUPercent = p.CPUSeconds / d * 100
		}
		p.RSSMaxMiB, p.RSSEndMiB = s.rssMax, s.rssEnd
	}
	return s.series, p
}
