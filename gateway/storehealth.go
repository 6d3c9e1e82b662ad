package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// storeWatch turns a store's write failures (WriteHealth) into what an
// operator sees: an ERROR line at most once a minute while they last (a
// full disk refuses every accept, and each refusal logging would drown the
// log), an INFO line when writes work again, a counter and a gauge, and an
// error from Engine.StoreWritable that /readyz answers with. It has no
// goroutine: the dispatcher's claim loop calls check on every round.
type storeWatch struct {
	health WriteHealth // nil: the store does not say
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	logged  time.Time // last ERROR line
	failing bool      // as of the last check
}

// storeFailingFor is how long after its last failed write the store still
// counts as failing when no write succeeded since (an idle node that hit a
// full disk stays not ready until it writes again, or a minute passes).
const storeFailingFor = time.Minute

// newStoreWatch also registers smsgw_store_optout_database_reads_total for
// a store that keeps its opt-out list in memory (OptOutMemory).
func newStoreWatch(st Store, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) (*storeWatch, error) {
	w := &storeWatch{now: now, log: log}
	w.health, _ = st.(WriteHealth)
	if reg == nil {
		return w, nil
	}
	var cs []prometheus.Collector
	if om, ok := st.(OptOutMemory); ok {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "smsgw_store_optout_database_reads_total",
			Help: "Opt-out checks of accepted messages that read the database because the opt-out list outgrew the store's memory for it (SQLite: store opened with more, or grown past, its in-memory maximum).",
		}, func() float64 { return float64(om.OptOutDatabaseReads()) }))
	}
	if w.health != nil {
		cs = append(cs, w.collectors()...)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return w, nil
}

// collectors are the write failures' metrics.
func (w *storeWatch) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "smsgw_store_commits_total",
			Help: "Write transactions the store committed (SQLite: the writer's; PostgreSQL: this node's writers'). Each costs an fsync: against messages a second, how many messages share one.",
		}, func() float64 { return float64(w.health.Commits()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "smsgw_store_write_failures_total",
			Help: "Store commits that failed for the store's own reasons (disk full, I/O error, lost database connection); every operation in them was refused.",
		}, func() float64 { total, _, _, _ := w.health.WriteFailures(); return float64(total) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smsgw_store_write_failing",
			Help: "1 while the store's writes fail (the node is not ready), else 0.",
		}, func() float64 {
			if w.writable() != nil {
				return 1
			}
			return 0
		}),
	}
}

// writable is nil unless the store's writes are failing now.
func (w *storeWatch) writable() error {
	if w.health == nil {
		return nil
	}
	_, since, lastAt, last := w.health.WriteFailures()
	if since.IsZero() || w.now().Sub(lastAt) > storeFailingFor {
		return nil
	}
	return fmt.Errorf("store writes failing since %s: %w", since.UTC().Format(time.RFC3339), last)
}

// check logs the store's state when it calls for it.
func (w *storeWatch) check() {
	if w.health == nil {
		return
	}
	err := w.writable()
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err != nil && (!w.failing || now.Sub(w.logged) >= time.Minute):
		total, _, _, _ := w.health.WriteFailures()
		w.log.Error("store: writes failing: accepts and receipts are refused (callers retry) until they succeed", "err", err, "failed_commits", total)
		w.logged, w.failing = now, true
	case err == nil && w.failing:
		w.log.Info("store: writes succeed again")
		w.failing = false
	}
}
