package server_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/app"
	smppserver "github.com/openmf/smsgw/smpp/server"
	"github.com/openmf/smsgw/smpp/smsc"
)

// BenchmarkSubmitWithReceipts sends b.N submit_sm through the server on
// one transceiver bind, window 100, and waits until every one is accepted,
// carried to the simulated carrier and its receipt delivered back and
// acknowledged. It reports submits/s and the CPU per message of the whole
// process: gateway, SQLite store, carrier simulator and this ESME.
//
//	go test -run '^$' -bench SubmitWithReceipts -benchtime 5000x ./smpp/server/
func BenchmarkSubmitWithReceipts(b *testing.B) {
	const window = 100
	acc := account(b)
	acc.Window = window
	_, _, addr := startGatewayWith(b, smppserver.Config{Accounts: []smppserver.Account{acc}}, app.Options{},
		smsc.WithoutRecording(), smsc.WithReceiptDelay(0, 0))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	bind := pdu.NewBindRequest(pdu.Transceiver)
	bind.SystemID, bind.Password = "bank", "secret"
	w := bufio.NewWriter(conn)
	write := func(p pdu.PDU) {
		buf := pdu.NewBuffer(nil)
		p.Marshal(buf)
		_, _ = w.Write(buf.Bytes())
	}
	write(bind)
	_ = w.Flush()
	r := bufio.NewReader(conn)
	if resp, err := pdu.Parse(r); err != nil || resp.GetHeader().CommandStatus != data.ESME_ROK {
		b.Fatalf("bind: %v %v", err, resp)
	}

	sm := submitSM(b, "254712345678", text(b, "Your repayment of KES 1,500 was received. Thank you."))
	buf := pdu.NewBuffer(nil)
	sm.Marshal(buf)
	frame := buf.Bytes()

	slots := make(chan struct{}, window)
	var accepted, refused, receipts atomic.Int64
	acks := make(chan []byte, 4096)
	done := make(chan struct{})
	go func() { // the reader: frees a window slot per answer, acknowledges receipts
		defer close(done)
		hdr := make([]byte, 16)
		for receipts.Load() < int64(b.N) {
			if _, err := io.ReadFull(r, hdr); err != nil {
				return
			}
			n := binary.BigEndian.Uint32(hdr)
			if _, err := r.Discard(int(n) - 16); err != nil {
				return
			}
			switch binary.BigEndian.Uint32(hdr[4:]) {
			case 0x80000004:
				if binary.BigEndian.Uint32(hdr[8:]) == 0 {
					accepted.Add(1)
				} else {
					refused.Add(1)
				}
				<-slots
			case 0x00000005:
				resp := make([]byte, 17)
				binary.BigEndian.PutUint32(resp, 17)
				binary.BigEndian.PutUint32(resp[4:], 0x80000005)
				copy(resp[12:16], hdr[12:16])
				acks <- resp
				receipts.Add(1)
			}
		}
	}()
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		select {
		case slots <- struct{}{}:
		case <-done:
			b.Fatalf("the connection ended after %d submits", i)
		}
		binary.BigEndian.PutUint32(frame[12:], uint32(i+1))
		_, _ = w.Write(frame)
	drain:
		for {
			select {
			case a := <-acks:
				_, _ = w.Write(a)
			default:
				break drain
			}
		}
		if len(slots) == window || i == b.N-1 {
			_ = w.Flush()
		}
	}
	_ = w.Flush()
	for {
		select {
		case a := <-acks:
			_, _ = w.Write(a)
			_ = w.Flush()
			continue
		case <-done:
		case <-time.After(10 * time.Millisecond):
			if receipts.Load() < int64(b.N) {
				continue
			}
		}
		break
	}
	b.StopTimer()
	elapsed := time.Since(start)
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	if refused.Load() > 0 || receipts.Load() < int64(b.N) {
		b.Fatalf("%d accepted, %d refused, %d receipts of %d", accepted.Load(), refused.Load(), receipts.Load(), b.N)
	}
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "submits/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}
