//go:build soak

package messagegateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmf/smsgw/httpapi/messagegateway"
)

// TestHugePageRSS posts one 100,000-item page (a triggered campaign) to a
// real gateway with its SQLite store, streaming the body from a generator
// as Fineract's client would send it, and samples the process's resident
// memory until the 202. The gateway stores the page chunk by chunk, so the
// growth stays bounded (docs/fineract.md quotes the figure); the whole
// page decoded at once took the resident set from 30 to 624 MB. Run by
// make soak; SMSGW_SOAK_N changes the count.
func TestHugePageRSS(t *testing.T) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SMSGW_SOAK_N")); err == nil && v > 0 {
		n = v
	}
	f := start(t)
	before := rss(t)
	var peak atomic.Int64
	peak.Store(before)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if r := rss(t); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()

	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	w := bufio.NewWriter(c)
	fmt.Fprintf(w, "POST /sms HTTP/1.1\r\nAccept: text/plain, application/json, application/*+json, */*\r\nContent-Type: application/json\r\n"+
		"%s: default\r\n%s: %s\r\nUser-Agent: Java/17.0.10\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n",
		messagegateway.HeaderTenantID, messagegateway.HeaderAppKey, keyA, f.addr)
	cw := &chunked{w: w}
	io.WriteString(cw, "[")
	for i := range n {
		if i > 0 {
			io.WriteString(cw, ",")
		}
		fmt.Fprintf(cw, `{"internalId":%d,"tenantId":"default","mobileNumber":"07%08d","message":"Dear client, your loan repayment of KES 1,500 is due on Friday 05 March. Thank you.","providerId":1}`, 1_000_000+i, i)
	}
	io.WriteString(cw, "]")
	cw.flush()
	w.WriteString("0\r\n\r\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	resp := readResponse(t, c)
	took := time.Since(start)
	close(stop)
	<-sampled
	if !strings.HasPrefix(resp, "HTTP/1.1 202") || !strings.Contains(resp, fmt.Sprintf(`"accepted":%d`, n)) {
		t.Fatalf("answer %q", resp)
	}
	grown := (peak.Load() - before) >> 20
	t.Logf("%d items stored in %v (%.0f/s); resident set %d MiB before, peak %d MiB (+%d MiB) while the page streamed in",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), before>>20, peak.Load()>>20, grown)
	if grown > 128 {
		t.Errorf("resident set grew by %d MiB, want ≤ 128 MiB (the bound docs/fineract.md states)", grown)
	}
}

// chunked writes HTTP/1.1 chunks of up to 32 KiB, as a streaming client does.
type chunked struct {
	w   *bufio.Writer
	buf []byte
}

func (c *chunked) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	if len(c.buf) >= 32<<10 {
		c.flush()
	}
	return len(p), nil
}

func (c *chunked) flush() {
	if len(c.buf) == 0 {
		return
	}
	fmt.Fprintf(c.w, "%x\r\n%s\r\n", len(c.buf), c.buf)
	c.buf = c.buf[:0]
}

func readResponse(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Minute))
	r := bufio.NewReader(c)
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || strings.HasPrefix(line, "{") {
			return b.String()
		}
	}
}

// rss is this process's resident set in bytes (Linux).
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
