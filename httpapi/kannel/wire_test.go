package kannel_test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openmf/smsgw/internal/testutil"
	"github.com/openmf/smsgw/smpp/smsc"
)

// TestWhatGoesOnTheWire sends sendsms requests through a real gateway to
// the SMPP simulator and checks the submit_sm fields Kannel would set
// (gw/smsc/smsc_smpp.c msg_to_pdu): registered_delivery from the
// dlr-mask (gw/dlr.h DLR_IS_* macros: 2 for failures only, 1 for 1 or 2,
// +0x10 for DLR_INTERMEDIATE 32), the message class in the data coding
// (gw/sms.c fields_to_dcs, forced to the 0xF0 group for 7-bit), the
// protocol id and the validity period ("YYMMDDhhmmss000+" in UTC); then
// the callbacks of an intermediate receipt.
func TestWhatGoesOnTheWire(t *testing.T) {
	// Numbers ending 1 get an intermediate notification when they ask for
	// one (0x10), as SMPP says; numbers ending 2 get one anyway, as some
	// carriers do.
	r := startRig(t, smsc.WithHandler(func(s *smsc.Submit) smsc.Action {
		switch {
		case strings.HasSuffix(s.Dest, "1"):
			return smsc.Action{Intermediate: "ENROUTE"}
		case strings.HasSuffix(s.Dest, "2"):
			return smsc.Action{Intermediate: "ENROUTE", IntermediateUnasked: true}
		}
		return smsc.Action{}
	}), smsc.WithReceiptDelay(30*time.Millisecond, 40*time.Millisecond))
	send := func(t *testing.T, to string, extra url.Values) {
		t.Helper()
		q := url.Values{"username": {"app"}, "password": {"secret"}, "to": {to}, "text": {"Loan due Friday"}}
		for k, v := range extra {
			q[k] = v
		}
		if status, body := get(t, r.url+"/cgi-bin/sendsms?"+q.Encode()); status != 202 || body != "0: Accepted for delivery" {
			t.Fatalf("sendsms %v: %d %q", extra, status, body)
		}
	}
	submitTo := func(t *testing.T, to string) smsc.Submit {
		t.Helper()
		var got smsc.Submit
		testutil.Eventually(t, 30*time.Second, func() error {
			for _, s := range r.sim.Submits() {
				if "+"+s.Dest == to {
					got = s
					return nil
				}
			}
			return fmt.Errorf("nothing submitted to %s yet", to)
		})
		return got
	}

	t.Run("registered_delivery per dlr-mask", func(t *testing.T) {
		for i, c := range []struct {
			mask string // "" leaves dlr-mask out
			rd   byte
		}{
			{"", 0}, {"0", 0}, {"1", 1}, {"2", 2}, {"3", 1}, {"4", 0}, {"8", 0}, {"16", 0},
			{"18", 2}, {"31", 1}, {"32", 0x10}, {"34", 0x12}, {"63", 0x11},
		} {
			to := fmt.Sprintf("+25473300%02d00", i)
			extra := url.Values{}
			if c.mask != "" {
				extra = url.Values{"dlr-mask": {c.mask}, "dlr-url": {r.dlrURL + "/dlr?id=rd" + strconv.Itoa(i) + "&type=%d"}}
			}
			send(t, to, extra)
			if got := submitTo(t, to).RegisteredDelivery; got != c.rd {
				t.Errorf("dlr-mask %q: registered_delivery %#x, want %#x", c.mask, got, c.rd)
			}
		}
	})

	t.Run("mclass, pid and validity", func(t *testing.T) {
		before := time.Now().UTC()
		send(t, "+254734001100", url.Values{"mclass": {"0"}, "pid": {"65"}, "validity": {"90"}})
		s := submitTo(t, "+254734001100")
		if s.DataCoding != 0xF0 || s.ProtocolID != 65 {
			t.Errorf("data_coding %#x protocol_id %d, want 0xf0 (class 0 in the 0xF0 group) and 65", s.DataCoding, s.ProtocolID)
		}
		vp, err := time.Parse("060102150405", strings.TrimSuffix(s.ValidityPeriod, "000+"))
		if !strings.HasSuffix(s.ValidityPeriod, "000+") || err != nil ||
			vp.Before(before.Add(89*time.Minute)) || vp.After(time.Now().UTC().Add(91*time.Minute)) {
			t.Errorf("validity_period %q, want 90 minutes from now as YYMMDDhhmmss000+", s.ValidityPeriod)
		}
		send(t, "+254734001200", url.Values{"mclass": {"1"}, "text": {"Salamu ☺"}})
		if s := submitTo(t, "+254734001200"); s.DataCoding != 0x19 {
			t.Errorf("UCS-2 with class 1: data_coding %#x, want 0x19", s.DataCoding)
		}
		send(t, "+254734001250", url.Values{"coding": {"2"}, "charset": {"UTF-8"}, "text": {"Hi"}})
		if s := submitTo(t, "+254734001250"); s.DataCoding != 0x08 || string(s.ShortMessage) != "\x00H\x00i" {
			t.Errorf("coding=2 with GSM characters: data_coding %#x short_message % x, want UCS-2 as Kannel sends it", s.DataCoding, s.ShortMessage)
		}
		send(t, "+254734001300", nil)
		if s := submitTo(t, "+254734001300"); s.DataCoding != 0 || s.ValidityPeriod != "" || s.ProtocolID != 0 {
			t.Errorf("plain request: data_coding %#x validity_period %q protocol_id %d", s.DataCoding, s.ValidityPeriod, s.ProtocolID)
		}
	})

	t.Run("binary messages and UDH", func(t *testing.T) {
		udh := "\x06\x05\x04\x0b\x84\x23\xf0" // 16-bit port addressing, 2948 → 9200
		for _, c := range []struct {
			to    string
			extra url.Values
			dc    byte
			sm    string
		}{
			// 8-bit data: data_coding 0x04, the octets as given after the UDH.
			{"+254735000100", url.Values{"coding": {"1"}, "udh": {udh}, "text": {"\x01\x02\xff"}}, 0x04, udh + "\x01\x02\xff"},
			// A UDH alone makes the message 8-bit, as in Kannel.
			{"+254735000200", url.Values{"udh": {udh}, "text": {"\x00\x10"}}, 0x04, udh + "\x00\x10"},
			// 8-bit with class 1: the 0xF0 group (0xF5).
			{"+254735000300", url.Values{"coding": {"1"}, "mclass": {"1"}, "text": {"\xca\xfe"}}, 0xF5, "\xca\xfe"},
			// 7-bit text with a UDH: GSM 03.38, one septet per octet.
			{"+254735000400", url.Values{"coding": {"0"}, "udh": {udh}, "text": {"Hi @"}}, 0x00, udh + "Hi\x20\x00"},
			// UCS-2 text with a UDH: UTF-16BE.
			{"+254735000500", url.Values{"coding": {"2"}, "charset": {"UTF-8"}, "udh": {udh}, "text": {"☺"}}, 0x08, udh + "\x26\x3a"},
		} {
			send(t, c.to, c.extra)
			s := submitTo(t, c.to)
			wantESM := byte(0)
			if strings.HasPrefix(c.sm, udh) {
				wantESM = 0x40
			}
			if s.DataCoding != c.dc || string(s.ShortMessage) != c.sm || s.ESMClass&0x40 != wantESM {
				t.Errorf("%v: data_coding %#x esm_class %#x short_message % x, want %#x, UDHI %v, % x",
					c.extra, s.DataCoding, s.ESMClass, s.ShortMessage, c.dc, wantESM != 0, []byte(c.sm))
			}
		}
	})

	t.Run("binary message over one SMS", func(t *testing.T) {
		udh := "\x06\x05\x04\x0b\x84\x23\xf0"
		data := strings.Repeat("\xab", 200)
		send(t, "+254735000600", url.Values{"coding": {"1"}, "udh": {udh}, "text": {data}})
		var parts []smsc.Submit
		testutil.Eventually(t, 30*time.Second, func() error {
			parts = parts[:0]
			for _, s := range r.sim.Submits() {
				if s.Dest == "254735000600" {
					parts = append(parts, s)
				}
			}
			if len(parts) != 2 {
				return fmt.Errorf("%d parts submitted", len(parts))
			}
			return nil
		})
		got := map[byte]string{}
		for _, p := range parts {
			sm := p.ShortMessage
			if p.ESMClass&0x40 == 0 || p.DataCoding != 0x04 || len(sm) < 12 || string(sm[:7]) != "\x0b\x05\x04\x0b\x84\x23\xf0" ||
				sm[7] != 0 || sm[8] != 3 || sm[10] != 2 || sm[9] != parts[0].ShortMessage[9] {
				t.Fatalf("part: esm_class %#x data_coding %#x short_message % x", p.ESMClass, p.DataCoding, sm)
			}
			got[sm[11]] = string(sm[12:])
		}
		if got[1]+got[2] != data || len(got[1]) != 128 {
			t.Errorf("parts carry %d and %d octets, want 128 then 72 of the data", len(got[1]), len(got[2]))
		}
	})

	t.Run("intermediate receipts", func(t *testing.T) {
		for _, c := range []struct {
			name, to, mask string
			rd             byte
			types          []string // callbacks, each once
			notType        string
		}{
			// Mask 31 asks for every report type but not for intermediate
			// notifications (that is 32): Kannel leaves 0x10 clear. A
			// carrier that sends one anyway still gets type 4 reported.
			{"mask 31, carrier sends one unasked", "+254733002002", "31", 0x01, []string{"8", "4", "1"}, ""},
			{"mask 31, carrier follows SMPP", "+254733002001", "31", 0x01, []string{"8", "1"}, "4"},
			{"mask 63 asks for them", "+254733002011", "63", 0x11, []string{"8", "4", "1"}, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				id := "im" + c.to[len(c.to)-3:]
				send(t, c.to, url.Values{"dlr-mask": {c.mask}, "dlr-url": {r.dlrURL + "/dlr?id=" + id + "&type=%d&A=%A"}})
				if got := submitTo(t, c.to).RegisteredDelivery; got != c.rd {
					t.Errorf("registered_delivery %#x, want %#x", got, c.rd)
				}
				testutil.Eventually(t, 30*time.Second, func() error {
					r.dlr.mu.Lock()
					defer r.dlr.mu.Unlock()
					for _, typ := range c.types {
						if r.dlr.calls[id+"/"+typ] != 1 {
							return fmt.Errorf("type %s called %d times", typ, r.dlr.calls[id+"/"+typ])
						}
					}
					return nil
				})
				r.dlr.mu.Lock()
				defer r.dlr.mu.Unlock()
				if c.notType != "" && r.dlr.calls[id+"/"+c.notType] != 0 {
					t.Errorf("type %s reported though the carrier sent no intermediate receipt", c.notType)
				}
				if a := r.dlr.lastA[id+"/4"]; len(c.types) == 3 && !strings.Contains(a, "stat:ENROUTE") {
					t.Errorf("type 4 %%A = %q, want the intermediate receipt's text", a)
				}
			})
		}
	})
}
