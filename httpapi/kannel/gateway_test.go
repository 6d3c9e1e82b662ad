package kannel_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/gateway/keyword"
	"github.com/openmf/smsgw/httpapi/kannel"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/webhook"
)

// rig is a real gateway (SQLite store, SMPP bind to the simulator) with
// the Kannel interface served over loopback.
type rig struct {
	sim     *smsc.Server
	url     string // the Kannel listener
	logs    *testutil.Logs
	dlr     *dlrCounter
	dlrURL  string
	service *httptest.Server
}

func startRig(t *testing.T, simOpts ...smsc.Option) *rig {
	t.Helper()
	sim := smsc.NewServer(append([]smsc.Option{smsc.WithReceiptDelay(0, 5*time.Millisecond)}, simOpts...)...)
	t.Cleanup(sim.Close)
	a := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	eng := a.Engine()
	logs := &testutil.Logs{}
	srv, err := kannel.New(kannel.Config{Users: []kannel.User{
		{Username: "app", Password: "secret", Tenant: "mfi-a"},
	}}, eng, webhook.New(webhook.Config{AllowHosts: []string{"127.0.0.1"}}, nil), kannel.Options{Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	for kind, h := range srv.TaskHandlers() {
		if err := eng.HandleTasks(kind, h); err != nil {
			t.Fatalf("register %s (is the app registering the Kannel handlers itself now?): %v", kind, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- srv.FollowDLR(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-followed; err != nil {
			t.Errorf("FollowDLR: %v", err)
		}
	})
	kan := httptest.NewServer(srv.Handler())
	t.Cleanup(kan.Close)
	r := &rig{sim: sim, url: kan.URL, logs: logs, dlr: &dlrCounter{calls: map[string]int{}}}
	dlrSrv := httptest.NewServer(r.dlr)
	t.Cleanup(dlrSrv.Close)
	r.dlrURL = dlrSrv.URL
	r.service = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if req.URL.Query().Get("acct") != "1234" || req.URL.Query().Get("kw") != "BAL" {
			http.Error(w, "bad query "+req.URL.RawQuery, http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "Your balance is 100")
	}))
	t.Cleanup(r.service.Close)
	table, err := keyword.New([]keyword.Rule{{Name: "BAL", Keywords: []string{"BAL"}, Service: kannel.ServiceKind}})
	if err != nil {
		t.Fatal(err)
	}
	eng.SetKeywords(table)
	srv.SetServices(kannel.Services{SMS: map[string]*kannel.Service{"BAL": {GetURL: r.service.URL + "/bal?from=%p&to=%P&acct=%s&kw=%k"}}})
	return r
}

// dlrCounter is the application's dlr-url: it counts calls per message id
// and DLR type.
type dlrCounter struct {
	mu    sync.Mutex
	calls map[string]int    // "id/type" → calls
	lastA map[string]string // "id/type" → the A parameter of the last call
	total atomic.Int64
}

func (d *dlrCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d.mu.Lock()
	id, typ := q.Get("id"), q.Get("type")
	d.calls[id+"/"+typ]++
	if d.lastA == nil {
		d.lastA = map[string]string{}
	}
	d.lastA[id+"/"+typ] = q.Get("A")
	d.mu.Unlock()
	d.total.Add(1)
}

// TestKannelOverRealGateway drives sendsms with concurrent clients and
// checks every dlr-url is called exactly once per requested type; then a
// dlr-url outside the allow-list; then a Kannel sms-service answering an
// MO from the simulator.
func TestKannelOverRealGateway(t *testing.T) {
	r := startRig(t)
	t.Run("load", func(t *testing.T) { loadTest(t, r, 1000, 64) })
	t.Run("far validity and deferred refused", func(t *testing.T) {
		// Minutes past a year are beyond the gateway's schedule horizon;
		// 307445735 minutes overflowed a time.Duration to 26 s from now:
		// the message left at once (deferred) or expired at once.
		for _, c := range []struct{ field, minutes, answer string }{
			{"deferred", "600000", "Deferred field misformed, rejected"},
			{"validity", "600000", "Validity field misformed, rejected"},
			{"deferred", "307445735", "Deferred field misformed, rejected"},
			{"validity", "307445735", "Validity field misformed, rejected"},
		} {
			q := url.Values{"username": {"app"}, "password": {"secret"}, "to": {"+254733000002"}, "text": {"later"}, c.field: {c.minutes}}
			if status, body := get(t, r.url+"/cgi-bin/sendsms?"+q.Encode()); status != 400 || body != c.answer {
				t.Errorf("%s=%s: %d %q, want 400 %q", c.field, c.minutes, status, body, c.answer)
			}
		}
		q := url.Values{"username": {"app"}, "password": {"secret"}, "to": {"+254733000002"}, "text": {"later"}, "deferred": {"1440"}}
		if status, body := get(t, r.url+"/cgi-bin/sendsms?"+q.Encode()); status != 202 {
			t.Errorf("deferred a day: %d %q, want 202", status, body)
		}
	})
	t.Run("dlr-url outside the allow-list", func(t *testing.T) {
		q := url.Values{"username": {"app"}, "password": {"secret"}, "to": {"+254733000001"}, "text": {"hi"},
			"dlr-mask": {"1"}, "dlr-url": {"http://192.0.2.10/dlr?to=%p&type=%d"}}
		if status, body := get(t, r.url+"/cgi-bin/sendsms?"+q.Encode()); status != 202 || body != "0: Accepted for delivery" {
			t.Fatalf("sendsms: %d %q", status, body)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			rec, ok := r.logs.Find("dlr-url refused")
			if !ok {
				return fmt.Errorf("no refusal logged yet")
			}
			if rec["host"] != "192.0.2.10" || rec["level"] != "WARN" {
				return fmt.Errorf("refusal logged as %v", rec)
			}
			return nil
		})
		if strings.Contains(r.logs.String(), "733000001") {
			t.Errorf("a log shows the full number")
		}
	})
	t.Run("sms-service reply reaches the carrier", func(t *testing.T) {
		if err := r.sim.SendMO("+254712000099", "22555", "BAL 1234"); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			for _, s := range r.sim.Submits() {
				if s.Dest == "254712000099" && string(s.ShortMessage) == "Your balance is 100" {
					if s.Source != "22555" {
						return fmt.Errorf("reply from %q, want the shortcode 22555", s.Source)
					}
					return nil
				}
			}
			return fmt.Errorf("no reply submitted to the client yet")
		})
	})
}

