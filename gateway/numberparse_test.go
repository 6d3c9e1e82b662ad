package gateway

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/openmf/smsgw/gateway/limits"
)

var numbersPerRegion = flag.Int("numbers-per-region", 12, "inputs per region in TestFastParseAnswersAsPhonenumbers")

// referenceNumber is parseNumber with phonenumbers alone: what every
// answer must equal.
func referenceNumber(number, region string) (string, error) {
	n, err := numberText(number)
	if err != nil {
		return "", err
	}
	return parseWithPhonenumbers(number, n, region)
}

// focusRegions are where smsgw's users are, tested with more numbers.
var focusRegions = []string{"KE", "TZ", "UG", "NG", "IN", "PH", "US", "CA", "GB", "DE", "AR", "MX", "BR", "RW", "GH", "ZM", "IT", "AU", "CN", "RU", "KZ"}

// numberInputs makes numbers as they reach smsgw for a region: national
// significant numbers of every length 1–17 that start like the region's
// example numbers of each type (and like nothing), written in E.164,
// with "00", with the region's trunk and international prefixes, with
// the country code and no '+', bare, and with separators.
func numberInputs(r *rand.Rand, region string, count int) []string {
	cc := phonenumbers.GetCountryCodeForRegion(region)
	ccs := strconv.Itoa(cc)
	var starts []string
	for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.VOIP, phonenumbers.SHARED_COST, phonenumbers.PERSONAL_NUMBER, phonenumbers.UAN, phonenumbers.PAGER} {
		if ex := phonenumbers.GetExampleNumberForType(region, typ); ex != nil {
			starts = append(starts, phonenumbers.GetNationalSignificantNumber(ex))
		}
	}
	trunk := phonenumbers.GetNddPrefixForRegion(region, true)
	meta := metadataFor(region)
	idd := meta.GetPreferredInternationalPrefix()
	if idd == "" && !strings.ContainsAny(meta.GetInternationalPrefix(), "[]()|\\?*+.") {
		idd = meta.GetInternationalPrefix()
	}
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	var out []string
	for range count {
		var nsn string
		switch k := r.IntN(10); {
		case k < 6 && len(starts) > 0:
			// An example number cut or extended: every length near the
			// valid ones, and past them.
			ex := starts[r.IntN(len(starts))]
			keep := r.IntN(len(ex) + 1)
			nsn = ex[:keep] + digits(max(0, len(ex)-keep+r.IntN(5)-2))
		case k < 8:
			nsn = digits(1 + r.IntN(17))
		default:
			nsn = strconv.Itoa(r.IntN(10)) + digits(r.IntN(17))
		}
		if nsn == "" {
			nsn = digits(1)
		}
		var s string
		switch r.IntN(12) {
		case 11:
			// A national number that starts with the country code:
			// Parse decides whether the code is one.
			lengths := meta.GetGeneralDesc().PossibleLength
			l := int(lengths[r.IntN(len(lengths))])
			s = ccs + digits(max(0, l-len(ccs)))
		case 9:
			s = idd + nsn // an unknown code, a leading 0 after the prefix
		case 10:
			s = "+" + nsn
		case 0, 1:
			s = "+" + ccs + nsn
		case 2:
			s = "00" + ccs + nsn
		case 3, 4:
			s = trunk + nsn
		case 5:
			s = nsn
		case 6:
			s = ccs + nsn
		case 7:
			s = idd + ccs + nsn
		default:
			s = "+" + ccs + trunk + nsn
		}
		out = append(out, separate(r, s))
	}
	return out
}

// separate puts spaces, dashes, dots or brackets into s sometimes, and
// now and then something fastParse leaves to phonenumbers.
func separate(r *rand.Rand, s string) string {
	if r.IntN(3) > 0 {
		return s
	}
	seps := []string{" ", "-", ".", "(", ")", " - ", "/", "\u00a0", "#", ";", "*", "x"}
	var b strings.Builder
	for i := range len(s) {
		b.WriteByte(s[i])
		if i < len(s)-1 && r.IntN(4) == 0 {
			if r.IntN(20) == 0 {
				b.WriteString(seps[5+r.IntN(len(seps)-5)])
			} else {
				b.WriteString(seps[r.IntN(5)])
			}
		}
	}
	switch r.IntN(12) {
	case 0:
		b.WriteString(" ")
	case 1:
		return "(" + b.String()
	case 2:
		b.WriteString(")")
	}
	return b.String()
}

