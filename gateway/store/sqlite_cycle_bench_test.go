//go:build unix

package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/smstext"
)

// BenchmarkWriterCycle pushes messages through their whole life on the
// SQLite writer in fixed batches, 64 single-part messages per iteration:
// one Accept of 64, one Claim, 64 RecordSubmits of one part each queued
// into one batch (as the dispatcher's workers record them), and one
// RecordReceipts of 64 (as a carrier connection hands them over); client
// refs are random, as many clients make them (the Go client's are
// time-ordered); carrier ids are decimal. Its
// cpu-µs/msg is the process's CPU time (user and system, getrusage) per
// message: the writer's work, nearly all of it, without the fsync waits,
// and far less sensitive than throughput to whatever else runs on the box.
func BenchmarkWriterCycle(b *testing.B) {
	s := openTest(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	const n = 64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for i := range b.N {
		msgs := make([]*gateway.Message, n)
		for j := range msgs {
			msgs[j] = &gateway.Message{Tenant: "t1", ClientRef: uuid.NewString(), From: "MFI",
				To: "+254700000001", Text: "Your loan repayment of KES 1,200 is due on 5 May.",
				Encoding: gateway.EncodingGSM7, Parts: []gateway.Part{{Index: 0}}}
		}
		if _, err := s.Accept(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		claimed, err := s.Claim(ctx, time.Now(), n)
		if err != nil || len(claimed) != n {
			b.Fatalf("Claim: %d, %v", len(claimed), err)
		}
		release := blockWriter(b, s)
		var wg sync.WaitGroup
		for j, m := range claimed {
			wg.Go(func() {
				err := s.RecordSubmits(ctx, []gateway.SubmitRecord{{MessageID: m.ID, Carrier: "c1",
					CarrierID: carrierID(i, j), Cost: 0.8, Currency: "KES"}})
				if err != nil {
					b.Error(err)
				}
			})
		}
		waitQueued(b, s, n)
		release()
		wg.Wait()
		rs := make([]gateway.Receipt, n)
		for j := range rs {
			id := carrierID(i, j)
			rs[j] = gateway.Receipt{Carrier: "c1", CarrierID: id, AltIDs: smstext.AltIDs(id, smstext.IDAuto),
				Status: gateway.StatusDelivered, State: "DELIVRD"}
		}
		if matched, err := s.RecordReceipts(ctx, rs); err != nil || matched.Matched != n {
			b.Fatalf("RecordReceipts: %+v, %v", matched, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N*n), "cpu-µs/msg")
}

// carrierID is the id the carrier gives message j of iteration i: decimal,
// as many carriers' are, so its receipt carries the other readings an SMPP
// bind with the default id base (auto) adds.
func carrierID(i, j int) string {
	return strconv.Itoa(1_000_000_000 + i*64 + j)
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAcceptJournal is BenchmarkAccept with the accept journal on and
// off, with the latency callers see (p50, p99) and the process's CPU per
// message, the inserts the journal leaves to the writer included (the
// clock stops once the database has every message).
func BenchmarkAcceptJournal(b *testing.B) {
	for _, journal := range []bool{false, true} {
		b.Run(fmt.Sprintf("journal=%v", journal), func(b *testing.B) {
			st, err := Open(context.Background(), Config{Path: filepath.Join(b.TempDir(), "bench.db"), Journal: &journal}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var (
				mu   sync.Mutex
				lats []time.Duration
			)
			b.SetParallelism(parallelism())
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				var mine []time.Duration
				for pb.Next() {
					m := &gateway.Message{Tenant: "t1", From: "MFI", To: "+254700000001",
						Text: "Your loan repayment of KES 1,200 is due on 5 May.", Encoding: gateway.EncodingGSM7,
						Parts: []gateway.Part{{Index: 0}}}
					t0 := time.Now()
					if _, err := st.Accept(ctx, []*gateway.Message{m}); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lats = append(lats, mine...)
				mu.Unlock()
			})
			if n, err := st.Backlog(context.Background()); err != nil || n != int64(b.N) {
				b.Fatalf("backlog %d (%v), want %d", n, err, b.N)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "accepts/s")
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
			slices.Sort(lats)
			b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
