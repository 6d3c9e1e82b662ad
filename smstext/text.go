package smstext

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Encoding names the alphabet a text is sent in. EncodingGSM7 and
// EncodingUCS2 are the names gateway.Encoding uses; the gateway keeps its
// own type and this package does not import it (Count is generic for that).
type Encoding string

// The encodings Segment picks.
const (
	EncodingGSM7 Encoding = "GSM7" // GSM 03.38 default alphabet and extension table
	EncodingUCS2 Encoding = "UCS2" // UTF-16BE, surrogate pairs included
	// EncodingLatin1 names ISO-8859-1 (data_coding 3). It is not a gateway
	// encoding: Count never picks it, and Segment only does
	// (TextOptions.Latin1) when it gives exactly the part count UCS-2
	// would, so the count a caller was told at accept time holds.
	EncodingLatin1 Encoding = "LATIN1"
)

// The SMPP 3.4 data_coding values this package sends and reads (§5.2.19).
const (
	DataCodingDefault byte = 0x00 // SMSC default alphabet: GSM 03.38 for every carrier we know
	DataCodingIA5     byte = 0x01 // IA5 (CCITT T.50) / ASCII
	DataCodingLatin1  byte = 0x03 // ISO-8859-1
	DataCodingUCS2    byte = 0x08 // UCS-2, sent as UTF-16BE so surrogate pairs pass
)

// Concatenation modes: how the parts of a long message are tied together
// (TextOptions.Concat). They decide the part sizes and the fill bits of
// packed GSM 7-bit parts; every mode keeps the part count Count gives (see
// Segments).
const (
	// ConcatUDH8 puts the 6-octet UDH with an 8-bit reference (IEI 0x00,
	// ConcatUDH) before each part: accepted by every carrier.
	ConcatUDH8 = "udh8"
	// ConcatUDH16 uses the 7-octet UDH with a 16-bit reference (IEI 0x08,
	// ConcatUDH16Bit), fewer reference collisions. A part then holds 152
	// septets / 133 octets / 66 UCS-2 units; a text that would need more
	// parts that way than Count said is cut for the 8-bit UDH instead.
	ConcatUDH16 = "udh16"
	// ConcatSAR sends each part without UDH, tied by SMPP's
	// sar_msg_ref_num, sar_total_segments and sar_segment_seqnum TLVs (the
	// SMSC builds the UDH). Parts are cut as for ConcatUDH8, packed ones
	// without fill bit.
	ConcatSAR = "sar"
	// ConcatPayload sends the whole text in one submit_sm's message_payload
	// TLV and lets the SMSC segment it (Segments.Whole); Parts then only
	// tell the count.
	ConcatPayload = "payload"
)

// What data_coding 0 means at a carrier (TextOptions.Alphabet). SMPP 3.4
// leaves it to the SMSC; most use GSM 03.38, some Latin-1 or ASCII, and
// Kannel's alt-charset exists for them.
const (
	AlphabetGSM7   = "gsm7"
	AlphabetLatin1 = "latin1"
	AlphabetASCII  = "ascii"
)

// Part size limits, in encoded units (septets, octets or UTF-16 code units).
// A part carrying the 6-octet concatenation UDH loses 6 of its 140 octets,
// one with the 7-octet 16-bit-reference UDH 7.
const (
	gsmSingle    = 160
	gsmMulti     = 153
	octetSingle  = 140
	octetMulti   = 134
	ucs2Single   = 70
	ucs2Multi    = 67
	gsmMulti16   = 152
	octetMulti16 = 133
	ucs2Multi16  = 66
	maxConcatLen = 255 // the 8-bit "total" field of the concatenation IE
)

// limits are the multi-part sizes of one concatenation mode.
type limits struct{ gsm, octet, ucs2 int }

var (
	limits8  = limits{gsmMulti, octetMulti, ucs2Multi}
	limits16 = limits{gsmMulti16, octetMulti16, ucs2Multi16}
)

