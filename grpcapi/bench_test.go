package grpcapi_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/grpcapi"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/routing"
)

// quickStore answers Accept with new ids without writing anything, and
// finds no number opted out, so a benchmark measures the API and the
// engine's accept path and not the store (measured on its own in
// gateway/store). Everything else is the real SQLite store.
type quickStore struct {
	gateway.Store
	next atomic.Int64
}

func (q *quickStore) Accept(_ context.Context, msgs []*gateway.Message) ([]gateway.AcceptResult, error) {
	out := make([]gateway.AcceptResult, len(msgs))
	for i := range out {
		out[i].ID = "q" + strconv.FormatInt(q.next.Add(1), 10)
	}
	return out, nil
}

func (q *quickStore) OptedOut(context.Context, string, []string) (map[string]bool, error) {
	return nil, nil
}

// BenchmarkSendBatch measures one SendBatch call of 100 messages from the
// client's encoding to its decoded answer, over loopback, through every
// interceptor (error info, UTF-8 check, API key) and the engine's accept
// (validation, number normalization, rate, route check, fraud screening,
// metrics) into a store that writes nothing. The numbers cycle over 10,000
// clients, as an MFI texts the same clients again and again, so the
// normalization cache answers (a miss costs ~13 µs more: BenchmarkNormalizeNumber
// in gateway). One op is one call; allocs/op / 100 is per message;
// cpu-µs/msg is the whole process's CPU (client, server, GC) per message.
//
//	go test -run '^$' -bench SendBatch -benchmem ./grpcapi/
func BenchmarkSendBatch(b *testing.B) {
	st := benchStore(b)
	cl := benchClient(b, &quickStore{Store: st})
	const batch, clients = 100, 10_000
	reqs := make([]*pb.SendBatchRequest, clients/batch)
	for i := range reqs {
		reqs[i] = &pb.SendBatchRequest{Messages: make([]*pb.SendRequest, batch)}
		for j := range batch {
			reqs[i].Messages[j] = &pb.SendRequest{To: fmt.Sprintf("+2547%08d", i*batch+j), Text: "Your loan repayment of KES 1,500 is due on Tuesday"}
		}
	}
	ctx := authed()
	for _, r := range reqs { // fill the normalization cache
		if _, err := cl.SendBatch(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for i := range b.N {
		resp, err := cl.SendBatch(ctx, reqs[i%len(reqs)])
		if err != nil {
			b.Fatal(err)
		}
		if a := resp.GetResults()[batch-1].GetAccepted(); a == nil || a.GetId() == "" {
			b.Fatalf("last message not accepted: %v", resp.GetResults()[batch-1])
		}
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N*batch)/1000, "cpu-µs/msg")
}

// BenchmarkStreamEvents measures what StreamEvents costs a status event,
// as a client following its messages reads them: from the store's event
// tail through the engine's feed, the handler and gRPC over loopback to
// the client's decoded Event. The store holds 10,000 accepted messages
// (one status event each, with a client ref), all in the tail.
//
//   - backlog: each round streams them all on a new stream from the
//     first, the stream reading pages of 500, as a client catching up.
//   - follow-N: the events become visible N at a time, the next N once
//     the client has received the last, as a client that keeps up sees a
//     commit of N events at a time (the stream waits, wakes, reads and
//     sends them, and waits again).
//   - follow-100-unkept: follow-100 with the messages not kept by the
//     tail, as in a backlog larger than its room for messages (or with no
//     follower when they were accepted): each read completes the client
//     refs from SQLite.
//   - batches-*: the same through StreamEventBatches, which sends the
//     events of a read in one message.
//
// A stream's start and end weigh 1/10,000 of an event. One op is one
// event; cpu-µs/event is the whole process's CPU (client, server, GC) per
// event.
//
//	go test -run '^$' -bench StreamEvents -benchmem ./grpcapi/
func BenchmarkStreamEvents(b *testing.B) {
	b.Run("backlog", func(b *testing.B) { streamEvents(b, streamed, true) })
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("follow-%d", n), func(b *testing.B) { streamEvents(b, n, true) })
	}
	b.Run("follow-100-unkept", func(b *testing.B) { streamEvents(b, 100, false) })
	b.Run("batches-backlog", func(b *testing.B) { streamEventBatches(b, streamed) })
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batches-follow-%d", n), func(b *testing.B) { streamEventBatches(b, n) })
	}
}

// streamed is how many events BenchmarkStreamEvents streams.
const streamed = 10_000

// streamEvents runs BenchmarkStreamEvents on StreamEvents with the events
// made visible step at a time, their messages kept by the tail or not.
func streamEvents(b *testing.B, step int, kept bool) {
	follow(b, step, kept, func(ctx context.Context, cl pb.MessagingClient, r *pb.StreamEventsRequest) (func() ([]*pb.Event, error), error) {
		s, err := cl.StreamEvents(ctx, r)
		if err != nil {
			return nil, err
		}
		return func() ([]*pb.Event, error) {
			ev, err := s.Recv()
			return []*pb.Event{ev}, err
		}, nil
	})
}

