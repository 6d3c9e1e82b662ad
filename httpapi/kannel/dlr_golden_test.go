package kannel

import (
	"testing"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// TestDLREscapesPerType holds, for every DLR type, the value Kannel 1.4.5
// gives each dlr-url escape. Sources: gw/urltrans.c
// urltrans_fill_escape_codes (the escapes), gw/dlr.c dlr_find (types 1, 2,
// 4: a fresh message with the stored service, smsc-id, source,
// destination and dlr-url, the SMSC's id as foreign id, the time of the
// report), gw/smsc/smsc_smpp.c handle_dlr (the receipt text as msgdata,
// the bind's username as account), gw/dlr.c create_dlr_from_msg (types 8,
// 16: the message's service, sender, receiver, dlr-url and meta-data, the
// SMSC's id), gw/bb_smscconn.c bb_smscconn_sent ("ACK/") and
// bb_smscconn_send_failed ("NACK/" before the reply), gw/smsc/smsc_smpp.c
// submit_sm_resp ("0x%08lx/%s" with smpp_pdu.c smpp_error_to_string), and
// gw/msg.c msg_create (every integer field -1: %c %m %M read -1, %C falls
// back to UTF-8, %O to 00, %v %V stay empty).
func TestDLREscapesPerType(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	const pattern = "http://app/dlr?d=%d&A=%A&a=%a&b=%b&k=%k&s=%s&S=%S&r=%r&i=%i&c=%c&m=%m&M=%M&C=%C&O=%O" +
		"&p=%p&P=%P&q=%q&Q=%Q&F=%F&n=%n&o=%o&B=%B&D=%D&u=%u&v=%v&V=%V&f=%f&t=%t&T=%T&R=%R"
	m := &gateway.Message{ID: "0190aaaa", From: "0022555", To: "+254712000001", Carrier: "sim", Encoding: gateway.EncodingUCS2,
		Parts: []gateway.Part{{Carrier: "sim", CarrierID: "4242"}},
		Meta: map[string]string{metaDLRURL: pattern, metaDLRMask: "31", metaTo: "0712000001", metaUser: "tester",
			metaMetaData: "?smpp?x=1", metaMClass: "1", metaAccount: "acct", metaBInfo: "bi"}}
	const rcpt = "id:4242 sub:001 dlvrd:001 submit date:2603040506 done date:2603040506 stat:DELIVRD err:000 text:Hello"
	// Every type shares these: the addresses as sent, the user as service,
	// the dlr-url, the time of the report.
	const common = "&p=0712000001&P=0022555&q=0712000001&Q=%2B22555"
	const tail = "&u=&v=&V=&f=&t=2026-03-04+05:06:07&T=1772600767&R=http%3A%2F%2Fapp%2Fdlr%3Fd%3D%25d%26A%3D%25A%26a%3D%25a%26b%3D%25b%26k%3D%25k%26s%3D%25s%26S%3D%25S%26r%3D%25r%26i%3D%25i%26c%3D%25c%26m%3D%25m%26M%3D%25M%26C%3D%25C%26O%3D%25O%26p%3D%25p%26P%3D%25P%26q%3D%25q%26Q%3D%25Q%26F%3D%25F%26n%3D%25n%26o%3D%25o%26B%3D%25B%26D%3D%25D%26u%3D%25u%26v%3D%25v%26V%3D%25V%26f%3D%25f%26t%3D%25t%26T%3D%25T%26R%3D%25R"
	rcptEnc := "id%3A4242+sub%3A001+dlvrd%3A001+submit+date%3A2603040506+done+date%3A2603040506+stat%3ADELIVRD+err%3A000+text%3AHello"
	rcptWords := "id%3A4242+sub%3A001+dlvrd%3A001+submit+date%3A2603040506+done+date%3A2603040506+stat%3ADELIVRD+err%3A000+text%3AHello"
	cases := []struct {
		name string
		ev   gateway.Event
		m    *gateway.Message
		want string
	}{
		{"1 delivered", gateway.Event{Status: gateway.StatusDelivered, Detail: rcpt, Time: at}, m,
			"http://app/dlr?d=1&A=" + rcptEnc + "&a=" + rcptWords + "&b=" + rcptEnc + "&k=id%3A4242&s=sub%3A001&S=dlvrd:001" +
				"&r=submit+date%3A2603040506+done+date%3A2603040506+stat%3ADELIVRD+err%3A000+text%3AHello" +
				"&i=sim&c=-1&m=-1&M=-1&C=UTF-8&O=00" + common + "&F=4242&n=tester&o=smppuser&B=&D=" + tail},
		{"2 undelivered", gateway.Event{Status: gateway.StatusUndelivered, Detail: "id:4242 stat:UNDELIV err:034", Time: at}, m,
			"http://app/dlr?d=2&A=id%3A4242+stat%3AUNDELIV+err%3A034&a=id%3A4242+stat%3AUNDELIV+err%3A034&b=id%3A4242+stat%3AUNDELIV+err%3A034" +
				"&k=id%3A4242&s=stat%3AUNDELIV&S=err:034&r=&i=sim&c=-1&m=-1&M=-1&C=UTF-8&O=00" + common +
				"&F=4242&n=tester&o=smppuser&B=&D=" + tail},
		{"4 buffered", gateway.Event{Status: gateway.StatusSubmitted, Detail: "id:4242 stat:ENROUTE err:000", Time: at}, m,
			"http://app/dlr?d=4&A=id%3A4242+stat%3AENROUTE+err%3A000&a=id%3A4242+stat%3AENROUTE+err%3A000&b=id%3A4242+stat%3AENROUTE+err%3A000" +
				"&k=id%3A4242&s=stat%3AENROUTE&S=err:000&r=&i=sim&c=-1&m=-1&M=-1&C=UTF-8&O=00" + common +
				"&F=4242&n=tester&o=smppuser&B=&D=" + tail},
		{"8 accepted by the SMSC", gateway.Event{Status: gateway.StatusSubmitted, Time: at}, m,
			"http://app/dlr?d=8&A=ACK%2F&a=ACK%2F&b=ACK%2F&k=ACK%2F&s=&S=&r=&i=sim&c=-1&m=-1&M=-1&C=UTF-8&O=00" + common +
				"&F=&n=tester&o=&B=&D=%3Fsmpp%3Fx%3D1" + tail},
		{"16 refused by the SMSC", gateway.Event{Status: gateway.StatusRejected, Time: at,
			Detail: "ESME_RINVDSTADR (permanent): smpp: ESME_RINVDSTADR (0x0000000B): Invalid destination address"},
			&gateway.Message{ID: m.ID, From: m.From, To: m.To, Meta: m.Meta, Parts: []gateway.Part{{}},
				Attempts: []gateway.Attempt{{Carrier: "sim", Outcome: "permanent"}}},
			"http://app/dlr?d=16&A=NACK%2F0x0000000b%2FInvalid+Destination+Address&a=NACK%2F0x0000000b%2FInvalid+Destination+Address" +
				"&b=NACK%2F0x0000000b%2FInvalid+Destination+Address&k=NACK%2F0x0000000b%2FInvalid&s=Destination&S=Address" +
				"&r=&i=sim&c=-1&m=-1&M=-1&C=UTF-8&O=00" + common + "&F=&n=tester&o=&B=&D=%3Fsmpp%3Fx%3D1" + tail},
	}
	for _, c := range cases {
		typ, reply := dlrType(c.ev, c.m)
		got := expand(pattern, dlrEscapes(c.m, c.ev, typ, reply, "smppuser"))
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}
