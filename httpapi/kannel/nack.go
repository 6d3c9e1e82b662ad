package kannel

import (
	"fmt"
	"strconv"
	"strings"
)

// smppStatus is one SMPP command_status as Kannel names and describes it
// (gw/smsc/smpp_pdu.h SMPP_ERROR_MESSAGES, gw/smsc/smpp_pdu.c
// smpp_error_to_string): the text after the code in a type-16 report.
type smppStatus struct {
	name string
	text string
}

var smppStatuses = map[uint32]smppStatus{
	0x00:  {"ESME_ROK", "OK"},
	0x01:  {"ESME_RINVMSGLEN", "Message Length is invalid"},
	0x02:  {"ESME_RINVCMDLEN", "Command Length is invalid"},
	0x03:  {"ESME_RINVCMDID", "Invalid Command ID"},
	0x04:  {"ESME_RINVBNDSTS", "Incorrect BIND Status for given command"},
	0x05:  {"ESME_RALYNBD", "ESME Already in Bound State"},
	0x06:  {"ESME_RINVPRTFLG", "Invalid Priority Flag"},
	0x07:  {"ESME_RINVREGDLVFLG", "Invalid Registered Delivery Flag"},
	0x08:  {"ESME_RSYSERR", "System Error"},
	0x0A:  {"ESME_RINVSRCADR", "Invalid Source Address"},
	0x0B:  {"ESME_RINVDSTADR", "Invalid Destination Address"},
	0x0C:  {"ESME_RINVMSGID", ""},
	0x0D:  {"ESME_RBINDFAIL", "Bind Failed"},
	0x0E:  {"ESME_RINVPASWD", "Invalid Password"},
	0x0F:  {"ESME_RINVSYSID", "Invalid System ID"},
	0x11:  {"ESME_RCANCELFAIL", "Cancel SM Failed"},
	0x13:  {"ESME_RREPLACEFAIL", "Replace SM Failed"},
	0x14:  {"ESME_RMSGQFUL", "Message Queue Full"},
	0x15:  {"ESME_RINVSERTYP", "Invalid Service Type"},
	0x33:  {"ESME_RINVNUMDESTS", "Invalid number of destinations"},
	0x34:  {"ESME_RINVDLNAME", "Invalid Distribution List Name"},
	0x40:  {"ESME_RINVDESTFLAG", "Destination flag is invalid"},
	0x42:  {"ESME_RINVSUBREP", "Submit w/replace not supported/allowed"},
	0x43:  {"ESME_RINVESMCLASS", "Invalid esm_class field data"},
	0x44:  {"ESME_RCNTSUBDL", "Cannot Submit to Distribution List"},
	0x45:  {"ESME_RSUBMITFAIL", "Submit failed"},
	0x48:  {"ESME_RINVSRCTON", "Invalid Source address TON"},
	0x49:  {"ESME_RINVSRCNPI", "Invalid Source address NPI"},
	0x50:  {"ESME_RINVDSTTON", "Invalid Destination address TON"},
	0x51:  {"ESME_RINVDSTNPI", "Invalid Destination address NPI"},
	0x53:  {"ESME_RINVSYSTYP", "Invalid system_type field"},
	0x54:  {"ESME_RINVREPFLAG", "Invalid replace_if_present flag"},
	0x55:  {"ESME_RINVNUMMSGS", "Invalid number of messages"},
	0x58:  {"ESME_RTHROTTLED", "Throttling error"},
	0x61:  {"ESME_RINVSCHED", "Invalid Scheduled Delivery Time"},
	0x62:  {"ESME_RINVEXPIRY", "Invalid message validity period"},
	0x63:  {"ESME_RINVDFTMSGID", "Predefined Message ID is Invalid or specific predefined message was not found"},
	0x64:  {"ESME_RX_T_APPN", "ESME Receiver Temporary App Error Code"},
	0x65:  {"ESME_RX_P_APPN", "ESME Receiver Permanent App Error Code"},
	0x66:  {"ESME_RX_R_APPN", "ESME Receiver Reject Message Error Code"},
	0x67:  {"ESME_RQUERYFAIL", "query_sm request failed"},
	0xC0:  {"ESME_RINVTLVSTREAM", "Error in optional part of the PDU Body"},
	0xC1:  {"ESME_RTLVNOTALLWD", "TLV not allowed"},
	0xC2:  {"ESME_RINVTLVLEN", "Invalid Parameter Length"},
	0xC3:  {"ESME_RMISSINGTLV", "Expected TLV missing"},
	0xC4:  {"ESME_RINVTLVVAL", "Invalid TLV value"},
	0xFE:  {"ESME_RDELIVERYFAILURE", "Transaction Delivery Failure"},
	0xFF:  {"ESME_RUNKNOWNERR", "Unknown Error"},
	0x100: {"ESME_RSERTYPUNAUTH", "ESME Not authorized to use specified service_type"},
	0x101: {"ESME_RPROHIBITED", "ESME Prohibited from using specified operation"},
	0x102: {"ESME_RSERTYPUNAVAIL", "Specified service_type is unavailable"},
	0x103: {"ESME_RSERTYPDENIED", "Specified service_type is denied"},
	0x104: {"ESME_RINVDCS", "Invalid Data Coding Scheme"},
	0x105: {"ESME_RINVSRCADDRSUBUNIT", "Source Address Sub unit is invalid"},
	0x106: {"ESME_RINVDSTADDRSUBUNIT", "Destination Address Sub unit is invalid"},
}

// smppStatusText is smpp_error_to_string: the description, the vendor
// range's notice, or "Unknown/Reserved".
func smppStatusText(code uint32) string {
	if s, ok := smppStatuses[code]; ok && s.text != "" {
		return s.text
	}
	if code >= 0x400 && code <= 0x4FF {
		return "Vendor-specific error, please refer to your SMPP provider"
	}
	return "Unknown/Reserved"
}

// smppStatusOf finds the command_status a failure's text starts with: the
// SMPP name ("ESME_RINVDSTADR (permanent): ...") or the hex code smsgw
// uses for a status SMPP 3.4 does not name ("0x00000401 (permanent): ...").
func smppStatusOf(detail string) (uint32, bool) {
	word, _, _ := strings.Cut(detail, " ")
	if strings.HasPrefix(word, "0x") && len(word) == 10 {
		n, err := strconv.ParseUint(word[2:], 16, 32)
		return uint32(n), err == nil
	}
	if !strings.HasPrefix(word, "ESME_") {
		return 0, false
	}
	for code, s := range smppStatuses {
		if s.name == word {
			return code, true
		}
	}
	return 0, false
}

// nackReply is the text of a type-16 report (%A): Kannel's
// "NACK/0x%08lx/<description>" when a carrier refused the submit_sm
// (gw/smsc/smsc_smpp.c, submit_sm_resp with an error, and
// gw/bb_smscconn.c bb_smscconn_send_failed, which puts "NACK/" first);
// "NACK/" and smsgw's reason otherwise (no route, expired before any
// carrier took it, canceled, opted out), as Kannel puts its own reason
// ("Retries Exceeded") after "NACK/".
func nackReply(detail string) string {
	if code, ok := smppStatusOf(detail); ok {
		return fmt.Sprintf("NACK/0x%08x/%s", code, smppStatusText(code))
	}
	return "NACK/" + detail
}
