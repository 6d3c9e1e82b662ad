package cli

import (
	"context"
	"errors"
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

	"github.com/spf13/cobra"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/httpapi/console"
	"github.com/openmf/smsgw/routing"
	"github.com/openmf/smsgw/smpp"
	"github.com/openmf/smsgw/smpp/smsc"
)

// DemoKey is the demo tenant's API key. The demo listens on loopback only.
const DemoKey = "demo-api-key"

// DemoAdminKey opens the demo's Admin service (carriers, counters, routes
// explain, reload).
const DemoAdminKey = "demo-admin-key-0001"

// DemoShortcode is the number the demo's clients text.
const DemoShortcode = "22555"

// DemoConsoleUser and DemoConsolePassword sign in to the demo's web
// console as an operator; demoConsoleHash is the password's bcrypt hash.
const (
	DemoConsoleUser     = "demo"
	DemoConsolePassword = "demo-console"
	demoConsoleHash     = "$2a$10$OyRuu7FrseXjRENBUC305ugdbre1BnsFOkGZ9VR9AE7D2g/ZYh9UW"
)

// Where the demo listens unless --grpc-listen/--http-listen or
// SMSGW_GRPC_LISTEN/SMSGW_HTTP_LISTEN move it.
const (
	demoGRPC = "127.0.0.1:9190"
	demoHTTP = "127.0.0.1:9191"
)

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErr("--log-level: %v", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func serveCmd() *cobra.Command {
	var (
		path, level, grpcAddr, httpAddr string
		demo                            bool
		grace                           time.Duration
	)
	c := &cobra.Command{
		Use:   "serve (--config FILE | --demo)",
		Short: "run the gateway (--demo: with a built-in simulated carrier and a demo tenant)",
		Long: `Run the gateway from a config file, or the demo: a built-in simulated carrier,
a demo tenant (API key ` + DemoKey + `), the web console (user ` + DemoConsoleUser + `, password
` + DemoConsolePassword + `), the store under ./data.

--grpc-listen and --http-listen (or SMSGW_GRPC_LISTEN and SMSGW_HTTP_LISTEN)
override the addresses in the file, and move the demo off 127.0.0.1:9190 and
127.0.0.1:9191; port 0 takes a free port. The addresses in use are logged, and
the demo prints them. SIGHUP (or "smsgw reload") rereads the file.`,
		Example: `  smsgw serve --config /etc/smsgw/smsgw.yaml
  smsgw serve --demo --grpc-listen 127.0.0.1:9290 --http-listen 127.0.0.1:9291`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			stdout, stderr := c.OutOrStdout(), c.ErrOrStderr()
			log, err := newLogger(stderr, level)
			if err != nil {
				return err
			}
			var (
				cfg    *config.Config
				routes map[string]http.Handler
			)
			switch {
			case demo && path != "":
				return usageErr("give --config or --demo, not both")
			case demo:
				sim, err := smsc.Listen("127.0.0.1:0", smsc.WithoutRecording(), smsc.WithReceiptDelay(200*time.Millisecond, 800*time.Millisecond),
					smsc.WithLogger(log.With("component", "demo-carrier")))
				if err != nil {
					return &exitError{code: 1, msg: "demo carrier: " + err.Error()}
				}
				defer sim.Close()
				cfg = demoConfig(sim.Addr())
				routes = map[string]http.Handler{"POST /demo/mo": http.StripPrefix("/demo", sim.ControlHandler())}
			case path != "":
				if cfg, err = app.LoadConfig(path); err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
			default:
				return usageErr("--config FILE or --demo is required")
			}
			if grpcAddr != "" {
				cfg.Listen.GRPC = grpcAddr
			}
			if httpAddr != "" {
				cfg.Listen.HTTP = httpAddr
			}

			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := app.New(ctx, cfg, app.Options{Logger: log, ConfigPath: path, Routes: routes})
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			if err := a.Start(); err != nil {
				_ = a.Stop(context.Background())
				return &exitError{code: 1, msg: fmt.Sprintf("%v (another gateway on these ports? --grpc-listen and --http-listen move it)", err)}
			}
			if demo {
				fmt.Fprintf(stdout, `smsgw demo is running: gRPC %s, HTTP http://%s (metrics at /metrics)
Web console: http://%s/console/ (user %s, password %s)
In another shell:
  export SMSGW_ADDR=%s SMSGW_HTTP=%s SMSGW_API_KEY=%s SMSGW_ADMIN_KEY=%s
  ./bin/smsgw send --to +254712345678 --text "Your loan repayment of KES 1,500 is due on Friday" --wait
  ./bin/smsgw simulate mo --from +254712345678 --text HELLO     (a client texting the shortcode %s)
  ./bin/smsgw messages list; ./bin/smsgw carriers; ./bin/smsgw --help
`, a.GRPCAddr(), a.HTTPAddr(), a.HTTPAddr(), DemoConsoleUser, DemoConsolePassword, a.GRPCAddr(), a.HTTPAddr(), DemoKey, DemoAdminKey, DemoShortcode)
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-hup:
					if path == "" {
						log.Warn("SIGHUP ignored: the demo has no config file")
						continue
					}
					if _, err := a.Reload(); err != nil {
						log.Error("reload refused; the config in force stays", "err", err)
					}
				}
			}
			log.Info("stopping", "timeout", grace)
			sctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			if err := a.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return &exitError{code: 1, msg: "stop: " + err.Error()}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&path, "config", "", "config file (YAML)")
	f.BoolVar(&demo, "demo", false, "run with a built-in simulated carrier, a demo tenant and the store under ./data")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&grace, "shutdown-timeout", 30*time.Second, "how long a stop waits for in-flight submissions")
	f.StringVar(&grpcAddr, "grpc-listen", os.Getenv("SMSGW_GRPC_LISTEN"), "gRPC listen address, over the file's (demo: "+demoGRPC+") ($SMSGW_GRPC_LISTEN)")
	f.StringVar(&httpAddr, "http-listen", os.Getenv("SMSGW_HTTP_LISTEN"), "HTTP listen address, over the file's (demo: "+demoHTTP+") ($SMSGW_HTTP_LISTEN)")
	return c
}

