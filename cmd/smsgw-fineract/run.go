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
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/internal/guard"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// list is a comma-separated flag value.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(s string) error {
	for _, w := range strings.Split(s, ",") {
		if w = strings.TrimSpace(w); w != "" {
			*l = append(*l, w)
		}
	}
	return nil
}

// configHelp is the config file's reference, printed by run --help; the
// keys are fineract.Config's.
const configHelp = `
Config file (--config FILE; "smsgw-fineract check-config FILE" validates it):

  gateway: {addr: 127.0.0.1:9190}          # smsgw's gRPC API
  metrics: {listen: 127.0.0.1:9192}        # the adapter's /metrics; "off" disables
  hooks: {listen: 0.0.0.0:9193}            # Fineract's Web hooks post to
                                           # http://HOST:9193/fineract/hooks/<tenant>/<secret>/
                                           # (default off; tls_cert, tls_key; max_body_bytes;
                                           # spool_dir keeps accepted hooks across restarts)
  tenants:                                 # one entry per smsgw tenant
    - name: mfi-ke                         # for logs
      api_key_env: SMSGW_API_KEY           # or api_key
      region: KE                           # reads national numbers stored in Fineract
      cursor: smsgw-fineract               # durable position on the gateway
      max_age: 1h                          # older messages get no answer
      max_parts: 3                         # SMS parts an answer may take
      keywords: {balance: [SALDO], due: [DENI]}
      language: en                         # built-in texts: en, fr
      date_format: "2 Jan 2006"            # Go layout
      money: {pattern: "{code} {amount}", decimal: ".", group: ","}
      templates: {balance: "...", due: "..."}   # override the language's texts
      fineract:
        url: https://fineract:8443/fineract-provider/api
        tenant: default                    # Fineract-Platform-TenantId
        # HTTP Basic (Fineract's default):
        username: sms
        password_env: FINERACT_PASSWORD    # or password
        # or, for a Fineract run as an OAuth2 resource server, bearer
        # tokens instead (not both):
        # oauth2:
        #   token_url: https://keycloak:8443/realms/fineract/protocol/openid-connect/token
        #   client_id: smsgw
        #   client_secret_env: FINERACT_CLIENT_SECRET   # or client_secret
        #   scopes: [fineract]
        #   # username: sms                # the password grant instead of
        #   # password_env: SMS_PASSWORD   # client credentials; the secret
        #                                  # is then optional (public client)
        insecure_tls: false                # self-signed demo servers only
        timeout: 10s                       # per request, token requests too
      events:                              # receipts and staff alerts (docs/fineract.md)
        secret: use-32-random-characters   # or secret_env; the hook URL's last segment
        allow_from: [10.0.0.0/8]           # optional: Fineract's addresses
        staff_groups: {managers: ["+254700000001"]}
        retry_for: 1h                      # while Fineract or the gateway is down
        rules:                             # SIGHUP reloads the events sections
          - name: repayment                # event: LOAN/REPAYMENT, LOAN/DISBURSE,
            event: LOAN/REPAYMENT          #   SAVINGSACCOUNT/DEPOSIT, CLIENT/CREATE
            to: [client, loan_officer]     # and/or group:NAME
            # min_amount: 50000  max_amount: …  products: [1]  offices: [1]
            # loan_officers: [5]  template: repayment_receipt  text: "…"
        digest: {at: "17:30", time_zone: Africa/Nairobi}   # loan officers' daily SMS
`

