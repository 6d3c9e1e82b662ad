package smstext

import "testing"

func TestNormalizeID(t *testing.T) {
	tests := []struct {
		id   string
		f    IDFormat
		want string
	}{
		{"  ABC123def\x00", "", "abc123def"},
		{"ABC123def", IDString, "abc123def"},
		{"a1b2", IDHex, "41394"},
		{"A1B2", IDHex, "41394"},
		{"0x00A1b2", IDHex, "41394"},
		{"0", IDHex, "0"},
		{"ffffffffffffffff", IDHex, "18446744073709551615"},
		{"10000000000000000", IDHex, "18446744073709551616"}, // beyond 64 bits
		{"0000000000000000000ff", IDHex, "255"},              // long but small
		{"xyz", IDHex, "xyz"},                                // not hex: trimmed, as is
		{" XY-Z ", IDHex, "XY-Z"},
		{"0x", IDHex, "0x"},
		{"", IDHex, ""},
		{"000123", IDDec, "123"},
		{"0000", IDDec, "0"},
		{"123", IDDec, "123"},
		{"\x00 0042 \x00", IDDec, "42"},
		{"12a", IDDec, "12a"}, // not decimal: trimmed, as is
		{"-12", IDDec, "-12"},
		{"MiXeD", "base64", "mixed"}, // unknown format: treated as string
	}
	for _, tt := range tests {
		if got := NormalizeID(tt.id, tt.f); got != tt.want {
			t.Errorf("NormalizeID(%q, %q) = %q, want %q", tt.id, tt.f, got, tt.want)
		}
	}
	// The point of it all: a hex submit_sm_resp id meets its decimal receipt id.
	if NormalizeID("0A1F", IDHex) != NormalizeID("0002591", IDDec) {
		t.Error("hex response id and decimal receipt id do not meet")
	}
}
