package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// apiKeyJSON is a stored key as the api-keys commands print it.
type apiKeyJSON struct {
	Prefix    string     `json:"prefix"`
	Tenant    string     `json:"tenant"`
	Label     string     `json:"label,omitempty"`
	Created   *time.Time `json:"create_time,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
	Expires   *time.Time `json:"expire_time,omitempty"`
	Revoked   *time.Time `json:"revoke_time,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
}

func apiKeyView(k *pb.StoredAPIKey) apiKeyJSON {
	return apiKeyJSON{k.GetPrefix(), k.GetTenant(), k.GetLabel(), ts(k.GetCreateTime()), k.GetCreatedBy(),
		ts(k.GetExpireTime()), ts(k.GetRevokeTime()), k.GetRevokedBy()}
}

func apiKeysCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "api-keys",
		Short: "list the tenants' stored API keys (admin key); create and revoke them",
		Long: `List the tenants' API keys kept in the store (made here or in the web
console), revoked and expired ones too; the config's keys are not listed. A key
itself is shown once, when it is made, and never again. Needs an admin key.`,
		Args: cobra.NoArgs,
	}
	var tenant string
	c.Flags().StringVar(&tenant, "tenant", "", "only this tenant's keys")
	out := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		var resp *pb.ListAPIKeysResponse
		err := g.admin(c.Context(), func(ctx context.Context, a pb.AdminClient) (err error) {
			resp, err = a.ListAPIKeys(ctx, &pb.ListAPIKeysRequest{Tenant: tenant})
			return err
		})
		if err != nil {
			return err
		}
		views := []apiKeyJSON{}
		for _, k := range resp.GetKeys() {
			views = append(views, apiKeyView(k))
		}
		if *out == "json" {
			return writeJSON(c.OutOrStdout(), views)
		}
		if len(views) == 0 {
			fmt.Fprintln(c.ErrOrStderr(), "no stored API keys")
			return nil
		}
		tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PREFIX\tTENANT\tLABEL\tMADE (UTC)\tBY\tEXPIRES (UTC)\tREVOKED (UTC)")
		now := time.Now()
		for _, v := range views {
			expires, revoked := "never", "-"
			if v.Expires != nil {
				expires = shortTime(v.Expires)
				if !now.Before(*v.Expires) {
					expires += " (expired)"
				}
			}
			if v.Revoked != nil {
				revoked = shortTime(v.Revoked) + " by " + v.RevokedBy
			}
			fmt.Fprintf(tw, "%s…\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Prefix, v.Tenant, v.Label, shortTime(v.Created), v.CreatedBy, expires, revoked)
		}
		return tw.Flush()
	}
	c.AddCommand(apiKeysCreateCmd(g), apiKeysRevokeCmd(g))
	return c
}

func apiKeysCreateCmd(g *globals) *cobra.Command {
	var (
		label string
		ttl   time.Duration
	)
	c := &cobra.Command{
		Use:   "create TENANT",
		Short: "make a tenant's API key and print it, this once",
		Long: `Make a tenant's API key. The key is printed once: the gateway keeps only its
SHA-256 and first characters. It works on the node that made it at once, on the
other nodes of a cluster within 30 seconds; with --ttl it stops working when
that time has passed.`,
		Args: exactArgs(1, "the TENANT"),
		RunE: func(c *cobra.Command, args []string) error {
			req := &pb.CreateAPIKeyRequest{Tenant: args[0], Label: label}
			if ttl != 0 {
				req.Ttl = durationpb.New(ttl)
			}
			var resp *pb.CreateAPIKeyResponse
			err := g.admin(c.Context(), func(ctx context.Context, a pb.AdminClient) (err error) {
				resp, err = a.CreateAPIKey(ctx, req)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), resp.GetKey())
			expires := "never expires"
			if e := ts(resp.GetStored().GetExpireTime()); e != nil {
				expires = "expires " + e.Format(time.RFC3339)
			}
			fmt.Fprintf(c.ErrOrStderr(), "API key %s… made for %s (%s): copy it now, it cannot be shown again\n",
				resp.GetStored().GetPrefix(), args[0], expires)
			return nil
		},
	}
	c.Flags().StringVar(&label, "label", "", "what the key is for (at most 80 characters)")
	c.Flags().DurationVar(&ttl, "ttl", 0, "how long the key works, e.g. 720h (0: for ever)")
	return c
}

func apiKeysRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke TENANT PREFIX",
		Short: "stop a tenant's stored API key (by the prefix the list shows)",
		Args:  exactArgs(2, "the TENANT and the key's PREFIX"),
		RunE: func(c *cobra.Command, args []string) error {
			err := g.admin(c.Context(), func(ctx context.Context, a pb.AdminClient) error {
				_, err := a.RevokeAPIKey(ctx, &pb.RevokeAPIKeyRequest{Tenant: args[0], Prefix: args[1]})
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "API key %s of %s revoked\n", args[1], args[0])
			return nil
		},
	}
}
