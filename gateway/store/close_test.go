package store

import (
	"errors"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// checkCloseIdempotentAndErrClosed closes s twice, which must succeed both
// times, then calls every kind of method: each must fail with ErrClosed
// itself ("store: closed"), not wrapped.
func checkCloseIdempotentAndErrClosed(t *testing.T, s gateway.Store) {
	t.Helper()
	m := oneMsg("t1")
	if _, err := s.Accept(t.Context(), []*gateway.Message{m}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := t.Context()
	calls := map[string]error{}
	_, calls["Accept"] = s.Accept(ctx, []*gateway.Message{oneMsg("t1")})
	_, calls["Get"] = s.Get(ctx, "", m.ID)
	_, calls["Claim"] = s.Claim(ctx, time.Now(), 1)
	calls["RecordSubmits"] = s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: m.ID, Carrier: "c", CarrierID: "x"}})
	calls["Reschedule"] = s.Reschedule(ctx, m.ID, time.Time{}, time.Now(), "", true)
	calls["Finish"] = s.Finish(ctx, m.ID, time.Time{}, gateway.StatusFailed, "")
	_, calls["RecordReceipts"] = s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c", CarrierID: "x"}})
	_, calls["RecordInbound"] = s.RecordInbound(ctx, []*gateway.Inbound{{Carrier: "c"}})
	_, calls["Events"] = s.Events(ctx, "", 0, 10)
	_, calls["EventsWithMessages"] = s.EventsWithMessages(ctx, "", 0, 10)
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) || err.Error() != "store: closed" {
			t.Errorf("%s after Close: %v, want store: closed", name, err)
		}
	}
}
