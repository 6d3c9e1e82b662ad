package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// kannelDriver sends through Kannel's sendsms interface, the way
// applications written for Kannel do: one GET per message, answered 202
// "0: Accepted for delivery" (or "3: Queued for later delivery"). The
// answer names no message id: a run follows its messages at the carriers,
// or by the delivery reports it asks for (dlr).
type kannelDriver struct {
	base     string
	user, pw string
	from     string
	http     *http.Client
	dlr      *dlrEndpoint // nil: no dlr-url
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
		if out[i].err == nil && d.dlr != nil {
			out[i].id = dlrID(m.seq)
		}
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
	if d.dlr != nil {
		q.Set("dlr-mask", strconv.Itoa(d.dlr.mask))
		q.Set("dlr-url", d.dlr.url(m.seq))
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

// dlrID is the id a Kannel run gives message seq: sendsms answers none, so
// the recorder joins the delivery reports to the message by this.
func dlrID(seq uint64) string { return "dlr-" + strconv.FormatUint(seq, 10) }

// dlrEndpoint is the run's dlr-url: the gateway calls it with Kannel's
// report type (%d) for each type the dlr-mask asked for, and each call
// goes to the recorder as the status event it stands for. It counts the
// calls, and the final ones that repeat a message's (a gateway bug, or a
// crash's retry).
type dlrEndpoint struct {
	mask int
	base string // http://host:port/dlr
	rec  *recorder
	srv  *http.Server
	ln   net.Listener

	calls, finals, repeated, bad atomic.Int64

	mu    sync.Mutex
	final map[uint64]bool // messages with a final report
}

// startDLR listens on addr for the reports of the run rec records.
func startDLR(addr string, mask int, rec *recorder) (*dlrEndpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: dlr_listen: %w", err)
	}
	d := &dlrEndpoint{mask: mask, base: "http://" + ln.Addr().String() + "/dlr", rec: rec, ln: ln, final: map[uint64]bool{}}
	d.srv = &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.srv.Serve(ln) }()
	return d, nil
}

// url is message seq's dlr-url: the gateway fills in %d, the report type.
func (d *dlrEndpoint) url(seq uint64) string {
	return d.base + "?seq=" + strconv.FormatUint(seq, 10) + "&type=%d"
}

func (d *dlrEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	d.calls.Add(1)
	q := r.URL.Query()
	seq, err := strconv.ParseUint(q.Get("seq"), 10, 64)
	if err != nil || r.URL.Path != "/dlr" {
		d.bad.Add(1)
		http.Error(w, "not a dlr-url of this run", http.StatusNotFound)
		return
	}
	st, ok := dlrStatus(q.Get("type"))
	if !ok {
		d.bad.Add(1)
		http.Error(w, "type: "+strconv.Quote(q.Get("type"))+" is not a Kannel report type (1, 2, 4, 8, 16)", http.StatusBadRequest)
		return
	}
	if st != pb.Status_STATUS_SUBMITTED && st != pb.Status_STATUS_UNSPECIFIED {
		d.mu.Lock()
		again := d.final[seq]
		d.final[seq] = true
		d.mu.Unlock()
		if again {
			d.repeated.Add(1)
		} else {
			d.finals.Add(1)
		}
	}
	d.rec.event(dlrID(seq), st, now) // the recorder ignores UNSPECIFIED (4, buffered)
	w.WriteHeader(http.StatusOK)
}

// dlrStatus maps a Kannel report type to the status it tells of:
// UNSPECIFIED for 4 (buffered at the SMSC, not an end).
func dlrStatus(typ string) (pb.Status, bool) {
	switch typ {
	case "1":
		return pb.Status_STATUS_DELIVERED, true
	case "2":
		return pb.Status_STATUS_UNDELIVERED, true
	case "4":
		return pb.Status_STATUS_UNSPECIFIED, true
	case "8":
		return pb.Status_STATUS_SUBMITTED, true
	case "16":
		return pb.Status_STATUS_REJECTED, true
	}
	return 0, false
}

// close stops taking reports: calls still coming are refused.
func (d *dlrEndpoint) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if d.srv.Shutdown(ctx) != nil {
		_ = d.srv.Close()
	}
}
