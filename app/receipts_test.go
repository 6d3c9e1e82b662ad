package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	itest "github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp"
	"github.com/openmf/smsgw/smpp/smsc"
)

// TestReceiptsAfterSMSCRestart: an SMSC restarts, its id counter starts
// over, and it now answers submits in hex while writing receipts in
// decimal. Its receipts name ids already delivered before the restart;
// they must reach the new messages (through the id's hex reading, auto
// being the default), never the old ones. Before, they matched the old,
// delivered parts and the new ones stayed SUBMITTED with no signal.
func TestReceiptsAfterSMSCRestart(t *testing.T) {
	sim, err := smsc.Listen("127.0.0.1:0", smsc.WithReceiptDelay(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	addr := sim.Addr()
	cfg := apptest.Config(t, addr, t.TempDir())
	cfg.Carriers[0].Section.(*smpp.Config).RebindInterval = 100 * time.Millisecond
	reg := prometheus.NewRegistry()
	a := apptest.StartWith(t, cfg, app.Options{Registry: reg})
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx := context.Background()

	send := func(n int) []string {
		var ids []string
		for i := range n {
			r, err := cl.Send(ctx, &pb.SendRequest{To: fmt.Sprintf("+25471200%04d", i), Text: "repayment due"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.GetId())
		}
		return ids
	}
	waitDelivered := func(ids []string) {
		t.Helper()
		itest.Eventually(t, 15*time.Second, func() error {
			for _, id := range ids {
				m, err := cl.GetMessage(ctx, &pb.GetMessageRequest{Id: id})
				if err != nil {
					return err
				}
				if m.GetStatus() != pb.Status_STATUS_DELIVERED {
					return fmt.Errorf("%s is %s (%s)", id, m.GetStatus(), m.GetLastError())
				}
			}
			return nil
		})
	}
	before := send(5)
	waitDelivered(before)
	if got := sim.Submits()[0].MessageID; got != sim.Submits()[0].ReceiptID {
		t.Fatalf("first simulator: submit id %q, receipt id %q; want both decimal", got, sim.Submits()[0].ReceiptID)
	}
	sim.Close()

	// The same SMSC after a restart: the counter starts over, hex answers.
	restarted, err := smsc.Listen(addr, smsc.WithReceiptDelay(0, 0), smsc.WithIDFormat(smsc.IDHexResp))
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	itest.Eventually(t, 10*time.Second, func() error {
		if !a.Engine().Ready() {
			return fmt.Errorf("not bound again yet")
		}
		return nil
	})
	after := send(5)
	waitDelivered(after)
	// Its counter started over, so one of its submits has the first id the
	// first simulator gave (not necessarily the first recorded: two binds
	// take ids and are recorded in either order).
	subs := restarted.Submits()
	reused := sim.Submits()[0].ReceiptID
	if !slices.ContainsFunc(subs, func(s smsc.Submit) bool { return s.ReceiptID == reused }) {
		t.Fatalf("the restarted simulator's receipt ids %v: none is the reused %q", receiptIDs(subs), reused)
	}
	// The old messages kept their status and their one delivery.
	for _, id := range before {
		m, err := cl.GetMessage(ctx, &pb.GetMessageRequest{Id: id})
		if err != nil || m.GetStatus() != pb.Status_STATUS_DELIVERED {
			t.Errorf("old message %s: %v %v", id, m.GetStatus(), err)
		}
	}
	if n := counterSum(t, reg, "smsgw_gateway_receipts_stale_total"); n != 0 {
		t.Errorf("receipts counted stale: %v, want 0 (each found its new part)", n)
	}
}

// counterSum is a counter's value summed over its labels.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func receiptIDs(subs []smsc.Submit) []string {
	ids := make([]string, len(subs))
	for i, s := range subs {
		ids[i] = s.ReceiptID
	}
	return ids
}