// streamEventBatches is streamEvents on StreamEventBatches.
func streamEventBatches(b *testing.B, step int) {
	follow(b, step, true, func(ctx context.Context, cl pb.MessagingClient, r *pb.StreamEventsRequest) (func() ([]*pb.Event, error), error) {
		s, err := cl.StreamEventBatches(ctx, &pb.StreamEventBatchesRequest{FromSeq: r.GetFromSeq(), Kinds: r.GetKinds()})
		if err != nil {
			return nil, err
		}
		return func() ([]*pb.Event, error) {
			batch, err := s.Recv()
			return batch.GetEvents(), err
		}, nil
	})
}

// follow runs BenchmarkStreamEvents on the streams open opens: each call
// of the function it returns receives one or more events.
func follow(b *testing.B, step int, kept bool,
	open func(context.Context, pb.MessagingClient, *pb.StreamEventsRequest) (func() ([]*pb.Event, error), error)) {
	st := &revealStore{Store: benchStore(b), changed: make(chan struct{})}
	cl := benchClient(b, st)
	ctx := authed()
	// A follower reads before the messages are written, so the tail keeps
	// them as it does while a client follows (an unread tail keeps none).
	if kept {
		if _, err := st.Store.Events(ctx, "", 1, 1); err != nil {
			b.Fatal(err)
		}
	}
	const batch = 100
	for i := range streamed / batch {
		req := &pb.SendBatchRequest{Messages: make([]*pb.SendRequest, batch)}
		for j := range batch {
			n := i*batch + j
			req.Messages[j] = &pb.SendRequest{To: fmt.Sprintf("+2547%08d", n), Text: "Your loan repayment of KES 1,500 is due on Tuesday",
				ClientRef: fmt.Sprintf("loan-%d-reminder", n)}
		}
		if _, err := cl.SendBatch(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	kinds := []pb.EventKind{pb.EventKind_EVENT_KIND_STATUS}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for read := 0; read < b.N; {
		st.reveal(0)
		sctx, cancel := context.WithCancel(ctx)
		recv, err := open(sctx, cl, &pb.StreamEventsRequest{FromSeq: 1, Kinds: kinds})
		if err != nil {
			b.Fatal(err)
		}
		for seq := int64(1); seq <= streamed && read < b.N; {
			last := min(seq+int64(step), streamed+1, seq+int64(b.N-read)) - 1
			st.reveal(last)
			for seq <= last {
				evs, err := recv()
				if err != nil {
					b.Fatal(err)
				}
				for _, ev := range evs {
					if ev.GetSeq() != seq || ev.GetStatus() != pb.Status_STATUS_ACCEPTED || ev.GetClientRef() == "" {
						b.Fatalf("event %d: got %v", seq, ev)
					}
					seq++
					read++
				}
			}
		}
		cancel()
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N)/1000, "cpu-µs/event")
}

// revealStore shows the events of the store it wraps only up to a seq the
// benchmark moves, and wakes the engine's readers when it moves it, as a
// commit of new events would.
type revealStore struct {
	gateway.Store
	mu      sync.Mutex
	upTo    int64
	changed chan struct{}
}

func (r *revealStore) reveal(seq int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.upTo = seq
	close(r.changed)
	r.changed = make(chan struct{})
}

// EventsChanged implements gateway.EventNotifier.
func (r *revealStore) EventsChanged() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

func (r *revealStore) Events(ctx context.Context, tenant string, fromSeq int64, limit int) ([]gateway.Event, error) {
	r.mu.Lock()
	upTo := r.upTo
	r.mu.Unlock()
	if fromSeq > upTo {
		return nil, nil
	}
	return r.Store.Events(ctx, tenant, fromSeq, int(min(int64(limit), upTo-fromSeq+1)))
}

// benchStore is a SQLite store in the benchmark's directory.
func benchStore(b *testing.B) gateway.Store {
	st, err := store.Open(context.Background(), store.Config{Driver: "sqlite", Path: filepath.Join(b.TempDir(), "s.db")}, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchClient serves tenant "t" of an engine over st on a loopback port
// and returns a client of it; the engine is not started, so nothing is
// sent to a carrier.
func benchClient(b *testing.B, st gateway.Store) pb.MessagingClient {
	table, err := routing.NewTable([]routing.Route{{Prefix: "+254", Carrier: "alpha", Cost: 0.8}, {Prefix: "+", Carrier: "beta", Cost: 2}})
	if err != nil {
		b.Fatal(err)
	}
	router, err := routing.NewRouter(table, routing.Options{Up: func(string) bool { return true }})
	if err != nil {
		b.Fatal(err)
	}
	e, err := gateway.New(gateway.Options{Store: st, Router: router,
		Segment: func(text string) (gateway.Encoding, int, error) { return gateway.EncodingGSM7, 1, nil },
		Tenants: []gateway.Tenant{{ID: "t", DefaultRegion: "KE", Sender: "MFI"}}})
	if err != nil {
		b.Fatal(err)
	}
	srv := grpcapi.New(e, nil, grpcapi.NewKeys(map[string][]string{"t": {key}}, nil), nil, 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	return pb.NewMessagingClient(conn)
}

// processCPU is the user and system CPU the process has used, client and
// server together: on a shared box it is the figure that compares, where
// wall time swings with whatever else runs.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
