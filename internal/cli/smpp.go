package cli

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

func smppAccountsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "smpp-accounts",
		Short: "show the SMPP server's accounts and the binds each has open: type, address, since, submits in flight",
		Args:  cobra.NoArgs,
	}
	out := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		var resp *pb.ListSMPPAccountsResponse
		err := g.admin(c.Context(), func(ctx context.Context, a pb.AdminClient) (err error) {
			resp, err = a.ListSMPPAccounts(ctx, &pb.ListSMPPAccountsRequest{})
			return err
		})
		if err != nil {
			return err
		}
		type bindJSON struct {
			Type     string    `json:"type"`
			Remote   string    `json:"remote"`
			Since    time.Time `json:"since"`
			InFlight int32     `json:"in_flight"`
		}
		type accountJSON struct {
			SystemID string     `json:"system_id"`
			Tenant   string     `json:"tenant"`
			MaxBinds int32      `json:"max_binds"`
			Window   int32      `json:"window"`
			Rate     float64    `json:"rate"`
			Binds    []bindJSON `json:"binds"`
		}
		views := []accountJSON{}
		for _, a := range resp.GetAccounts() {
			v := accountJSON{a.GetSystemId(), a.GetTenant(), a.GetMaxBinds(), a.GetWindow(), a.GetRate(), []bindJSON{}}
			for _, b := range a.GetBinds() {
				v.Binds = append(v.Binds, bindJSON{b.GetType(), b.GetRemote(), b.GetBindTime().AsTime().UTC(), b.GetInFlight()})
			}
			views = append(views, v)
		}
		if *out == "json" {
			return writeJSON(c.OutOrStdout(), views)
		}
		tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SYSTEM_ID\tTENANT\tBINDS\tWINDOW\tRATE\tBIND\tFROM\tSINCE\tIN FLIGHT")
		for _, v := range views {
			rate := "-"
			if v.Rate > 0 {
				rate = strconv.FormatFloat(v.Rate, 'f', -1, 64)
			}
			head := fmt.Sprintf("%s\t%s\t%d/%d\t%d\t%s", v.SystemID, v.Tenant, len(v.Binds), v.MaxBinds, v.Window, rate)
			if len(v.Binds) == 0 {
				fmt.Fprintf(tw, "%s\t-\t-\t-\t-\n", head)
			}
			for i, b := range v.Binds {
				if i > 0 {
					head = "\t\t\t\t"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", head, b.Type, b.Remote, b.Since.Format(time.RFC3339), b.InFlight)
			}
		}
		return tw.Flush()
	}
	return c
}
