// Package cli is the smsgw command line: the daemon (serve), its demo, the
// operator's commands against a running gateway (messages, carriers,
// routes, counters, reload), a config checker and a standalone SMSC
// simulator. cmd/smsgw only calls Run, so the commands are tested here
// against real in-process gateways.
//
// It is built on spf13/cobra: subcommands, flags in any position, --help
// (exit 0) on every command and shell completion come with it, and its
// help texts are what docs/cli.md is generated from.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/internal/buildinfo"
)

// DefaultAddr is where the client commands look for a gateway when neither
// --addr nor SMSGW_ADDR says otherwise: the demo's gRPC address.
const DefaultAddr = "127.0.0.1:9190"

// exitError carries an exit status out of a command: 1 for a failure, 2
// for a usage error. Its message has been printed already when empty.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageErr is a mistake in the command line (exit 2).
func usageErr(format string, a ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, a...)}
}

// Run executes the command line args (without the program name) and
// returns the exit status: 0 done, 1 failed, 2 misused.
func Run(args []string, stdout, stderr io.Writer) int {
	root := NewRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), ee.msg)
		}
		return ee.code
	}
	// Cobra's own errors: an unknown command or flag, a wrong number of
	// arguments. They are usage errors.
	fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd.CommandPath(), err, cmd.CommandPath())
	return 2
}

// NewRoot builds the whole command tree writing to stdout and stderr; the
// flag defaults read the environment (SMSGW_ADDR, SMSGW_API_KEY, …) now.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "smsgw",
		Short: "SMS gateway for Mifos X / Apache Fineract",
		Long: `smsgw — SMS gateway for Mifos X / Apache Fineract.

The daemon is "smsgw serve". The other commands talk to a running gateway's
gRPC API at --addr or $SMSGW_ADDR (default ` + DefaultAddr + `): tenant commands
with --api-key or $SMSGW_API_KEY, operator commands with --admin-key or
$SMSGW_ADMIN_KEY (the config's admin.api_keys).`,
		Version:       buildinfo.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddGroup(
		&cobra.Group{ID: "run", Title: "Running a gateway:"},
		&cobra.Group{ID: "msg", Title: "Messages (tenant API key):"},
		&cobra.Group{ID: "ops", Title: "Operating a running gateway (admin API key):"},
		&cobra.Group{ID: "tools", Title: "Tools:"},
	)
	root.SetHelpCommandGroupID("tools")
	root.SetCompletionCommandGroupID("tools")
	g := &globals{}
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", envOr("SMSGW_ADDR", DefaultAddr), "gateway gRPC address ($SMSGW_ADDR)")
	// The keys' defaults are read when used, not shown: --help must not
	// print a secret.
	pf.StringVar(&g.apiKey, "api-key", "", "tenant API key ($SMSGW_API_KEY)")
	pf.StringVar(&g.adminKey, "admin-key", "", "admin API key ($SMSGW_ADMIN_KEY)")

	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("run", serveCmd(), checkConfigCmd())
	add("msg", sendCmd(g), getCmd(g), messagesCmd(g), eventsCmd(g), cursorsCmd(g))
	add("ops", carriersCmd(g), smppAccountsCmd(g), routesCmd(g), routeCmd(), countersCmd(g), reloadCmd(g), apiKeysCmd(g))
	add("tools", simulateSMSCCmd(), simulateCmd(g), hashPasswordCmd(), versionCmd())
	return root
}

// globals are the connection flags every client command shares.
type globals struct {
	addr, apiKey, adminKey string
}

// tenantKey is --api-key, else $SMSGW_API_KEY.
func (g *globals) tenantKey() string { return cmpOr(g.apiKey, os.Getenv("SMSGW_API_KEY")) }

// adminKeyOrEnv is --admin-key, else $SMSGW_ADMIN_KEY.
func (g *globals) adminKeyOrEnv() string { return cmpOr(g.adminKey, os.Getenv("SMSGW_ADMIN_KEY")) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// callErr turns an RPC error into one an operator can act on: an
// unreachable gateway names the address tried and how to change it.
func (g *globals) callErr(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return &exitError{code: 1, msg: err.Error()}
	}
	switch st.Code() {
	case codes.Unavailable:
		return &exitError{code: 1, msg: fmt.Sprintf("no answer from %s: is a gateway running at %s? (set --addr or SMSGW_ADDR): %s", g.addr, g.addr, st.Message())}
	case codes.DeadlineExceeded:
		return &exitError{code: 1, msg: fmt.Sprintf("%s did not answer in time: is a gateway running at %s?", g.addr, g.addr)}
	case codes.Unauthenticated, codes.PermissionDenied:
		return &exitError{code: 1, msg: fmt.Sprintf("%s: %s (check --api-key/SMSGW_API_KEY or, for operator commands, --admin-key/SMSGW_ADMIN_KEY)", st.Code(), st.Message())}
	}
	return &exitError{code: 1, msg: fmt.Sprintf("%s: %s", st.Code(), st.Message())}
}

// outputFlag adds -o/--output (table or json) and --json to cmd.
func outputFlag(cmd *cobra.Command) *string {
	out := new(string)
	cmd.Flags().StringVarP(out, "output", "o", "table", "output format: table or json")
	asJSON := cmd.Flags().Bool("json", false, "same as -o json")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if *asJSON {
			*out = "json"
		}
		*out = strings.ToLower(*out)
		if *out != "table" && *out != "json" {
			return usageErr("--output %q: want table or json", *out)
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
	return out
}

func versionCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "version",
		Short: "print the version, revision and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			i := buildinfo.Get()
			if out == "json" {
				return writeJSON(c.OutOrStdout(), i)
			}
			fmt.Fprintln(c.OutOrStdout(), i.String())
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "text", "output format: text or json")
	return c
}
