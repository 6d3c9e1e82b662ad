// Package storetest is the contract every gateway.Store implementation
// passes unchanged: the embedded SQLite store and the PostgreSQL store.
// An implementation's test calls Run with a function that makes a fresh,
// empty database.
//
// The suite checks behaviour through the gateway.Store interface only. What
// an implementation adds on top (SQLite clearing leases when it opens, errors
// after Close) is tested next to it.
package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/openmf/smsgw/gateway"
)

// Run runs the contract suite. newStore makes a fresh empty database for one
// subtest and returns its opener; calling the opener again after Close must
// reopen the same database, as a restarted process would. The suite closes
// every store it opens. Subtests run in parallel, each on its own database.
func Run(t *testing.T, newStore func(t *testing.T) (open func() gateway.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"AcceptGetRoundTrip", testAcceptGetRoundTrip},
		{"ClientRefIdempotent", testClientRefIdempotent},
		{"ClientRefConcurrent", testClientRefConcurrent},
		{"TenantIsolation", testTenantIsolation},
		{"ClaimOrder", testClaimOrder},
		{"ClaimLimit", testClaimLimit},
		{"NotBeforeFuture", testNotBeforeFuture},
		{"ClaimedNotReclaimed", testClaimedNotReclaimed},
		{"AcceptedLeased", testAcceptedLeased},
		{"LeaseLostToAnotherClaim", testLeaseLostToAnotherClaim},
		{"ConcurrentClaimsDisjoint", testConcurrentClaimsDisjoint},
		{"Reschedule", testReschedule},
		{"PartialSubmits", testPartialSubmits},
		{"RecordSubmitsUnknown", testRecordSubmitsUnknown},
		{"ReceiptBeforeSubmit", testReceiptBeforeSubmit},
		{"DuplicateReceipts", testDuplicateReceipts},
		{"MultipartDelivered", testMultipartDelivered},
		{"MultipartOneFailed", testMultipartOneFailed},
		{"MultipartSameFinalStatus", testMultipartSameFinalStatus},
		{"IntermediateReceipt", testIntermediateReceipt},
		{"Finish", testFinish},
		{"InboundDedupe", testInboundDedupe},
		{"EventsOrder", testEventsOrder},
		{"EventsCarryTheirMessage", testEventsCarryTheirMessage},
		{"LastSeq", testLastSeq},
		{"PrunedThrough", testPrunedThrough},
		{"CursorsListDelete", testCursorsListDelete},
		{"ClaimFor", testClaimFor},
		{"ReceiptBeforeSubmitOtherBase", testReceiptBeforeSubmitOtherBase},
		{"DurableAcrossReopen", testDurableAcrossReopen},
		{"ConcurrentAccept", testConcurrentAccept},
		{"ReceiptAppliesToAllParts", testReceiptAppliesToAllParts},
		{"ReceiptBeforeSubmitAllParts", testReceiptBeforeSubmitAllParts},
		{"RecycledCarrierID", testRecycledCarrierID},
		{"EventFollowerNeverSkips", testEventFollowerNeverSkips},
		{"AttemptHistoryAndPartCost", testAttemptHistoryAndPartCost},
		{"GetInboundAndPinnedCarrier", testGetInboundAndPinnedCarrier},
		{"ListFiltersAndPages", testListFiltersAndPages},
		{"CancelBeforeSubmit", testCancelBeforeSubmit},
		{"EventCursors", testEventCursors},
		{"PruneEvents", testPruneEvents},
		{"CategoryMetaAndByClientRef", testCategoryMetaAndByClientRef},
		{"OptedOutStoredFinal", testOptedOutStoredFinal},
		{"UnroutableStoredFailed", testUnroutableStoredFailed},
		{"FraudRefusedStoredRejected", testFraudRefusedStoredRejected},
		{"ReceiptIDReuse", testReceiptIDReuse},
		{"ReceiptsPruned", testReceiptsPruned},
		{"InboundResend", testInboundResend},
		{"OptOutList", testOptOutList},
		{"ListOptOuts", testListOptOuts},
		{"AuditTrail", testAuditTrail},
		{"AuditEvents", testAuditEvents},
		{"APIKeys", testAPIKeys},
		{"FailingTasks", testFailingTasks},
		{"FailingTaskActions", testFailingTaskActions},
		{"InboundKeywordAndTasks", testInboundKeywordAndTasks},
		{"TaskOutbox", testTaskOutbox},
		{"TasksEnqueuedLeased", testTasksEnqueuedLeased},
		{"TaskClaimsDisjoint", testTaskClaimsDisjoint},
		{"NoteMissing", testNoteMissing},
		{"NoteMissingReasons", testNoteMissingReasons},
		{"NoteMissingManyRefs", testNoteMissingManyRefs},
		{"NoteMissingConcurrent", testNoteMissingConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &env{t: t, open: newStore(t)}
			e.s = e.open()
			t.Cleanup(func() {
				if err := e.s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, e)
		})
	}
}

// env is one subtest's database and its current store.
type env struct {
	t    *testing.T
	open func() gateway.Store
	s    gateway.Store
}

// reopen closes the store and opens the same database again: a restart.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.s.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.s = e.open()
}

// msg builds a message with n parts, the way the engine hands it to Accept.
func msg(tenant, ref string, n int) *gateway.Message {
	m := &gateway.Message{
		Tenant: tenant, ClientRef: ref, From: "MFI", To: "+254700000001",
		Text: "Your loan repayment of KES 1,200 is due on 5 May.", Encoding: gateway.EncodingGSM7,
	}
	for i := range n {
		m.Parts = append(m.Parts, gateway.Part{Index: i})
	}
	return m
}

func (e *env) accept(msgs ...*gateway.Message) []gateway.AcceptResult {
	e.t.Helper()
	res, err := e.s.Accept(e.t.Context(), msgs)
	if err != nil {
		e.t.Fatalf("Accept: %v", err)
	}
	if len(res) != len(msgs) {
		e.t.Fatalf("Accept: %d results for %d messages", len(res), len(msgs))
	}
	return res
}

func (e *env) get(tenant, id string) *gateway.Message {
	e.t.Helper()
	m, err := e.s.Get(e.t.Context(), tenant, id)
	if err != nil {
		e.t.Fatalf("Get(%q, %s): %v", tenant, id, err)
	}
	return m
}

func (e *env) claim(now time.Time, limit int) []*gateway.Message {
	e.t.Helper()
	ms, err := e.s.Claim(e.t.Context(), now, limit)
	if err != nil {
		e.t.Fatalf("Claim: %v", err)
	}
	return ms
}

func (e *env) submit(recs ...gateway.SubmitRecord) {
	e.t.Helper()
	if err := e.s.RecordSubmits(e.t.Context(), recs); err != nil {
		e.t.Fatalf("RecordSubmits: %v", err)
	}
}

// receipts records rs and returns how many matched.
func (e *env) receipts(rs ...gateway.Receipt) int {
	e.t.Helper()
	return e.tally(rs...).Matched
}

func (e *env) tally(rs ...gateway.Receipt) gateway.ReceiptTally {
	e.t.Helper()
	n, err := e.s.RecordReceipts(e.t.Context(), rs)
	if err != nil {
		e.t.Fatalf("RecordReceipts: %v", err)
	}
	return n
}

func (e *env) prune(p gateway.ReceiptPrune) gateway.ReceiptsPruned {
	e.t.Helper()
	out, err := e.s.PruneReceipts(e.t.Context(), p)
	if err != nil {
		e.t.Fatalf("PruneReceipts: %v", err)
	}
	return out
}

func (e *env) reschedule(id string, at time.Time, lastErr string) {
	e.t.Helper()
	if err := e.s.Reschedule(e.t.Context(), id, time.Time{}, at, lastErr, true); err != nil {
		e.t.Fatalf("Reschedule: %v", err)
	}
}

// events reads the whole log (for tenant, "" = all), paging as a consumer would.
func (e *env) events(tenant string) []gateway.Event {
	e.t.Helper()
	var all []gateway.Event
	from := int64(0)
	for {
		page, err := e.s.Events(e.t.Context(), tenant, from, 500)
		if err != nil {
			e.t.Fatalf("Events: %v", err)
		}
		all = append(all, page...)
		if len(page) < 500 {
			return all
		}
		from = page[len(page)-1].Seq + 1
	}
}

// statuses lists the status events of one message in log order.
func statuses(evs []gateway.Event, id string) []gateway.Status {
	var out []gateway.Status
	for _, ev := range evs {
		if ev.Kind == gateway.EventStatus && ev.MessageID == id {
			out = append(out, ev.Status)
		}
	}
	return out
}

func ids(ms []*gateway.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// near reports whether two times agree to the millisecond, the precision
// the contract promises.
func near(a, b time.Time) bool {
	return a.Sub(b).Abs() < time.Millisecond && a.IsZero() == b.IsZero()
}

func receipt(carrier, id string, st gateway.Status, state, code string) gateway.Receipt {
	return gateway.Receipt{Carrier: carrier, CarrierID: id, Status: st, State: state, Error: code, Time: time.Now()}
}

// submitAll claims nothing; it records carrier ids "<prefix>-<index>" for
// every part of m at carrier c.
func submitAll(e *env, m *gateway.Message, c, prefix string) {
	e.t.Helper()
	var recs []gateway.SubmitRecord
	for _, p := range m.Parts {
		recs = append(recs, gateway.SubmitRecord{MessageID: m.ID, Index: p.Index, Carrier: c,
			CarrierID: fmt.Sprintf("%s-%d", prefix, p.Index), Cost: 0.5, Currency: "KES", At: time.Now()})
	}
	e.submit(recs...)
}

func testAcceptGetRoundTrip(t *testing.T, e *env) {
	now := time.Now()
	m := msg("t1", "ref-1", 3)
	m.From, m.To, m.Text = "SACCO", "+255712345678", "Habari, ½ €uro ✓"
	m.Encoding = gateway.EncodingUCS2
	m.Priority = 7
	m.NotBefore = now.Add(-time.Hour).Add(123456789 * time.Nanosecond)
	m.ExpiresAt = now.Add(24 * time.Hour)
	res := e.accept(m)
	if res[0].Duplicate || res[0].ID == "" || res[0].ID != m.ID {
		t.Fatalf("Accept result %+v, message id %q", res[0], m.ID)
	}
	u, err := uuid.Parse(m.ID)
	if err != nil || u.Version() != 7 {
		t.Errorf("id %q is not a UUIDv7 (%v)", m.ID, err)
	}
	if m.Status != gateway.StatusAccepted || m.CreatedAt.IsZero() || !near(m.CreatedAt, m.UpdatedAt) {
		t.Errorf("Accept left status %q created %v updated %v", m.Status, m.CreatedAt, m.UpdatedAt)
	}
	if d := m.CreatedAt.Sub(now); d < -time.Minute || d > time.Minute {
		t.Errorf("CreatedAt %v is not about now %v", m.CreatedAt, now)
	}

	for _, tenant := range []string{"t1", ""} {
		got := e.get(tenant, m.ID)
		if got.ID != m.ID || got.Tenant != "t1" || got.ClientRef != "ref-1" || got.From != m.From ||
			got.To != m.To || got.Text != m.Text || got.Encoding != m.Encoding || got.Priority != 7 {
			t.Errorf("Get(%q) = %+v, want the fields of %+v", tenant, got, m)
		}
		if !near(got.NotBefore, m.NotBefore) || !near(got.ExpiresAt, m.ExpiresAt) ||
			!near(got.CreatedAt, m.CreatedAt) || !near(got.UpdatedAt, m.UpdatedAt) {
			t.Errorf("Get(%q) times not_before %v expires %v created %v updated %v, want %v %v %v %v", tenant,
				got.NotBefore, got.ExpiresAt, got.CreatedAt, got.UpdatedAt, m.NotBefore, m.ExpiresAt, m.CreatedAt, m.UpdatedAt)
		}
		if got.Status != gateway.StatusAccepted || got.Tries != 0 || got.Carrier != "" || got.Cost != 0 ||
			got.Currency != "" || got.LastError != "" {
			t.Errorf("Get(%q) state %+v, want a fresh ACCEPTED message", tenant, got)
		}
		if len(got.Parts) != 3 {
			t.Fatalf("Get(%q) has %d parts, want 3", tenant, len(got.Parts))
		}
		for i, p := range got.Parts {
			if p.Index != i || p.Status != gateway.StatusAccepted || p.CarrierID != "" || p.Carrier != "" ||
				p.Error != "" || !near(p.UpdatedAt, m.CreatedAt) {
				t.Errorf("part %d = %+v", i, p)
			}
		}
	}

	// A zero NotBefore/ExpiresAt stays zero; a preset id is kept.
	preset := msg("t1", "", 1)
	preset.ID = "01900000-0000-7000-8000-000000000001"
	if res := e.accept(preset); res[0].ID != preset.ID {
		t.Errorf("preset id: Accept returned %q", res[0].ID)
	}
	if got := e.get("t1", preset.ID); !got.NotBefore.IsZero() || !got.ExpiresAt.IsZero() {
		t.Errorf("zero times came back as %v, %v", got.NotBefore, got.ExpiresAt)
	}

	for _, c := range []struct{ tenant, id string }{{"t2", m.ID}, {"t1", "01900000-0000-7000-8000-00000000dead"}, {"", "nope"}} {
		if _, err := e.s.Get(t.Context(), c.tenant, c.id); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("Get(%q, %q) error %v, want ErrNotFound", c.tenant, c.id, err)
		}
	}

	evs := e.events("")
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2 ACCEPTED: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Kind != gateway.EventStatus || ev.Tenant != "t1" || ev.MessageID != m.ID || ev.Status != gateway.StatusAccepted ||
		ev.Seq <= 0 || ev.Time.IsZero() || ev.Inbound != nil {
		t.Errorf("ACCEPTED event %+v", ev)
	}
}

func testClientRefIdempotent(t *testing.T, e *env) {
	a := msg("t1", "r1", 1)
	first := e.accept(a)[0]

	again := msg("t1", "r1", 1)
	again.Text = "a retry may differ; the stored message wins"
	if r := e.accept(again)[0]; !r.Duplicate || r.ID != first.ID || again.ID != first.ID {
		t.Errorf("separate call: %+v (message id %q), want duplicate of %s", r, again.ID, first.ID)
	}
	if got := e.get("t1", first.ID); got.Text != a.Text {
		t.Errorf("duplicate overwrote the text: %q", got.Text)
	}

	c, d := msg("t1", "r2", 1), msg("t1", "r2", 2)
	noRef1, noRef2 := msg("t1", "", 1), msg("t1", "", 1)
	other := msg("t2", "r1", 1)
	res := e.accept(c, d, noRef1, noRef2, other)
	if res[0].Duplicate || !res[1].Duplicate || res[1].ID != res[0].ID {
		t.Errorf("same batch: %+v %+v, want the second a duplicate of the first", res[0], res[1])
	}
	if res[2].Duplicate || res[3].Duplicate || res[2].ID == res[3].ID {
		t.Errorf("empty client_ref deduplicated: %+v %+v", res[2], res[3])
	}
	if res[4].Duplicate || res[4].ID == first.ID {
		t.Errorf("same ref in another tenant: %+v, want a new message", res[4])
	}
	if got := e.get("", res[1].ID); len(got.Parts) != 1 {
		t.Errorf("the duplicate's parts were stored: %d parts", len(got.Parts))
	}

	evs := e.events("")
	if len(evs) != 5 {
		t.Errorf("%d events, want 5 ACCEPTED (duplicates add none)", len(evs))
	}
}

func testClientRefConcurrent(t *testing.T, e *env) {
	const n = 16
	results := make([]gateway.AcceptResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := e.s.Accept(t.Context(), []*gateway.Message{msg("t1", "race", 1)})
			if err != nil {
				t.Errorf("Accept: %v", err)
				return
			}
			results[i] = res[0]
		})
	}
	wg.Wait()
	fresh := 0
	for _, r := range results {
		if !r.Duplicate {
			fresh++
		}
		if r.ID != results[0].ID {
			t.Errorf("ids differ: %s and %s", r.ID, results[0].ID)
		}
	}
	if fresh != 1 {
		t.Errorf("%d callers stored the message, want 1", fresh)
	}
}

func testTenantIsolation(t *testing.T, e *env) {
	a, b := msg("t1", "x", 1), msg("t2", "x", 1)
	e.accept(a, b)
	if _, err := e.s.Get(t.Context(), "t2", a.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("t2 reading t1's message: %v, want ErrNotFound", err)
	}
	if _, err := e.s.Get(t.Context(), "t1", b.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("t1 reading t2's message: %v, want ErrNotFound", err)
	}
	in := &gateway.Inbound{Tenant: "t2", Carrier: "c1", CarrierRef: "mo-1", From: "+254700000002", To: "22333", Text: "BAL"}
	if _, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{in}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tenant string
		want   int
	}{{"t1", 1}, {"t2", 2}, {"", 3}, {"t3", 0}} {
		evs := e.events(c.tenant)
		if len(evs) != c.want {
			t.Errorf("Events(%q): %d events, want %d", c.tenant, len(evs), c.want)
		}
		for _, ev := range evs {
			if c.tenant != "" && ev.Tenant != c.tenant {
				t.Errorf("Events(%q) returned %+v", c.tenant, ev)
			}
		}
	}
}

