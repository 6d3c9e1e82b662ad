package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/routing"
)

// TestSubmitOptionsReachTheConnector: the options a caller gives are
// stored with the message and read back by the connector from the
// claimed message; out-of-range values are refused naming the field.
func TestSubmitOptionsReachTheConnector(t *testing.T) {
	seen := make(chan gateway.SubmitOptions, 1)
	a := newFake("a", 10, func(m *gateway.Message, idx int) gateway.PartResult {
		select {
		case seen <- m.SubmitOptions():
		default:
		}
		return ok(m, idx)
	})
	h := newHarness(t, []routing.Route{route("+", "a", 0.5)}, a)
	rd, class, pid := 0x12, 0, 65
	h.send(t, gateway.SendRequest{To: "0712345678", Text: "hello", Meta: map[string]string{"k": "v"},
		Submit: gateway.SubmitOptions{RegisteredDelivery: &rd, MessageClass: &class, ProtocolID: &pid}})
	got := <-seen
	if got.RegisteredDelivery == nil || *got.RegisteredDelivery != 0x12 || got.MessageClass == nil || *got.MessageClass != 0 ||
		got.ProtocolID == nil || *got.ProtocolID != 65 {
		t.Errorf("connector saw %+v", got)
	}
	id := h.send(t, gateway.SendRequest{To: "0712345678", Text: "plain"})
	m, err := h.store.Get(context.Background(), "t", id)
	if err != nil {
		t.Fatal(err)
	}
	if o := m.SubmitOptions(); o != (gateway.SubmitOptions{}) {
		t.Errorf("a request without options reads back %+v", o)
	}
	bad := 4
	out, err := h.engine.Accept(context.Background(), "t", []gateway.SendRequest{{To: "0712345678", Text: "x",
		Submit: gateway.SubmitOptions{MessageClass: &bad}}})
	var fe *gateway.FieldError
	if err != nil || !errors.As(out[0].Err, &fe) || fe.Field != "submit.message_class" {
		t.Errorf("class 4: %v %v, want a field error on submit.message_class", err, out[0].Err)
	}
}

// TestBinaryMessages: a caller-built short_message is stored as one part,
// its octets in hex as the text, and reaches the connector as given; a UDH
// whose length octet lies and more than one SMS of octets are refused.
func TestBinaryMessages(t *testing.T) {
	seen := make(chan *gateway.Binary, 1)
	a := newFake("a", 10, func(m *gateway.Message, idx int) gateway.PartResult {
		b, err := m.Binary()
		if err != nil {
			t.Error(err)
		}
		select {
		case seen <- b:
		default:
		}
		return ok(m, idx)
	})
	h := newHarness(t, []routing.Route{route("+", "a", 0.5)}, a)
	bin := &gateway.Binary{UDH: []byte{6, 5, 4, 0x0b, 0x84, 0x23, 0xf0}, Data: []byte{0, 1, 0xff}, DataCoding: 0xf5}
	id := h.send(t, gateway.SendRequest{To: "0712345678", Binary: bin})
	got := <-seen
	if got == nil || string(got.UDH) != string(bin.UDH) || string(got.Data) != string(bin.Data) || got.DataCoding != 0xf5 {
		t.Errorf("connector saw %+v", got)
	}
	m, err := h.store.Get(context.Background(), "t", id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Encoding != gateway.EncodingBinary || m.Text != "0001ff" || len(m.Parts) != 1 {
		t.Errorf("stored %s %q in %d parts", m.Encoding, m.Text, len(m.Parts))
	}
	for _, c := range []struct {
		b     gateway.Binary
		field string
	}{
		{gateway.Binary{UDH: []byte{5, 0, 3}, Data: []byte{1}}, "binary.udh"},
		{gateway.Binary{Data: make([]byte, 10*134+1)}, "binary"}, // 11 parts, the limit is 10
		{gateway.Binary{}, "binary"},
	} {
		out, err := h.engine.Accept(context.Background(), "t", []gateway.SendRequest{{To: "0712345678", Binary: &c.b}})
		var fe *gateway.FieldError
		if err != nil || !errors.As(out[0].Err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: %v %v, want a field error on %s", c.b, err, out[0].Err, c.field)
		}
	}
}

// TestBinaryParts: a binary message longer than one SMS is cut as
// gw/sms.c sms_split cuts 8-bit and UCS-2 data: 140 octets less the UDH
// grown by the concatenation element (IEI 0, length 3, ref, total, seq),
// an even count for UCS-2.
func TestBinaryParts(t *testing.T) {
	port := []byte{6, 5, 4, 0x0b, 0x84, 0x23, 0xf0}
	for _, c := range []struct {
		b    gateway.Binary
		lens []int
	}{
		{gateway.Binary{UDH: port, Data: make([]byte, 133)}, []int{133}},
		{gateway.Binary{UDH: port, Data: make([]byte, 200)}, []int{128, 72}},
		{gateway.Binary{Data: make([]byte, 300)}, []int{134, 134, 32}},
		{gateway.Binary{Data: make([]byte, 300), DataCoding: 0x08, UDH: []byte{3, 0x70, 1, 0}}, []int{130, 130, 40}},
	} {
		var lens []int
		for _, p := range c.b.Parts() {
			lens = append(lens, len(p))
		}
		if fmt.Sprint(lens) != fmt.Sprint(c.lens) {
			t.Errorf("UDH %d octets, data %d (dc %#x): parts %v, want %v", len(c.b.UDH), len(c.b.Data), c.b.DataCoding, lens, c.lens)
		}
	}
	b := gateway.Binary{UDH: port}
	if got := b.PartUDH(0x2a, 2, 1); fmt.Sprintf("% x", got) != "0b 05 04 0b 84 23 f0 00 03 2a 02 02" {
		t.Errorf("part 2 of 2: UDH % x", got)
	}
	if got := (&gateway.Binary{}).PartUDH(7, 3, 0); fmt.Sprintf("% x", got) != "05 00 03 07 03 01" {
		t.Errorf("no UDH of its own, part 1 of 3: % x", got)
	}
	if got := b.PartUDH(7, 1, 0); string(got) != string(port) {
		t.Errorf("one part keeps the caller's UDH: % x", got)
	}
}
