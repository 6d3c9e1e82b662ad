package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// session is one signed-in browser. Its token is only in the browser's
// cookie; the table keys sessions by the token's hash, so a memory dump
// or a log of the table shows no usable token.
type session struct {
	user    User
	csrf    string // every POST carries it in a form field
	created time.Time
	seen    time.Time // last request, for the idle timeout

	mu    sync.Mutex
	flash string // what the last action did, shown once on the next page
}

func (ss *session) setFlash(s string) {
	ss.mu.Lock()
	ss.flash = s
	ss.mu.Unlock()
}

func (ss *session) takeFlash() string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.flash
	ss.flash = ""
	return s
}

// sessions is the table of live sessions. It lives in memory: a restart
// signs everyone out, and each node of a cluster has its own.
type sessions struct {
	now  func() time.Time
	ttl  time.Duration
	idle time.Duration

	mu   sync.Mutex
	byID map[[32]byte]*session
}

// maxSessions bounds the table; past it the oldest session is dropped.
const maxSessions = 10_000

func newSessions(ttl, idle time.Duration, now func() time.Time) *sessions {
	return &sessions{now: now, ttl: ttl, idle: idle, byID: map[[32]byte]*session{}}
}

// randomToken is 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for u and returns its token.
func (s *sessions) create(u User) (string, *session) {
	token := randomToken()
	now := s.now()
	ss := &session{user: u, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if len(s.byID) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for id, o := range s.byID {
			if at.IsZero() || o.created.Before(at) {
				oldest, at = id, o.created
			}
		}
		delete(s.byID, oldest)
	}
	s.byID[sha256.Sum256([]byte(token))] = ss
	return token, ss
}

// get returns the live session of token and marks it used, or nil.
func (s *sessions) get(token string) *session {
	if token == "" {
		return nil
	}
	id := sha256.Sum256([]byte(token))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[id]
	if ss == nil {
		return nil
	}
	if s.expired(ss, now) {
		delete(s.byID, id)
		return nil
	}
	ss.seen = now
	return ss
}

// alive says whether ss is still signed in, without counting as use: an
// open overview alone does not keep a session from its idle timeout.
func (s *sessions) alive(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expired(ss, s.now()) {
		return false
	}
	for _, o := range s.byID {
		if o == ss {
			return true
		}
	}
	return false
}

// end forgets the session of token (sign-out).
func (s *sessions) end(token string) {
	s.mu.Lock()
	delete(s.byID, sha256.Sum256([]byte(token)))
	s.mu.Unlock()
}

// endUsersNotIn forgets every session of a user the config no longer has, or
// whose role or tenant changed: a reload takes effect at once.
func (s *sessions) endUsersNotIn(users map[string]User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ss := range s.byID {
		if u, ok := users[ss.user.Username]; !ok || u != ss.user {
			delete(s.byID, id)
		}
	}
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.created) >= s.ttl || now.Sub(ss.seen) >= s.idle
}

// sweep drops expired sessions; s.mu is held.
func (s *sessions) sweep(now time.Time) {
	for id, ss := range s.byID {
		if s.expired(ss, now) {
			delete(s.byID, id)
		}
	}
}
