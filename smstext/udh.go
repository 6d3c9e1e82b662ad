package smstext

import (
	"errors"
	"fmt"
)

// concatUDHLen and concatUDH16Len are the lengths of the UDHs ConcatUDH and
// ConcatUDH16Bit build, UDHL included.
const (
	concatUDHLen   = 6
	concatUDH16Len = 7
)

// Information element identifiers of TS 23.040 §9.2.3.24 for concatenation.
const (
	ieConcat8  = 0x00 // 8-bit reference: ref, total, seq
	ieConcat16 = 0x08 // 16-bit reference: ref hi, ref lo, total, seq
)

// ErrMalformedUDH is returned by SplitUDH when the header's lengths do not
// add up, so neither the header nor the text after it can be trusted.
var ErrMalformedUDH = errors.New("smstext: malformed UDH")

// Concat is what a concatenation IE says about one part: which message
// (Ref, 8 or 16 bits wide on the wire: Wide for the 16-bit IE 0x08), how
// many parts it has and which one this is (1-based). MO reassembly keys on
// (sender, Ref, Wide, Total).
type Concat struct {
	Ref        uint16
	Wide       bool
	Total, Seq int
}

// ConcatUDH returns the 6-octet concatenation UDH (UDHL 05, IE 00, length
// 03, ref, total, seq 1-based) that goes before each part of a multi-part
// Segments. The 8-bit reference form is the one every carrier accepts, and
// packed GSM7 parts are built for its 6-octet length. total and seq must be
// 1..255 (Segment never returns more parts); larger values are truncated to
// their low octet, never a panic.
func ConcatUDH(ref byte, total, seq int) []byte {
	return []byte{concatUDHLen - 1, ieConcat8, 3, ref, byte(total), byte(seq)}
}

// ConcatUDH16Bit returns the 7-octet UDH with a 16-bit reference (UDHL 06, IE
// 08, length 04, ref hi, ref lo, total, seq) for carriers configured with
// ConcatUDH16; packed GSM7 parts cut for it start without fill bits.
func ConcatUDH16Bit(ref uint16, total, seq int) []byte {
	return []byte{concatUDH16Len - 1, ieConcat16, 4, byte(ref >> 8), byte(ref), byte(total), byte(seq)}
}

// SplitUDH separates the user data header of a short_message sent with UDHI
// (esm_class 0x40) from the text after it. udh includes its length octet, so
// FillBits(len(udh)) is the packed-GSM7 offset of the body. When the header
// holds a concatenation IE (8-bit 0x00 or 16-bit 0x08) concat says which part
// this is; a concatenation IE whose total is 0 or whose seq is 0 or above
// total is ignored (concat nil), as TS 23.040 tells receivers to do. A header
// whose lengths overrun the payload, or a concatenation IE of the wrong
// length, is an error wrapping ErrMalformedUDH; the slices returned alias
// payload.
func SplitUDH(payload []byte) (udh []byte, body []byte, concat *Concat, err error) {
	if len(payload) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: empty payload", ErrMalformedUDH)
	}
	n := 1 + int(payload[0])
	if n > len(payload) {
		return nil, nil, nil, fmt.Errorf("%w: UDHL %d exceeds payload of %d octets", ErrMalformedUDH, payload[0], len(payload))
	}
	concat, err = parseIEs(payload[1:n])
	if err != nil {
		return nil, nil, nil, err
	}
	return payload[:n:n], payload[n:], concat, nil
}

// parseIEs walks the information elements of a UDH (without its length
// octet); the last valid concatenation IE wins, as TS 23.040 says for
// repeated IEs.
func parseIEs(ies []byte) (*Concat, error) {
	var concat *Concat
	for i := 0; i < len(ies); {
		if i+2 > len(ies) {
			return nil, fmt.Errorf("%w: truncated IE header at offset %d", ErrMalformedUDH, i+1)
		}
		id, l := ies[i], int(ies[i+1])
		data := ies[i+2:]
		if l > len(data) {
			return nil, fmt.Errorf("%w: IE 0x%02x length %d exceeds header", ErrMalformedUDH, id, l)
		}
		data = data[:l]
		var c Concat
		switch id {
		case ieConcat8:
			if l != 3 {
				return nil, fmt.Errorf("%w: 8-bit concatenation IE of length %d, want 3", ErrMalformedUDH, l)
			}
			c = Concat{Ref: uint16(data[0]), Total: int(data[1]), Seq: int(data[2])}
		case ieConcat16:
			if l != 4 {
				return nil, fmt.Errorf("%w: 16-bit concatenation IE of length %d, want 4", ErrMalformedUDH, l)
			}
			c = Concat{Ref: uint16(data[0])<<8 | uint16(data[1]), Wide: true, Total: int(data[2]), Seq: int(data[3])}
		}
		if (id == ieConcat8 || id == ieConcat16) && c.Total > 0 && c.Seq > 0 && c.Seq <= c.Total {
			concat = &c
		}
		i += 2 + l
	}
	return concat, nil
}
