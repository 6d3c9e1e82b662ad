package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/internal/cli"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// TestMain lets a test start this very binary as the smsgw daemon in a child
// process, so a crash test can SIGKILL a real gateway.
func TestMain(m *testing.M) {
	if os.Getenv("SMSGW_TEST_RUN_MAIN") == "1" {
		os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const crashKey = "crash-test-key-01"

func writeConfig(t *testing.T, dir, carrierAddr string, window int) string {
	t.Helper()
	return writeConfigWith(t, dir, fmt.Sprintf("{driver: sqlite, path: %s}", filepath.Join(dir, "smsgw.db")), carrierAddr, 1, window)
}

// writeConfigWith writes a gateway config on ephemeral loopback ports with
// the given store section and one SMPP carrier, "sim".
func writeConfigWith(t *testing.T, dir, storeYAML, carrierAddr string, binds, window int) string {
	t.Helper()
	i := strings.LastIndexByte(carrierAddr, ':')
	cfg := fmt.Sprintf(`listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
store: %s
tenants:
  - {id: default, api_keys: ["${SMSGW_CRASH_KEY}"], default_region: KE, sender: MFI}
carriers:
  - name: sim
    smpp: {host: %s, port: %s, system_id: mfi, password: secret, bind: transceiver, binds: %d, window: %d, enquire_link: 30s, rebind_interval: 1s}
routes:
  - {prefix: "+", carrier: sim, cost: 1.0, currency: KES}
`, storeYAML, carrierAddr[:i], carrierAddr[i+1:], binds, window)
	path := filepath.Join(dir, "smsgw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var startedRE = regexp.MustCompile(`msg="smsgw started" grpc=(\S+)`)

// startGateway runs `smsgw serve --config path` in a child process and
// returns it with its gRPC address once it listens.
func startGateway(t *testing.T, path string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", path)
	cmd.Env = append(os.Environ(), "SMSGW_TEST_RUN_MAIN=1", "SMSGW_CRASH_KEY="+crashKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := startedRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start")
	}
	return nil, ""
}

func dialGateway(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.Dial(addr, crashKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCrashLosesNothing kills a gateway with SIGKILL in the middle of a
// 5,000-message load, restarts it on the same store, and checks that every
// message whose id was returned reaches DELIVERED, and that what the carrier
// received twice stays within the in-flight window.
func TestCrashLosesNothing(t *testing.T) {
	const (
		total  = 5000
		window = 32
	)
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 2*time.Millisecond))
	defer sim.Close()
	dir := t.TempDir()
	path := writeConfig(t, dir, sim.Addr(), window)
	gw, addr := startGateway(t, path)
	c := dialGateway(t, addr)

	var (
		mu       sync.Mutex
		ids      = map[string]bool{}
		accepted atomic.Int64
		killed   atomic.Bool
		wg       sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += 8 {
				if accepted.Load() >= total/2 && killed.CompareAndSwap(false, true) {
					// Mid-load: the gateway dies with accepts, submits and
					// receipts in flight.
					_ = gw.Process.Signal(syscall.SIGKILL)
				}
				to := fmt.Sprintf("+2547%08d", 20000000+i)
				r, err := c.Send(context.Background(), &pb.SendRequest{To: to, Text: fmt.Sprintf("crash test %d", i)})
				if err != nil {
					if killed.Load() {
						return
					}
					t.Errorf("send %d: %v", i, err)
					return
				}
				accepted.Add(1)
				mu.Lock()
				ids[r.GetId()] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	_ = gw.Wait()
	if !killed.Load() {
		t.Fatal("the load finished before the gateway was killed")
	}
	t.Logf("gateway killed with %d messages accepted", len(ids))

	_, addr = startGateway(t, path)
	c = dialGateway(t, addr)
	waitDelivered(t, c, ids, 2*time.Minute)
	resent := resentParts(sim)
	t.Logf("after SIGKILL and restart: %d accepted messages all DELIVERED; %d parts sent twice (in-flight window %d)", len(ids), resent, window)
	fmt.Fprintf(os.Stderr, "crash test: %d accepted, %d resent to the carrier (window %d)\n", len(ids), resent, window)
	if resent > window {
		t.Errorf("%d parts resent, more than the in-flight window of %d", resent, window)
	}
}

// waitDelivered fails the test unless every id reaches DELIVERED in time.
func waitDelivered(t *testing.T, c *client.Client, ids map[string]bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for id := range ids {
		for {
			m, err := c.GetMessage(context.Background(), &pb.GetMessageRequest{Id: id})
			if err != nil {
				t.Fatalf("accepted message %s lost: %v", id, err)
			}
			if m.GetStatus() == pb.Status_STATUS_DELIVERED {
				break
			}
			if m.GetStatus() > pb.Status_STATUS_DELIVERED || time.Now().After(deadline) {
				t.Fatalf("message %s is %v (%s)", id, m.GetStatus(), m.GetLastError())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// resentParts counts the parts the simulator received more than once (the
// tests give every message its own destination and text).
func resentParts(sim *smsc.Server) int {
	counts := map[string]int{}
	for _, s := range sim.Submits() {
		counts[s.Dest+"/"+string(s.ShortMessage)]++
	}
	resent := 0
	for _, n := range counts {
		resent += n - 1
	}
	return resent
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, "127.0.0.1:2775", 10)
	t.Setenv("SMSGW_CRASH_KEY", crashKey)
	var out, errb bytes.Buffer
	if code := cli.Run([]string{"check-config", good}, &out, &errb); code != 0 {
		t.Fatalf("valid config: exit %d: %s", code, errb.String())
	}
	// The test config writes the carrier's password in the file: a
	// warning, which only --strict refuses.
	if !strings.Contains(errb.String(), "warning: carriers[0].smpp.password: line") || !strings.Contains(out.String(), "ok, ") {
		t.Errorf("warnings: stdout %q, stderr %q", out.String(), errb.String())
	}
	errb.Reset()
	if code := cli.Run([]string{"check-config", "--strict", good}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "--strict refuses them") {
		t.Errorf("--strict with warnings: exit %d: %s", code, errb.String())
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("bogus_key: 1\nstore: {driver: sqlite, path: x, colour: red}\n"), 0o600)
	errb.Reset()
	if code := cli.Run([]string{"check-config", bad}, io.Discard, &errb); code != 1 {
		t.Fatalf("bad config: exit %d", code)
	}
	for _, want := range []string{"bogus_key: not a known key", "(line 1)", "store.colour: not a known key", "(line 2)"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	var errb bytes.Buffer
	if code := cli.Run([]string{"frobnicate"}, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "frobnicate"`) {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

func TestRouteCommand(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, "127.0.0.1:2775", 10)
	t.Setenv("SMSGW_CRASH_KEY", crashKey)
	var out, errb bytes.Buffer
	if code := cli.Run([]string{"route", "--config", path, "--to", "0712345678"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"route for +254712345678 (tenant \"default\", sender \"MFI\"", "1. sim via + at 1 KES/part"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	errb.Reset()
	if code := cli.Run([]string{"route", "--config", path, "--to", "12"}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "--to:") {
		t.Errorf("invalid number: exit %d: %s", code, errb.String())
	}
}

// TestSendWaitSaysWhy: `send --wait` to a number no route covers prints
// FAILED and the reason at once; to a carrier that is down it says, when it
// gives up, what the message waits for; `get` shows the same last_error.
func TestSendWaitSaysWhy(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	carrier := dead.Addr().String()
	dead.Close() // nothing listens: the carrier never binds
	dir := t.TempDir()
	path := writeConfig(t, dir, carrier, 10)
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte(`prefix: "+"`), []byte(`prefix: "+254"`), 1)
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	_, addr := startGateway(t, path)
	t.Setenv("SMSGW_ADDR", addr)
	t.Setenv("SMSGW_API_KEY", crashKey)

	var out, errb bytes.Buffer
	if code := cli.Run([]string{"send", "--to", "+255754123456", "--text", "hi", "--wait", "--timeout", "5s"}, &out, &errb); code != 1 ||
		!strings.HasSuffix(out.String(), "FAILED\n") || !strings.Contains(errb.String(), "last error: no route for +255754123456") {
		t.Fatalf("unroutable: exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code := cli.Run([]string{"send", "--to", "0712345678", "--text", "hi", "--wait", "--timeout", "1s"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "still ACCEPTED after 1s") ||
		!strings.Contains(errb.String(), "last error: waiting: carrier sim has no bound link since ") {
		t.Fatalf("carrier down: exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	id := strings.TrimSpace(out.String())
	out.Reset()
	// protojson varies its spacing on purpose: read the field, not the text.
	var got struct {
		LastError string `json:"last_error"`
	}
	code = cli.Run([]string{"get", id}, &out, &errb)
	if err := json.Unmarshal(out.Bytes(), &got); code != 0 || err != nil ||
		!strings.HasPrefix(got.LastError, "waiting: carrier sim has no bound link since ") {
		t.Fatalf("get: exit %d, %v\n%s", code, err, out.String())
	}
}
