package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openmf/smsgw/app/apptest"
	"github.com/openmf/smsgw/smpp/smsc"
)

// TestPProfNeedsAnAdminKey: the profiler is off unless admin.pprof is set,
// and then answers admin keys only.
func TestPProfNeedsAnAdminKey(t *testing.T) {
	sim := smsc.NewServer()
	t.Cleanup(sim.Close)
	get := func(addr, key string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/debug/pprof/", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	off := apptest.Start(t, apptest.Config(t, sim.Addr(), t.TempDir()))
	if code, _ := get(off.HTTPAddr(), apptest.AdminKey); code != http.StatusNotFound {
		t.Errorf("profiler without admin.pprof: %d, want 404", code)
	}
	cfg := apptest.Config(t, sim.Addr(), t.TempDir())
	cfg.Admin.PProf = true
	on := apptest.Start(t, cfg)
	for _, key := range []string{"", apptest.KeyA, "not-a-key"} {
		if code, _ := get(on.HTTPAddr(), key); code != http.StatusUnauthorized {
			t.Errorf("profiler with key %q: %d, want 401", key, code)
		}
	}
	if code, body := get(on.HTTPAddr(), apptest.AdminKey); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("profiler with the admin key: %d, want 200 and the profile index", code)
	}
}
