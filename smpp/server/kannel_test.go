package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// Debian's Kannel (package kannel, 1.4.5), the independent ESME: make
// test installs it (make kannel-installed).
const (
	bearerbox = "/usr/sbin/bearerbox"
	smsbox    = "/usr/sbin/smsbox"
)

// freePort picks a free TCP port on the loopback interface for a program
// that takes its port from a config file.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runKannel starts bearerbox and, once bearerbox takes boxes on boxPort,
// smsbox with conf until the test ends; on failure their logs go to the
// test output.
func runKannel(t *testing.T, dir, conf string, boxPort int) {
	t.Helper()
	path := filepath.Join(dir, "kannel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{bearerbox, smsbox} {
		if bin == smsbox { // smsbox gives up at once if bearerbox is not there
			testutil.Eventually(t, wait, func() error {
				c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(boxPort))
				if err == nil {
					c.Close()
				}
				return err
			})
		}
		cmd := exec.Command(bin, path)
		cmd.Dir = dir
		out, err := os.Create(filepath.Join(dir, filepath.Base(bin)+".out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			out.Close()
		})
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, f := range []string{"bearerbox.log", "smsbox.log", "bearerbox.out", "smsbox.out"} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("== %s\n%s", f, b)
		}
	})
}

// TestKannelAsESME binds Debian's Kannel to smsgw (group smsc, smsc =
// smpp, transceiver), sends through its sendsms with a dlr-url and gets
// the delivery report: Kannel matched smsgw's receipt to the id smsgw
// answered its submit_sm with.
func TestKannelAsESME(t *testing.T) {
	for _, bin := range []string{bearerbox, smsbox} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s: %v; install Debian's kannel package (make kannel-installed)", bin, err)
		}
	}
	a, sim, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{account(t)}})
	_, smppPort, _ := net.SplitHostPort(addr)

	var (
		mu      sync.Mutex
		reports []url.Values
	)
	dlr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reports = append(reports, r.URL.Query())
		mu.Unlock()
	}))
	t.Cleanup(dlr.Close)

	dir := t.TempDir()
	admin, box, sendsms := freePort(t), freePort(t), freePort(t)
	runKannel(t, dir, fmt.Sprintf(`group = core
admin-port = %d
admin-password = adminpw
admin-interface = 127.0.0.1
smsbox-port = %d
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "%s/bearerbox.log"
log-level = 0
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = smsgw
host = 127.0.0.1
port = %s
transceiver-mode = true
smsc-username = bank
smsc-password = secret
system-type = test
enquire-link-interval = 30
max-pending-submits = 10
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = %d
sendsms-port = %d
sendsms-interface = 127.0.0.1
log-file = "%s/smsbox.log"
log-level = 0

group = sendsms-user
username = app
password = apppw
concatenation = true
max-messages = 10

group = sms-service
keyword = default
text = "ok"
`, admin, box, dir, smppPort, box, sendsms, dir), box)

	// smsbox panics on a sendsms that comes before it reached bearerbox:
	// wait for bearerbox's status page to list it.
	status := "http://127.0.0.1:" + strconv.Itoa(admin) + "/status.txt?password=adminpw"
	testutil.Eventually(t, wait, func() error {
		resp, err := http.Get(status)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "smsbox:") {
			return fmt.Errorf("smsbox has not connected to bearerbox:\n%s", body)
		}
		return nil
	})
	testutil.Eventually(t, wait, func() error {
		for _, acc := range a.SMPPServer().Accounts() {
			if acc.SystemID == "bank" && len(acc.Binds) > 0 {
				return nil
			}
		}
		return errors.New("Kannel has not bound to smsgw")
	})
	q := url.Values{
		"username": {"app"}, "password": {"apppw"}, "from": {"MFI-A"}, "to": {"+254712345678"},
		"text": {"Kannel says hello through smsgw"}, "dlr-mask": {"3"},
		"dlr-url": {dlr.URL + "/dlr?type=%d&smsc=%i&report=%A"},
	}
	sendURL := "http://127.0.0.1:" + strconv.Itoa(sendsms) + "/cgi-bin/sendsms?" + q.Encode()
	testutil.Eventually(t, wait, func() error { // smsbox may still be connecting to bearerbox
		resp, err := http.Get(sendURL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("sendsms: %d %s", resp.StatusCode, body)
		}
		return nil
	})
	var report url.Values
	testutil.Eventually(t, wait, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range reports {
			if r.Get("type") == "1" {
				report = r
				return nil
			}
		}
		return fmt.Errorf("no delivered report yet (%d reports: %v)", len(reports), reports)
	})
	if r := report.Get("report"); !strings.Contains(r, "stat:DELIVRD") || report.Get("smsc") != "smsgw" {
		t.Errorf("report %v", report)
	}
	subs := sim.Submits()
	if len(subs) != 1 || subs[0].Dest != "254712345678" {
		t.Fatalf("the carrier got %+v", subs)
	}

	// A long text: Kannel cuts it into UDH parts, smsgw joins them into
	// one message, and each part's receipt reaches Kannel.
	long := strings.Repeat("Your savings statement is ready. ", 6)[:190]
	q.Set("text", long)
	q.Set("dlr-url", dlr.URL+"/dlr?type=%d&long=1")
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(sendsms) + "/cgi-bin/sendsms?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testutil.Eventually(t, wait, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range reports {
			if r.Get("long") == "1" && r.Get("type") == "1" {
				return nil
			}
		}
		return errors.New("no delivered report for the long text yet")
	})
	msgs, err := a.Engine().List(context.Background(), "mfi-a", gateway.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range msgs {
		if m.Text != "Kannel says hello through smsgw" {
			texts = append(texts, m.Text)
		}
	}
	if len(texts) != 1 || texts[0] != long {
		t.Errorf("the long text became %q, want one message %q (Kannel's parts joined)", texts, long)
	}
	if n := len(sim.Submits()); n != 3 {
		t.Errorf("the carrier got %d parts, want 1 + 2", n)
	}
}
