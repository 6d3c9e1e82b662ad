package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

func cursorsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "cursors",
		Short: "list the tenant's event cursors (its consumers) and how far each got",
		Long: `List the tenant's named event cursors: each consumer of the event stream
(an adapter, smsgw-fineract) acknowledges with AckEvents under its name. A
cursor whose last acknowledgement is old belongs to a consumer that stopped or
fell behind; "smsgw cursors delete NAME" retires one that is gone for good.`,
		Args: cobra.NoArgs,
	}
	out := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		cl, err := g.tenant()
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := cl.ListCursors(ctx, &pb.ListCursorsRequest{})
		if err != nil {
			return g.callErr(err)
		}
		type cursorJSON struct {
			Name       string     `json:"name"`
			Seq        int64      `json:"seq"`
			UpdateTime *time.Time `json:"update_time,omitempty"`
		}
		views := []cursorJSON{}
		for _, cur := range resp.GetCursors() {
			views = append(views, cursorJSON{cur.GetName(), cur.GetSeq(), ts(cur.GetUpdateTime())})
		}
		if *out == "json" {
			return writeJSON(c.OutOrStdout(), views)
		}
		if len(views) == 0 {
			fmt.Fprintln(c.ErrOrStderr(), "no cursors: no consumer has acknowledged events yet")
			return nil
		}
		tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CURSOR\tSEQ\tLAST ACK (UTC)\tAGO")
		now := time.Now()
		for _, v := range views {
			ago := "-"
			if v.UpdateTime != nil {
				ago = now.Sub(*v.UpdateTime).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", v.Name, v.Seq, shortTime(v.UpdateTime), ago)
		}
		return tw.Flush()
	}
	c.AddCommand(&cobra.Command{
		Use:   "delete NAME",
		Short: "forget a retired consumer's cursor",
		Args:  exactArgs(1, "the cursor's NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.tenant()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := cl.DeleteCursor(ctx, &pb.DeleteCursorRequest{Name: args[0]}); err != nil {
				return g.callErr(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "cursor %s deleted\n", args[0])
			return nil
		},
	})
	return c
}
