package smstext

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestGSMDefaultAlphabet checks every position of the default alphabet
// against 3GPP TS 23.038 §6.2.1, written out here independently of the table
// in gsm7.go, in both directions.
func TestGSMDefaultAlphabet(t *testing.T) {
	spec := map[byte]rune{
		0x00: '@', 0x01: '£', 0x02: '$', 0x03: '¥', 0x04: 'è', 0x05: 'é', 0x06: 'ù', 0x07: 'ì',
		0x08: 'ò', 0x09: 'Ç', 0x0A: '\n', 0x0B: 'Ø', 0x0C: 'ø', 0x0D: '\r', 0x0E: 'Å', 0x0F: 'å',
		0x10: 'Δ', 0x11: '_', 0x12: 'Φ', 0x13: 'Γ', 0x14: 'Λ', 0x15: 'Ω', 0x16: 'Π', 0x17: 'Ψ',
		0x18: 'Σ', 0x19: 'Θ', 0x1A: 'Ξ' /* 0x1B escape */, 0x1C: 'Æ', 0x1D: 'æ', 0x1E: 'ß', 0x1F: 'É',
		0x20: ' ', 0x21: '!', 0x22: '"', 0x23: '#', 0x24: '¤', 0x25: '%', 0x26: '&', 0x27: '\'',
		0x28: '(', 0x29: ')', 0x2A: '*', 0x2B: '+', 0x2C: ',', 0x2D: '-', 0x2E: '.', 0x2F: '/',
		0x3A: ':', 0x3B: ';', 0x3C: '<', 0x3D: '=', 0x3E: '>', 0x3F: '?',
		0x40: '¡', 0x5B: 'Ä', 0x5C: 'Ö', 0x5D: 'Ñ', 0x5E: 'Ü', 0x5F: '§',
		0x60: '¿', 0x7B: 'ä', 0x7C: 'ö', 0x7D: 'ñ', 0x7E: 'ü', 0x7F: 'à',
	}
	for c := byte(0x30); c <= 0x39; c++ {
		spec[c] = rune('0' + c - 0x30)
	}
	for c := byte(0x41); c <= 0x5A; c++ {
		spec[c] = rune('A' + c - 0x41)
		spec[c+0x20] = rune('a' + c - 0x41)
	}
	if len(spec) != 127 {
		t.Fatalf("spec table has %d entries, want 127 (128 minus the escape)", len(spec))
	}
	for code, r := range spec {
		got, ext, ok := gsmLookup(r)
		if !ok || ext || got != code {
			t.Errorf("encode %q = (0x%02X, ext %v, ok %v), want 0x%02X", r, got, ext, ok, code)
		}
		s, err := DecodeGSM7([]byte{code})
		if err != nil || s != string(r) {
			t.Errorf("decode 0x%02X = %q, %v; want %q", code, s, err, r)
		}
	}
	// The usual confusions: '$' is 0x02 and '¤' 0x24; '@' is 0x00 and '¡' 0x40;
	// ASCII '`' and lower-case 'ç' are not GSM at all.
	for _, r := range []rune{'`', 'ç', 'á', 'õ', 'Ж', '€' + 1, 0x1B} {
		if _, _, ok := gsmLookup(r); ok {
			t.Errorf("%q (U+%04X) should not be GSM 03.38", r, r)
		}
	}
}

// TestGSMExtensionTable checks the extension table of TS 23.038 §6.2.1.1.
func TestGSMExtensionTable(t *testing.T) {
	spec := map[byte]rune{
		0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\',
		0x3C: '[', 0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: '€',
	}
	n := 0
	for _, r := range gsmExtension {
		if r != 0 {
			n++
		}
	}
	if n != len(spec) {
		t.Errorf("extension table has %d entries, want %d", n, len(spec))
	}
	for code, r := range spec {
		got, ext, ok := gsmLookup(r)
		if !ok || !ext || got != code {
			t.Errorf("encode %q = (0x%02X, ext %v, ok %v), want escape 0x%02X", r, got, ext, ok, code)
		}
		if w := gsmWidth(r); w != 2 {
			t.Errorf("width %q = %d, want 2", r, w)
		}
		s, err := DecodeGSM7([]byte{gsmEscape, code})
		if err != nil || s != string(r) {
			t.Errorf("decode 1B %02X = %q, %v; want %q", code, s, err, r)
		}
	}
}

