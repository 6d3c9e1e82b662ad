package gateway

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nyaruka/phonenumbers"
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

// BenchmarkNormalizeNumber compares a cached number with parsing it, and
// parsing numbers the cache has not seen (distinct numbers of 13 regions,
// in E.164, national and international forms) with parsing them with
// phonenumbers alone.
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
	in := distinctNumbers(4096)
	for _, c := range []struct {
		name  string
		parse func(number, region string) (string, error)
	}{{"miss", parseNumber}, {"miss-phonenumbers", referenceNumber}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				x := in[i%len(in)]
				if _, err := c.parse(x[0], x[1]); err != nil {
					b.Fatal(x, err)
				}
			}
		})
	}
}

// distinctNumbers makes n valid mobile numbers of the benchmark's regions,
// written as people write them, with the default region of each.
func distinctNumbers(n int) [][2]string {
	regions := []string{"KE", "TZ", "UG", "NG", "IN", "PH", "US", "CA", "GB", "DE", "AR", "MX", "BR"}
	r := rand.New(rand.NewPCG(1, 2))
	var out [][2]string
	for len(out) < n {
		reg := regions[r.IntN(len(regions))]
		ex := phonenumbers.GetExampleNumberForType(reg, phonenumbers.MOBILE)
		nsn := []byte(phonenumbers.GetNationalSignificantNumber(ex))
		for i := len(nsn) - 4; i < len(nsn); i++ {
			nsn[i] = byte('0' + r.IntN(10))
		}
		num, err := phonenumbers.Parse(fmt.Sprintf("+%d%s", ex.GetCountryCode(), nsn), reg)
		if err != nil {
			continue
		}
		s := phonenumbers.Format(num, []phonenumbers.PhoneNumberFormat{phonenumbers.E164, phonenumbers.NATIONAL, phonenumbers.INTERNATIONAL}[r.IntN(3)])
		if _, err := referenceNumber(s, reg); err == nil {
			out = append(out, [2]string{s, reg})
		}
	}
	return out
}
