package guard

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// CORS answers cross-origin browser requests explicitly. None of the
// gateway's APIs is meant for browsers, and a web page must not be able to
// make a visitor's browser send SMS (Kannel's sendsms takes credentials in
// the URL): a request carrying an Origin not in allowed is refused with 403
// and a reason, before any handler acts on it, and a preflight (OPTIONS
// with Access-Control-Request-Method) is answered without acting, allowed
// or refused. Requests without an Origin (servers, curl, Fineract) pass, and
// so do same-origin ones, whose Origin names the host they were sent to
// (the web console's own forms; browsers send Origin on every POST).
func CORS(allowed []string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || sameHost(origin, r.Host) {
			h.ServeHTTP(w, r)
			return
		}
		ok := slices.ContainsFunc(allowed, func(a string) bool { return a == "*" || strings.EqualFold(a, origin) })
		if !ok {
			http.Error(w, "cross-origin requests are refused: origin "+clip(origin)+" is not in limits.cors_origins", http.StatusForbidden)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Fineract-Platform-TenantId, Fineract-Tenant-App-Key")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// sameHost says whether origin ("scheme://host:port") names host, the
// request's Host header. A page cannot forge its Origin, so a match is a
// request from a page this listener served.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
