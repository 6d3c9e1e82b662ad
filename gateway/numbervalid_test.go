package gateway

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/openmf/smsgw/gateway/limits"
)

// TestValidDeciderAnswersAsPhonenumbers: for every country code with
// regional metadata, national numbers of every length 2–17, starting like
// each region's example numbers and like nothing, are valid by prefix
// exactly when phonenumbers.IsValidNumber says so, whether decided afresh
// or from a remembered prefix.
func TestValidDeciderAnswersAsPhonenumbers(t *testing.T) {
	d := newValidDecider()
	r := rand.New(rand.NewPCG(7, 15))
	var codes []int
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		codes = append(codes, cc)
	}
	slices.Sort(codes)
	checked, valid := 0, 0
	for _, cc := range codes {
		regions := phonenumbers.GetRegionCodesForCountryCode(cc)
		if regions[0] == "001" {
			if _, ok := d.valid(parsed{cc: cc, nsn: "8001234567"}); ok {
				t.Errorf("+%d (non-geographic) decided; it has no regional metadata", cc)
			}
			continue
		}
		var starts []string
		for _, reg := range regions {
			for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE, phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE, phonenumbers.VOIP} {
				if ex := phonenumbers.GetExampleNumberForType(reg, typ); ex != nil {
					starts = append(starts, phonenumbers.GetNationalSignificantNumber(ex))
				}
			}
		}
		count := 24
		if cc == 1 || cc == 7 || cc == 44 || cc == 49 || cc == 254 {
			count = 400
		}
		for range count {
			var nsn []byte
			if len(starts) > 0 && r.IntN(4) > 0 {
				ex := starts[r.IntN(len(starts))]
				nsn = []byte(ex[:r.IntN(len(ex)+1)])
				for l := len(ex) + r.IntN(5) - 2; len(nsn) < l; {
					nsn = append(nsn, byte('0'+r.IntN(10)))
				}
			}
			for l := 2 + r.IntN(16); len(nsn) < l; {
				nsn = append(nsn, byte('0'+r.IntN(10)))
			}
			if len(nsn) > 17 {
				nsn = nsn[:17]
			}
			p := parsed{cc: cc, nsn: string(nsn)}
			want := phonenumbers.IsValidNumber(p.phoneNumber())
			for round := range 2 {
				got, ok := d.valid(p)
				if !ok || got != want {
					t.Errorf("round %d: valid(+%d %s) = %v, %v; phonenumbers: %v", round, cc, nsn, got, ok, want)
				}
			}
			checked++
			if want {
				valid++
			}
		}
	}
	if valid < checked/10 {
		t.Errorf("only %d of %d numbers valid: the test hardly checks valid ones", valid, checked)
	}
	t.Logf("%d numbers, %d valid, %d prefixes remembered, %d analysis states", checked, valid, len(d.keys), d.states)
}

// TestValidDeciderRemembersShortPrefixes: one Kenyan mobile number
// decides every other of its length and first digits, while North
// American numbers need their area code and more.
func TestValidDeciderRemembersShortPrefixes(t *testing.T) {
	d := newValidDecider()
	if v, ok := d.valid(parsed{cc: 254, nsn: "712345678"}); !v || !ok {
		t.Fatalf("+254712345678: %v, %v", v, ok)
	}
	if len(d.keys) != 1 {
		t.Fatalf("%d keys after one number", len(d.keys))
	}
	for k := range d.keys {
		if len(k.prefix) > 3 {
			t.Errorf("key %q for +254712345678: longer than needed", k.prefix)
		}
	}
	for i := range 100 {
		nsn := "71" + strconv.Itoa(1000000+i*7919)
		if v, ok := d.valid(parsed{cc: 254, nsn: nsn}); !v || !ok {
			t.Fatalf("+254%s: %v, %v", nsn, v, ok)
		}
	}
	if len(d.keys) != 1 {
		t.Errorf("%d keys after 100 more numbers of the same start", len(d.keys))
	}
	if v, ok := d.valid(parsed{cc: 1, nsn: "2025550143"}); !ok || v != phonenumbers.IsValidNumber(parsed{cc: 1, nsn: "2025550143"}.phoneNumber()) {
		t.Fatalf("+12025550143: %v, %v", v, ok)
	}
	for k := range d.keys {
		if k.cc == 1 && len(k.prefix) < 3 {
			t.Errorf("key %q for a North American number: shorter than an area code", k.prefix)
		}
	}
}

