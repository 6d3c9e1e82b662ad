package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// ErrClosed is returned by every method of a store after Close, so a caller
// racing shutdown gets a clear answer instead of a database error. It is a
// gateway.ErrUnavailable: the request may succeed on another node or after
// a restart.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string { return "store: closed" }

// Is makes ErrClosed a gateway.ErrUnavailable without changing its text.
func (closedError) Is(target error) bool { return target == gateway.ErrUnavailable }

// Defaults applied by Open to zero Options fields.
const (
	// DefaultLeaseDuration is long enough for a slow carrier window to drain
	// and short enough that work held by a hung dispatcher is retried soon.
	DefaultLeaseDuration = 60 * time.Second
	// DefaultMaxBatch bounds one group commit: large enough to share an fsync
	// among many callers, small enough to keep a transaction short.
	DefaultMaxBatch = 512
	// DefaultBindSlotPoll bounds how long a freed bind slot stays unused
	// while another node waits for one; each try is one cheap query.
	DefaultBindSlotPoll = 500 * time.Millisecond
	// DefaultOptOutsInMemory bounds the SQLite store's opt-out list in
	// memory (about 70 bytes a number: 7 MB) far above an MFI's tens of
	// thousands of opt-outs; a longer list is read from the database.
	DefaultOptOutsInMemory = 100_000
)

// Options are the process-side settings of a store that do not belong in the
// configuration file.
type Options struct {
	// Logger receives open/migration information. Nil discards.
	Logger *slog.Logger
	// Now is the store's clock for created/updated times and event times.
	// Nil means time.Now. Claim takes its own now from the caller.
	Now func() time.Time
	// LeaseDuration is how long Claim leases a message. Zero means
	// DefaultLeaseDuration.
	LeaseDuration time.Duration
	// MaxBatch is the most write operations the SQLite store commits in
	// one transaction. Zero means DefaultMaxBatch.
	MaxBatch int
	// BindSlotPoll is how often a PostgreSQL store waiting in
	// AcquireBindSlot tries the carrier's slots again. Zero means
	// DefaultBindSlotPoll.
	BindSlotPoll time.Duration
	// EventTail is how many of the newest events the SQLite store keeps
	// in memory, so that followers near the head of the log read them
	// without SQLite. Zero means DefaultEventTail.
	EventTail int
	// OptOutsInMemory is the most opt-outs (numbers, all tenants) the
	// SQLite store keeps in memory to answer OptedOut without reading the
	// database; above it every OptedOut reads the database until the store
	// is opened again. Zero means DefaultOptOutsInMemory.
	OptOutsInMemory int
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.EventTail <= 0 {
		o.EventTail = DefaultEventTail
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.OptOutsInMemory <= 0 {
		o.OptOutsInMemory = DefaultOptOutsInMemory
	}
	if o.BindSlotPoll <= 0 {
		o.BindSlotPoll = DefaultBindSlotPoll
	}
	return o
}

// Open returns the store cfg selects, ready for use: the database exists and
// its schema is migrated to this build's version. A SQLite store clears the
// leases of the previous process (it is the only one); a PostgreSQL store
// clears nothing, since other nodes may be alive, and also implements
// gateway.BindSlots and gateway.EventNotifier. ctx bounds the opening only.
func Open(ctx context.Context, cfg Config, opts Options) (gateway.Store, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("store: invalid config: %w", errors.Join(errs...))
	}
	if cfg.driver() == DriverPostgres {
		return openPostgres(ctx, cfg.DSN, opts.withDefaults())
	}
	return openSQLite(ctx, cfg.Path, cfg.journal(), opts.withDefaults())
}
