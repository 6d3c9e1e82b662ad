package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmf/smsgw/client"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// followEvents streams the tenant's status events into on until ctx ends,
// resuming after the last sequence number when the stream breaks (a
// gateway restart mid-run loses no event). It starts at the oldest event
// kept: ids the run did not send are ignored by the recorder. It follows
// StreamEventBatches, as a client following many messages would, and
// StreamEvents when the gateway predates it.
func followEvents(ctx context.Context, c *client.Client, on func(id string, st pb.Status, at time.Time)) error {
	var next int64
	batches := true
	kinds := []pb.EventKind{pb.EventKind_EVENT_KIND_STATUS}
	for ctx.Err() == nil {
		recv, err := openEvents(ctx, c, batches, &pb.StreamEventsRequest{FromSeq: next, Kinds: kinds})
		for err == nil {
			var evs []*pb.Event
			if evs, err = recv(); err == nil {
				now := time.Now()
				for _, ev := range evs {
					next = ev.GetSeq() + 1
					on(ev.GetMessageId(), ev.GetStatus(), now)
				}
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unimplemented:
			if batches {
				batches = false
				continue
			}
			return err
		case codes.Unauthenticated, codes.PermissionDenied:
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// openEvents opens r as a StreamEventBatches stream (batches) or a
// StreamEvents one; each call of recv returns the next event or events.
func openEvents(ctx context.Context, c *client.Client, batches bool, r *pb.StreamEventsRequest) (recv func() ([]*pb.Event, error), err error) {
	if batches {
		s, err := c.StreamEventBatches(ctx, &pb.StreamEventBatchesRequest{FromSeq: r.GetFromSeq(), Kinds: r.GetKinds()})
		if err != nil {
			return nil, err
		}
		return func() ([]*pb.Event, error) {
			b, err := s.Recv()
			return b.GetEvents(), err
		}, nil
	}
	s, err := c.StreamEvents(ctx, r)
	if err != nil {
		return nil, err
	}
	return func() ([]*pb.Event, error) {
		ev, err := s.Recv()
		if err != nil {
			return nil, err
		}
		return []*pb.Event{ev}, nil
	}, nil
}

// procSample is the gateway process's CPU time and resident memory, as its
// own /metrics exposes them (the Prometheus process collector), so the
// same code measures an in-process and an external gateway.
type procSample struct {
	cpuSeconds float64
	rssBytes   float64
}

// scrapeProcess reads process_cpu_seconds_total and
// process_resident_memory_bytes from a Prometheus text exposition.
func scrapeProcess(ctx context.Context, hc *http.Client, url string) (procSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return procSample{}, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := hc.Do(req)
	if err != nil {
		return procSample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return procSample{}, errors.New("bench: metrics: " + resp.Status)
	}
	return parseProcess(resp.Body)
}

func parseProcess(r io.Reader) (procSample, error) {
	var s procSample
	found := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "process_cpu_seconds_total":
			dst = &s.cpuSeconds
		case "process_resident_memory_bytes":
			dst = &s.rssBytes
		default:
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			continue
		}
		*dst = v
		found++
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if found < 2 {
		return s, errors.New("bench: metrics: no process_cpu_seconds_total or process_resident_memory_bytes (process collector not registered?)")
	}
	return s, nil
}

// readProcs sums the CPU time and resident memory of pids from
// /proc/<pid>/stat: utime and stime in clock ticks (USER_HZ, 100 on every
// Linux build that matters; Go cannot ask sysconf without cgo) and rss in
// pages.
func readProcs(pids []int) (procSample, error) {
	var s procSample
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return s, fmt.Errorf("bench: gateway pid %d: %w", pid, err)
		}
		// The command name (field 2) may hold spaces and parentheses:
		// the fields that follow start after its last ')'.
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if i < 0 || len(f) < 22 {
			return s, fmt.Errorf("bench: gateway pid %d: /proc/%d/stat has %d fields after the name, want 22 or more", pid, pid, len(f))
		}
		utime, err1 := strconv.ParseFloat(f[11], 64) // field 14
		stime, err2 := strconv.ParseFloat(f[12], 64) // field 15
		rss, err3 := strconv.ParseFloat(f[21], 64)   // field 24
		if err := errors.Join(err1, err2, err3); err != nil {
			return s, fmt.Errorf("bench: gateway pid %d: /proc/%d/stat: %w", pid, pid, err)
		}
		s.cpuSeconds += (utime + stime) / userHZ
		s.rssBytes += rss * float64(os.Getpagesize())
	}
	return s, nil
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat.
const userHZ = 100
