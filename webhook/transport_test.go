package webhook

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestCallsReuseConnections: 32 callers at once (the outbox's concurrency)
// making 640 calls to one receiver open at most 32 connections; Go's
// default transport keeps 2 idle per host and would open one per call
// beyond them.
func TestCallsReuseConnections(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := New(Config{AllowHosts: []string{"127.0.0.1"}}, nil)
	const callers, calls = 32, 20
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range calls {
				if _, err := c.Do(context.Background(), Request{URL: srv.URL + "/dlr"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := opened.Load(); n > callers {
		t.Errorf("%d calls opened %d connections, want at most %d (one per concurrent caller)", callers*calls, n, callers)
	}
}