// Errors from Segment and Count. They are permanent: resending the same text
// cannot succeed.
var (
	// ErrEmptyText: an SMS with no text is a caller mistake, not a message.
	ErrEmptyText = errors.New("smstext: empty text")
	// ErrInvalidUTF8: text must be valid UTF-8, or its encoding would not be
	// exact (invalid bytes would silently become U+FFFD).
	ErrInvalidUTF8 = errors.New("smstext: text is not valid UTF-8")
	// ErrTextTooLong: the concatenation IE counts parts in one octet, so a
	// text needing more than 255 parts cannot be sent as one message.
	ErrTextTooLong = errors.New("smstext: text needs more than 255 parts")
	// ErrDataCoding: DecodeText does not know the data_coding, or it is
	// binary data rather than text.
	ErrDataCoding = errors.New("smstext: unsupported data_coding")
	// ErrOddUCS2: UCS-2 payloads are whole 16-bit units.
	ErrOddUCS2 = errors.New("smstext: UCS-2 payload has an odd length")
	// ErrAlphabet: the text is GSM 03.38 but has a character the carrier's
	// data_coding 0 alphabet (TextOptions.Alphabet) lacks, and sending it
	// any other way would change its part count. Another route may take it.
	ErrAlphabet = errors.New("smstext: text has a character the carrier's default alphabet lacks")
)

// TextOptions are per-carrier text settings. The zero value is what nearly
// every carrier wants: unpacked GSM 7-bit, UCS-2 for everything else.
type TextOptions struct {
	PackGSM7 bool // pack GSM 7-bit septets (carrier wants packed); default unpacked, one septet per octet
	Latin1   bool // allow data_coding 3 (Latin-1) when the text fits Latin-1 but not GSM 03.38 (off by default; chosen only when it gives the same part count as UCS-2)
	// Concat is the concatenation mode (ConcatUDH8 when empty): it decides
	// the part sizes and the packed-GSM7 fill bits.
	Concat string
	// Alphabet is what data_coding 0 means at the carrier (AlphabetGSM7
	// when empty). With AlphabetLatin1 or AlphabetASCII, GSM texts are
	// written one octet per character in that alphabet (PackGSM7 is then
	// ignored) and MO with data_coding 0 is read in it.
	Alphabet string
	// UCS2 writes the text in UCS-2 even where GSM 03.38 or Latin-1 could
	// (a caller asking for it, as Kannel's coding=2 does).
	UCS2 bool
}

// Segments is a text encoded for SMPP and cut into SMS parts, so the bind
// pool only copies bytes into submit_sm PDUs.
//
// What the caller sends for part i (0-based) of n = len(Parts):
//
//   - n == 1: short_message = Parts[0], sm_length = len(Parts[0]), no UDH,
//     esm_class without UDHI.
//   - n > 1 with Concat ConcatUDH8: short_message = ConcatUDH(ref, n, i+1)
//     followed by Parts[i] (6 + len(Parts[i]) octets, never more than 140
//     when packed or for UCS-2/Latin-1, 159 for unpacked GSM7), esm_class
//     |= 0x40 (UDHI), the same ref for every part.
//   - n > 1 with ConcatUDH16: the same with ConcatUDH16Bit(ref, n, i+1), 7
//     octets (packed parts then need no fill bit).
//   - n > 1 with ConcatSAR: short_message = Parts[i] without UDH (packed
//     parts without fill bit) and the three SAR TLVs.
//   - ConcatPayload: one submit_sm whose message_payload TLV is Whole and
//     whose short_message is empty; Parts only tell the count.
//
// In every case data_coding = DataCoding. Packed GSM7 parts of a multi-part
// text already start with the 1 fill bit the 6-octet UDH needs (FillBits(6)),
// so they are only valid after exactly that 6-octet UDH; single parts have no
// fill bit. sm_length always counts octets, never septets: an SMSC derives
// the septet count from it, which is why a packed part that would leave 7
// spare bits carries a padding CR (see PackGSM7). One case stays ambiguous on
// the wire: a part that ends exactly on an octet boundary with a wanted CR
// reads like a padded one, and DecodeText drops that CR (handsets show an
// extra CR at worst; the part count never changes for it).
type Segments struct {
	Encoding   Encoding // EncodingGSM7, EncodingUCS2 or EncodingLatin1
	DataCoding byte     // 0x00 GSM7, 0x03 Latin-1, 0x08 UCS-2
	Parts      [][]byte // short_message payload per part, without the UDH (see the type's doc)
	Septets    []int    // GSM7 only: text septets per part (escape pairs count 2, padding CR not counted); nil otherwise
	// Concat is the mode the parts were cut for: the one asked, except
	// ConcatUDH8 when ConcatUDH16 would have changed the part count.
	Concat string
	// Whole is the entire text encoded without UDH (for message_payload);
	// set only when Concat is ConcatPayload.
	Whole []byte
}

