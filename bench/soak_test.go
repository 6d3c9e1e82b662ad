//go:build soak

package bench

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/config"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/routing"
	"github.com/openmf/smsgw/smpp"
	"github.com/openmf/smsgw/smpp/smsc"
)

// soakFaults are what each simulated carrier does to the gateway: 10% of
// submits throttled, about one link drop per 1,000 accepted submits (the
// response dies with the link, the receipt follows on the next bind), a
// fifth of the receipts sent before their submit_sm_resp, responses and
// receipts delayed at random.
func soakFaults() []smsc.Option {
	return []smsc.Option{
		smsc.WithThrottle(0.10),
		smsc.WithLinkDrops(0.001),
		smsc.WithReceiptsFirst(0.2),
		smsc.WithResponseDelay(0, 2*time.Millisecond),
		smsc.WithReceiptDelay(0, 20*time.Millisecond),
	}
}

// TestSoak sends 20,000 messages through 2 carriers × 2 binds under
// soakFaults and requires every one to end DELIVERED. Duplicates at the
// simulators (the same part accepted twice, after a link drop lost its
// response) are counted, printed and bounded by the windows: each lost link
// can have had at most one window of unanswered submits.
//
//	go test -tags soak -run Soak -timeout 30m ./bench/
func TestSoak(t *testing.T) {
	const total = 20_000
	const window = 32
	simA := smsc.NewServer(soakFaults()...)
	defer simA.Close()
	simB := smsc.NewServer(soakFaults()...)
	defer simB.Close()

	cfg := apptest.Config(t, simA.Addr(), t.TempDir())
	tune := func(c *smpp.Config) {
		c.Binds, c.Window = 2, window
		c.ThrottlePause = 10 * time.Millisecond
		c.RebindInterval = 500 * time.Millisecond
		c.ResponseTimeout = 5 * time.Second
	}
	tune(cfg.Carriers[0].Section.(*smpp.Config))
	host, p, _ := net.SplitHostPort(simB.Addr())
	port, _ := strconv.Atoi(p)
	b := *cfg.Carriers[0].Section.(*smpp.Config)
	b.Host, b.Port = host, port
	cfg.Carriers = append(cfg.Carriers, config.Carrier{Name: "sim2", Kind: "smpp", Section: &b})
	cfg.Routes = append(cfg.Routes, routing.Route{Prefix: "+255", Carrier: "sim2", Cost: 0.7, Currency: "KES"})
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg)

	c, err := client.Dial(a.GRPCAddr(), apptest.KeyA)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_STATUS}})
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu        sync.Mutex
		final     = map[string]pb.Status{}
		delivered atomic.Int64
		other     atomic.Int64
	)
	allDone := make(chan struct{})
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			st := ev.GetStatus()
			if st == pb.Status_STATUS_ACCEPTED || st == pb.Status_STATUS_SUBMITTED || st == pb.Status_STATUS_UNSPECIFIED {
				continue
			}
			mu.Lock()
			if _, seen := final[ev.GetMessageId()]; !seen {
				final[ev.GetMessageId()] = st
				if st == pb.Status_STATUS_DELIVERED {
					if delivered.Add(1) == total {
						close(allDone)
					}
				} else {
					other.Add(1)
				}
			}
			mu.Unlock()
		}
	}()

	start := time.Now()
	ids := make([]string, total)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				to := fmt.Sprintf("+2547%08d", i)
				if i%2 == 1 {
					to = fmt.Sprintf("+2557%08d", i)
				}
				text := fmt.Sprintf("Soak %d: your loan repayment is due", i)
				if i%10 == 0 { // one in ten is a 2-part message
					text += strings.Repeat(" and please keep this receipt", 5)
				}
				r, err := c.Send(ctx, &pb.SendRequest{To: to, Text: text, ClientRef: fmt.Sprintf("soak-%d", i)})
				if err != nil {
					t.Errorf("send %d: %v", i, err)
					return
				}
				ids[i] = r.GetId()
			}
		})
	}
	wg.Wait()
	accepted := time.Since(start)

	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	deadline := time.After(20 * time.Minute)
wait:
	for {
		select {
		case <-allDone:
			break wait
		case <-progress.C:
			t.Logf("%v: %d delivered, %d other final", time.Since(start).Round(time.Second), delivered.Load(), other.Load())
		case <-deadline:
			break wait
		}
	}
	elapsed := time.Since(start)

	mu.Lock()
	var missing, notDelivered int
	for _, id := range ids {
		st, ok := final[id]
		switch {
		case !ok:
			missing++
		case st != pb.Status_STATUS_DELIVERED:
			notDelivered++
		}
	}
	mu.Unlock()

	var report []string
	for _, s := range []struct {
		name string
		sim  *smsc.Server
	}{{"sim", simA}, {"sim2", simB}} {
		st := s.sim.Stats()
		seen := map[string]int{}
		dups := 0
		for _, sub := range s.sim.Submits() {
			if sub.MessageID == "" {
				continue // throttled or refused: not taken
			}
			k := sub.Dest + "\x00" + string(sub.ShortMessage)
			if seen[k]++; seen[k] > 1 {
				dups++
			}
		}
		losses := st.Binds - 2 // every bind after the first two replaced a lost link
		bound := int(losses) * window
		line := fmt.Sprintf("%s: %d submit_sm, %d throttled, %d link drops, %d binds (%d rebinds), %d receipts (%d redelivered), %d duplicates (bound %d = rebinds × window %d)",
			s.name, st.Submits, st.Throttled, st.LinkDrops, st.Binds, losses, st.ReceiptsSent, st.ReceiptsRedelivered, dups, bound, window)
		report = append(report, line)
		if dups > bound {
			t.Errorf("%s: %d duplicates exceed the bound %d", s.name, dups, bound)
		}
	}
	t.Logf("soak: %d messages accepted in %v (%.0f/s), all final after %v: %d delivered, %d other final, %d never final",
		total, accepted.Round(time.Millisecond), total/accepted.Seconds(), elapsed.Round(time.Millisecond),
		delivered.Load(), notDelivered, missing)
	for _, l := range report {
		t.Log(l)
	}
	fmt.Println(strings.Join(append([]string{fmt.Sprintf("soak: %d messages, %d delivered, %d not delivered, %d never final, %v",
		total, delivered.Load(), notDelivered, missing, elapsed.Round(time.Millisecond))}, report...), "\n"))
	if missing > 0 || notDelivered > 0 {
		t.Fatalf("%d messages never final, %d final but not DELIVERED", missing, notDelivered)
	}
}
