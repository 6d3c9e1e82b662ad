package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/httpapi/kannel"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/webhook"
)

// BenchmarkKannelPath is the Kannel path of issue 15: b.N sendsms GETs
// over 64 kept-alive connections, each with dlr-mask 3 and its own
// dlr-url, into a whole gateway (the app's own Kannel listener, SQLite
// store, SMPP binds to the simulator, an info-level logger as `smsgw
// serve` has), and the clock stops when every message's dlr-url was
// called (one call each: the simulator delivers them all, so the report is
// type 1).
//
//	go test -run '^$' -bench KannelPath -benchtime 20000x -benchmem -cpuprofile cpu.out ./bench/
//
// cpu-µs/msg is the whole process, simulator, load and dlr-url receiver
// included. Their goroutines carry the pprof label side=harness, so the
// gateway's share of a profile is what -tagignore=harness leaves.
// new-conns/run counts the connections the gateway opened to the dlr-url
// receiver: the callback client should reuse them.
func BenchmarkKannelPath(b *testing.B) {
	const conns = 64
	// pprof.Do restores the labels of the context it is given: the
	// benchmark's own goroutine must stay unlabeled, as the gateway's
	// goroutines it starts inherit its labels.
	harness := func(f func()) {
		pprof.Do(context.Background(), pprof.Labels("side", "harness"), func(context.Context) { f() })
	}
	var (
		sim      *smsc.Server
		receiver *dlrReceiver
	)
	harness(func() {
		sim = smsc.NewServer(smsc.WithoutRecording(), smsc.WithReceiptDelay(0, time.Millisecond))
		receiver = newDLRReceiver(b.N)
	})
	defer sim.Close()
	defer receiver.close()

	cfg := apptest.Config(b, sim.Addr(), b.TempDir())
	cfg.Kannel = &kannel.Config{Listen: "127.0.0.1:0", Users: []kannel.User{{Username: "app", Password: "app-secret", Tenant: "mfi-a"}}}
	cfg.Webhooks = webhook.Config{AllowHosts: []string{"127.0.0.1"}}
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := apptest.StartWith(b, cfg, app.Options{Logger: logger})
	sendsms := "http://" + a.KannelAddr() + "/cgi-bin/sendsms?"
	dlrURL := receiver.srv.URL + "/dlr?type=%d&to=%p&id="

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns, conns
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0 := processCPU(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			harness(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= b.N {
						return
					}
					q := url.Values{"username": {"app"}, "password": {"app-secret"}, "to": {fmt.Sprintf("+2547%08d", i)},
						"text": {"Reminder " + strconv.Itoa(i) + ": group meeting Tuesday 10:00"}, "dlr-mask": {"3"},
						"dlr-url": {dlrURL + strconv.Itoa(i)}}
					resp, err := client.Get(sendsms + q.Encode())
					if err != nil {
						b.Error(err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("request %d: %d %q", i, resp.StatusCode, body)
						return
					}
				}
			})
		})
	}
	wg.Wait()
	accepted := time.Since(start)
	if b.Failed() {
		return
	}
	select {
	case <-receiver.all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d dlr-url calls after 5 minutes", receiver.total.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	if d := receiver.duplicates.Load(); d > 0 {
		b.Errorf("%d dlr-url calls repeated a message's", d)
	}
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(receiver.opened.Load()), "new-conns/run")
}

// dlrReceiver is the application's dlr-url: it counts calls per message
// (type 1 expected), repeats, and the connections the gateway opened.
type dlrReceiver struct {
	srv        *httptest.Server
	calls      []atomic.Int32
	total      atomic.Int64
	duplicates atomic.Int64
	opened     atomic.Int64
	all        chan struct{}
}

func newDLRReceiver(n int) *dlrReceiver {
	d := &dlrReceiver{calls: make([]atomic.Int32, n), all: make(chan struct{})}
	d.srv = httptest.NewUnstartedServer(d)
	d.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			d.opened.Add(1)
		}
	}
	d.srv.Start()
	return d
}

func (d *dlrReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	i, err := strconv.Atoi(q.Get("id"))
	if err != nil || i < 0 || i >= len(d.calls) || q.Get("type") != "1" {
		http.Error(w, "unexpected dlr-url call "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	if d.calls[i].Add(1) > 1 {
		d.duplicates.Add(1)
		return
	}
	if d.total.Add(1) == int64(len(d.calls)) {
		close(d.all)
	}
}

func (d *dlrReceiver) close() { d.srv.Close() }
