package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openmf/smsgw/app"
	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/config"
	"github.com/openmf/smsgw/internal/testutil"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/provider/twilio"
	"github.com/openmf/smsgw/routing"
	"github.com/openmf/smsgw/smpp"
	"github.com/openmf/smsgw/smpp/smsc"
)

func dial(t *testing.T, addr, key string, opts ...grpc.DialOption) *client.Client {
	t.Helper()
	c, err := client.Dial(addr, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collector follows StreamEvents and records every status per message.
type collector struct {
	mu       sync.Mutex
	statuses map[string][]pb.Status
	lastSeq  int64
	seqErr   error
}

func follow(t *testing.T, cl *client.Client, from int64) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := cl.StreamEvents(ctx, &pb.StreamEventsRequest{FromSeq: from})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{statuses: map[string][]pb.Status{}}
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			c.mu.Lock()
			if ev.GetSeq() <= c.lastSeq && c.seqErr == nil {
				c.seqErr = fmt.Errorf("seq %d after %d", ev.GetSeq(), c.lastSeq)
			}
			c.lastSeq = ev.GetSeq()
			if ev.GetKind() == pb.EventKind_EVENT_KIND_STATUS {
				c.statuses[ev.GetMessageId()] = append(c.statuses[ev.GetMessageId()], ev.GetStatus())
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) get(id string) []pb.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pb.Status(nil), c.statuses[id]...)
}

// TestEndToEnd drives the whole path over loopback sockets: gRPC → engine →
// SQLite → SMPP bind → simulator → receipts → StreamEvents.
func TestEndToEnd(t *testing.T) {
	sim := smsc.NewServer(smsc.WithReceiptDelay(0, 5*time.Millisecond))
	defer sim.Close()
	a := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	events := follow(t, cl, 0)

	const n = 1000
	long := strings.Repeat("Your loan repayment schedule has changed. ", 9) // 3 GSM parts with the number
	type sent struct {
		id, to, text string
		parts        int
	}
	msgs := make([]sent, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				text := fmt.Sprintf("Reminder %d: group meeting Tuesday 10:00", i)
				wantParts, wantEnc := 1, "GSM7"
				switch {
				case i%5 == 0:
					text = fmt.Sprintf("Salamu %d — малипо ya mkopo 🙂", i)
					wantEnc = "UCS2"
				case i%7 == 0:
					text = fmt.Sprintf("%s#%d", long, i)
					wantParts = 3
				}
				to := fmt.Sprintf("+2547%08d", 10000000+i)
				r, err := cl.Send(context.Background(), &pb.SendRequest{To: to, Text: text})
				if err != nil {
					errs <- err
					return
				}
				if int(r.GetParts()) != wantParts || r.GetEncoding() != wantEnc || r.GetEncodingType().String() != "ENCODING_"+wantEnc {
					errs <- fmt.Errorf("message %d: %d parts %s (%v), want %d %s", i, r.GetParts(), r.GetEncoding(), r.GetEncodingType(), wantParts, wantEnc)
				}
				msgs[i] = sent{r.GetId(), to, text, int(r.GetParts())}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	want := []pb.Status{pb.Status_STATUS_ACCEPTED, pb.Status_STATUS_SUBMITTED, pb.Status_STATUS_DELIVERED}
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, m := range msgs {
			if got := events.get(m.id); fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("message %s events %v, want %v", m.id, got, want)
			}
		}
		return nil
	})
	if events.seqErr != nil {
		t.Fatal(events.seqErr)
	}

	// The simulator received exactly the expected parts, each once, each
	// asking for a receipt, multi-part ones with a concatenation UDH.
	wantParts := 0
	byDest := map[string]sent{}
	for _, m := range msgs {
		wantParts += m.parts
		byDest[strings.TrimPrefix(m.to, "+")] = m
	}
	subs := sim.Submits()
	if len(subs) != wantParts {
		t.Fatalf("simulator received %d submit_sm, want %d", len(subs), wantParts)
	}
	seen := map[string]bool{}
	for _, s := range subs {
		m, ok := byDest[s.Dest]
		if !ok {
			t.Fatalf("submit to unexpected destination %s", s.Dest)
		}
		key := s.Dest + "/" + string(s.ShortMessage)
		if seen[key] {
			t.Fatalf("part sent twice to %s", s.Dest)
		}
		seen[key] = true
		if s.RegisteredDelivery&1 != 1 {
			t.Errorf("part to %s does not request a receipt", s.Dest)
		}
		if (m.parts > 1) != (s.ESMClass&0x40 != 0) {
			t.Errorf("part to %s: esm_class %#x for a %d-part message", s.Dest, s.ESMClass, m.parts)
		}
		if strings.Contains(m.text, "малипо") && s.DataCoding != 8 {
			t.Errorf("UCS-2 text sent with data_coding %d", s.DataCoding)
		}
	}

	// GetMessage shows per-part carrier ids and the cost of every part.
	for _, m := range msgs[:21] {
		got, err := cl.GetMessage(context.Background(), &pb.GetMessageRequest{Id: m.id})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetStatus() != pb.Status_STATUS_DELIVERED || len(got.GetParts()) != m.parts || got.GetCarrier() != "sim" {
			t.Fatalf("GetMessage = %v", got)
		}
		if want := 0.8 * float64(m.parts); got.GetCost() < want-1e-9 || got.GetCost() > want+1e-9 || got.GetCurrency() != "KES" {
			t.Errorf("cost = %v %s, want %v KES", got.GetCost(), got.GetCurrency(), want)
		}
		// The same in integer cents: 80 a part.
		if p := got.GetPrice(); p.GetCurrencyCode() != "KES" || p.GetMinorDigits() != 2 || p.GetMinorUnits() != int64(80*m.parts) {
			t.Errorf("price = %v, want %d KES cents", p, 80*m.parts)
		}
		for _, p := range got.GetParts() {
			if p.GetCarrierId() == "" || p.GetStatus() != pb.Status_STATUS_DELIVERED || p.GetPrice().GetMinorUnits() != 80 {
				t.Errorf("part %v", p)
			}
		}
		if h := got.GetHistory(); len(h) == 0 || h[len(h)-1].GetOutcomeType() != pb.AttemptOutcome_ATTEMPT_OUTCOME_SUBMITTED || h[len(h)-1].GetOutcome() != "submitted" {
			t.Errorf("history %v, want the last attempt submitted", h)
		}
	}
}

