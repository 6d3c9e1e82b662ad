package client_test

import (
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/gateway"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// TestAuditEventsOnlyWhenAskedAndPerTenant: console users' actions are on
// the event log, but a stream gets them only when its kinds name
// EVENT_KIND_AUDIT (a consumer written before they existed, asking for
// nothing or for status and inbound, never sees one), and a tenant's key
// gets only the entries of users limited to its tenant, never the
// gateway-wide users' or another tenant's.
func TestAuditEventsOnlyWhenAskedAndPerTenant(t *testing.T) {
	a := startGateway(t, nil)
	ctx := timeout(t, 30*time.Second)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	record := func(user, tenant, action, target string) {
		t.Helper()
		if err := a.Engine().RecordAudit(ctx, gateway.AuditEntry{At: at, User: user, Role: "operator", Tenant: tenant,
			Source: "127.0.0.1", Action: action, Target: target, Outcome: "done"}); err != nil {
			t.Fatal(err)
		}
	}
	record("anna", "mfi-a", "opt-out", "mfi-a +2547*****678")
	record("noc", "", "pause-carrier", "sim")
	record("bob", "mfi-b", "cancel-message", "0190")

	ca, cb := dial(t, a.GRPCAddr(), apptest.KeyA), dial(t, a.GRPCAddr(), apptest.KeyB)
	sent, err := ca.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "after the audit"})
	if err != nil {
		t.Fatal(err)
	}
	for _, kinds := range [][]pb.EventKind{nil, {pb.EventKind_EVENT_KIND_STATUS, pb.EventKind_EVENT_KIND_INBOUND}} {
		stream, err := ca.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: kinds})
		if err != nil {
			t.Fatal(err)
		}
		for {
			ev, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetKind() != pb.EventKind_EVENT_KIND_STATUS || ev.GetAudit() != nil {
				t.Fatalf("kinds %v: got %v before the message's delivery; want its status events only", kinds, ev)
			}
			if ev.GetMessageId() == sent.GetId() && ev.GetStatus() == pb.Status_STATUS_DELIVERED {
				break
			}
		}
	}

	record("anna", "mfi-a", "sign-out", "")
	audit := []pb.EventKind{pb.EventKind_EVENT_KIND_AUDIT}
	sa, err := ca.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: audit})
	if err != nil {
		t.Fatal(err)
	}
	var got []*pb.Event
	for len(got) < 2 {
		ev, err := sa.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	first := got[0]
	if first.GetKind() != pb.EventKind_EVENT_KIND_AUDIT || first.GetMessageId() != "" || first.GetTime() == nil {
		t.Fatalf("first audit event for mfi-a = %v", first)
	}
	if e := first.GetAudit(); e.GetUser() != "anna" || e.GetRole() != "operator" || e.GetSource() != "127.0.0.1" ||
		e.GetAction() != "opt-out" || e.GetTarget() != "mfi-a +2547*****678" || e.GetOutcome() != "done" || !e.GetAt().AsTime().Equal(at) {
		t.Errorf("mfi-a's audit entry = %v", e)
	}
	if e := got[1].GetAudit(); e.GetUser() != "anna" || e.GetAction() != "sign-out" || got[1].GetSeq() <= first.GetSeq() {
		t.Errorf("second audit event for mfi-a = %v; want anna's sign-out (noc's and bob's are not mfi-a's)", got[1])
	}

	sb, err := cb.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: audit})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := sb.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if e := ev.GetAudit(); e.GetUser() != "bob" || e.GetAction() != "cancel-message" {
		t.Errorf("first audit event for mfi-b = %v; want bob's", ev)
	}
}
