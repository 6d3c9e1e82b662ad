package smpp

import (
	"strings"

	"github.com/openmf/smsgw/gateway"
)

// StatusOfStat maps the stat word of a receipt to a gateway status, so the
// engine never sees carrier vocabulary: DELIVRD → DELIVERED; UNDELIV,
// DELETED, UNKNOWN → UNDELIVERED; EXPIRED → EXPIRED; REJECTD → REJECTED.
// The spelled-out forms some carriers send (DELIVERED, UNDELIVERABLE,
// UNDELIVERED, REJECTED) map the same way. ENROUTE, ACCEPTD and words it does
// not know return "" (intermediate): a final status is never guessed.
// Case and surrounding spaces are ignored.
func StatusOfStat(stat string) gateway.Status {
	switch strings.ToUpper(strings.TrimSpace(stat)) {
	case "DELIVRD", "DELIVERED":
		return gateway.StatusDelivered
	case "UNDELIV", "UNDELIVERABLE", "UNDELIVERED", "DELETED", "UNKNOWN":
		return gateway.StatusUndelivered
	case "EXPIRED":
		return gateway.StatusExpired
	case "REJECTD", "REJECTED":
		return gateway.StatusRejected
	}
	return ""
}

// The message_state values of SMPP 3.4 §5.2.28, carried by the
// message_state TLV of a receipt and by query_sm_resp.
const (
	StateEnroute       byte = 1
	StateDelivered     byte = 2
	StateExpired       byte = 3
	StateDeleted       byte = 4
	StateUndeliverable byte = 5
	StateAccepted      byte = 6
	StateUnknown       byte = 7
	StateRejected      byte = 8
)

// StatusOfState maps the message_state TLV the same way as StatusOfStat, for
// carriers whose TLV is more reliable than their receipt text: DELIVERED →
// DELIVERED; DELETED, UNDELIVERABLE, UNKNOWN → UNDELIVERED; EXPIRED →
// EXPIRED; REJECTED → REJECTED; ENROUTE, ACCEPTED and other values → "".
func StatusOfState(state byte) gateway.Status {
	switch state {
	case StateDelivered:
		return gateway.StatusDelivered
	case StateDeleted, StateUndeliverable, StateUnknown:
		return gateway.StatusUndelivered
	case StateExpired:
		return gateway.StatusExpired
	case StateRejected:
		return gateway.StatusRejected
	}
	return ""
}