func TestDecodeGSM7Escapes(t *testing.T) {
	tests := []struct {
		in   string // hex
		want string
	}{
		{"1b41", "A"},        // escape + code outside the table: default character
		{"411b", "A "},       // trailing escape reads as a space
		{"1b1b65", " e"},     // doubled escape: space, then 0x65 on its own
		{"1b651b3c", "€["},   // two extension characters
		{"00021124", "@$_¤"}, // the easily swapped ones
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.in)
		got, err := DecodeGSM7(b)
		if err != nil || got != tt.want {
			t.Errorf("DecodeGSM7(%s) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := DecodeGSM7([]byte{0x41, 0x80}); !errors.Is(err, ErrNotSeptet) {
		t.Errorf("octet 0x80: err = %v, want ErrNotSeptet", err)
	}
	if _, err := DecodeGSM7([]byte{0x1B, 0xFF}); !errors.Is(err, ErrNotSeptet) {
		t.Errorf("escape + 0xFF: err = %v, want ErrNotSeptet", err)
	}
}

// refPack is a deliberately naive packer, one bit at a time, to check
// PackGSM7 against: fill zero bits, then each septet's bits from the least
// significant, octets filled from their least significant bit.
func refPack(septets []byte, fill int) []byte {
	var bits []byte
	for range fill {
		bits = append(bits, 0)
	}
	for _, s := range septets {
		for k := range 7 {
			bits = append(bits, s>>k&1)
		}
	}
	out := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		out[i/8] |= b << (i % 8)
	}
	return out
}

func TestPackGSM7KnownVectors(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		fill    int
		wantHex string
	}{
		// The classic example of TS 23.038 tutorials and GSM 03.40 PDUs.
		{"hellohello", "hellohello", 0, "e8329bfd4697d9ec37"},
		{"Hello", "Hello", 0, "c8329bfd06"},
		// After a 6-octet UDH: one fill bit, so 'L' (0x4C) becomes 0x98.
		{"after UDH", "Lorem", 1, "986f79b90d"},
		// 7 septets leave 7 spare bits: padded with CR (0x0D << 1 = 0x1A).
		{"CR pad", "1234567", 0, "31d98c56b3dd1a"},
		// 1 fill bit + 8 septets = 57 bits: 7 spare bits again, CR padding.
		{"CR pad after UDH", "abcdefgh", 1, "c2e231b96c3ea31b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			septets, ok := EncodeGSM7(tt.text)
			if !ok {
				t.Fatal("not GSM")
			}
			got := PackGSM7(septets, tt.fill)
			if hex.EncodeToString(got) != tt.wantHex {
				t.Errorf("PackGSM7 = %x, want %s", got, tt.wantHex)
			}
			back := UnpackGSM7(got, tt.fill)
			if !bytes.Equal(back, septets) {
				t.Errorf("UnpackGSM7 = %x, want %x", back, septets)
			}
		})
	}
}

func TestPackGSM7MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := rng.IntN(170)
		septets := make([]byte, n)
		for i := range septets {
			septets[i] = byte(rng.IntN(128))
		}
		for _, fill := range []int{0, 1, 3, 6} {
			want := septets
			if (8-(fill+7*n)%8)%8 == 7 {
				want = append(append([]byte(nil), septets...), gsmCR)
			}
			got := PackGSM7(septets, fill)
			if ref := refPack(want, fill); !bytes.Equal(got, ref) {
				t.Fatalf("n=%d fill=%d: PackGSM7 = %x, reference %x", n, fill, got, ref)
			}
			back := UnpackGSM7(got, fill)
			// Only a wanted trailing CR on an exact octet boundary is lost.
			if !bytes.Equal(back, septets) &&
				!(n > 0 && septets[n-1] == gsmCR && bytes.Equal(back, septets[:n-1])) {
				t.Fatalf("n=%d fill=%d: round trip %x -> %x", n, fill, septets, back)
			}
		}
	}
}

func TestFillBits(t *testing.T) {
	for udh, want := range map[int]int{0: 0, 6: 1, 7: 0, 5: 2, 12: 2, 1: 6} {
		if got := FillBits(udh); got != want {
			t.Errorf("FillBits(%d) = %d, want %d", udh, got, want)
		}
		// The fill bits must bring the header to a septet boundary.
		if (udh*8+FillBits(udh))%7 != 0 {
			t.Errorf("FillBits(%d) does not align", udh)
		}
	}
}
