package server

import (
	"context"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/smpp/internal/wire"
	"github.com/openmf/smsgw/smstext"
)

// inbound delivers the tenant's inbound messages the account's mo route
// takes (its shortcodes, its keyword rules) as deliver_sm, and returns
// once the ESME acknowledged every one.
func (s *Server) inbound(ctx context.Context, a *account, evs []gateway.Event) error {
	var ds []delivery
	for _, ev := range evs {
		in := ev.Inbound
		if in == nil || ev.Tenant != a.cfg.Tenant || !a.cfg.MO.takes(in) {
			continue
		}
		ds = append(ds, delivery{build: func(seq uint32) []byte { return moPDU(seq, in) }})
	}
	return s.deliverAll(ctx, a, ds)
}

// takes says whether an inbound message goes to the account.
func (r *MORoute) takes(in *gateway.Inbound) bool {
	if slices.Contains(r.Shortcodes, strings.TrimPrefix(in.To, "+")) || slices.Contains(r.Shortcodes, in.To) {
		return true
	}
	return in.Keyword != "" && slices.ContainsFunc(r.Keywords, func(k string) bool { return strings.EqualFold(k, in.Keyword) })
}

// moPDU is an inbound message's deliver_sm: GSM 03.38 (unpacked) when
// every character has a code, else UCS-2; a text longer than one
// short_message goes whole in message_payload.
func moPDU(seq uint32, in *gateway.Inbound) []byte {
	dc := smstext.DataCodingDefault
	body, ok := smstext.EncodeGSM7(in.Text)
	if !ok {
		dc = smstext.DataCodingUCS2
		body = nil
		for _, u := range utf16.Encode([]rune(in.Text)) {
			body = append(body, byte(u>>8), byte(u))
		}
	}
	w := wire.New(wire.CmdDeliverSM, statusOK, seq).CString("")
	ton, npi, addr := smppAddress(in.From)
	w.Byte(ton).Byte(npi).CString(addr)
	ton, npi, addr = smppAddress(in.To)
	w.Byte(ton).Byte(npi).CString(addr)
	w.Byte(0)                                 // esm_class: a message
	w.Byte(0).Byte(0).CString("").CString("") // protocol_id, priority_flag, schedule, validity
	w.Byte(0).Byte(0).Byte(dc).Byte(0)        // registered_delivery, replace_if_present, data_coding, sm_default_msg_id
	if len(body) <= 254 {
		w.Byte(byte(len(body)))
		w.Append(body)
	} else {
		w.Byte(0)
		w.TLV(tagMessagePayload, body)
	}
	return w.Done()
}
