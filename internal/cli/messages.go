package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openmf/smsgw/client"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// tenant dials the gateway with the tenant API key.
func (g *globals) tenant() (*client.Client, error) {
	key := g.tenantKey()
	if key == "" {
		return nil, usageErr("no API key: set --api-key or SMSGW_API_KEY")
	}
	cl, err := client.Dial(g.addr, key)
	if err != nil {
		return nil, &exitError{code: 1, msg: fmt.Sprintf("%s: %v", g.addr, err)}
	}
	return cl, nil
}

func sendCmd(g *globals) *cobra.Command {
	var (
		req     pb.SendRequest
		wait    bool
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "send --to NUMBER --text TEXT",
		Short: "send one SMS and print its id (--wait: and its final status)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if req.To == "" || req.Text == "" {
				return usageErr("--to and --text are required")
			}
			cl, err := g.tenant()
			if err != nil {
				return err
			}
			defer cl.Close()
			stdout, stderr := c.OutOrStdout(), c.ErrOrStderr()
			ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
			defer cancel()
			resp, err := cl.Send(ctx, &req)
			if err != nil {
				return g.callErr(err)
			}
			fmt.Fprintln(stdout, resp.GetId())
			switch resp.GetStatus() {
			case pb.Status_STATUS_OPTED_OUT:
				fmt.Fprintln(stderr, "stored OPTED_OUT and not sent: the number sent STOP to this tenant")
			case pb.Status_STATUS_FAILED:
				fmt.Fprintln(stderr, "stored FAILED and not sent: no configured route covers the number (smsgw get shows the reason)")
			case pb.Status_STATUS_REJECTED:
				fmt.Fprintln(stderr, "stored REJECTED and not sent: the tenant's limits refuse it (smsgw get shows the reason)")
			}
			if !wait {
				return nil
			}
			deadline := time.Now().Add(timeout)
			for {
				m, err := cl.GetMessage(ctx, &pb.GetMessageRequest{Id: resp.GetId()})
				if err != nil {
					return g.callErr(err)
				}
				st := m.GetStatus()
				if st > pb.Status_STATUS_SUBMITTED {
					fmt.Fprintln(stdout, statusName(st))
					if st == pb.Status_STATUS_DELIVERED {
						return nil
					}
					if m.GetLastError() != "" {
						fmt.Fprintln(stderr, "last error:", m.GetLastError())
					}
					return &exitError{code: 1}
				}
				if time.Now().After(deadline) {
					fmt.Fprintf(stderr, "%s: still %s after %s\n", c.CommandPath(), statusName(st), timeout)
					if m.GetLastError() != "" {
						fmt.Fprintln(stderr, "last error:", m.GetLastError())
					}
					return &exitError{code: 1}
				}
				time.Sleep(100 * time.Millisecond)
			}
		},
	}
	f := c.Flags()
	f.StringVar(&req.To, "to", "", "destination number (E.164, or national in the tenant's region)")
	f.StringVar(&req.Text, "text", "", "message text")
	f.StringVar(&req.From, "from", "", "sender id (default: the tenant's)")
	f.StringVar(&req.ClientRef, "client-ref", "", "idempotency key: sending again with it returns the first message")
	f.BoolVar(&wait, "wait", false, "wait for the final status and print it")
	f.DurationVar(&timeout, "timeout", time.Minute, "how long --wait waits")
	return c
}

func getCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "print a message, its parts, carrier ids and attempts as JSON",
		Args:  exactArgs(1, "ID"),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.tenant()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			m, err := cl.GetMessage(ctx, &pb.GetMessageRequest{Id: args[0]})
			if err != nil {
				return g.callErr(err)
			}
			return writeJSON(c.OutOrStdout(), messageView(m))
		},
	}
}

// exactArgs is cobra.ExactArgs with the argument named in the error.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("want %s, got %d arguments (see --help)", names, len(args))
		}
		return nil
	}
}

func messagesCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "messages",
		Short: "list and cancel the tenant's messages",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(messagesListCmd(g), messagesCancelCmd(g))
	return c
}

// parseWhen reads a --since/--until value: RFC 3339, a date (UTC
// midnight), or a duration meaning that long ago ("2h", "30m").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2026-12-05T06:00:00Z), a date (2026-12-05) or a duration ago (2h)", s)
}

