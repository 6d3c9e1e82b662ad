package smstext

import (
	"errors"
	"fmt"
	"strings"
)

// gsmEscape is the GSM 03.38 escape to the extension table. It is never a
// character of its own: an extension character costs two septets.
const gsmEscape = 0x1B

// gsmCR is the carriage return septet, which TS 23.038 §6.1.2.3.1 uses to
// pad packed messages that would otherwise leave 7 spare bits (read as '@').
const gsmCR = 0x0D

// gsmDefault is the GSM 7-bit default alphabet of 3GPP TS 23.038 §6.2.1,
// indexed by septet. Position 0x1B is the escape; on its own it reads as a
// space, as the spec asks of receivers that do not understand the escape.
var gsmDefault = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsmExtension is the GSM 7-bit default alphabet extension table of
// TS 23.038 §6.2.1.1, indexed by the septet that follows the escape; zero
// means "not in the table".
var gsmExtension = [128]rune{
	0x0A: '\f',
	0x14: '^',
	0x28: '{',
	0x29: '}',
	0x2F: '\\',
	0x3C: '[',
	0x3D: '~',
	0x3E: ']',
	0x40: '|',
	0x65: '€',
}

// gsmNone marks a rune that GSM 03.38 cannot represent; gsmExt flags a code
// of the extension table (sent as escape + code).
const (
	gsmNone = 0xFFFF
	gsmExt  = 0x100
)

// gsmASCII and gsmOther are the encode direction of the two tables: a flat
// array for ASCII, which is most traffic, and a small map for the rest.
var (
	gsmASCII [128]uint16
	gsmOther = map[rune]uint16{}
)

func init() {
	for i := range gsmASCII {
		gsmASCII[i] = gsmNone
	}
	set := func(r rune, v uint16) {
		if r < 0x80 {
			gsmASCII[r] = v
		} else {
			gsmOther[r] = v
		}
	}
	for code, r := range gsmDefault {
		if code == gsmEscape {
			continue // the escape stands for no character; ' ' is 0x20
		}
		set(r, uint16(code))
	}
	for code, r := range gsmExtension {
		if r != 0 {
			set(r, uint16(code)|gsmExt)
		}
	}
}

// gsmLookup returns the GSM 03.38 code of r: its septet, and whether it is an
// extension character (two septets on the wire).
func gsmLookup(r rune) (code byte, ext, ok bool) {
	v := uint16(gsmNone)
	if r >= 0 && r < 0x80 {
		v = gsmASCII[r]
	} else if o, found := gsmOther[r]; found {
		v = o
	}
	if v == gsmNone {
		return 0, false, false
	}
	return byte(v), v&gsmExt != 0, true
}

// gsmWidth is the number of septets r costs in GSM 03.38, or 0 when r has
// no GSM representation.
func gsmWidth(r rune) int {
	_, ext, ok := gsmLookup(r)
	switch {
	case !ok:
		return 0
	case ext:
		return 2
	}
	return 1
}

// EncodeGSM7 maps text to unpacked GSM 03.38 septets, one per byte, with each
// extension character written as the escape 0x1B followed by its code. It
// reports false, and no septets, when some character is outside the default
// alphabet and its extension table: the caller must then use another coding,
// because GSM has no lossless fallback.
func EncodeGSM7(text string) ([]byte, bool) {
	out := make([]byte, 0, len(text))
	for _, r := range text {
		code, ext, ok := gsmLookup(r)
		if !ok {
			return nil, false
		}
		if ext {
			out = append(out, gsmEscape)
		}
		out = append(out, code)
	}
	return out, true
}

// ErrNotSeptet is returned when unpacked GSM 7-bit data holds an octet above
// 0x7F: the sender used another coding than it declared.
var ErrNotSeptet = errors.New("smstext: octet is not a GSM 7-bit septet")

