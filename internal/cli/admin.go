package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/gateway"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/routing"
)

// admin calls the Admin service of the gateway at --addr with the admin key.
func (g *globals) admin(ctx context.Context, call func(context.Context, pb.AdminClient) error) error {
	key := g.adminKeyOrEnv()
	if key == "" {
		return usageErr("no admin key: set --admin-key or SMSGW_ADMIN_KEY (one of the config's admin.api_keys)")
	}
	cl, err := client.Dial(g.addr, key)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("%s: %v", g.addr, err)}
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := call(ctx, pb.NewAdminClient(cl.Conn())); err != nil {
		return g.callErr(err)
	}
	return nil
}

func carriersCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "carriers",
		Short: "show each carrier: up or down, binds, window, parts in flight, TPS cap, breaker, throttling",
		Args:  cobra.NoArgs,
	}
	out := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		var resp *pb.ListCarriersResponse
		err := g.admin(c.Context(), func(ctx context.Context, a pb.AdminClient) (err error) {
			resp, err = a.ListCarriers(ctx, &pb.ListCarriersRequest{})
			return err
		})
		if err != nil {
			return err
		}
		type carrierJSON struct {
			Name      string  `json:"name"`
			Kind      string  `json:"kind"`
			Up        bool    `json:"up"`
			BindsUp   int32   `json:"binds_up"`
			Binds     int32   `json:"binds"`
			Window    int32   `json:"window"`
			InFlight  int32   `json:"in_flight"`
			TPS       float64 `json:"tps"`
			Breaker   string  `json:"breaker"`
			Throttled int64   `json:"throttled"`
		}
		views := []carrierJSON{}
		for _, cs := range resp.GetCarriers() {
			views = append(views, carrierJSON{cs.GetName(), cs.GetKind(), cs.GetUp(), cs.GetBindsUp(), cs.GetBinds(), cs.GetWindow(),
				cs.GetInFlight(), cs.GetTps(), cs.GetBreaker(), cs.GetThrottled()})
		}
		if *out == "json" {
			return writeJSON(c.OutOrStdout(), views)
		}
		tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CARRIER\tKIND\tSTATE\tBINDS\tWINDOW\tIN FLIGHT\tTPS\tBREAKER\tTHROTTLED")
		for _, v := range views {
			state, binds, inFlight, tps, throttled := "down", "-", "-", "-", "-"
			if v.Up {
				state = "up"
			}
			if v.Kind == "smpp" {
				binds, inFlight, throttled = fmt.Sprintf("%d/%d", v.BindsUp, v.Binds), fmt.Sprint(v.InFlight), fmt.Sprint(v.Throttled)
			}
			if v.TPS > 0 {
				tps = strconv.FormatFloat(v.TPS, 'f', -1, 64)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", v.Name, v.Kind, state, binds, v.Window, inFlight, tps, v.Breaker, throttled)
		}
		return tw.Flush()
	}
	return c
}

func countersCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "counters",
		Short: "print the gateway's counters (the smsgw_*_total metrics summed over labels)",
		Args:  cobra.NoArgs,
	}
	out := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		var resp *pb.GetCountersResponse
		err := g.admin(c.Context(), func(ctx context.Context, a pb.AdminClient) (err error) {
			resp, err = a.GetCounters(ctx, &pb.GetCountersRequest{})
			return err
		})
		if err != nil {
			return err
		}
		counters := resp.GetCounters()
		if counters == nil {
			counters = map[string]float64{}
		}
		if *out == "json" {
			return writeJSON(c.OutOrStdout(), counters) // encoding/json sorts map keys
		}
		names := make([]string, 0, len(counters))
		for n := range counters {
			names = append(names, n)
		}
		sort.Strings(names)
		// Names left-aligned, values right-aligned.
		nw, vw := len("COUNTER"), len("VALUE")
		values := make([]string, len(names))
		for i, n := range names {
			values[i] = strconv.FormatFloat(counters[n], 'f', -1, 64)
			nw, vw = max(nw, len(n)), max(vw, len(values[i]))
		}
		w := c.OutOrStdout()
		fmt.Fprintf(w, "%-*s  %*s\n", nw, "COUNTER", vw, "VALUE")
		for i, n := range names {
			fmt.Fprintf(w, "%-*s  %*s\n", nw, n, vw, values[i])
		}
		return nil
	}
	return c
}

func reloadCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "make the gateway reread its config file (routes, keys, keywords, …) without dropping a bind",
		Long: `Make the gateway reread its config file and apply what may change live:
routes, keywords, API keys, tenants' senders, rates and opt-out words, Fineract
keys and bridges, the webhook allow-list. A file with errors, or a change that
needs a restart, is refused whole with each field named; the config in force
stays. The same as sending the daemon SIGHUP, but with the answer.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var resp *pb.ReloadRoutesResponse
			err := g.admin(c.Context(), func(ctx context.Context, a pb.AdminClient) (err error) {
				resp, err = a.ReloadRoutes(ctx, &pb.ReloadRoutesRequest{})
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "reloaded: %d routes in force\n", resp.GetRoutes())
			return nil
		},
	}
}

type routeFlags struct {
	config, to, tenant, from string
}

func (r *routeFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&r.config, "config", "", "explain from this config file, without a running gateway (breakers unknown)")
	f.StringVar(&r.to, "to", "", "destination number (required)")
	f.StringVar(&r.tenant, "tenant", "", "tenant id (default: the first configured)")
	f.StringVar(&r.from, "from", "", "sender id (default: the tenant's)")
}

func routesCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "routes",
		Short: "explain routing decisions",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	var r routeFlags
	explain := &cobra.Command{
		Use:   "explain --to NUMBER",
		Short: "say which carriers a message would take now, in order, with cost and breaker state",
		Long: `Say which carriers a message to a number would take now, best first, with
cost and breaker state, and why any were left out. Asks the running gateway
(admin key); with --config FILE it reads the file instead and needs no gateway,
but then cannot know the breakers.`,
		Example: `  smsgw routes explain --to +254712345678
  smsgw routes explain --to 0712345678 --tenant mfi-a -o json
  smsgw routes explain --config /etc/smsgw/smsgw.yaml --to 0712345678`,
		Args: cobra.NoArgs,
	}
	out := outputFlag(explain)
	explain.RunE = func(c *cobra.Command, _ []string) error { return r.run(c, g, *out) }
	r.add(explain)
	c.AddCommand(explain)
	return c
}

// routeCmd is the older spelling of `routes explain --config`, kept for
// the scripts and docs that use it.
func routeCmd() *cobra.Command {
	var r routeFlags
	c := &cobra.Command{
		Use:    "route --config FILE --to NUMBER",
		Short:  "explain which carriers a message would take, from a config file",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if r.config == "" {
				return usageErr("--config is required (or use `smsgw routes explain` against a running gateway)")
			}
			return r.run(c, nil, "table")
		},
	}
	r.add(c)
	return c
}

func (r *routeFlags) run(c *cobra.Command, g *globals, out string) error {
	if r.to == "" {
		return usageErr("--to is required")
	}
	if r.config != "" {
		return r.fromFile(c, out)
	}
	var resp *pb.ExplainRouteResponse
	err := g.admin(c.Context(), func(ctx context.Context, a pb.AdminClient) (err error) {
		resp, err = a.ExplainRoute(ctx, &pb.ExplainRouteRequest{To: r.to, Tenant: r.tenant, From: r.from})
		return err
	})
	if err != nil {
		return err
	}
	if out == "json" {
		type candidateJSON struct {
			Carrier  string  `json:"carrier"`
			Cost     float64 `json:"cost"`
			Currency string  `json:"currency"`
			Breaker  string  `json:"breaker"`
		}
		v := struct {
			To          string          `json:"to"`
			Candidates  []candidateJSON `json:"candidates"`
			Explanation string          `json:"explanation"`
		}{To: resp.GetTo(), Candidates: []candidateJSON{}, Explanation: resp.GetExplanation()}
		for _, cd := range resp.GetCandidates() {
			v.Candidates = append(v.Candidates, candidateJSON{cd.GetCarrier(), cd.GetCost(), cd.GetCurrency(), cd.GetBreaker()})
		}
		return writeJSON(c.OutOrStdout(), v)
	}
	fmt.Fprint(c.OutOrStdout(), resp.GetExplanation())
	return nil
}

// fromFile explains from the config file alone.
func (r *routeFlags) fromFile(c *cobra.Command, out string) error {
	if out == "json" {
		return usageErr("-o json needs a running gateway; with --config the explanation is text")
	}
	cfg, err := app.LoadConfig(r.config)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	q, err := cfg.RouteQuery(r.tenant, r.to, r.from)
	if fe := (*gateway.FieldError)(nil); errors.As(err, &fe) {
		return &exitError{code: 1, msg: fmt.Sprintf("--%s: %s", fe.Field, fe.Reason)}
	}
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	table, err := routing.NewTable(cfg.Routes)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	q.At = time.Now()
	fmt.Fprint(c.OutOrStdout(), table.Explain(q))
	return nil
}