func fieldOf(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// TestBadInputStoresNothing: every refusal names its field with the right
// code, and nothing reaches the store or the carrier.
func TestBadInputStoresNothing(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	a := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx := context.Background()

	cases := []struct {
		name  string
		req   *pb.SendRequest
		field string
	}{
		{"invalid number", &pb.SendRequest{To: "12", Text: "x"}, "to"},
		{"letters", &pb.SendRequest{To: "+2547ABC", Text: "x"}, "to"},
		{"empty text", &pb.SendRequest{To: "+254712345678"}, "text"},
		{"eleven parts", &pb.SendRequest{To: "+254712345678", Text: strings.Repeat("a", 153*10+1)}, "text"},
		{"huge", &pb.SendRequest{To: "+254712345678", Text: strings.Repeat("a", 1<<20)}, "text"},
		{"foreign sender", &pb.SendRequest{To: "+254712345678", Text: "x", From: "MFI-B"}, "from"},
	}
	for _, c := range cases {
		_, err := cl.Send(ctx, c.req)
		if status.Code(err) != codes.InvalidArgument || fieldOf(err) != c.field {
			t.Errorf("%s: got %v (field %q), want InvalidArgument on %q", c.name, err, fieldOf(err), c.field)
		}
	}
	wrong := dial(t, a.GRPCAddr(), "not-a-key-at-all")
	if _, err := wrong.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "x"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("unknown key: %v, want Unauthenticated", err)
	}
	none := pb.NewMessagingClient(mustConn(t, a.GRPCAddr()))
	if _, err := none.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "x"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no key: %v, want Unauthenticated", err)
	}

	// A batch answers per item: the good one is accepted, the bad ones named.
	br, err := cl.SendBatch(ctx, &pb.SendBatchRequest{Messages: []*pb.SendRequest{
		{To: "0712345678", Text: "national number in KE"},
		{To: "+254712345678", Text: ""},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if br.GetResults()[0].GetAccepted().GetId() == "" || br.GetResults()[1].GetField() != "messages[1].text" ||
		codes.Code(br.GetResults()[1].GetCode()) != codes.InvalidArgument {
		t.Fatalf("batch results %v", br.GetResults())
	}
	// The refusal as a google.rpc.Status: the code, and the details a Send
	// refused the same way would carry (ErrorInfo, BadRequest).
	st := status.FromProto(br.GetResults()[1].GetStatus())
	var reason, field string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.BadRequest:
			field = d.GetFieldViolations()[0].GetField()
		}
	}
	if st.Code() != codes.InvalidArgument || reason != "FIELD_INVALID" || field != "messages[1].text" {
		t.Fatalf("batch status %v %v", st, st.Details())
	}

	// Only the one good message exists: its ACCEPTED event is the first event.
	evs := follow(t, cl, 0)
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := evs.get(br.GetResults()[0].GetAccepted().GetId()); len(got) < 3 {
			return fmt.Errorf("events %v", got)
		}
		return nil
	})
	evs.mu.Lock()
	n := len(evs.statuses)
	evs.mu.Unlock()
	if n != 1 {
		t.Errorf("%d messages have events, want 1", n)
	}
	if got := sim.Stats().Submits; got != 1 {
		t.Errorf("simulator received %d submits, want 1", got)
	}
}

func mustConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestIdempotencyAndTenantIsolation(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	a := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	clientA := dial(t, a.GRPCAddr(), apptest.KeyA)
	clientB := dial(t, a.GRPCAddr(), apptest.KeyB)
	ctx := context.Background()

	r1, err := clientA.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "receipt 1", ClientRef: "loan-42-repayment-7"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := clientA.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "receipt 1", ClientRef: "loan-42-repayment-7"})
	if err != nil {
		t.Fatal(err)
	}
	if r2.GetId() != r1.GetId() || !r2.GetDuplicate() || r1.GetDuplicate() {
		t.Fatalf("resend gave %v after %v, want the same id marked duplicate", r2, r1)
	}
	// The same client_ref in another tenant is another message; tenant B's
	// default region (TZ) normalizes its national number.
	rb, err := clientB.Send(ctx, &pb.SendRequest{To: "0754123456", Text: "receipt 1", ClientRef: "loan-42-repayment-7"})
	if err != nil {
		t.Fatal(err)
	}
	if rb.GetId() == r1.GetId() || rb.GetDuplicate() {
		t.Fatalf("tenant B's message %v collides with tenant A's", rb)
	}
	mb, err := clientB.GetMessage(ctx, &pb.GetMessageRequest{Id: rb.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if mb.GetTo() != "+255754123456" || mb.GetFrom() != "MFI-B" {
		t.Errorf("tenant B message to %s from %s", mb.GetTo(), mb.GetFrom())
	}
	if _, err := clientB.GetMessage(ctx, &pb.GetMessageRequest{Id: r1.GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("tenant B read tenant A's message: %v", err)
	}
	evB := follow(t, clientB, 0)
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(evB.get(rb.GetId())) < 3 {
			return fmt.Errorf("tenant B events %v", evB.get(rb.GetId()))
		}
		return nil
	})
	if got := evB.get(r1.GetId()); len(got) != 0 {
		t.Errorf("tenant B streamed tenant A's events %v", got)
	}
	if sim.Stats().Submits != 2 {
		t.Errorf("simulator got %d submits, want 2 (the duplicate must not be sent)", sim.Stats().Submits)
	}
}

func TestHealthServiceAndInbound(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	a := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	conn := mustConn(t, a.GRPCAddr())
	hr, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "smsgw.v1.Messaging"})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", hr, err)
	}

	// 22555 is tenant B's shortcode: its clients' messages are B's.
	cl := dial(t, a.GRPCAddr(), apptest.KeyB)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := cl.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_INBOUND}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.SendMO("+254712345678", "22555", "BAL"); err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	in := ev.GetInbound()
	if ev.GetKind() != pb.EventKind_EVENT_KIND_INBOUND || in.GetText() != "BAL" || in.GetFrom() != "+254712345678" || in.GetCarrier() != "sim" {
		t.Fatalf("inbound event %v", ev)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if st := sim.Stats(); st.DeliverResps != 1 || st.DeliverRespErrors != 0 {
			return fmt.Errorf("simulator stats %+v: MO not acknowledged once", st)
		}
		return nil
	})
}

