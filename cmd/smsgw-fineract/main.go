// Command smsgw-fineract is smsgw's reference Mifos adapter: it follows the
// gateway's inbound messages over gRPC and answers BAL and DUE from Apache
// Fineract, and sends receipts and staff alerts from Fineract's Web hooks
// (logic in package fineract). It also runs a fake Fineract for the README
// demo. It only parses flags, loads config and handles signals (SIGHUP
// reloads the tenants' events sections).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `smsgw-fineract — answers BAL and DUE text messages from Apache Fineract,
and sends receipts and staff alerts from Fineract's hooks (run --help)

Usage:
  smsgw-fineract run --config FILE
  smsgw-fineract run [--addr A] [--api-key K] [--region KE] [--fineract-url URL]
                     [--fineract-tenant T] [--fineract-user U] [--fineract-password P]
                     [--insecure-tls] [--keywords-balance SALDO] [--keywords-due DENI]
                                   one tenant from flags ($SMSGW_ADDR, $SMSGW_API_KEY,
                                   $FINERACT_URL, $FINERACT_USER, $FINERACT_PASSWORD);
                                   OAuth2 bearer tokens need --config (run --help)
  smsgw-fineract check-config FILE  validate a config file, report every error
  smsgw-fineract fake-fineract [--listen 127.0.0.1:8443] [--plain] [--data DIR]
                                   a fake Fineract with demo clients, for the demo
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a subcommand; ctx ends it (main cancels it on SIGINT and
// SIGTERM; tests cancel it themselves).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) int{
		"run":           runAdapter,
		"check-config":  checkConfig,
		"fake-fineract": fakeFineract,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "smsgw-fineract: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmd(ctx, args[1:], stdout, stderr)
}
