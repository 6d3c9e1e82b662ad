package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // to watch the task outbox of the store the daemon writes

	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/webhook"
)

const (
	moFrom   = "+254712345678"
	moTo     = "22555"
	moText   = "BAL 1234"
	moSecret = "bal-webhook-secret"
)

// hookCall is one request the keyword webhook received.
type hookCall struct {
	status   int // what it was answered
	delivery string
	ts, sig  string
	body     []byte
}

// keywordHook is the BAL rule's webhook receiver: it answers 503 until the
// test lets it answer 200, and records every call.
type keywordHook struct {
	*httptest.Server
	up    atomic.Bool
	mu    sync.Mutex
	calls []hookCall
}

func newKeywordHook(t *testing.T) *keywordHook {
	h := &keywordHook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		status := http.StatusServiceUnavailable
		if h.up.Load() {
			status = http.StatusOK
		}
		h.mu.Lock()
		h.calls = append(h.calls, hookCall{status: status, delivery: r.Header.Get("X-Smsgw-Delivery"),
			ts: r.Header.Get("X-Smsgw-Timestamp"), sig: r.Header.Get("X-Smsgw-Signature"), body: body})
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *keywordHook) seen() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.calls...)
}

// writeKeywordConfig writes the crash test's config plus a BAL keyword rule
// whose webhook is url, with 127.0.0.1 on the webhook allow-list.
func writeKeywordConfig(t *testing.T, dir, carrierAddr, url string) string {
	t.Helper()
	path := writeConfig(t, dir, carrierAddr, 8)
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`keywords:
  - {keyword: BAL, webhook: {url: %q, secret: %q}}
webhooks: {allow_hosts: ["127.0.0.1"]}
`, url, moSecret)
	if err := os.WriteFile(path, append(base, extra...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// inboundUntil streams the tenant's inbound events from the start of the
// log until one satisfies stop, and returns them all.
func inboundUntil(t *testing.T, c *client.Client, stop func(*pb.InboundMessage) bool) []*pb.InboundMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_INBOUND}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*pb.InboundMessage
	for {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("stream inbound events (%d so far): %v", len(out), err)
		}
		out = append(out, ev.GetInbound())
		if stop(ev.GetInbound()) {
			return out
		}
	}
}

// webhookTaskState reads the keyword webhook task from the daemon's SQLite
// store: its failed runs so far and whether a runner holds it right now.
func webhookTaskState(db *sql.DB) (attempts int, leased bool, err error) {
	var leaseUntil int64
	err = db.QueryRow("SELECT attempts, lease_until FROM tasks WHERE kind = ?", gateway.TaskWebhook).Scan(&attempts, &leaseUntil)
	return attempts, leaseUntil != 0, err
}

// waitBound waits until the simulator has exactly one bound session and
// has seen at least binds binds, so an MO cannot go to a dead session.
func waitBound(t *testing.T, sim *smsc.Server, binds int64) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		if st := sim.Stats(); st.Bound != 1 || st.Binds < binds {
			return fmt.Errorf("simulator: %d sessions bound, %d binds so far; want 1 bound after %d binds", st.Bound, st.Binds, binds)
		}
		return nil
	})
}