// TestMetricsAndReflection: everything the gateway registers passes
// promlint and is served at /metrics; grpcurl-style reflection lists the
// Messaging service.
func TestMetricsAndReflection(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	reg := prometheus.NewRegistry()
	a := apptest.StartWith(t, apptest.Config(t, sim.Addr(), t.TempDir()), app.Options{Registry: reg})
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	if _, err := cl.Send(context.Background(), &pb.SendRequest{To: "+254712345678", Text: "metrics"}); err != nil {
		t.Fatal(err)
	}

	problems, err := promlint.NewWithMetricFamilies(mustGather(t, reg)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`smsgw_gateway_accepted_total{tenant="mfi-a"} 1`, "smsgw_smpp_binds_up"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the reflection stream before the gateway stops
	stream, err := reflectionpb.NewServerReflectionClient(cl.Conn()).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "smsgw.v1.Messaging") || !slices.Contains(names, "grpc.health.v1.Health") {
		t.Errorf("reflection lists %v", names)
	}
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// A carrier whose SMSC starts failing trips its breaker; traffic moves to
// the next candidate with no message lost, and returns once it recovers.
func TestBreakerFailoverAndRecovery(t *testing.T) {
	var failing atomic.Bool
	cheap := smsc.NewServer(smsc.WithHandler(func(*smsc.Submit) smsc.Action {
		if failing.Load() {
			return smsc.Action{Status: 0x08} // ESME_RSYSERR: temporary, retried
		}
		return smsc.Action{}
	}))
	defer cheap.Close()
	dear := smsc.NewServer()
	defer dear.Close()
	cfg := twoCarrierConfig(t, cheap.Addr(), "dear", dear.Addr())
	cfg.Gateway.RetryBase, cfg.Gateway.RetryMax = 20*time.Millisecond, 50*time.Millisecond
	cfg.Breaker = routing.BreakerConfig{ConsecutiveFailures: 3, OpenFor: 300 * time.Millisecond, Probes: 1}
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg)
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	send := func(n int, tag string) []string {
		var ids []string
		for i := range n {
			r, err := cl.Send(context.Background(), &pb.SendRequest{To: fmt.Sprintf("+2547%08d", i), Text: tag + fmt.Sprint(i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.GetId())
		}
		return ids
	}
	delivered := func(ids []string) map[string]int {
		byCarrier := map[string]int{}
		testutil.Eventually(t, 20*time.Second, func() error {
			clear(byCarrier)
			for _, id := range ids {
				m, err := cl.GetMessage(context.Background(), &pb.GetMessageRequest{Id: id})
				if err != nil {
					return err
				}
				if m.GetStatus() != pb.Status_STATUS_DELIVERED {
					return fmt.Errorf("message %s is %v (%s)", id, m.GetStatus(), m.GetLastError())
				}
				byCarrier[m.GetCarrier()]++
			}
			return nil
		})
		return byCarrier
	}

	if got := delivered(send(10, "before ")); got["sim"] != 10 {
		t.Fatalf("healthy: delivered by %v, want all by the cheap carrier", got)
	}
	failing.Store(true)
	if got := delivered(send(20, "outage ")); got["dear"] != 20 {
		t.Fatalf("outage: delivered by %v, want all by dear", got)
	}
	if s := a.Router().BreakerState("sim"); s == "closed" {
		t.Fatalf("breaker %s during the outage", s)
	}
	failing.Store(false)
	testutil.Eventually(t, 10*time.Second, func() error {
		got := delivered(send(1, "probe "))
		if got["sim"] != 1 {
			return fmt.Errorf("still delivered by %v", got)
		}
		return nil
	})
	if got := delivered(send(10, "after ")); got["sim"] != 10 {
		t.Fatalf("recovered: delivered by %v, want all by the cheap carrier", got)
	}
}

// A reload swaps the routes; a bad file is refused and the old routes stay.
func TestReloadRoutes(t *testing.T) {
	r := startReloadRig(t)
	a := r.a
	admin := dial(t, a.GRPCAddr(), apptest.AdminKey)
	adminClient := pb.NewAdminClient(admin.Conn())
	explain := func() *pb.ExplainRouteResponse {
		t.Helper()
		ex, err := adminClient.ExplainRoute(context.Background(), &pb.ExplainRouteRequest{To: "0712345678", Tenant: "mfi-a"})
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
	ctx := context.Background()

	r.vars["cost"] = "0.25"
	r.write(t)
	if r, err := adminClient.ReloadRoutes(ctx, &pb.ReloadRoutesRequest{}); err != nil || r.GetRoutes() != 1 {
		t.Fatalf("reload: %v, %v", r, err)
	}
	ex := explain()
	if ex.GetTo() != "+254712345678" || !strings.Contains(ex.GetExplanation(), "1. sim via +254 at 0.25 KES/part") ||
		len(ex.GetCandidates()) != 1 || ex.GetCandidates()[0].GetBreaker() != "closed" || ex.GetCandidates()[0].GetCost() != 0.25 {
		t.Fatalf("new routes not in force: %v", ex)
	}
	r.vars["route_carrier"], r.vars["cost"] = "nowhere", "0.1"
	r.write(t)
	_, err := adminClient.ReloadRoutes(ctx, &pb.ReloadRoutesRequest{})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `routes[0].carrier: "nowhere" is not a configured carrier`) {
		t.Fatalf("bad reload: %v", err)
	}
	if ex := explain(); !strings.Contains(ex.GetExplanation(), "sim via +254 at 0.25 KES/part") {
		t.Fatalf("a refused reload changed the routes:\n%s", ex.GetExplanation())
	}

	// Tenant keys cannot reach the Admin service, nor admin keys a tenant's.
	tenant := dial(t, a.GRPCAddr(), apptest.KeyA)
	if _, err := pb.NewAdminClient(tenant.Conn()).ExplainRoute(ctx, &pb.ExplainRouteRequest{To: "0712345678"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("tenant key on Admin: %v, want PermissionDenied", err)
	}
	if _, err := admin.Send(ctx, &pb.SendRequest{To: "0712345678", Text: "x"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("admin key on Messaging: %v, want PermissionDenied", err)
	}
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// A tenant over its rate gets ResourceExhausted with the time to wait;
// another tenant is not slowed; nothing refused is stored.
func TestTenantRateLimit(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Tenants[0].Rate, cfg.Tenants[0].Burst = 0.5, 5
	a := apptest.Start(t, cfg)
	// Without the client's own retries, to see the gateway's answer.
	clA := dial(t, a.GRPCAddr(), apptest.KeyA, grpc.WithDisableRetry())
	clB := dial(t, a.GRPCAddr(), apptest.KeyB, grpc.WithDisableRetry())
	ctx := context.Background()
	send := func(cl *client.Client) error {
		_, err := cl.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "rate"})
		return err
	}
	for i := range 5 {
		if err := send(clA); err != nil {
			t.Fatalf("send %d within the burst: %v", i, err)
		}
	}
	err := send(clA)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("over the rate: %v, want ResourceExhausted", err)
	}
	var wait time.Duration
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			wait = ri.GetRetryDelay().AsDuration()
		}
	}
	if wait <= 0 || wait > 2*time.Second {
		t.Fatalf("RetryInfo delay %v, want (0, 2s] at one message per 2 s", wait)
	}
	if err := send(clB); err != nil {
		t.Fatalf("tenant B slowed by tenant A's rate: %v", err)
	}
	many := make([]*pb.SendRequest, 6)
	for i := range many {
		many[i] = &pb.SendRequest{To: "+254712345678", Text: "batch"}
	}
	if _, err := clA.SendBatch(ctx, &pb.SendBatchRequest{Messages: many}); status.Code(err) != codes.InvalidArgument || fieldOf(err) != "messages" {
		t.Fatalf("batch above the burst: %v", err)
	}
	time.Sleep(wait)
	if err := send(clA); err != nil {
		t.Fatalf("after RetryInfo's delay: %v", err)
	}
	if got := sim.Stats().Submits; got > 7 {
		t.Fatalf("%d messages reached the carrier, want at most 7 (5 + 1 of B + 1 after the wait)", got)
	}
}

