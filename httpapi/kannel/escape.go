package kannel

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// escapeMsg is what Kannel's escape expansion (gw/urltrans.c
// urltrans_fill_escape_codes) reads of a message. For an inbound message
// (sms-service) Kannel has already swapped the addresses, so Sender is the
// number the client wrote to and Receiver the client; for a delivery
// report they are the original message's from and to (gw/dlr.c
// dlr_find), which is why %p is the handset in both.
type escapeMsg struct {
	Text      string // msgdata: the inbound text, or the SMSC's reply of a DLR
	Sender    string // %P
	Receiver  string // %p
	Time      time.Time
	SMSCID    string // %i
	ID        string // %I
	ForeignID string // %F
	Service   string // %n
	DLRMask   int    // %d: the DLR type of a report, the mask otherwise
	Coding    int    // %c: 0 7-bit, 1 8-bit, 2 UCS-2
	MClass    int    // %m, -1 when not set
	MWI       int    // %M, -1 when not set
	Charset   string // %C
	UDH       []byte // %u, %U
	MetaData  string // %D
	DLRURL    string // %R
	Account   string // %o
	BInfo     string // %B
	Validity  int    // %v: minutes left, -1 when not set
	Deferred  int    // %V: minutes left, -1 when not set
}

// urlEncode is gwlib's octstr_url_encode: alphanumerics and -_.!~*'()
// stay, a space becomes '+', every other byte %XX in upper-case hex
// (gwlib/octstr.c urlcode_init).
func urlEncode(s string) string {
	const hexits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('+')
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-_.!~*'()", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexits[c>>4])
			b.WriteByte(hexits[c&0xf])
		}
	}
	return b.String()
}

// words is gwlib's octstr_split_words: runs of non-blanks.
func words(s string) []string { return strings.Fields(s) }

// expand fills a get-url, post-url or dlr-url pattern with a message's
// values, escape by escape as gw/urltrans.c does: values are URL-encoded
// except %S (which maps '*' to '~' instead), %t and %T; "%%" is a percent
// sign; an unknown escape and a '%' ending the pattern are copied as they
// are, as %U is (urltrans.c has no %U). %O is the data coding scheme
// sms.c fields_to_dcs computes, which also settles an undefined coding for
// the escapes after it, as in Kannel. %#group#key# is one value of the
// meta-data (gw/meta_data.c).
func expand(pattern string, m escapeMsg) string {
	var b strings.Builder
	ws := words(m.Text)
	next := 1 // the next word %s takes; word 0 is the keyword
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 == len(pattern) {
			b.WriteByte(c)
			continue
		}
		i++
		switch code := pattern[i]; code {
		case 'a':
			for j, w := range ws {
				if j > 0 {
					b.WriteByte('+')
				}
				b.WriteString(urlEncode(w))
			}
		case 'A', 'b':
			b.WriteString(urlEncode(m.Text))
		case 'B':
			b.WriteString(urlEncode(m.BInfo))
		case 'c':
			b.WriteString(strconv.Itoa(m.Coding))
		case 'C':
			b.WriteString(charsetOf(m))
		case 'd':
			b.WriteString(strconv.Itoa(m.DLRMask))
		case 'D':
			b.WriteString(urlEncode(m.MetaData))
		case 'f':
			// The SMSC's number: carriers do not give smsgw one.
		case 'F':
			b.WriteString(urlEncode(m.ForeignID))
		case 'i':
			b.WriteString(urlEncode(m.SMSCID))
		case 'I':
			b.WriteString(m.ID)
		case 'k':
			if len(ws) > 0 {
				b.WriteString(urlEncode(ws[0]))
			}
		case 'm':
			b.WriteString(urlEncode(strconv.Itoa(m.MClass)))
		case 'M':
			b.WriteString(urlEncode(strconv.Itoa(m.MWI)))
		case 'n':
			b.WriteString(urlEncode(m.Service))
		case 'o':
			b.WriteString(urlEncode(m.Account))
		case 'p':
			b.WriteString(urlEncode(m.Receiver))
		case 'P':
			b.WriteString(urlEncode(m.Sender))
		case 'q':
			b.WriteString(plus00(m.Receiver))
		case 'Q':
			b.WriteString(plus00(m.Sender))
		case 'r':
			for j := next; j < len(ws); j++ {
				if j != next {
					b.WriteByte('+')
				}
				b.WriteString(urlEncode(ws[j]))
			}
		case 'R':
			b.WriteString(urlEncode(m.DLRURL))
		case 's':
			if next < len(ws) {
				b.WriteString(urlEncode(ws[next]))
				next++
			}
		case 'S':
			if next < len(ws) {
				b.WriteString(strings.ReplaceAll(ws[next], "*", "~"))
				next++
			}
		case 't':
			b.WriteString(m.Time.UTC().Format("2006-01-02+15:04:05"))
		case 'T':
			if !m.Time.IsZero() {
				b.WriteString(strconv.FormatInt(m.Time.Unix(), 10))
			}
		case 'u':
			b.WriteString(urlEncode(string(m.UDH)))
		case 'O':
			if m.Coding == undefined {
				m.Coding = coding7Bit
				if len(m.UDH) > 0 {
					m.Coding = codingBinary
				}
			}
			fmt.Fprintf(&b, "%02d", dcsOf(m.Coding, m.MClass, m.MWI, undefined, len(m.Text) > 0))
		case '#':
			// %#group#key#: without both closing '#' the pattern is
			// copied from the '#' on, as urltrans.c leaves it.
			rest := pattern[i+1:]
			g := strings.IndexByte(rest, '#')
			if g < 0 {
				i-- // re-read '#' as text
				b.WriteByte('%')
				continue
			}
			k := strings.IndexByte(rest[g+1:], '#')
			if k < 0 {
				i += g + 1
				continue
			}
			b.WriteString(urlEncode(metaValue(m.MetaData, rest[:g], rest[g+1:g+1+k])))
			i += g + 1 + k + 1
		case 'v':
			if m.Validity >= 0 {
				b.WriteString(strconv.Itoa(m.Validity))
			}
		case 'V':
			if m.Deferred >= 0 {
				b.WriteString(strconv.Itoa(m.Deferred))
			}
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(code)
		}
	}
	return b.String()
}

