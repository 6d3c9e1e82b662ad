package smstext

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestSegmentLimits(t *testing.T) {
	rep := strings.Repeat
	emoji := "😀" // U+1F600: a surrogate pair in UTF-16
	tests := []struct {
		name    string
		text    string
		enc     Encoding
		sizes   []int // septets (GSM7) or UTF-16 units (UCS-2) per part
		latin1  bool
		octets  []int // when set: len(Parts[i])
		comment string
	}{
		{name: "1 char", text: "a", enc: EncodingGSM7, sizes: []int{1}},
		{name: "160 GSM", text: rep("a", 160), enc: EncodingGSM7, sizes: []int{160}},
		{name: "161 GSM", text: rep("a", 161), enc: EncodingGSM7, sizes: []int{153, 8}},
		{name: "306 GSM", text: rep("a", 306), enc: EncodingGSM7, sizes: []int{153, 153}},
		{name: "307 GSM", text: rep("a", 307), enc: EncodingGSM7, sizes: []int{153, 153, 1}},
		{name: "euro is 2 septets", text: rep("€", 80), enc: EncodingGSM7, sizes: []int{160}},
		{name: "euro pushes over", text: rep("€", 80) + "a", enc: EncodingGSM7, sizes: []int{152, 9}},
		{name: "159 + euro", text: rep("a", 159) + "€", enc: EncodingGSM7, sizes: []int{153, 8}},
		// The escape lands on septet 153 (index 152): the pair moves whole to part 2.
		{name: "escape at boundary", text: rep("a", 152) + "€" + rep("b", 10), enc: EncodingGSM7, sizes: []int{152, 12}},
		{name: "escape just fits", text: rep("a", 151) + "€" + rep("b", 10), enc: EncodingGSM7, sizes: []int{153, 10}},
		{name: "gsm specials", text: "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ ¤¡¿§äöñüà^{}\\[~]|\f", enc: EncodingGSM7},
		{name: "70 UCS-2", text: rep("Ж", 70), enc: EncodingUCS2, sizes: []int{70}},
		{name: "71 UCS-2", text: rep("Ж", 71), enc: EncodingUCS2, sizes: []int{67, 4}},
		{name: "one non-GSM char", text: rep("a", 69) + "ç", enc: EncodingUCS2, sizes: []int{70}},
		{name: "35 emoji", text: rep(emoji, 35), enc: EncodingUCS2, sizes: []int{70}},
		{name: "36 emoji", text: rep(emoji, 36), enc: EncodingUCS2, sizes: []int{66, 6}},
		{name: "emoji at boundary", text: rep("Ж", 66) + emoji + rep("Ж", 3), enc: EncodingUCS2, sizes: []int{66, 5}},
		{name: "emoji just fits", text: rep("Ж", 65) + emoji + rep("Ж", 4), enc: EncodingUCS2, sizes: []int{67, 4}},
		{name: "latin1 off", text: rep("ã", 100), enc: EncodingUCS2, sizes: []int{67, 33}},
		// Latin-1 only when it keeps the count Count gave (UCS-2's).
		{name: "latin1 would change the count", text: rep("ã", 100), latin1: true, enc: EncodingUCS2, sizes: []int{67, 33}},
		{name: "latin1 same count", text: rep("ã", 10), latin1: true, enc: EncodingLatin1, octets: []int{10}},
		{name: "latin1 70 same count", text: rep("ã", 70), latin1: true, enc: EncodingLatin1, octets: []int{70}},
		{name: "latin1 71 changes count", text: rep("ã", 71), latin1: true, enc: EncodingUCS2, sizes: []int{67, 4}},
		{name: "gsm beats latin1", text: rep("é", 100), latin1: true, enc: EncodingGSM7, sizes: []int{100}},
		{name: "beyond latin1", text: rep("ã", 100) + "Ж", latin1: true, enc: EncodingUCS2, sizes: []int{67, 34}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Segment(tt.text, TextOptions{Latin1: tt.latin1})
			if err != nil {
				t.Fatal(err)
			}
			if s.Encoding != tt.enc {
				t.Fatalf("encoding %s, want %s", s.Encoding, tt.enc)
			}
			var sizes []int
			for _, p := range s.Parts {
				switch s.Encoding {
				case EncodingGSM7:
					sizes = append(sizes, len(p))
				case EncodingUCS2:
					sizes = append(sizes, len(p)/2)
				}
			}
			if tt.sizes != nil && !equalInts(sizes, tt.sizes) {
				t.Errorf("part sizes %v, want %v", sizes, tt.sizes)
			}
			if s.Encoding == EncodingGSM7 && !equalInts(s.Septets, sizes) {
				t.Errorf("Septets %v, want %v", s.Septets, sizes)
			}
			if s.Encoding != EncodingGSM7 && s.Septets != nil {
				t.Errorf("Septets = %v for %s, want nil", s.Septets, s.Encoding)
			}
			if tt.octets != nil {
				var got []int
				for _, p := range s.Parts {
					got = append(got, len(p))
				}
				if !equalInts(got, tt.octets) {
					t.Errorf("part octets %v, want %v", got, tt.octets)
				}
			}
			wantDC := map[Encoding]byte{EncodingGSM7: 0, EncodingUCS2: 8, EncodingLatin1: 3}[s.Encoding]
			if s.DataCoding != wantDC {
				t.Errorf("data_coding %d, want %d", s.DataCoding, wantDC)
			}
			if got := decodeParts(t, s, TextOptions{Latin1: tt.latin1}); got != tt.text {
				t.Errorf("round trip %q, want %q", got, tt.text)
			}
			if !tt.latin1 {
				enc, n, err := Count[Encoding](tt.text)
				if err != nil || enc != s.Encoding || n != len(s.Parts) {
					t.Errorf("Count = %s, %d, %v; Segment gave %s, %d", enc, n, err, s.Encoding, len(s.Parts))
				}
			}
		})
	}
}

func TestSegmentErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want error
	}{
		{"empty", "", ErrEmptyText},
		{"invalid utf-8", "ab\xffcd", ErrInvalidUTF8},
		{"256 GSM parts", strings.Repeat("a", 255*153+1), ErrTextTooLong},
		{"256 UCS-2 parts", strings.Repeat("Ж", 255*67+1), ErrTextTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Segment(tt.text, TextOptions{}); !errors.Is(err, tt.want) {
				t.Errorf("Segment err = %v, want %v", err, tt.want)
			}
			if _, _, err := Count[Encoding](tt.text); !errors.Is(err, tt.want) {
				t.Errorf("Count err = %v, want %v", err, tt.want)
			}
		})
	}
	s, err := Segment(strings.Repeat("a", 255*153), TextOptions{PackGSM7: true})
	if err != nil || len(s.Parts) != 255 {
		t.Errorf("255 parts: %d parts, %v", len(s.Parts), err)
	}
}

// decodeParts decodes every part as a receiver would, UDH included when the
// text has several parts, and joins them.
func decodeParts(t *testing.T, s Segments, opt TextOptions) string {
	t.Helper()
	var b strings.Builder
	ref := byte(0x5A)
	for i, p := range s.Parts {
		var (
			text string
			err  error
		)
		if len(s.Parts) == 1 {
			checkPartSize(t, s, p, 0)
			text, err = DecodeText(s.DataCoding, p, opt)
		} else {
			msg := append(ConcatUDH(ref, len(s.Parts), i+1), p...)
			checkPartSize(t, s, p, 6)
			udh, body, c, err2 := SplitUDH(msg)
			if err2 != nil {
				t.Fatalf("part %d: SplitUDH: %v", i, err2)
			}
			if c == nil || c.Ref != uint16(ref) || c.Total != len(s.Parts) || c.Seq != i+1 {
				t.Fatalf("part %d: concat %+v", i, c)
			}
			text, err = DecodeTextUDH(s.DataCoding, udh, body, opt)
		}
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		b.WriteString(text)
	}
	return b.String()
}

// checkPartSize asserts a part fits one SMS (140 octets of user data, or
// 160 septets for unpacked GSM7, minus the UDH).
func checkPartSize(t *testing.T, s Segments, p []byte, udh int) {
	t.Helper()
	if s.Encoding == EncodingGSM7 && !isPacked(s) {
		limit := 160
		if udh > 0 {
			limit = 153
		}
		if len(p) > limit {
			t.Fatalf("unpacked part of %d septets, limit %d", len(p), limit)
		}
		return
	}
	if len(p)+udh > 140 {
		t.Fatalf("part of %d octets + UDH %d > 140", len(p), udh)
	}
	if s.Encoding == EncodingUCS2 && len(p)%2 != 0 {
		t.Fatalf("odd UCS-2 part")
	}
}

