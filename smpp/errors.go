package smpp

import (
	"errors"
	"fmt"

	"github.com/linxGnu/gosmpp/data"

	"github.com/openmf/smsgw/gateway"
)

// CommandStatus is an SMPP command_status other than ESME_ROK, as an error
// value (the way net/textproto.Error carries an SMTP code): callers test it
// with errors.As and read the decision from the package's one table
// (decisions).
type CommandStatus uint32

// esmeRINVDCS is SMPP 5.0's "invalid data coding scheme", which gosmpp does
// not name but carriers send.
const esmeRINVDCS CommandStatus = 0x104

// decisions is the one table mapping a submit_sm_resp command_status to what
// the engine does next (gateway.Retry, NextRoute or Permanent). Temporary
// statuses are Kannel's four; route-level refusals (the account or bind is
// refused, not the message) try the next carrier; everything about the
// message itself is permanent. Statuses not listed are permanent too, as in
// Kannel.
var decisions = map[CommandStatus]gateway.Decision{
	// Temporary: the same route will take it later.
	CommandStatus(data.ESME_RMSGQFUL):   gateway.Retry,
	CommandStatus(data.ESME_RTHROTTLED): gateway.Retry,
	CommandStatus(data.ESME_RX_T_APPN):  gateway.Retry,
	CommandStatus(data.ESME_RSYSERR):    gateway.Retry,

	// Route-level: this carrier will not take it now, another might.
	CommandStatus(data.ESME_RINVSYSID):     gateway.NextRoute,
	CommandStatus(data.ESME_RINVPASWD):     gateway.NextRoute,
	CommandStatus(data.ESME_RBINDFAIL):     gateway.NextRoute,
	CommandStatus(data.ESME_RINVBNDSTS):    gateway.NextRoute,
	CommandStatus(data.ESME_RSUBMITFAIL):   gateway.NextRoute,
	CommandStatus(data.ESME_RPROVNOTALLWD): gateway.NextRoute,

	// Permanent: the message itself is wrong for any route.
	CommandStatus(data.ESME_RINVMSGLEN):   gateway.Permanent,
	CommandStatus(data.ESME_RINVSRCADR):   gateway.Permanent,
	CommandStatus(data.ESME_RINVDSTADR):   gateway.Permanent,
	CommandStatus(data.ESME_RINVESMCLASS): gateway.Permanent,
	CommandStatus(data.ESME_RINVSRCTON):   gateway.Permanent,
	CommandStatus(data.ESME_RINVSRCNPI):   gateway.Permanent,
	CommandStatus(data.ESME_RINVDSTTON):   gateway.Permanent,
	CommandStatus(data.ESME_RINVDSTNPI):   gateway.Permanent,
	CommandStatus(data.ESME_RINVEXPIRY):   gateway.Permanent,
	CommandStatus(data.ESME_RX_P_APPN):    gateway.Permanent,
	CommandStatus(data.ESME_RX_R_APPN):    gateway.Permanent,
	esmeRINVDCS:                           gateway.Permanent,
}

// Decision is what the engine should do after a submit_sm_resp with this
// status: the table's entry, Permanent when unlisted.
func (c CommandStatus) Decision() gateway.Decision {
	if d, ok := decisions[c]; ok {
		return d
	}
	return gateway.Permanent
}

// Name is the SMPP name (ESME_RTHROTTLED), or the hex value for a status
// neither SMPP 3.4 nor this package names; it is the SubmitError code and a
// metric-safe label.
func (c CommandStatus) Name() string {
	if c == esmeRINVDCS {
		return "ESME_RINVDCS"
	}
	if s := data.CommandStatusType(c).String(); len(s) > 5 && s[:5] == "ESME_" {
		return s
	}
	return fmt.Sprintf("0x%08X", uint32(c))
}

// Error describes the status for logs: "smpp: ESME_RTHROTTLED (0x00000058):
// Throttling error (ESME has exceeded allowed message limits)".
func (c CommandStatus) Error() string {
	desc := ""
	switch c {
	case esmeRINVDCS:
		desc = "Invalid Data Coding Scheme"
	default:
		if d := data.CommandStatusType(c).Desc(); d != data.CommandStatusType(c).String() {
			desc = d
		}
	}
	if desc == "" {
		return fmt.Sprintf("smpp: %s", c.Name())
	}
	return fmt.Sprintf("smpp: %s (0x%08X): %s", c.Name(), uint32(c), desc)
}

// submitError wraps a refusal from the carrier for the engine.
func submitError(c CommandStatus) *gateway.SubmitError {
	throttled := c == CommandStatus(data.ESME_RTHROTTLED) || c == CommandStatus(data.ESME_RMSGQFUL)
	return &gateway.SubmitError{Decision: c.Decision(), Code: c.Name(), Err: c, Throttled: throttled}
}

// Errors a part can fail with besides a CommandStatus. All but the text
// errors mean Retry (gateway.DecisionOf treats non-SubmitErrors so).
var (
	// ErrResponseTimeout: no submit_sm_resp within response_timeout. The
	// carrier may still have taken the message, so a retry can duplicate it;
	// the late response, if any, is logged.
	ErrResponseTimeout = errors.New("smpp: no submit_sm_resp within response_timeout")
	// ErrNotBound: no bind of the carrier is up.
	ErrNotBound = errors.New("smpp: no bind is up")
	// ErrConnectionLost: the bind went down (or was unbound) before the
	// submit_sm_resp arrived.
	ErrConnectionLost = errors.New("smpp: connection lost before submit_sm_resp")
	// ErrStopped: the pool is stopping or stopped and takes no submissions.
	ErrStopped = errors.New("smpp: pool stopped")
	// ErrPartCount: the text now segments into a different number of parts
	// than the engine counted at accept time; sending would scramble the
	// concatenation. Permanent.
	ErrPartCount = errors.New("smpp: part count differs from the message's")
)

// permanent wraps a problem with the message itself (text, parts,
// addresses) that no route can fix.
func permanent(code string, err error) *gateway.SubmitError {
	return &gateway.SubmitError{Decision: gateway.Permanent, Code: code, Err: err}
}
