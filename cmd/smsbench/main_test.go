package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/internal/testutil"
)

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"help"}, 0},
		{[]string{"run"}, 2},                        // no scenario
		{[]string{"run", "a.yaml", "b.yaml"}, 2},    // two
		{[]string{"run", "no/such/file.yaml"}, 1},   // unreadable
		{[]string{"load", "--mix", "gsm=x"}, 2},     // bad mix
		{[]string{"smsc", "--carrier", "tps=1"}, 2}, // no name
		{[]string{"load", "--bogus"}, 2},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tt.args, &out, &errb); code != tt.code {
			t.Errorf("smsbench %q: exit %d, want %d (stderr %q)", tt.args, code, tt.code, errb.String())
		}
	}
}

// TestRunScenario runs a small scenario file through the command, flags
// after the file, and checks the summary and both report files.
func TestRunScenario(t *testing.T) {
	dir := t.TempDir()
	scenario := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(scenario, []byte(`
name: tiny
carriers: [{name: only}]
load: {clients: 4, count: 1000, mix: {gsm: 1, ucs2: 1, multipart: 1}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	var out, errb testutil.Buffer
	// 60 messages at 100/s: long enough for the series to chart (a count
	// sent flat out may end before the first sample).
	code := run(context.Background(), []string{"run", scenario, "--count", "60", "--rate", "100", "--json", jsonPath, "--html", htmlPath, "--dir", dir}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"tiny: grpc at 100 msg/s", "accepted 60", "delivered 60", "lost 0, duplicated 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	var rep struct {
		Accepted, Delivered int64
		Series              []json.RawMessage
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rep); err != nil || rep.Accepted != 60 || rep.Delivered != 60 {
		t.Errorf("JSON report: %+v, %v", rep, err)
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil || !bytes.Contains(page, []byte("<svg")) || bytes.Contains(page, []byte("<script")) {
		t.Errorf("HTML report: %d bytes, %v", len(page), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "smsgw.db")); err != nil {
		t.Errorf("--dir: the store is not there: %v", err)
	}
}

// TestSMSC starts a farm, reads its addresses from the output, checks that
// they accept connections and that the counters are served, then stops it
// the way SIGINT does.
func TestSMSC(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testutil.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"smsc", "--carrier", "name=a,tps=100", "--carrier", "name=b,latency=1ms..2ms,mo_rate=1",
			"--http", "127.0.0.1:0", "--every", "0"}, &out, &errb)
	}()
	addrs := regexp.MustCompile(`carrier (\w+) listening on (\S+)`)
	stats := regexp.MustCompile(`counters at (http://\S+/stats)`)
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(addrs.FindAllString(out.String(), -1)) != 2 || !stats.MatchString(out.String()) ||
			!strings.Contains(out.String(), "currency: KES") {
			return fmt.Errorf("output so far: %q", out.String())
		}
		return nil
	})
	for _, m := range addrs.FindAllStringSubmatch(out.String(), -1) {
		c, err := net.Dial("tcp", m[2])
		if err != nil {
			t.Errorf("carrier %s at %s: %v", m[1], m[2], err)
			continue
		}
		c.Close()
	}
	resp, err := http.Get(stats.FindStringSubmatch(out.String())[1])
	if err != nil {
		t.Fatal(err)
	}
	var st []struct{ Name string }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st) != 2 || st[1].Name != "b" {
		t.Errorf("stats %+v, %v", st, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("smsc did not stop on cancel")
	}
}

// TestLoadKannel drives a fake sendsms through the load command's flags.
func TestLoadKannel(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		if r.URL.Query().Get("username") != "u" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("0: Accepted for delivery"))
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"load", "--driver", "kannel", "--target", srv.URL, "--username", "u", "--password", "p",
		"--count", "25", "--clients", "3", "--rate", "500", "--quiet"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "accepted 25") || n != 25 {
		t.Errorf("exit %d, %d requests\nstdout:\n%s\nstderr:\n%s", code, n, out.String(), errb.String())
	}

	// Measured by its pid (this process stands in for the gateway).
	out.Reset()
	errb.Reset()
	code = run(context.Background(), []string{"load", "--driver", "kannel", "--target", srv.URL, "--username", "u", "--password", "p",
		"--count", "5", "--quiet", "--gateway-pid", strconv.Itoa(os.Getpid())}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "µs a message") {
		t.Errorf("--gateway-pid: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	errb.Reset()
	code = run(context.Background(), []string{"load", "--driver", "kannel", "--target", srv.URL, "--count", "5", "--gateway-pid", "12,bearerbox"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), `-gateway-pid: "bearerbox" is not a process id`) {
		t.Errorf("a bad pid: exit %d, stderr %q", code, errb.String())
	}
}