func messagesListCmd(g *globals) *cobra.Command {
	var (
		statusFlag, to, since, until, ref string
		limit                             int
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "list messages, newest first, filtered by status, number, time or client_ref",
		Example: `  smsgw messages list --status failed --since 24h
  smsgw messages list --to 0712345678 -o json
  smsgw messages list --client-ref loan-42-reminder`,
		Args: cobra.NoArgs,
	}
	out := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		req := &pb.ListMessagesRequest{To: to}
		if statusFlag != "" {
			st, err := parseStatus(statusFlag)
			if err != nil {
				return usageErr("--status: %v", err)
			}
			req.Status = st
		}
		now := time.Now()
		if since != "" {
			t, err := parseWhen(since, now)
			if err != nil {
				return usageErr("--since: %v", err)
			}
			req.Since = timestamppb.New(t)
		}
		if until != "" {
			t, err := parseWhen(until, now)
			if err != nil {
				return usageErr("--until: %v", err)
			}
			req.Until = timestamppb.New(t)
		}
		if limit < 1 {
			return usageErr("--limit %d: want at least 1", limit)
		}
		cl, err := g.tenant()
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var msgs []*pb.Message
		// The API has no client_ref filter: pages are read until one
		// matches (client_ref is unique per tenant) or the pages end.
		for len(msgs) < limit {
			req.PageSize = int32(min(limit-len(msgs), 500))
			if ref != "" {
				req.PageSize = 500
			}
			resp, err := cl.ListMessages(ctx, req)
			if err != nil {
				return g.callErr(err)
			}
			for _, m := range resp.GetMessages() {
				if ref == "" || m.GetClientRef() == ref {
					msgs = append(msgs, m)
				}
			}
			if resp.GetNextPageToken() == "" || (ref != "" && len(msgs) > 0) {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if len(msgs) > limit {
			msgs = msgs[:limit]
		}
		if *out == "json" {
			views := make([]messageJSON, 0, len(msgs))
			for _, m := range msgs {
				views = append(views, messageView(m))
			}
			return writeJSON(c.OutOrStdout(), views)
		}
		if len(msgs) == 0 {
			fmt.Fprintln(c.ErrOrStderr(), "no messages match")
			return nil
		}
		tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED (UTC)\tSTATUS\tTO\tFROM\tCARRIER\tCLIENT REF\tLAST ERROR")
		for _, m := range msgs {
			v := messageView(m)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, shortTime(v.CreatedAt), v.Status, v.To, orDash(v.From),
				orDash(v.Carrier), orDash(v.ClientRef), orDash(truncate(v.LastError, 60)))
		}
		return tw.Flush()
	}
	f := c.Flags()
	f.StringVar(&statusFlag, "status", "", "only this status: accepted, submitted, delivered, undelivered, expired, rejected, failed, canceled, opted_out")
	f.StringVar(&to, "to", "", "only to this number (E.164, or national in the tenant's region)")
	f.StringVar(&since, "since", "", "created at or after: RFC 3339, a date, or a duration ago (24h)")
	f.StringVar(&until, "until", "", "created before: RFC 3339, a date, or a duration ago")
	f.StringVar(&ref, "client-ref", "", "only the message sent with this client_ref")
	f.IntVar(&limit, "limit", 50, "at most this many messages")
	return c
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func messagesCancelCmd(g *globals) *cobra.Command {
	var out *string
	c := &cobra.Command{
		Use:   "cancel ID...",
		Short: "cancel messages not yet taken by a carrier",
		Long: `Cancel messages not yet taken by a carrier (ACCEPTED: scheduled, or waiting
for a carrier). A message already submitted cannot be called back; the command
says so and exits 1.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("want at least one message ID")
			}
			return nil
		},
	}
	out = outputFlag(c)
	c.RunE = func(c *cobra.Command, args []string) error {
		cl, err := g.tenant()
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var (
			views  []messageJSON
			failed bool
		)
		tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		if *out == "table" {
			fmt.Fprintln(tw, "ID\tSTATUS")
		}
		for _, id := range args {
			m, err := cl.CancelMessage(ctx, &pb.CancelMessageRequest{Id: id})
			if err != nil {
				failed = true
				fmt.Fprintf(c.ErrOrStderr(), "%s: %s: %v\n", c.CommandPath(), id, g.callErr(err))
				continue
			}
			views = append(views, messageView(m))
			if *out == "table" {
				fmt.Fprintf(tw, "%s\t%s\n", m.GetId(), statusName(m.GetStatus()))
			}
		}
		if *out == "json" {
			if views == nil {
				views = []messageJSON{}
			}
			if err := writeJSON(c.OutOrStdout(), views); err != nil {
				return err
			}
		} else if err := tw.Flush(); err != nil {
			return err
		}
		if failed {
			return &exitError{code: 1}
		}
		return nil
	}
	return c
}

func eventsCmd(g *globals) *cobra.Command {
	var (
		from      int64
		idle      time.Duration
		cursor    string
		kinds     []string
		latest    bool
		heartbeat time.Duration
	)
	c := &cobra.Command{
		Use:   "events",
		Short: "print the tenant's events (status changes, inbound SMS, console audit) as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req := &pb.StreamEventsRequest{FromSeq: from, Cursor: cursor}
			if latest {
				if from != 0 {
					return usageErr("--latest and --from-seq: give one")
				}
				req.Start = pb.StartPosition_START_POSITION_LATEST
			}
			if heartbeat > 0 {
				req.HeartbeatInterval = durationpb.New(heartbeat)
			}
			for _, k := range kinds {
				v, ok := pb.EventKind_value["EVENT_KIND_"+strings.ToUpper(k)]
				if !ok || v == 0 {
					return usageErr("--kind %q: want status, inbound or audit", k)
				}
				req.Kinds = append(req.Kinds, pb.EventKind(v))
			}
			cl, err := g.tenant()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := cl.StreamEvents(ctx, req)
			if err != nil {
				return g.callErr(err)
			}
			var timer *time.Timer
			if idle > 0 {
				timer = time.AfterFunc(idle, cancel)
			}
			for {
				ev, err := stream.Recv()
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return g.callErr(err)
				}
				if timer != nil && ev.GetKind() != pb.EventKind_EVENT_KIND_HEARTBEAT {
					timer.Reset(idle) // a heartbeat is not an event for --idle
				}
				if err := writeJSONLine(c.OutOrStdout(), eventView(ev)); err != nil {
					return err
				}
			}
		},
	}
	f := c.Flags()
	f.Int64Var(&from, "from-seq", 0, "first sequence number to print")
	f.DurationVar(&idle, "idle", 0, "exit after this long without an event (0: follow until interrupted)")
	f.StringVar(&cursor, "cursor", "", "start after this durable cursor's acknowledged position")
	f.StringSliceVar(&kinds, "kind", nil, "only these kinds: status, inbound, audit (default status and inbound)")
	f.BoolVar(&latest, "latest", false, "only events appended from now on (no history)")
	f.DurationVar(&heartbeat, "heartbeat", 0, "ask for a HEARTBEAT event after this long without others (at least 1s)")
	return c
}
