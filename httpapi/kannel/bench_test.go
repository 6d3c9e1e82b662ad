package kannel

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/webhook"
)

// BenchmarkSendsms is the HTTP side of a Kannel sendsms with a dlr-url
// (query parsing, authentication, charset, answer), with an engine that
// only records the request: what the interface adds per message on top of
// the engine (run with -benchmem for its allocation budget).
func BenchmarkSendsms(b *testing.B) {
	auth, err := guard.NewBackoff(guard.AuthConfig{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(testConfig(), newFakeEngine(), webhook.New(webhook.Config{AllowHosts: []string{"127.0.0.1"}}, nil),
		Options{Auth: auth})
	if err != nil {
		b.Fatal(err)
	}
	q := url.Values{"username": {"tester"}, "password": {"foobar"}, "to": {"+254712000001"}, "from": {"MFI-A"},
		"text": {"Your loan repayment of KES 1,200 is due on 5 May."}, "dlr-mask": {"3"},
		"dlr-url": {"http://127.0.0.1:9999/dlr?id=%I&type=%d&to=%p"}}
	target := "/cgi-bin/sendsms?" + q.Encode()
	h := s.Handler()
	b.ReportAllocs()
	for range b.N {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.RemoteAddr = "127.0.0.1:40000"
		h.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatalf("answer %d %s", w.Code, w.Body)
		}
	}
}