// plus00 is %q/%Q: a leading "00" becomes an encoded '+'.
func plus00(n string) string {
	if strings.HasPrefix(n, "00") {
		return "%2B" + urlEncode(n[2:])
	}
	return urlEncode(n)
}

// charsetOf is %C: the message's charset, else the one its coding implies.
func charsetOf(m escapeMsg) string {
	if m.Charset != "" {
		return m.Charset
	}
	switch m.Coding {
	case codingBinary:
		return "8-BIT"
	case codingUCS2:
		return "UTF-16BE"
	}
	return "UTF-8"
}

// Kannel's coding values (gw/sms.h DC_7BIT, DC_8BIT, DC_UCS2).
const (
	coding7Bit   = 0
	codingBinary = 1
	codingUCS2   = 2
)

// metaValue is one value of Kannel's meta-data ("?group?key=value&..."
// with URL-encoded parts, gw/meta_data.c): the value of key in group
// (group compared without case), "" when absent.
func metaValue(meta, group, key string) string {
	parts := strings.Split(meta, "?")
	for i := 1; i+1 < len(parts); i += 2 {
		name, _ := url.QueryUnescape(parts[i])
		if !strings.EqualFold(name, group) {
			continue
		}
		for _, kv := range strings.Split(parts[i+1], "&") {
			k, v, _ := strings.Cut(kv, "=")
			if dk, _ := url.QueryUnescape(k); dk == key {
				dv, _ := url.QueryUnescape(v)
				return dv
			}
		}
	}
	return ""
}

// dcsOf is gw/sms.c fields_to_dcs: the data_coding an SMPP submit_sm
// carries for a coding, message class, MWI and alt-dcs (mode; undefined
// is 0). A message class needs the 0xF0 group unless the coding is UCS-2,
// as smsc_smpp.c forces alt-dcs whenever mclass is set without MWI.
func dcsOf(coding, mclass, mwi, altDCS int, hasText bool) int {
	if coding == undefined {
		coding = coding7Bit
	}
	if mwi != undefined {
		dcs := mwi
		if dcs&0x04 != 0 {
			return dcs&0x03 | 0xC0 // inactive
		}
		dcs = dcs&0x03 | 0x08 // active
		switch {
		case !hasText:
			dcs |= 0xC0 // discard
		case coding == coding7Bit:
			dcs |= 0xD0
		default:
			dcs |= 0xE0
		}
		return dcs
	}
	if altDCS == 0 || altDCS == undefined || coding == codingUCS2 {
		dcs := 0
		if mclass != undefined {
			dcs |= 0x10 | mclass
		}
		return dcs | coding<<2
	}
	dcs := 0xF0 | coding<<2
	if mclass == undefined {
		return dcs | 1 // ME specific
	}
	return dcs | mclass
}
