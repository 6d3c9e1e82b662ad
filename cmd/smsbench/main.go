// Command smsbench load-tests smsgw the way a carrier NOC or an MFI does
// before go-live: simulated carriers, traffic over the gateway's gRPC or
// Kannel interfaces, and a report of throughput, latency, losses and
// duplicates. The logic lives in package bench; this file parses flags and
// handles signals.
//
//	smsbench smsc --carrier name=a,tps=500 --carrier name=b,latency=5ms..50ms
//	smsbench load --target 127.0.0.1:9190 --api-key KEY --rate 1000 --duration 1m
//	smsbench run bench/scenarios/steady.yaml --html report.html
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openmf/smsgw/bench"
)

const usage = `smsbench load-tests smsgw.

  smsbench smsc [flags]                 run simulated carriers until interrupted
  smsbench load [flags]                 drive a running gateway and report
  smsbench run SCENARIO.yaml [flags]    carriers, gateway and load together

Run "smsbench COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with their own context
// and writers.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "smsc":
		return smscCmd(ctx, args[1:], stdout, stderr)
	case "load":
		return loadCmd(ctx, args[1:], stdout, stderr)
	case "run":
		return runCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "smsbench: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// parseInterspersed parses flags that may come before or after one
// positional argument (`run FILE --json x` and `run --json x FILE`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

type reportFlags struct {
	json, html string
	quiet      bool
}

func (r *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.json, "json", "", "write the report as JSON to this file")
	fs.StringVar(&r.html, "html", "", "write the report as a self-contained HTML page to this file")
	fs.BoolVar(&r.quiet, "quiet", false, "no progress line")
}

func (r *reportFlags) write(rep *bench.Report, stdout, stderr io.Writer) int {
	if err := rep.WriteSummary(stdout); err != nil {
		fmt.Fprintln(stderr, "smsbench:", err)
		return 1
	}
	if r.json != "" {
		if err := rep.WriteFile(r.json, (*bench.Report).WriteJSON); err != nil {
			fmt.Fprintln(stderr, "smsbench: --json:", err)
			return 1
		}
	}
	if r.html != "" {
		if err := rep.WriteFile(r.html, (*bench.Report).WriteHTML); err != nil {
			fmt.Fprintln(stderr, "smsbench: --html:", err)
			return 1
		}
	}
	return 0
}

func (r *reportFlags) progress(stderr io.Writer) io.Writer {
	if r.quiet {
		return nil
	}
	return stderr
}

func smscCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smsbench smsc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var carriers multiFlag
	fs.Var(&carriers, "carrier", "a carrier as key=value pairs (repeatable), e.g.\n"+
		"name=a,listen=127.0.0.1:2775,latency=1ms..5ms,tps=500,throttle=0.05,reject=0.01,\n"+
		"receipt_delay=100ms..2s,outcomes=DELIVRD:0.95/UNDELIV:0.05,mo_rate=5,prefixes=+2547/+2557,cost=0.8")
	file := fs.String("config", "", "YAML file with a carriers: list (a scenario file will do)")
	httpAddr := fs.String("http", "", "serve the carriers' counters and ledger on this address (for smsbench load --farm)")
	every := fs.Duration("every", 5*time.Second, "how often to print the carriers' counters (0: never)")
	level := fs.String("log-level", "warn", "carrier log level: debug, info, warn or error")
	if _, err := parseInterspersed(fs, args); err != nil {
		return 2
	}
	var specs []bench.CarrierSpec
	if *file != "" {
		s, err := bench.LoadCarriers(*file)
		if err != nil {
			fmt.Fprintln(stderr, "smsbench smsc:", err)
			return 1
		}
		specs = append(specs, s...)
	}
	for _, c := range carriers {
		s, err := bench.ParseCarrier(c)
		if err != nil {
			fmt.Fprintln(stderr, "smsbench smsc:", err)
			return 2
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 {
		specs = []bench.CarrierSpec{{Name: "sim"}}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(stderr, "smsbench smsc: --log-level:", err)
		return 2
	}
	farm, err := bench.StartFarm(specs, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})))
	if err != nil {
		fmt.Fprintln(stderr, "smsbench smsc:", err)
		return 1
	}
	defer farm.Close()
	for _, c := range farm.Carriers() {
		fmt.Fprintf(stdout, "carrier %s listening on %s\n", c.Name(), c.Addr())
	}
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			fmt.Fprintln(stderr, "smsbench smsc: --http:", err)
			return 1
		}
		srv := &http.Server{Handler: farm.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(stdout, "counters at http://%s/stats (smsbench load --farm http://%s)\n", ln.Addr(), ln.Addr())
	}
	fmt.Fprintln(stdout, "\n# For the gateway's config:")
	if err := farm.WriteGatewayConfig(stdout); err != nil {
		fmt.Fprintln(stderr, "smsbench smsc:", err)
		return 1
	}
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-tick:
			for _, s := range farm.Stats() {
				fmt.Fprintf(stderr, "%s: bound %d, submits %d, accepted %d, throttled %d, rejected %d, receipts %d, MO %d\n",
					s.Name, s.Bound, s.Submits, s.Accepted, s.Throttled, s.Rejected, s.ReceiptsSent, s.MOSent)
			}
		}
	}
}

func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smsbench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var spec bench.LoadSpec
	fs.StringVar(&spec.Driver, "driver", bench.DriverGRPC, "grpc (Send), grpc-batch (SendBatch) or kannel (GET /cgi-bin/sendsms)")
	fs.StringVar(&spec.Target, "target", "127.0.0.1:9190", "gateway gRPC host:port, or for kannel its base URL (http://127.0.0.1:9191)")
	fs.StringVar(&spec.APIKey, "api-key", os.Getenv("SMSGW_API_KEY"), "gRPC API key (default $SMSGW_API_KEY)")
	fs.StringVar(&spec.Username, "username", "", "sendsms username (kannel)")
	fs.StringVar(&spec.Password, "password", os.Getenv("SMSGW_SENDSMS_PASSWORD"), "sendsms password (kannel; default $SMSGW_SENDSMS_PASSWORD)")
	fs.StringVar(&spec.From, "from", "", "sender id (default: the tenant's)")
	fs.Float64Var(&spec.Rate, "rate", 0, "messages per second over all clients (0: flat out)")
	fs.IntVar(&spec.Clients, "clients", 16, "concurrent callers")
	fs.IntVar(&spec.Batch, "batch", 100, "messages per SendBatch (grpc-batch)")
	fs.DurationVar(&spec.Duration, "duration", 0, "how long to send")
	fs.Int64Var(&spec.Count, "count", 0, "how many messages to send")
	mix := fs.String("mix", "gsm=1", "shares of gsm, ucs2 and multipart texts, e.g. gsm=0.8,ucs2=0.1,multipart=0.1")
	prefixes := fs.String("prefixes", strings.Join(bench.DefaultPrefixes, ","), "destination prefixes, comma-separated")
	noEvents := fs.Bool("no-events", false, "do not follow StreamEvents (no submit or end-to-end latency)")
	fs.DurationVar(&spec.Drain, "drain", 30*time.Second, "how long to wait for final statuses after the load")
	metrics := fs.String("metrics", "", "the gateway's /metrics URL, for its CPU and memory (e.g. http://127.0.0.1:9191/metrics)")
	farm := fs.String("farm", "", "an `smsbench smsc --http` URL, to count lost and duplicated messages at its carriers")
	fs.IntVar(&spec.DLRMask, "dlr-mask", 0, "kannel: ask for delivery reports with this dlr-mask and a dlr-url per message, and follow\nthe messages by them (3: delivered and failed; 11 also times submissions)")
	fs.StringVar(&spec.DLRListen, "dlr-listen", "", "kannel: where the dlr-url calls come to (default 127.0.0.1:0); the gateway must reach it")
	pids := fs.String("gateway-pid", "", "instead of -metrics, the gateway's process ids, comma-separated, read from /proc\n(e.g. Kannel's: $(pgrep -d, -x bearerbox),$(pgrep -d, -x smsbox))")
	var rf reportFlags
	rf.register(fs)
	if _, err := parseInterspersed(fs, args); err != nil {
		return 2
	}
	m, err := bench.ParseMix(*mix)
	if err != nil {
		fmt.Fprintln(stderr, "smsbench load:", err)
		return 2
	}
	spec.Mix = m
	spec.Prefixes = strings.Split(*prefixes, ",")
	events := !*noEvents && spec.Driver != bench.DriverKannel
	spec.Events = &events
	var gatewayPIDs []int
	for p := range strings.SplitSeq(*pids, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pid, err := strconv.Atoi(p)
		if err != nil || pid <= 0 {
			fmt.Fprintf(stderr, "smsbench load: -gateway-pid: %q is not a process id\n", p)
			return 2
		}
		gatewayPIDs = append(gatewayPIDs, pid)
	}
	rep, err := bench.RunLoad(ctx, spec, bench.LoadOptions{Progress: rf.progress(stderr), MetricsURL: *metrics, PIDs: gatewayPIDs, FarmURL: *farm})
	if err != nil {
		fmt.Fprintln(stderr, "smsbench load:", err)
		return 1
	}
	return rf.write(rep, stdout, stderr)
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smsbench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 0, "override the scenario's load duration")
	count := fs.Int64("count", 0, "override the scenario's message count")
	rate := fs.Float64("rate", -1, "override the scenario's rate (0: flat out)")
	dir := fs.String("dir", "", "keep the in-process gateway's store here (default: a temporary directory)")
	var rf reportFlags
	rf.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "smsbench run: give one scenario file, e.g. bench/scenarios/steady.yaml")
		return 2
	}
	sc, err := bench.LoadScenario(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "smsbench run:", err)
		return 1
	}
	sc.Apply(bench.Override{Duration: *duration, Count: *count, Rate: *rate})
	rep, err := bench.Run(ctx, sc, bench.RunOptions{Progress: rf.progress(stderr), Dir: *dir})
	if err != nil {
		fmt.Fprintln(stderr, "smsbench run:", err)
		return 1
	}
	if code := rf.write(rep, stdout, stderr); code != 0 {
		return code
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "smsbench run: interrupted; the report covers the run so far")
		return 1
	}
	return 0
}