// trickyNumbers are inputs whose parse turns on a region's national
// prefix rules: carrier codes, transform rules, mobile tokens, trunk
// prefixes that are also valid leading digits.
var trickyNumbers = [][2]string{
	{"011 15-2345-6789", "AR"}, {"0343 15-555-1212", "AR"}, {"15 2345 6789", "AR"}, {"+54 9 11 2345 6789", "AR"},
	{"+54 11 15 2345 6789", "AR"}, {"0 11 2345 6789", "AR"}, {"0291 15 412 3456", "AR"}, {"011 2345 6789", "AR"},
	{"0 21 11 98765 4321", "BR"}, {"0 15 11 98765-4321", "BR"}, {"(11) 98765-4321", "BR"}, {"0 41 21 2345 6789", "BR"},
	{"011 98765 4321", "BR"}, {"+55 0 15 11 98765 4321", "BR"}, {"0 99 61 98765 4321", "BR"},
	{"044 55 1234 5678", "MX"}, {"045 33 1234 5678", "MX"}, {"01 55 1234 5678", "MX"}, {"+52 1 55 1234 5678", "MX"},
	{"1 55 1234 5678", "MX"}, {"+52 044 55 1234 5678", "MX"},
	{"02 1234 5678", "IT"}, {"+39 06 1234 5678", "IT"}, {"+39 0 6 1234", "IT"}, {"3123456789", "IT"},
	{"8 912 345 67 89", "RU"}, {"8 10 254 712 345678", "RU"}, {"8 (7172) 58-78-00", "KZ"},
	{"1 (202) 555-0143", "US"}, {"202.555.0143", "US"}, {"011 254 712 345678", "US"}, {"1 800 555 0199", "CA"},
	{"(416) 555-0199", "CA"}, {"+1 268 464 1234", "US"}, {"268 464 1234", "AG"}, {"1 876 555 1234", "JM"},
	{"9123456789", "IN"}, {"919123456789", "IN"}, {"09123456789", "IN"}, {"+91 91234 56789", "IN"},
	{"2547123456", "KE"}, {"254712345678", "KE"}, {"2540712345678", "KE"}, {"000 255 754 123456", "KE"},
	{"0254712345678", "KE"}, {"+254 0712 345 678", "KE"}, {"0712-345-678", "KE"}, {"(0712) 345678", "KE"},
	{"4930123456", "DE"}, {"0049 30 123456", "DE"}, {"030 123456", "DE"}, {"+49 (0) 30 123456", "DE"},
	{"0 800 123 4567", "GB"}, {"44 20 7946 0958", "GB"}, {"+44 (0) 20 7946 0958", "GB"}, {"07700 900123", "GB"},
	{"0917 123 4567", "PH"}, {"63 917 123 4567", "PH"}, {"0803 123 4567", "NG"}, {"2348031234567", "NG"},
	{"+8613912345678", "CN"}, {"013912345678", "CN"}, {"0061 4 1234 5678", "AU"}, {"0011 254 712345678", "AU"},
}