func runAdapter(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: smsgw-fineract run --config FILE\n       smsgw-fineract run [flags]   (one tenant, HTTP Basic)\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), configHelp)
	}
	path := fs.String("config", "", "config file (YAML); without it, one tenant from the flags below")
	addr := fs.String("addr", envOr("SMSGW_ADDR", "127.0.0.1:9190"), "the gateway's gRPC address")
	apiKey := fs.String("api-key", os.Getenv("SMSGW_API_KEY"), "the smsgw tenant's API key")
	region := fs.String("region", "KE", "region of national numbers stored in Fineract (ISO 3166)")
	furl := fs.String("fineract-url", envOr("FINERACT_URL", "https://127.0.0.1:8443/fineract-provider/api"), "Fineract's API base URL")
	ftenant := fs.String("fineract-tenant", "default", "Fineract-Platform-TenantId")
	fuser := fs.String("fineract-user", envOr("FINERACT_USER", "mifos"), "Fineract API user")
	fpass := fs.String("fineract-password", envOr("FINERACT_PASSWORD", "password"), "Fineract API password (prefer $FINERACT_PASSWORD)")
	insecure := fs.Bool("insecure-tls", false, "accept Fineract's self-signed certificate (demo servers only)")
	timeout := fs.Duration("fineract-timeout", 10*time.Second, "timeout of each Fineract request")
	cursor := fs.String("cursor", "smsgw-fineract", "the adapter's durable cursor on the gateway")
	language := fs.String("language", "en", "language of the built-in texts (en, fr)")
	var balance, due list
	fs.Var(&balance, "keywords-balance", "more words for BAL, comma-separated (e.g. SALDO)")
	fs.Var(&due, "keywords-due", "more words for DUE, comma-separated (e.g. DENI)")
	metricsAddr := fs.String("metrics-listen", "", `address of /metrics (default 127.0.0.1:9192, "off" disables)`)
	level := fs.String("log-level", "info", "debug, info, warn or error (debug logs message texts)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, "smsgw-fineract run:", err)
		return 2
	}
	var cfg *fineract.Config
	if *path != "" {
		var clash []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "config" && f.Name != "metrics-listen" && f.Name != "log-level" {
				clash = append(clash, "--"+f.Name)
			}
		})
		if len(clash) > 0 {
			fmt.Fprintf(stderr, "smsgw-fineract run: %s: set these in the config file, not with --config\n", strings.Join(clash, ", "))
			return 2
		}
		if cfg, err = fineract.LoadConfig(*path, nil); err != nil {
			fmt.Fprintln(stderr, "smsgw-fineract run:", err)
			return 1
		}
	} else {
		cfg = &fineract.Config{
			Gateway: fineract.GatewayConfig{Addr: *addr},
			Tenants: []fineract.TenantConfig{{
				Name: "default", APIKey: *apiKey, Region: *region, Cursor: *cursor,
				Keywords: fineract.KeywordConfig{Balance: balance, Due: due},
				Fineract: fineract.FineractConfig{URL: *furl, Tenant: *ftenant, Username: *fuser, Password: *fpass, InsecureTLS: *insecure, Timeout: *timeout},
				Texts:    fineract.TextConfig{Language: *language},
			}},
		}
		if err := cfg.Complete(os.Getenv); err != nil {
			fmt.Fprintf(stderr, "smsgw-fineract run: %v\n(the tenant comes from the flags: --api-key is tenants[0].api_key, and so on)\n", err)
			return 2
		}
	}
	if *metricsAddr != "" {
		cfg.Metrics.Listen = *metricsAddr
	}
	var reload func() (*fineract.Config, error)
	if *path != "" {
		reload = func() (*fineract.Config, error) { return fineract.LoadConfig(*path, nil) }
	}
	if err := serveAdapters(ctx, cfg, reload, log, stdout); err != nil {
		fmt.Fprintln(stderr, "smsgw-fineract run:", err)
		return 1
	}
	return 0
}