// Segment picks the cheapest encoding that represents text exactly (GSM 03.38
// default alphabet + extension table, else UCS-2; Latin-1 instead of UCS-2
// only when opt.Latin1 and it needs the same number of parts) and cuts it
// into parts: a single part holds 160 septets / 140 octets / 70 UTF-16
// units, a part of a concatenated message 153 / 134 / 67 (152 / 133 / 66
// with the 16-bit-reference UDH). The part count always equals Count's: with
// ConcatUDH16, a text the larger header would push into one more part is cut
// for the 8-bit UDH instead (Segments.Concat says which). An escape pair or
// a UTF-16 surrogate pair is never split across parts, so every part decodes
// on its own. Empty text, invalid UTF-8 and texts needing more than 255
// parts are errors, and so is a GSM text with a character opt.Alphabet
// lacks (ErrAlphabet).
func Segment(text string, opt TextOptions) (Segments, error) {
	if err := checkText(text); err != nil {
		return Segments{}, err
	}
	mode := opt.Concat
	if mode == "" {
		mode = ConcatUDH8
	}
	lim, fill := limits8, FillBits(concatUDHLen)
	switch mode {
	case ConcatUDH16:
		lim, fill = limits16, FillBits(concatUDH16Len)
	case ConcatSAR, ConcatPayload:
		fill = 0
	}
	s, err := segmentWith(text, opt, lim, fill)
	if err != nil {
		return s, err
	}
	s.Concat = mode
	if mode == ConcatUDH16 && len(s.Parts) > 1 {
		if _, want, _ := count(text, opt.UCS2); want != len(s.Parts) {
			s, err = segmentWith(text, opt, limits8, FillBits(concatUDHLen))
			s.Concat = ConcatUDH8
			return s, err
		}
	}
	if mode == ConcatPayload {
		whole, err := segmentWith(text, opt, limits{1 << 30, 1 << 30, 1 << 30}, 0)
		if err != nil {
			return s, err
		}
		s.Whole = whole.Parts[0]
	}
	return s, nil
}

func segmentWith(text string, opt TextOptions, lim limits, fill int) (Segments, error) {
	if septets, ok := EncodeGSM7(text); ok && !opt.UCS2 {
		switch opt.Alphabet {
		case AlphabetLatin1, AlphabetASCII:
			return segmentGSM7As(septets, opt.Alphabet, lim.gsm)
		}
		return segmentGSM7(septets, opt.PackGSM7, lim.gsm, fill)
	}
	units := make([]uint16, 0, len(text))
	for _, r := range text {
		units = utf16.AppendRune(units, r)
	}
	if opt.Latin1 && !opt.UCS2 && fitsLatin1(text) {
		// Every Latin-1 character is one UTF-16 unit, so len(units) is also
		// the Latin-1 octet count.
		n := len(units)
		if partsFor(n, octetSingle, lim.octet) == len(cutPoints(n, ucs2Single, lim.ucs2, surrogateJoined(units))) {
			return segmentLatin1(text, n, lim.octet)
		}
	}
	return segmentUCS2(units, lim.ucs2)
}

