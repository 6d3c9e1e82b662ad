package guard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ListenerConfig bounds one listener: how long a client may take and how
// many may be connected at once. Zero fields take the listener's defaults
// (see DefaultHTTP, DefaultKannel, DefaultGRPC).
type ListenerConfig struct {
	// ReadHeaderTimeout ends a connection whose request headers take longer.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout ends a request whose whole body takes longer: a slow
	// body cannot hold a connection for ever.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout ends a request whose answer is not written within this
	// long after its headers were read.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a kept-alive connection with no request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConnections is the most connections served at once; further
	// ones wait in the kernel's accept queue.
	MaxConnections int `yaml:"max_connections"`
	// MaxBodyBytes caps a request body; a larger one is answered 413
	// with the limit (never cut short and half-read).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// The defaults of each listener. Kannel's sendsms bodies are one SMS text,
// so its listener is the tightest; the HTTP listener carries Fineract's
// pages, which stream.
var (
	DefaultHTTP = ListenerConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxConnections: 1024, MaxBodyBytes: 64 << 20}
	DefaultKannel = ListenerConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxConnections: 512, MaxBodyBytes: 1 << 20}
	DefaultGRPC = ListenerConfig{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 15 * time.Minute,
		MaxConnections: 1024, MaxBodyBytes: 4 << 20}
)

// WithDefaults fills the zero fields from d.
func (c ListenerConfig) WithDefaults(d ListenerConfig) ListenerConfig {
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	return c
}

// Validate reports every problem, each naming its key.
func (c ListenerConfig) Validate() []error {
	var errs []error
	names := []string{"read_header_timeout", "read_timeout", "write_timeout", "idle_timeout"}
	for i, d := range []time.Duration{c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must be ≥ 0", names[i]))
		}
	}
	if c.MaxConnections < 0 {
		errs = append(errs, errors.New("max_connections: must be ≥ 0"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("max_body_bytes: must be ≥ 0"))
	}
	return errs
}

// HTTPServer is an http.Server for h with the listener's timeouts.
func (c ListenerConfig) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: 64 << 10}
}

// Listeners counts the connections of every listener it limits; one
// serves the whole gateway, the listener's name a label.
type Listeners struct {
	open    *prometheus.GaugeVec
	waited  *prometheus.CounterVec
	limited *prometheus.GaugeVec
}

// NewListeners registers smsgw_listener_connections,
// smsgw_listener_connections_limit and smsgw_listener_waits_total with reg
// (nil registers none).
func NewListeners(reg prometheus.Registerer) (*Listeners, error) {
	l := &Listeners{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsgw_listener_connections", Help: "Connections open now, by listener.",
		}, []string{"listener"}),
		limited: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsgw_listener_connections_limit", Help: "The most connections a listener serves at once (max_connections).",
		}, []string{"listener"}),
		waited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_listener_waits_total", Help: "Connections that waited to be accepted because the listener was at max_connections.",
		}, []string{"listener"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{l.open, l.limited, l.waited} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("guard: metrics: %w", err)
			}
		}
	}
	return l, nil
}

// Limit serves at most n connections of inner at once (n ≤ 0: no cap):
// Accept waits while n are open, so a flood of idle or slow clients holds
// no more than n file descriptors and goroutines; the rest wait in the
// kernel's backlog.
func (ls *Listeners) Limit(name string, inner net.Listener, n int) net.Listener {
	if ls == nil {
		ls, _ = NewListeners(nil)
	}
	l := &limitListener{Listener: inner, name: name, ls: ls, done: make(chan struct{})}
	if n > 0 {
		l.sem = make(chan struct{}, n)
		ls.limited.WithLabelValues(name).Set(float64(n))
	}
	return l
}

type limitListener struct {
	net.Listener
	name      string
	ls        *Listeners
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	if l.sem != nil {
		select {
		case l.sem <- struct{}{}:
		default:
			l.ls.waited.WithLabelValues(l.name).Inc()
			select {
			case l.sem <- struct{}{}:
			case <-l.done:
				return nil, net.ErrClosed
			}
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		if l.sem != nil {
			<-l.sem
		}
		return nil, err
	}
	l.ls.open.WithLabelValues(l.name).Inc()
	return &limitConn{Conn: c, l: l}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.ls.open.WithLabelValues(c.l.name).Dec()
		if c.l.sem != nil {
			<-c.l.sem
		}
	})
	return err
}
