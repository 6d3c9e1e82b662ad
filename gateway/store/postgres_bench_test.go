package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store/pgtest"
)

// PostgreSQL benchmarks beside sqlite_bench_test.go's (BenchmarkPostgresAccept
// and BenchmarkPostgresReceipts are there, next to their SQLite forms).

// BenchmarkPostgresSubmits is BenchmarkSubmits on the PostgreSQL store: one
// submitted part per call from ~64 callers.
func BenchmarkPostgresSubmits(b *testing.B) {
	s := openPG(b, pgtest.NewDatabase(b), Options{})
	ctx := context.Background()
	ids := make([]string, 0, b.N)
	const chunk = 500
	for done := 0; done < b.N; done += chunk {
		msgs := make([]*gateway.Message, min(chunk, b.N-done))
		for i := range msgs {
			msgs[i] = &gateway.Message{Tenant: "t1", From: "MFI", To: "+254700000001", Text: "hi",
				Encoding: gateway.EncodingGSM7, Parts: []gateway.Part{{Index: 0}}}
		}
		if _, err := s.Accept(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
	}
	var next atomic.Int64
	b.SetParallelism(parallelism())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			err := s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: ids[i], Carrier: "c1",
				CarrierID: fmt.Sprintf("id-%d", i), Cost: 0.8, Currency: "KES"}})
			if err != nil {
				b.Errorf("RecordSubmits(%s): %v", ids[i], err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submits/s")
}

// BenchmarkPostgresAcceptTwoNodes is BenchmarkPostgresAccept with the ~64
// callers split between two stores (two nodes) on one database: each node
// group-commits its own callers, and the two share PostgreSQL.
func BenchmarkPostgresAcceptTwoNodes(b *testing.B) {
	dsn := pgtest.NewDatabase(b)
	nodes := []*pgStore{openPG(b, dsn, Options{}), openPG(b, dsn, Options{})}
	var caller atomic.Int64
	b.SetParallelism(parallelism())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		s := nodes[caller.Add(1)%2]
		ctx := context.Background()
		for pb.Next() {
			m := &gateway.Message{Tenant: "t1", From: "MFI", To: "+254700000001",
				Text: "Your loan repayment of KES 1,200 is due on 5 May.", Encoding: gateway.EncodingGSM7,
				Parts: []gateway.Part{{Index: 0}}}
			if _, err := s.Accept(ctx, []*gateway.Message{m}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "accepts/s")
}