// TestMOSurvivesCrash: an inbound message the gateway acknowledged is
// stored with its webhook task in one commit, so a SIGKILL between receipt
// and handling loses neither. The rule's webhook fails first (503); the
// daemon dies while the task waits for its retry; after a restart on the
// same store the webhook gets the message, signed, and the event log holds
// the message once.
func TestMOSurvivesCrash(t *testing.T) {
	hook := newKeywordHook(t)
	sim := smsc.NewServer()
	defer sim.Close()
	dir := t.TempDir()
	path := writeKeywordConfig(t, dir, sim.Addr(), hook.URL+"/bal")
	gw, addr := startGateway(t, path)
	c := dialGateway(t, addr)

	waitBound(t, sim, 1)
	if err := sim.SendMO(moFrom, moTo, moText); err != nil {
		t.Fatal(err)
	}
	// The gateway answers deliver_sm only once the message is stored.
	testutil.Eventually(t, 30*time.Second, func() error {
		if st := sim.Stats(); st.DeliverResps != 1 || st.DeliverRespErrors != 0 {
			return fmt.Errorf("simulator: %d deliver_sm_resp, %d with an error; want 1 OK", st.DeliverResps, st.DeliverRespErrors)
		}
		return nil
	})
	before := inboundUntil(t, c, func(m *pb.InboundMessage) bool { return m.GetText() == moText })
	in := before[len(before)-1]
	if in.GetKeyword() != "BAL" {
		t.Fatalf("inbound %s matched keyword %q, want BAL", in.GetId(), in.GetKeyword())
	}

	// Kill once the webhook has failed and its task waits for the retry
	// (attempts recorded, no lease held), so the restart finds the task
	// pending rather than claimed by the dead process.
	db, err := sql.Open("sqlite", filepath.Join(dir, "smsgw.db")+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := len(hook.seen()); n == 0 {
			return errors.New("the webhook has not been called")
		}
		attempts, leased, err := webhookTaskState(db)
		if err != nil {
			return fmt.Errorf("webhook task: %w", err)
		}
		if attempts == 0 || leased {
			return fmt.Errorf("webhook task: %d failed runs recorded, leased %v", attempts, leased)
		}
		return nil
	})
	if err := gw.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = gw.Wait()
	failed := len(hook.seen())
	attempts, leased, err := webhookTaskState(db)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Logf("gateway killed after %d failed webhook calls (%d recorded, task leased: %v)", failed, attempts, leased)
	for _, call := range hook.seen() {
		if call.status != http.StatusServiceUnavailable {
			t.Fatalf("the webhook answered %d before the crash", call.status)
		}
	}

	hook.up.Store(true)
	_, addr = startGateway(t, path)
	c = dialGateway(t, addr)

	// The task retry backoff starts at 1 s (gateway.Options.TaskRetryBase,
	// not in the config). A task the dead process still held (a kill in the
	// instant between the check above and the signal) waits for its lease
	// to lapse too: SQLite clears message leases on open, not task leases.
	wait := 20 * time.Second
	if leased {
		wait += time.Minute
	}
	var ok hookCall
	testutil.Eventually(t, wait, func() error {
		for _, call := range hook.seen() {
			if call.status == http.StatusOK {
				ok = call
				return nil
			}
		}
		return errors.New("the webhook has not received the message since the restart")
	})

	var p webhook.InboundPayload
	if err := json.Unmarshal(ok.body, &p); err != nil {
		t.Fatalf("webhook payload %s: %v", ok.body, err)
	}
	if p.ID != in.GetId() || p.Tenant != "default" || p.Carrier != "sim" || p.From != in.GetFrom() ||
		!strings.HasSuffix(p.From, "254712345678") || p.To != moTo || p.Text != moText || p.Keyword != "BAL" || p.Args != "1234" ||
		!p.ReceivedAt.Equal(in.GetReceivedAt().AsTime()) {
		t.Errorf("webhook payload = %+v; want the inbound message %v with args 1234", p, in)
	}
	if !webhook.Verify(moSecret, ok.ts, ok.body, ok.sig) {
		t.Errorf("webhook call is not signed with the rule's secret (timestamp %q, signature %q)", ok.ts, ok.sig)
	}
	if want := "mo:" + in.GetId() + ":webhook"; ok.delivery != want {
		t.Errorf("X-Smsgw-Delivery = %q, want %q", ok.delivery, want)
	}
	for _, call := range hook.seen() {
		if call.delivery != ok.delivery {
			t.Errorf("a call carried delivery id %q, another %q: retries must keep theirs", call.delivery, ok.delivery)
		}
	}

	// A second MO after the restart marks the end of the log to read: the
	// BAL message must be in it once, with the id it had before the crash.
	waitBound(t, sim, 2)
	if err := sim.SendMO(moFrom, moTo, "MARK after restart"); err != nil {
		t.Fatal(err)
	}
	after := inboundUntil(t, c, func(m *pb.InboundMessage) bool { return m.GetText() == "MARK after restart" })
	var bal []*pb.InboundMessage
	for _, m := range after {
		if m.GetText() == moText {
			bal = append(bal, m)
		}
	}
	if len(bal) != 1 || bal[0].GetId() != in.GetId() {
		t.Fatalf("the event log holds %d BAL messages (%v), want exactly %s", len(bal), bal, in.GetId())
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if st := sim.Stats(); st.MOSent != 2 || st.DeliverResps != 2 || st.DeliverRespErrors != 0 {
			return fmt.Errorf("simulator: %d MOs sent, %d deliver_sm_resp (%d errors); want 2 sent and 2 acknowledged",
				st.MOSent, st.DeliverResps, st.DeliverRespErrors)
		}
		return nil
	})
	t.Logf("BAL %s delivered to the webhook after the restart; %d calls in all", in.GetId(), len(hook.seen()))
}

// TestMOResentAfterCrashStoredOnce: the gateway stores a single-part MO
// (which carries no id) and is killed before the carrier sees its
// deliver_sm_resp; the carrier binds to the restarted gateway and sends
// the MO again. The resend is recognised (same sender, recipient and text,
// received on a link opened since, within mo_resend_window) and
// acknowledged without a second copy; the client sending the same text
// again on that link is a new message, stored.
func TestMOResentAfterCrashStoredOnce(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	dir := t.TempDir()
	path := writeConfig(t, dir, sim.Addr(), 10)
	gw, addr := startGateway(t, path)
	c := dialGateway(t, addr)
	waitBound(t, sim, 1)
	if err := sim.SendMO(moFrom, moTo, moText); err != nil {
		t.Fatal(err)
	}
	first := inboundUntil(t, c, func(m *pb.InboundMessage) bool { return m.GetText() == moText })
	// Stored: kill now. Whether the deliver_sm_resp left before the
	// signal or not, the carrier treats the MO as unacknowledged and
	// sends it again on its next bind, which is what it does when the
	// gateway dies between store and acknowledgment.
	if err := gw.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = gw.Wait()

	_, addr = startGateway(t, path)
	c = dialGateway(t, addr)
	waitBound(t, sim, 2)
	if err := sim.SendMO(moFrom, moTo, moText); err != nil { // the carrier's resend
		t.Fatal(err)
	}
	if err := sim.SendMO(moFrom, moTo, moText); err != nil { // the client asks again
		t.Fatal(err)
	}
	if err := sim.SendMO(moFrom, moTo, "MARK after restart"); err != nil {
		t.Fatal(err)
	}
	all := inboundUntil(t, c, func(m *pb.InboundMessage) bool { return m.GetText() == "MARK after restart" })
	var bal []string
	for _, m := range all {
		if m.GetText() == moText {
			bal = append(bal, m.GetId())
		}
	}
	if len(bal) != 2 || bal[0] != first[len(first)-1].GetId() {
		t.Fatalf("the event log holds %d BAL messages %v, want the one stored before the crash (%s) and the client's second",
			len(bal), bal, first[len(first)-1].GetId())
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if st := sim.Stats(); st.DeliverResps < 4 || st.DeliverRespErrors != 0 {
			return fmt.Errorf("simulator: %d deliver_sm_resp, %d errors; want every MO acknowledged OK", st.DeliverResps, st.DeliverRespErrors)
		}
		return nil
	})
}
