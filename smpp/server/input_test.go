package server_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/gateway"
	smppserver "github.com/openmf/smsgw/smpp/server"
)

// frame is a raw PDU: header and whatever body.
func frame(cmd, seq uint32, body []byte) []byte {
	b := make([]byte, 16, 16+len(body))
	binary.BigEndian.PutUint32(b[0:], uint32(16+len(body)))
	binary.BigEndian.PutUint32(b[4:], cmd)
	binary.BigEndian.PutUint32(b[12:], seq)
	return append(b, body...)
}

// TestMalformedPDUs sends 100 malformed PDUs on a bound connection —
// unknown commands, random and truncated submit_sm bodies, TLVs that
// overrun — and checks every one is answered, the bind still works, and
// a command_length that cannot be trusted is nacked and hung up on
// without harm to other binds.
func TestMalformedPDUs(t *testing.T) {
	_, _, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{account(t)}})
	e := dial(t, addr).mustBind(pdu.Transceiver)
	good := submitSM(t, "254712345678", text(t, "a valid message to cut short"))
	buf := pdu.NewBuffer(nil)
	good.Marshal(buf)
	valid := buf.Bytes()[16:]
	rng := rand.New(rand.NewPCG(23, 5))
	var wire []byte
	const n = 100
	for i := range n {
		seq := uint32(100000 + i)
		var f []byte
		switch i % 5 {
		case 0: // a command nobody knows
			f = frame(0x00000099+uint32(i), seq, randomBytes(rng, 20))
		case 1: // random submit_sm body
			f = frame(0x00000004, seq, randomBytes(rng, rng.IntN(80)))
		case 2: // a valid submit_sm cut short
			f = frame(0x00000004, seq, valid[:rng.IntN(len(valid)-1)])
		case 3: // a TLV whose length overruns the body
			f = frame(0x00000004, seq, append(append([]byte(nil), valid...), 0x04, 0x24, 0xff, 0xff, 'x'))
		case 4: // a data_sm with garbage
			f = frame(0x00000103, seq, randomBytes(rng, rng.IntN(40)))
		}
		wire = append(wire, f...)
	}
	e.write(wire)
	for i := range n {
		seq := int32(100000 + i)
		r := e.answerTo(seq)
		if _, nack := r.(*pdu.GenericNack); !nack && r.GetHeader().CommandStatus == data.ESME_ROK && i%5 != 1 {
			t.Errorf("malformed PDU %d (kind %d) answered %T ESME_ROK", i, i%5, r)
		}
	}
	el := pdu.NewEnquireLink()
	e.send(el)
	e.answerTo(el.GetSequenceNumber())
	if r := e.submit("254712345678", "still here"); r.CommandStatus != data.ESME_ROK {
		t.Fatalf("a valid submit after the garbage: %v", r.CommandStatus)
	}

	bad := dial(t, addr)
	bad.write([]byte{0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9})
	if r := bad.answerTo(9); r.GetHeader().CommandStatus != data.ESME_RINVCMDLEN {
		t.Errorf("a command_length of 5: %s, want generic_nack ESME_RINVCMDLEN", status(r))
	}
	bad.closed()
	if r := e.submit("254712345678", "other binds unharmed"); r.CommandStatus != data.ESME_ROK {
		t.Fatalf("after another connection's garbage: %v", r.CommandStatus)
	}
	unbound := dial(t, addr)
	unbound.write(frame(0x00000004, 7, valid))
	if r := unbound.answerTo(7); r.GetHeader().CommandStatus != data.ESME_RINVBNDSTS {
		t.Errorf("submit_sm before bind: %s, want ESME_RINVBNDSTS", status(r))
	}
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// TestConcatenatedAndCodings: UDH parts, SAR parts and message_payload
// become one message with the whole text; UCS-2 and Latin-1 are read as
// such; every part gets its own id and its own receipt.
func TestConcatenatedAndCodings(t *testing.T) {
	a, _, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{account(t)}})
	e := dial(t, addr).mustBind(pdu.Transceiver)
	get := func(id string) *gateway.Message {
		t.Helper()
		m, err := a.Engine().Get(context.Background(), "mfi-a", id)
		if err != nil {
			t.Fatalf("message %s: %v", id, err)
		}
		return m
	}

	t.Run("udh", func(t *testing.T) {
		parts := []*pdu.SubmitSM{udhPart(t, 7, 3, 1, "Hello "), udhPart(t, 7, 3, 2, "big "), udhPart(t, 7, 3, 3, "world")}
		for _, p := range []*pdu.SubmitSM{parts[2], parts[0], parts[1]} { // any order
			e.send(p)
		}
		var ids []string
		for _, p := range parts {
			r := e.answerTo(p.GetSequenceNumber()).(*pdu.SubmitSMResp)
			if r.CommandStatus != data.ESME_ROK {
				t.Fatalf("part: %v", r.CommandStatus)
			}
			ids = append(ids, r.MessageID)
		}
		id, _, _ := strings.Cut(ids[0], ".")
		for k, got := range ids {
			if want := id + "." + string(rune('1'+k)); got != want {
				t.Errorf("part %d id %q, want %q", k+1, got, want)
			}
		}
		if m := get(id); m.Text != "Hello big world" {
			t.Errorf("reassembled %q", m.Text)
		}
		for _, pid := range ids {
			e.receiptFor(pid)
		}
	})

	t.Run("sar", func(t *testing.T) {
		var parts []*pdu.SubmitSM
		for i, s := range []string{"Loan due ", "tomorrow"} {
			p := submitSM(t, "254712345678", text(t, s))
			p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarMsgRefNum, Data: []byte{0x12, 0x34}})
			p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarTotalSegments, Data: []byte{2}})
			p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarSegmentSeqnum, Data: []byte{byte(i + 1)}})
			parts = append(parts, p)
			e.send(p)
		}
		r := e.answerTo(parts[1].GetSequenceNumber()).(*pdu.SubmitSMResp)
		id, _, _ := strings.Cut(r.MessageID, ".")
		if m := get(id); m.Text != "Loan due tomorrow" {
			t.Errorf("reassembled %q", m.Text)
		}
	})

	cases := []struct {
		name string
		sm   func() *pdu.SubmitSM
		want string
		enc  gateway.Encoding
	}{
		{"message_payload", func() *pdu.SubmitSM {
			p := submitSM(t, "254712345678", text(t, ""))
			p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: []byte(strings.Repeat("0123456789", 30))})
			return p
		}, strings.Repeat("0123456789", 30), gateway.EncodingGSM7},
		{"ucs2", func() *pdu.SubmitSM {
			var b []byte
			for _, u := range utf16.Encode([]rune("Habari 😀")) {
				b = append(b, byte(u>>8), byte(u))
			}
			sm, _ := pdu.NewBinaryShortMessageWithEncoding(b, data.UCS2)
			return submitSM(t, "254712345678", sm)
		}, "Habari 😀", gateway.EncodingUCS2},
		{"latin1", func() *pdu.SubmitSM {
			sm, _ := pdu.NewBinaryShortMessageWithEncoding([]byte("caf\xe9 cr\xe8me"), data.LATIN1)
			return submitSM(t, "254712345678", sm)
		}, "café crème", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.sm()
			e.send(p)
			r := e.answerTo(p.GetSequenceNumber()).(*pdu.SubmitSMResp)
			if r.CommandStatus != data.ESME_ROK {
				t.Fatalf("%v", r.CommandStatus)
			}
			m := get(r.MessageID)
			if m.Text != c.want || c.enc != "" && m.Encoding != c.enc {
				t.Errorf("stored %q in %s, want %q in %s", m.Text, m.Encoding, c.want, c.enc)
			}
		})
	}
}