// Count gives the encoding and part count of Segment with default options,
// without building the parts, so a caller is told a price before anything
// is encoded. E is the caller's string type for the encoding name:
// Count[gateway.Encoding] is the gateway.Segmenter the engine uses at
// accept time, Count[Encoding] anyone else's.
func Count[E ~string](text string) (E, int, error) {
	enc, parts, err := count(text, false)
	return E(enc), parts, err
}

// CountUCS2 is Count for a text written in UCS-2 whatever its characters
// (TextOptions.UCS2).
func CountUCS2[E ~string](text string) (E, int, error) {
	enc, parts, err := count(text, true)
	return E(enc), parts, err
}

func count(text string, ucs2 bool) (Encoding, int, error) {
	if err := checkText(text); err != nil {
		return "", 0, err
	}
	// One pass counts both ways: total units, and parts when cut greedily
	// at the multi-part limit keeping escape and surrogate pairs whole
	// (what cutPoints does).
	gsm := true
	septets, gsmParts, gsmCur := 0, 1, 0
	units, ucsParts, ucsCur := 0, 1, 0
	for _, r := range text {
		if gsm {
			var w int
			if r < 0x80 {
				switch v := gsmASCII[r]; {
				case v == gsmNone:
				case v&gsmExt != 0:
					w = 2
				default:
					w = 1
				}
			} else {
				w = gsmWidth(r)
			}
			if w == 0 {
				gsm = false
			} else {
				septets += w
				if gsmCur+w > gsmMulti {
					gsmParts++
					gsmCur = 0
				}
				gsmCur += w
			}
		}
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		units += w
		if ucsCur+w > ucs2Multi {
			ucsParts++
			ucsCur = 0
		}
		ucsCur += w
	}
	enc, parts := EncodingUCS2, ucsParts
	if units <= ucs2Single {
		parts = 1
	}
	if gsm && !ucs2 {
		enc, parts = EncodingGSM7, gsmParts
		if septets <= gsmSingle {
			parts = 1
		}
	}
	if parts > maxConcatLen {
		return "", 0, fmt.Errorf("%w (%d)", ErrTextTooLong, parts)
	}
	return enc, parts, nil
}

func checkText(text string) error {
	if text == "" {
		return ErrEmptyText
	}
	if !utf8.ValidString(text) {
		return ErrInvalidUTF8
	}
	return nil
}

// partsFor counts parts for n single-width units.
func partsFor(n, single, multi int) int {
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}

// cutPoints returns the end index of each part of n units. joined(i) reports
// that units i-1 and i form one character, so no part may end before i.
func cutPoints(n, single, multi int, joined func(i int) bool) []int {
	if n <= single {
		return []int{n}
	}
	ends := make([]int, 0, (n+multi-1)/multi+1)
	for start := 0; start < n; {
		end := min(start+multi, n)
		if end < n && joined(end) {
			end--
		}
		ends = append(ends, end)
		start = end
	}
	return ends
}

func segmentGSM7(septets []byte, packed bool, multi, udhFill int) (Segments, error) {
	ends := cutPoints(len(septets), gsmSingle, multi, func(i int) bool {
		// Extension codes are never 0x1B, so a 0x1B before i is an escape
		// whose code is at i.
		return septets[i-1] == gsmEscape
	})
	if len(ends) > maxConcatLen {
		return Segments{}, fmt.Errorf("%w (%d)", ErrTextTooLong, len(ends))
	}
	s := Segments{
		Encoding:   EncodingGSM7,
		DataCoding: DataCodingDefault,
		Parts:      make([][]byte, len(ends)),
		Septets:    make([]int, len(ends)),
	}
	fill := 0
	if len(ends) > 1 {
		fill = udhFill
	}
	start := 0
	for i, end := range ends {
		chunk := septets[start:end:end]
		if packed {
			s.Parts[i] = PackGSM7(chunk, fill)
		} else {
			s.Parts[i] = chunk
		}
		s.Septets[i] = end - start
		start = end
	}
	return s, nil
}

