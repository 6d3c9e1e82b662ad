package fineract_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/openmf/smsgw/fineract"
	"github.com/openmf/smsgw/fineract/fakefineract"
)

// TestFindClientFormattedNumbers: Fineract keeps mobile numbers as typed;
// the one LIKE search finds every formatting, and only numbers that are
// the sender's count.
func TestFindClientFormattedNumbers(t *testing.T) {
	_, srv := fakeFineract(t)
	c := newClient(t, srv, 5*time.Second, nil)
	r := newResponder(t, c, nil)
	for _, tt := range []struct{ from, stored, want string }{
		{"+254712345678", "0712 345 678", "Jane"}, // Halima's +255 712 345 678 has the same digits
		{"+254723000777", "+254-723-000-777", "Lucy"},
		{"+254734000888", "(0734) 000-888", "Daniel"},
		{"+254745000999", "00254745000999", "Faith"},
		{"+254767000222", "0767.000.222", "Joseph"},
		{"+254733000222", "254733000222", "Mary"},
		{"+254722000111", "0722000111", "Peter"},
		{"+254790000444", "0790 000 444", "Esther"}, // not Tom's +254 790 000 4449, nor Alice's account 790000444
		{"+254778000333", "0778 000 333 and +254 778-000-333", ""},
		{"+254799999999", "nowhere", ""},
	} {
		t.Run(tt.stored, func(t *testing.T) {
			cl, err := r.FindClient(context.Background(), tt.from)
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("FindClient(%s) = %s, want none", tt.from, cl.DisplayName)
			case tt.want != "" && (err != nil || cl.Firstname != tt.want):
				t.Errorf("FindClient(%s) = %v, %v, want %s", tt.from, cl, err, tt.want)
			}
		})
	}

	// The searches above did meet the near misses, and left them out.
	for pattern, want := range map[string][]int64{
		"7%1%2%3%4%5%6%7%8": {1, 18},      // Jane, Halima in Tanzania
		"7%9%0%0%0%0%4%4%4": {15, 16, 17}, // Tom's longer number, Alice's account number, Esther
		"7%7%8%0%0%0%3%3%3": {13, 14},     // Anne and Paul: both count, so neither is answered
	} {
		hits, err := c.Search(context.Background(), pattern, false)
		var ids []int64
		for _, h := range hits {
			ids = append(ids, h.EntityID)
		}
		if err != nil || !slices.Equal(ids, want) {
			t.Errorf("Search(%s) = %v, %v, want clients %v", pattern, ids, err, want)
		}
	}
}

// olderFineract answers like a Fineract that sends neither entityMobileNo
// in search results nor depositType in account lists.
type olderFineract struct{ fineract.Fineract }

func (o olderFineract) Search(ctx context.Context, q string, exact bool) ([]fineract.SearchResult, error) {
	hits, err := o.Fineract.Search(ctx, q, exact)
	for i := range hits {
		hits[i].EntityMobileNo = ""
	}
	return hits, err
}

func (o olderFineract) Accounts(ctx context.Context, id int64) (*fineract.ClientAccounts, error) {
	a, err := o.Fineract.Accounts(ctx, id)
	if a != nil {
		for i := range a.SavingsAccounts {
			a.SavingsAccounts[i].DepositType = nil
		}
	}
	return a, err
}

// TestOlderFineract: without entityMobileNo the client's own mobileNo
// decides; without depositType every savings entry counts as savings.
func TestOlderFineract(t *testing.T) {
	fake, srv := fakeFineract(t)
	r := newResponder(t, olderFineract{newClient(t, srv, 5*time.Second, nil)}, nil)
	for _, tt := range []struct{ from, want string }{
		{"+254712345678", "Dear Jane, savings balance: Passbook Savings *0001: KES 1,234.50."},
		{"+254722000111", "Dear Peter, savings balance: Passbook Savings *0002: KES 15,000.00; School Fees Savings *0003: KES 2,500.75."},
		{"+254790000444", "Dear Esther, you have no active savings account."},
	} {
		if got, _, err := r.Answer(context.Background(), fineract.KeywordBalance, tt.from); err != nil || got != tt.want {
			t.Errorf("Answer(BAL, %s) = %q, %v, want %q", tt.from, got, err, tt.want)
		}
	}
	// Halima (18), Tom (15) and Alice (16) were read to learn their numbers.
	var read []string
	for _, q := range fake.Requests() {
		if strings.HasPrefix(q.Path, "/v1/clients/") && !strings.HasSuffix(q.Path, "/accounts") {
			read = append(read, q.Path)
		}
	}
	if want := []string{"/v1/clients/1", "/v1/clients/18", "/v1/clients/2", "/v1/clients/15", "/v1/clients/16", "/v1/clients/17"}; !slices.Equal(read, want) {
		t.Errorf("client reads %q, want %q", read, want)
	}
}