// TestSubmitMulti: one submit_multi to two numbers, a bad one and a
// distribution list is one message per good number; the answer names
// the refused destinations, and each message's receipt names the id the
// submit_multi was answered with.
func TestSubmitMulti(t *testing.T) {
	_, sim, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{account(t)}})
	e := dial(t, addr).mustBind(pdu.Transceiver)
	p := pdu.NewSubmitMulti().(*pdu.SubmitMulti)
	p.SourceAddr = address(t, 5, 0, "MFI-A")
	p.DestAddrs = pdu.NewDestinationAddresses()
	for _, n := range []string{"254712345678", "254722000111", "12"} {
		d := pdu.NewDestinationAddress()
		d.SetAddress(address(t, 1, 1, n))
		p.DestAddrs.Add(d)
	}
	dl, _ := pdu.NewDistributionList("borrowers")
	d := pdu.NewDestinationAddress()
	d.SetDistributionList(dl)
	p.DestAddrs.Add(d)
	p.Message = text(t, "Group meeting moved to Friday")
	p.RegisteredDelivery = 1
	e.send(p)
	r, ok := e.answerTo(p.GetSequenceNumber()).(*pdu.SubmitMultiResp)
	if !ok || r.CommandStatus != data.ESME_ROK || r.MessageID == "" {
		t.Fatalf("submit_multi_resp: %+v", r)
	}
	refused := map[string]data.CommandStatusType{}
	for _, u := range r.UnsuccessSMEs.Get() {
		refused[u.Address.Address()] = u.ErrorStatusCode()
	}
	if len(refused) != 2 || refused["12"] != data.ESME_RINVDSTADR || refused["borrowers"] != data.ESME_RINVDESTFLAG {
		t.Errorf("refused %v, want 12 (ESME_RINVDSTADR) and borrowers (ESME_RINVDESTFLAG)", refused)
	}
	var from []string
	for range 2 {
		d := e.receiptFor(r.MessageID)
		from = append(from, d.SourceAddr.Address())
	}
	if len(from) != 2 || from[0] == from[1] {
		t.Errorf("receipts from %v, want one from each number", from)
	}
	if n := len(sim.Submits()); n != 2 {
		t.Errorf("the carrier got %d messages, want 2", n)
	}
}

