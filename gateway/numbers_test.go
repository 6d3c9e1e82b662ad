package gateway

import (
	"fmt"
	"testing"
)

// TestNumberCacheAnswersAsParse: a cached answer, right or wrong, is the
// one parsing gives, for hits and misses alike, and the cache stays within
// its bound however many numbers pass.
func TestNumberCacheAnswersAsParse(t *testing.T) {
	c := newNumberCache(64)
	inputs := []struct{ number, region string }{
		{"0712 345 678", "KE"}, {"+254712345678", "KE"}, {"0712345678", "TZ"},
		{"00255712345678", "KE"}, {"12345", "KE"}, {"", "KE"}, {"0712345678", "UG"},
	}
	for round := range 3 {
		for _, in := range inputs {
			want, wantErr := parseNumber(in.number, in.region)
			got, err := c.normalize(in.number, in.region)
			if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("round %d: normalize(%q, %s) = %q, %v; parse gives %q, %v", round, in.number, in.region, got, err, want, wantErr)
			}
		}
	}
	for i := range 1000 {
		n := fmt.Sprintf("+2547%08d", i)
		want, _ := parseNumber(n, "KE")
		if got, _ := c.normalize(n, "KE"); got != want {
			t.Fatalf("normalize(%s) = %q, want %q", n, got, want)
		}
		if len(c.m) > 64 {
			t.Fatalf("%d entries after %d numbers, bound 64", len(c.m), i+1)
		}
	}
}

// BenchmarkNormalizeNumber compares a cached number with parsing it.
func BenchmarkNormalizeNumber(b *testing.B) {
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := NormalizeNumber("0712345678", "KE"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parsed", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := parseNumber("0712345678", "KE"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
