package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/routing"
	"github.com/openmf/smsgw/smpp"
	"github.com/openmf/smsgw/smpp/smsc"
)

// demoKey is the demo tenant's API key. The demo listens on loopback only.
const demoKey = "demo-api-key"

// demoShortcode is the number the demo's clients text.
const demoShortcode = "22555"

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (YAML)")
	demo := fs.Bool("demo", false, "run with a built-in simulated carrier, a demo tenant and the store under ./data")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "how long a stop waits for in-flight submissions")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, "smsgw serve:", err)
		return 2
	}
	var (
		cfg    *config.Config
		routes map[string]http.Handler
	)
	switch {
	case *demo && *path != "":
		fmt.Fprintln(stderr, "smsgw serve: give --config or --demo, not both")
		return 2
	case *demo:
		sim, err := smsc.Listen("127.0.0.1:0", smsc.WithoutRecording(), smsc.WithReceiptDelay(200*time.Millisecond, 800*time.Millisecond),
			smsc.WithLogger(log.With("component", "demo-carrier")))
		if err != nil {
			fmt.Fprintln(stderr, "smsgw serve: demo carrier:", err)
			return 1
		}
		defer sim.Close()
		cfg = demoConfig(sim.Addr())
		routes = map[string]http.Handler{"POST /demo/mo": http.StripPrefix("/demo", sim.ControlHandler())}
	case *path != "":
		if cfg, err = app.LoadConfig(*path); err != nil {
			fmt.Fprintln(stderr, "smsgw serve:", err)
			return 1
		}
	default:
		fmt.Fprintln(stderr, "smsgw serve: --config FILE or --demo is required")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, app.Options{Logger: log, ConfigPath: *path, Routes: routes})
	if err != nil {
		fmt.Fprintln(stderr, "smsgw serve:", err)
		return 1
	}
	if err := a.Start(); err != nil {
		fmt.Fprintln(stderr, "smsgw serve:", err)
		_ = a.Stop(context.Background())
		return 1
	}
	if *demo {
		fmt.Fprintf(stdout, `smsgw demo is running: gRPC %s, HTTP http://%s (metrics at /metrics)
In another shell:
  export SMSGW_API_KEY=%s SMSGW_ADDR=%s
  ./bin/smsgw send --to +254712345678 --text "Your loan repayment of KES 1,500 is due on Friday" --wait
  ./bin/smsgw simulate mo --from +254712345678 --text HELP     (a client texting the shortcode %s)
`, a.GRPCAddr(), a.HTTPAddr(), demoKey, a.GRPCAddr(), demoShortcode)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-hup:
			if *path == "" {
				log.Warn("SIGHUP ignored: the demo has no config file")
				continue
			}
			if _, err := a.Reload(); err != nil {
				log.Error("reload refused; the config in force stays", "err", err)
			}
		}
	}
	log.Info("stopping", "timeout", *grace)
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := a.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(stderr, "smsgw serve: stop:", err)
		return 1
	}
	return 0
}

// demoConfig is what `make run` runs: everything on loopback, the store in
// ./data so messages survive a restart of the demo.
func demoConfig(carrierAddr string) *config.Config {
	host, port := splitHostPort(carrierAddr)
	cfg := &config.Config{
		Listen: config.Listen{GRPC: "127.0.0.1:9190", HTTP: "127.0.0.1:9191"},
		Store:  store.Config{Driver: "sqlite", Path: "./data/smsgw.db"},
		Tenants: []config.Tenant{{
			ID: "demo", APIKeys: []string{demoKey}, DefaultRegion: "KE", Sender: "MFI", Senders: []string{demoShortcode},
		}},
		Keywords: []config.Keyword{{Keyword: "HELLO", Aliases: []string{"HI"}, Reply: "Hello from the smsgw demo. Text BAL or DUE once smsgw-fineract runs."}},
		Carriers: []config.Carrier{{Name: "demo-carrier", Kind: "smpp", Section: &smpp.Config{
			Host: host, Port: port, SystemID: "demo", Password: "demo", Bind: "transceiver",
			Binds: 1, Window: 32, EnquireLink: 30 * time.Second,
		}}},
		Routes: []routing.Route{{Prefix: "+", Carrier: "demo-carrier", Cost: 1, Currency: "KES"}},
	}
	if err := config.Complete(cfg); err != nil {
		panic(fmt.Sprintf("demo config is invalid: %v", err))
	}
	return cfg
}