// TestValidityAndSchedule: SMPP times, relative and absolute, become the
// message's expiry and not-before; a time that does not parse is refused
// with the status naming it.
func TestValidityAndSchedule(t *testing.T) {
	a, _, addr := startGateway(t, smppserver.Config{Accounts: []smppserver.Account{account(t)}})
	e := dial(t, addr).mustBind(pdu.Transceiver)
	p := submitSM(t, "254712345678", text(t, "valid for a day, sent in an hour"))
	p.ValidityPeriod = "000001000000000R"
	p.ScheduleDeliveryTime = "000000010000000R"
	before := time.Now()
	e.send(p)
	r := e.answerTo(p.GetSequenceNumber()).(*pdu.SubmitSMResp)
	if r.CommandStatus != data.ESME_ROK {
		t.Fatal(r.CommandStatus)
	}
	m, err := a.Engine().Get(context.Background(), "mfi-a", r.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.ExpiresAt.Sub(before); d < 24*time.Hour-time.Minute || d > 24*time.Hour+time.Minute {
		t.Errorf("expires %v after the submit, want a day", d)
	}
	if d := m.NotBefore.Sub(before); d < time.Hour-time.Minute || d > time.Hour+time.Minute {
		t.Errorf("not before %v after the submit, want an hour", d)
	}

	abs := submitSM(t, "254712345678", text(t, "absolute"))
	abs.ValidityPeriod = time.Now().UTC().Add(48*time.Hour).Format("060102150405") + "000+"
	e.send(abs)
	if r := e.answerTo(abs.GetSequenceNumber()); r.GetHeader().CommandStatus != data.ESME_ROK {
		t.Errorf("an absolute validity: %s", status(r))
	}
	for _, bad := range []string{"tomorrow", "261399000000000+", "000001000000000X"} {
		p := submitSM(t, "254712345678", text(t, "bad validity"))
		p.ValidityPeriod = bad
		e.send(p)
		if r := e.answerTo(p.GetSequenceNumber()); r.GetHeader().CommandStatus != data.ESME_RINVEXPIRY {
			t.Errorf("validity %q: %s, want ESME_RINVEXPIRY", bad, status(r))
		}
	}
}
