package console

import (
	"testing"
	"time"
)

// A session ends at its idle timeout and at its lifetime whatever its
// use, and when its user leaves the config or changes.
func TestSessionExpiry(t *testing.T) {
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	s := newSessions(time.Hour, 10*time.Minute, func() time.Time { return now })
	u := User{Username: "noc", Role: Operator}
	token, ss := s.create(u)
	if s.get(token) != ss || s.get("other") != nil || s.get("") != nil {
		t.Fatal("get does not find exactly the session of its token")
	}
	now = now.Add(9 * time.Minute)
	if s.get(token) == nil {
		t.Fatal("used within the idle timeout, yet ended")
	}
	now = now.Add(9*time.Minute + 59*time.Second)
	if !s.alive(ss) {
		t.Fatal("alive within the idle timeout says no")
	}
	now = now.Add(time.Second)
	if s.alive(ss) || s.get(token) != nil {
		t.Fatal("idle for 10m, yet alive")
	}
	// Used every 5 minutes, a session still ends an hour after sign-in.
	now = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	token, _ = s.create(u)
	for range 11 {
		now = now.Add(5 * time.Minute)
		if s.get(token) == nil {
			t.Fatalf("ended at %s, before its hour", now)
		}
	}
	now = now.Add(5 * time.Minute)
	if s.get(token) != nil {
		t.Fatal("alive past session_ttl")
	}
	// A reload that changes the user's role ends their sessions; others stay.
	token, _ = s.create(u)
	other, _ := s.create(User{Username: "ops", Role: Viewer})
	s.endUsersNotIn(map[string]User{"noc": {Username: "noc", Role: Viewer}, "ops": {Username: "ops", Role: Viewer}})
	if s.get(token) != nil || s.get(other) == nil {
		t.Fatal("a reload did not end exactly the changed user's session")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/messages?status=FAILED": "/console/messages?status=FAILED",
		"https://evil.example/":           "/console/overview",
		"//evil.example/console/":         "/console/overview",
		"/console/\\evil":                 "/console/overview",
		"/metrics":                        "/console/overview",
		"":                                "/console/overview",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
