package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/gateway/store/pgtest"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// BenchmarkEndToEnd sends b.N single-part messages through gRPC Send from 64
// concurrent callers and stops the clock when every one is DELIVERED (its
// receipt matched and its event streamed): one node on SQLite, one node on
// PostgreSQL, and three nodes sharing one PostgreSQL database.
//
//	go test -run '^$' -bench EndToEnd -benchtime 20000x ./bench/
func BenchmarkEndToEnd(b *testing.B) {
	b.Run("sqlite-1node", func(b *testing.B) { endToEnd(b, 1, nil, 64, 1) })
	b.Run("postgres-1node", func(b *testing.B) { endToEnd(b, 1, postgres, 64, 1) })
	b.Run("postgres-3nodes", func(b *testing.B) { endToEnd(b, 3, postgres, 64, 1) })
}

// BenchmarkEndToEndBatch is BenchmarkEndToEnd with SendBatch: 8 callers of
// 100 messages per call, as smsbench's max scenario loads the gateway, so
// that the accept path is not what bounds the rate. One node on SQLite.
//
//	go test -run '^$' -bench EndToEndBatch -benchtime 50000x -cpuprofile cpu.out ./bench/
func BenchmarkEndToEndBatch(b *testing.B) {
	endToEnd(b, 1, nil, 8, 100)
}

// processCPU is the user and system CPU time the process has used: per
// message, it is the figure to compare on a shared box, where throughput
// swings with whatever else runs. It counts the whole process: gateway,
// simulated carrier and load together.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func postgres(b *testing.B) store.Config {
	dsn, _ := pgtest.Start(b)
	return store.Config{Driver: store.DriverPostgres, DSN: dsn}
}

// endToEnd sends b.N messages from callers goroutines, batch messages per
// call (1: Send, more: SendBatch), and waits until all are DELIVERED.
func endToEnd(b *testing.B, nodes int, storeFor func(*testing.B) store.Config, callers, batch int) {
	sim := smsc.NewServer(smsc.WithoutRecording(), smsc.WithReceiptDelay(0, time.Millisecond))
	defer sim.Close()
	var shared *store.Config
	if storeFor != nil {
		c := storeFor(b)
		shared = &c
	}
	var clients []*client.Client
	for range nodes {
		cfg := apptest.Config(b, sim.Addr(), b.TempDir())
		if shared != nil {
			cfg.Store = *shared
		}
		a := apptest.StartShared(b, cfg)
		c, err := client.Dial(a.GRPCAddr(), apptest.KeyA)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Any node streams every node's events (LISTEN/NOTIFY on PostgreSQL).
	stream, err := clients[0].StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_STATUS}})
	if err != nil {
		b.Fatal(err)
	}
	var delivered atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			if ev.GetStatus() == pb.Status_STATUS_DELIVERED && delivered.Add(1) == int64(b.N) {
				return
			}
		}
	}()

	b.ResetTimer()
	start := time.Now()
	cpu0 := processCPU(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w%len(clients)]
			for {
				last := next.Add(int64(batch))
				first := last - int64(batch) + 1
				if first > int64(b.N) {
					return
				}
				var reqs []*pb.SendRequest
				for i := first; i <= min(last, int64(b.N)); i++ {
					reqs = append(reqs, &pb.SendRequest{To: fmt.Sprintf("+2547%08d", i%100_000_000), Text: fmt.Sprintf("Meeting reminder %d", i)})
				}
				var err error
				if batch == 1 {
					_, err = c.Send(ctx, reqs[0])
				} else {
					_, err = c.SendBatch(ctx, &pb.SendBatchRequest{Messages: reqs})
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	accepted := time.Since(start)
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d delivered after 10 minutes", delivered.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "delivered/s")
}
