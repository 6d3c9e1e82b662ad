package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

// hashPasswordCmd makes the bcrypt hash a console user's password_hash
// holds, reading the password from stdin so it never shows in the shell's
// history or the process list.
func hashPasswordCmd() *cobra.Command {
	var cost int
	c := &cobra.Command{
		Use:   "hash-password [--cost N] < PASSWORD",
		Short: "print the bcrypt hash of a console user's password, read from stdin",
		Long: `Print the bcrypt hash of a password for console.users[].password_hash (see
docs/console.md). The password is the first line of stdin, so it never shows
in the shell's history or the process list:

  read -rs PASS && printf '%s\n' "$PASS" | smsgw hash-password; unset PASS

bcrypt uses at most 72 bytes of a password: a longer one is refused.`,
		Args: exactArgs(0, "no argument (the password comes from stdin)"),
		RunE: func(c *cobra.Command, _ []string) error {
			if cost < 10 || cost > 16 {
				return &exitError{code: 2, msg: "--cost: must be 10 to 16 (each step doubles the time a guess takes)"}
			}
			line, err := bufio.NewReader(c.InOrStdin()).ReadString('\n')
			if err != nil && line == "" {
				return &exitError{code: 2, msg: "no password on stdin"}
			}
			pass := strings.TrimRight(line, "\r\n")
			if pass == "" {
				return &exitError{code: 2, msg: "the password is empty"}
			}
			hash, err := bcrypt.GenerateFromPassword([]byte(pass), cost)
			if errors.Is(err, bcrypt.ErrPasswordTooLong) {
				return &exitError{code: 2, msg: "the password is longer than bcrypt's 72 bytes"}
			}
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			fmt.Fprintln(c.OutOrStdout(), string(hash))
			return nil
		},
	}
	c.Flags().IntVar(&cost, "cost", 12, "bcrypt cost, 10 to 16")
	return c
}
