package gateway

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Parsing a number the way SMS numbers are written, without phonenumbers'
// general-purpose parser.
//
// phonenumbers.Parse accepts anything a person might type: extensions
// ("ext. 12", ";ext=", "#"), RFC 3966 URIs, keypad letters, Arabic-Indic
// and full-width digits, second numbers after a slash. It tries each of
// those with a regular expression on every call (the extension pattern
// alone is a third of a parse) and looks its own patterns up through a
// locked map by strings it concatenates each time. An SMS number is
// nearly always ASCII digits with an optional leading "+" and some
// spaces, dashes, dots or brackets between them, and for those inputs
// most of Parse's steps provably do nothing. fastParse is parseHelper
// (phonenumbers v1.8.1, phonenumberutil.go) restricted to exactly those
// inputs, step by step, with the steps that cannot change such an input
// left out and the ones that can kept, on the same metadata and the same
// pattern strings compiled once (Go's regexp, as phonenumbers uses, so
// each kept match answers as it would there). Whatever falls outside the
// restriction, or would make Parse return an error, is not answered:
// the caller parses it with phonenumbers.
//
// Why the steps left out do nothing for an input of simpleAlphabet
// (ASCII digits, a leading '+', and " -.()"), none of which contains a
// letter, ';', '#', ',', '~', '/', '\\', '&' or ']':
//
//   - buildNationalNumberForParsing: without ";phone-context=" it keeps
//     extractPossibleNumber's result and cuts nothing (no ";isub=").
//     extractPossibleNumber starts at the first '+' or digit (simpleInput
//     does the same) and cuts where UNWANTED_END_CHAR_PATTERN or
//     SECOND_NUMBER_START_PATTERN match; neither can match a string over
//     simpleAlphabet (neverMatches proves it from the compiled patterns
//     when the package starts, see simpleParseSound). What remains is the
//     input from its first '+' or digit.
//   - isViablePhoneNumber: the input has at least 3 digits, each run of
//     punctuation before a digit is in VALID_PUNCTUATION, so the second
//     alternative of VALID_PHONE_NUMBER_PATTERN matches it (simpleInput
//     requires the 3 digits).
//   - checkRegionForParsing: kept (the region must be known unless the
//     input starts with '+').
//   - maybeStripExtension: EXTN_PATTERN cannot match (neverMatches).
//   - normalize: VALID_ALPHA_PHONE_PATTERN needs three letters, so it is
//     NormalizeDigitsOnly, which keeps the ASCII digits (simpleInput
//     collects them).
//   - the '+' at the start is PLUS_CHARS_PATTERN's whole match.
//
// Each step kept is named after the function it is in phonenumbers.
// The differential test (TestFastParseAnswersAsPhonenumbers) and
// FuzzNormalizeNumber check the whole against phonenumbers itself, and
// TestPhonenumbersVersion fails when go.mod moves to another version, so
// that its parseHelper is read again before the port is trusted.

// simpleParseSound is whether the patterns that fastParse leaves out
// cannot match an input of simpleAlphabet, computed from the patterns
// phonenumbers uses. If an upgrade of phonenumbers changes them so that
// they could, fastParse answers nothing and every number is parsed by
// phonenumbers.
var simpleParseSound = func() bool {
	for _, re := range []*regexp.Regexp{
		phonenumbers.EXTN_PATTERN,
		phonenumbers.UNWANTED_END_CHAR_PATTERN,
		phonenumbers.SECOND_NUMBER_START_PATTERN,
	} {
		if !neverMatches(re.String(), simpleAlphabet) {
			return false
		}
	}
	return true
}()

// simpleAlphabet is what fastParse accepts: ASCII digits, '+' (only
// first) and the separators people put in numbers.
const simpleAlphabet = "0123456789+ -.()"

// maxSimpleInput bounds what fastParse takes, well inside phonenumbers'
// 250 characters (MAX_INPUT_STRING_LENGTH) so that its length check
// cannot apply.
const maxSimpleInput = 64

// simpleInput reports whether s is in fastParse's domain: at most
// maxSimpleInput bytes of simpleAlphabet with at least 3 digits, '+'
// only before the first digit and after nothing but separators. It
// returns the digits.
func simpleInput(s string, buf []byte) (digits []byte, plus, ok bool) {
	if len(s) > maxSimpleInput {
		return nil, false, false
	}
	// extractPossibleNumber starts at the first '+' or digit.
	start := 0
	for start < len(s) && isSeparator(s[start]) {
		start++
	}
	digits = buf[:0]
	for i := start; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == '+' && i == start:
			plus = true
		case isSeparator(c):
		default:
			return nil, false, false
		}
	}
	return digits, plus, len(digits) >= 3
}