// loadTest sends n sendsms requests over conns connections, each asking
// for DLR types 8 and 1 (dlr-mask=9), and waits until every message's
// dlr-url was called for both; a second call of any is a failure.
func loadTest(t *testing.T, r *rig, n, conns int) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns, conns
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	base := r.dlr.total.Load()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for w := range conns {
		wg.Go(func() {
			for i := w; i < n; i += conns {
				q := url.Values{"username": {"app"}, "password": {"secret"}, "to": {fmt.Sprintf("+2547%08d", 20000000+i)},
					"text": {fmt.Sprintf("Reminder %d: meeting Tuesday 10:00", i)}, "dlr-mask": {"9"},
					"dlr-url": {r.dlrURL + "/dlr?id=" + strconv.Itoa(i) + "&type=%d&to=%p"}}
				resp, err := client.Get(r.url + "/cgi-bin/sendsms?" + q.Encode())
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 202 || string(body) != "0: Accepted for delivery" {
					errs <- fmt.Errorf("request %d: %d %q", i, resp.StatusCode, body)
					return
				}
			}
		})
	}
	wg.Wait()
	accepted := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Minute, func() error {
		if got := r.dlr.total.Load() - base; got < int64(2*n) {
			return fmt.Errorf("%d of %d dlr-url calls", got, 2*n)
		}
		return nil
	})
	all := time.Since(start)
	r.dlr.mu.Lock()
	defer r.dlr.mu.Unlock()
	for i := range n {
		for _, typ := range []string{"8", "1"} {
			if c := r.dlr.calls[strconv.Itoa(i)+"/"+typ]; c != 1 {
				t.Errorf("message %d: dlr type %s called %d times", i, typ, c)
			}
		}
	}
	t.Logf("%d sendsms over %d connections: accepted in %v (%.0f requests/s); all %d dlr-url calls done after %v (%.0f messages/s end to end)",
		n, conns, accepted.Round(time.Millisecond), float64(n)/accepted.Seconds(), 2*n, all.Round(time.Millisecond), float64(n)/all.Seconds())
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
