package httpapi

import (
	"context"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/provider"
)

// Options wires the HTTP listener.
type Options struct {
	// Gatherer is the registry whose metrics /metrics exposes.
	Gatherer prometheus.Gatherer
	// Ready says why the gateway cannot send now, or nil when it can.
	Ready func() error
	// Webhooks are cloud providers' callbacks by carrier name, served at
	// /webhooks/{name}/.
	Webhooks map[string]http.Handler
	// Routes are further handlers by ServeMux pattern ("POST /sms"):
	// interfaces served on this listener, such as Fineract's
	// message-gateway API.
	Routes map[string]http.Handler
	// Limits bound the listener (timeouts, body size); zero fields take
	// guard.DefaultHTTP. The connection cap is the listener's own (see
	// guard.Listeners.Limit).
	Limits guard.ListenerConfig
	// CORSOrigins are the browser origins allowed to call; none by default
	// (guard.CORS).
	CORSOrigins []string
	// Auth, when set, puts the provider webhooks under the failed-login
	// back-off: their wrong signatures and tokens (401, 403) count.
	Auth *guard.Backoff
}

// Server is the HTTP listener.
type Server struct {
	http *http.Server
}

// New builds the listener's handler tree.
func New(opts Options) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := opts.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	for name, h := range opts.Webhooks {
		if opts.Auth != nil {
			h = opts.Auth.Guard("webhook", h)
		}
		provider.Mount(mux, name, h)
	}
	for pattern, h := range opts.Routes {
		mux.Handle(pattern, h)
	}
	lim := opts.Limits.WithDefaults(guard.DefaultHTTP)
	return &Server{http: lim.HTTPServer(guard.CORS(opts.CORSOrigins, http.MaxBytesHandler(mux, lim.MaxBodyBytes)))}
}

// Handler exposes the handler tree for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Serve answers requests on l until Stop.
func (s *Server) Serve(l net.Listener) error {
	if err := s.http.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Stop finishes running requests within ctx.
func (s *Server) Stop(ctx context.Context) error { return s.http.Shutdown(ctx) }
