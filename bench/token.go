package bench

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"

	"github.com/openmf/smsgw/smpp/smsc"
)

// Every message the load generator sends starts with a token naming its run
// and sequence number, "#Tk3x9qa-1234# ". The simulated carriers read it
// back from the first part of each submit_sm, which is how the bench counts
// lost and duplicated messages without trusting the gateway's own account.
// The token uses only characters whose GSM 03.38 code equals their ASCII
// code, so it reads the same in unpacked GSM 7-bit, Latin-1 and UCS-2.
const tokenPrefix = "#T"

// NewRunID returns a random six-character run id, so the tokens of two
// runs through the same farm never collide.
func NewRunID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// Token is the marker of message seq of run, put at the start of its text.
func Token(run string, seq uint64) string {
	return tokenPrefix + run + "-" + strconv.FormatUint(seq, 10) + "#"
}

// parseToken finds a token in text (raw octets, one per character).
func parseToken(text []byte) (run string, seq uint64, ok bool) {
	for i := 0; i+len(tokenPrefix) < len(text); i++ {
		if text[i] != '#' || text[i+1] != 'T' {
			continue
		}
		j := i + 2
		dash := -1
		for ; j < len(text) && text[j] != '#'; j++ {
			if text[j] == '-' {
				dash = j
			}
		}
		if j == len(text) || dash < 0 || dash == i+2 {
			return "", 0, false
		}
		n, err := strconv.ParseUint(string(text[dash+1:j]), 10, 64)
		if err != nil {
			return "", 0, false
		}
		return string(text[i+2 : dash]), n, true
	}
	return "", 0, false
}

// SMPP optional parameters the bench reads from a submit_sm.
const (
	tlvSARSegmentSeq  = 0x020F
	tlvMessagePayload = 0x0424
)

// submitText returns the text octets of a submit_sm (UCS-2 narrowed to one
// octet per character, non-Latin characters as 0xFF) and which part of its
// message it is (1 for single-part messages), from the UDH or SAR TLVs.
func submitText(s *smsc.Submit) (text []byte, part int) {
	body := s.ShortMessage
	if len(body) == 0 {
		body = s.TLVs[tlvMessagePayload]
	}
	part = 1
	if s.ESMClass&0x40 != 0 && len(body) > 0 {
		udhl := int(body[0])
		if 1+udhl <= len(body) {
			udh := body[1 : 1+udhl]
			for len(udh) >= 2 {
				iei, l := udh[0], int(udh[1])
				if 2+l > len(udh) {
					break
				}
				ie := udh[2 : 2+l]
				switch {
				case iei == 0x00 && l == 3:
					part = int(ie[2])
				case iei == 0x08 && l == 4:
					part = int(ie[3])
				}
				udh = udh[2+l:]
			}
			body = body[1+udhl:]
		}
	}
	if v, ok := s.TLVs[tlvSARSegmentSeq]; ok && len(v) == 1 {
		part = int(v[0])
	}
	if s.DataCoding == 0x08 {
		out := make([]byte, 0, len(body)/2)
		for i := 0; i+1 < len(body); i += 2 {
			r := binary.BigEndian.Uint16(body[i:])
			if r < 0x100 {
				out = append(out, byte(r))
			} else {
				out = append(out, 0xFF)
			}
		}
		body = out
	}
	return body, part
}
