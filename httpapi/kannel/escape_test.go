package kannel

import (
	"testing"
	"time"
)

// TestExpandEscapes checks every escape against what gw/urltrans.c
// produces for the same message.
func TestExpandEscapes(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	m := escapeMsg{
		Text: "BAL  1234 a*b+c müde", Sender: "0022555", Receiver: "+254712345678", Time: at,
		SMSCID: "sim one", ID: "0190-abc", ForeignID: "12/34", Service: "bal svc", DLRMask: 9,
		Coding: 2, MClass: 1, MWI: undefined, Charset: "", UDH: []byte{5, 0, 3, 0x2a, 2, 1},
		MetaData: "?smpp?a=b&c=d", DLRURL: "http://h/d?x=%d", Account: "acc 1", BInfo: "bi&1",
		Validity: 30, Deferred: undefined,
	}
	cases := []struct{ pattern, want string }{
		{"%k", "BAL"},
		{"%s", "1234"},
		{"%s/%s", "1234/a*b%2Bc"},
		{"%S", "1234"},
		{"%s%S", "1234a~b+c"},
		{"%r", "1234+a*b%2Bc+m%C3%BCde"},
		{"%s%r", "1234a*b%2Bc+m%C3%BCde"},
		{"%a", "BAL+1234+a*b%2Bc+m%C3%BCde"},
		{"%b", "BAL++1234+a*b%2Bc+m%C3%BCde"},
		{"%A", "BAL++1234+a*b%2Bc+m%C3%BCde"},
		{"%t", "2026-03-04+05:06:07"},
		{"%T", "1772600767"},
		{"%p", "%2B254712345678"},
		{"%P", "0022555"},
		{"%q", "%2B254712345678"},
		{"%Q", "%2B22555"},
		{"%i", "sim+one"},
		{"%I", "0190-abc"},
		{"%F", "12%2F34"},
		{"%n", "bal+svc"},
		{"%d", "9"},
		{"%c", "2"},
		{"%C", "UTF-16BE"},
		{"%m", "1"},
		{"%M", "-1"},
		{"%u", "%05%00%03*%02%01"},
		{"%U", "%U"}, // not an urltrans.c escape
		{"%O", "25"}, // UCS-2 with class 1: 0x19
		{"%#smpp#c#/%#SMPP#a#/%#x#a#", "d/b/"},
		{"%D", "%3Fsmpp%3Fa%3Db%26c%3Dd"},
		{"%R", "http%3A%2F%2Fh%2Fd%3Fx%3D%25d"},
		{"%o", "acc+1"},
		{"%B", "bi%261"},
		{"%v", "30"},
		{"%V", ""},
		{"%f", ""},
		{"100%%", "100%"},
		{"%x%Z", "%x%Z"}, // unknown escapes stay as they are
		{"end%", "end%"},
		{"http://app/dlr?id=42&type=%d&to=%p&smsc=%i&ts=%T", "http://app/dlr?id=42&type=9&to=%2B254712345678&smsc=sim+one&ts=1772600767"},
	}
	for _, c := range cases {
		if got := expand(c.pattern, m); got != c.want {
			t.Errorf("expand(%q) = %q, want %q", c.pattern, got, c.want)
		}
	}
}

func TestCharsetEscapeDefaults(t *testing.T) {
	for coding, want := range map[int]string{coding7Bit: "UTF-8", codingBinary: "8-BIT", codingUCS2: "UTF-16BE"} {
		if got := expand("%C", escapeMsg{Coding: coding}); got != want {
			t.Errorf("coding %d: %%C = %q, want %q", coding, got, want)
		}
	}
	if got := expand("%C", escapeMsg{Charset: "ISO-8859-1"}); got != "ISO-8859-1" {
		t.Errorf("%%C with a charset = %q", got)
	}
}

func TestURLEncodeMatchesGwlib(t *testing.T) {
	if got, want := urlEncode("a-_.!~*'() +/:é"), "a-_.!~*'()+%2B%2F%3A%C3%A9"; got != want {
		t.Errorf("urlEncode = %q, want %q", got, want)
	}
}