// TestValidDeciderBounded: with room for few analysis states, the decider
// still answers only what phonenumbers answers, starts afresh when the
// bound is reached, and never holds more states than the bound.
func TestValidDeciderBounded(t *testing.T) {
	d := newValidDecider()
	d.maxStates = 40
	r := rand.New(rand.NewPCG(3, 4))
	answered, refused := 0, 0
	for range 300 {
		cc := []int{254, 1, 49, 44, 55}[r.IntN(5)]
		nsn := strconv.Itoa(1+r.IntN(9)) + strconv.FormatUint(r.Uint64()%1e12, 10)
		nsn = nsn[:min(len(nsn), 4+r.IntN(9))]
		p := parsed{cc: cc, nsn: nsn}
		got, ok := d.valid(p)
		if !ok {
			refused++
		} else if answered++; got != phonenumbers.IsValidNumber(p.phoneNumber()) {
			t.Errorf("valid(+%d %s) = %v; phonenumbers: %v", cc, nsn, got, !got)
		}
		if d.states > d.maxStates {
			t.Fatalf("%d states, bound %d", d.states, d.maxStates)
		}
	}
	if refused == 0 {
		t.Error("40 states were enough for every number: the bound was not tested")
	}
	t.Logf("%d answered, %d left to phonenumbers", answered, refused)
}

// TestNumberCountryAnswersAsLimits: the region the tenants' country rules
// see is limits.Country's (phonenumbers') for numbers of every code, valid
// or not, decided afresh or from a remembered prefix.
func TestNumberCountryAnswersAsLimits(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var codes []int
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		codes = append(codes, cc)
	}
	slices.Sort(codes)
	shared := 0
	for _, cc := range codes {
		regions := phonenumbers.GetRegionCodesForCountryCode(cc)
		count := 6
		if len(regions) > 1 {
			count = 150
		}
		var starts []string
		for _, reg := range regions {
			if ex := phonenumbers.GetExampleNumberForType(reg, phonenumbers.MOBILE); ex != nil {
				starts = append(starts, phonenumbers.GetNationalSignificantNumber(ex))
			}
		}
		for range count {
			nsn := ""
			if len(starts) > 0 && r.IntN(3) > 0 {
				ex := starts[r.IntN(len(starts))]
				nsn = ex[:r.IntN(len(ex)+1)]
			}
			for l := 2 + r.IntN(14); len(nsn) < l; {
				nsn += strconv.Itoa(r.IntN(10))
			}
			s := "+" + strconv.Itoa(cc) + nsn
			if r.IntN(4) == 0 {
				s = separate(r, s)
			}
			for range 2 {
				if got, want := numberCountry(s), limits.Country(s); got != want {
					t.Errorf("numberCountry(%q) = %s; limits.Country: %s", s, got, want)
				}
			}
			if len(regions) > 1 {
				shared++
			}
		}
	}
	t.Logf("%d numbers of codes shared by several regions", shared)
}

// BenchmarkNumberCountry compares the region the country rules see with
// limits.Country (phonenumbers), over distinct numbers of 13 regions.
func BenchmarkNumberCountry(b *testing.B) {
	in := distinctNumbers(4096)
	e164 := make([]string, len(in))
	for i, x := range in {
		e164[i], _ = referenceNumber(x[0], x[1])
	}
	for _, c := range []struct {
		name    string
		country func(string) string
	}{{"remembered", numberCountry}, {"phonenumbers", limits.Country}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				if c.country(e164[i%len(e164)]) == "ZZ" {
					b.Fatal(e164[i%len(e164)])
				}
			}
		})
	}
}

// TestValidDeciderConcurrent: callers deciding and reading prefixes at
// once get phonenumbers' answers (run with -race).
func TestValidDeciderConcurrent(t *testing.T) {
	d := newValidDecider()
	codes := []int{254, 1, 49, 44, 7, 55, 91, 234}
	errs := make(chan string, 8)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 150 {
				cc := codes[r.IntN(len(codes))]
				nsn := strconv.Itoa(1 + r.IntN(9))
				for l := 6 + r.IntN(7); len(nsn) < l; {
					nsn += strconv.Itoa(r.IntN(10))
				}
				p := parsed{cc: cc, nsn: nsn}
				want := phonenumbers.IsValidNumber(p.phoneNumber())
				if got, ok := d.valid(p); !ok || got != want {
					select {
					case errs <- "+" + strconv.Itoa(cc) + nsn:
					default:
					}
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Errorf("valid(%s) differs from phonenumbers", e)
	}
}