// isPacked tells packed from unpacked GSM7 parts by their length.
func isPacked(s Segments) bool {
	for i, p := range s.Parts {
		if len(p) != s.Septets[i] {
			return true
		}
	}
	return false
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// gsmRunes is every character GSM 03.38 can send, extension table included.
func gsmRunes() []rune {
	var rs []rune
	for i, r := range gsmDefault {
		if i != gsmEscape {
			rs = append(rs, r)
		}
	}
	for _, r := range gsmExtension {
		if r != 0 {
			rs = append(rs, r)
		}
	}
	return rs
}

// TestSegmentRoundTripGSM is a property test: for random GSM texts of every
// length up to 5 parts, Segment then decoding every part gives the text back
// (packed: a trailing CR on an octet boundary may be taken as padding), every
// part fits, and Count agrees.
func TestSegmentRoundTripGSM(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 38))
	alphabet := gsmRunes()
	ext := []rune("€[]{}|^~\\\f")
	for iter := range 3000 {
		n := 1 + rng.IntN(800)
		rs := make([]rune, n)
		for i := range rs {
			switch {
			case iter%3 == 0 && rng.IntN(4) == 0:
				rs[i] = ext[rng.IntN(len(ext))] // many escapes, many boundary cases
			case iter%3 == 1:
				rs[i] = 'a' + rune(rng.IntN(26))
			default:
				rs[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		text := string(rs)
		for _, packed := range []bool{false, true} {
			opt := TextOptions{PackGSM7: packed}
			s, err := Segment(text, opt)
			if err != nil {
				t.Fatal(err)
			}
			if s.Encoding != EncodingGSM7 {
				t.Fatalf("encoding %s for GSM text", s.Encoding)
			}
			got := decodeParts(t, s, opt)
			if !sameText(got, text, packed) {
				t.Fatalf("packed=%v: round trip of %q gave %q", packed, text, got)
			}
			for i, p := range s.Parts {
				if !packed && p[len(p)-1] == gsmEscape {
					t.Fatalf("part %d ends with a lone escape", i)
				}
			}
			enc, parts, err := Count[Encoding](text)
			if err != nil || enc != s.Encoding || parts != len(s.Parts) {
				t.Fatalf("Count = %s %d %v, Segment %s %d", enc, parts, err, s.Encoding, len(s.Parts))
			}
		}
	}
}

// TestSegmentRoundTripUnicode is the same property for random Unicode,
// astral planes (surrogate pairs) included.
func TestSegmentRoundTripUnicode(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 70))
	for range 3000 {
		n := 1 + rng.IntN(400)
		rs := make([]rune, n)
		for i := range rs {
			switch rng.IntN(4) {
			case 0:
				rs[i] = 0x1F300 + rune(rng.IntN(0x300)) // emoji
			case 1:
				rs[i] = 0x400 + rune(rng.IntN(0x100)) // Cyrillic
			case 2:
				rs[i] = rune(0x20 + rng.IntN(0xE0)) // ASCII and Latin-1
			default:
				for {
					r := rune(rng.IntN(0x10FFFF))
					if utf8.ValidRune(r) {
						rs[i] = r
						break
					}
				}
			}
		}
		text := string(rs)
		for _, latin1 := range []bool{false, true} {
			opt := TextOptions{Latin1: latin1}
			s, err := Segment(text, opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := decodeParts(t, s, opt); got != text {
				t.Fatalf("round trip of %q gave %q", text, got)
			}
			if s.Encoding == EncodingUCS2 {
				for i, p := range s.Parts {
					last := uint16(p[len(p)-2])<<8 | uint16(p[len(p)-1])
					if utf16.IsSurrogate(rune(last)) && last < 0xDC00 {
						t.Fatalf("part %d ends with a high surrogate", i)
					}
				}
			}
			if !latin1 {
				enc, parts, err := Count[Encoding](text)
				if err != nil || enc != s.Encoding || parts != len(s.Parts) {
					t.Fatalf("Count = %s %d %v, Segment %s %d", enc, parts, err, s.Encoding, len(s.Parts))
				}
			}
		}
	}
}

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name    string
		dc      byte
		hex     string
		packed  bool
		want    string
		wantErr string
	}{
		{name: "gsm unpacked", dc: 0x00, hex: "48656c6c6f1b65", want: "Hello€"},
		{name: "gsm packed", dc: 0x00, hex: "c8329bfd06", packed: true, want: "Hello"},
		{name: "gsm packed CR pad", dc: 0x00, hex: "31d98c56b3dd1a", packed: true, want: "1234567"},
		{name: "gsm class 0xF0", dc: 0xF0, hex: "4869", want: "Hi"},
		{name: "gsm class 0x11", dc: 0x11, hex: "4869", want: "Hi"},
		{name: "ia5", dc: 0x01, hex: "48692140", want: "Hi!@"},
		{name: "ia5 high octet", dc: 0x01, hex: "48e9", want: "H\uFFFD"},
		{name: "latin1", dc: 0x03, hex: "e3e9ff", want: "ãéÿ"},
		{name: "ucs2", dc: 0x08, hex: "041620ac", want: "Ж€"},
		{name: "ucs2 surrogate pair", dc: 0x08, hex: "d83dde00", want: "😀"},
		{name: "ucs2 lone surrogate", dc: 0x08, hex: "d83d0041", want: "\uFFFDA"},
		{name: "ucs2 class 0x18", dc: 0x18, hex: "0041", want: "A"},
		{name: "empty", dc: 0x08, hex: "", want: ""},
		{name: "ucs2 odd", dc: 0x08, hex: "004100", wantErr: "odd length"},
		{name: "binary", dc: 0x04, hex: "0102", wantErr: "0x04 (8-bit binary)"},
		{name: "binary class", dc: 0xF6, hex: "0102", wantErr: "0xf6 (8-bit data)"},
		{name: "cyrillic", dc: 0x06, hex: "41", wantErr: "0x06 (Cyrillic)"},
		{name: "unknown", dc: 0x7F, hex: "41", wantErr: "0x7f (unknown)"},
		{name: "gsm not septets", dc: 0x00, hex: "41ff", wantErr: "0xff at offset 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeText(tt.dc, b, TextOptions{PackGSM7: tt.packed})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("DecodeText = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := DecodeText(0x02, nil, TextOptions{}); !errors.Is(err, ErrDataCoding) {
		t.Errorf("binary: err = %v, want ErrDataCoding", err)
	}
}

// A CR that a packed part needs as padding (the part was cut at 152 septets
// to keep an escape pair whole) is dropped again by the receiver.
func TestPackedPaddingInMiddlePart(t *testing.T) {
	text := strings.Repeat("a", 152) + "€" + strings.Repeat("b", 20)
	opt := TextOptions{PackGSM7: true}
	s, err := Segment(text, opt)
	if err != nil {
		t.Fatal(err)
	}
	// 1 fill bit + 152 septets = 1065 bits: 7 spare bits, padded with CR.
	if len(s.Parts) != 2 || s.Septets[0] != 152 || len(s.Parts[0]) != 134 {
		t.Fatalf("septets %v, first part %d octets", s.Septets, len(s.Parts[0]))
	}
	if last := s.Parts[0][133]; last>>1 != gsmCR {
		t.Errorf("last octet %#x, want CR in its top 7 bits", last)
	}
	if got := decodeParts(t, s, opt); got != text {
		t.Errorf("round trip %q, want %q", got, text)
	}
}

// sameText compares a round trip; packed GSM7 may lose a CR that ends a
// part exactly on an octet boundary (see Segments).
func sameText(got, want string, packed bool) bool {
	if got == want {
		return true
	}
	return packed && strings.ReplaceAll(got, "\r", "") == strings.ReplaceAll(want, "\r", "") && len(got) < len(want)
}

// goldenCase is one entry of testdata/segments.json: the exact bytes we put
// on the wire for a text, hex-encoded, so a change to the coding shows up in
// review.
type goldenCase struct {
	Name       string   `json:"name"`
	Text       string   `json:"text"`
	Pack       bool     `json:"pack,omitempty"`
	Latin1     bool     `json:"latin1,omitempty"`
	Encoding   string   `json:"encoding"`
	DataCoding byte     `json:"data_coding"`
	Parts      []string `json:"parts"`
	Septets    []int    `json:"septets,omitempty"`
}

func TestSegmentGolden(t *testing.T) {
	path := filepath.Join("testdata", "segments.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		s, err := Segment(c.Text, TextOptions{PackGSM7: c.Pack, Latin1: c.Latin1})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		got := goldenCase{Name: c.Name, Text: c.Text, Pack: c.Pack, Latin1: c.Latin1,
			Encoding: string(s.Encoding), DataCoding: s.DataCoding, Septets: s.Septets}
		for _, p := range s.Parts {
			got.Parts = append(got.Parts, hex.EncodeToString(p))
		}
		if *update {
			cases[i] = got
			continue
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(c)
		if string(g) != string(w) {
			t.Errorf("%s:\n got %s\nwant %s", c.Name, g, w)
		}
	}
	if *update {
		out, err := json.MarshalIndent(cases, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzDecodeText(f *testing.F) {
	f.Add(byte(0x00), []byte("Hello"), false)
	f.Add(byte(0x00), []byte{0xc8, 0x32, 0x9b, 0xfd, 0x06}, true)
	f.Add(byte(0x00), []byte{0x1b}, false)
	f.Add(byte(0x08), []byte{0xd8, 0x3d}, false)
	f.Add(byte(0x08), []byte{0x00}, false)
	f.Add(byte(0x03), []byte{0xff}, false)
	f.Add(byte(0xF6), []byte{0x01}, false)
	f.Fuzz(func(t *testing.T, dc byte, payload []byte, packed bool) {
		opt := TextOptions{PackGSM7: packed}
		s, err := DecodeText(dc, payload, opt)
		if err == nil && !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 out: %q", s)
		}
		if len(payload) > 0 {
			n := int(payload[0]) % (len(payload) + 1)
			_, _ = DecodeTextUDH(dc, payload[:n], payload[n:], opt)
		}
	})
}

// FuzzSegment checks, for any valid text, that the parts decode back and
// Count agrees with Segment.
func FuzzSegment(f *testing.F) {
	f.Add("Hello €", false)
	f.Add(strings.Repeat("a", 152)+"€", true)
	f.Add(strings.Repeat("😀", 36), false)
	f.Fuzz(func(t *testing.T, text string, packed bool) {
		opt := TextOptions{PackGSM7: packed}
		s, err := Segment(text, opt)
		enc, n, cerr := Count[Encoding](text)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("Segment err %v, Count err %v", err, cerr)
		}
		if err != nil {
			return
		}
		if enc != s.Encoding || n != len(s.Parts) {
			t.Fatalf("Count %s %d, Segment %s %d", enc, n, s.Encoding, len(s.Parts))
		}
		got := decodeParts(t, s, opt)
		if !sameText(got, text, packed) {
			t.Fatalf("round trip %q -> %q", text, got)
		}
	})
}

var sinkSegments Segments

func BenchmarkSegmentGSM(b *testing.B) {
	text := strings.Repeat("Your loan repayment of KES 1,250 is due on 2025-07-01. Thank you! ", 3) // ~200 chars, 2 parts
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := Segment(text, TextOptions{})
		if err != nil {
			b.Fatal(err)
		}
		sinkSegments = s
	}
}

func BenchmarkSegmentUCS2(b *testing.B) {
	text := strings.Repeat("Платёж по кредиту 1 250 KES до 01.07 😀 ", 3) // 2 parts
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := Segment(text, TextOptions{})
		if err != nil {
			b.Fatal(err)
		}
		sinkSegments = s
	}
}