// surrogateJoined reports for cutPoints that a high surrogate before i
// pairs with the unit at i.
func surrogateJoined(units []uint16) func(i int) bool {
	return func(i int) bool {
		return utf16.IsSurrogate(rune(units[i-1])) && units[i-1] < 0xDC00
	}
}

func segmentUCS2(units []uint16, multi int) (Segments, error) {
	ends := cutPoints(len(units), ucs2Single, multi, surrogateJoined(units))
	if len(ends) > maxConcatLen {
		return Segments{}, fmt.Errorf("%w (%d)", ErrTextTooLong, len(ends))
	}
	s := Segments{
		Encoding:   EncodingUCS2,
		DataCoding: DataCodingUCS2,
		Parts:      make([][]byte, len(ends)),
	}
	buf := make([]byte, 2*len(units))
	for i, u := range units {
		buf[2*i] = byte(u >> 8)
		buf[2*i+1] = byte(u)
	}
	start := 0
	for i, end := range ends {
		s.Parts[i] = buf[2*start : 2*end : 2*end]
		start = end
	}
	return s, nil
}

// segmentGSM7As cuts GSM septets exactly as segmentGSM7 does (so the count
// is Count's) and writes each part one octet per character in the carrier's
// data_coding 0 alphabet: an escape pair becomes one octet.
func segmentGSM7As(septets []byte, alphabet string, multi int) (Segments, error) {
	s, err := segmentGSM7(septets, false, multi, 0)
	if err != nil {
		return s, err
	}
	top := rune(0xFF)
	if alphabet == AlphabetASCII {
		top = 0x7F
	}
	for i, p := range s.Parts {
		out := make([]byte, 0, len(p))
		for j := 0; j < len(p); j++ {
			r := gsmDefault[p[j]]
			if p[j] == gsmEscape && j+1 < len(p) {
				j++
				r = gsmExtension[p[j]]
			}
			if r == 0 || r > top {
				return Segments{}, fmt.Errorf("%w (%q in %s)", ErrAlphabet, r, alphabet)
			}
			out = append(out, byte(r))
		}
		s.Parts[i] = out
	}
	return s, nil
}

func fitsLatin1(text string) bool {
	for _, r := range text {
		if r > 0xFF {
			return false
		}
	}
	return true
}

func segmentLatin1(text string, n, multi int) (Segments, error) {
	buf := make([]byte, 0, n)
	for _, r := range text {
		buf = append(buf, byte(r))
	}
	ends := cutPoints(n, octetSingle, multi, func(int) bool { return false })
	if len(ends) > maxConcatLen {
		return Segments{}, fmt.Errorf("%w (%d)", ErrTextTooLong, len(ends))
	}
	s := Segments{
		Encoding:   EncodingLatin1,
		DataCoding: DataCodingLatin1,
		Parts:      make([][]byte, len(ends)),
	}
	start := 0
	for i, end := range ends {
		s.Parts[i] = buf[start:end:end]
		start = end
	}
	return s, nil
}

// DecodeText turns an incoming short_message without UDH into text, for MO
// messages and for the SMSC simulator. data_coding 0 is GSM 03.38 (unpacked,
// or packed when opt.PackGSM7), 1 IA5/ASCII (octets above 0x7F become
// U+FFFD rather than losing the message), 3 Latin-1, 8 UCS-2 read as
// UTF-16BE (unpaired surrogates become U+FFFD). The GSM 03.38 data coding
// scheme groups that carry a message class or waiting indication with the
// default alphabet (0x10–0x13, 0xC0–0xDF, 0xF0–0xF3) or UCS-2 (0x18–0x1B,
// 0xE0–0xEF) are read the same way. Anything else, binary data included, is
// an error wrapping ErrDataCoding that names the coding; no input panics.
func DecodeText(dataCoding byte, payload []byte, opt TextOptions) (string, error) {
	return decodeText(dataCoding, payload, 0, opt)
}

