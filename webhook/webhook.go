// Package webhook calls the HTTP endpoints the gateway notifies: keyword
// webhooks, Kannel dlr-url and get-url callbacks, Frontline forwards. It
// does one call per invocation; retries are the task outbox's
// (gateway.TaskHandler), so a callback survives a restart.
//
// Two rules hold for every call. The target host must be on the
// allow-list: a sender could otherwise make the gateway call any address
// (its own admin port, a cloud metadata service). And an answer is sorted
// into "done" (2xx), "give up" (other 4xx but 408 and 429: the request is
// wrong and retrying sends it wrong again) and "retry" (5xx, 408, 429,
// timeouts, refused connections).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// Config is the `webhooks` section: where the gateway may call out to.
type Config struct {
	// AllowHosts lists the hosts (names or IPs, optionally host:port)
	// callbacks may go to; "*.example.org" admits subdomains. Empty
	// allows none, so a fresh gateway calls nobody until told.
	AllowHosts []string      `yaml:"allow_hosts"`
	Timeout    time.Duration `yaml:"timeout"` // per call; default 10s
}

// Validate reports problems with their keys.
func (c *Config) Validate() []error {
	var errs []error
	for i, h := range c.AllowHosts {
		if h == "" || strings.Contains(h, "/") {
			errs = append(errs, fmt.Errorf("allow_hosts[%d]: %q is not a host name", i, h))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must be ≥ 0"))
	}
	return errs
}

// Client makes the calls.
type Client struct {
	http  *http.Client
	allow atomic.Pointer[[]string]
}

// New makes a client; hc nil uses a client with the config's timeout. The
// client uses a copy of hc whose redirects are held to the allow-list too:
// an allowed host answering 302 must not lead the gateway anywhere else.
func New(c Config, hc *http.Client) *Client {
	if hc == nil {
		timeout := c.Timeout
		if timeout == 0 {
			timeout = 10 * time.Second
		}
		hc = &http.Client{Timeout: timeout, Transport: newTransport()}
	}
	cl := &Client{}
	cl.SetAllowHosts(c.AllowHosts)
	own := *hc
	next := hc.CheckRedirect
	own.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := cl.Check(req.URL.String()); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return ErrRedirectLoop
		}
		return nil
	}
	cl.http = &own
	return cl
}

// IdleConnsPerHost is how many idle connections the client keeps to one
// host: above the number of callbacks the outbox runs at once, so a busy
// dlr-url or webhook receiver is called over kept-alive connections
// instead of a new TCP (and TLS) handshake per call, as Go's default of 2
// would make it.
const IdleConnsPerHost = 64

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = IdleConnsPerHost
	t.MaxIdleConns = 4 * IdleConnsPerHost
	return t
}

// SetAllowHosts replaces the allow-list (webhooks.allow_hosts) while calls
// are made: a config reload adds or removes hosts.
func (c *Client) SetAllowHosts(hosts []string) {
	allow := make([]string, len(hosts))
	for i, h := range hosts {
		allow[i] = strings.ToLower(h)
	}
	c.allow.Store(&allow)
}

// ErrNotAllowed refuses a URL whose host is not on the allow-list.
var ErrNotAllowed = errors.New("webhook: host is not in webhooks.allow_hosts")

// ErrScheme refuses a URL, or a redirect, to anything but http or https
// (file:, gopher:, …): no retry makes it callable.
var ErrScheme = errors.New("webhook: scheme must be http or https")

// ErrRedirectLoop ends a call redirected more than 10 times.
var ErrRedirectLoop = errors.New("webhook: stopped after 10 redirects")

// Check says whether a URL may be called: http or https, host allowed.
func (c *Client) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("webhook: url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: url %q", ErrScheme, raw)
	}
	host := strings.ToLower(u.Hostname())
	hostPort := strings.ToLower(u.Host)
	ok := slices.ContainsFunc(*c.allow.Load(), func(a string) bool {
		switch {
		case a == host || a == hostPort:
			return true
		case strings.HasPrefix(a, "*."):
			// "*.example.org:8443" admits subdomains on that port only.
			return strings.HasSuffix(host, a[1:]) || strings.HasSuffix(hostPort, a[1:])
		}
		return false
	})
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotAllowed, hostPort)
	}
	return nil
}

// Request is one call.
type Request struct {
	Method      string // default GET without a body, POST with one
	URL         string
	ContentType string
	Body        []byte
	Header      http.Header
	// Secret, when set, signs the call: X-Smsgw-Timestamp (unix seconds)
	// and X-Smsgw-Signature "sha256=" + hex HMAC-SHA256 of
	// timestamp + "." + body, so a receiver can check the sender and
	// refuse replays.
	Secret string
	// ID is a delivery id sent as X-Smsgw-Delivery, the same on every retry,
	// so a receiver can drop a delivery it already processed.
	ID string
}

// Response is what a successful call answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte // at most 64 KiB
}

// maxBody bounds what is read of an answer (a reply SMS is far shorter).
const maxBody = 64 << 10

// Do makes the call. Its error is wrapped with gateway.GiveUp when retrying
// cannot help (a host not allowed, a redirect to another host or scheme or
// in a loop, a 4xx answer).
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	if err := c.Check(r.URL); err != nil {
		return nil, gateway.GiveUp(err)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
		if r.Body != nil {
			method = http.MethodPost
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, gateway.GiveUp(fmt.Errorf("webhook: %w", err))
	}
	if r.Body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	req.Header.Set("User-Agent", "smsgw")
	if r.ID != "" {
		req.Header.Set("X-Smsgw-Delivery", r.ID)
	}
	if r.Secret != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Smsgw-Timestamp", ts)
		req.Header.Set("X-Smsgw-Signature", Sign(r.Secret, ts, r.Body))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Redirected off the allow-list, to another scheme, or in a loop:
		// the receiver's answer is wrong, and will be on every retry.
		if errors.Is(err, ErrNotAllowed) || errors.Is(err, ErrScheme) || errors.Is(err, ErrRedirectLoop) {
			return nil, gateway.GiveUp(fmt.Errorf("webhook: %w", err))
		}
		return nil, fmt.Errorf("webhook: %w", err) // unreachable, refused, timed out: retry
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("webhook: %s: reading the answer: %w", req.URL.Host, err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return out, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return out, fmt.Errorf("webhook: %s answered %s", req.URL.Host, resp.Status)
	}
	return out, gateway.GiveUp(fmt.Errorf("webhook: %s answered %s", req.URL.Host, resp.Status))
}

// Sign is the X-Smsgw-Signature of a body sent at timestamp ts.
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature as a receiver would (constant time).
func Verify(secret, ts string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature))
}
