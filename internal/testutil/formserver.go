package testutil

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// FormServer is an httptest server standing in for an HTTP API that takes
// form posts (the cloud SMS providers'): it parses each request's form,
// hands the request to a check that reports what is wrong with it, records
// the form and answers.
type FormServer struct {
	*httptest.Server
	// Answer, when set, answers the requests instead of the default
	// answer. Set it before the requests it should answer are sent.
	Answer func(w http.ResponseWriter, r *http.Request)

	tb    testing.TB
	check func(r *http.Request)
	def   http.HandlerFunc
	mu    sync.Mutex
	forms []url.Values
}

// NewFormServer starts a FormServer, closed when the test ends. check
// reports (with tb.Errorf) what is wrong with a request, its form already
// parsed; def is the answer while Answer is nil.
func NewFormServer(tb testing.TB, check func(r *http.Request), def http.HandlerFunc) *FormServer {
	f := &FormServer{tb: tb, check: check, def: def}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	return f
}

func (f *FormServer) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.tb.Errorf("form: %v", err)
	}
	f.check(r)
	f.mu.Lock()
	f.forms = append(f.forms, r.PostForm)
	f.mu.Unlock()
	if f.Answer != nil {
		f.Answer(w, r)
		return
	}
	f.def(w, r)
}

// Requests are the forms received so far, in order.
func (f *FormServer) Requests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.forms...)
}
