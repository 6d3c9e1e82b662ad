// Command smsgw is the SMS gateway: the daemon (serve), its demo, the
// operator's commands against a running gateway, a config checker and a
// standalone SMSC simulator. The commands live in internal/cli.
package main

import (
	"os"

	"github.com/openmf/smsgw/internal/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr)) }