func testClaimOrder(t *testing.T, e *env) {
	low, high1, mid, high2 := msg("t1", "", 1), msg("t1", "", 1), msg("t1", "", 1), msg("t1", "", 1)
	low.Priority, high1.Priority, mid.Priority, high2.Priority = 0, 5, 1, 5
	for _, m := range []*gateway.Message{low, high1, mid, high2} {
		e.accept(m) // separate calls: accept order is the tie-break
	}
	got := ids(e.claim(time.Now(), 10))
	want := []string{high1.ID, high2.ID, mid.ID, low.ID}
	if !slices.Equal(got, want) {
		t.Fatalf("claim order %v, want %v (high1 high2 mid low)", got, want)
	}
	// Due time orders within a priority: high2 is retried before high1.
	t0 := time.Now()
	e.reschedule(high1.ID, t0.Add(2*time.Second), "")
	e.reschedule(high2.ID, t0.Add(time.Second), "")
	got = ids(e.claim(t0.Add(3*time.Second), 10))
	if want := []string{high2.ID, high1.ID}; !slices.Equal(got, want) {
		t.Errorf("after reschedule claim %v, want %v (high2 high1; mid, low still leased)", got, want)
	}
}

func testClaimLimit(t *testing.T, e *env) {
	for range 5 {
		e.accept(msg("t1", "", 1))
	}
	if got := e.claim(time.Now(), 2); len(got) != 2 {
		t.Errorf("claim limit 2 returned %d", len(got))
	}
	if got := e.claim(time.Now(), 10); len(got) != 3 {
		t.Errorf("second claim returned %d, want the 3 left", len(got))
	}
}

func testNotBeforeFuture(t *testing.T, e *env) {
	now := time.Now()
	past, future := msg("t1", "", 2), msg("t1", "", 1)
	past.NotBefore = now.Add(-time.Hour)
	future.NotBefore = now.Add(time.Hour)
	e.accept(past, future)
	got := e.claim(now, 10)
	if !slices.Equal(ids(got), []string{past.ID}) {
		t.Fatalf("claim at now = %v, want only %s", ids(got), past.ID)
	}
	if len(got[0].Parts) != 2 || got[0].Parts[1].Index != 1 {
		t.Errorf("claimed message parts %+v, want 2 parts", got[0].Parts)
	}
	if err := e.s.Finish(t.Context(), past.ID, time.Time{}, gateway.StatusFailed, "done with it"); err != nil {
		t.Fatal(err)
	}
	if got := e.claim(now.Add(2*time.Hour), 10); !slices.Equal(ids(got), []string{future.ID}) {
		t.Errorf("claim two hours later = %v, want %s", ids(got), future.ID)
	}
}

func testClaimedNotReclaimed(t *testing.T, e *env) {
	m := msg("t1", "", 1)
	e.accept(m)
	now := time.Now()
	if got := e.claim(now, 10); len(got) != 1 {
		t.Fatalf("first claim returned %d", len(got))
	}
	if got := e.claim(now, 10); len(got) != 0 {
		t.Errorf("a leased message was claimed again: %v", ids(got))
	}
	if got := e.claim(now.Add(24*time.Hour), 10); !slices.Equal(ids(got), []string{m.ID}) {
		t.Errorf("after the lease lapsed claim = %v, want %s", ids(got), m.ID)
	}
}

// testLeaseLostToAnotherClaim: a claim whose lease lapsed while another
// claim took the message can neither reschedule it (which would release it
// under the other claim, to be claimed and sent a third time) nor finish
// it; the claim holding the lease can.
func testLeaseLostToAnotherClaim(t *testing.T, e *env) {
	m := msg("t1", "", 1)
	e.accept(m)
	now := time.Now()
	first := e.claim(now, 10)
	if len(first) != 1 {
		t.Fatalf("first claim returned %d", len(first))
	}
	later := now.Add(e.s.ClaimLease() + time.Second)
	second := e.claim(later, 10)
	if len(second) != 1 || second[0].LeaseUntil.Equal(first[0].LeaseUntil) {
		t.Fatalf("claim after the first lease lapsed = %v, want the message under a new lease", ids(second))
	}
	stale, held := first[0].LeaseUntil, second[0].LeaseUntil
	ctx := t.Context()
	if err := e.s.Reschedule(ctx, m.ID, stale, later, "stalled", true); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("Reschedule under the lapsed lease = %v, want ErrLeaseLost", err)
	}
	if got := e.claim(later.Add(time.Second), 10); len(got) != 0 {
		t.Errorf("claimed again while the second claim holds it: %v", ids(got))
	}
	if err := e.s.Finish(ctx, m.ID, stale, gateway.StatusFailed, "stalled"); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("Finish under the lapsed lease = %v, want ErrLeaseLost", err)
	}
	if g := e.get("t1", m.ID); g.Status != gateway.StatusAccepted || g.Tries != 0 {
		t.Errorf("after the lapsed claim's outcomes: %s, %d attempts; want ACCEPTED, 0", g.Status, g.Tries)
	}
	// The claim holding the lease decides.
	if err := e.s.Reschedule(ctx, m.ID, held, later, "carrier busy", true); err != nil {
		t.Fatalf("Reschedule under the held lease: %v", err)
	}
	third := e.claim(later.Add(time.Second), 10)
	if len(third) != 1 {
		t.Fatalf("claim after the holder rescheduled = %v, want the message", ids(third))
	}
	if err := e.s.Finish(ctx, m.ID, third[0].LeaseUntil, gateway.StatusFailed, "gave up"); err != nil {
		t.Fatalf("Finish under the held lease: %v", err)
	}
	if g := e.get("t1", m.ID); g.Status != gateway.StatusFailed || g.Tries != 1 {
		t.Errorf("after the holder's outcomes: %s, %d attempts; want FAILED, 1", g.Status, g.Tries)
	}
}

// testAcceptedLeased: a message given to Accept with LeaseUntil is stored
// leased, as a claim leaves it (the engine hands it to its dispatcher
// itself); a duplicate does not lease the stored message, and a message
// stored final is never leased.
func testAcceptedLeased(t *testing.T, e *env) {
	now := time.Now()
	until := now.Add(time.Minute)
	leased, plain, other := msg("t1", "leased", 2), msg("t1", "plain", 1), msg("t1", "other", 1)
	leased.LeaseUntil = until
	e.accept(leased, plain, other)
	if !leased.LeaseUntil.Equal(until) {
		t.Errorf("Accept changed LeaseUntil to %v, want %v", leased.LeaseUntil, until)
	}
	dup := msg("t1", "other", 1)
	dup.LeaseUntil = until
	if res := e.accept(dup); !res[0].Duplicate || res[0].ID != other.ID {
		t.Fatalf("Accept of a duplicate = %+v, want a duplicate of %s", res[0], other.ID)
	}
	optedOut := msg("t1", "", 1)
	optedOut.Status, optedOut.LastError, optedOut.LeaseUntil = gateway.StatusOptedOut, "opted out", until
	e.accept(optedOut)

	got := e.claim(now, 10)
	slices.SortFunc(got, func(a, b *gateway.Message) int { return strings.Compare(a.ID, b.ID) })
	if want := []string{plain.ID, other.ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("claim = %v, want the messages not leased at accept %v", ids(got), want)
	}
	if err := e.s.Cancel(t.Context(), "t1", leased.ID, now); !errors.Is(err, gateway.ErrNotCancelable) {
		t.Errorf("Cancel of a message leased at accept = %v, want ErrNotCancelable", err)
	}
	// The lease is the dispatch's: the message is submitted as a claimed one.
	submitAll(e, leased, "c1", "L")
	if g := e.get("t1", leased.ID); g.Status != gateway.StatusSubmitted {
		t.Errorf("after its submits the message leased at accept is %s, want SUBMITTED", g.Status)
	}

	// Once a lease lapses (its node died), a claim takes the message.
	lapsing := msg("t1", "lapsing", 1)
	lapsing.LeaseUntil = now.Add(time.Second)
	e.accept(lapsing)
	if got := e.claim(now, 10); len(got) != 0 {
		t.Errorf("claim before the lease lapsed = %v, want none", ids(got))
	}
	if got := e.claim(now.Add(2*time.Second), 10); !slices.Equal(ids(got), []string{lapsing.ID}) {
		t.Errorf("claim after the lease lapsed = %v, want %s", ids(got), lapsing.ID)
	}
}

func testConcurrentClaimsDisjoint(t *testing.T, e *env) {
	var all []*gateway.Message
	for range 100 {
		all = append(all, msg("t1", "", 1))
	}
	e.accept(all...)
	now := time.Now()
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				ms, err := e.s.Claim(t.Context(), now, 7)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(ms) == 0 {
					return
				}
				mu.Lock()
				for _, m := range ms {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 100 {
		t.Errorf("%d messages claimed, want 100", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
}

func testReschedule(t *testing.T, e *env) {
	m := msg("t1", "", 1)
	e.accept(m)
	now := time.Now()
	e.claim(now, 1)
	e.reschedule(m.ID, now.Add(time.Minute), "ESME_RTHROTTLED")
	if got := e.claim(now, 10); len(got) != 0 {
		t.Errorf("claimed before its retry time: %v", ids(got))
	}
	got := e.claim(now.Add(2*time.Minute), 10)
	if len(got) != 1 || got[0].Tries != 1 || got[0].LastError != "ESME_RTHROTTLED" {
		t.Fatalf("claim after retry time = %+v, want one message with 1 attempt and the error", got)
	}
	e.reschedule(m.ID, now.Add(2*time.Minute), "timeout")
	if g := e.get("t1", m.ID); g.Tries != 2 || g.LastError != "timeout" || g.Status != gateway.StatusAccepted {
		t.Errorf("Get after two reschedules: attempts %d error %q status %s", g.Tries, g.LastError, g.Status)
	}
	// Waiting for a carrier that is down is not an attempt.
	if err := e.s.Reschedule(t.Context(), m.ID, time.Time{}, now.Add(2*time.Minute), "carrier a is down", false); err != nil {
		t.Fatal(err)
	}
	if g := e.get("t1", m.ID); g.Tries != 2 || g.LastError != "carrier a is down" {
		t.Errorf("Get after an uncounted reschedule: attempts %d error %q, want 2 and the new error", g.Tries, g.LastError)
	}
	err := e.s.Reschedule(t.Context(), "01900000-0000-7000-8000-00000000dead", time.Time{}, now, "", true)
	if !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Reschedule unknown id: %v, want ErrNotFound", err)
	}
}

func testPartialSubmits(t *testing.T, e *env) {
	m := msg("t1", "", 3)
	e.accept(m)
	now := time.Now()
	e.claim(now, 1)
	e.submit(
		gateway.SubmitRecord{MessageID: m.ID, Index: 0, Carrier: "c1", CarrierID: "A0", Cost: 0.5, Currency: "KES", At: now},
		gateway.SubmitRecord{MessageID: m.ID, Index: 1, Carrier: "c1", CarrierID: "A1", Cost: 0.5, Currency: "KES", At: now},
	)
	g := e.get("t1", m.ID)
	if g.Status != gateway.StatusAccepted {
		t.Errorf("status after 2 of 3 parts: %s, want ACCEPTED", g.Status)
	}
	for i, want := range []string{"A0", "A1", ""} {
		p := g.Parts[i]
		wantStatus := gateway.StatusSubmitted
		if want == "" {
			wantStatus = gateway.StatusAccepted
		}
		if p.CarrierID != want || p.Status != wantStatus || (want != "" && p.Carrier != "c1") {
			t.Errorf("part %d = %+v, want carrier id %q status %s", i, p, want, wantStatus)
		}
	}
	if got := statuses(e.events(""), m.ID); !slices.Equal(got, []gateway.Status{gateway.StatusAccepted}) {
		t.Errorf("events after a partial submit: %v", got)
	}
	if got := e.claim(now, 10); len(got) != 0 {
		t.Errorf("partially submitted message claimed while leased: %v", ids(got))
	}

	e.reschedule(m.ID, now, "part 2: ESME_RTHROTTLED")
	got := e.claim(now.Add(time.Second), 10)
	if len(got) != 1 || got[0].ID != m.ID {
		t.Fatalf("claim after reschedule = %v, want %s", ids(got), m.ID)
	}
	if p := got[0].Parts; len(p) != 3 || p[0].CarrierID != "A0" || p[1].CarrierID != "A1" || p[2].CarrierID != "" {
		t.Errorf("claimed parts %+v, want only part 2 unsubmitted", p)
	}

	e.submit(gateway.SubmitRecord{MessageID: m.ID, Index: 2, Carrier: "c1", CarrierID: "A2", Cost: 0.5, Currency: "KES", At: now})
	g = e.get("t1", m.ID)
	if g.Status != gateway.StatusSubmitted || g.Carrier != "c1" || g.Currency != "KES" || g.Cost < 1.49 || g.Cost > 1.51 {
		t.Errorf("after all parts: status %s carrier %q cost %v %s, want SUBMITTED c1 1.5 KES", g.Status, g.Carrier, g.Cost, g.Currency)
	}
	want := []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted}
	if got := statuses(e.events(""), m.ID); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if got := e.claim(now.Add(24*time.Hour), 10); len(got) != 0 {
		t.Errorf("a SUBMITTED message was claimed: %v", ids(got))
	}
}

func testRecordSubmitsUnknown(t *testing.T, e *env) {
	m := msg("t1", "", 1)
	e.accept(m)
	for _, r := range []gateway.SubmitRecord{
		{MessageID: "01900000-0000-7000-8000-00000000dead", Index: 0, Carrier: "c1", CarrierID: "X"},
		{MessageID: m.ID, Index: 5, Carrier: "c1", CarrierID: "X"},
	} {
		if err := e.s.RecordSubmits(t.Context(), []gateway.SubmitRecord{r}); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("RecordSubmits(%s part %d): %v, want ErrNotFound", r.MessageID, r.Index, err)
		}
	}
	if g := e.get("", m.ID); g.Status != gateway.StatusAccepted || g.Parts[0].CarrierID != "" {
		t.Errorf("a failed RecordSubmits changed the message: %+v", g)
	}
}

func testReceiptBeforeSubmit(t *testing.T, e *env) {
	m, other := msg("t1", "", 1), msg("t1", "", 1)
	e.accept(m, other)
	if n := e.receipts(receipt("c1", "X1", gateway.StatusDelivered, "DELIVRD", "")); n != 0 {
		t.Errorf("a receipt for an id not recorded yet matched %d", n)
	}
	// Same id, other carrier: must not apply to c1's part.
	if n := e.receipts(receipt("c2", "X2", gateway.StatusDelivered, "DELIVRD", "")); n != 0 {
		t.Errorf("matched %d", n)
	}
	e.submit(gateway.SubmitRecord{MessageID: m.ID, Index: 0, Carrier: "c1", CarrierID: "X1", At: time.Now()})
	e.submit(gateway.SubmitRecord{MessageID: other.ID, Index: 0, Carrier: "c1", CarrierID: "X2", At: time.Now()})
	g := e.get("t1", m.ID)
	if g.Status != gateway.StatusDelivered || g.Parts[0].Status != gateway.StatusDelivered {
		t.Fatalf("the early receipt did not apply on submit: %s / part %s", g.Status, g.Parts[0].Status)
	}
	if g := e.get("t1", other.ID); g.Status != gateway.StatusSubmitted {
		t.Errorf("another carrier's receipt applied: %s, want SUBMITTED", g.Status)
	}
	want := []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusDelivered}
	if got := statuses(e.events(""), m.ID); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	// Applied once: recording the id again finds nothing waiting.
	e.submit(gateway.SubmitRecord{MessageID: m.ID, Index: 0, Carrier: "c1", CarrierID: "X1", At: time.Now()})
	if got := statuses(e.events(""), m.ID); !slices.Equal(got, want) {
		t.Errorf("events after recording the id again %v, want %v", got, want)
	}
}

