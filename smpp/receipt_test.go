package smpp

import (
	"testing"

	"github.com/openmf/smsgw/gateway"
)

func TestStatusOfStat(t *testing.T) {
	tests := map[string]gateway.Status{
		"DELIVRD": gateway.StatusDelivered, "delivrd": gateway.StatusDelivered, " Delivered ": gateway.StatusDelivered,
		"UNDELIV": gateway.StatusUndelivered, "DELETED": gateway.StatusUndelivered, "UNKNOWN": gateway.StatusUndelivered,
		"UNDELIVERABLE": gateway.StatusUndelivered,
		"EXPIRED":       gateway.StatusExpired, "expired": gateway.StatusExpired,
		"REJECTD": gateway.StatusRejected, "REJECTED": gateway.StatusRejected,
		"ENROUTE": "", "ACCEPTD": "", "BUFFRED": "", "": "", "DELIVRDX": "",
	}
	for stat, want := range tests {
		if got := StatusOfStat(stat); got != want {
			t.Errorf("StatusOfStat(%q) = %q, want %q", stat, got, want)
		}
	}
}

func TestStatusOfState(t *testing.T) {
	want := map[byte]gateway.Status{
		0: "", 1: "", 2: gateway.StatusDelivered, 3: gateway.StatusExpired, 4: gateway.StatusUndelivered,
		5: gateway.StatusUndelivered, 6: "", 7: gateway.StatusUndelivered, 8: gateway.StatusRejected, 9: "", 255: "",
	}
	for s, w := range want {
		if got := StatusOfState(s); got != w {
			t.Errorf("StatusOfState(%d) = %q, want %q", s, got, w)
		}
	}
	// The TLV and the text agree on every state they both name.
	words := map[byte]string{1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}
	for s, w := range words {
		if StatusOfState(s) != StatusOfStat(w) {
			t.Errorf("state %d and stat %s disagree", s, w)
		}
	}
}
