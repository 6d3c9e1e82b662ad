package gateway

import (
	"fmt"
	"strconv"
)

// SubmitOptions are carrier-level settings a caller may ask for beyond the
// text, as an SMPP submit_sm carries them (Kannel's sendsms parameters map
// onto them). The zero value keeps smsgw's defaults: final receipts asked
// for every part, no message class, the carrier's protocol id. Connectors
// that cannot express an option ignore it.
type SubmitOptions struct {
	// RegisteredDelivery, when set, is the SMPP registered_delivery of every
	// part (0 none, 1 final receipts, 2 failure receipts only, +0x10 an
	// intermediate notification); nil asks for final receipts.
	RegisteredDelivery *int
	// MessageClass, when set, is the GSM 03.38 message class (0 flash, 1 ME,
	// 2 SIM, 3 TE) carried in the data coding.
	MessageClass *int
	// ProtocolID, when set, is the SMPP protocol_id (0–255).
	ProtocolID *int
	// UCS2 sends the text in UCS-2 even when GSM 03.38 could carry it
	// (Kannel's coding=2): the part count is UCS-2's.
	UCS2 bool
}

// Meta keys under which a message stores its SubmitOptions: the message's
// metadata is durable and travels with it to the connector, so no store
// schema holds them.
const (
	metaRegisteredDelivery = "submit.registered_delivery"
	metaMessageClass       = "submit.message_class"
	metaProtocolID         = "submit.protocol_id"
	metaUCS2               = "submit.ucs2"
)

// check refuses values SMPP cannot carry, naming the field.
func (o SubmitOptions) check() error {
	in := func(p *int, lo, hi int, field string) error {
		if p != nil && (*p < lo || *p > hi) {
			return &FieldError{field, fmt.Sprintf("%d is outside %d–%d", *p, lo, hi)}
		}
		return nil
	}
	if err := in(o.RegisteredDelivery, 0, 0x1F, "submit.registered_delivery"); err != nil {
		return err
	}
	if err := in(o.MessageClass, 0, 3, "submit.message_class"); err != nil {
		return err
	}
	return in(o.ProtocolID, 0, 255, "submit.protocol_id")
}

// store writes the options into a message's metadata (a copy: the caller's
// map is not changed).
func (o SubmitOptions) store(meta map[string]string) map[string]string {
	if o == (SubmitOptions{}) {
		return meta
	}
	out := make(map[string]string, len(meta)+4)
	for k, v := range meta {
		out[k] = v
	}
	set := func(k string, p *int) {
		if p != nil {
			out[k] = strconv.Itoa(*p)
		}
	}
	set(metaRegisteredDelivery, o.RegisteredDelivery)
	set(metaMessageClass, o.MessageClass)
	set(metaProtocolID, o.ProtocolID)
	if o.UCS2 {
		out[metaUCS2] = "1"
	}
	return out
}

// SubmitOptions reads back the options the message was accepted with.
func (m *Message) SubmitOptions() SubmitOptions {
	var o SubmitOptions
	get := func(k string) *int {
		if v, ok := m.Meta[k]; ok {
			if n, err := strconv.Atoi(v); err == nil {
				return &n
			}
		}
		return nil
	}
	o.RegisteredDelivery = get(metaRegisteredDelivery)
	o.MessageClass = get(metaMessageClass)
	o.ProtocolID = get(metaProtocolID)
	o.UCS2 = m.Meta[metaUCS2] == "1"
	return o
}
