package smpp

import (
	"errors"
	"testing"

	"github.com/linxGnu/gosmpp/data"

	"github.com/openmf/smsgw/gateway"
)

// TestDecisionTable pins every row of the command_status table, plus the
// default for statuses it does not list.
func TestDecisionTable(t *testing.T) {
	tests := []struct {
		status uint32
		name   string
		want   gateway.Decision
	}{
		{0x14, "ESME_RMSGQFUL", gateway.Retry},
		{0x58, "ESME_RTHROTTLED", gateway.Retry},
		{0x64, "ESME_RX_T_APPN", gateway.Retry},
		{0x08, "ESME_RSYSERR", gateway.Retry},
		{0x0F, "ESME_RINVSYSID", gateway.NextRoute},
		{0x0E, "ESME_RINVPASWD", gateway.NextRoute},
		{0x0D, "ESME_RBINDFAIL", gateway.NextRoute},
		{0x04, "ESME_RINVBNDSTS", gateway.NextRoute},
		{0x45, "ESME_RSUBMITFAIL", gateway.NextRoute},
		{0x59, "ESME_RPROVNOTALLWD", gateway.NextRoute},
		{0x01, "ESME_RINVMSGLEN", gateway.Permanent},
		{0x0A, "ESME_RINVSRCADR", gateway.Permanent},
		{0x0B, "ESME_RINVDSTADR", gateway.Permanent},
		{0x43, "ESME_RINVESMCLASS", gateway.Permanent},
		{0x48, "ESME_RINVSRCTON", gateway.Permanent},
		{0x49, "ESME_RINVSRCNPI", gateway.Permanent},
		{0x50, "ESME_RINVDSTTON", gateway.Permanent},
		{0x51, "ESME_RINVDSTNPI", gateway.Permanent},
		{0x62, "ESME_RINVEXPIRY", gateway.Permanent},
		{0x65, "ESME_RX_P_APPN", gateway.Permanent},
		{0x66, "ESME_RX_R_APPN", gateway.Permanent},
		{0x104, "ESME_RINVDCS", gateway.Permanent},
		// Unlisted: permanent, as in Kannel.
		{0x03, "ESME_RINVCMDID", gateway.Permanent},
		{0xFF, "ESME_RUNKNOWNERR", gateway.Permanent},
		{0x400, "0x00000400", gateway.Permanent},
	}
	if len(decisions) != 22 {
		t.Errorf("the table has %d rows, the test pins 22: add the new row here", len(decisions))
	}
	for _, tc := range tests {
		c := CommandStatus(tc.status)
		if c.Name() != tc.name || c.Decision() != tc.want {
			t.Errorf("%#x: %s → %v, want %s → %v", tc.status, c.Name(), c.Decision(), tc.name, tc.want)
		}
		se := submitError(c)
		var cs CommandStatus
		if se.Code != tc.name || se.Decision != tc.want || gateway.DecisionOf(se) != tc.want ||
			!errors.As(error(se), &cs) || cs != c {
			t.Errorf("%#x: SubmitError %+v", tc.status, se)
		}
	}
}

func TestCommandStatusError(t *testing.T) {
	tests := map[CommandStatus]string{
		CommandStatus(data.ESME_RTHROTTLED): "smpp: ESME_RTHROTTLED (0x00000058): Throttling error (ESME has exceeded allowed message limits)",
		esmeRINVDCS:                         "smpp: ESME_RINVDCS (0x00000104): Invalid Data Coding Scheme",
		0x400:                               "smpp: 0x00000400",
	}
	for c, want := range tests {
		if got := c.Error(); got != want {
			t.Errorf("%#x: %q, want %q", uint32(c), got, want)
		}
	}
}

func TestSentinelsAreRetry(t *testing.T) {
	for _, err := range []error{ErrResponseTimeout, ErrNotBound, ErrConnectionLost, ErrStopped} {
		if gateway.DecisionOf(err) != gateway.Retry {
			t.Errorf("%v: %v", err, gateway.DecisionOf(err))
		}
	}
}
