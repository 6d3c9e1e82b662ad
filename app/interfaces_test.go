package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/httpapi/kannel"
	"github.com/openmf/smsgw/httpapi/messagegateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
	"github.com/openmf/smsgw/webhook"
)

// TestInterfacesFromOneConfig wires every interface of issue 6 and 7 from
// the config the way `smsgw serve` does: Kannel's sendsms with dlr-url
// callbacks, a Kannel sms-service answering BAL, Fineract's message-gateway
// API on the HTTP listener, and STOP.
func TestInterfacesFromOneConfig(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(10*time.Millisecond, 20*time.Millisecond))
	defer sim.Close()

	var (
		mu   sync.Mutex
		dlrs = map[string]int{}
	)
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/dlr":
			mu.Lock()
			dlrs[r.URL.Query().Get("ref")+"/"+r.URL.Query().Get("type")]++
			mu.Unlock()
		case "/bal":
			fmt.Fprintf(w, "Balance for %s: KES 100", r.URL.Query().Get("args"))
		}
	}))
	defer hooks.Close()

	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Tenants[0].Senders = []string{"22333"}
	cfg.Tenants[0].Fineract = &messagegateway.TenantConfig{TenantIDs: []string{"default"}, AppKeys: []string{"fineract-app-key"},
		Bridges: []messagegateway.Bridge{{ID: 1, PhoneNo: "MFI-A", ProviderName: "smsgw", Description: "reminders"}}}
	cfg.Kannel = &kannel.Config{Listen: "127.0.0.1:0", Users: []kannel.User{{Username: "app", Password: "app-secret", Tenant: "mfi-a"}}}
	cfg.Webhooks = webhook.Config{AllowHosts: []string{"127.0.0.1"}}
	cfg.Keywords = []config.Keyword{{Keyword: "BAL", Tenants: []string{"mfi-a"},
		Kannel: &kannel.Service{GetURL: hooks.URL + "/bal?args=%s"}}}
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg)

	// Kannel sendsms with a dlr-url asking for "accepted by the SMSC" (8)
	// and "delivered" (1).
	dlrURL := hooks.URL + "/dlr?ref=k1&type=%d"
	q := url.Values{"username": {"app"}, "password": {"app-secret"}, "to": {"0712345678"}, "text": {"Meeting on Friday"},
		"dlr-mask": {"9"}, "dlr-url": {dlrURL}}
	resp, err := http.Get("http://" + a.KannelAddr() + "/cgi-bin/sendsms?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || string(body) != "0: Accepted for delivery" {
		t.Fatalf("sendsms answered %d %q", resp.StatusCode, body)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if dlrs["k1/8"] != 1 || dlrs["k1/1"] != 1 {
			return fmt.Errorf("dlr-url calls %v, want k1/8 and k1/1 once each", dlrs)
		}
		return nil
	})

	// Fineract posts a page, then polls until the message is delivered.
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+a.HTTPAddr()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Fineract-Platform-TenantId", "default")
		req.Header.Set("Fineract-Tenant-App-Key", "fineract-app-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := post("/sms", `[{"internalId":41,"mobileNumber":"0712345679","message":"Repayment due","providerId":1}]`); code != http.StatusAccepted {
		t.Fatalf("POST /sms: %d %s", code, b)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		_, b := post("/sms/report", `[41]`)
		var rep []struct {
			DeliveryStatus int  `json:"deliveryStatus"`
			HasError       bool `json:"hasError"`
		}
		if err := json.Unmarshal([]byte(b), &rep); err != nil || len(rep) != 1 || rep[0].DeliveryStatus != 300 || rep[0].HasError {
			return fmt.Errorf("report %s (%v), want delivered (300)", b, err)
		}
		return nil
	})

	// A client texts BAL to the tenant's shortcode: the Kannel service's
	// answer comes back as the reply, from the shortcode.
	if err := sim.SendMO("+254712000001", "22333", "BAL 1234"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, s := range sim.Submits() {
			if s.Dest == "254712000001" && s.Source == "22333" && string(s.ShortMessage) == "Balance for 1234: KES 100" {
				return nil
			}
		}
		return fmt.Errorf("no reply to the BAL client among %d submits", len(sim.Submits()))
	})

	// STOP, then a Kannel send to that number is stored OPTED_OUT and its
	// dlr-url reports the failure (16, rejected) instead of a delivery.
	if err := sim.SendMO("+254712000002", "22333", "STOP"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, s := range sim.Submits() {
			if s.Dest == "254712000002" {
				return nil
			}
		}
		return fmt.Errorf("no STOP confirmation yet")
	})
	q.Set("to", "+254712000002")
	q.Set("dlr-mask", "31")
	q.Set("dlr-url", hooks.URL+"/dlr?ref=k2&type=%d")
	if resp, err = http.Get("http://" + a.KannelAddr() + "/cgi-bin/sendsms?" + q.Encode()); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testutil.Eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if dlrs["k2/16"] != 1 || dlrs["k2/1"]+dlrs["k2/8"] != 0 {
			return fmt.Errorf("dlr-url calls %v, want k2/16 once and no delivery", dlrs)
		}
		return nil
	})
}
