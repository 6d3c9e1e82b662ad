package kannel

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/keyword"
)

// fakeEngine accepts everything but numbers containing "999" (refused as
// a bad "to"); tenant "busy" is over its quota. It records what it stored
// and the tasks enqueued.
type fakeEngine struct {
	mu       sync.Mutex
	ready    bool
	accepted []gateway.SendRequest
	tasks    []gateway.Task
	keys     map[string]bool
	inbound  map[string]*gateway.Inbound
	keywords *keyword.Table
	// noReplies are numbers over the auto-reply limit.
	noReplies map[string]bool
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{ready: true, keys: map[string]bool{},
		inbound: map[string]*gateway.Inbound{}}
}

func (f *fakeEngine) Accept(_ context.Context, tenant string, reqs []gateway.SendRequest) ([]gateway.AcceptOutcome, error) {
	if tenant == "busy" {
		return nil, &gateway.QuotaError{Tenant: tenant, RetryAfter: time.Second}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]gateway.AcceptOutcome, len(reqs))
	for i, r := range reqs {
		switch {
		case strings.Contains(r.To, "999"):
			out[i].Err = &gateway.FieldError{Field: "to", Reason: "not a phone number"}
			continue
		case strings.HasPrefix(r.To, "+881"): // the fraud controls' high-risk range
			id := fmt.Sprintf("msg-%d", len(f.accepted))
			f.accepted = append(f.accepted, r)
			out[i] = gateway.AcceptOutcome{ID: id, Status: gateway.StatusRejected, Parts: 1}
			continue
		case r.Binary != nil && len(r.Binary.UDH)+len(r.Binary.Data) == 0:
			out[i].Err = &gateway.FieldError{Field: "binary", Reason: "is empty"}
			continue
		case r.Binary == nil && r.Text == "":
			out[i].Err = &gateway.FieldError{Field: "text", Reason: "is empty"}
			continue
		}
		id := fmt.Sprintf("msg-%d", len(f.accepted))
		f.accepted = append(f.accepted, r)
		out[i] = gateway.AcceptOutcome{ID: id, Status: gateway.StatusAccepted, Parts: 1}
	}
	return out, nil
}

func (f *fakeEngine) GetInbound(_ context.Context, _, id string) (*gateway.Inbound, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inbound[id]
	if !ok {
		return nil, gateway.ErrNotFound
	}
	return in, nil
}

func (f *fakeEngine) Keywords() *keyword.Table { return f.keywords }

func (f *fakeEngine) EnqueueTasks(_ context.Context, tasks []gateway.Task) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range tasks {
		if f.keys[t.Key] {
			continue
		}
		f.keys[t.Key] = true
		f.tasks = append(f.tasks, t)
		n++
	}
	return n, nil
}

func (f *fakeEngine) Follow(ctx context.Context, _ string, _ gateway.EventKind, _ func(context.Context, []gateway.Event) error) error {
	<-ctx.Done()
	return ctx.Err()
}

// AllowAutoReply allows a number noReplies does not hold.
func (f *fakeEngine) AllowAutoReply(_, number string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.noReplies[number]
}

func (f *fakeEngine) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}
