package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/gateway/store/pgtest"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// TestClusterLosesNothing runs three gateway processes on one PostgreSQL
// database and SIGKILLs one in the middle of a 5,000-message load: every
// accepted message ends DELIVERED, resends stay within the dead node's
// windows, and the carrier never sees more binds than the cluster-wide cap.
func TestClusterLosesNothing(t *testing.T) {
	const (
		total  = 5000
		binds  = 2 // for the whole cluster
		window = 32
	)
	dsn, _ := pgtest.Start(t)
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 2*time.Millisecond))
	defer sim.Close()
	storeYAML := fmt.Sprintf("{driver: postgres, dsn: %q, lease: 15s}", dsn)

	var (
		nodes   [3]*os.Process
		clients [3]*client.Client
	)
	for i := range nodes {
		path := writeConfigWith(t, t.TempDir(), storeYAML, sim.Addr(), binds, window)
		cmd, addr := startGateway(t, path)
		nodes[i], clients[i] = cmd.Process, dialGateway(t, addr)
	}

	var (
		mu       sync.Mutex
		ids      = map[string]bool{}
		accepted atomic.Int64
		killed   atomic.Bool
		wg       sync.WaitGroup
	)
	for w := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += 9 {
				if accepted.Load() >= total/2 && killed.CompareAndSwap(false, true) {
					_ = nodes[0].Signal(syscall.SIGKILL)
				}
				node := i % 3
				if killed.Load() && node == 0 {
					node = 1 + i%2
				}
				r, err := clients[node].Send(context.Background(), &pb.SendRequest{To: fmt.Sprintf("+2547%08d", 30000000+i), Text: fmt.Sprintf("cluster %d", i)})
				if err != nil {
					if node == 0 && killed.Load() {
						continue // the dying node's answer was lost; the message may or may not exist
					}
					t.Errorf("send %d to node %d: %v", i, node, err)
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
	if !killed.Load() {
		t.Fatal("the load finished before a node was killed")
	}

	waitDelivered(t, clients[1], ids, 3*time.Minute)
	resent := resentParts(sim)
	st := sim.Stats()
	t.Logf("3 nodes, one SIGKILLed: %d accepted, all DELIVERED; %d parts resent (bound %d); at most %d binds at once (cap %d)",
		len(ids), resent, binds*window, st.MaxBound, binds)
	fmt.Fprintf(os.Stderr, "cluster test: %d accepted, %d resent, max %d binds (cap %d)\n", len(ids), resent, st.MaxBound, binds)
	if st.MaxBound > binds {
		t.Errorf("the carrier saw %d binds at once; the cluster-wide cap is %d", st.MaxBound, binds)
	}
	if resent > binds*window {
		t.Errorf("%d parts resent, more than the dead node's windows (%d)", resent, binds*window)
	}
}
