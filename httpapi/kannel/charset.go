package kannel

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
)

// errCharset is a text that cannot be read in its charset.
var errCharset = errors.New("kannel: charset or body misformed")

// decodeText turns sendsms's text into UTF-8 the way gw/smsbox.c
// charset_processing does: with a charset, the text is converted from it;
// without one, a UCS-2 text (coding=2) is raw UTF-16BE and a 7-bit text is
// taken as UTF-8. smsgw is more lenient than Kannel in one case: a 7-bit
// text without a charset that is not valid UTF-8 is read as WINDOWS-1252,
// what legacy applications that never set charset send.
func decodeText(raw, charset string, coding int) (string, error) {
	if charset == "" {
		switch {
		case coding == codingUCS2:
			return fromUTF16BE([]byte(raw))
		case utf8.ValidString(raw):
			return raw, nil
		}
		return charmap.Windows1252.NewDecoder().String(raw)
	}
	switch strings.ToUpper(charset) {
	case "UTF-8", "UTF8":
		if !utf8.ValidString(raw) {
			return "", errCharset
		}
		return raw, nil
	case "UTF-16BE", "UCS-2", "UCS-2BE", "UTF16-BE":
		return fromUTF16BE([]byte(raw))
	}
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return "", errCharset
	}
	out, err := enc.NewDecoder().String(raw)
	if err != nil || !utf8.ValidString(out) {
		return "", errCharset
	}
	return out, nil
}

func fromUTF16BE(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", errCharset
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u)), nil
}
