package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/openmf/smsgw/fineract/fakefineract"
)

func fakeFineract(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fake-fineract", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8443", "address to serve on")
	plain := fs.Bool("plain", false, "serve plain HTTP instead of HTTPS with a self-signed certificate")
	data := fs.String("data", "", "a data set directory (clients/, savingsaccounts/, loans/); default: the built-in demo clients")
	tenant := fs.String("tenant", fakefineract.DefaultTenant, "the Fineract-Platform-TenantId to accept")
	user := fs.String("username", fakefineract.DefaultUsername, "the API user to accept")
	pass := fs.String("password", fakefineract.DefaultPassword, "the API password to accept")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fake := fakefineract.Demo()
	if *data != "" {
		var err error
		if fake, err = fakefineract.New(os.DirFS(*data)); err != nil {
			fmt.Fprintln(stderr, "smsgw-fineract fake-fineract:", err)
			return 1
		}
	}
	fake.Tenant, fake.Username, fake.Password = *tenant, *user, *pass
	defer fake.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "smsgw-fineract fake-fineract:", err)
		return 1
	}
	scheme := "http"
	if !*plain {
		cfg, err := fakefineract.SelfSignedTLS()
		if err != nil {
			fmt.Fprintln(stderr, "smsgw-fineract fake-fineract:", err)
			return 1
		}
		ln = tls.NewListener(ln, cfg)
		scheme = "https"
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "fake Fineract at %s://%s%s (tenant %q, user %s)\n", scheme, ln.Addr(), fakefineract.BasePath, *tenant, *user)
	if *data == "" {
		fmt.Fprintln(stdout, `demo clients: Jane Wanjiru +254712345678, stored as "0712 345 678" (savings, a loan); Peter Otieno +254722000111, stored as 0722000111 (two savings, a fixed deposit, an overdue loan)`)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintln(stderr, "smsgw-fineract fake-fineract:", err)
		return 1
	case <-ctx.Done():
	}
	fake.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "smsgw-fineract fake-fineract:", err)
		return 1
	}
	return 0
}