func BenchmarkCount(b *testing.B) {
	text := strings.Repeat("Your loan repayment of KES 1,250 is due on 2025-07-01. Thank you! ", 3)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Count[Encoding](text); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUCS2OnRequest: a GSM-writable text asked for in UCS-2 is counted and
// cut at UCS-2's sizes (70 units alone, 67 per concatenated part).
func TestUCS2OnRequest(t *testing.T) {
	for _, c := range []struct {
		text  string
		parts int
	}{{"Hello", 1}, {strings.Repeat("a", 70), 1}, {strings.Repeat("a", 71), 2}, {strings.Repeat("a", 135), 3}} {
		enc, n, err := CountUCS2[Encoding](c.text)
		if err != nil || enc != EncodingUCS2 || n != c.parts {
			t.Errorf("CountUCS2(%d chars) = %s %d %v, want UCS2 %d", len(c.text), enc, n, err, c.parts)
		}
		segs, err := Segment(c.text, TextOptions{UCS2: true, Latin1: true})
		if err != nil || segs.DataCoding != DataCodingUCS2 || len(segs.Parts) != c.parts {
			t.Errorf("Segment(%d chars, UCS2) = data_coding %#x, %d parts, %v", len(c.text), segs.DataCoding, len(segs.Parts), err)
		}
	}
	if enc, n, _ := Count[Encoding]("Hello"); enc != EncodingGSM7 || n != 1 {
		t.Errorf("Count without the request: %s %d", enc, n)
	}
}
