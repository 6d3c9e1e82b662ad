package kannel

import "net/http"

// The texts Kannel answers sendsms with, byte for byte. Each comes from
// Kannel 1.4.5 (SVN trunk the same): gw/smsbox.c delayed_http_reply for the
// 202/403/503 answers of the bearerbox acknowledgement, smsbox_req_sendsms,
// smsbox_sendsms_post and smsbox_req_handle for the request errors,
// sendsms_thread for unknown paths. Apps parse them ("0:" is success), so
// they are never reworded.
const (
	answerAccepted    = "0: Accepted for delivery"           // 202, ack_success
	answerQueued      = "3: Queued for later delivery"       // 202, ack_buffered: no SMSC up
	answerNotRoutable = "Not routable. Do not try again."    // 403, ack_failed
	answerTemporal    = "Temporal failure, try again later." // 503, ack_failed_tmp

	answerAuthFailed    = "Authorization failed for sendsms"                             // 403
	answerMissingTo     = "Missing receiver number, rejected"                            // 400, GET
	answerMissingToPOST = "Missing receiver(s) number(s), rejected"                      // 400, POST
	answerEmptyTo       = "Empty receiver number not allowed, rejected"                  // 400
	answerDenied        = "Number(s) has/have been denied by white- and/or black-lists." // 400
	answerNoSender      = "Sender missing and no global set, rejected"                   // 400
	answerUDH           = "UDH field misformed, rejected"                                // 400
	answerDLRURL        = "DLR-URL field misformed, rejected"                            // 400
	answerDLRMask       = "DLR-Mask field misformed, rejected"                           // 400
	answerMClass        = "MClass field misformed, rejected"                             // 400
	answerCoding        = "Coding field misformed, rejected"                             // 400
	answerValidity      = "Validity field misformed, rejected"                           // 400
	answerDeferred      = "Deferred field misformed, rejected"                           // 400
	answerPriority      = "Priority field misformed, rejected"                           // 400
	answerCharset       = "Charset or body misformed, rejected"                          // 400
	answerInvalidType   = "Invalid content-type"                                         // 400, POST
	answerUnsupported   = "Unsupported content-type, rejected"                           // 415, POST
	answerUnknown       = "Unknown request."                                             // 404
	answerAccount       = "Account field misformed or too long, rejected"                // 400
	answerPID           = "PID field misformed, rejected"                                // 400
	answerRPI           = "RPI field misformed, rejected"                                // 400
	answerAltDCS        = "Alt-DCS field misformed, rejected"                            // 400
	answerMWI           = "MWI field misformed, rejected"                                // 400
	answerCompress      = "Compress field misformed, rejected"                           // 400

	// Bounds smsgw adds (Kannel cut bodies short silently); the %d are
	// the size or count sent and the limit.
	answerTooLarge         = "Request body larger than %d bytes, rejected"
	answerTooManyReceivers = "Too many receivers (%d; at most %d per request), rejected"
	answerMethod           = "Only GET and POST may send, rejected"

	// replyEmpty is smsbox's reply-emptymessage default (gw/smsbox.c
	// init_smsbox), sent when a service answers nothing and omit-empty is
	// off; replyCouldNotFetch is reply-couldnotfetch, sent when the
	// service's URL could not be fetched for good.
	replyEmpty         = "<Empty reply from service provider>"
	replyCouldNotFetch = "Could not fetch content, sorry."
	// replyCouldNotRepresent is smsbox's answer to a content type it
	// cannot turn into SMS text.
	replyCouldNotRepresent = "Result could not be represented as an SMS message."
)

// writeAnswer sends a sendsms answer with the headers smsbox sets on every
// one (gw/smsbox.c main: sendsms_reply_hdrs).
func writeAnswer(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Pragma", "no-cache")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
