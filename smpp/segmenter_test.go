package smpp

import (
	"testing"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/smstext"
)

// The engine counts parts with smstext.Count[gateway.Encoding] at accept
// time and Pool.Submit cuts them with smstext.Segment: smstext does not
// import gateway, so the encoding names must agree here.
var _ gateway.Segmenter = smstext.Count[gateway.Encoding]

func TestEncodingNames(t *testing.T) {
	for _, c := range []struct {
		ours smstext.Encoding
		gw   gateway.Encoding
	}{{smstext.EncodingGSM7, gateway.EncodingGSM7}, {smstext.EncodingUCS2, gateway.EncodingUCS2}} {
		if string(c.ours) != string(c.gw) {
			t.Errorf("smstext encoding %q, gateway %q", c.ours, c.gw)
		}
		text := map[smstext.Encoding]string{smstext.EncodingGSM7: "Hello", smstext.EncodingUCS2: "Привет"}[c.ours]
		if enc, _, err := smstext.Count[gateway.Encoding](text); err != nil || enc != c.gw {
			t.Errorf("Count(%q) = %q, %v; want %q", text, enc, err, c.gw)
		}
	}
}
