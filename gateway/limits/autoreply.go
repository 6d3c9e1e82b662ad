package limits

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// AutoReplyConfig is `limits.auto_reply`: how many automatic replies
// (HELP, STOP/START confirmations, keyword replies, Kannel sms-service
// answers) one number, and one tenant, may get per Window. Over either,
// the inbound message is still stored and published; only the reply is
// skipped (and counted).
type AutoReplyConfig struct {
	// PerNumber is the replies one number may get per window; default 5,
	// negative for no limit.
	PerNumber int `yaml:"per_number"`
	// PerTenant is the replies all of a tenant's numbers may get per
	// window; default 1000, negative for no limit.
	PerTenant int `yaml:"per_tenant"`
	// Window is the period the counts are per; default 1h. The budget
	// refills evenly over it (a token bucket), so a number that used its
	// five gets one more every 12 minutes.
	Window time.Duration `yaml:"window"`
}

// The defaults of AutoReplyConfig: a person asking for HELP or changing
// their mind about STOP needs a few replies an hour, never hundreds.
const (
	DefaultRepliesPerNumber = 5
	DefaultRepliesPerTenant = 1000
	DefaultReplyWindow      = time.Hour
	// maxNumbers bounds the per-number table (a few MB): past it the
	// numbers whose budget is full again are dropped, and while every
	// entry is live a new number gets no reply.
	maxNumbers = 100_000
)

// SetDefaults fills the zero fields.
func (c *AutoReplyConfig) SetDefaults() {
	if c.PerNumber == 0 {
		c.PerNumber = DefaultRepliesPerNumber
	}
	if c.PerTenant == 0 {
		c.PerTenant = DefaultRepliesPerTenant
	}
	if c.Window == 0 {
		c.Window = DefaultReplyWindow
	}
}

// Validate reports every problem, each naming its key.
func (c *AutoReplyConfig) Validate() []error {
	if c.Window < 0 {
		return []error{errors.New("window: must be > 0")}
	}
	return nil
}

// Replies rate-limits automatic replies per (tenant, number) and per
// tenant. It is safe for concurrent use.
type Replies struct {
	cfg AutoReplyConfig
	now func() time.Time

	mu       sync.Mutex
	byNumber map[string]*rate.Limiter
	byTenant map[string]*rate.Limiter

	skipped *prometheus.CounterVec
}

// NewReplies builds the limiter; reg takes
// smsgw_auto_replies_skipped_total (nil registers none); now nil is
// time.Now.
func NewReplies(cfg AutoReplyConfig, reg prometheus.Registerer, now func() time.Time) (*Replies, error) {
	cfg.SetDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("limits: auto_reply.%w", errors.Join(errs...))
	}
	if now == nil {
		now = time.Now
	}
	r := &Replies{cfg: cfg, now: now, byNumber: map[string]*rate.Limiter{}, byTenant: map[string]*rate.Limiter{},
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_auto_replies_skipped_total",
			Help: "Automatic replies (HELP, STOP/START confirmations, keyword and sms-service answers) not sent because the number or the tenant was over limits.auto_reply, by tenant and limit.",
		}, []string{"tenant", "limit"}),
	}
	if reg != nil {
		if err := reg.Register(r.skipped); err != nil {
			return nil, fmt.Errorf("limits: metrics: %w", err)
		}
	}
	return r, nil
}

func (r *Replies) limiter(n int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(float64(n)/r.cfg.Window.Seconds()), n)
}

// Allow takes one reply to number from the tenant's budgets, or says which
// budget is spent ("number" or "tenant") and counts the skipped reply.
func (r *Replies) Allow(tenant, number string) (ok bool, limit string) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.PerNumber > 0 {
		key := tenant + "\x00" + number
		l := r.byNumber[key]
		if l == nil {
			if len(r.byNumber) >= maxNumbers {
				r.sweep(now)
			}
			if len(r.byNumber) >= maxNumbers {
				r.skipped.WithLabelValues(tenant, "number").Inc()
				return false, "number"
			}
			l = r.limiter(r.cfg.PerNumber)
			r.byNumber[key] = l
		}
		if !l.AllowN(now, 1) {
			r.skipped.WithLabelValues(tenant, "number").Inc()
			return false, "number"
		}
	}
	if r.cfg.PerTenant > 0 {
		l := r.byTenant[tenant]
		if l == nil {
			l = r.limiter(r.cfg.PerTenant)
			r.byTenant[tenant] = l
		}
		if !l.AllowN(now, 1) {
			r.skipped.WithLabelValues(tenant, "tenant").Inc()
			return false, "tenant"
		}
	}
	return true, ""
}

// sweep drops the numbers whose budget has refilled: forgetting them
// changes nothing. r.mu is held.
func (r *Replies) sweep(now time.Time) {
	for k, l := range r.byNumber {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(r.byNumber, k)
		}
	}
}