// demoConfig is what `make run` runs: everything on loopback, the store in
// ./data so messages survive a restart of the demo.
func demoConfig(carrierAddr string) *config.Config {
	host, port := splitHostPort(carrierAddr)
	cfg := &config.Config{
		Listen: config.Listen{GRPC: demoGRPC, HTTP: demoHTTP},
		Store:  store.Config{Driver: "sqlite", Path: "./data/smsgw.db"},
		Tenants: []config.Tenant{{
			ID: "demo", APIKeys: []string{DemoKey}, DefaultRegion: "KE", Sender: "MFI", Senders: []string{DemoShortcode},
		}},
		Keywords: []config.Keyword{{Keyword: "HELLO", Aliases: []string{"HI"}, Reply: "Hello from the smsgw demo. Text BAL or DUE once smsgw-fineract runs."}},
		Carriers: []config.Carrier{{Name: "demo-carrier", Kind: "smpp", Section: &smpp.Config{
			Host: host, Port: port, SystemID: "demo", Password: "demo", Bind: "transceiver",
			Binds: 1, Window: 32, EnquireLink: 30 * time.Second,
		}}},
		Routes: []routing.Route{{Prefix: "+", Carrier: "demo-carrier", Cost: 1, Currency: "KES"}},
		Admin:  config.Admin{APIKeys: []string{DemoAdminKey}},
		Console: &console.Config{Users: []console.User{
			{Username: DemoConsoleUser, PasswordHash: demoConsoleHash, Role: console.Operator},
		}},
	}
	if err := config.Complete(cfg); err != nil {
		panic(fmt.Sprintf("demo config is invalid: %v", err))
	}
	return cfg
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

// checkConfigCmd validates a file and prints every error; then it prints
// the warnings (plain-text secrets, short keys, listeners open off the
// host), which fail the check only with --strict.
func checkConfigCmd() *cobra.Command {
	var strict bool
	c := &cobra.Command{
		Use:   "check-config [--strict] FILE",
		Short: "validate a config file: every error with its path and line, then warnings",
		Long: `Validate a config file and report every error at once, each with its YAML path
and line; then warn of plain-text secrets, short keys, listeners open off the
host without TLS and open /metrics or /status. Warnings fail the check only
with --strict. ${VAR} references are expanded from the environment, as serve
does: load the env file first (set -a; . /etc/smsgw/smsgw.env; set +a).`,
		Args: exactArgs(1, "one FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			path := args[0]
			stdout, stderr := c.OutOrStdout(), c.ErrOrStderr()
			cfg, err := app.LoadConfig(path)
			if ce := (*config.Errors)(nil); errors.As(err, &ce) {
				// One problem a line, each with its path and line.
				for _, e := range ce.List {
					fmt.Fprintf(stderr, "%s: %v\n", path, e)
				}
				noun := "problems"
				if len(ce.List) == 1 {
					noun = "problem"
				}
				fmt.Fprintf(stderr, "%s: %d %s\n", path, len(ce.List), noun)
				if strings.Contains(ce.Error(), "is not set") {
					fmt.Fprintln(stderr, "(the ${VAR} values come from the environment: load the env file first, e.g. set -a; . /etc/smsgw/env; set +a — deploy/smsgw.example.env lists the example's)")
				}
				return &exitError{code: 1}
			}
			if err != nil {
				fmt.Fprintln(stderr, err)
				return &exitError{code: 1}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			warnings := config.Warnings(cfg, raw)
			for _, w := range warnings {
				fmt.Fprintf(stderr, "%s: warning: %s\n", path, w)
			}
			switch {
			case len(warnings) > 0 && strict:
				fmt.Fprintf(stderr, "%s: %d warnings; --strict refuses them\n", path, len(warnings))
				return &exitError{code: 1}
			case len(warnings) > 0:
				fmt.Fprintf(stdout, "%s: ok, %d warnings\n", path, len(warnings))
			default:
				fmt.Fprintf(stdout, "%s: ok\n", path)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&strict, "strict", false, "exit 1 when there are warnings too")
	return c
}
