package smstext

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestConcatUDH(t *testing.T) {
	got := ConcatUDH(0xCC, 3, 2)
	if want := []byte{0x05, 0x00, 0x03, 0xCC, 0x03, 0x02}; !bytes.Equal(got, want) {
		t.Errorf("ConcatUDH = % x, want % x", got, want)
	}
	if len(got) != concatUDHLen || FillBits(len(got)) != 1 {
		t.Errorf("UDH of %d octets needs %d fill bits, want 6 and 1", len(got), FillBits(len(got)))
	}
}

func TestSplitUDH(t *testing.T) {
	tests := []struct {
		name    string
		hex     string
		udh     string
		body    string
		concat  *Concat
		wantErr string
	}{
		{name: "8-bit concat", hex: "050003cc0201" + "4869", udh: "050003cc0201", body: "4869",
			concat: &Concat{Ref: 0xCC, Total: 2, Seq: 1}},
		{name: "16-bit concat", hex: "0608041234030348", udh: "060804123403 03", body: "48",
			concat: &Concat{Ref: 0x1234, Wide: true, Total: 3, Seq: 3}},
		{name: "concat after port IE", hex: "0b0504158200000003aa0202" + "41", udh: "0b0504158200000003aa0202", body: "41",
			concat: &Concat{Ref: 0xAA, Total: 2, Seq: 2}},
		{name: "no concat IE", hex: "0605040b840000" + "ff", udh: "0605040b840000", body: "ff"},
		{name: "empty UDH", hex: "00" + "41", udh: "00", body: "41"},
		{name: "UDH only", hex: "050003010101", udh: "050003010101", body: "",
			concat: &Concat{Ref: 1, Total: 1, Seq: 1}},
		{name: "seq 0 ignored", hex: "050003010200" + "41", udh: "050003010200", body: "41"},
		{name: "seq above total ignored", hex: "050003010203" + "41", udh: "050003010203", body: "41"},
		{name: "total 0 ignored", hex: "050003010000" + "41", udh: "050003010000", body: "41"},
		{name: "repeated concat: last wins", hex: "0a000301020100030903024142", udh: "0a00030102010003090302", body: "4142",
			concat: &Concat{Ref: 9, Total: 3, Seq: 2}},
		{name: "8-bit then 16-bit: last wins", hex: "0b000301020108041234030241", udh: "0b0003010201080412340302", body: "41",
			concat: &Concat{Ref: 0x1234, Wide: true, Total: 3, Seq: 2}},
		{name: "empty payload", hex: "", wantErr: "empty payload"},
		{name: "UDHL past end", hex: "0500030102", wantErr: "UDHL 5 exceeds payload of 5 octets"},
		{name: "IE past UDH", hex: "0300050102" + "41", wantErr: "IE 0x00 length 5 exceeds header"},
		{name: "truncated IE header", hex: "0100", wantErr: "truncated IE header"},
		{name: "8-bit concat wrong length", hex: "0400020102" + "41", wantErr: "8-bit concatenation IE of length 2, want 3"},
		{name: "16-bit concat wrong length", hex: "050803123401" + "41", wantErr: "16-bit concatenation IE of length 3, want 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustHex(t, tt.hex)
			udh, body, c, err := SplitUDH(p)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrMalformedUDH) || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
					t.Fatalf("err = %v, want ErrMalformedUDH mentioning %q", err, tt.wantErr)
				}
				if udh != nil || body != nil || c != nil {
					t.Errorf("on error got udh %x body %x concat %v", udh, body, c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(udh, mustHex(t, tt.udh)) || !bytes.Equal(body, mustHex(t, tt.body)) {
				t.Errorf("udh %x body %x, want %s %s", udh, body, tt.udh, tt.body)
			}
			switch {
			case tt.concat == nil && c != nil:
				t.Errorf("concat %+v, want none", *c)
			case tt.concat != nil && (c == nil || *c != *tt.concat):
				t.Errorf("concat %v, want %+v", c, *tt.concat)
			}
		})
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzSplitUDH(f *testing.F) {
	for _, s := range []string{"050003cc020141", "06080412340303", "00", "0500030102", "0100", "0a000301020100030903024142"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		udh, body, c, err := SplitUDH(payload)
		if err != nil {
			return
		}
		if len(udh)+len(body) != len(payload) || len(udh) != 1+int(payload[0]) {
			t.Fatalf("udh %d + body %d != payload %d", len(udh), len(body), len(payload))
		}
		if c != nil && (c.Seq < 1 || c.Seq > c.Total) {
			t.Fatalf("invalid concat returned: %+v", *c)
		}
	})
}
