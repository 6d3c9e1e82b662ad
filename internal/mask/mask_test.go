package mask

import (
	"strings"
	"testing"
	"unicode"
)

func TestNumber(t *testing.T) {
	tests := map[string]string{
		// Long numbers: the first 5 characters and the last 3 digits.
		"+254712345678":   "+2547*****678",
		"254712345678":    "25471****678",
		"+14155552671":    "+1415****671",
		"+4915112345678":  "+4915******678",
		"07123456789999":  "07123******999",
		"+2547 1234 5678": "+2547 **** *678",
		// Shorter numbers: the last 3 digits only.
		"14155552671": "********671",
		"0712345678":  "*******678",
		"0712345":     "****345",
		"+3541234":    "+****234",
		// Short codes and fragments: nothing.
		"12345":  "*****",
		"22345":  "*****",
		"123456": "******",
		"1":      "*",
		// No digits: nothing to hide.
		"MFI-A": "MFI-A",
		"":      "",
		// Other scripts' digits count as digits.
		"٠٧١٢٣٤٥٦٧٨": "*******٦٧٨",
	}
	for in, want := range tests {
		if got := Number(in); got != want {
			t.Errorf("Number(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNumberHides checks the policy's promises on every length, with and
// without '+': the length and the non-digits are kept, at least 4 digits
// are hidden when there are 4 or more, never more than 8 are shown.
func TestNumberHides(t *testing.T) {
	for _, plus := range []string{"", "+"} {
		for d := 1; d <= 20; d++ {
			n := plus + strings.Repeat("9", d)
			got := Number(n)
			if len(got) != len(n) || !strings.HasPrefix(got, plus) {
				t.Fatalf("Number(%q) = %q: length or '+' changed", n, got)
			}
			hidden := strings.Count(got, "*")
			if shown := d - hidden; hidden < min(d, 4) || shown > 8 {
				t.Errorf("Number(%q) = %q: %d shown, %d hidden", n, got, shown, hidden)
			}
		}
	}
}

func TestText(t *testing.T) {
	tests := map[string]string{
		"InvalidArgument: to: \"+254712345678\" is not a valid phone number": "InvalidArgument: to: \"+2547*****678\" is not a valid phone number",
		"no route to 0712345678 or 254712345678":                             "no route to *******678 or 25471****678",
		"ResourceExhausted: 123456 parts in 2025":                            "ResourceExhausted: 123456 parts in 2025",
		"1234567":    "****567",
		"a+1234567b": "a+****567b",
		"":           "",
		"no digits":  "no digits",
	}
	for in, want := range tests {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("to +254712345678: refused")
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s)
		if len(got) != len(s) {
			t.Fatalf("Text(%q) = %q: length changed", s, got)
		}
		run := 0
		for _, r := range got {
			if r < unicode.MaxASCII && unicode.IsDigit(r) {
				run++
				if run > 7 {
					t.Fatalf("Text(%q) = %q: a run of %d digits left", s, got, run)
				}
				continue
			}
			run = 0
		}
	})
}
