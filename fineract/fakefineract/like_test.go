package fakefineract

import "testing"

// TestLike: the fake's LIKE gives '%', '_' and '\' their SQL meaning and
// ignores case, as MySQL's default collation does.
func TestLike(t *testing.T) {
	for _, tt := range []struct {
		s, pattern string
		want       bool
	}{
		{"", "", true},
		{"", "%", true},
		{"", "_", false},
		{"abc", "abc", true},
		{"abc", "ABC", true},
		{"Jane Wanjiru", "%wANJ%", true},
		{"abc", "ab", false},
		{"abc", "a_c", true},
		{"ac", "a_c", false},
		{"abc", "a%", true},
		{"abc", "%c", true},
		{"abc", "%b%", true},
		{"abc", "%d%", false},
		{"0712 345 678", "%7%1%2%3%4%5%6%7%8%", true},
		{"+254-712-345-678", "%7%1%2%3%4%5%6%7%8%", true},
		{"(0712) 345-678", "%7%1%2%3%4%5%6%7%8%", true},
		{"0712 345 687", "%7%1%2%3%4%5%6%7%8%", false},
		{"+254 712 345 6789", "%7%1%2%3%4%5%6%7%8%", true}, // LIKE finds it; the adapter must not count it
		{"aaab", "%a%ab", true},                            // backtracking past a first false start
		{"mississippi", "%iss%ppi", true},
		{"mississippi", "%iss%ppix", false},
		{"100%", `100\%`, true},
		{"1000", `100\%`, false},
		{"a_b", `a\_b`, true},
		{"axb", `a\_b`, false},
		{`a\`, `a\`, true}, // a trailing backslash is literal
		{"ÉCOLE", "%éco%", true},
	} {
		if got := like(tt.s, tt.pattern); got != tt.want {
			t.Errorf("like(%q, %q) = %v, want %v", tt.s, tt.pattern, got, tt.want)
		}
	}
}
