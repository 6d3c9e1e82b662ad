package gateway

import (
	"encoding/hex"
	"fmt"
	"strconv"
)

// EncodingBinary marks a message whose short_message the caller built
// (Kannel's coding=1, or any message with a UDH): it goes as one SMS, its
// octets as given, its Text the payload in hex. Only SMPP carriers can
// send it; HTTP providers pass it to the next route.
const EncodingBinary Encoding = "BINARY"

// MaxBinaryOctets is what one SMS holds: UDH and payload together.
const MaxBinaryOctets = 140

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

// check refuses what one SMS cannot carry, naming the field.
func (b *Binary) check() error {
	switch n := len(b.UDH) + len(b.Data); {
	case len(b.UDH) > 0 && int(b.UDH[0])+1 != len(b.UDH):
		return &FieldError{"binary.udh", fmt.Sprintf("its length octet says %d octets follow, %d do", b.UDH[0], len(b.UDH)-1)}
	case n == 0:
		return &FieldError{"binary", "is empty"}
	case n > MaxBinaryOctets:
		return &FieldError{"binary", fmt.Sprintf("is %d octets with its UDH; one SMS holds %d", n, MaxBinaryOctets)}
	}
	return nil
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