// checkConfig validates a file and prints every error; then it prints
// the warnings (plain-text secrets, short keys, listeners open off the
// host), which fail the check only with --strict.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict", false, "exit 1 when there are warnings too")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: smsgw check-config [--strict] FILE")
		return 2
	}
	path := fs.Arg(0)
	cfg, err := app.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	warnings := config.Warnings(cfg, raw)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", path, w)
	}
	switch {
	case len(warnings) > 0 && *strict:
		fmt.Fprintf(stderr, "%s: %d warnings; --strict refuses them\n", path, len(warnings))
		return 1
	case len(warnings) > 0:
		fmt.Fprintf(stdout, "%s: ok, %d warnings\n", path, len(warnings))
	default:
		fmt.Fprintf(stdout, "%s: ok\n", path)
	}
	return 0
}

func simulateSMSC(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate-smsc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:2775", "address to accept binds on")
	minDelay := fs.Duration("receipt-delay", 50*time.Millisecond, "delay before a delivery receipt")
	hexIDs := fs.Bool("hex-ids", false, "write message ids in hex in submit_sm_resp (decimal in receipts)")
	control := fs.String("control", "", "serve POST /demo/mo here for `smsgw simulate mo --http ADDR` (e.g. 127.0.0.1:2776)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, "smsgw simulate-smsc:", err)
		return 2
	}
	opts := []smsc.Option{smsc.WithoutRecording(), smsc.WithReceiptDelay(*minDelay, *minDelay), smsc.WithLogger(log)}
	if *hexIDs {
		opts = append(opts, smsc.WithIDFormat(smsc.IDHexResp))
	}
	sim, err := smsc.Listen(*listen, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "smsgw simulate-smsc:", err)
		return 1
	}
	fmt.Fprintf(stdout, "SMSC simulator listening on %s\n", sim.Addr())
	if *control != "" {
		ln, err := net.Listen("tcp", *control)
		if err != nil {
			fmt.Fprintln(stderr, "smsgw simulate-smsc: --control:", err)
			sim.Close()
			return 1
		}
		srv := &http.Server{Handler: http.StripPrefix("/demo", sim.ControlHandler()), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(stdout, "control on http://%s/demo/mo\n", ln.Addr())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sim.Close()
	st := sim.Stats()
	fmt.Fprintf(stdout, "binds %d, submit_sm %d, receipts %d, deliver_sm_resp %d\n", st.Binds, st.Submits, st.ReceiptsSent, st.DeliverResps)
	return 0
}

// simulate drives a simulator from outside: `simulate mo` makes a client
// text the shortcode, through the demo's (or a standalone simulator's)
// control endpoint.
func simulate(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "mo" {
		fmt.Fprintln(stderr, "usage: smsgw simulate mo --from NUMBER --text T [--to SHORTCODE] [--http ADDR]")
		return 2
	}
	fs := flag.NewFlagSet("simulate mo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the client's number (E.164)")
	to := fs.String("to", demoShortcode, "the shortcode the client texts")
	text := fs.String("text", "", "what the client texts, e.g. BAL")
	addr := fs.String("http", envOr("SMSGW_HTTP", "127.0.0.1:9191"), "the demo gateway's HTTP address (or a simulator's --control address)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *from == "" || *text == "" {
		fmt.Fprintln(stderr, "smsgw simulate mo: --from and --text are required")
		return 2
	}
	form := url.Values{"from": {*from}, "to": {*to}, "text": {*text}}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.PostForm("http://"+*addr+"/demo/mo", form)
	if err != nil {
		fmt.Fprintln(stderr, "smsgw simulate mo: is `smsgw serve --demo` running?", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusAccepted {
		fmt.Fprintf(stderr, "smsgw simulate mo: %s: %s", resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "MO from %s to %s sent to the gateway\n", gateway.MaskNumber(*from), *to)
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func splitHostPort(addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		panic(err)
	}
	return host, port
}

// explainRoute prints the routing decision for a number from a config file,
// without a running gateway (so breakers are not known).
func explainRoute(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("route", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (YAML)")
	to := fs.String("to", "", "destination number")
	tenant := fs.String("tenant", "", "tenant id (default: the first configured)")
	from := fs.String("from", "", "sender id (default: the tenant's)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || *to == "" {
		fmt.Fprintln(stderr, "usage: smsgw route --config FILE --to NUMBER [--tenant T] [--from S]")
		return 2
	}
	cfg, err := app.LoadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	q, err := cfg.RouteQuery(*tenant, *to, *from)
	if fe := (*gateway.FieldError)(nil); errors.As(err, &fe) {
		fmt.Fprintf(stderr, "smsgw route: --%s: %s\n", fe.Field, fe.Reason)
		return 1
	}
	table, err := routing.NewTable(cfg.Routes)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	q.At = time.Now()
	fmt.Fprint(stdout, table.Explain(q))
	return 0
}
