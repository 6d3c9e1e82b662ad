package grpcapi_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
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
	st, err := store.Open(context.Background(), store.Config{Driver: "sqlite", Path: filepath.Join(b.TempDir(), "s.db")}, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	table, err := routing.NewTable([]routing.Route{{Prefix: "+254", Carrier: "alpha", Cost: 0.8}, {Prefix: "+", Carrier: "beta", Cost: 2}})
	if err != nil {
		b.Fatal(err)
	}
	router, err := routing.NewRouter(table, routing.Options{Up: func(string) bool { return true }})
	if err != nil {
		b.Fatal(err)
	}
	e, err := gateway.New(gateway.Options{Store: &quickStore{Store: st}, Router: router,
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
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
	}()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	cl := pb.NewMessagingClient(conn)

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
