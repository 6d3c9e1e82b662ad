package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// kannelDriver sends through Kannel's sendsms interface, the way
// applications written for Kannel do: one GET per message, answered 202
// "0: Accepted for delivery" (or "3: Queued for later delivery"). The
// answer names no message id, so a Kannel run is followed at the carriers
// only.
type kannelDriver struct {
	base     string
	user, pw string
	from     string
	http     *http.Client
}

func newKannelDriver(spec LoadSpec) *kannelDriver {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = spec.Clients
	t.MaxIdleConns = spec.Clients
	return &kannelDriver{
		base: strings.TrimRight(spec.Target, "/"), user: spec.Username, pw: spec.Password, from: spec.From,
		http: &http.Client{Transport: t, Timeout: 30 * time.Second},
	}
}

func (d *kannelDriver) send(ctx context.Context, _ string, msgs []outMsg) []result {
	out := make([]result, len(msgs))
	for i, m := range msgs {
		out[i].err = d.one(ctx, m)
	}
	return out
}

func (d *kannelDriver) one(ctx context.Context, m outMsg) error {
	q := url.Values{"username": {d.user}, "password": {d.pw}, "to": {m.to}, "text": {m.text}, "charset": {"UTF-8"}}
	if d.from != "" {
		q.Set("from", d.from)
	}
	if m.ucs2 {
		q.Set("coding", "2")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/cgi-bin/sendsms?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		// The URL holds the number and the password: say only what failed.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return fmt.Errorf("sendsms: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	answer := strings.TrimSpace(string(body))
	if resp.StatusCode/100 != 2 || !(strings.HasPrefix(answer, "0:") || strings.HasPrefix(answer, "3:")) {
		return fmt.Errorf("sendsms: HTTP %d: %s", resp.StatusCode, answer)
	}
	return nil
}

func (d *kannelDriver) close() { d.http.CloseIdleConnections() }
