package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/client"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
	"github.com/openmf/smsgw/smpp/smsc"
)

// apiClient starts a gateway on SQLite bound to a simulator and dials it.
func apiClient(b *testing.B) *client.Client {
	sim := smsc.NewServer(smsc.WithoutRecording())
	b.Cleanup(sim.Close)
	a := apptest.Start(b, apptest.Config(b, sim.Addr(), b.TempDir()))
	c, err := client.Dial(a.GRPCAddr(), apptest.KeyA)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkSend measures durable accepts through gRPC Send over loopback,
// 64 callers, one message per call (client side allocations included).
//
//	go test -run '^$' -bench 'Send' -benchmem ./bench/
func BenchmarkSend(b *testing.B) {
	c := apiClient(b)
	var n atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS callers
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb_ *testing.PB) {
		for pb_.Next() {
			i := n.Add(1)
			if _, err := c.Send(context.Background(), &pb.SendRequest{To: fmt.Sprintf("+2547%08d", i), Text: "Meeting on Tuesday"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSendBatch is BenchmarkSend with 100 messages per SendBatch call,
// so one durable write carries many messages.
func BenchmarkSendBatch(b *testing.B) {
	c := apiClient(b)
	const batch = 100
	var n atomic.Int64
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb_ *testing.PB) {
		for pb_.Next() {
			req := &pb.SendBatchRequest{Messages: make([]*pb.SendRequest, batch)}
			for j := range req.Messages {
				req.Messages[j] = &pb.SendRequest{To: fmt.Sprintf("+2547%08d", n.Add(1)), Text: "Meeting on Tuesday"}
			}
			if _, err := c.SendBatch(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
}