func isSeparator(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')'
}

// parsed is what fastParse found: the country calling code and the
// national significant number, and the metadata phonenumbers checks it
// against (the main region of the code).
type parsed struct {
	cc   int
	nsn  string
	meta *regionPatterns
}

// fastParse answers phonenumbers.Parse(s, region) for a simple input
// (see above), or ok=false when s is not one or Parse would fail.
func fastParse(s, region string) (p parsed, ok bool) {
	if !simpleParseSound {
		return p, false
	}
	var buf [maxSimpleInput]byte
	digits, plus, ok := simpleInput(s, buf[:])
	if !ok {
		return p, false
	}
	// checkRegionForParsing
	def := patternsForRegion(region)
	if def == nil && !plus {
		return p, false
	}
	// maybeExtractCountryCode
	full := string(digits)
	cc := 0
	var national string
	fromIDD := plus
	if !plus {
		// maybeStripInternationalPrefixAndNormalize, parsePrefixAsIdd
		// (MatchString first: the same search, without allocating the
		// index when there is no match anywhere).
		if def.idd.MatchString(full) {
			if ind := def.idd.FindStringIndex(full); ind != nil && ind[0] == 0 {
				if rest := full[ind[1]:]; rest == "" || rest[0] != '0' {
					full, fromIDD = rest, true
				}
			}
		}
	}
	if fromIDD {
		if len(full) <= 2 { // ErrTooShortAfterIDD
			return p, false
		}
		// extractCountryCode
		if full[0] == '0' {
			return p, false // ErrInvalidCountryCode, and Parse's retry
		}
		for i := 1; i <= 3 && i <= len(full); i++ {
			c, _ := strconv.Atoi(full[:i])
			if phonenumbers.GetSupportedCallingCodes()[c] {
				cc, national = c, full[i:]
				break
			}
		}
		if cc == 0 {
			return p, false
		}
	} else if strings.HasPrefix(full, def.ccs) {
		// The number may start with the default region's code
		// without a '+'.
		potential := def.stripNationalPrefix(full[len(def.ccs):])
		fullValid := def.general.MatchString(full)
		nationalValid := def.general.MatchString(potential)
		if (!fullValid && nationalValid) || def.lengthResult(full) == phonenumbers.TOO_LONG {
			cc, national = def.cc, potential
		}
	}
	// parseHelper, after maybeExtractCountryCode
	meta := def
	if cc != 0 {
		main := phonenumbers.GetRegionCodeForCountryCode(cc)
		if main != region {
			meta = patternsForRegion(main) // nil for non-geographic codes: not answered
		}
	} else {
		cc, national = def.cc, full
	}
	if meta == nil || len(national) < 2 { // ErrTooShortNSN
		return p, false
	}
	potential := meta.stripNationalPrefix(national)
	switch meta.lengthResult(potential) {
	case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
	default:
		national = potential
	}
	if len(national) < 2 || len(national) > 17 { // MIN_LENGTH_FOR_NSN, MAX_LENGTH_FOR_NSN
		return p, false
	}
	return parsed{cc: cc, nsn: national, meta: meta}, true
}

// e164 is Format(number, E164) for a parsed number: "+", the code and
// the national significant number. Parse stores the number as an integer
// and its leading zeros as a count (setItalianLeadingZerosForPhoneNumber);
// GetNationalSignificantNumber writes the zeros back, so for an NSN of
// 2–17 ASCII digits it gives the digits that were parsed.
func (p parsed) e164() string {
	return "+" + strconv.Itoa(p.cc) + p.nsn
}

// phoneNumber is the phonenumbers value Parse would have returned.
func (p parsed) phoneNumber() *phonenumbers.PhoneNumber {
	n, _ := strconv.ParseUint(p.nsn, 10, 64)
	cc := int32(p.cc)
	num := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &n}
	if p.nsn[0] == '0' { // setItalianLeadingZerosForPhoneNumber
		t := true
		num.ItalianLeadingZero = &t
		zeros := 1
		for zeros < len(p.nsn)-1 && p.nsn[zeros] == '0' {
			zeros++
		}
		if zeros != 1 {
			z := int32(zeros)
			num.NumberOfLeadingZeros = &z
		}
	}
	return num
}