// TestFastParseAnswersAsPhonenumbers: for every region phonenumbers
// knows, and numbers of every length and form, parseNumber answers
// exactly what phonenumbers answers (the E.164 string and the error's
// text), whether or not fastParse took the number.
func TestFastParseAnswersAsPhonenumbers(t *testing.T) {
	if !simpleParseSound {
		t.Fatal("phonenumbers' extension, trailing-character or second-number pattern can match a simple number: fastParse is off")
	}
	r := rand.New(rand.NewPCG(15, 2026))
	regions := make([]string, 0, 256)
	for reg := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, reg)
	}
	slices.Sort(regions)
	fast, total := 0, 0
	for _, reg := range regions {
		count := *numbersPerRegion
		if slices.Contains(focusRegions, reg) {
			count *= 10
		}
		for _, in := range numberInputs(r, reg, count) {
			// Mostly the region's own default, sometimes another or none.
			def := reg
			switch r.IntN(8) {
			case 0:
				def = focusRegions[r.IntN(len(focusRegions))]
			case 1:
				def = []string{"", "ZZ", "001", "ke"}[r.IntN(4)]
			}
			want, wantErr := referenceNumber(in, def)
			got, err := parseNumber(in, def)
			if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("parseNumber(%q, %q) = %q, %v; phonenumbers: %q, %v", in, def, got, err, want, wantErr)
			}
			if n, err := numberText(in); err == nil {
				if _, ok := fastParse(n, def); ok {
					fast++
				}
			}
			total++
		}
	}
	for _, c := range trickyNumbers {
		want, wantErr := referenceNumber(c[0], c[1])
		got, err := parseNumber(c[0], c[1])
		if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("parseNumber(%q, %q) = %q, %v; phonenumbers: %q, %v", c[0], c[1], got, err, want, wantErr)
		}
	}
	// The test means something only if fastParse answers most numbers.
	if fast < total/2 {
		t.Errorf("fastParse answered %d of %d numbers; expected most", fast, total)
	}
	t.Logf("%d numbers, %d by fastParse", total, fast)
}

// TestNeverMatches: the proof that a pattern cannot match a simple
// number finds the patterns that can.
func TestNeverMatches(t *testing.T) {
	for _, c := range []struct {
		pattern string
		never   bool
	}{
		{`(?i)x\d+$`, true},
		{`[a-z]|;`, true},
		{`\d{3}#`, true},
		{`\d+$`, false},
		{`(?i)[ -]+\d`, false},
		{`.`, false},
		{`(?s).`, false},
		{`^$`, false},
		{`[[`, false}, // does not compile: might match
	} {
		if got := neverMatches(c.pattern, simpleAlphabet); got != c.never {
			t.Errorf("neverMatches(%q) = %v, want %v", c.pattern, got, c.never)
		}
	}
}

// FuzzNormalizeNumber: whatever the input and the default region,
// parseNumber answers what phonenumbers answers, and so does the region
// the tenants' country rules see (numberCountry, limits.Country).
func FuzzNormalizeNumber(f *testing.F) {
	regions := make([]string, 0, 256)
	for reg := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, reg)
	}
	slices.Sort(regions)
	regions = append(regions, "", "ZZ", "001", "ke")
	for i, c := range trickyNumbers {
		f.Add(c[0], uint16(slices.Index(regions, c[1])))
		f.Add("+"+strconv.Itoa(phonenumbers.GetCountryCodeForRegion(c[1]))+c[0], uint16(i))
	}
	f.Fuzz(func(t *testing.T, number string, region uint16) {
		def := regions[int(region)%len(regions)]
		want, wantErr := referenceNumber(number, def)
		got, err := parseNumber(number, def)
		if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("parseNumber(%q, %q) = %q, %v; phonenumbers: %q, %v", number, def, got, err, want, wantErr)
		}
		if got, want := numberCountry(number), limits.Country(number); got != want {
			t.Errorf("numberCountry(%q) = %s; limits.Country: %s", number, got, want)
		}
	})
}

// TestPhonenumbersVersion: fastParse is a port of phonenumbers v1.8.1's
// parseHelper. Another version may parse differently in ways the
// differential test does not reach: read its parseHelper (and
// maybeExtractCountryCode, maybeStripNationalPrefixAndCarrierCode,
// testNumberLength, IsValidNumber) against numberparse.go and
// numbervalid.go, then change the version here.
func TestPhonenumbersVersion(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/nyaruka/phonenumbers" {
			if f[1] != "v1.8.1" {
				t.Fatalf("go.mod requires phonenumbers %s; fastParse ports v1.8.1 (see the comment)", f[1])
			}
			return
		}
	}
	t.Fatal("go.mod does not require github.com/nyaruka/phonenumbers")
}