func testDuplicateReceipts(t *testing.T, e *env) {
	m := msg("t1", "", 1)
	e.accept(m)
	submitAll(e, m, "c1", "D")
	r := receipt("c1", "D-0", gateway.StatusDelivered, "DELIVRD", "000")
	// The carrier resending a receipt names a part final by then: held
	// (it might be ahead of a new part reusing the id), never applied again.
	if n := e.tally(r, r); n.Matched != 1 || n.Held != 1 || n.Stale != 0 {
		t.Errorf("tally %+v, want 1 matched and 1 held", n)
	}
	if n := e.tally(r); n.Matched != 0 || n.Held != 1 {
		t.Errorf("tally %+v, want 1 held", n)
	}
	e.receipts(receipt("c1", "D-0", gateway.StatusUndelivered, "UNDELIV", "001"))
	// An intermediate receipt for a final part is stale at once: nothing
	// would take it later.
	mid := receipt("c1", "D-0", "", "ENROUTE", "")
	if n := e.tally(mid); n.Stale != 1 || len(n.StaleIDs) != 1 || n.StaleIDs[0] != "D-0" {
		t.Errorf("intermediate receipt for a final part: %+v, want 1 stale (D-0)", n)
	}
	g := e.get("t1", m.ID)
	if g.Status != gateway.StatusDelivered || g.Parts[0].Status != gateway.StatusDelivered {
		t.Errorf("status %s part %s, want the first final receipt to stand", g.Status, g.Parts[0].Status)
	}
	// Held receipts that arrived in the race are not stale yet; past it
	// they are, by carrier, and gone.
	if p := e.prune(gateway.ReceiptPrune{StaleBefore: time.Now().Add(-time.Minute), Keep: 100}); len(p.Stale) != 0 || p.Dropped != 0 {
		t.Errorf("prune within the race: %+v, want nothing", p)
	}
	p := e.prune(gateway.ReceiptPrune{StaleBefore: time.Now().Add(time.Second), Keep: 100})
	if st := p.Stale["c1"]; len(p.Stale) != 1 || st.Stale != 3 || len(st.StaleIDs) != 3 || st.StaleIDs[0] != "D-0" || p.Dropped != 0 {
		t.Errorf("prune past the race: %+v, want the 3 held receipts of c1 stale", p)
	}
	if p := e.prune(gateway.ReceiptPrune{StaleBefore: time.Now().Add(time.Second), Keep: 100}); len(p.Stale) != 0 {
		t.Errorf("stale receipts reported twice: %+v", p)
	}
	want := []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusDelivered}
	if got := statuses(e.events(""), m.ID); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func testMultipartDelivered(t *testing.T, e *env) {
	m := msg("t1", "", 2)
	e.accept(m)
	submitAll(e, m, "c1", "M")
	if n := e.receipts(receipt("c1", "M-0", gateway.StatusDelivered, "DELIVRD", "")); n != 1 {
		t.Fatalf("matched %d", n)
	}
	g := e.get("t1", m.ID)
	if g.Status != gateway.StatusSubmitted || g.Parts[0].Status != gateway.StatusDelivered || g.Parts[1].Status != gateway.StatusSubmitted {
		t.Errorf("after one of two receipts: %s, parts %s %s", g.Status, g.Parts[0].Status, g.Parts[1].Status)
	}
	e.receipts(receipt("c1", "M-1", gateway.StatusDelivered, "DELIVRD", ""))
	if g := e.get("t1", m.ID); g.Status != gateway.StatusDelivered || g.LastError != "" {
		t.Errorf("after both receipts: %s %q, want DELIVERED", g.Status, g.LastError)
	}
	want := []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusDelivered}
	if got := statuses(e.events(""), m.ID); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func testMultipartOneFailed(t *testing.T, e *env) {
	m := msg("t1", "", 3)
	e.accept(m)
	submitAll(e, m, "c1", "F")
	e.receipts(
		receipt("c1", "F-0", gateway.StatusDelivered, "DELIVRD", ""),
		receipt("c1", "F-1", gateway.StatusUndelivered, "UNDELIV", "034"),
	)
	if g := e.get("t1", m.ID); g.Status != gateway.StatusSubmitted {
		t.Errorf("final before every part had a receipt: %s", g.Status)
	}
	e.receipts(receipt("c1", "F-2", gateway.StatusDelivered, "DELIVRD", ""))
	g := e.get("t1", m.ID)
	if g.Status != gateway.StatusUndelivered {
		t.Errorf("status %s, want UNDELIVERED", g.Status)
	}
	want := []gateway.Status{gateway.StatusDelivered, gateway.StatusUndelivered, gateway.StatusDelivered}
	for i, p := range g.Parts {
		if p.Status != want[i] {
			t.Errorf("part %d status %s, want %s", i, p.Status, want[i])
		}
	}
	if !strings.Contains(g.Parts[1].Error, "034") || g.Parts[0].Error != "" {
		t.Errorf("per-part detail: %q / %q, want the failing part's code", g.Parts[0].Error, g.Parts[1].Error)
	}
	if !strings.Contains(g.LastError, "034") {
		t.Errorf("LastError %q, want the failing part's code", g.LastError)
	}
	evs := e.events("")
	got := statuses(evs, m.ID)
	if !slices.Equal(got, []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusUndelivered}) {
		t.Errorf("events %v", got)
	}
	if last := evs[len(evs)-1]; !strings.Contains(last.Detail, "034") {
		t.Errorf("UNDELIVERED event detail %q, want the failing part's code", last.Detail)
	}
}

func testMultipartSameFinalStatus(t *testing.T, e *env) {
	m := msg("t1", "", 2)
	e.accept(m)
	submitAll(e, m, "c1", "E")
	e.receipts(
		receipt("c1", "E-0", gateway.StatusExpired, "EXPIRED", ""),
		receipt("c1", "E-1", gateway.StatusExpired, "EXPIRED", ""),
	)
	if g := e.get("t1", m.ID); g.Status != gateway.StatusExpired {
		t.Errorf("all parts EXPIRED: message %s, want EXPIRED", g.Status)
	}
}

func testIntermediateReceipt(t *testing.T, e *env) {
	m := msg("t1", "", 1)
	e.accept(m)
	submitAll(e, m, "c1", "I")
	before := e.get("t1", m.ID)
	nEvents := len(e.events(""))
	if n := e.receipts(receipt("c1", "I-0", "", "ENROUTE", "")); n != 1 {
		t.Errorf("intermediate receipt matched %d, want 1", n)
	}
	g := e.get("t1", m.ID)
	if g.Status != gateway.StatusSubmitted || g.Parts[0].Status != gateway.StatusSubmitted {
		t.Errorf("intermediate receipt changed status: %s / %s", g.Status, g.Parts[0].Status)
	}
	if g.Parts[0].UpdatedAt.Before(before.Parts[0].UpdatedAt) {
		t.Errorf("part updated time went back: %v < %v", g.Parts[0].UpdatedAt, before.Parts[0].UpdatedAt)
	}
	evs := e.events("")
	if n := len(evs); n != nEvents+1 {
		t.Fatalf("intermediate receipt added %d events, want 1", n-nEvents)
	}
	if last := evs[len(evs)-1]; last.Status != gateway.StatusSubmitted || last.Detail != "ENROUTE" || last.MessageID != m.ID {
		t.Errorf("intermediate receipt event = %s %q for %s, want SUBMITTED \"ENROUTE\" for %s", last.Status, last.Detail, last.MessageID, m.ID)
	}
}

func testFinish(t *testing.T, e *env) {
	m, sent := msg("t1", "", 2), msg("t1", "", 1)
	e.accept(m, sent)
	now := time.Now()
	e.claim(now, 10)
	if err := e.s.Finish(t.Context(), m.ID, time.Time{}, gateway.StatusFailed, "no route"); err != nil {
		t.Fatal(err)
	}
	g := e.get("t1", m.ID)
	if g.Status != gateway.StatusFailed || g.LastError != "no route" {
		t.Errorf("after Finish: %s %q", g.Status, g.LastError)
	}
	if err := e.s.Finish(t.Context(), m.ID, time.Time{}, gateway.StatusExpired, "again"); err != nil {
		t.Errorf("Finish of a final message: %v, want a no-op", err)
	}
	if g := e.get("t1", m.ID); g.Status != gateway.StatusFailed {
		t.Errorf("second Finish changed status to %s", g.Status)
	}
	if got := e.claim(now.Add(24*time.Hour), 10); slices.Contains(ids(got), m.ID) {
		t.Error("a finished message was claimed")
	}
	// A submitted message that expires ignores a late receipt.
	submitAll(e, sent, "c1", "S")
	if err := e.s.Finish(t.Context(), sent.ID, time.Time{}, gateway.StatusExpired, "validity passed"); err != nil {
		t.Fatal(err)
	}
	e.receipts(receipt("c1", "S-0", gateway.StatusDelivered, "DELIVRD", ""))
	if g := e.get("t1", sent.ID); g.Status != gateway.StatusExpired {
		t.Errorf("a late receipt reopened a final message: %s", g.Status)
	}

	evs := e.events("")
	if got := statuses(evs, m.ID); !slices.Equal(got, []gateway.Status{gateway.StatusAccepted, gateway.StatusFailed}) {
		t.Errorf("events %v, want ACCEPTED FAILED", got)
	}
	for _, ev := range evs {
		if ev.MessageID == m.ID && ev.Status == gateway.StatusFailed && ev.Detail != "no route" {
			t.Errorf("FAILED event detail %q", ev.Detail)
		}
	}
	if got := statuses(evs, sent.ID); !slices.Equal(got, []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusExpired}) {
		t.Errorf("events %v, want ACCEPTED SUBMITTED EXPIRED", got)
	}
	err := e.s.Finish(t.Context(), "01900000-0000-7000-8000-00000000dead", time.Time{}, gateway.StatusFailed, "")
	if !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Finish unknown id: %v, want ErrNotFound", err)
	}
}

func testInboundDedupe(t *testing.T, e *env) {
	received := time.Now().Add(-time.Minute)
	mk := func(carrier, ref string) *gateway.Inbound {
		return &gateway.Inbound{Tenant: "t1", Carrier: carrier, CarrierRef: ref, From: "+254700000002",
			To: "22333", Text: "BAL 1234", ReceivedAt: received}
	}
	first := mk("c1", "r1")
	batch := []*gateway.Inbound{first, mk("c1", "r1"), mk("c2", "r1"), mk("c1", ""), mk("c1", "")}
	n, err := e.s.RecordInbound(t.Context(), batch)
	if err != nil || n != 4 {
		t.Fatalf("RecordInbound = %d, %v; want 4 (one duplicate)", n, err)
	}
	if n, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{mk("c1", "r1")}); err != nil || n != 0 {
		t.Errorf("a duplicate in a later call: %d, %v; want 0", n, err)
	}
	if u, err := uuid.Parse(first.ID); err != nil || u.Version() != 7 {
		t.Errorf("inbound id %q is not a UUIDv7", first.ID)
	}
	evs := e.events("t1")
	if len(evs) != 4 {
		t.Fatalf("%d inbound events, want 4", len(evs))
	}
	ev := evs[0]
	if ev.Kind != gateway.EventInbound || ev.Tenant != "t1" || ev.Inbound == nil {
		t.Fatalf("inbound event %+v", ev)
	}
	in := ev.Inbound
	if in.ID != first.ID || in.Tenant != "t1" || in.Carrier != "c1" || in.CarrierRef != "r1" ||
		in.From != first.From || in.To != first.To || in.Text != first.Text || !near(in.ReceivedAt, received) {
		t.Errorf("inbound payload %+v, want %+v", in, first)
	}
	noTime := &gateway.Inbound{Tenant: "t1", Carrier: "c1", Text: "STOP"}
	if _, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{noTime}); err != nil {
		t.Fatal(err)
	}
	evs = e.events("t1")
	if got := evs[len(evs)-1].Inbound; got == nil || got.ReceivedAt.IsZero() || got.ID != noTime.ID || noTime.ID == "" {
		t.Errorf("an inbound without time or id: %+v", got)
	}
}

func testEventsOrder(t *testing.T, e *env) {
	for i := range 4 {
		m := msg("t1", "", 1)
		e.accept(m)
		submitAll(e, m, "c1", fmt.Sprintf("O%d", i))
	}
	all := e.events("")
	if len(all) != 8 {
		t.Fatalf("%d events, want 8", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatalf("seq not strictly increasing: %d then %d", all[i-1].Seq, all[i].Seq)
		}
	}
	from := all[3].Seq
	page, err := e.s.Events(t.Context(), "", from, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != len(all)-3 || page[0].Seq != from {
		t.Errorf("Events(from %d) = %d events starting at %d, want %d from %d (inclusive)",
			from, len(page), page[0].Seq, len(all)-3, from)
	}
	page, err = e.s.Events(t.Context(), "", 0, 2)
	if err != nil || len(page) != 2 || page[1].Seq != all[1].Seq {
		t.Errorf("Events limit 2 = %d events, %v", len(page), err)
	}
	page, err = e.s.Events(t.Context(), "", all[len(all)-1].Seq+1, 10)
	if err != nil || len(page) != 0 {
		t.Errorf("Events past the end = %d events, %v", len(page), err)
	}
}

// testEventsCarryTheirMessage: EventsWithMessages gives a status event
// with what followers need of its message (numbers, coding, carrier, the
// first part's carrier id, metadata) as it stands when read, so following
// reads nothing per event; an inbound event has none, and Events reads none.
// Both give a status event its message's client_ref.
func testEventsCarryTheirMessage(t *testing.T, e *env) {
	m := msg("t1", "loan-17-receipt", 2)
	m.From, m.To, m.Encoding = "SACCO", "+255712345678", gateway.EncodingUCS2
	m.Meta = map[string]string{"dlr-url": "http://127.0.0.1/dlr?s=%d", "dlr-mask": "31"}
	e.accept(m)
	if _, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{{Tenant: "t1", Carrier: "c1", From: "+254700000002", To: "22333", Text: "BAL"}}); err != nil {
		t.Fatal(err)
	}
	evs, err := e.s.EventsWithMessages(t.Context(), "t1", 0, 100)
	if err != nil || len(evs) != 2 || evs[0].Message == nil || evs[1].Message != nil {
		t.Fatalf("events %+v, %v: want the ACCEPTED one with its message, the inbound one without", evs, err)
	}
	if plain := e.events("t1"); len(plain) != 2 || plain[0].Message != nil {
		t.Errorf("Events %+v: want no message (only EventsWithMessages reads them)", plain)
	} else if plain[0].ClientRef != "loan-17-receipt" || plain[1].ClientRef != "" || evs[0].ClientRef != "loan-17-receipt" {
		t.Errorf("client refs %q, %q (with messages %q); want the status event's, none on the inbound one",
			plain[0].ClientRef, plain[1].ClientRef, evs[0].ClientRef)
	}
	if got := evs[0].Message; got.From != "SACCO" || got.To != m.To || got.Encoding != gateway.EncodingUCS2 ||
		got.CarrierID != "" || got.Meta["dlr-url"] != m.Meta["dlr-url"] || got.Meta["dlr-mask"] != "31" {
		t.Errorf("unsent message on its event: %+v", got)
	}
	submitAll(e, m, "c1", "X")
	if evs, err = e.s.EventsWithMessages(t.Context(), "", evs[0].Seq, 100); err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Status != gateway.StatusSubmitted || last.Message == nil {
		t.Fatalf("last event %+v, want SUBMITTED with its message", last)
	}
	if got := last.Message; got.Carrier != "c1" || got.CarrierID != "X-0" || got.Meta["dlr-mask"] != "31" {
		t.Errorf("submitted message on its event: %+v, want carrier c1, id X-0", got)
	}
}

