package app

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// pprofRoutes are Go's profiler endpoints, open to admin keys only: a
// profile shows what a node does and costs it CPU while it runs.
func (a *App) pprofRoutes() map[string]http.Handler {
	guard := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !a.keys.Admin(key) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="smsgw admin"`)
				http.Error(w, "the profiler needs an admin key: Authorization: Bearer <admin key>", http.StatusUnauthorized)
				return
			}
			h(w, r)
		})
	}
	return map[string]http.Handler{
		"GET /debug/pprof/":        guard(pprof.Index),
		"GET /debug/pprof/cmdline": guard(pprof.Cmdline),
		"GET /debug/pprof/profile": guard(pprof.Profile),
		"GET /debug/pprof/symbol":  guard(pprof.Symbol),
		"GET /debug/pprof/trace":   guard(pprof.Trace),
	}
}