// With grpc_tls and a client CA, only clients holding a certificate that
// CA signed get through, and then still need an API key.
func TestMutualTLS(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	certs := testutil.WriteCerts(t)
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Listen.GRPCTLS = &config.TLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CA}
	a := apptest.Start(t, cfg)

	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(certs.CA)
	pool.AppendCertsFromPEM(caPEM)
	clientCert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	withCert, err := client.Dial(a.GRPCAddr(), apptest.KeyA, grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}})))
	if err != nil {
		t.Fatal(err)
	}
	defer withCert.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := withCert.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "over mTLS"}); err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
	noCert, err := client.Dial(a.GRPCAddr(), apptest.KeyA, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	if _, err := noCert.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "x"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("client without a certificate: %v, want Unavailable (handshake refused)", err)
	}
	plain := dial(t, a.GRPCAddr(), apptest.KeyA)
	if _, err := plain.Send(ctx, &pb.SendRequest{To: "+254712345678", Text: "x"}); err == nil {
		t.Fatal("plain-text client accepted by a TLS listener")
	}
}

// A cloud provider is just another route: with the SMPP carrier down, a
// message leaves through Twilio's API, and Twilio's signed status callback
// delivers it; a forged callback is refused and changes nothing.
func TestCloudProviderEndToEnd(t *testing.T) {
	const (
		sid       = "AC0123456789abcdef0123456789abcdef"
		token     = "twilio-auth-token"
		publicURL = "https://gw.example.org/webhooks/twilio/status"
	)
	var sent atomic.Int32
	var posted sync.Map // Twilio message sid → form posted to the API
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+sid+"/Messages.json" || user != sid || pass != token {
			http.Error(w, `{"code":20003,"message":"Authenticate"}`, http.StatusUnauthorized)
			return
		}
		r.ParseForm()
		msgSid := fmt.Sprintf("SM%032d", sent.Add(1))
		posted.Store(msgSid, r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"%s","status":"queued"}`, msgSid)
	}))
	defer fake.Close()

	sim := smsc.NewServer()
	defer sim.Close()
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Carriers = append(cfg.Carriers, config.Carrier{Name: "twilio", Kind: "twilio", Section: &twilio.Config{
		BaseURL: fake.URL, AccountSID: sid, AuthToken: token, From: "+15005550006", StatusCallbackURL: publicURL,
	}})
	cfg.Routes = []routing.Route{
		{Prefix: "+254", Carrier: "sim", Cost: 0.5, Currency: "KES"},
		{Prefix: "+", Carrier: "twilio", Cost: 4.5, Currency: "KES"},
	}
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg)
	sim.Close() // the direct carrier goes away: traffic must take the cloud route
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx := context.Background()
	r, err := cl.Send(ctx, &pb.SendRequest{To: "0712345678", Text: strings.Repeat("Loan statement. ", 12)})
	if err != nil {
		t.Fatal(err)
	}
	var m *pb.Message
	testutil.Eventually(t, 15*time.Second, func() error {
		m, err = cl.GetMessage(ctx, &pb.GetMessageRequest{Id: r.GetId()})
		if err != nil {
			return err
		}
		if m.GetStatus() != pb.Status_STATUS_SUBMITTED || m.GetCarrier() != "twilio" {
			return fmt.Errorf("message %v via %q (%s)", m.GetStatus(), m.GetCarrier(), m.GetLastError())
		}
		return nil
	})
	if sent.Load() != 1 || len(m.GetParts()) != 2 || m.GetParts()[0].GetCarrierId() != m.GetParts()[1].GetCarrierId() {
		t.Fatalf("%d API calls for a 2-part message; parts %v", sent.Load(), m.GetParts())
	}
	msgSid := m.GetParts()[0].GetCarrierId()
	form, _ := posted.Load(msgSid)
	if got := form.(url.Values); got.Get("To") != "+254712345678" || got.Get("StatusCallback") != publicURL {
		t.Fatalf("Twilio got %v", got)
	}

	callback := func(sig string) int {
		params := url.Values{"MessageSid": {msgSid}, "MessageStatus": {"delivered"}, "AccountSid": {sid}}
		req, _ := http.NewRequest(http.MethodPost, "http://"+a.HTTPAddr()+"/webhooks/twilio/status", strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := twilio.Signature(token, publicURL, url.Values{"MessageSid": {msgSid}, "MessageStatus": {"delivered"}, "AccountSid": {sid}})
	forged := twilio.Signature("not-the-token", publicURL, url.Values{"MessageSid": {msgSid}, "MessageStatus": {"delivered"}, "AccountSid": {sid}})
	if code := callback(forged); code != http.StatusForbidden {
		t.Fatalf("forged callback answered %d, want 403", code)
	}
	if m, _ := cl.GetMessage(ctx, &pb.GetMessageRequest{Id: r.GetId()}); m.GetStatus() != pb.Status_STATUS_SUBMITTED {
		t.Fatalf("a forged callback changed the message to %v", m.GetStatus())
	}
	if code := callback(good); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("signed callback answered %d", code)
	}
	m, err = cl.GetMessage(ctx, &pb.GetMessageRequest{Id: r.GetId()})
	if err != nil || m.GetStatus() != pb.Status_STATUS_DELIVERED || m.GetCost() != 9 {
		t.Fatalf("after Twilio's callback: %v (cost %v), %v", m.GetStatus(), m.GetCost(), err)
	}
}

// ListMessages pages and filters, CancelMessage stops only what no carrier
// has, and a named cursor lets a restarted adapter resume the event stream.
func TestListCancelAndCursors(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	a := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	other := dial(t, a.GRPCAddr(), apptest.KeyB)
	ctx := context.Background()
	later := timestamppb.New(time.Now().Add(time.Hour))
	var scheduled []string
	for i := range 3 {
		r, err := cl.Send(ctx, &pb.SendRequest{To: fmt.Sprintf("+25471234567%d", i), Text: "meeting", NotBefore: later})
		if err != nil {
			t.Fatal(err)
		}
		scheduled = append(scheduled, r.GetId())
	}
	now, err := cl.Send(ctx, &pb.SendRequest{To: "+254712345679", Text: "now"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		m, err := cl.GetMessage(ctx, &pb.GetMessageRequest{Id: now.GetId()})
		if err != nil || m.GetStatus() != pb.Status_STATUS_DELIVERED {
			return fmt.Errorf("%v %v", m.GetStatus(), err)
		}
		return nil
	})

	page1, err := cl.ListMessages(ctx, &pb.ListMessagesRequest{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	page2, err := cl.ListMessages(ctx, &pb.ListMessagesRequest{PageSize: 2, PageToken: page1.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range append(page1.GetMessages(), page2.GetMessages()...) {
		ids = append(ids, m.GetId())
	}
	if want := []string{now.GetId(), scheduled[2], scheduled[1], scheduled[0]}; !slices.Equal(ids, want) || page2.GetNextPageToken() != "" {
		t.Fatalf("pages %v (next %q), want newest first %v", ids, page2.GetNextPageToken(), want)
	}
	acc, err := cl.ListMessages(ctx, &pb.ListMessagesRequest{Status: pb.Status_STATUS_ACCEPTED, To: "0712345671"})
	if err != nil || len(acc.GetMessages()) != 1 || acc.GetMessages()[0].GetId() != scheduled[1] {
		t.Fatalf("filter by status and national number: %v, %v", acc.GetMessages(), err)
	}
	if none, err := other.ListMessages(ctx, &pb.ListMessagesRequest{}); err != nil || len(none.GetMessages()) != 0 {
		t.Fatalf("tenant B lists %v, %v", none.GetMessages(), err)
	}

	m, err := cl.CancelMessage(ctx, &pb.CancelMessageRequest{Id: scheduled[0]})
	if err != nil || m.GetStatus() != pb.Status_STATUS_CANCELED {
		t.Fatalf("cancel a scheduled message: %v, %v", m.GetStatus(), err)
	}
	for _, c := range []struct {
		cl   *client.Client
		id   string
		code codes.Code
	}{{cl, scheduled[0], codes.FailedPrecondition}, {cl, now.GetId(), codes.FailedPrecondition}, {other, scheduled[1], codes.NotFound}} {
		if _, err := c.cl.CancelMessage(ctx, &pb.CancelMessageRequest{Id: c.id}); status.Code(err) != c.code {
			t.Errorf("cancel %s: %v, want %v", c.id, err, c.code)
		}
	}

	// An adapter acknowledges what it processed; a new stream on the same
	// cursor starts right after it.
	evs := follow(t, cl, 0)
	var last int64
	testutil.Eventually(t, 5*time.Second, func() error {
		evs.mu.Lock()
		defer evs.mu.Unlock()
		if len(evs.statuses[scheduled[0]]) < 2 {
			return fmt.Errorf("events %v", evs.statuses)
		}
		last = evs.lastSeq
		return nil
	})
	ack, err := cl.AckEvents(ctx, &pb.AckEventsRequest{Cursor: "mifos-adapter", Seq: last - 1})
	if err != nil || ack.GetSeq() != last-1 {
		t.Fatalf("ack: %v, %v", ack, err)
	}
	if ack, err := cl.AckEvents(ctx, &pb.AckEventsRequest{Cursor: "mifos-adapter", Seq: 1}); err != nil || ack.GetSeq() != last-1 {
		t.Fatalf("ack backwards moved the cursor: %v, %v", ack, err)
	}
	if _, err := cl.AckEvents(ctx, &pb.AckEventsRequest{Cursor: "mifos-adapter", Seq: last + 1000}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("ack ahead of the log: %v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := cl.StreamEvents(sctx, &pb.StreamEventsRequest{Cursor: "mifos-adapter"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil || ev.GetSeq() != last {
		t.Fatalf("resumed at %v (%v), want seq %d", ev.GetSeq(), err, last)
	}

	admin := pb.NewAdminClient(dial(t, a.GRPCAddr(), apptest.AdminKey).Conn())
	cs, err := admin.ListCarriers(ctx, &pb.ListCarriersRequest{})
	if err != nil || len(cs.GetCarriers()) != 1 {
		t.Fatalf("carriers %v, %v", cs, err)
	}
	if c := cs.GetCarriers()[0]; c.GetName() != "sim" || c.GetKind() != "smpp" || !c.GetUp() || c.GetWindow() != 128 || c.GetBreaker() != "closed" {
		t.Fatalf("carrier %v", c)
	}
	counters, err := admin.GetCounters(ctx, &pb.GetCountersRequest{})
	if err != nil || counters.GetCounters()["smsgw_gateway_accepted_total"] != 4 || counters.GetCounters()["smsgw_gateway_submitted_parts_total"] < 1 {
		t.Fatalf("counters %v, %v", counters.GetCounters(), err)
	}
}

// An adapter that reconnects, and one that outlives a gateway restart,
// resume StreamEvents from the next sequence number with no gap and no
// duplicate: the union of its segments equals the whole log.
func TestStreamResumesAcrossReconnectAndRestart(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	dir := t.TempDir()
	cfg := apptest.Config(t, sim.Addr(), dir)
	seen := map[int64]int{}
	var next int64

	// segment reads events from next until want message ids are DELIVERED.
	segment := func(cl *client.Client, ids []string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stream, err := cl.StreamEvents(ctx, &pb.StreamEventsRequest{FromSeq: next})
		if err != nil {
			t.Fatal(err)
		}
		pending := map[string]bool{}
		for _, id := range ids {
			pending[id] = true
		}
		for len(pending) > 0 {
			ev, err := stream.Recv()
			if err != nil {
				t.Fatalf("stream from %d: %v (waiting for %d messages)", next, err, len(pending))
			}
			seen[ev.GetSeq()]++
			next = ev.GetSeq() + 1
			if ev.GetStatus() == pb.Status_STATUS_DELIVERED {
				delete(pending, ev.GetMessageId())
			}
		}
	}
	send := func(cl *client.Client, n int) []string {
		var ids []string
		for i := range n {
			r, err := cl.Send(context.Background(), &pb.SendRequest{To: fmt.Sprintf("+2547%08d", 40000000+len(seen)+i), Text: "resume"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.GetId())
		}
		return ids
	}

	a := apptest.Start(t, cfg)
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	segment(cl, send(cl, 10))
	segment(cl, send(cl, 10)) // a reconnect: a new stream from next
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cfg = apptest.Config(t, sim.Addr(), dir) // the same store, new ports
	b := apptest.Start(t, cfg)
	cl = dial(t, b.GRPCAddr(), apptest.KeyA)
	segment(cl, send(cl, 10))

	// The whole log, read once from the start, is exactly what the segments saw.
	all := map[int64]bool{}
	stream, err := cl.StreamEvents(ctx, &pb.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for len(all) < len(seen) {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		all[ev.GetSeq()] = true
	}
	for seq, n := range seen {
		if n != 1 {
			t.Errorf("seq %d delivered %d times across reconnects", seq, n)
		}
		if !all[seq] {
			t.Errorf("seq %d seen by the adapter is not in the log", seq)
		}
	}
	for seq := range all {
		if seen[seq] == 0 {
			t.Errorf("seq %d is in the log but the adapter never got it (a gap)", seq)
		}
	}
	if len(seen) != 90 { // 30 messages × ACCEPTED, SUBMITTED, DELIVERED
		t.Errorf("the adapter saw %d events, want 90", len(seen))
	}
}

func TestBatchSizeIsConfigured(t *testing.T) {
	sim := smsc.NewServer()
	defer sim.Close()
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Gateway.MaxBatch = 2
	a := apptest.Start(t, cfg)
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	three := []*pb.SendRequest{{To: "+254712345678", Text: "a"}, {To: "+254712345678", Text: "b"}, {To: "+254712345678", Text: "c"}}
	_, err := cl.SendBatch(context.Background(), &pb.SendBatchRequest{Messages: three})
	if status.Code(err) != codes.InvalidArgument || fieldOf(err) != "messages" || !strings.Contains(err.Error(), "send 1 to 2") {
		t.Fatalf("batch of 3 with max_batch 2: %v", err)
	}
	if _, err := cl.SendBatch(context.Background(), &pb.SendBatchRequest{Messages: three[:2]}); err != nil {
		t.Fatal(err)
	}
}

// A reply to an inbound message leaves from the shortcode the client wrote
// to, through the carrier the message came in on, even when another carrier
// is cheaper.
func TestReplyLeavesThroughInboundCarrier(t *testing.T) {
	cheap := smsc.NewServer()
	defer cheap.Close()
	other := smsc.NewServer()
	defer other.Close()
	cfg := twoCarrierConfig(t, cheap.Addr(), "other", other.Addr())
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg)
	cl := dial(t, a.GRPCAddr(), apptest.KeyA)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := cl.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_INBOUND}})
	if err != nil {
		t.Fatal(err)
	}
	// 22333 is no tenant's sender: the message goes to the first tenant.
	testutil.Eventually(t, 10*time.Second, func() error { return other.SendMO("+254712345678", "22333", "BAL") })
	ev, err := stream.Recv()
	if err != nil || ev.GetInbound().GetCarrier() != "other" {
		t.Fatalf("inbound %v, %v", ev, err)
	}

	r, err := cl.Send(ctx, &pb.SendRequest{ReplyTo: ev.GetInbound().GetId(), Text: "Balance: KES 1,200"})
	if err != nil {
		t.Fatal(err)
	}
	var m *pb.Message
	testutil.Eventually(t, 10*time.Second, func() error {
		m, err = cl.GetMessage(ctx, &pb.GetMessageRequest{Id: r.GetId()})
		if err != nil || m.GetStatus() != pb.Status_STATUS_DELIVERED {
			return fmt.Errorf("%v %v", m.GetStatus(), err)
		}
		return nil
	})
	if m.GetCarrier() != "other" || m.GetPinnedCarrier() != "other" || m.GetFrom() != "22333" || m.GetTo() != "+254712345678" {
		t.Fatalf("reply went %s from %s to %s", m.GetCarrier(), m.GetFrom(), m.GetTo())
	}
	if subs := other.Submits(); len(subs) != 1 || subs[0].Source != "22333" || subs[0].Dest != "254712345678" {
		t.Fatalf("the inbound carrier got %+v", subs)
	}
	if n := cheap.Stats().Submits; n != 0 {
		t.Fatalf("the cheaper carrier got %d submits", n)
	}

	_, err = cl.Send(ctx, &pb.SendRequest{ReplyTo: "01900000-0000-7000-8000-00000000dead", Text: "x"})
	if status.Code(err) != codes.InvalidArgument || fieldOf(err) != "reply_to" {
		t.Fatalf("reply to an unknown message: %v", err)
	}
	b := dial(t, a.GRPCAddr(), apptest.KeyB)
	if _, err := b.Send(ctx, &pb.SendRequest{ReplyTo: ev.GetInbound().GetId(), Text: "x"}); fieldOf(err) != "reply_to" {
		t.Fatalf("tenant B replied to tenant A's inbound message: %v", err)
	}
}

// twoCarrierConfig routes +254 to "sim" at cheapAddr (0.5 KES a part) and,
// as the dearer candidate, to carrier name at otherAddr (0.9 KES). Callers
// adjust it and call config.Complete.
func twoCarrierConfig(t *testing.T, cheapAddr, name, otherAddr string) *config.Config {
	t.Helper()
	cfg := apptest.Config(t, cheapAddr, t.TempDir())
	second := *cfg.Carriers[0].Section.(*smpp.Config)
	second.Host, second.Port = hostPort(t, otherAddr)
	cfg.Carriers = append(cfg.Carriers, config.Carrier{Name: name, Kind: "smpp", Section: &second})
	cfg.Routes = []routing.Route{
		{Prefix: "+254", Carrier: "sim", Cost: 0.5, Currency: "KES"},
		{Prefix: "+254", Carrier: name, Cost: 0.9, Currency: "KES"},
	}
	return cfg
}