// testLastSeq: 0 before any event, then the newest seq, which pruning
// every event leaves where it was (sequence numbers are never reused).
func testLastSeq(t *testing.T, e *env) {
	if seq, err := e.s.LastSeq(t.Context()); err != nil || seq != 0 {
		t.Fatalf("LastSeq of an empty log = %d, %v; want 0", seq, err)
	}
	e.accept(msg("t1", "", 1), msg("t2", "", 1))
	evs := e.events("")
	last := evs[len(evs)-1].Seq
	if seq, err := e.s.LastSeq(t.Context()); err != nil || seq != last {
		t.Fatalf("LastSeq = %d, %v; want %d", seq, err, last)
	}
	if _, err := e.s.PruneEvents(t.Context(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if seq, err := e.s.LastSeq(t.Context()); err != nil || seq != last {
		t.Errorf("LastSeq after pruning everything = %d, %v; want %d", seq, err, last)
	}
}

// testPrunedThrough: the watermark is 0 until retention deletes events,
// then the highest seq it deleted, and an earlier cut never moves it back.
func testPrunedThrough(t *testing.T, e *env) {
	if seq, err := e.s.PrunedThrough(t.Context()); err != nil || seq != 0 {
		t.Fatalf("PrunedThrough of a fresh log = %d, %v; want 0", seq, err)
	}
	e.accept(msg("t1", "", 1), msg("t2", "", 1))
	time.Sleep(5 * time.Millisecond)
	cut := time.Now()
	time.Sleep(5 * time.Millisecond)
	e.accept(msg("t1", "", 1))
	evs := e.events("")
	if _, err := e.s.PruneEvents(t.Context(), cut); err != nil {
		t.Fatal(err)
	}
	if seq, err := e.s.PrunedThrough(t.Context()); err != nil || seq != evs[1].Seq {
		t.Fatalf("PrunedThrough = %d, %v; want %d, the newer of the two pruned", seq, err, evs[1].Seq)
	}
	if _, err := e.s.PruneEvents(t.Context(), cut.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if seq, err := e.s.PrunedThrough(t.Context()); err != nil || seq != evs[1].Seq {
		t.Errorf("PrunedThrough after a prune that deleted nothing = %d, %v; want %d", seq, err, evs[1].Seq)
	}
}

// testCursorsListDelete: a tenant's cursors come by name with their seq
// and time, never another tenant's; a deleted cursor is gone (a stream
// naming it starts afresh) and deleting it again finds nothing.
func testCursorsListDelete(t *testing.T, e *env) {
	e.accept(msg("t1", "", 1), msg("t1", "", 1))
	evs := e.events("")
	for _, c := range []struct {
		tenant, name string
		seq          int64
	}{{"t1", "sms-bridge", evs[1].Seq}, {"t1", "adapter", evs[0].Seq}, {"t2", "other", evs[0].Seq}} {
		if err := e.s.AckEvents(t.Context(), c.tenant, c.name, c.seq); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := e.s.Cursors(t.Context(), "t1")
	if err != nil || len(cs) != 2 || cs[0].Name != "adapter" || cs[0].Seq != evs[0].Seq ||
		cs[1].Name != "sms-bridge" || cs[1].Seq != evs[1].Seq || cs[0].UpdatedAt.IsZero() {
		t.Fatalf("Cursors(t1) = %+v, %v; want adapter then sms-bridge with their seqs", cs, err)
	}
	if found, err := e.s.DeleteCursor(t.Context(), "t1", "adapter"); err != nil || !found {
		t.Fatalf("DeleteCursor = %v, %v", found, err)
	}
	if found, err := e.s.DeleteCursor(t.Context(), "t1", "adapter"); err != nil || found {
		t.Errorf("DeleteCursor again = %v, %v; want not found", found, err)
	}
	if found, err := e.s.DeleteCursor(t.Context(), "t1", "other"); err != nil || found {
		t.Errorf("DeleteCursor of another tenant's = %v, %v; want not found", found, err)
	}
	if seq, err := e.s.Cursor(t.Context(), "t1", "adapter"); err != nil || seq != 0 {
		t.Errorf("deleted cursor at %d, %v; want 0", seq, err)
	}
	if cs, err := e.s.Cursors(t.Context(), "t2"); err != nil || len(cs) != 1 || cs[0].Name != "other" {
		t.Errorf("Cursors(t2) = %+v, %v", cs, err)
	}
}

// testClaimFor: a tenant's claim takes only its due messages, in claim
// order, leased like any claim; the other tenant's flood of higher
// priority neither comes with it nor hides it.
func testClaimFor(t *testing.T, e *env) {
	var mine, theirs []*gateway.Message
	for i := range 4 {
		m := msg("t2", "", 2)
		m.Priority = 9
		theirs = append(theirs, m)
		e.accept(m)
		if i < 3 {
			m := msg("t1", "", 1)
			m.Priority = int32(i % 2) // 0, 1, 0: the 1 goes first
			mine = append(mine, m)
			e.accept(m)
		}
	}
	now := time.Now()
	got, err := e.s.ClaimFor(t.Context(), now, "t1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{mine[1].ID, mine[0].ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("ClaimFor(t1, 2) = %v, want %v", ids(got), want)
	}
	if got[0].LeaseUntil.IsZero() || len(got[0].Parts) != 1 || got[0].Tenant != "t1" {
		t.Errorf("claimed %+v: want a leased t1 message with its part", got[0])
	}
	if got, err = e.s.ClaimFor(t.Context(), now, "t1", 5); err != nil || !slices.Equal(ids(got), []string{mine[2].ID}) {
		t.Errorf("ClaimFor(t1, 5) = %v, %v; want only the one left", ids(got), err)
	}
	if got := e.claim(now, 10); !slices.Equal(ids(got), ids(theirs)) {
		t.Errorf("Claim after = %v, want t2's %v (t1's are leased)", ids(got), ids(theirs))
	}
	if got, err := e.s.ClaimFor(t.Context(), now, "t2", 5); err != nil || len(got) != 0 {
		t.Errorf("ClaimFor(t2) with all leased = %v, %v", ids(got), err)
	}
}

// testReceiptBeforeSubmitOtherBase: a decimal receipt read with id base
// auto (alternative: its hex reading) overtakes the submit_sm_resp the
// carrier answered in hex; it is kept under its own id and applied when
// the hex id is recorded.
func testReceiptBeforeSubmitOtherBase(t *testing.T, e *env) {
	m := msg("t1", "", 1)
	e.accept(m)
	r := receipt("c1", "1000000001", gateway.StatusDelivered, "DELIVRD", "")
	r.AltIDs = []string{"3b9aca01"}
	if n := e.receipts(r); n != 0 {
		t.Fatalf("a receipt for an id not recorded yet matched %d", n)
	}
	e.submit(gateway.SubmitRecord{MessageID: m.ID, Index: 0, Carrier: "c1", CarrierID: "3b9aca01", At: time.Now()})
	if g := e.get("t1", m.ID); g.Status != gateway.StatusDelivered || g.Parts[0].Status != gateway.StatusDelivered {
		t.Fatalf("the early receipt in the other base did not apply on submit: %s / part %s", g.Status, g.Parts[0].Status)
	}
}

func testDurableAcrossReopen(t *testing.T, e *env) {
	a, b := msg("t1", "durable", 2), msg("t1", "", 1)
	e.accept(a, b)
	now := time.Now()
	if got := e.claim(now, 10); len(got) != 2 {
		t.Fatalf("claimed %d, want 2", len(got))
	}
	e.submit(gateway.SubmitRecord{MessageID: a.ID, Index: 0, Carrier: "c1", CarrierID: "R0", Cost: 1, Currency: "KES", At: now})
	in := &gateway.Inbound{Tenant: "t1", Carrier: "c1", CarrierRef: "mo", From: "+254700000002", To: "22333", Text: "DUE"}
	if _, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{in}); err != nil {
		t.Fatal(err)
	}
	before := e.events("")

	e.reopen()

	g := e.get("t1", a.ID)
	if g.ClientRef != "durable" || len(g.Parts) != 2 || g.Parts[0].CarrierID != "R0" || g.Cost != 1 {
		t.Errorf("after reopen: %+v", g)
	}
	after := e.events("")
	if len(after) != len(before) {
		t.Fatalf("%d events after reopen, want %d", len(after), len(before))
	}
	for i := range before {
		if after[i].Seq != before[i].Seq || after[i].Status != before[i].Status || after[i].Kind != before[i].Kind {
			t.Errorf("event %d: %+v, want %+v", i, after[i], before[i])
		}
	}
	if r := e.accept(msg("t1", "durable", 1))[0]; !r.Duplicate || r.ID != a.ID {
		t.Errorf("client_ref after reopen: %+v", r)
	}
	// Leased work is not lost: at the latest it is claimable once the lease lapses.
	got := ids(e.claim(now.Add(24*time.Hour), 10))
	slices.Sort(got)
	want := []string{a.ID, b.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("claim after reopen = %v, want %v", got, want)
	}
	e.accept(msg("t2", "", 1))
	if evs := e.events("t2"); len(evs) != 1 || evs[0].Seq <= before[len(before)-1].Seq {
		t.Errorf("seq after reopen %+v, want above %d", evs, before[len(before)-1].Seq)
	}
}

func testConcurrentAccept(t *testing.T, e *env) {
	const workers, each = 64, 50
	got := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m := msg(fmt.Sprintf("t%d", w%4), fmt.Sprintf("w%d-%d", w, i), 1)
				res, err := e.s.Accept(t.Context(), []*gateway.Message{m})
				if err != nil {
					t.Errorf("Accept: %v", err)
					return
				}
				got[w] = append(got[w], res[0].ID)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for w, list := range got {
		for _, id := range list {
			if seen[id] {
				t.Fatalf("id %s returned twice", id)
			}
			seen[id] = true
			if _, err := e.s.Get(t.Context(), fmt.Sprintf("t%d", w%4), id); err != nil {
				t.Fatalf("Get %s: %v", id, err)
			}
		}
	}
	if len(seen) != workers*each {
		t.Errorf("%d ids, want %d", len(seen), workers*each)
	}
	evs := e.events("")
	if len(evs) != workers*each {
		t.Errorf("%d events, want %d", len(evs), workers*each)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("seq not increasing at %d", i)
		}
	}
}

// submitOneID records the same carrier id for every part of m, as a carrier
// that took the whole message in one submit_sm with message_payload answers.
func submitOneID(e *env, m *gateway.Message, c, id string, at time.Time) {
	e.t.Helper()
	var recs []gateway.SubmitRecord
	for _, p := range m.Parts {
		recs = append(recs, gateway.SubmitRecord{MessageID: m.ID, Index: p.Index, Carrier: c,
			CarrierID: id, Cost: 0.5, Currency: "KES", At: at})
	}
	e.submit(recs...)
}

func testReceiptAppliesToAllParts(t *testing.T, e *env) {
	ok, failed := msg("t1", "", 3), msg("t1", "", 2)
	e.accept(ok, failed)
	submitOneID(e, ok, "c1", "P1", time.Now())
	submitOneID(e, failed, "c1", "P2", time.Now())

	if n := e.receipts(receipt("c1", "P1", "", "ENROUTE", "")); n != 1 {
		t.Errorf("intermediate receipt matched %d, want 1", n)
	}
	if n := e.receipts(receipt("c1", "P1", gateway.StatusDelivered, "DELIVRD", "")); n != 1 {
		t.Errorf("receipt for a message_payload id matched %d, want 1 (one receipt)", n)
	}
	g := e.get("t1", ok.ID)
	if g.Status != gateway.StatusDelivered || g.LastError != "" {
		t.Errorf("message %s %q, want DELIVERED", g.Status, g.LastError)
	}
	for _, p := range g.Parts {
		if p.Status != gateway.StatusDelivered {
			t.Errorf("part %d %s, want DELIVERED: the receipt covers every part", p.Index, p.Status)
		}
	}

	e.receipts(receipt("c1", "P2", gateway.StatusUndelivered, "UNDELIV", "034"))
	g = e.get("t1", failed.ID)
	if g.Status != gateway.StatusUndelivered || !strings.Contains(g.LastError, "034") {
		t.Errorf("message %s %q, want UNDELIVERED with the code", g.Status, g.LastError)
	}
	for _, p := range g.Parts {
		if p.Status != gateway.StatusUndelivered || !strings.Contains(p.Error, "034") {
			t.Errorf("part %d %s %q, want UNDELIVERED with the code", p.Index, p.Status, p.Error)
		}
	}
	evs := e.events("")
	for _, c := range []struct {
		id   string
		last gateway.Status
	}{{ok.ID, gateway.StatusDelivered}, {failed.ID, gateway.StatusUndelivered}} {
		want := []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, c.last}
		if c.id == ok.ID { // its ENROUTE receipt: one event, status unchanged
			want = []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusSubmitted, c.last}
		}
		if got := statuses(evs, c.id); !slices.Equal(got, want) {
			t.Errorf("events %v, want %v (one final event per message)", got, want)
		}
	}
	// A resent receipt changes nothing and adds no event.
	e.receipts(receipt("c1", "P1", gateway.StatusUndelivered, "UNDELIV", "001"))
	if g := e.get("t1", ok.ID); g.Status != gateway.StatusDelivered || g.Parts[2].Status != gateway.StatusDelivered {
		t.Errorf("a second receipt changed the message: %s / %s", g.Status, g.Parts[2].Status)
	}
	if n := len(e.events("")); n != len(evs) {
		t.Errorf("a second receipt added %d events", n-len(evs))
	}
}

