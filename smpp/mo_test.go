package smpp

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/openmf/smsgw/smstext"
)

// FuzzReassemble cuts a text into concatenated parts (8-bit or 16-bit UDH
// or SAR, as smstext.Segment does for sending), feeds them to the MO
// assembler in a fuzzed order with fuzzed repeats, and checks the joined
// text: every part present gives the text exactly once, whatever the order
// and the duplicates; a missing part gives a marked, incomplete text.
// Arbitrary bytes are also fed as raw UDH payloads, which must never panic.
func FuzzReassemble(f *testing.F) {
	f.Add("Balance please, what is due this month?", []byte{1, 0, 1}, byte(0), false, []byte{5, 0, 3, 1, 2, 1, 'h', 'i'})
	f.Add(strings.Repeat("a", 152)+"€tail", []byte{2, 1, 2}, byte(1), false, []byte{6, 8, 4, 0, 1, 2, 2})
	f.Add(strings.Repeat("Баланс 💰 ", 20), []byte{3, 2, 1, 0}, byte(2), true, []byte{})
	f.Add(strings.Repeat("x", 400), []byte{0, 2}, byte(0), true, []byte{0xff, 0})
	f.Fuzz(func(t *testing.T, text string, order []byte, mode byte, packed bool, raw []byte) {
		// Raw payloads: smstext.SplitUDH and part decoding never panic.
		if udh, body, c, err := smstext.SplitUDH(raw); err == nil {
			p := moPart{DataCoding: 0, UDH: udh, Body: body, Seq: 1, Total: 1}
			if c != nil {
				p.Total, p.Seq, p.Ref, p.Kind = c.Total, c.Seq, c.Ref, moKindUDH8
			}
			_, _ = p.decode(smstext.TextOptions{PackGSM7: packed})
			a := newMOAssembler(time.Minute)
			if p.Total > 1 {
				a.add(p, delivery{}, time.Now())
				for _, g := range a.expire(time.Now().Add(time.Hour)) {
					g.join(smstext.TextOptions{PackGSM7: packed})
				}
			}
		}

		if !utf8.ValidString(text) || text == "" || len(order) == 0 {
			return
		}
		concat := []string{smstext.ConcatUDH8, smstext.ConcatUDH16, smstext.ConcatSAR}[int(mode)%3]
		opt := smstext.TextOptions{PackGSM7: packed, Concat: concat}
		segs, err := smstext.Segment(text, opt)
		if err != nil || len(segs.Parts) < 2 {
			return
		}
		n := len(segs.Parts)
		udh := func(seq int) []byte { return nil } // SAR: no UDH
		switch segs.Concat {
		case smstext.ConcatUDH8:
			udh = func(seq int) []byte { return smstext.ConcatUDH(1, n, seq) }
		case smstext.ConcatUDH16:
			udh = func(seq int) []byte { return smstext.ConcatUDH16Bit(1, n, seq) }
		}
		a := newMOAssembler(time.Minute)
		now := time.Now()
		sent := map[int]bool{}
		var done *moGroup
		for _, o := range order {
			seq := int(o)%n + 1
			sent[seq] = true
			p := moPart{From: "+1", To: "2", DataCoding: segs.DataCoding, UDH: udh(seq), Body: segs.Parts[seq-1],
				Kind: moKindUDH8, Ref: 1, Total: n, Seq: seq, At: now}
			g, dup := a.add(p, delivery{}, now)
			if g != nil {
				done = g
			}
			if dup && done == nil {
				t.Fatal("duplicate reported before the message completed")
			}
		}
		if len(sent) == n {
			if done == nil {
				t.Fatal("every part sent, message not complete")
			}
			got, incomplete := done.join(opt)
			if incomplete || !sameText(got, text, packed) {
				t.Fatalf("joined %q, want %q", got, text)
			}
			return
		}
		exp := a.expire(now.Add(2 * time.Minute))
		if len(exp) != 1 {
			t.Fatalf("%d groups expired", len(exp))
		}
		got, incomplete := exp[0].join(opt)
		if !incomplete || !strings.Contains(got, "missing]") {
			t.Fatalf("incomplete message not marked: %q", got)
		}
	})
}

// sameText compares a round trip; packed GSM7 may lose a CR that ends a
// part exactly on an octet boundary (see smstext.Segments).
func sameText(got, want string, packed bool) bool {
	if got == want {
		return true
	}
	return packed && strings.ReplaceAll(got, "\r", "") == strings.ReplaceAll(want, "\r", "") && len(got) < len(want)
}
