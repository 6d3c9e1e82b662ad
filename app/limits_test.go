package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/gateway/limits"
	"github.com/openmf/smsgw/httpapi/kannel"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// TestGRPCKeyGuessesBackOff: wrong API keys from one address back off, so
// the next calls from it (even with a valid key) are refused unchecked
// with ResourceExhausted; a message accepted before is untouched.
func TestGRPCKeyGuessesBackOff(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Limits.Auth.Base, cfg.Limits.Auth.Max = time.Hour, time.Hour
	a := apptest.Start(t, cfg)
	ctx := context.Background()
	good := dial(t, a.GRPCAddr(), apptest.KeyA, grpc.WithDisableRetry())
	sent, err := good.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "before"})
	if err != nil {
		t.Fatal(err)
	}
	bad := dial(t, a.GRPCAddr(), "guessed-key", grpc.WithDisableRetry())
	for i := range 5 {
		if _, err := bad.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "x"}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	_, err = good.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "after"})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "too many failed logins") {
		t.Fatalf("valid key from a backing-off address: %v", err)
	}
	if got, err := a.Engine().Get(ctx, "mfi-a", sent.GetId()); err != nil || got.Text != "before" {
		t.Fatalf("the message accepted before: %v %v", got, err)
	}
}

// TestKannelListenerBounds: a client trickling a body is cut off at the
// read timeout (1,000 such connections held 526 fds before), the
// listener serves at most max_connections at once, and a cross-origin
// browser call is refused before sendsms sees it.
func TestKannelListenerBounds(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Kannel = &kannel.Config{Listen: "127.0.0.1:0", Users: []kannel.User{{Username: "app", Password: "app-secret", Tenant: "mfi-a"}}}
	cfg.Limits.Kannel.ReadTimeout = 200 * time.Millisecond
	cfg.Limits.Kannel.MaxConnections = 2
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a := apptest.StartWith(t, cfg, app.Options{Registry: reg})
	addr := a.KannelAddr()

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, _ = io.WriteString(slow, "POST /cgi-bin/sendsms HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nX-Kannel-Username: app\r\n"+
		"X-Kannel-Password: app-secret\r\nX-Kannel-To: +254712345678\r\nContent-Length: 1000\r\n\r\nslow")
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(slow); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a trickling body was not cut off: %v", err)
	}

	// Two idle connections fill the listener; a third call waits until
	// one of them closes.
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := gauge(t, reg, "smsgw_listener_connections", "kannel"); got != 2 {
			return errors.New("want 2 open kannel connections")
		}
		return nil
	})
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/cgi-bin/sendsms?user=app&pass=app-secret&to=%2B254712345678&text=queued")
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case code := <-answered:
		t.Fatalf("a third connection was served over max_connections 2: %d", code)
	case <-time.After(200 * time.Millisecond):
	}
	idle[0].Close()
	if code := <-answered; code != http.StatusAccepted {
		t.Fatalf("the waiting call: %d", code)
	}

	idle[1].Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/cgi-bin/sendsms?user=app&pass=app-secret&to=%2B254712345678&text=csrf", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "cross-origin requests are refused") {
		t.Fatalf("cross-origin call: %d %s", resp.StatusCode, body)
	}
}

// gauge reads a gauge's value for one listener label.
func gauge(t *testing.T, reg *prometheus.Registry, name, listener string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "listener" && l.GetValue() == listener {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// TestFraudControlsOverGRPC: a stolen tenant key could send to
// +881612345678 and without limit. Now the satellite number and a message
// over the tenant's daily spend cap are answered REJECTED, stored with the
// reason and never reach the carrier, and the Admin service shows the
// controls and the spend.
func TestFraudControlsOverGRPC(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Tenants[0].Fraud = &limits.FraudConfig{DailySpendCap: 2} // the route costs 0.8 a part
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg)
	ctx := context.Background()
	cl := dial(t, a.GRPCAddr(), apptest.KeyA, grpc.WithDisableRetry())
	var statuses []pb.Status
	var ids []string
	for _, to := range []string{"+254712345678", "+881612345678", "+254712345679", "+254712345670"} {
		r, err := cl.Send(ctx, &pb.SendRequest{To: to, Text: "Reminder"})
		if err != nil {
			t.Fatalf("send to %s: %v", to, err)
		}
		statuses, ids = append(statuses, r.GetStatus()), append(ids, r.GetId())
	}
	want := []pb.Status{pb.Status_STATUS_ACCEPTED, pb.Status_STATUS_REJECTED, pb.Status_STATUS_ACCEPTED, pb.Status_STATUS_REJECTED}
	if !slices.Equal(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
	for i, reason := range map[int]string{1: "high-risk range", 3: "daily spend cap"} {
		m, err := cl.GetMessage(ctx, &pb.GetMessageRequest{Id: ids[i]})
		if err != nil || m.GetStatus() != pb.Status_STATUS_REJECTED || !strings.Contains(m.GetLastError(), reason) {
			t.Errorf("message %d: %v %v, want REJECTED for %q", i, m, err, reason)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := sim.Stats().Submits; n != 2 {
			return fmt.Errorf("%d submits, want the 2 allowed", n)
		}
		return nil
	})
	admin := pb.NewAdminClient(dial(t, a.GRPCAddr(), apptest.AdminKey).Conn())
	lim, err := admin.GetTenantLimits(ctx, &pb.GetTenantLimitsRequest{Tenant: "mfi-a"})
	if err != nil {
		t.Fatal(err)
	}
	tl := lim.GetTenants()[0]
	if tl.GetSpendToday() < 1.59 || tl.GetSpendToday() > 1.61 || tl.GetDailySpendCap() != 2 || !slices.Contains(tl.GetHighRiskDenied(), "+881") {
		t.Fatalf("tenant limits %v", tl)
	}
	if _, err := admin.GetTenantLimits(ctx, &pb.GetTenantLimitsRequest{Tenant: "nobody"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown tenant: %v", err)
	}
}
