package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/httpapi/kannel"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
)

// TestKannelStatusCounters: /status shows the carrier as bearerbox shows
// an SMSC connection (gw/bb_smscconn.c smsc2_status), with the gateway's
// real counters: online since its bind came up, parts sent, receipts and
// MO received, a refused part as failed.
func TestKannelStatusCounters(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 5*time.Millisecond), smsc.WithHandler(func(s *smsc.Submit) smsc.Action {
		if strings.HasSuffix(s.Dest, "99") {
			return smsc.Action{Status: 0x0B} // ESME_RINVDSTADR
		}
		return smsc.Action{}
	}))
	defer sim.Close()
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Kannel = &kannel.Config{Listen: "127.0.0.1:0", Users: []kannel.User{{Username: "app", Password: "app-secret", Tenant: "mfi-a"}}}
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg)
	get := func(path string) (string, string) {
		resp, err := http.Get("http://" + a.KannelAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type"), string(b)
	}
	for _, to := range []string{"0712345678", "0712345699"} {
		q := url.Values{"username": {"app"}, "password": {"app-secret"}, "to": {to}, "text": {"Meeting on Friday"}, "dlr-mask": {"1"}}
		if _, body := get("/cgi-bin/sendsms?" + q.Encode()); body != "0: Accepted for delivery" {
			t.Fatalf("sendsms: %q", body)
		}
	}
	if err := sim.SendMO("+254712000099", "22555", "hello"); err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^    sim\[sim\]    SMPP:127\.0\.0\.1:\d+/\d+:mfi: \(online (\d+)s, ` +
		`rcvd: sms 1 \(\d+\.\d\d,\d+\.\d\d,\d+\.\d\d\) / dlr 1 \([0-9.,]+\), sent: sms 1 \([0-9.,]+\) / dlr 0 \(0\.00,0\.00,0\.00\), ` +
		`failed 1, queued 0 msgs\)$`)
	testutil.Eventually(t, 20*time.Second, func() error {
		ct, body := get("/status.txt")
		if ct != "text/plain" || !line.MatchString(body) {
			return fmt.Errorf("status (%s):\n%s", ct, body)
		}
		if !strings.HasPrefix(body, "Kannel bearerbox version `1.4.5'.\nBuild `smsgw ") ||
			!strings.Contains(body, "\nSMS: received 1 (0 queued), sent 1 (0 queued), store size 0\n") ||
			!strings.Contains(body, "\nDLR: received 1, sent 0\n") {
			return fmt.Errorf("bearerbox lines:\n%s", body)
		}
		return nil
	})
	ct, body := get("/status.xml")
	if ct != "text/plain" || !strings.Contains(body, "\t\t<admin-id>sim</admin-id>\n\t\t<id>sim</id>\n\t\t<status>online ") {
		t.Errorf("status.xml (%s):\n%s", ct, body)
	}
}
