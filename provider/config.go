package provider

import (
	"fmt"
	"net/url"
	"time"
)

// Defaults every HTTP provider shares, filled in by ValidateHTTP.
const (
	// DefaultTimeout bounds one provider request, connection included. Cloud
	// APIs answer in well under a second; ten seconds rides out a slow TLS
	// handshake without holding a window slot for long.
	DefaultTimeout = 10 * time.Second
	// DefaultConcurrency is how many requests a connector has in flight at
	// once. Providers rate-limit per account, not per connection, so this
	// only bounds our own sockets and goroutines.
	DefaultConcurrency = 16
	// MaxConcurrency bounds the setting to something a provider account
	// would accept.
	MaxConcurrency = 1000
	// MaxPartsPerRequest is the most SMS parts one request can carry: a
	// cloud provider takes the whole text and segments it itself, and
	// gateway.max_parts is at most 255 (a concatenation reference counts to
	// 255). Window reports concurrency × this, so the engine never splits a
	// message over two Submit calls, which would send its text twice.
	MaxPartsPerRequest = 255
)

// Limits are the HTTP settings every provider's config section has, under
// the same yaml names (base_url, timeout, tps, concurrency).
type Limits struct {
	BaseURL     string
	Timeout     time.Duration
	TPS         float64
	Concurrency int
}

// ValidateHTTP checks the settings common to every provider and fills in
// defaults: base_url defaultBase, timeout 10s, concurrency 16. Each message
// starts with the field name, like the rest of a Config.Validate.
func ValidateHTTP(l *Limits, defaultBase string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if l.BaseURL == "" {
		l.BaseURL = defaultBase
	} else if err := CheckURL(l.BaseURL); err != nil {
		bad("base_url", "%v", err)
	}
	switch {
	case l.Timeout == 0:
		l.Timeout = DefaultTimeout
	case l.Timeout < 0:
		bad("timeout", "must be positive, got %v", l.Timeout)
	}
	if l.TPS < 0 {
		bad("tps", "must be ≥ 0 (0 = unlimited), got %v", l.TPS)
	}
	switch {
	case l.Concurrency == 0:
		l.Concurrency = DefaultConcurrency
	case l.Concurrency < 1 || l.Concurrency > MaxConcurrency:
		bad("concurrency", "must be 1..%d, got %d", MaxConcurrency, l.Concurrency)
	}
	return errs
}

// CheckURL accepts an absolute http or https URL with a host: the only
// kind a provider can be reached at or can call back.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL, got %q", s)
	}
	return nil
}
