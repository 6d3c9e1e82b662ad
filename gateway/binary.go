package gateway

import (
	"encoding/hex"
	"fmt"
	"strconv"
)

// EncodingBinary marks a message whose short_message the caller built
// (Kannel's coding=1, or any message with a UDH): its octets go as given,
// its Text is the payload in hex. Only SMPP carriers can send it; HTTP
// providers pass it to the next route.
const EncodingBinary Encoding = "BINARY"

// MaxBinaryOctets is what one SMS holds: UDH and payload together.
const MaxBinaryOctets = 140

// concatIE is the concatenation information element a part's UDH gains
// (IEI 0, length 3, reference, total, sequence), as gw/sms.c sms_split
// adds it (CATENATE_UDH_LEN).
const concatIELen = 5

// Binary is a short_message built by the caller: its user data header
// (with its length octet, empty for none), its payload octets and the
// data_coding it is sent with.
type Binary struct {
	UDH        []byte
	Data       []byte
	DataCoding byte
}

// Meta keys of a binary message: the UDH in hex and the data_coding.
const (
	metaUDH        = "submit.udh"
	metaDataCoding = "submit.data_coding"
)

// check refuses a malformed UDH or an empty message, naming the field.
func (b *Binary) check() error {
	switch {
	case len(b.UDH) > 0 && int(b.UDH[0])+1 != len(b.UDH):
		return &FieldError{"binary.udh", fmt.Sprintf("its length octet says %d octets follow, %d do", b.UDH[0], len(b.UDH)-1)}
	case len(b.UDH)+len(b.Data) == 0:
		return &FieldError{"binary", "is empty"}
	case len(b.UDH)+concatIELen+1 >= MaxBinaryOctets && len(b.UDH)+len(b.Data) > MaxBinaryOctets:
		return &FieldError{"binary.udh", fmt.Sprintf("is %d octets: no room left for data in concatenated parts", len(b.UDH))}
	}
	return nil
}

// Parts cuts the payload as gw/sms.c sms_split does for 8-bit and UCS-2:
// one part when UDH and data fit one SMS, else parts of what is left of
// 140 octets beside the UDH grown by the concatenation element (an even
// count for UCS-2, so no character is cut).
func (b *Binary) Parts() [][]byte {
	if len(b.UDH)+len(b.Data) <= MaxBinaryOctets {
		return [][]byte{b.Data}
	}
	udh := max(len(b.UDH), 1) + concatIELen
	per := MaxBinaryOctets - udh
	if b.ucs2() {
		per &^= 1
	}
	var parts [][]byte
	for d := b.Data; len(d) > 0; {
		n := min(per, len(d))
		parts, d = append(parts, d[:n]), d[n:]
	}
	return parts
}

// ucs2 says whether the data_coding is UCS-2 (general group, 0x08 bits).
func (b *Binary) ucs2() bool {
	return b.DataCoding&0xC0 == 0 && b.DataCoding&0x0C == 0x08
}

// PartUDH is part i's (0-based) UDH among n: the caller's, with the
// concatenation element (8-bit reference ref) appended when n > 1.
func (b *Binary) PartUDH(ref byte, n, i int) []byte {
	if n <= 1 {
		return b.UDH
	}
	udh := append([]byte(nil), b.UDH...)
	if len(udh) == 0 {
		udh = []byte{0}
	}
	udh = append(udh, 0x00, 0x03, ref, byte(n), byte(i+1))
	udh[0] = byte(len(udh) - 1)
	return udh
}

// Binary reads back the short_message of a binary message; nil for a text.
func (m *Message) Binary() (*Binary, error) {
	if m.Encoding != EncodingBinary {
		return nil, nil
	}
	data, err := hex.DecodeString(m.Text)
	if err != nil {
		return nil, fmt.Errorf("gateway: message %s: binary text: %w", m.ID, err)
	}
	udh, err := hex.DecodeString(m.Meta[metaUDH])
	if err != nil {
		return nil, fmt.Errorf("gateway: message %s: udh: %w", m.ID, err)
	}
	dc, err := strconv.Atoi(m.Meta[metaDataCoding])
	if err != nil || dc < 0 || dc > 255 {
		return nil, fmt.Errorf("gateway: message %s: data_coding %q", m.ID, m.Meta[metaDataCoding])
	}
	return &Binary{UDH: udh, Data: data, DataCoding: byte(dc)}, nil
}

// binaryMessage fills the text, encoding and metadata of a binary request.
func binaryMessage(b *Binary, meta map[string]string) (text string, out map[string]string) {
	out = make(map[string]string, len(meta)+2)
	for k, v := range meta {
		out[k] = v
	}
	out[metaUDH] = hex.EncodeToString(b.UDH)
	out[metaDataCoding] = strconv.Itoa(int(b.DataCoding))
	return hex.EncodeToString(b.Data), out
}
