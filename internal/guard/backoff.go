package guard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AuthConfig is the `limits.auth` section: how many wrong credentials a
// source address or a user may send before each further attempt waits.
type AuthConfig struct {
	// Free is how many failures in a row it takes before attempts wait:
	// the Free-th failure waits Base; default 5.
	Free int `yaml:"free_failures"`
	// Base is the first back-off, doubled per further failure; default 1s.
	Base time.Duration `yaml:"backoff_base"`
	// Max caps the back-off; default 5m.
	Max time.Duration `yaml:"backoff_max"`
	// Forget drops a source's or user's count after this long without a
	// failure; default 15m.
	Forget time.Duration `yaml:"forget_after"`
}

// The defaults of AuthConfig.
const (
	DefaultAuthFree   = 5
	DefaultAuthBase   = time.Second
	DefaultAuthMax    = 5 * time.Minute
	DefaultAuthForget = 15 * time.Minute
	// maxStrikes bounds the memory the back-off table takes (about 10 MB):
	// past it, quiet entries are dropped, and while every entry is live a
	// new source is not counted (its user still is).
	maxStrikes = 100_000
)

func (c *AuthConfig) setDefaults() {
	if c.Free == 0 {
		c.Free = DefaultAuthFree
	}
	if c.Base == 0 {
		c.Base = DefaultAuthBase
	}
	if c.Max == 0 {
		c.Max = DefaultAuthMax
	}
	if c.Forget == 0 {
		c.Forget = DefaultAuthForget
	}
}

// Validate reports every problem, each naming its key.
func (c *AuthConfig) Validate() []error {
	var errs []error
	if c.Free < 0 {
		errs = append(errs, errors.New("free_failures: must be ≥ 0"))
	}
	if c.Base < 0 || c.Max < c.Base {
		errs = append(errs, errors.New("backoff_max: must be ≥ backoff_base ≥ 0"))
	}
	if c.Forget < 0 {
		errs = append(errs, errors.New("forget_after: must be ≥ 0"))
	}
	return errs
}

// Backoff slows down credential guessing. From Free failures in a row
// from one source address, or against one user, every further attempt
// from it (or for that user) is refused unchecked until a back-off that
// doubles per failure has passed, so guesses cost time whatever the
// password's length. A success clears the user's count; a source's
// count clears itself after Forget of quiet. Refusing at once, instead
// of sleeping, holds no connection or goroutine for the attacker.
//
// One Backoff serves every interface; the interface is a metric label.
type Backoff struct {
	cfg AuthConfig
	now func() time.Time

	mu      sync.Mutex
	strikes map[string]*strike

	failures *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

type strike struct {
	n     int
	last  time.Time
	until time.Time
}

// NewBackoff builds the table; reg takes smsgw_auth_failures_total and
// smsgw_auth_backoff_refused_total (nil registers none); now nil is
// time.Now.
func NewBackoff(cfg AuthConfig, reg prometheus.Registerer, now func() time.Time) (*Backoff, error) {
	cfg.setDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("guard: limits.auth.%w", errors.Join(errs...))
	}
	if now == nil {
		now = time.Now
	}
	b := &Backoff{cfg: cfg, now: now, strikes: map[string]*strike{},
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_auth_failures_total",
			Help: "Calls refused for wrong or missing credentials, by interface.",
		}, []string{"interface"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_auth_backoff_refused_total",
			Help: "Calls refused unchecked because their source address or user is backing off after failed logins, by interface.",
		}, []string{"interface"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{b.failures, b.refused} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("guard: metrics: %w", err)
			}
		}
	}
	return b, nil
}

// Source is the address part of a request's remote address ("ip:port"),
// the key a source backs off by.
func Source(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// BackoffError refuses a call while its source or user backs off.
type BackoffError struct {
	// RetryAfter is how long until the next attempt is checked.
	RetryAfter time.Duration
}

func (e *BackoffError) Error() string {
	return fmt.Sprintf("too many failed logins from this address or for this user; retry in %s", e.RetryAfter.Round(time.Second))
}

// Check says whether a call from source for user may have its credentials
// checked now; the error is a *BackoffError with the wait. user may be
// empty (a key that names no user).
func (b *Backoff) Check(iface, source, user string) error {
	now := b.now()
	b.mu.Lock()
	wait := time.Duration(0)
	for _, k := range keys(source, user) {
		if s := b.strikes[k]; s != nil && s.until.After(now) {
			wait = max(wait, s.until.Sub(now))
		}
	}
	b.mu.Unlock()
	if wait > 0 {
		b.refused.WithLabelValues(iface).Inc()
		return &BackoffError{RetryAfter: wait}
	}
	return nil
}

// Fail records wrong credentials from source for user.
func (b *Backoff) Fail(iface, source, user string) {
	b.failures.WithLabelValues(iface).Inc()
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys(source, user) {
		s := b.strikes[k]
		if s == nil {
			if len(b.strikes) >= maxStrikes {
				b.sweep(now)
			}
			if len(b.strikes) >= maxStrikes {
				continue // full of live entries: the user's count still applies
			}
			s = &strike{}
			b.strikes[k] = s
		}
		if now.Sub(s.last) > b.cfg.Forget {
			s.n = 0
		}
		s.n++
		s.last = now
		if over := s.n - b.cfg.Free; over >= 0 {
			d := b.cfg.Base << min(over, 30)
			if d <= 0 || d > b.cfg.Max {
				d = b.cfg.Max
			}
			s.until = now.Add(d)
		}
	}
}

// Pass records a successful login: the user's count starts again (the
// source's does not, so one valid account does not shield guesses at
// others from the same address).
func (b *Backoff) Pass(user string) {
	if user == "" {
		return
	}
	b.mu.Lock()
	delete(b.strikes, "user:"+user)
	b.mu.Unlock()
}

// sweep drops the entries quiet for longer than Forget and no longer
// backing off; b.mu is held.
func (b *Backoff) sweep(now time.Time) {
	for k, s := range b.strikes {
		if now.Sub(s.last) > b.cfg.Forget && !s.until.After(now) {
			delete(b.strikes, k)
		}
	}
}

func keys(source, user string) []string {
	out := []string{"src:" + source}
	if user != "" {
		out = append(out, "user:"+user)
	}
	return out
}

// Guard puts a handler that checks credentials itself (a provider's signed
// webhook) under the back-off: a source backing off is answered 429 with
// Retry-After before h runs, and every 401 or 403 h answers counts as a
// failure of that source.
func (b *Backoff) Guard(iface string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := Source(r.RemoteAddr)
		if err := b.Check(iface, src, ""); err != nil {
			var be *BackoffError
			errors.As(err, &be)
			w.Header().Set("Retry-After", strconv.Itoa(int(be.RetryAfter.Seconds()+0.999)))
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			return
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		if sw.code == http.StatusUnauthorized || sw.code == http.StatusForbidden {
			b.Fail(iface, src, "")
		}
	})
}

// statusWriter remembers the status code a handler answered.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
