package grpcapi

import (
	"math"

	"golang.org/x/text/currency"

	"github.com/openmf/smsgw/gateway"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// defaultMinorDigits is the exponent of an amount whose route names no
// currency (or one ISO 4217 does not know): cents, as most currencies.
const defaultMinorDigits = 2

// toMoney is amount in cur as integer minor units, so a client adding
// costs up never meets a float's rounding. The gateway keeps route costs
// as float64 (config and store), so a price finer than the minor unit
// (USD 0.0075) rounds here; the deprecated double keeps it.
func toMoney(amount float64, cur string) *pb.Money {
	digits := defaultMinorDigits
	if u, err := currency.ParseISO(cur); err == nil {
		digits, _ = currency.Standard.Rounding(u)
	}
	return &pb.Money{CurrencyCode: cur, MinorUnits: int64(math.Round(amount * math.Pow10(digits))), MinorDigits: int32(digits)}
}

var encodings = map[gateway.Encoding]pb.Encoding{
	gateway.EncodingGSM7:   pb.Encoding_ENCODING_GSM7,
	gateway.EncodingUCS2:   pb.Encoding_ENCODING_UCS2,
	gateway.EncodingBinary: pb.Encoding_ENCODING_BINARY,
}

// outcomes maps Attempt.Outcome (gateway.Decision's spelling, or
// "submitted") to its enum.
var outcomes = map[string]pb.AttemptOutcome{
	"submitted":                pb.AttemptOutcome_ATTEMPT_OUTCOME_SUBMITTED,
	gateway.Retry.String():     pb.AttemptOutcome_ATTEMPT_OUTCOME_RETRY,
	gateway.NextRoute.String(): pb.AttemptOutcome_ATTEMPT_OUTCOME_NEXT_ROUTE,
	gateway.Permanent.String(): pb.AttemptOutcome_ATTEMPT_OUTCOME_PERMANENT,
}
