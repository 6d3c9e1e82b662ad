package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// BenchmarkEndToEnd sends b.N single-part messages through gRPC Send from 64
// concurrent callers and stops the clock when every one is DELIVERED (its
// receipt matched and its event streamed).
//
//	go test -run '^$' -bench EndToEnd -benchtime 20000x ./bench/
func BenchmarkEndToEnd(b *testing.B) {
	sim := smsc.NewServer(smsc.WithoutRecording(), smsc.WithReceiptDelay(0, time.Millisecond))
	defer sim.Close()
	a := apptest.Start(b, apptest.Config(b, sim.Addr(), b.TempDir()))
	c, err := client.Dial(a.GRPCAddr(), apptest.KeyA)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.StreamEvents(ctx, &pb.StreamEventsRequest{Kinds: []pb.EventKind{pb.EventKind_EVENT_KIND_STATUS}})
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
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				_, err := c.Send(ctx, &pb.SendRequest{To: fmt.Sprintf("+2547%08d", i%100_000_000), Text: fmt.Sprintf("Meeting reminder %d", i)})
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
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d delivered after 5 minutes", delivered.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "delivered/s")
}
