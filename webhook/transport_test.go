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
// making 640 calls to one receiver open about one connection each (a few
// more when a dial races a connection going idle: at most twice as many);
// Go's default transport keeps 2 idle per host and opened ~200 here.
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
	if n := opened.Load(); n > 2*callers {
		t.Errorf("%d calls opened %d connections, want at most %d (about one per concurrent caller)", callers*calls, n, 2*callers)
	}
}