// serveAdapters runs one adapter per tenant, the events side of tenants
// with one, the hook and metrics listeners until ctx ends; SIGHUP reloads
// the tenants' events sections through reload (nil: no config file).
func serveAdapters(ctx context.Context, cfg *fineract.Config, reload func() (*fineract.Config, error), log *slog.Logger, stdout io.Writer) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := fineract.NewMetrics(reg)

	var adapters []*fineract.Adapter
	var jobs []func(context.Context) error
	notifiers := map[string]*fineract.Notifier{}
	var hookTenants []fineract.HookTenant
	for _, t := range cfg.Tenants {
		c, err := client.Dial(cfg.Gateway.Addr, t.APIKey)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", t.Name, err)
		}
		defer c.Close()
		gw := pb.NewMessagingClient(c.Conn())
		a, err := fineract.NewTenantAdapter(t, gw, m, log)
		if err != nil {
			return err
		}
		adapters = append(adapters, a)
		if t.Events == nil {
			continue
		}
		var spool string
		if cfg.Hooks.SpoolDir != "" {
			spool = filepath.Join(cfg.Hooks.SpoolDir, t.Name)
			if err := os.MkdirAll(spool, 0o700); err != nil {
				return fmt.Errorf("tenant %s: hooks.spool_dir: %w", t.Name, err)
			}
		}
		n, d, err := fineract.NewTenantNotifier(t, gw, spool, m, log)
		if err != nil {
			return err
		}
		notifiers[t.Name] = n
		jobs = append(jobs, n.Run)
		if d != nil {
			jobs = append(jobs, d.Run)
		}
		hookTenants = append(hookTenants, fineract.HookTenant{Name: t.Name, FineractTenant: t.Fineract.Tenant, Notifier: n})
	}
	hooks, err := serveHooks(ctx, cfg.Hooks, hookTenants, reg, m, log)
	if err != nil {
		return err
	}
	if reload != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go reloadOn(ctx, hup, reload, notifiers, log)
	}
	if hooks != "" {
		fmt.Fprintf(stdout, "smsgw-fineract: Fineract's Web hooks at %s%s<tenant>/<events.secret>/\n", hooks, fineract.HookPath)
	}

	var srv *http.Server
	if cfg.Metrics.Listen != "off" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener stopped", "err", err)
			}
		}()
		fmt.Fprintf(stdout, "smsgw-fineract: following %d tenant(s) on %s; metrics at http://%s/metrics\n", len(adapters), cfg.Gateway.Addr, ln.Addr())
	} else {
		fmt.Fprintf(stdout, "smsgw-fineract: following %d tenant(s) on %s\n", len(adapters), cfg.Gateway.Addr)
	}

	var wg sync.WaitGroup
	for _, a := range adapters {
		wg.Go(func() { _ = a.Run(ctx) })
	}
	for _, j := range jobs {
		wg.Go(func() { _ = j(ctx) })
	}
	<-ctx.Done()
	log.Info("stopping")
	wg.Wait()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return nil
}

// serveHooks serves the hook endpoint until ctx ends; it returns its base
// URL, or "" when hooks.listen is off.
func serveHooks(ctx context.Context, hc fineract.HooksConfig, tenants []fineract.HookTenant, reg prometheus.Registerer, m *fineract.Metrics, log *slog.Logger) (string, error) {
	if hc.Listen == "off" {
		return "", nil
	}
	backoff, err := guard.NewBackoff(guard.AuthConfig{}, reg, nil)
	if err != nil {
		return "", err
	}
	hs, err := fineract.NewHookServer(fineract.HookServerOptions{Tenants: tenants, MaxBodyBytes: hc.MaxBodyBytes, Backoff: backoff, Metrics: m, Log: log})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", hc.Listen)
	if err != nil {
		return "", fmt.Errorf("hooks listener: %w", err)
	}
	srv := guard.ListenerConfig{}.WithDefaults(guard.DefaultKannel).HTTPServer(hs)
	scheme := "http"
	if hc.TLSCert != "" {
		scheme = "https"
	}
	go func() {
		var err error
		if hc.TLSCert != "" {
			err = srv.ServeTLS(ln, hc.TLSCert, hc.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("hooks listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return scheme + "://" + ln.Addr().String(), nil
}

// reloadOn reads the config again on each signal and gives every running
// tenant its new events section (rules, staff groups, secret, allow-list,
// digest time, texts). A config with errors changes nothing; other
// changes (a new tenant, Fineract's URL) need a restart.
func reloadOn(ctx context.Context, sig <-chan os.Signal, reload func() (*fineract.Config, error), notifiers map[string]*fineract.Notifier, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		cfg, err := reload()
		if err != nil {
			log.Error("config reload failed; keeping the running config", "err", err)
			continue
		}
		for _, t := range cfg.Tenants {
			n, ok := notifiers[t.Name]
			if !ok || t.Events == nil {
				if ok != (t.Events != nil) {
					log.Warn("adding or removing a tenant's events section needs a restart", "tenant", t.Name)
				}
				continue
			}
			texts, err := fineract.NewTexts(t.Texts)
			if err == nil {
				err = n.Update(t.Events, texts)
			}
			if err != nil {
				log.Error("events reload failed; keeping the running rules", "tenant", t.Name, "err", err)
				continue
			}
			log.Info("events config reloaded", "tenant", t.Name, "rules", len(t.Events.Rules))
		}
	}
}

func checkConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: smsgw-fineract check-config FILE")
		return 2
	}
	if _, err := fineract.LoadConfig(args[0], nil); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return 0
}
