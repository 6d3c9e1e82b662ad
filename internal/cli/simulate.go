package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/gateway"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

func simulateSMSCCmd() *cobra.Command {
	var (
		listen, control, level string
		delay                  time.Duration
		hexIDs                 bool
	)
	c := &cobra.Command{
		Use:   "simulate-smsc",
		Short: "run a standalone SMSC simulator that accepts binds and sends receipts",
		Long: `Run a standalone SMSC simulator: it accepts SMPP binds, answers submit_sm and
sends a delivery receipt for each. With --control it also serves POST /demo/mo,
so "smsgw simulate mo --http ADDR" can make a client text the gateway.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			stdout := c.OutOrStdout()
			log, err := newLogger(c.ErrOrStderr(), level)
			if err != nil {
				return err
			}
			opts := []smsc.Option{smsc.WithoutRecording(), smsc.WithReceiptDelay(delay, delay), smsc.WithLogger(log)}
			if hexIDs {
				opts = append(opts, smsc.WithIDFormat(smsc.IDHexResp))
			}
			sim, err := smsc.Listen(listen, opts...)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			fmt.Fprintf(stdout, "SMSC simulator listening on %s\n", sim.Addr())
			if control != "" {
				ln, err := net.Listen("tcp", control)
				if err != nil {
					sim.Close()
					return &exitError{code: 1, msg: "--control: " + err.Error()}
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
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:2775", "address to accept binds on")
	f.DurationVar(&delay, "receipt-delay", 50*time.Millisecond, "delay before a delivery receipt")
	f.BoolVar(&hexIDs, "hex-ids", false, "write message ids in hex in submit_sm_resp (decimal in receipts)")
	f.StringVar(&control, "control", "", "serve POST /demo/mo here, e.g. 127.0.0.1:2776")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	return c
}

func simulateCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "simulate",
		Short: "drive a simulated carrier from outside (simulate mo: a client texts the shortcode)",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(simulateMOCmd(g))
	return c
}

func simulateMOCmd(g *globals) *cobra.Command {
	var (
		from, to, text, addr string
		noWait               bool
		timeout              time.Duration
	)
	c := &cobra.Command{
		Use:   "mo --from NUMBER --text TEXT",
		Short: "a client texts the demo's shortcode (HELLO, HELP, STOP, BAL…); prints the gateway's reply",
		Long: `Make a client text the demo's shortcode through the demo's (or a standalone
simulator's --control) endpoint, then wait for the gateway's reply to that
number and print it. The reply is read through the gRPC API at --addr with
--api-key (default: the demo's key); --no-wait only sends.`,
		Example: `  smsgw simulate mo --from +254712345678 --text HELLO
  smsgw simulate mo --from +254712345678 --text STOP --no-wait`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if from == "" || text == "" {
				return usageErr("--from and --text are required")
			}
			stdout := c.OutOrStdout()
			start := time.Now()
			form := url.Values{"from": {from}, "to": {to}, "text": {text}}
			hc := &http.Client{Timeout: 10 * time.Second}
			resp, err := hc.PostForm("http://"+addr+"/demo/mo", form)
			if err != nil {
				return &exitError{code: 1, msg: fmt.Sprintf("is `smsgw serve --demo` running with HTTP at %s? (set --http or SMSGW_HTTP): %v", addr, err)}
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusAccepted {
				return &exitError{code: 1, msg: fmt.Sprintf("%s: %s", resp.Status, body)}
			}
			fmt.Fprintf(stdout, "MO from %s to %s sent to the gateway\n", gateway.MaskNumber(from), to)
			if noWait {
				return nil
			}
			key := cmpOr(g.tenantKey(), DemoKey)
			cl, err := client.Dial(g.addr, key)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			defer cl.Close()
			m, err := waitReply(c.Context(), cl, from, start, timeout)
			if err != nil {
				return g.callErr(err)
			}
			if m == nil {
				fmt.Fprintf(c.ErrOrStderr(), "no reply within %s (a word without a keyword rule, a Fineract bridge that is not running, or a reply budget spent)\n", timeout)
				return &exitError{code: 1}
			}
			fmt.Fprintf(stdout, "reply from %s: %s\n", orDash(m.GetFrom()), m.GetText())
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&from, "from", "", "the client's number (E.164)")
	f.StringVar(&to, "to", DemoShortcode, "the shortcode the client texts")
	f.StringVar(&text, "text", "", "what the client texts, e.g. HELLO")
	f.StringVar(&addr, "http", envOr("SMSGW_HTTP", demoHTTP), "the demo gateway's HTTP address, or a simulator's --control address ($SMSGW_HTTP)")
	f.BoolVar(&noWait, "no-wait", false, "send the MO and exit without waiting for the reply")
	f.DurationVar(&timeout, "timeout", 15*time.Second, "how long to wait for the reply")
	return c
}

// waitReply polls for the first message to number created since start;
// nil when none came within timeout.
func waitReply(ctx context.Context, cl *client.Client, number string, start time.Time, timeout time.Duration) (*pb.Message, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A second's slack for a clock read before the gateway's.
	req := &pb.ListMessagesRequest{To: number, Since: timestamppb.New(start.Add(-time.Second)), PageSize: 1}
	for {
		resp, err := cl.ListMessages(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, err
		}
		if ms := resp.GetMessages(); len(ms) > 0 {
			return ms[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
