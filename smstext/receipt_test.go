package smstext

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func date(y, mo, d, h, mi, s int) time.Time {
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC)
}

func TestParseReceipt(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ReceiptFields
	}{
		{
			name: "appendix B",
			in:   "id:0123456789 sub:001 dlvrd:001 submit date:2507011230 done date:2507011231 stat:DELIVRD err:000 text:Your loan repayment",
			want: ReceiptFields{ID: "0123456789", Sub: "001", Dlvrd: "001", Stat: "DELIVRD", Err: "000", Text: "Your loan repayment",
				SubmitDate: date(2025, 7, 1, 12, 30, 0), DoneDate: date(2025, 7, 1, 12, 31, 0)},
		},
		{
			name: "keys in capitals, any order, seconds",
			in:   "Stat:UNDELIV ID:abc Err:001 Done Date:250701123145 Submit Date:250701123001 Text:hi",
			want: ReceiptFields{ID: "abc", Stat: "UNDELIV", Err: "001", Text: "hi",
				SubmitDate: date(2025, 7, 1, 12, 30, 1), DoneDate: date(2025, 7, 1, 12, 31, 45)},
		},
		{
			name: "extra spaces and underscores",
			in:   "  id : 77   sub:1  dlvrd:1 submit_date:2507011230  done_date :2507011231   stat:  EXPIRED   err:  ",
			want: ReceiptFields{ID: "77", Sub: "1", Dlvrd: "1", Stat: "EXPIRED",
				SubmitDate: date(2025, 7, 1, 12, 30, 0), DoneDate: date(2025, 7, 1, 12, 31, 0)},
		},
		{
			name: "only id and stat",
			in:   "id:5 stat:DELIVRD",
			want: ReceiptFields{ID: "5", Stat: "DELIVRD"},
		},
		{
			name: "text takes the rest of the line, keys included",
			in:   "id:9 stat:DELIVRD text:id:1 stat:REJECTD err:5\nid:ignored",
			want: ReceiptFields{ID: "9", Stat: "DELIVRD", Text: "id:1 stat:REJECTD err:5"},
		},
		{
			name: "unparseable dates are zero",
			in:   "id:9 submit date:2513011230 done date:tomorrow stat:DELIVRD",
			want: ReceiptFields{ID: "9", Stat: "DELIVRD"},
		},
		{
			name: "first of a repeated key wins",
			in:   "id:1 id:2 stat:DELIVRD",
			want: ReceiptFields{ID: "1", Stat: "DELIVRD"},
		},
		{
			name: "NUL terminated, key not after a space is text",
			in:   "id:abc-def stat:ACCEPTD xerr:4\x00",
			want: ReceiptFields{ID: "abc-def", Stat: "ACCEPTD xerr:4"},
		},
		{
			name: "CRLF",
			in:   "id:1 stat:DELIVRD text:hello\r\n",
			want: ReceiptFields{ID: "1", Stat: "DELIVRD", Text: "hello"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReceipt(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseReceipt:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseReceiptNoID(t *testing.T) {
	for _, in := range []string{"", "stat:DELIVRD", "id: stat:DELIVRD", "text:id:5", "xid:5", "identity:5"} {
		if _, err := ParseReceipt(in); !errors.Is(err, ErrNoReceiptID) {
			t.Errorf("ParseReceipt(%q) err = %v, want ErrNoReceiptID", in, err)
		}
	}
}

func TestReceiptRoundTrip(t *testing.T) {
	f := ReceiptFields{ID: "0123456789", Sub: "001", Dlvrd: "001", Stat: "DELIVRD", Err: "000", Text: "Your loan",
		SubmitDate: date(2025, 7, 1, 12, 30, 0), DoneDate: date(2025, 7, 1, 12, 31, 9)}
	got := formatReceipt(f)
	want := "id:0123456789 sub:001 dlvrd:001 submit date:2507011230 done date:250701123109 stat:DELIVRD err:000 text:Your loan"
	if got != want {
		t.Errorf("formatReceipt =\n%s\nwant\n%s", got, want)
	}
	for _, f := range []ReceiptFields{f, {ID: "x"}, {ID: "a b", Text: "id:zz"}, {ID: "1", Stat: "REJECTD", Err: "0x0b"}} {
		back, err := ParseReceipt(formatReceipt(f))
		if err != nil || back != f {
			t.Errorf("round trip %+v -> %+v, %v", f, back, err)
		}
	}
}

func FuzzParseReceipt(f *testing.F) {
	f.Add("id:0123456789 sub:001 dlvrd:001 submit date:2507011230 done date:2507011231 stat:DELIVRD err:000 text:hi")
	f.Add("ID : x stat:UNDELIV text:")
	f.Add("id:")
	f.Add("submit_date:250701123001 id:\x00")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseReceipt(in)
		if err != nil {
			return
		}
		if r.ID == "" {
			t.Fatal("no error but empty id")
		}
		// What we parsed, formatted and parsed again, is stable.
		r2, err := ParseReceipt(formatReceipt(r))
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if r2.ID != r.ID || r2.Stat != r.Stat || r2.Err != r.Err {
			t.Fatalf("reparse changed %+v to %+v", r, r2)
		}
	})
}

func BenchmarkParseReceipt(b *testing.B) {
	in := "id:0123456789 sub:001 dlvrd:001 submit date:2507011230 done date:2507011231 stat:DELIVRD err:000 text:Your loan repayment"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseReceipt(in); err != nil {
			b.Fatal(err)
		}
	}
}

// formatReceipt builds the text form of a receipt, for round trips through
// ParseReceipt: ParseReceipt(formatReceipt(f)) returns f for fields without
// surrounding spaces and dates in UTC at whole seconds. Dates are written as
// YYMMDDhhmm, with seconds only when they are not zero; a zero date is left
// empty. Text is written as given: Appendix B's 20-character limit is the
// caller's choice.
func formatReceipt(f ReceiptFields) string {
	var b strings.Builder
	b.Grow(100 + len(f.ID) + len(f.Text))
	b.WriteString("id:")
	b.WriteString(f.ID)
	b.WriteString(" sub:")
	b.WriteString(f.Sub)
	b.WriteString(" dlvrd:")
	b.WriteString(f.Dlvrd)
	b.WriteString(" submit date:")
	writeReceiptDate(&b, f.SubmitDate)
	b.WriteString(" done date:")
	writeReceiptDate(&b, f.DoneDate)
	b.WriteString(" stat:")
	b.WriteString(f.Stat)
	b.WriteString(" err:")
	b.WriteString(f.Err)
	b.WriteString(" text:")
	b.WriteString(f.Text)
	return b.String()
}

func writeReceiptDate(b *strings.Builder, t time.Time) {
	switch {
	case t.IsZero():
	case t.Second() != 0:
		b.WriteString(t.Format(receiptDateSS))
	default:
		b.WriteString(t.Format(receiptDate))
	}
}
