package store

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/store/pgtest"
)

// parallelism is the concurrency the store is measured at: about 64
// goroutines calling at once (SetParallelism multiplies GOMAXPROCS).
func parallelism() int { return max(1, 64/maxProcs()) }

// BenchmarkAccept is the durable accept path: one single-part message per
// call from ~64 concurrent callers, each call returning after its fsync'd
// group commit.
func BenchmarkAccept(b *testing.B) {
	benchAccept(b, openTest(b, filepath.Join(b.TempDir(), "bench.db")))
}

// BenchmarkPostgresAccept is BenchmarkAccept on the PostgreSQL store.
func BenchmarkPostgresAccept(b *testing.B) {
	benchAccept(b, openPG(b, pgtest.NewDatabase(b), Options{}))
}

func benchAccept(b *testing.B, s gateway.Store) {
	b.SetParallelism(parallelism())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
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

// BenchmarkReceipts records one final receipt per call for parts submitted
// beforehand, from ~64 concurrent callers: the lookup by (carrier, carrier
// id), the part and message updates and the DELIVERED event.
func BenchmarkReceipts(b *testing.B) {
	benchReceipts(b, openTest(b, filepath.Join(b.TempDir(), "bench.db")))
}

// BenchmarkPostgresReceipts is BenchmarkReceipts on the PostgreSQL store.
func BenchmarkPostgresReceipts(b *testing.B) {
	benchReceipts(b, openPG(b, pgtest.NewDatabase(b), Options{}))
}

func benchReceipts(b *testing.B, s gateway.Store) {
	ctx := context.Background()
	const chunk = 500
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		msgs := make([]*gateway.Message, n)
		for i := range msgs {
			msgs[i] = &gateway.Message{Tenant: "t1", From: "MFI", To: "+254700000001", Text: "hi",
				Encoding: gateway.EncodingGSM7, Parts: []gateway.Part{{Index: 0}}}
		}
		if _, err := s.Accept(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		recs := make([]gateway.SubmitRecord, n)
		for i, m := range msgs {
			recs[i] = gateway.SubmitRecord{MessageID: m.ID, Carrier: "c1", CarrierID: fmt.Sprintf("id-%d", done+i),
				Cost: 0.8, Currency: "KES"}
		}
		if err := s.RecordSubmits(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(parallelism())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("id-%d", next.Add(1)-1)
			n, err := s.RecordReceipts(ctx, []gateway.Receipt{{Carrier: "c1", CarrierID: id,
				Status: gateway.StatusDelivered, State: "DELIVRD"}})
			if err != nil || n.Matched != 1 {
				b.Errorf("RecordReceipts(%s) = %+v, %v", id, n, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "receipts/s")
}

// BenchmarkSubmits records one submitted part per call, from ~64
// concurrent callers, for messages accepted beforehand: the part update, the
// message's totals and SUBMITTED status, the attempt row and the event.
func BenchmarkSubmits(b *testing.B) {
	s := openTest(b, filepath.Join(b.TempDir(), "bench.db"))
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

func maxProcs() int { return runtime.GOMAXPROCS(0) }