// regionPatterns is a region's metadata with the patterns Parse uses,
// compiled once, as phonenumbers compiles them (regexFor of the same
// strings).
type regionPatterns struct {
	meta      *phonenumbers.PhoneMetadata
	cc        int
	ccs       string         // cc in decimal
	idd       *regexp.Regexp // InternationalPrefix, unanchored (parsePrefixAsIdd)
	general   *regexp.Regexp // "^(?:" + general desc + ")$"
	natPrefix *regexp.Regexp // "^(?:" + NationalPrefixForParsing + ")", nil without one
}

var regionPatternsCache sync.Map // region → *regionPatterns

// patternsForRegion is the region's patterns, nil for a region
// phonenumbers does not know (isValidRegionCode).
func patternsForRegion(region string) *regionPatterns {
	if p, ok := regionPatternsCache.Load(region); ok {
		return p.(*regionPatterns)
	}
	if region == "" || !phonenumbers.GetSupportedRegions()[region] {
		return nil
	}
	meta := metadataFor(region)
	if meta == nil {
		return nil
	}
	p := &regionPatterns{
		meta:    meta,
		cc:      int(meta.GetCountryCode()),
		ccs:     strconv.Itoa(int(meta.GetCountryCode())),
		idd:     regexp.MustCompile(meta.GetInternationalPrefix()),
		general: regexp.MustCompile("^(?:" + meta.GetGeneralDesc().GetNationalNumberPattern() + ")$"),
	}
	if np := meta.GetNationalPrefixForParsing(); np != "" {
		p.natPrefix = regexp.MustCompile("^(?:" + np + ")")
	}
	v, _ := regionPatternsCache.LoadOrStore(region, p)
	return v.(*regionPatterns)
}

var (
	metadataOnce     sync.Once
	metadataByRegion map[string]*phonenumbers.PhoneMetadata
)

// metadataFor is the metadata phonenumbers itself uses for a region:
// MetadataCollection returns the collection its tables were built from.
func metadataFor(region string) *phonenumbers.PhoneMetadata {
	metadataOnce.Do(func() {
		metadataByRegion = make(map[string]*phonenumbers.PhoneMetadata)
		coll, err := phonenumbers.MetadataCollection()
		if err != nil {
			return
		}
		for _, m := range coll.GetMetadata() {
			if id := m.GetId(); id != "001" {
				metadataByRegion[id] = m
			}
		}
	})
	return metadataByRegion[region]
}

// stripNationalPrefix is maybeStripNationalPrefixAndCarrierCode without
// the carrier code (Parse does not keep it): the number without its
// national prefix, or the number itself.
func (r *regionPatterns) stripNationalPrefix(number string) string {
	if number == "" || r.natPrefix == nil || !r.natPrefix.MatchString(number) {
		return number
	}
	viableOriginal := r.general.MatchString(number)
	groups := r.natPrefix.FindStringSubmatchIndex(number)
	numOfGroups := len(groups)/2 - 1
	rule := r.meta.GetNationalPrefixTransformRule()
	if rule == "" || groups[numOfGroups*2] < 0 {
		if viableOriginal && !r.general.MatchString(number[groups[1]:]) {
			return number
		}
		return number[groups[1]:]
	}
	transformed := r.natPrefix.ReplaceAllString(number, rule)
	if viableOriginal && !r.general.MatchString(transformed) {
		return number
	}
	return transformed
}

// lengthResult is testNumberLength(number, metadata, UNKNOWN): the
// general description's possible lengths.
func (r *regionPatterns) lengthResult(number string) phonenumbers.ValidationResult {
	desc := r.meta.GetGeneralDesc()
	possible := desc.PossibleLength
	local := desc.PossibleLengthLocalOnly
	if possible[0] == -1 {
		return phonenumbers.INVALID_LENGTH
	}
	n := int32(len(number))
	for _, l := range local {
		if l == n {
			return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
		}
	}
	switch {
	case possible[0] == n:
		return phonenumbers.IS_POSSIBLE
	case possible[0] > n:
		return phonenumbers.TOO_SHORT
	case possible[len(possible)-1] < n:
		return phonenumbers.TOO_LONG
	}
	for _, l := range possible[1:] {
		if l == n {
			return phonenumbers.IS_POSSIBLE
		}
	}
	return phonenumbers.INVALID_LENGTH
}