// DecodeTextUDH decodes the body of a short_message that carried a UDH, as
// SplitUDH returns them: packed GSM 7-bit text then starts after the fill
// bits the UDH length implies (FillBits). Every part, middle ones included,
// is read on its own as DecodeText reads a whole message.
func DecodeTextUDH(dataCoding byte, udh, body []byte, opt TextOptions) (string, error) {
	return decodeText(dataCoding, body, FillBits(len(udh)), opt)
}

func decodeText(dc byte, payload []byte, fill int, opt TextOptions) (string, error) {
	a, ok := TextCoding(dc)
	if !ok {
		return "", fmt.Errorf("%w 0x%02x (%s)", ErrDataCoding, dc, codingName(dc))
	}
	if a == DataCodingDefault {
		switch opt.Alphabet {
		case AlphabetLatin1:
			a = DataCodingLatin1
		case AlphabetASCII:
			a = DataCodingIA5
		}
	}
	switch a {
	case DataCodingDefault:
		if !opt.PackGSM7 {
			return DecodeGSM7(payload)
		}
		return DecodeGSM7(UnpackGSM7(payload, fill))
	case DataCodingIA5:
		var b strings.Builder
		b.Grow(len(payload))
		for _, c := range payload {
			if c < 0x80 {
				b.WriteByte(c)
			} else {
				b.WriteRune(utf8.RuneError)
			}
		}
		return b.String(), nil
	case DataCodingLatin1:
		var b strings.Builder
		b.Grow(len(payload) * 2)
		for _, c := range payload {
			b.WriteRune(rune(c))
		}
		return b.String(), nil
	case DataCodingUCS2:
		if len(payload)%2 != 0 {
			return "", fmt.Errorf("%w (%d octets)", ErrOddUCS2, len(payload))
		}
		units := make([]uint16, len(payload)/2)
		for i := range units {
			units[i] = uint16(payload[2*i])<<8 | uint16(payload[2*i+1])
		}
		return string(utf16.Decode(units)), nil
	}
	return "", fmt.Errorf("%w 0x%02x (%s)", ErrDataCoding, dc, codingName(dc))
}

// TextCoding maps a data_coding to the one of the four text codings it
// means (DataCodingDefault, DataCodingIA5, DataCodingLatin1 or
// DataCodingUCS2), the GSM 03.38 message class and waiting indication
// groups included; false when dc is not text DecodeText reads.
func TextCoding(dc byte) (byte, bool) {
	switch {
	case dc == DataCodingDefault, dc == DataCodingIA5, dc == DataCodingLatin1, dc == DataCodingUCS2:
		return dc, true
	case dc >= 0x10 && dc <= 0x13, dc >= 0xC0 && dc <= 0xDF, dc >= 0xF0 && dc <= 0xF3:
		return DataCodingDefault, true
	case dc >= 0x18 && dc <= 0x1B, dc >= 0xE0 && dc <= 0xEF:
		return DataCodingUCS2, true
	}
	return 0, false
}

// codingName names a data_coding for error messages (SMPP 3.4 §5.2.19).
func codingName(dc byte) string {
	switch dc {
	case 0x02, 0x04:
		return "8-bit binary"
	case 0x05:
		return "JIS"
	case 0x06:
		return "Cyrillic"
	case 0x07:
		return "Latin/Hebrew"
	case 0x09:
		return "pictogram"
	case 0x0A:
		return "ISO-2022-JP"
	case 0x0D:
		return "extended Kanji"
	case 0x0E:
		return "KS C 5601"
	}
	if dc >= 0x14 && dc <= 0x17 || dc >= 0xF4 && dc <= 0xF7 {
		return "8-bit data"
	}
	return "unknown"
}