// DecodeGSM7 turns unpacked GSM 03.38 septets into text. An escape followed
// by a code outside the extension table reads as the default-alphabet
// character of that code, a trailing escape or an escape pair (reserved for
// a further extension table) as one space, as
// TS 23.038 tells receivers to do, so no input is rejected except octets
// above 0x7F.
func DecodeGSM7(septets []byte) (string, error) {
	var b strings.Builder
	b.Grow(len(septets))
	for i := 0; i < len(septets); i++ {
		s := septets[i]
		if s > 0x7F {
			return "", fmt.Errorf("%w: 0x%02x at offset %d", ErrNotSeptet, s, i)
		}
		if s != gsmEscape {
			b.WriteRune(gsmDefault[s])
			continue
		}
		if i+1 >= len(septets) {
			b.WriteByte(' ')
			continue
		}
		if septets[i+1] == gsmEscape {
			// Escape to a further extension table, which TS 23.038 has
			// not defined: shown as a space.
			b.WriteByte(' ')
			i++
			continue
		}
		i++
		n := septets[i]
		if n > 0x7F {
			return "", fmt.Errorf("%w: 0x%02x at offset %d", ErrNotSeptet, n, i)
		}
		if r := gsmExtension[n]; r != 0 {
			b.WriteRune(r)
		} else {
			b.WriteRune(gsmDefault[n])
		}
	}
	return b.String(), nil
}

// PackGSM7 packs septets into octets the GSM way (first septet in the low
// bits of the first octet), after fillBits zero bits. fillBits is what a
// preceding UDH needs for the septets to start on a septet boundary (see
// FillBits); 0 without a UDH. When the last octet would keep exactly 7 spare
// bits a CR septet is written there, as TS 23.038 §6.1.2.3.1 requires, so the
// receiver does not read a trailing '@'; UnpackGSM7 drops it again.
func PackGSM7(septets []byte, fillBits int) []byte {
	fillBits %= 7
	nbits := fillBits + 7*len(septets)
	pad := (8-nbits%8)%8 == 7
	if pad {
		nbits += 7
	}
	out := make([]byte, (nbits+7)/8)
	bit := fillBits
	put := func(s byte) {
		s &= 0x7F
		i, off := bit/8, uint(bit%8)
		out[i] |= s << off
		if off > 1 {
			out[i+1] |= s >> (8 - off)
		}
		bit += 7
	}
	for _, s := range septets {
		put(s)
	}
	if pad {
		put(gsmCR)
	}
	return out
}

// UnpackGSM7 reverses PackGSM7: it skips fillBits, reads every whole septet
// and, when the last septet is a CR that fills the final octet exactly, drops
// it as the padding TS 23.038 §6.1.2.3.1 describes. A wanted CR that happens
// to end exactly on an octet boundary is indistinguishable from padding and is
// dropped too; the spec accepts that because a trailing CR carries no text.
func UnpackGSM7(packed []byte, fillBits int) []byte {
	out := unpackRaw(packed, fillBits)
	n := len(out)
	if n > 0 && out[n-1] == gsmCR && fillBits%7+7*n == 8*len(packed) {
		out = out[:n-1]
	}
	return out
}

// unpackRaw reads every whole septet after fillBits, padding included.
func unpackRaw(packed []byte, fillBits int) []byte {
	fillBits %= 7
	total := 8*len(packed) - fillBits
	if total < 7 {
		return nil
	}
	n := total / 7
	out := make([]byte, n)
	for k := range n {
		bit := fillBits + 7*k
		i, off := bit/8, uint(bit%8)
		v := packed[i] >> off
		if off > 1 {
			v |= packed[i+1] << (8 - off)
		}
		out[k] = v & 0x7F
	}
	return out
}

// FillBits is the number of zero bits packed GSM 7-bit text needs after a UDH
// of udhLen octets (UDHL included) so that the first septet starts on a
// septet boundary of the user data: 1 for the 6-octet concatenation UDH
// (48 bits, septets from bit 49), 0 for a 7-octet one.
func FillBits(udhLen int) int {
	if udhLen <= 0 {
		return 0
	}
	return (7 - (udhLen*8)%7) % 7
}
