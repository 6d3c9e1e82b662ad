package fineract_test

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/fineract/fakefineract"
)

// fakeFineract serves testdata/ the way Fineract would, until the test ends.
func fakeFineract(t *testing.T) (*fakefineract.Server, *httptest.Server) {
	t.Helper()
	fake, err := fakefineract.New(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	return fake, newServer(t, fake)
}

// newServer serves fake on 127.0.0.1 until the test ends.
func newServer(t *testing.T, fake *fakefineract.Server) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Close) // runs first: releases hanging requests
	return srv
}

func newClient(t *testing.T, srv *httptest.Server, timeout time.Duration, m *fineract.Metrics) *fineract.Client {
	t.Helper()
	c, err := fineract.NewClient(fineract.ClientConfig{
		BaseURL: srv.URL + fakefineract.BasePath, Tenant: "default",
		Username: "mifos", Password: "password", Timeout: timeout,
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newResponder(t *testing.T, fc fineract.Fineract, m *fineract.Metrics) *fineract.Responder {
	t.Helper()
	texts, err := fineract.NewTexts(fineract.TextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := fineract.NewResponder(fineract.ResponderOptions{Fineract: fc, Texts: texts, Region: "KE", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const refusal = "Sorry, we cannot give account information to this number. Please contact your branch."

// TestAnswers checks the exact reply for each case the fixtures hold.
func TestAnswers(t *testing.T) {
	_, srv := fakeFineract(t)
	r := newResponder(t, newClient(t, srv, 5*time.Second, nil), nil)
	for _, tt := range []struct {
		name    string
		kw      fineract.Keyword
		from    string
		want    string
		outcome string
	}{
		{"BAL, stored as 0712 345 678", fineract.KeywordBalance, "+254712345678",
			"Dear Jane, savings balance: Passbook Savings *0001: KES 1,234.50.", fineract.OutcomeAnswered},
		{"DUE", fineract.KeywordDue, "+254712345678",
			"Dear Jane, Biashara Loan *0011: KES 2,750.00 due 10 Apr 2025.", fineract.OutcomeAnswered},
		{"several savings, stored in national format, closed account left out", fineract.KeywordBalance, "+254722000111",
			"Dear Peter, savings balance: Passbook Savings *0002: KES 15,000.00; School Fees Savings *0003: KES 2,500.75.", fineract.OutcomeAnswered},
		{"several loans, one overdue", fineract.KeywordDue, "+254722000111",
			"Dear Peter, Biashara Loan *0012: KES 4,250.00 due 5 Jan 2025, overdue KES 4,250.00; Asset Loan *0013: KES 2,250.00 due 15 Mar 2025.", fineract.OutcomeAnswered},
		{"stored without +, only a closed loan", fineract.KeywordDue, "+254733000222",
			"Dear Mary, you have no active loan.", fineract.OutcomeNoAccount},
		{"no savings", fineract.KeywordBalance, "+254788000666",
			"Dear Ruth, you have no active savings account.", fineract.OutcomeNoAccount},
		{"unknown number", fineract.KeywordBalance, "+254799999999", refusal, fineract.OutcomeRefused},
		{"closed client", fineract.KeywordBalance, "+254744000333", refusal, fineract.OutcomeRefused},
		{"two clients share the number", fineract.KeywordBalance, "+254755000444", refusal, fineract.OutcomeRefused},
		{"the number is another client's external id", fineract.KeywordDue, "+254766000555", refusal, fineract.OutcomeRefused},
		{"not a phone number", fineract.KeywordBalance, "22555", refusal, fineract.OutcomeRefused},
		{"BAL leaves the fixed deposit out", fineract.KeywordBalance, "+254734000888",
			"Dear Daniel, savings balance: Passbook Savings *0010: KES 800.00.", fineract.OutcomeAnswered},
		{"two clients, each number formatted its own way", fineract.KeywordBalance, "+254778000333", refusal, fineract.OutcomeRefused},
		{"the digits also in a longer number and an account number", fineract.KeywordBalance, "+254790000444",
			"Dear Esther, you have no active savings account.", fineract.OutcomeNoAccount},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, outcome, err := r.Answer(context.Background(), tt.kw, tt.from)
			if err != nil || got != tt.want || outcome != tt.outcome {
				t.Errorf("Answer(%s, %s) =\n  %q, %s, %v\nwant\n  %q, %s", tt.kw, tt.from, got, outcome, err, tt.want, tt.outcome)
			}
		})
	}
}

// TestLookupRequests: one LIKE search on the number's digits finds the
// client however the number is formatted; every request carries the
// tenant header and Basic auth.
func TestLookupRequests(t *testing.T) {
	fake, srv := fakeFineract(t)
	r := newResponder(t, newClient(t, srv, 5*time.Second, nil), nil)
	if _, _, err := r.Answer(context.Background(), fineract.KeywordBalance, "+254722000111"); err != nil {
		t.Fatal(err)
	}
	var searches, paths []string
	for _, q := range fake.Requests() {
		if q.Tenant != "default" || q.User != "mifos" || q.Auth != "basic" || q.Status != 200 || q.Method != "GET" {
			t.Errorf("request %+v", q)
		}
		if q.Path == "/v1/search" {
			searches = append(searches, q.Query)
		} else {
			paths = append(paths, q.Path)
		}
	}
	want := []string{"exactMatch=false&query=7%252%252%250%250%250%251%251%251&resource=clients"} // 7%2%2%0%0%0%1%1%1
	if !slices.Equal(searches, want) {
		t.Errorf("searches\n  %q\nwant\n  %q", searches, want)
	}
	if want := []string{"/v1/clients/2", "/v1/clients/2/accounts", "/v1/savingsaccounts/2", "/v1/savingsaccounts/3"}; !slices.Equal(paths, want) {
		t.Errorf("reads %q, want %q", paths, want)
	}
}

// TestFineractDown: a 5xx, a timeout and a refused connection all give the
// try-again-later text and count as Fineract errors.
func TestFineractDown(t *testing.T) {
	const later = "Sorry, we cannot reach your account right now. Please try again later."
	for _, tt := range []struct {
		name   string
		fault  fakefineract.Fault
		result string
	}{
		{"500 on search", fakefineract.Fault{Status: 500}, "server_error"},
		{"503 on loans only", fakefineract.Fault{Status: 503, Path: "/v1/loans"}, "server_error"},
		{"timeout", fakefineract.Fault{Hang: true}, "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake, srv := fakeFineract(t)
			fake.SetFault(tt.fault)
			reg := prometheus.NewPedanticRegistry()
			m := fineract.NewMetrics(reg)
			// A short timeout so the hanging case ends quickly; nothing
			// asserts how long anything took. The others get a long one:
			// a busy machine must not turn their first, answered request
			// into a timeout.
			timeout := 5 * time.Second
			if tt.fault.Hang {
				timeout = 100 * time.Millisecond
			}
			r := newResponder(t, newClient(t, srv, timeout, m), m)
			got, outcome, err := r.Answer(context.Background(), fineract.KeywordDue, "+254712345678")
			if err != nil || got != later || outcome != fineract.OutcomeUnavailable {
				t.Fatalf("Answer = %q, %s, %v", got, outcome, err)
			}
			ep := "search"
			if tt.fault.Path == "/v1/loans" {
				ep = "loans"
			}
			if v, n := counter(t, reg, "smsgw_fineract_errors_total", map[string]string{"endpoint": ep}); v != 1 || n != 1 {
				t.Errorf("errors_total{endpoint=%s} = %v in %d series, want 1 in 1", ep, v, n)
			}
			if v, _ := counter(t, reg, "smsgw_fineract_requests_total", map[string]string{"endpoint": ep, "result": tt.result}); v != 1 {
				t.Errorf("requests_total{endpoint=%s,result=%s} = %v, want 1", ep, tt.result, v)
			}
			if v, _ := counter(t, reg, "smsgw_fineract_replies_total", map[string]string{"keyword": "due", "outcome": "unavailable"}); v != 1 {
				t.Errorf("replies_total{outcome=unavailable} = %v", v)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		_, srv := fakeFineract(t)
		c := newClient(t, srv, 5*time.Second, nil)
		srv.Close()
		got, outcome, err := newResponder(t, c, nil).Answer(context.Background(), fineract.KeywordBalance, "+254712345678")
		if err != nil || got != later || outcome != fineract.OutcomeUnavailable {
			t.Fatalf("Answer = %q, %s, %v", got, outcome, err)
		}
		if _, err := c.Search(context.Background(), "x", true); !errors.Is(err, fineract.ErrUnavailable) {
			t.Fatalf("Search on a closed server: %v, want ErrUnavailable", err)
		}
		// The error is logged: the number searched (in the URL's query)
		// must not be in it.
		_, err = c.Search(context.Background(), "+254712345678", true)
		if !errors.Is(err, fineract.ErrUnavailable) || strings.Contains(err.Error(), "254712345678") || strings.Contains(err.Error(), "query") {
			t.Fatalf("Search on a closed server: %v, want ErrUnavailable without the query", err)
		}
	})
}

// counter reads the counter with exactly these labels from reg (0 when
// there is none); series reports how many series the family has.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (value float64, series int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		series = len(mf.GetMetric())
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, labels) {
				value = m.GetCounter().GetValue()
			}
		}
	}
	return value, series
}

// TestAuthErrors: wrong credentials are not "unknown number" (that would
// tell every client they are not registered); they answer try-again-later.
func TestAuthErrors(t *testing.T) {
	fake, srv := fakeFineract(t)
	fake.Password = "other"
	c := newClient(t, srv, 5*time.Second, nil)
	_, err := c.Search(context.Background(), "+254712345678", true)
	var apiErr *fineract.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || errors.Is(err, fineract.ErrUnavailable) ||
		!strings.Contains(err.Error(), "Invalid authentication details") {
		t.Fatalf("Search with a wrong password: %v", err)
	}
	got, outcome, err := newResponder(t, c, nil).Answer(context.Background(), fineract.KeywordBalance, "+254712345678")
	if err != nil || outcome != fineract.OutcomeUnavailable || got == refusal {
		t.Fatalf("Answer = %q, %s, %v", got, outcome, err)
	}
	if _, err := c.Client(context.Background(), 99); err == nil {
		t.Fatal("no error")
	}
	fake.Password = "password"
	if _, err := c.Client(context.Background(), 99); !errors.Is(err, fineract.ErrNotFound) {
		t.Fatalf("missing client: %v, want ErrNotFound", err)
	}
}

// TestCanceled: a lookup interrupted by shutdown is not answered (the
// event will be handled again), rather than told "try again later".
func TestCanceled(t *testing.T) {
	_, srv := fakeFineract(t)
	r := newResponder(t, newClient(t, srv, time.Minute, nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Answer(ctx, fineract.KeywordBalance, "+254712345678"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Answer after cancel: %v, want context.Canceled", err)
	}
}
