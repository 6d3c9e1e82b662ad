package bench

import (
	"encoding/binary"
	"testing"
	"unicode/utf16"

	"github.com/openmf/smsgw/smpp/smsc"
)

func ucs2(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.BigEndian.AppendUint16(b, u)
	}
	return b
}

// TestSubmitText reads the token back from each way the gateway may write a
// part: GSM with and without UDH, UCS-2, SAR TLVs and message_payload.
func TestSubmitText(t *testing.T) {
	tok := Token("k3x9qa", 1234)
	text := tok + " Loan due Friday"
	udh8 := func(seq byte) []byte { return []byte{5, 0x00, 3, 0x42, 2, seq} }
	udh16 := func(seq byte) []byte { return []byte{6, 0x08, 4, 0x01, 0x42, 2, seq} }
	tests := []struct {
		name     string
		sub      smsc.Submit
		wantPart int
		wantTok  bool
	}{
		{"gsm", smsc.Submit{ShortMessage: []byte(text)}, 1, true},
		{"ucs2", smsc.Submit{DataCoding: 8, ShortMessage: ucs2(tok + " Malipo ✓")}, 1, true},
		{"udh8 first", smsc.Submit{ESMClass: 0x40, ShortMessage: append(udh8(1), text...)}, 1, true},
		{"udh8 second", smsc.Submit{ESMClass: 0x40, ShortMessage: append(udh8(2), "rest of it"...)}, 2, false},
		{"udh16 ucs2 first", smsc.Submit{ESMClass: 0x40, DataCoding: 8, ShortMessage: append(udh16(1), ucs2(text)...)}, 1, true},
		{"sar second", smsc.Submit{ShortMessage: []byte("more"), TLVs: map[uint16][]byte{tlvSARSegmentSeq: {2}}}, 2, false},
		{"payload", smsc.Submit{TLVs: map[uint16][]byte{tlvMessagePayload: []byte(text)}}, 1, true},
		{"no token", smsc.Submit{ShortMessage: []byte("#T no dash here#")}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, part := submitText(&tt.sub)
			if part != tt.wantPart {
				t.Errorf("part %d, want %d", part, tt.wantPart)
			}
			run, seq, ok := parseToken(body)
			if ok != tt.wantTok || ok && (run != "k3x9qa" || seq != 1234) {
				t.Errorf("token (%q, %d, %v), want found=%v", run, seq, ok, tt.wantTok)
			}
		})
	}
}

func TestTokenFitsTexts(t *testing.T) {
	tok := Token(NewRunID(), 99_999_999)
	if len(tok)+len(textGSM) > 160 {
		t.Errorf("GSM text is %d characters with a token, over one part", len(tok)+len(textGSM))
	}
	if n := len([]rune(tok + textUCS2)); n > 70 {
		t.Errorf("UCS-2 text is %d characters with a token, over one part", n)
	}
	if n := len(tok) + len(textMultipart); n <= 160 || n > 306 {
		t.Errorf("multipart text is %d characters with a token, not two parts", n)
	}
}
