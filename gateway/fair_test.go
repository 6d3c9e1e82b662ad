package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/routing"
)

// submitOrder runs a flood of one tenant's high-priority messages, then a
// few of another's, through one slow carrier, and returns the positions
// (in submission order, from 0) of the small tenant's messages.
func submitOrder(t *testing.T, bigWeight int) []int {
	t.Helper()
	var (
		mu    sync.Mutex
		order []string
	)
	a := newFake("a", 4, func(m *gateway.Message, idx int) gateway.PartResult {
		mu.Lock()
		order = append(order, m.Tenant)
		mu.Unlock()
		time.Sleep(time.Millisecond) // a carrier slower than the claims
		return ok(m, idx)
	})
	h := newHarnessWith(t, []routing.Route{route("+", "a", 1)}, 0, func(o *gateway.Options) {
		o.Tenants = []gateway.Tenant{
			{ID: "big", DefaultRegion: "KE", Sender: "BIG", Weight: bigWeight},
			{ID: "small", DefaultRegion: "KE", Sender: "SMALL"},
		}
		o.Workers, o.ClaimBatch = 4, 4
	}, a)
	accept := func(tenant string, n int, priority int32) {
		reqs := make([]gateway.SendRequest, n)
		for i := range reqs {
			reqs[i] = gateway.SendRequest{To: fmt.Sprintf("07123%05d", i), Text: "hi", Priority: priority}
		}
		out, err := h.engine.Accept(context.Background(), tenant, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
	}
	accept("big", 400, 9)
	accept("small", 20, 0)
	testutil.Eventually(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(order) < 420 {
			return fmt.Errorf("%d of 420 submitted", len(order))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	var small []int
	for i, tenant := range order {
		if tenant == "small" {
			small = append(small, i)
		}
	}
	return small
}

// TestFairDispatchAcrossTenants: a tenant's 400 high-priority messages do
// not hold back another tenant's 20 ordinary ones, which leave in turns
// with the flood (without turns they would leave last, at 400–419), and a
// tenant's weight gives it a larger share.
func TestFairDispatchAcrossTenants(t *testing.T) {
	even := submitOrder(t, 1)
	if len(even) != 20 || even[19] >= 100 {
		t.Fatalf("weights 1:1: the small tenant's messages left at %v; want all 20 within the first 100 submissions", even)
	}
	heavy := submitOrder(t, 3)
	if len(heavy) != 20 || heavy[19] >= 160 || heavy[19] <= even[19] {
		t.Errorf("weights 3:1: the small tenant's last left at %d (1:1: %d); want later than with 1:1, within the first 160",
			heavy[19], even[19])
	}
	t.Logf("small tenant's last submission: %d with weights 1:1, %d with 3:1 (of 420; %d without turns)",
		even[19], heavy[19], 419)
	if !slices.IsSorted(even) {
		t.Errorf("positions not in order: %v", even)
	}
}
