// Command smsgw is the SMS gateway: the daemon (serve), its demo, a CLI for
// the gRPC API (send, get, events), a config checker and a standalone SMSC
// simulator. It only parses flags and wires packages together.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `smsgw — SMS gateway for Mifos X / Apache Fineract

Usage:
  smsgw serve --config FILE        run the gateway
  smsgw serve --demo               run with a built-in simulated carrier and a demo tenant
  smsgw send --to NUMBER --text T [--from S] [--client-ref R] [--wait]
  smsgw get ID                     print a message as JSON
  smsgw events [--from-seq N]      print events as JSON lines
  smsgw check-config [--strict] FILE
                                   validate a config file, report every error and warn
                                   of plain-text secrets, short keys, open listeners
  smsgw route --config FILE --to NUMBER [--tenant T] [--from S]
                                   explain which carriers a message would take
  smsgw simulate-smsc [--listen 127.0.0.1:2775] [--control 127.0.0.1:2776]
  smsgw simulate mo --from NUMBER --text T [--to SHORTCODE] [--http ADDR]
                                   a client texts the demo's shortcode (BAL, HELP, STOP)

The client commands reach the gateway at --addr or $SMSGW_ADDR (default
127.0.0.1:9190) with --api-key or $SMSGW_API_KEY.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) int{
		"serve":         serve,
		"send":          send,
		"get":           get,
		"events":        events,
		"check-config":  checkConfig,
		"route":         explainRoute,
		"simulate-smsc": simulateSMSC,
		"simulate":      simulate,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "smsgw: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}
