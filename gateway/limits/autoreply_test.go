package limits

import (
	"strconv"
	"testing"
	"time"
)

func TestRepliesRefillAndIsolation(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r, err := NewReplies(AutoReplyConfig{PerNumber: 2, PerTenant: 3, Window: time.Hour}, nil, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	allow := func(tenant, number string) string {
		ok, limit := r.Allow(tenant, number)
		if ok {
			return "ok"
		}
		return limit
	}
	for i, want := range []string{"ok", "ok", "number"} {
		if got := allow("a", "+1"); got != want {
			t.Fatalf("reply %d to +1: %s, want %s", i, got, want)
		}
	}
	if got := allow("b", "+1"); got != "ok" {
		t.Fatalf("another tenant's budget for the same number: %s", got)
	}
	if got := allow("a", "+2"); got != "ok" {
		t.Fatalf("tenant a's third reply: %s", got)
	}
	if got := allow("a", "+3"); got != "tenant" {
		t.Fatalf("tenant a's fourth reply: %s, want the tenant's limit", got)
	}
	now = now.Add(30 * time.Minute) // one reply per number refills; 1.5 of the tenant's
	if got := allow("a", "+1"); got != "ok" {
		t.Fatalf("after half the window: %s", got)
	}
	if got := allow("a", "+1"); got != "number" {
		t.Fatalf("the refill is one reply: %s", got)
	}
	if _, err := NewReplies(AutoReplyConfig{Window: -time.Second}, nil, nil); err == nil {
		t.Fatal("a negative window was accepted")
	}
	off, _ := NewReplies(AutoReplyConfig{PerNumber: -1, PerTenant: -1}, nil, nil)
	for range 100 {
		if ok, _ := off.Allow("a", "+1"); !ok {
			t.Fatal("negative limits must not limit")
		}
	}
}

func TestRepliesTableBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r, _ := NewReplies(AutoReplyConfig{PerNumber: 1, PerTenant: -1}, nil, func() time.Time { return now })
	for i := range maxNumbers + 10 {
		r.Allow("a", strconv.Itoa(i))
	}
	if n := len(r.byNumber); n > maxNumbers {
		t.Fatalf("%d numbers kept, cap %d", n, maxNumbers)
	}
	now = now.Add(2 * time.Hour) // every budget is full again: all can go
	if ok, _ := r.Allow("a", "new"); !ok || len(r.byNumber) != 1 {
		t.Fatalf("after the sweep: ok=%v, %d numbers kept", ok, len(r.byNumber))
	}
}