func testReceiptBeforeSubmitAllParts(t *testing.T, e *env) {
	m := msg("t1", "", 2)
	e.accept(m)
	if n := e.receipts(receipt("c1", "B1", gateway.StatusDelivered, "DELIVRD", "")); n != 0 {
		t.Errorf("a receipt for an unknown id matched %d", n)
	}
	submitOneID(e, m, "c1", "B1", time.Now())
	g := e.get("t1", m.ID)
	if g.Status != gateway.StatusDelivered || g.Parts[0].Status != gateway.StatusDelivered || g.Parts[1].Status != gateway.StatusDelivered {
		t.Errorf("early receipt on a message_payload id: %s, parts %s %s; want all DELIVERED",
			g.Status, g.Parts[0].Status, g.Parts[1].Status)
	}
	want := []gateway.Status{gateway.StatusAccepted, gateway.StatusSubmitted, gateway.StatusDelivered}
	if got := statuses(e.events(""), m.ID); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func testRecycledCarrierID(t *testing.T, e *env) {
	old, recent := msg("t1", "", 2), msg("t1", "", 2)
	e.accept(old, recent)
	t0 := time.Now()
	submitOneID(e, old, "c1", "R", t0.Add(-time.Hour))
	// The recent message reuses "R" for one part only.
	e.submit(
		gateway.SubmitRecord{MessageID: recent.ID, Index: 0, Carrier: "c1", CarrierID: "R-other", At: t0},
		gateway.SubmitRecord{MessageID: recent.ID, Index: 1, Carrier: "c1", CarrierID: "R", At: t0},
	)
	if n := e.receipts(receipt("c1", "R", gateway.StatusDelivered, "DELIVRD", "")); n != 1 {
		t.Fatalf("matched %d, want 1", n)
	}
	g := e.get("t1", recent.ID)
	if g.Parts[0].Status != gateway.StatusSubmitted || g.Parts[1].Status != gateway.StatusDelivered || g.Status != gateway.StatusSubmitted {
		t.Errorf("recent message %s, parts %s %s; want only part 1 DELIVERED", g.Status, g.Parts[0].Status, g.Parts[1].Status)
	}
	if g := e.get("t1", old.ID); g.Status != gateway.StatusSubmitted || g.Parts[0].Status != gateway.StatusSubmitted {
		t.Errorf("the recycled id's old message took the receipt: %s / %s", g.Status, g.Parts[0].Status)
	}
}

// testEventFollowerNeverSkips follows the log while many writers append to
// it, resuming each page at the last seq + 1 as a stream consumer does. A
// store whose sequence numbers can become visible out of order (a later seq
// committed before an earlier one) makes the follower skip the earlier one.
func testEventFollowerNeverSkips(t *testing.T, e *env) {
	const writers, each = 16, 40
	var (
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m := msg(fmt.Sprintf("t%d", w%3), "", 1+i%2)
				if _, err := e.s.Accept(t.Context(), []*gateway.Message{m}); err != nil {
					t.Errorf("Accept: %v", err)
					return
				}
				if i%2 == 0 {
					continue
				}
				var recs []gateway.SubmitRecord
				for _, p := range m.Parts {
					recs = append(recs, gateway.SubmitRecord{MessageID: m.ID, Index: p.Index, Carrier: "c1",
						CarrierID: fmt.Sprintf("f%d-%d-%d", w, i, p.Index)})
				}
				if err := e.s.RecordSubmits(t.Context(), recs); err != nil {
					t.Errorf("RecordSubmits: %v", err)
					return
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	seen := map[int64]bool{}
	from := int64(0)
	follow := func() int {
		page, err := e.s.Events(t.Context(), "", from, 50)
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		for _, ev := range page {
			if ev.Seq < from || seen[ev.Seq] {
				t.Fatalf("Events(from %d) returned seq %d again", from, ev.Seq)
			}
			seen[ev.Seq] = true
			from = ev.Seq + 1
		}
		return len(page)
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		follow()
	}
	for follow() > 0 {
	}
	all := e.events("")
	if want := writers * each * 3 / 2; len(all) != want {
		t.Errorf("%d events in the log, want %d", len(all), want)
	}
	var missed []int64
	for _, ev := range all {
		if !seen[ev.Seq] {
			missed = append(missed, ev.Seq)
		}
	}
	if len(missed) > 0 {
		t.Errorf("the follower skipped %d of %d events (seqs %v): they became visible after a later seq", len(missed), len(all), missed[:min(10, len(missed))])
	}
}

// A message keeps its attempt history: failed attempts as recorded, then the
// successful submission; each part keeps the cost of the route that took it.
func testAttemptHistoryAndPartCost(t *testing.T, e *env) {
	m := msg("t1", "", 2)
	e.accept(m)
	now := time.Now().Truncate(time.Millisecond)
	e.claim(now, 1)
	if err := e.s.RecordAttempts(t.Context(), []gateway.AttemptRecord{
		{MessageID: m.ID, Attempt: gateway.Attempt{Carrier: "cheap", Outcome: "next_route", Detail: "ESME_RSUBMITFAIL", At: now}},
	}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Second)
	e.submit(
		gateway.SubmitRecord{MessageID: m.ID, Index: 0, Carrier: "dear", CarrierID: "D0", Cost: 0.9, Currency: "KES", At: later},
		gateway.SubmitRecord{MessageID: m.ID, Index: 1, Carrier: "dear", CarrierID: "D1", Cost: 0.9, Currency: "KES", At: later},
	)
	g := e.get("t1", m.ID)
	want := []gateway.Attempt{
		{Carrier: "cheap", Outcome: "next_route", Detail: "ESME_RSUBMITFAIL", At: now},
		{Carrier: "dear", Outcome: "submitted", At: later},
	}
	if len(g.Attempts) != len(want) {
		t.Fatalf("attempts %+v, want %+v", g.Attempts, want)
	}
	for i, a := range g.Attempts {
		if a.Carrier != want[i].Carrier || a.Outcome != want[i].Outcome || a.Detail != want[i].Detail || !a.At.Equal(want[i].At) {
			t.Errorf("attempt %d = %+v, want %+v", i, a, want[i])
		}
	}
	for _, p := range g.Parts {
		if p.Cost != 0.9 {
			t.Errorf("part %d cost %v, want 0.9", p.Index, p.Cost)
		}
	}
	if g.Cost < 1.8-1e-9 || g.Cost > 1.8+1e-9 {
		t.Errorf("message cost %v, want 1.8", g.Cost)
	}
}

func (e *env) list(tenant string, f gateway.ListFilter) []string {
	e.t.Helper()
	ms, err := e.s.List(e.t.Context(), tenant, f)
	if err != nil {
		e.t.Fatalf("List(%q, %+v): %v", tenant, f, err)
	}
	for _, m := range ms {
		if m.Tenant != tenant {
			e.t.Errorf("List(%q) returned %s of tenant %q", tenant, m.ID, m.Tenant)
		}
		if len(m.Parts) != 0 || len(m.Attempts) != 0 {
			e.t.Errorf("List returned %s with %d parts, %d attempts; want none", m.ID, len(m.Parts), len(m.Attempts))
		}
	}
	return ids(ms)
}

// newestFirst returns the ids of ms in reverse: accepted in order, their
// UUIDv7 ids grow, and List returns the newest first.
func newestFirst(ms ...*gateway.Message) []string {
	out := ids(ms)
	slices.Reverse(out)
	return out
}

func testListFiltersAndPages(t *testing.T, e *env) {
	var early, late []*gateway.Message
	for i := range 5 {
		m := msg("t1", "", 1)
		if i%2 == 0 {
			m.To = "+254700000009"
		}
		early = append(early, m)
	}
	e.accept(early...)
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	for range 4 {
		late = append(late, msg("t1", "", 1))
	}
	e.accept(late...)
	other := []*gateway.Message{msg("t2", "", 1), msg("t2", "", 2), msg("t2", "", 1)}
	e.accept(other...)
	t3 := msg("t3", "", 1)
	e.accept(t3)
	all := append(slices.Clone(early), late...)

	if got, want := e.list("t1", gateway.ListFilter{}), newestFirst(all...); !slices.Equal(got, want) {
		t.Errorf("List(t1) = %v, want %v", got, want)
	}
	if got, want := e.list("t2", gateway.ListFilter{}), newestFirst(other...); !slices.Equal(got, want) {
		t.Errorf("List(t2) = %v, want %v (only t2's)", got, want)
	}
	if got := e.list("t4", gateway.ListFilter{}); len(got) != 0 {
		t.Errorf("List(t4) = %v, want none", got)
	}
	if _, err := e.s.List(t.Context(), "", gateway.ListFilter{}); err == nil {
		t.Error("List with an empty tenant succeeded, want an error")
	}

	// Status, after a submit and a finish.
	submitAll(e, early[1], "c1", "L")
	if err := e.s.Finish(t.Context(), late[0].ID, time.Time{}, gateway.StatusFailed, "no route"); err != nil {
		t.Fatal(err)
	}
	if got := e.list("t1", gateway.ListFilter{Status: gateway.StatusSubmitted}); !slices.Equal(got, []string{early[1].ID}) {
		t.Errorf("List SUBMITTED = %v, want %s", got, early[1].ID)
	}
	if got := e.list("t1", gateway.ListFilter{Status: gateway.StatusFailed}); !slices.Equal(got, []string{late[0].ID}) {
		t.Errorf("List FAILED = %v, want %s", got, late[0].ID)
	}
	accepted := slices.DeleteFunc(slices.Clone(all), func(m *gateway.Message) bool {
		return m == early[1] || m == late[0]
	})
	if got, want := e.list("t1", gateway.ListFilter{Status: gateway.StatusAccepted}), newestFirst(accepted...); !slices.Equal(got, want) {
		t.Errorf("List ACCEPTED = %v, want %v", got, want)
	}
	if got := e.list("t2", gateway.ListFilter{Status: gateway.StatusSubmitted}); len(got) != 0 {
		t.Errorf("List(t2) SUBMITTED = %v, want none", got)
	}

	// Destination.
	if got, want := e.list("t1", gateway.ListFilter{To: "+254700000009"}), newestFirst(early[0], early[2], early[4]); !slices.Equal(got, want) {
		t.Errorf("List To = %v, want %v", got, want)
	}
	if got := e.list("t1", gateway.ListFilter{To: "+254700000009", Status: gateway.StatusSubmitted}); len(got) != 0 {
		t.Errorf("List To+SUBMITTED = %v, want none", got)
	}

	// Creation time: [Since, Until).
	if got, want := e.list("t1", gateway.ListFilter{Since: mid}), newestFirst(late...); !slices.Equal(got, want) {
		t.Errorf("List Since = %v, want %v", got, want)
	}
	if got, want := e.list("t1", gateway.ListFilter{Until: mid}), newestFirst(early...); !slices.Equal(got, want) {
		t.Errorf("List Until = %v, want %v", got, want)
	}
	created := e.get("t1", late[0].ID).CreatedAt
	if got := e.list("t1", gateway.ListFilter{Since: created, Until: created.Add(time.Nanosecond)}); !slices.Contains(got, late[0].ID) || slices.Contains(got, early[4].ID) {
		t.Errorf("List [created, created+1ns) = %v, want %s in it and no early message", got, late[0].ID)
	}
	if got := e.list("t1", gateway.ListFilter{Since: created, Until: created}); len(got) != 0 {
		t.Errorf("List of an empty range = %v", got)
	}

	// Paging: pages of 2 until an empty one, together the whole list.
	var paged []string
	f := gateway.ListFilter{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page := e.list("t1", f)
		if len(page) > 2 {
			t.Fatalf("page of %d, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		f.Before = page[len(page)-1]
	}
	if want := newestFirst(all...); !slices.Equal(paged, want) {
		t.Errorf("paged %v, want %v", paged, want)
	}
	if got := e.list("t2", gateway.ListFilter{Before: other[2].ID}); !slices.Equal(got, newestFirst(other[:2]...)) {
		t.Errorf("List(t2) before its newest = %v, want the two older", got)
	}
	if got := e.list("t2", gateway.ListFilter{Before: t3.ID}); !slices.Equal(got, newestFirst(other...)) {
		t.Errorf("List(t2) before another tenant's newer id = %v, want all of t2's", got)
	}

	// Limit: 100 by default, never more than 1000.
	var many []*gateway.Message
	for range 1005 {
		many = append(many, msg("t3", "", 1))
	}
	e.accept(many...)
	if got := e.list("t3", gateway.ListFilter{}); len(got) != 100 {
		t.Errorf("default limit: %d messages, want 100", len(got))
	}
	if got := e.list("t3", gateway.ListFilter{Limit: 5000}); len(got) != 1000 {
		t.Errorf("limit 5000: %d messages, want the cap of 1000", len(got))
	}
	if got := e.list("t3", gateway.ListFilter{Limit: 3}); !slices.Equal(got, newestFirst(many[len(many)-3:]...)) {
		t.Errorf("limit 3: %v, want the 3 newest", got)
	}
}

func testCancelBeforeSubmit(t *testing.T, e *env) {
	m1, m2, m3, m4 := msg("t1", "", 2), msg("t1", "", 1), msg("t1", "", 1), msg("t1", "", 2)
	e.accept(m1, m2, m3, m4)
	now := time.Now()

	if err := e.s.Cancel(t.Context(), "t1", m1.ID, now); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	g := e.get("t1", m1.ID)
	if g.Status != gateway.StatusCanceled || g.LastError == "" {
		t.Errorf("after Cancel: %s %q, want CANCELED with a reason", g.Status, g.LastError)
	}
	for _, p := range g.Parts {
		if p.Status != gateway.StatusCanceled {
			t.Errorf("part %d is %s, want CANCELED", p.Index, p.Status)
		}
	}
	if got := statuses(e.events("t1"), m1.ID); !slices.Equal(got, []gateway.Status{gateway.StatusAccepted, gateway.StatusCanceled}) {
		t.Errorf("events %v, want ACCEPTED CANCELED", got)
	}
	if err := e.s.Cancel(t.Context(), "t1", m1.ID, now); !errors.Is(err, gateway.ErrNotCancelable) {
		t.Errorf("second Cancel: %v, want ErrNotCancelable", err)
	}
	if got := statuses(e.events("t1"), m1.ID); len(got) != 2 {
		t.Errorf("a refused Cancel appended events: %v", got)
	}
	if err := e.s.Cancel(t.Context(), "t2", m2.ID, now); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Cancel by another tenant: %v, want ErrNotFound", err)
	}
	if err := e.s.Cancel(t.Context(), "t1", "01900000-0000-7000-8000-00000000dead", now); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Cancel of an unknown id: %v, want ErrNotFound", err)
	}
	if g := e.get("t1", m2.ID); g.Status != gateway.StatusAccepted {
		t.Errorf("another tenant's Cancel changed the message to %s", g.Status)
	}

	// A canceled message is never claimed; a claimed one cannot be canceled
	// while its lease is live, only after it lapsed (its node is gone).
	claimed := ids(e.claim(now, 10))
	slices.Sort(claimed)
	want := ids([]*gateway.Message{m2, m3, m4})
	slices.Sort(want)
	if !slices.Equal(claimed, want) {
		t.Fatalf("claim = %v, want %v (not the canceled one)", claimed, want)
	}
	if err := e.s.Cancel(t.Context(), "t1", m2.ID, now); !errors.Is(err, gateway.ErrNotCancelable) {
		t.Errorf("Cancel of a claimed message: %v, want ErrNotCancelable", err)
	}
	if err := e.s.Cancel(t.Context(), "t1", m3.ID, now.Add(24*time.Hour)); err != nil {
		t.Errorf("Cancel after the lease lapsed: %v", err)
	}

	// A message with a submitted part cannot be canceled, even released.
	e.submit(gateway.SubmitRecord{MessageID: m4.ID, Index: 0, Carrier: "c1", CarrierID: "X0", At: now})
	e.reschedule(m4.ID, now, "window full")
	if err := e.s.Cancel(t.Context(), "t1", m4.ID, now); !errors.Is(err, gateway.ErrNotCancelable) {
		t.Errorf("Cancel with a submitted part: %v, want ErrNotCancelable", err)
	}
	if g := e.get("t1", m4.ID); g.Status != gateway.StatusAccepted || g.Parts[0].Status != gateway.StatusSubmitted || g.Parts[1].Status != gateway.StatusAccepted {
		t.Errorf("refused Cancel changed the message: %s %+v", g.Status, g.Parts)
	}

	later := ids(e.claim(now.Add(48*time.Hour), 10))
	if slices.Contains(later, m1.ID) || slices.Contains(later, m3.ID) {
		t.Errorf("claim %v returned a canceled message (%s, %s)", later, m1.ID, m3.ID)
	}
	if !slices.Contains(later, m4.ID) || !slices.Contains(later, m2.ID) {
		t.Errorf("claim %v, want %s and %s (not canceled)", later, m2.ID, m4.ID)
	}
}

func testEventCursors(t *testing.T, e *env) {
	e.accept(msg("t1", "", 1), msg("t1", "", 1), msg("t2", "", 1))
	evs := e.events("")
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	s1, s2, last := evs[0].Seq, evs[1].Seq, evs[2].Seq
	cursor := func(tenant, name string) int64 {
		t.Helper()
		seq, err := e.s.Cursor(t.Context(), tenant, name)
		if err != nil {
			t.Fatalf("Cursor(%q, %q): %v", tenant, name, err)
		}
		return seq
	}
	ack := func(tenant, name string, seq int64) {
		t.Helper()
		if err := e.s.AckEvents(t.Context(), tenant, name, seq); err != nil {
			t.Fatalf("AckEvents(%q, %q, %d): %v", tenant, name, seq, err)
		}
	}
	if got := cursor("t1", "a"); got != 0 {
		t.Errorf("new cursor at %d, want 0", got)
	}
	ack("t1", "a", s2)
	if got := cursor("t1", "a"); got != s2 {
		t.Errorf("cursor at %d after ack %d", got, s2)
	}
	ack("t1", "a", s1) // never backwards
	if got := cursor("t1", "a"); got != s2 {
		t.Errorf("cursor moved back to %d, want %d", got, s2)
	}
	ack("t1", "a", last)
	ack("t1", "b", s1)
	ack("t2", "a", s2)
	if a, b, other := cursor("t1", "a"), cursor("t1", "b"), cursor("t2", "a"); a != last || b != s1 || other != s2 {
		t.Errorf("cursors t1/a=%d t1/b=%d t2/a=%d, want %d %d %d", a, b, other, last, s1, s2)
	}
	if got := cursor("t3", "a"); got != 0 {
		t.Errorf("another tenant's cursor at %d, want 0", got)
	}

	err := e.s.AckEvents(t.Context(), "t2", "a", last+1)
	if !errors.Is(err, gateway.ErrAckAhead) {
		t.Errorf("ack beyond the log: %v, want ErrAckAhead", err)
	}
	if got := cursor("t2", "a"); got != s2 {
		t.Errorf("a refused ack moved the cursor to %d", got)
	}
	if err := e.s.AckEvents(t.Context(), "t1", "", s1); err == nil {
		t.Error("ack with an empty cursor name succeeded")
	}

	e.reopen()
	if a, b, other := cursor("t1", "a"), cursor("t1", "b"), cursor("t2", "a"); a != last || b != s1 || other != s2 {
		t.Errorf("after reopen t1/a=%d t1/b=%d t2/a=%d, want %d %d %d", a, b, other, last, s1, s2)
	}
	e.accept(msg("t2", "", 1))
	next := e.events("t2")
	ack("t2", "a", next[len(next)-1].Seq)
	if got := cursor("t2", "a"); got != next[len(next)-1].Seq {
		t.Errorf("after a new event the cursor acked to %d, want %d", got, next[len(next)-1].Seq)
	}
}

func testPruneEvents(t *testing.T, e *env) {
	a, b := msg("t1", "", 1), msg("t2", "", 1)
	e.accept(a, b)
	time.Sleep(5 * time.Millisecond)
	cut := time.Now()
	time.Sleep(5 * time.Millisecond)
	c, d := msg("t1", "", 1), msg("t1", "", 1)
	e.accept(c)
	e.accept(d)
	before := e.events("")
	if len(before) != 4 {
		t.Fatalf("%d events, want 4", len(before))
	}

	n, err := e.s.PruneEvents(t.Context(), cut)
	if err != nil || n != 2 {
		t.Fatalf("PruneEvents = %d, %v; want 2", n, err)
	}
	after := e.events("")
	if len(after) != 2 || after[0].Seq != before[2].Seq || after[1].Seq != before[3].Seq {
		t.Fatalf("after prune %+v, want the last two of %+v", after, before)
	}
	if after[0].MessageID != c.ID || after[1].MessageID != d.ID {
		t.Errorf("after prune events of %s %s, want %s %s", after[0].MessageID, after[1].MessageID, c.ID, d.ID)
	}
	// A consumer resuming at a pruned seq goes on with the next kept one.
	page, err := e.s.Events(t.Context(), "t1", before[0].Seq, 10)
	if err != nil || len(page) != 2 || page[0].Seq != before[2].Seq {
		t.Errorf("Events(t1, %d) after prune = %+v, %v; want from %d", before[0].Seq, page, err, before[2].Seq)
	}
	page, err = e.s.Events(t.Context(), "", before[2].Seq+1, 10)
	if err != nil || len(page) != 1 || page[0].Seq != before[3].Seq {
		t.Errorf("Events(%d) after prune = %+v, %v", before[2].Seq+1, page, err)
	}
	if g := e.get("t1", a.ID); g.Status != gateway.StatusAccepted {
		t.Errorf("pruning events changed a message: %s", g.Status)
	}
	if n, err := e.s.PruneEvents(t.Context(), cut); err != nil || n != 0 {
		t.Errorf("second PruneEvents = %d, %v; want 0", n, err)
	}

	// Everything pruned: seqs still grow, across a restart too, and a
	// consumer may still ack what it read before the prune.
	if n, err := e.s.PruneEvents(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("PruneEvents of all = %d, %v; want 2", n, err)
	}
	if evs := e.events(""); len(evs) != 0 {
		t.Fatalf("after pruning all: %+v", evs)
	}
	if err := e.s.AckEvents(t.Context(), "t1", "a", before[3].Seq); err != nil {
		t.Errorf("ack of a pruned seq: %v", err)
	}
	e.accept(msg("t1", "", 1))
	evs := e.events("")
	if len(evs) != 1 || evs[0].Seq <= before[3].Seq {
		t.Fatalf("after pruning all, new events %+v, want seq above %d", evs, before[3].Seq)
	}
	e.reopen()
	e.accept(msg("t1", "", 1))
	evs2 := e.events("")
	if len(evs2) != 2 || evs2[1].Seq <= evs[0].Seq {
		t.Errorf("after reopen events %+v, want a seq above %d", evs2, evs[0].Seq)
	}
}

// An inbound message can be read back by its tenant (to reply to it), and a
// reply's pinned carrier is stored with the message.
func testGetInboundAndPinnedCarrier(t *testing.T, e *env) {
	in := &gateway.Inbound{Tenant: "t1", Carrier: "safaricom", From: "+254700000002", To: "22333", Text: "BAL",
		ReceivedAt: time.Now().Truncate(time.Millisecond)}
	if _, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{in}); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.GetInbound(t.Context(), "t1", in.ID)
	if err != nil || got.Carrier != "safaricom" || got.From != in.From || got.To != "22333" || got.Text != "BAL" || !got.ReceivedAt.Equal(in.ReceivedAt) {
		t.Fatalf("GetInbound = %+v, %v", got, err)
	}
	if _, err := e.s.GetInbound(t.Context(), "t2", in.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("another tenant read the inbound message: %v", err)
	}
	if _, err := e.s.GetInbound(t.Context(), "t1", "01900000-0000-7000-8000-00000000dead"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("unknown inbound id: %v", err)
	}
	m := msg("t1", "", 1)
	m.PinnedCarrier = "safaricom"
	e.accept(m)
	if g := e.get("t1", m.ID); g.PinnedCarrier != "safaricom" {
		t.Errorf("pinned carrier %q after Get", g.PinnedCarrier)
	}
	if c := e.claim(time.Now(), 1); len(c) != 1 || c[0].PinnedCarrier != "safaricom" {
		t.Errorf("claimed %+v, want the pinned carrier", c)
	}
}

func testCategoryMetaAndByClientRef(t *testing.T, e *env) {
	m := msg("t1", "fineract:42", 2)
	m.Category = gateway.CategoryTransactional
	m.Meta = map[string]string{"dlr-url": "http://127.0.0.1/dlr?s=%d", "dlr-mask": "31"}
	e.accept(m, msg("t1", "", 1))
	got, err := e.s.GetByClientRef(t.Context(), "t1", "fineract:42")
	if err != nil {
		t.Fatalf("GetByClientRef: %v", err)
	}
	if got.ID != m.ID || got.Category != gateway.CategoryTransactional || len(got.Parts) != 2 ||
		got.Meta["dlr-url"] != m.Meta["dlr-url"] || got.Meta["dlr-mask"] != "31" || len(got.Meta) != 2 {
		t.Errorf("GetByClientRef = %+v, want the stored message with its category and meta", got)
	}
	for _, c := range []struct{ tenant, ref string }{{"t2", "fineract:42"}, {"t1", "fineract:43"}} {
		if _, err := e.s.GetByClientRef(t.Context(), c.tenant, c.ref); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("GetByClientRef(%s, %s) = %v, want ErrNotFound", c.tenant, c.ref, err)
		}
	}
	if plain := e.get("t1", m.ID); plain.Meta["dlr-mask"] != "31" {
		t.Errorf("Get lost the meta: %+v", plain.Meta)
	}
}

func testOptedOutStoredFinal(t *testing.T, e *env) {
	storedFinal(t, e, gateway.StatusOptedOut, "recipient opted out")
}

// testUnroutableStoredFailed: a message no route covers is accepted FAILED
// (the engine decides), final like an opted-out one.
func testUnroutableStoredFailed(t *testing.T, e *env) {
	storedFinal(t, e, gateway.StatusFailed, "no route for +254700000001")
}

// testFraudRefusedStoredRejected: a message the tenant's fraud controls
// refused is accepted REJECTED with the reason, final like an opted-out one.
func testFraudRefusedStoredRejected(t *testing.T, e *env) {
	storedFinal(t, e, gateway.StatusRejected, "refused by the tenant's fraud controls: +881… is a high-risk range")
}

// storedFinal accepts a message given a final status beside an ordinary
// one: it is stored with that status, its reason and one event, and is
// never claimed nor counted in the backlog.
func storedFinal(t *testing.T, e *env, st gateway.Status, reason string) {
	m := msg("t1", "", 1)
	m.Status = st
	m.LastError = reason
	ok := msg("t1", "", 1)
	e.accept(m, ok)
	g := e.get("t1", m.ID)
	if g.Status != st || g.LastError != reason || g.Parts[0].Status != st {
		t.Errorf("%s message stored as %s %q (part %s)", st, g.Status, g.LastError, g.Parts[0].Status)
	}
	claimed := e.claim(time.Now().Add(time.Minute), 10)
	if len(claimed) != 1 || claimed[0].ID != ok.ID {
		t.Errorf("claimed %v, want only %s", ids(claimed), ok.ID)
	}
	if got := statuses(e.events("t1"), m.ID); !slices.Equal(got, []gateway.Status{st}) {
		t.Errorf("events of the %s message: %v", st, got)
	}
	if n, err := e.s.Backlog(t.Context()); err != nil || n != 1 {
		t.Errorf("Backlog = %d, %v; want 1 (the final message is not queued)", n, err)
	}
	submitAll(e, ok, "c1", "B")
	if n, err := e.s.Backlog(t.Context()); err != nil || n != 0 {
		t.Errorf("Backlog after submitting = %d, %v; want 0", n, err)
	}
}

func testOptOutList(t *testing.T, e *env) {
	ctx := t.Context()
	a, b := "+254700000001", "+254700000002"
	for _, n := range []string{a, b} {
		if err := e.s.SetOptOut(ctx, "t1", n, true, "STOP"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.SetOptOut(ctx, "t1", a, true, "UNSUBSCRIBE"); err != nil {
		t.Fatalf("opting out twice: %v", err)
	}
	if err := e.s.SetOptOut(ctx, "t1", b, false, "START"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetOptOut(ctx, "t1", "+254700000009", false, "START"); err != nil {
		t.Fatalf("opting in a number never out: %v", err)
	}
	e.reopen()
	got, err := e.s.OptedOut(ctx, "t1", []string{a, b, "+254700000003"})
	if err != nil {
		t.Fatal(err)
	}
	if !got[a] || got[b] || len(got) != 1 {
		t.Errorf("OptedOut = %v, want only %s", got, a)
	}
	if other, err := e.s.OptedOut(ctx, "t2", []string{a}); err != nil || len(other) != 0 {
		t.Errorf("another tenant's list: %v, %v", other, err)
	}
	many := make([]string, 1200)
	for i := range many {
		many[i] = fmt.Sprintf("+2547%08d", i)
	}
	many[1100] = a
	if got, err := e.s.OptedOut(ctx, "t1", many); err != nil || !got[a] || len(got) != 1 {
		t.Errorf("OptedOut over 1,200 numbers = %v, %v", got, err)
	}
}

// ListOptOuts lists a tenant's numbers, the latest first, with the word
// each used; an opt-in takes a number off.
func testListOptOuts(t *testing.T, e *env) {
	ctx := t.Context()
	for i, n := range []string{"+254700000001", "+254700000002", "+254700000003"} {
		if err := e.s.SetOptOut(ctx, "t1", n, true, fmt.Sprintf("STOP%d", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // distinct opt-out times, whatever the clock's grain
	}
	if err := e.s.SetOptOut(ctx, "t1", "+254700000002", false, "START"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetOptOut(ctx, "t2", "+254700000009", true, "STOP"); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	got, err := e.s.ListOptOuts(ctx, "t1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Number != "+254700000003" || got[0].Keyword != "STOP2" || got[1].Number != "+254700000001" || got[0].At.Before(got[1].At) || got[1].At.IsZero() {
		t.Fatalf("ListOptOuts = %+v", got)
	}
	if one, err := e.s.ListOptOuts(ctx, "t1", 1); err != nil || len(one) != 1 || one[0].Number != "+254700000003" {
		t.Errorf("ListOptOuts limit 1 = %+v, %v", one, err)
	}
	if none, err := e.s.ListOptOuts(ctx, "t3", 0); err != nil || len(none) != 0 {
		t.Errorf("a tenant without opt-outs: %+v, %v", none, err)
	}
}

// The audit trail keeps entries across a reopen, newest first, and lists
// one tenant's users' entries alone.
func testAuditTrail(t *testing.T, e *env) {
	ctx := t.Context()
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	entries := []gateway.AuditEntry{
		{At: at, User: "noc", Role: "operator", Source: "10.0.0.1", Action: "pause-carrier", Target: "c1", Outcome: "done"},
		{At: at.Add(time.Second), User: "mfi", Role: "operator", Tenant: "t1", Source: "10.0.0.2", Action: "opt-out", Target: "t1 +2547*****001", Outcome: "done"},
		{User: "noc", Role: "operator", Source: "10.0.0.1", Action: "resume-carrier", Target: "c1", Outcome: "failed: no carrier"},
	}
	for _, en := range entries {
		if err := e.s.RecordAudit(ctx, en); err != nil {
			t.Fatal(err)
		}
	}
	e.reopen()
	all, err := e.s.ListAudit(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Action != "resume-carrier" || all[0].At.IsZero() || all[2] != entries[0] {
		t.Fatalf("ListAudit = %+v", all)
	}
	if got := all[1]; got != entries[1] {
		t.Errorf("entry read back as %+v, want %+v", got, entries[1])
	}
	if t1, err := e.s.ListAudit(ctx, "t1", 0); err != nil || len(t1) != 1 || t1[0].User != "mfi" {
		t.Errorf("ListAudit t1 = %+v, %v", t1, err)
	}
	if two, err := e.s.ListAudit(ctx, "", 2); err != nil || len(two) != 2 {
		t.Errorf("ListAudit limit 2 = %d entries, %v", len(two), err)
	}
}

// Each audit entry is also an event, in commit order with the others,
// under its user's tenant, carrying the entry (its detail empty); both
// event reads decode it, and a tenant's read leaves out the other tenants'
// and the gateway-wide users' entries.
func testAuditEvents(t *testing.T, e *env) {
	ctx := t.Context()
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	mfi := gateway.AuditEntry{At: at, User: "mfi", Role: "operator", Tenant: "t1", Source: "10.0.0.2",
		Action: "opt-out", Target: "t1 +2547*****001", Outcome: "done"}
	noc := gateway.AuditEntry{At: at.Add(time.Second), User: "noc", Role: "operator", Source: "10.0.0.1",
		Action: "pause-carrier", Target: "c1", Outcome: "done"}
	other := gateway.AuditEntry{At: at.Add(2 * time.Second), User: "b", Role: "viewer", Tenant: "t2", Source: "10.0.0.3",
		Action: "sign-in", Outcome: "done"}
	first := e.accept(msg("t1", "a", 1))[0].ID
	for _, en := range []gateway.AuditEntry{mfi, noc, other} {
		if err := e.s.RecordAudit(ctx, en); err != nil {
			t.Fatal(err)
		}
	}
	second := e.accept(msg("t1", "b", 1))[0].ID
	fresh := e.events("") // perhaps from a store's memory of its newest events
	e.reopen()
	type seen struct {
		kind   gateway.EventKind
		tenant string
		what   string
	}
	describe := func(evs []gateway.Event) []seen {
		var out []seen
		for _, ev := range evs {
			s := seen{ev.Kind, ev.Tenant, ev.MessageID}
			if ev.Audit != nil {
				s.what = ev.Audit.User + " " + ev.Audit.Action
			}
			out = append(out, s)
		}
		return out
	}
	all := e.events("")
	want := []seen{{gateway.EventStatus, "t1", first}, {gateway.EventAudit, "t1", "mfi opt-out"}, {gateway.EventAudit, "", "noc pause-carrier"},
		{gateway.EventAudit, "t2", "b sign-in"}, {gateway.EventStatus, "t1", second}}
	if got := describe(all); !slices.Equal(got, want) {
		t.Fatalf("events = %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(fresh, all) {
		t.Errorf("events before a reopen %+v, after %+v", fresh, all)
	}
	if got := *all[1].Audit; got != mfi {
		t.Errorf("audit event's entry = %+v, want %+v", got, mfi)
	}
	if all[1].Detail != "" || all[1].Message != nil || all[1].Inbound != nil || all[1].Time.IsZero() {
		t.Errorf("audit event = %+v: want no detail, message or inbound, and a time", all[1])
	}
	if got := describe(e.events("t1")); !slices.Equal(got, []seen{want[0], want[1], want[4]}) {
		t.Errorf("t1's events = %+v", got)
	}
	withMsgs, err := e.s.EventsWithMessages(ctx, "", all[0].Seq, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(withMsgs); !slices.Equal(got, want) {
		t.Fatalf("events with messages = %+v, want %+v", got, want)
	}
	if got := *withMsgs[2].Audit; got != noc || withMsgs[2].Message != nil {
		t.Errorf("gateway-wide audit event with messages = %+v, %+v", got, withMsgs[2].Message)
	}
	if withMsgs[0].Message == nil || withMsgs[0].Audit != nil {
		t.Errorf("status event with messages = %+v", withMsgs[0])
	}
}

// Stored API keys keep their digest and who made them across a reopen,
// list per tenant newest first, and a revoke takes once.
func testAPIKeys(t *testing.T, e *env) {
	ctx := t.Context()
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) // before now: the key made without a time is the newest
	k1 := gateway.APIKey{Prefix: "smsgw_aaaa", Tenant: "t1", Label: "loans", Hash: sha256.Sum256([]byte("k1")), CreatedAt: at, CreatedBy: "noc"}
	k2 := gateway.APIKey{Prefix: "smsgw_bbbb", Tenant: "t1", Label: "savings", Hash: sha256.Sum256([]byte("k2")), CreatedAt: at.Add(time.Second), CreatedBy: "mfi"}
	k3 := gateway.APIKey{Prefix: "smsgw_cccc", Tenant: "t2", Label: "", Hash: sha256.Sum256([]byte("k3")), CreatedBy: "noc",
		ExpiresAt: time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)}
	for _, k := range []gateway.APIKey{k1, k2, k3} {
		if err := e.s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.CreateAPIKey(ctx, gateway.APIKey{Prefix: "smsgw_aaaa", Tenant: "t2", Hash: sha256.Sum256([]byte("k4"))}); err == nil {
		t.Error("a second key with a prefix in use was stored")
	}
	e.reopen()
	t1, err := e.s.ListAPIKeys(ctx, "t1")
	if err != nil || len(t1) != 2 || t1[0] != k2 || t1[1] != k1 {
		t.Fatalf("ListAPIKeys t1 = %+v, %v; want %+v, %+v", t1, err, k2, k1)
	}
	if err := e.s.RevokeAPIKey(ctx, "t2", "smsgw_aaaa", "noc"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("revoking another tenant's key: %v, want ErrNotFound", err)
	}
	if err := e.s.RevokeAPIKey(ctx, "t1", "smsgw_aaaa", "mfi"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RevokeAPIKey(ctx, "t1", "smsgw_aaaa", "mfi"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("revoking twice: %v, want ErrNotFound", err)
	}
	all, err := e.s.ListAPIKeys(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("ListAPIKeys all = %+v, %v", all, err)
	}
	for _, k := range all {
		switch k.Prefix {
		case "smsgw_aaaa":
			if !k.Revoked() || k.RevokedBy != "mfi" || k.Hash != k1.Hash {
				t.Errorf("revoked key read back as %+v", k)
			}
		case "smsgw_cccc":
			if k.Revoked() || k.CreatedAt.IsZero() || k.Tenant != "t2" || k.Hash != k3.Hash || !k.ExpiresAt.Equal(k3.ExpiresAt) {
				t.Errorf("key without a time read back as %+v", k)
			}
		}
	}
	if all[0].Prefix != "smsgw_cccc" {
		t.Errorf("newest first: got %s first", all[0].Prefix)
	}
}

func testInboundKeywordAndTasks(t *testing.T, e *env) {
	mk := func(ref string) *gateway.Inbound {
		return &gateway.Inbound{Tenant: "t1", Carrier: "c1", CarrierRef: ref, From: "+254700000002", To: "22333",
			Text: "bal", Keyword: "BAL", Tasks: []gateway.Task{{Key: "mo:c1:" + ref, Kind: "reply", Tenant: "t1", Payload: []byte(ref)}}}
	}
	first := mk("r1")
	if n, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{first, mk("r2")}); err != nil || n != 2 {
		t.Fatalf("RecordInbound = %d, %v", n, err)
	}
	// The carrier resends r1: neither the message nor its task again.
	if n, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{mk("r1")}); err != nil || n != 0 {
		t.Fatalf("resend: %d, %v", n, err)
	}
	in, err := e.s.GetInbound(t.Context(), "t1", first.ID)
	if err != nil || in.Keyword != "BAL" {
		t.Fatalf("GetInbound = %+v, %v; want keyword BAL", in, err)
	}
	if evs := e.events("t1"); len(evs) != 2 || evs[0].Inbound == nil || evs[0].Inbound.Keyword != "BAL" {
		t.Errorf("inbound events %+v", evs)
	}
	e.reopen()
	tasks, err := e.s.ClaimTasks(t.Context(), time.Now(), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || tasks[0].Key != "mo:c1:r1" || string(tasks[0].Payload) != "r1" || tasks[0].Kind != "reply" ||
		tasks[0].Tenant != "t1" || tasks[1].Key != "mo:c1:r2" {
		t.Errorf("tasks after RecordInbound: %+v", tasks)
	}
}

func testTaskOutbox(t *testing.T, e *env) {
	ctx := t.Context()
	now := time.Now()
	tasks := []gateway.Task{
		{Key: "a", Kind: "webhook", Tenant: "t1", Payload: []byte(`{"n":1}`)},
		{Key: "b", Kind: "webhook", Tenant: "t1", NotBefore: now.Add(time.Hour)},
		{Key: "a", Kind: "webhook", Tenant: "t1"},
	}
	if n, err := e.s.EnqueueTasks(ctx, tasks); err != nil || n != 2 {
		t.Fatalf("EnqueueTasks = %d, %v; want 2 (one key twice)", n, err)
	}
	if _, err := e.s.EnqueueTasks(ctx, []gateway.Task{{Key: "", Kind: "x"}}); err == nil {
		t.Error("a task without a key was accepted")
	}
	got, err := e.s.ClaimTasks(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].Key != "a" || string(got[0].Payload) != `{"n":1}` || got[0].Attempts != 0 {
		t.Fatalf("ClaimTasks = %+v, %v; want a", got, err)
	}
	if !got[0].LeaseUntil.After(now) {
		t.Errorf("lease until %v", got[0].LeaseUntil)
	}
	if again, _ := e.s.ClaimTasks(ctx, now.Add(time.Second), 10, time.Minute); len(again) != 0 {
		t.Errorf("a leased task was claimed again: %+v", again)
	}
	if err := e.s.FinishTasks(ctx, []gateway.TaskOutcome{{Task: got[0], RetryAt: now.Add(10 * time.Second), LastErr: "HTTP 503"}}); err != nil {
		t.Fatal(err)
	}
	if early, _ := e.s.ClaimTasks(ctx, now.Add(5*time.Second), 10, time.Minute); len(early) != 0 {
		t.Errorf("a task retried at +10s was claimed at +5s: %+v", early)
	}
	e.reopen()
	retry, err := e.s.ClaimTasks(ctx, now.Add(11*time.Second), 10, time.Minute)
	if err != nil || len(retry) != 1 || retry[0].Attempts != 1 || retry[0].LastError != "HTTP 503" {
		t.Fatalf("retry claim = %+v, %v; want a with 1 attempt and its error", retry, err)
	}
	// A lapsed lease makes the task due again (its runner died).
	lapsed, err := e.s.ClaimTasks(ctx, now.Add(2*time.Minute), 10, time.Minute)
	if err != nil || len(lapsed) != 1 || lapsed[0].Key != "a" {
		t.Fatalf("after the lease lapsed: %+v, %v", lapsed, err)
	}
	// The runner whose lease lapsed cannot end the task its successor holds.
	if err := e.s.FinishTasks(ctx, []gateway.TaskOutcome{{Task: retry[0], Done: true, LastErr: "late"}}); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.s.ClaimTasks(ctx, now.Add(2*time.Minute+time.Second), 10, time.Minute); len(again) != 0 {
		t.Errorf("the successor's lease was broken: %+v", again)
	}
	if err := e.s.FinishTasks(ctx, []gateway.TaskOutcome{{Task: lapsed[0], Done: true}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.s.EnqueueTasks(ctx, []gateway.Task{{Key: "a", Kind: "webhook"}}); n != 0 {
		t.Error("a done task's key was enqueued again")
	}
	late, _ := e.s.ClaimTasks(ctx, now.Add(2*time.Hour), 10, time.Minute)
	if len(late) != 1 || late[0].Key != "b" {
		t.Errorf("claims after done: %+v, want only b", late)
	}
	if n, err := e.s.PruneTasks(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("PruneTasks = %d, %v; want the one done task", n, err)
	}
	if n, _ := e.s.EnqueueTasks(ctx, []gateway.Task{{Key: "a", Kind: "webhook"}}); n != 1 {
		t.Error("a pruned task's key was not enqueued again")
	}
}

// Tasks enqueued leased: the first due new ones up to the claim are
// leased in the enqueue and returned to run, and no claim returns them
// while the lease holds; the rest are due as EnqueueTasks leaves them. A
// leased task is finished with its lease as a claimed one, and one whose
// runner died (its lease lapsed, across a restart) is claimed again.
func testTasksEnqueuedLeased(t *testing.T, e *env) {
	ctx := t.Context()
	now := time.Now()
	if _, err := e.s.EnqueueTasks(ctx, []gateway.Task{{Key: "old", Kind: "webhook"}}); err != nil {
		t.Fatal(err)
	}
	if old, err := e.s.ClaimTasks(ctx, now, 10, time.Minute); err != nil || len(old) != 1 {
		t.Fatalf("ClaimTasks = %+v, %v; want old", old, err)
	}
	tasks := []gateway.Task{
		{Key: "later", Kind: "webhook", Tenant: "t1", NotBefore: now.Add(time.Hour)},
		{Key: "a", Kind: "webhook", Tenant: "t1", Payload: []byte(`{"n":1}`)},
		{Key: "b", Kind: "webhook", Tenant: "t2"},
		{Key: "c", Kind: "webhook", Tenant: "t1"},
	}
	leased, added, err := e.s.EnqueueLeasedTasks(ctx, tasks, now, 2, time.Minute)
	if err != nil || added != 4 || len(leased) != 2 {
		t.Fatalf("EnqueueLeasedTasks = %+v, %d, %v; want a and b leased of 4 new", leased, added, err)
	}
	a, b := leased[0], leased[1]
	if a.Key != "a" || b.Key != "b" || a.ID == 0 || b.ID == 0 || a.ID == b.ID ||
		string(a.Payload) != `{"n":1}` || b.Tenant != "t2" || a.Kind != "webhook" || a.Attempts != 0 {
		t.Fatalf("leased = %+v; want a then b, with ids and their fields", leased)
	}
	if want := now.Add(time.Minute); !a.LeaseUntil.Equal(want) || !b.LeaseUntil.Equal(want) {
		t.Errorf("leases until %v and %v; want %v", a.LeaseUntil, b.LeaseUntil, want)
	}
	if got, err := e.s.ClaimTasks(ctx, now.Add(time.Second), 10, time.Minute); err != nil || len(got) != 1 || got[0].Key != "c" {
		t.Fatalf("ClaimTasks = %+v, %v; want only c (a and b leased, later not due)", got, err)
	}
	// A known key is skipped, never leased; a claim of 0 leases nothing.
	again, added, err := e.s.EnqueueLeasedTasks(ctx, []gateway.Task{{Key: "a", Kind: "webhook"}, {Key: "d", Kind: "webhook"}}, now, 5, time.Minute)
	if err != nil || added != 1 || len(again) != 1 || again[0].Key != "d" {
		t.Fatalf("EnqueueLeasedTasks again = %+v, %d, %v; want d new and leased, a skipped", again, added, err)
	}
	none, added, err := e.s.EnqueueLeasedTasks(ctx, []gateway.Task{{Key: "e", Kind: "webhook"}}, now, 0, time.Minute)
	if err != nil || added != 1 || len(none) != 0 {
		t.Fatalf("EnqueueLeasedTasks with claim 0 = %+v, %d, %v; want e new, not leased", none, added, err)
	}
	if _, _, err := e.s.EnqueueLeasedTasks(ctx, []gateway.Task{{Key: "", Kind: "x"}}, now, 1, time.Minute); err == nil {
		t.Error("a task without a key was accepted")
	}
	due, err := e.s.ClaimTasks(ctx, now.Add(2*time.Second), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].Key != "e" {
		t.Errorf("ClaimTasks = %+v; want only e", due)
	}
	// a's runner finishes it with the lease the enqueue returned; b's
	// runner dies: its lease lapses and b runs again, after a restart too.
	if err := e.s.FinishTasks(ctx, []gateway.TaskOutcome{{Task: a, Done: true}}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	lapsed, err := e.s.ClaimTasks(ctx, now.Add(2*time.Minute), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range lapsed {
		keys = append(keys, l.Key)
	}
	if !slices.Contains(keys, "b") || slices.Contains(keys, "a") || slices.Contains(keys, "later") {
		t.Fatalf("claimed after b's lease lapsed: %v; want b (and the tasks claimed above), not a (done) or later", keys)
	}
	if n, _ := e.s.EnqueueTasks(ctx, []gateway.Task{{Key: "a", Kind: "webhook"}}); n != 0 {
		t.Error("the key of a task done after a leased enqueue was enqueued again")
	}
}

// The tasks whose last run failed are listed, retrying or given up,
// An operator retries a failing task now (its failed runs kept, a given-up
// one running again) or drops one still retrying (given up, saying by
// whom); another tenant's task, a task that has not failed, one running
// now and a drop of a given-up one are refused.
func testFailingTaskActions(t *testing.T, e *env) {
	ctx := t.Context()
	now := time.Now()
	if _, err := e.s.EnqueueTasks(ctx, []gateway.Task{
		{Key: "fa", Kind: "webhook", Tenant: "t1"}, {Key: "fb", Kind: "reply", Tenant: "t1"},
		{Key: "fc", Kind: "webhook", Tenant: "t2"}, {Key: "fd", Kind: "webhook", Tenant: "t1"},
	}); err != nil {
		t.Fatal(err)
	}
	claimed, err := e.s.ClaimTasks(ctx, now, 10, time.Minute)
	if err != nil || len(claimed) != 4 {
		t.Fatalf("ClaimTasks = %+v, %v", claimed, err)
	}
	task := map[string]gateway.Task{}
	for _, tk := range claimed {
		task[tk.Key] = tk
	}
	later := now.Add(time.Hour)
	for key, f := range map[string]struct {
		done    bool
		lastErr string
	}{"fa": {false, "HTTP 503"}, "fb": {true, "gave up: HTTP 410"}, "fc": {false, "HTTP 500"}, "fd": {true, ""}} {
		if err := e.s.FinishTasks(ctx, []gateway.TaskOutcome{{Task: task[key], Done: f.done, RetryAt: later, LastErr: f.lastErr}}); err != nil {
			t.Fatal(err)
		}
	}
	failing := func(key string) gateway.FailingTask {
		t.Helper()
		all, err := e.s.ListFailingTasks(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range all {
			if f.Key == key {
				return f
			}
		}
		t.Fatalf("%s is not among the failing tasks %+v", key, all)
		return gateway.FailingTask{}
	}
	fa, fb := task["fa"].ID, task["fb"].ID
	for _, c := range []struct {
		name     string
		err      error
		notFound bool
	}{
		{"retry of another tenant's", e.s.RetryTaskNow(ctx, "t2", fa), true},
		{"drop of another tenant's", e.s.DropTask(ctx, "t2", fa, "x"), true},
		{"retry of no task", e.s.RetryTaskNow(ctx, "t1", 1<<40), true},
		{"retry of one that has not failed", e.s.RetryTaskNow(ctx, "t1", task["fd"].ID), false},
		{"drop of one given up", e.s.DropTask(ctx, "t1", fb, "x"), false},
	} {
		if c.err == nil || errors.Is(c.err, gateway.ErrNotFound) != c.notFound {
			t.Errorf("%s: %v (want an error, not found: %v)", c.name, c.err, c.notFound)
		}
	}
	if f := failing("fa"); f.NextRun.Before(later) || f.Attempts != 1 {
		t.Fatalf("fa changed by refused actions: %+v", f)
	}

	if err := e.s.RetryTaskNow(ctx, "t1", fa); err != nil {
		t.Fatal(err)
	}
	if f := failing("fa"); f.NextRun.After(time.Now()) || f.Attempts != 1 || f.LastError != "HTTP 503" || !f.GaveUpAt.IsZero() {
		t.Errorf("fa after retry now: %+v; want due now, 1 failed run kept", f)
	}
	again, err := e.s.ClaimTasks(ctx, time.Now(), 10, time.Minute)
	if err != nil || len(again) != 1 || again[0].ID != fa || again[0].Attempts != 1 {
		t.Fatalf("claim after retry now = %+v, %v; want fa alone with its attempt", again, err)
	}
	if err := e.s.RetryTaskNow(ctx, "t1", fa); err == nil {
		t.Error("retry of a task running now was taken")
	}
	if err := e.s.DropTask(ctx, "t1", fa, "x"); err == nil {
		t.Error("drop of a task running now was taken")
	}
	if err := e.s.FinishTasks(ctx, []gateway.TaskOutcome{{Task: again[0], RetryAt: later, LastErr: "HTTP 503 again"}}); err != nil {
		t.Fatal(err)
	}

	if err := e.s.DropTask(ctx, "", fa, "console user anna"); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if f := failing("fa"); f.GaveUpAt.IsZero() || !f.NextRun.IsZero() || f.Attempts != 2 ||
		f.LastError != "given up by console user anna (last error: HTTP 503 again)" {
		t.Errorf("fa after drop: %+v; want given up by anna after 2 failed runs", f)
	}
	if err := e.s.RetryTaskNow(ctx, "t1", fb); err != nil {
		t.Fatal(err)
	}
	if f := failing("fb"); !f.GaveUpAt.IsZero() || f.NextRun.After(time.Now()) || f.Attempts != 1 {
		t.Errorf("fb (given up) after retry now: %+v; want due now, 1 failed run", f)
	}
	due, err := e.s.ClaimTasks(ctx, time.Now(), 10, time.Minute)
	if err != nil || len(due) != 1 || due[0].ID != fb || due[0].Attempts != 1 {
		t.Errorf("claim = %+v, %v; want fb alone (fa dropped, fc not due)", due, err)
	}
}

// newest first, per tenant; one that then succeeds leaves the list.
func testFailingTasks(t *testing.T, e *env) {
	ctx := t.Context()
	now := time.Now()
	if _, err := e.s.EnqueueTasks(ctx, []gateway.Task{
		{Key: "fa", Kind: "webhook", Tenant: "t1", Payload: []byte("secret body")},
		{Key: "fb", Kind: "reply", Tenant: "t1"},
		{Key: "fc", Kind: "webhook", Tenant: "t2"},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.ClaimTasks(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 3 {
		t.Fatalf("ClaimTasks = %+v, %v", got, err)
	}
	byKey := map[string]gateway.Task{}
	for _, tk := range got {
		byKey[tk.Key] = tk
	}
	retryAt := now.Add(10 * time.Second)
	// One batch: retried, given up, succeeded.
	if err := e.s.FinishTasks(ctx, []gateway.TaskOutcome{
		{Task: byKey["fa"], RetryAt: retryAt, LastErr: "HTTP 503"},
		{Task: byKey["fb"], Done: true, LastErr: "gave up: HTTP 410"},
		{Task: byKey["fc"], Done: true},
	}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	all, err := e.s.ListFailingTasks(ctx, "", 0)
	if err != nil || len(all) != 2 || all[0].Key != "fb" || all[1].Key != "fa" {
		t.Fatalf("ListFailingTasks = %+v, %v; want fb, fa", all, err)
	}
	fb, fa := all[0], all[1]
	if fb.GaveUpAt.IsZero() || !fb.NextRun.IsZero() || fb.LastError != "gave up: HTTP 410" || fb.Attempts != 1 || fb.Kind != "reply" || fb.Tenant != "t1" {
		t.Errorf("a task given up read back as %+v", fb)
	}
	if !fa.GaveUpAt.IsZero() || fa.NextRun.UnixNano() != retryAt.UnixNano() || fa.Attempts != 1 || fa.LastError != "HTTP 503" || fa.CreatedAt.IsZero() {
		t.Errorf("a task retrying read back as %+v", fa)
	}
	if t2, err := e.s.ListFailingTasks(ctx, "t2", 0); err != nil || len(t2) != 0 {
		t.Errorf("t2's failing tasks = %+v, %v; want none", t2, err)
	}
	if one, err := e.s.ListFailingTasks(ctx, "t1", 1); err != nil || len(one) != 1 {
		t.Errorf("limit 1 = %+v, %v", one, err)
	}
	retry, err := e.s.ClaimTasks(ctx, retryAt.Add(time.Second), 10, time.Minute)
	if err != nil || len(retry) != 1 {
		t.Fatalf("retry claim = %+v, %v", retry, err)
	}
	if err := e.s.FinishTasks(ctx, []gateway.TaskOutcome{{Task: retry[0], Done: true}}); err != nil {
		t.Fatal(err)
	}
	if left, err := e.s.ListFailingTasks(ctx, "t1", 0); err != nil || len(left) != 1 || left[0].Key != "fb" {
		t.Errorf("after fa succeeded: %+v, %v; want fb alone", left, err)
	}
}

func testTaskClaimsDisjoint(t *testing.T, e *env) {
	ctx := t.Context()
	var tasks []gateway.Task
	for i := range 200 {
		tasks = append(tasks, gateway.Task{Key: fmt.Sprint("k", i), Kind: "webhook"})
	}
	if _, err := e.s.EnqueueTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = make(map[int64]int)
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				got, err := e.s.ClaimTasks(ctx, time.Now(), 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, tk := range got {
					seen[tk.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Errorf("claimed %d distinct tasks, want 200", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("task %d claimed %d times", id, n)
		}
	}
}

// missing notes refs as looked for in vain and returns since when each is
// missing; it fails the test on an error.
func (e *env) missing(tenant string, refs []string, now time.Time) map[string]time.Time {
	e.t.Helper()
	got, err := e.s.NoteMissing(e.t.Context(), tenant, notes(refs), now)
	if err != nil {
		e.t.Fatalf("NoteMissing(%s, %d refs): %v", tenant, len(refs), err)
	}
	return since(got)
}

// notes are refs looked for in vain (no reason).
func notes(refs []string) map[string]string {
	n := make(map[string]string, len(refs))
	for _, r := range refs {
		n[r] = ""
	}
	return n
}

func since(m map[string]gateway.Missing) map[string]time.Time {
	out := make(map[string]time.Time, len(m))
	for ref, x := range m {
		out[ref] = x.Since
	}
	return out
}

// sameTimes reports whether got holds exactly want's refs, each with the
// same instant. Both stores keep these times as UTC unix nanoseconds, like
// every other time column, so they come back exactly: compared with Equal
// at nanosecond precision, not merely near.
func sameTimes(got, want map[string]time.Time) bool {
	if len(got) != len(want) {
		return false
	}
	for ref, w := range want {
		if g, ok := got[ref]; !ok || !g.Equal(w) {
			return false
		}
	}
	return true
}

// NoteMissing keeps the first time each (tenant, client ref) was looked
// for, across calls and restarts, until PruneMissing removes it.
func testNoteMissing(t *testing.T, e *env) {
	ctx := t.Context()
	// Sub-millisecond parts on purpose: see sameTimes.
	t0 := time.Date(2025, 5, 1, 8, 0, 0, 123456789, time.UTC)
	t1 := t0.Add(time.Minute + 7)
	t2 := t0.Add(time.Hour)

	if got := e.missing("t1", []string{"a", "b", "a"}, t0); !sameTimes(got, map[string]time.Time{"a": t0, "b": t0}) {
		t.Fatalf("first call = %v, want a and b at %v", got, t0)
	}
	if got := e.missing("t1", []string{"b", "c"}, t1); !sameTimes(got, map[string]time.Time{"b": t0, "c": t1}) {
		t.Fatalf("second call = %v, want b at %v (unchanged), c at %v", got, t0, t1)
	}
	// Tenants are separate: t2's "a" is its own record.
	if got := e.missing("t2", []string{"a"}, t1); !sameTimes(got, map[string]time.Time{"a": t1}) {
		t.Fatalf("t2 = %v, want a at %v", got, t1)
	}
	if got, err := e.s.NoteMissing(ctx, "t1", nil, t2); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no refs = %v, %v; want an empty map", got, err)
	}
	if _, err := e.s.NoteMissing(ctx, "", notes([]string{"a"}), t2); err == nil {
		t.Error("an empty tenant was accepted")
	}
	if _, err := e.s.NoteMissing(ctx, "t1", notes([]string{"d", ""}), t2); err == nil {
		t.Error("an empty client ref was accepted")
	}
	if _, err := e.s.NoteMissing(ctx, "t1", map[string]string{"d": "bad\x00reason"}, t2); err == nil {
		t.Error("a reason with NUL was accepted")
	}

	e.reopen()
	if got := e.missing("t1", []string{"c", "b", "a"}, t2); !sameTimes(got, map[string]time.Time{"a": t0, "b": t0, "c": t1}) {
		t.Fatalf("after reopen t1 = %v, want a, b at %v and c at %v", got, t0, t1)
	}
	if got := e.missing("t2", []string{"a"}, t2); !sameTimes(got, map[string]time.Time{"a": t1}) {
		t.Fatalf("after reopen t2 = %v, want a at %v", got, t1)
	}

	// Exactly the records first seen before t1 go: t1/a and t1/b (t1/c and
	// t2/a were first seen at t1, and the refused calls recorded nothing).
	if n, err := e.s.PruneMissing(ctx, t1); err != nil || n != 2 {
		t.Fatalf("PruneMissing(t1) = %d, %v; want 2", n, err)
	}
	if n, err := e.s.PruneMissing(ctx, t1); err != nil || n != 0 {
		t.Errorf("second PruneMissing(t1) = %d, %v; want 0", n, err)
	}
	// A pruned ref asked again is missing from the new now on.
	if got := e.missing("t1", []string{"a", "c"}, t2); !sameTimes(got, map[string]time.Time{"a": t2, "c": t1}) {
		t.Fatalf("after prune = %v, want a at %v (new), c at %v", got, t2, t1)
	}
	if got := e.missing("t2", []string{"a"}, t2); !sameTimes(got, map[string]time.Time{"a": t1}) {
		t.Errorf("pruning changed t2's record: %v", got)
	}
	if n, err := e.s.PruneMissing(ctx, t2.Add(1)); err != nil || n != 3 {
		t.Errorf("PruneMissing of all = %d, %v; want 3 (t1/a, t1/c, t2/a)", n, err)
	}
}

// A refused ref keeps its reason and its first time: a later poll (no
// reason) does not erase it, a later reason does not replace it, and a ref
// first polled then refused (its POST arrived after the poll) gains the
// reason and keeps the poll's time.
func testNoteMissingReasons(t *testing.T, e *env) {
	ctx := t.Context()
	t0 := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	note := func(n map[string]string, now time.Time) map[string]gateway.Missing {
		t.Helper()
		got, err := e.s.NoteMissing(ctx, "t1", n, now)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := note(map[string]string{"refused": "mobileNumber: \"12345\" is not a valid phone number", "polled": ""}, t0)
	if got["refused"].Reason == "" || got["polled"].Reason != "" {
		t.Fatalf("first notes = %+v", got)
	}
	got = note(map[string]string{"refused": "", "polled": "message: is empty"}, t1)
	want := map[string]gateway.Missing{
		"refused": {Since: t0, Reason: "mobileNumber: \"12345\" is not a valid phone number"},
		"polled":  {Since: t0, Reason: "message: is empty"},
	}
	for ref, w := range want {
		if g := got[ref]; !g.Since.Equal(w.Since) || g.Reason != w.Reason {
			t.Errorf("%s = %+v, want %+v", ref, g, w)
		}
	}
	e.reopen()
	got = note(map[string]string{"refused": "another reason", "polled": ""}, t1)
	for ref, w := range want {
		if g := got[ref]; !g.Since.Equal(w.Since) || g.Reason != w.Reason {
			t.Errorf("after reopen %s = %+v, want %+v", ref, g, w)
		}
	}
}

// A poll may ask about a few thousand ids in one call.
func testNoteMissingManyRefs(t *testing.T, e *env) {
	t0 := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	refs := make([]string, 5000)
	for i := range refs {
		refs[i] = fmt.Sprintf("fineract:%d", i)
	}
	e.missing("t1", refs[:2000], t0)
	got := e.missing("t1", refs, t1)
	if len(got) != len(refs) {
		t.Fatalf("%d times for %d refs", len(got), len(refs))
	}
	for i, ref := range refs {
		want := t1
		if i < 2000 {
			want = t0
		}
		if !got[ref].Equal(want) {
			t.Fatalf("%s at %v, want %v", ref, got[ref], want)
		}
	}
	if n, err := e.s.PruneMissing(t.Context(), t1); err != nil || n != 2000 {
		t.Errorf("PruneMissing = %d, %v; want 2000", n, err)
	}
}

// Callers asking about the same refs at once (nodes sharing a store) all
// read back one first time per ref.
func testNoteMissingConcurrent(t *testing.T, e *env) {
	base := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	refs := make([]string, 300)
	for i := range refs {
		refs[i] = fmt.Sprint("r", i)
	}
	const callers = 8
	results := make([]map[string]time.Time, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			got, err := e.s.NoteMissing(t.Context(), "t1", notes(refs), base.Add(time.Duration(c)*time.Second))
			if err != nil {
				t.Errorf("caller %d: %v", c, err)
				return
			}
			results[c] = since(got)
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for c, got := range results {
		if !sameTimes(got, results[0]) {
			t.Fatalf("caller %d read %d times unlike caller 0's %d (or other instants)", c, len(got), len(results[0]))
		}
	}
	again := e.missing("t1", refs, base.Add(time.Hour))
	if !sameTimes(again, results[0]) {
		t.Error("a later call read other times than the concurrent callers")
	}
}

// testReceiptIDReuse: a carrier that restarts its id counter reuses ids
// delivered before. A receipt applies only to a part that is not final and
// was submitted within its window, the most recent first; a receipt naming
// only final parts is stale, never applied; an alternative reading of the
// id (decimal for a hex submit id) finds the part the id itself does not.
func testReceiptIDReuse(t *testing.T, e *env) {
	now := time.Now()
	delivered, waiting, fresh := msg("t1", "", 1), msg("t1", "", 1), msg("t1", "", 1)
	e.accept(delivered, waiting, fresh)
	// Before the restart: "1001" delivered.
	submitOneID(e, delivered, "c1", "1001", now.Add(-2*time.Hour))
	if n := e.receipts(receipt("c1", "1001", gateway.StatusDelivered, "DELIVRD", "")); n != 1 {
		t.Fatalf("first use: matched %d", n)
	}
	// After it: the carrier answers in hex ("3e9" is 1001) and writes
	// receipts in decimal. The receipt's own id names only the delivered
	// part; its alternative reading names the waiting one.
	submitOneID(e, waiting, "c1", "3e9", now.Add(-time.Minute))
	r := receipt("c1", "1001", gateway.StatusUndelivered, "UNDELIV", "034")
	r.AltIDs = []string{"3e9"}
	if n := e.tally(r); n.Matched != 1 || n.Stale != 0 {
		t.Fatalf("receipt after the restart: %+v, want it matched through its alternative id", n)
	}
	if g := e.get("t1", delivered.ID); g.Status != gateway.StatusDelivered {
		t.Errorf("the delivered message became %s: a reused id mis-matched", g.Status)
	}
	if g := e.get("t1", waiting.ID); g.Status != gateway.StatusUndelivered {
		t.Errorf("the waiting message is %s, want UNDELIVERED", g.Status)
	}
	// The same receipt again names only final parts: held, not applied.
	if n := e.tally(r); n.Matched != 0 || n.Held != 1 {
		t.Errorf("receipt for final parts: %+v, want held", n)
	}
	if g := e.get("t1", waiting.ID); g.Status != gateway.StatusUndelivered || g.Parts[0].Error != "UNDELIV err:034" {
		t.Errorf("a stale receipt changed the message: %s %q", g.Status, g.Parts[0].Error)
	}

	// An older part still waiting wins over a newer final one with the id.
	older, newer := msg("t1", "", 1), msg("t1", "", 1)
	e.accept(older, newer)
	submitOneID(e, older, "c1", "Q", now.Add(-time.Hour))
	submitOneID(e, newer, "c1", "Q", now.Add(-time.Minute))
	e.receipts(receipt("c1", "Q", gateway.StatusDelivered, "DELIVRD", ""))
	if g := e.get("t1", newer.ID); g.Status != gateway.StatusDelivered {
		t.Fatalf("newer: %s, want the most recent submission to take the first receipt", g.Status)
	}
	e.receipts(receipt("c1", "Q", gateway.StatusExpired, "EXPIRED", ""))
	if g := e.get("t1", older.ID); g.Status != gateway.StatusExpired {
		t.Errorf("older: %s, want the receipt for the part still waiting", g.Status)
	}

	// A part submitted before the receipt's window is an older use of the
	// id: stale. A wider window (a carrier keeping messages longer) takes it.
	_ = fresh
	submitOneID(e, fresh, "c1", "W", now.Add(-8*24*time.Hour))
	late := receipt("c1", "W", gateway.StatusDelivered, "DELIVRD", "")
	if n := e.tally(late); n.Matched != 0 || n.Held != 1 {
		t.Errorf("receipt 8 days after its submission with the default window: %+v, want held", n)
	}
	late.Window = 10 * 24 * time.Hour
	if n := e.tally(late); n.Matched != 1 {
		t.Errorf("receipt within a 10-day window: %+v, want matched", n)
	}

	// A receipt for a reused id can overtake the submit_sm_resp of the new
	// part: held when it arrives (the old part is final), it is applied
	// when the new part's id is recorded moments later, and never counted
	// stale.
	first, raced := msg("t1", "", 1), msg("t1", "", 1)
	e.accept(first, raced)
	submitOneID(e, first, "c1", "2002", now.Add(-time.Hour))
	if n := e.receipts(receipt("c1", "2002", gateway.StatusUndelivered, "UNDELIV", "001")); n != 1 {
		t.Fatalf("first use of 2002: matched %d", n)
	}
	if n := e.tally(receipt("c1", "2002", gateway.StatusDelivered, "DELIVRD", "")); n.Held != 1 || n.Stale != 0 {
		t.Fatalf("receipt ahead of its reused id: %+v, want held", n)
	}
	submitOneID(e, raced, "c1", "2002", time.Now())
	if g := e.get("t1", raced.ID); g.Status != gateway.StatusDelivered {
		t.Errorf("the part recorded just after its receipt: %s, want DELIVERED", g.Status)
	}
	p := e.prune(gateway.ReceiptPrune{StaleBefore: time.Now().Add(time.Second), Keep: 100})
	if st := p.Stale["c1"]; slices.Contains(st.StaleIDs, "2002") || st.Stale != 2 {
		t.Errorf("prune after the race: %+v, want the 2 receipts held for final parts (1001, W), not the applied 2002", p)
	}
}

// testReceiptsPruned: receipts that match nothing are kept for a time and
// up to a count, then dropped: a later submission with a dropped id finds
// nothing to apply.
func testReceiptsPruned(t *testing.T, e *env) {
	for i := range 5 {
		if n := e.tally(receipt("c1", fmt.Sprintf("junk-%d", i), gateway.StatusDelivered, "DELIVRD", "")); n.Matched != 0 || n.Stale != 0 {
			t.Fatalf("junk receipt: %+v", n)
		}
	}
	if p := e.prune(gateway.ReceiptPrune{Before: time.Now().Add(-time.Hour), StaleBefore: time.Now().Add(time.Second), Keep: 3}); p.Dropped != 2 || len(p.Stale) != 0 {
		t.Fatalf("PruneReceipts keeping 3 of 5: %+v; want 2 dropped, none stale (they named nothing)", p)
	}
	// junk-0 was dropped (the oldest), junk-4 is kept.
	dropped, kept := msg("t1", "", 1), msg("t1", "", 1)
	e.accept(dropped, kept)
	submitOneID(e, dropped, "c1", "junk-0", time.Now())
	submitOneID(e, kept, "c1", "junk-4", time.Now())
	if g := e.get("t1", dropped.ID); g.Status != gateway.StatusSubmitted {
		t.Errorf("a dropped receipt was applied: %s", g.Status)
	}
	if g := e.get("t1", kept.ID); g.Status != gateway.StatusDelivered {
		t.Errorf("a kept receipt was not applied: %s", g.Status)
	}
	if p := e.prune(gateway.ReceiptPrune{Before: time.Now().Add(time.Second), Keep: 100}); p.Dropped != 2 {
		t.Errorf("PruneReceipts of the rest by age: %+v; want 2 dropped (junk-2, junk-3)", p)
	}
}

// testInboundResend: a single-part MO without an id that the carrier sends
// again after binding anew is skipped when a copy was received within its
// resend bounds; the same text outside them (the client asking twice) is
// stored.
func testInboundResend(t *testing.T, e *env) {
	t0 := time.Now().Add(-5 * time.Second)
	mk := func(text string, at time.Time) *gateway.Inbound {
		return &gateway.Inbound{Tenant: "t1", Carrier: "c1", From: "+254700000002", To: "22333", Text: text, ReceivedAt: at,
			Tasks: []gateway.Task{{Key: "mo:" + text + at.String(), Kind: "reply", Tenant: "t1"}}}
	}
	if n, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{mk("BAL", t0)}); err != nil || n != 1 {
		t.Fatalf("first: %d, %v", n, err)
	}
	// The resend arrives on a link opened after t0, within the window.
	resend := mk("BAL", time.Now())
	resend.ResendAfter, resend.ResendBefore = t0.Add(-time.Minute), t0.Add(time.Second)
	other := mk("DUE", time.Now())
	other.ResendAfter, other.ResendBefore = resend.ResendAfter, resend.ResendBefore
	if n, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{resend, other}); err != nil || n != 1 || other.ID == "" {
		t.Fatalf("resend beside another text: %d added, %v; want only the other", n, err)
	}
	// The same text again on the link the first came in on (bounds ending
	// before it): a second request, stored.
	again := mk("BAL", time.Now())
	again.ResendAfter, again.ResendBefore = t0.Add(-time.Minute), t0.Add(-time.Second)
	if n, err := e.s.RecordInbound(t.Context(), []*gateway.Inbound{again}); err != nil || n != 1 {
		t.Fatalf("same text outside the resend bounds: %d, %v; want stored", n, err)
	}
	if evs := e.events("t1"); len(evs) != 3 {
		t.Errorf("%d inbound events, want 3", len(evs))
	}
}
