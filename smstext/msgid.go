package smstext

import (
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// IDFormat says how a carrier writes message ids, so that the id in a
// submit_sm_resp and the one in its receipt, which some carriers write in
// different bases (Kannel's msg-id-type), normalize to the same string.
type IDFormat string

// The id formats a carrier can declare.
const (
	IDString IDFormat = "string" // opaque; "" means the same
	IDHex    IDFormat = "hex"    // hexadecimal digits, any case, optional 0x
	IDDec    IDFormat = "dec"    // decimal digits, possibly zero-padded
	// IDAuto is for a carrier whose bases are not known: ids normalize as
	// IDString, and a receipt's id also offers its other readings
	// (AltIDs), as Kannel does when msg-id-type is unset. "" on both sides
	// (submit and receipt) means auto.
	IDAuto IDFormat = "auto"
)

// AltIDs returns the other readings of a receipt id under IDAuto (nil for
// any other format), in the order to try them after the id itself: an
// all-decimal id read as decimal and written in hexadecimal (the carrier
// answers submits in hex and writes receipts in decimal) and without its
// leading zeros; an all-hexadecimal id read as hexadecimal and written in
// decimal (the reverse). Each is normalized as IDString, like the submit
// ids they must meet.
func AltIDs(id string, f IDFormat) []string {
	if f != "" && f != IDAuto {
		return nil
	}
	n := NormalizeID(id, IDString)
	var out []string
	add := func(s string) {
		if s != n && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if allDigits(n, false) {
		if v, err := strconv.ParseUint(n, 10, 64); err == nil {
			add(strconv.FormatUint(v, 16))
			add(strconv.FormatUint(v, 10))
		}
	}
	if allDigits(n, true) {
		if v, err := strconv.ParseUint(n, 16, 64); err == nil {
			add(strconv.FormatUint(v, 10))
		}
	}
	return out
}

// NormalizeID puts a carrier message id into the one form used to match
// receipts to submits (gateway.Part.CarrierID). Spaces and NULs around it are
// trimmed (C-string ids often keep their NUL). Then:
//
//   - "hex": parsed as hexadecimal (optional 0x, any length) and written in
//     decimal, so "0A1f" and "2591" meet;
//   - "dec": leading zeros stripped, "0" kept;
//   - "string" or "" (or an unknown format): lowercased, because carriers
//     send hex-looking ids in either case between response and receipt.
//
// An id that does not parse in its declared format is returned trimmed but
// otherwise unchanged: NormalizeID never fails, so a receipt is never lost to
// a format mistake, it just stays unmatched and visible.
func NormalizeID(id string, f IDFormat) string {
	id = strings.Trim(id, " \t\r\n\x00")
	switch f {
	case IDHex:
		h := id
		if len(h) > 2 && h[0] == '0' && (h[1] == 'x' || h[1] == 'X') {
			h = h[2:]
		}
		if !allDigits(h, true) {
			return id
		}
		if len(h) <= 16 {
			v, err := strconv.ParseUint(h, 16, 64)
			if err == nil {
				return strconv.FormatUint(v, 10)
			}
		}
		var v big.Int
		if _, ok := v.SetString(h, 16); !ok {
			return id
		}
		return v.String()
	case IDDec:
		if !allDigits(id, false) {
			return id
		}
		d := strings.TrimLeft(id, "0")
		if d == "" {
			return "0"
		}
		return d
	}
	return strings.ToLower(id)
}

// allDigits reports whether s is non-empty and made of decimal (or, with
// hex, hexadecimal) digits only.
func allDigits(s string, hex bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
		case hex && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
		default:
			return false
		}
	}
	return true
}
