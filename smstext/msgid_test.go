package smstext

import (
	"slices"
	"testing"
)

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

// TestAltIDs: under auto a receipt id also offers its other base, so a
// decimal receipt finds a hex submit id and the reverse (Kannel's unset
// msg-id-type); any declared format offers nothing.
func TestAltIDs(t *testing.T) {
	cases := []struct {
		id   string
		f    IDFormat
		want []string
	}{
		{"1001", IDAuto, []string{"3e9", "4097"}},        // dec → hex; as hex → dec
		{"0001001", "", []string{"3e9", "1001", "4097"}}, // zero-padded decimal
		{"3E9", IDAuto, []string{"1001"}},                // hex → dec
		{"msg-17", IDAuto, nil},                          // opaque
		{"1001", IDDec, nil},
		{"3e9", IDHex, nil},
		{"99999999999999999999999", IDAuto, nil}, // too long for either reading
	}
	for _, c := range cases {
		if got := AltIDs(c.id, c.f); !slices.Equal(got, c.want) {
			t.Errorf("AltIDs(%q, %q) = %q, want %q", c.id, c.f, got, c.want)
		}
	}
}