// TestBalanceSavingsOnly: savingsAccounts[] holds Daniel's savings account
// and his fixed deposit; BAL reads and lists only the savings account.
func TestBalanceSavingsOnly(t *testing.T) {
	fake, srv := fakeFineract(t)
	c := newClient(t, srv, 5*time.Second, nil)
	accts, err := c.Accounts(context.Background(), 10)
	if err != nil || len(accts.SavingsAccounts) != 2 || accts.SavingsAccounts[1].DepositType == nil || accts.SavingsAccounts[1].DepositType.ID != 200 {
		t.Fatalf("Daniel's accounts: %+v, %v; want a savings account and a fixed deposit (depositType 200)", accts, err)
	}
	got, outcome, err := newResponder(t, c, nil).Answer(context.Background(), fineract.KeywordBalance, "+254734000888")
	if want := "Dear Daniel, savings balance: Passbook Savings *0010: KES 800.00."; err != nil || got != want || outcome != fineract.OutcomeAnswered {
		t.Fatalf("Answer = %q, %s, %v, want %q", got, outcome, err, want)
	}
	for _, q := range fake.Requests() {
		if strings.HasSuffix(q.Path, "/11") {
			t.Errorf("read the fixed deposit: %s", q.Path)
		}
	}
}

// clientDoc is a minimal GET /v1/clients/{id} answer.
func clientDoc(id int, first, mobile string) *fstest.MapFile {
	return &fstest.MapFile{Data: fmt.Appendf(nil,
		`{"id": %d, "accountNo": "%09d", "status": {"id": 300, "code": "clientStatusType.active", "value": "Active"}, "active": true, "firstname": %q, "displayName": "%s Test", "mobileNo": %q}`,
		id, id, first, first, mobile)}
}

// TestFindClientSearchLimit: Fineract returns at most 50 results. When the
// LIKE search fills them the client may be past the cut, so the exact
// forms are searched too; the warning masks the number.
func TestFindClientSearchLimit(t *testing.T) {
	for _, tt := range []struct {
		name, stored string
		found        bool
	}{
		{"stored unformatted: the exact search finds it", "+254712345678", true},
		{"stored formatted: missed, as documented", "0712 345 678", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for i := 1; i <= 50; i++ { // longer numbers holding the digits, listed first
				fsys[fmt.Sprintf("clients/%d.json", i)] = clientDoc(i, "Noise", fmt.Sprintf("0712 345 678 %02d", i))
			}
			fsys["clients/51.json"] = clientDoc(51, "Jane", tt.stored)
			fake, err := fakefineract.New(fsys)
			if err != nil {
				t.Fatal(err)
			}
			srv := newServer(t, fake)
			var logs bytes.Buffer
			texts, _ := fineract.NewTexts(fineract.TextConfig{})
			r, err := fineract.NewResponder(fineract.ResponderOptions{
				Fineract: newClient(t, srv, 5*time.Second, nil), Texts: texts, Region: "KE",
				Log: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			cl, err := r.FindClient(context.Background(), "+254712345678")
			if tt.found != (err == nil) || (err == nil && cl.ID != 51) {
				t.Fatalf("FindClient = %v, %v; want found=%v", cl, err, tt.found)
			}
			var searches []string
			for _, q := range fake.Requests() {
				if q.Path == "/v1/search" {
					searches = append(searches, q.Query)
				}
			}
			want := []string{
				"exactMatch=false&query=7%251%252%253%254%255%256%257%258&resource=clients",
				"exactMatch=true&query=%2B254712345678&resource=clients",
				"exactMatch=true&query=0712345678&resource=clients",
				"exactMatch=true&query=254712345678&resource=clients",
			}
			if !slices.Equal(searches, want) {
				t.Errorf("searches\n  %q\nwant\n  %q", searches, want)
			}
			if l := logs.String(); !strings.Contains(l, "maximum of results") || !strings.Contains(l, "+2547*****678") || strings.Contains(l, "12345") {
				t.Errorf("log %q: want the warning with the number masked", l)
			}
		})
	}
}
