// Package mask is smsgw's one policy for showing phone numbers in logs,
// error reports and command output: a full number never appears there.
//
// The policy works on the digits of a number, whatever surrounds them
// (a leading '+', spaces, dashes stay as they are), and keeps only what an
// operator needs to recognise a number:
//
//   - a long number (11 digits or more after a '+', 12 or more without):
//     its first 5 characters (country code and network prefix, after the
//     '+' if any) and its last 3 digits, "+254712345678" → "+2547*****678",
//     "254712345678" → "25471****678";
//   - a shorter one of 7 digits or more (a national number): the last 3
//     digits only, "0712345678" → "*******678";
//   - 1 to 6 digits (short codes, fragments): nothing, "12345" → "*****";
//   - no digit at all (an alphanumeric sender name such as "MFI-A"): the
//     text unchanged, since there is no number to hide.
//
// At least 4 digits are hidden whenever a number has 4 or more, never more
// than 8 are shown, and the result has as many characters as the input, so
// masked numbers line up in logs.
//
// The package is a leaf: it imports only the standard library, so every
// other package (connectors, adapters, tools) can use it.
package mask

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Number masks one phone number as the package doc describes.
func Number(n string) string {
	d := 0
	for _, r := range n {
		if unicode.IsDigit(r) {
			d++
		}
	}
	if d == 0 {
		return n
	}
	// The first 5 characters: '+' and 4 digits, or 5 digits.
	prefix := 5
	if strings.HasPrefix(n, "+") {
		prefix = 4
	}
	head, tail := 0, 0
	switch {
	case d >= prefix+3+4: // 4 digits still hidden
		head, tail = prefix, 3
	case d >= 7:
		tail = 3
	}
	var b strings.Builder
	b.Grow(len(n))
	k := 0 // digits seen
	for i := 0; i < len(n); {
		r, size := utf8.DecodeRuneInString(n[i:])
		switch {
		case !unicode.IsDigit(r):
			b.WriteString(n[i : i+size])
		case k < head || k >= d-tail:
			b.WriteString(n[i : i+size])
			k++
		default:
			b.WriteByte('*')
			k++
		}
		i += size
	}
	return b.String()
}

// minRun is the shortest run of digits Text takes for a phone number.
const minRun = 7

// Text masks, with Number, every run of 7 or more ASCII digits in s (with
// the '+' right before it, if any), for free text that may hold a number:
// error messages from another service, a URL. Shorter runs (counts, codes,
// years) are left alone.
func Text(s string) string {
	var b strings.Builder
	last := 0 // s[:last] is written or decided
	for i := 0; i < len(s); {
		if !isASCIIDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isASCIIDigit(s[j]) {
			j++
		}
		if j-i >= minRun {
			start := i
			if start > 0 && s[start-1] == '+' {
				start--
			}
			if b.Len() == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[last:start])
			b.WriteString(Number(s[start:j]))
			last = j
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isASCIIDigit(c byte) bool { return '0' <= c && c <= '9' }
