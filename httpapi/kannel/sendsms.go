package kannel

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/smstext"
)

// Meta keys stored with every message sendsms accepts: what the dlr-url
// escapes need when the message's status changes.
const (
	metaUser     = "kannel.user"     // %n
	metaTo       = "kannel.to"       // %p as the caller wrote it
	metaDLRURL   = "kannel.dlr_url"  // the pattern
	metaDLRMask  = "kannel.dlr_mask" // decimal
	metaMetaData = "kannel.meta_data"
	metaMClass   = "kannel.mclass"
	metaSMSC     = "kannel.smsc"
	metaAccount  = "kannel.account"
	metaBInfo    = "kannel.binfo"
	metaCharset  = "kannel.charset"
)

// undefined is Kannel's SMS_PARAM_UNDEFINED: a parameter not given.
const undefined = -1

// sendRequest is one sendsms call's parameters after parsing, before the
// checks of gw/smsbox.c smsbox_req_handle.
type sendRequest struct {
	user, pass         string
	from, to           *string // nil: not given
	text               string
	charset            string
	udh                string
	smsc               string
	dlrURL             string
	account, binfo     string
	metaData           string
	dlrMask, mclass    int
	mwi, coding        int
	compress, validity int
	deferred, pid      int
	altDCS, rpi        int
	priority           int
}

func newSendRequest() sendRequest {
	return sendRequest{dlrMask: undefined, mclass: undefined, mwi: undefined, coding: undefined,
		compress: undefined, validity: undefined, deferred: undefined, pid: undefined,
		altDCS: undefined, rpi: undefined, priority: undefined}
}

// scanInt is sscanf("%d"): leading blanks, a sign and digits; anything
// else leaves the value undefined, as Kannel does.
func scanInt(s string, into *int) {
	s = strings.TrimLeft(s, " \t\n\r")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	digits := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == digits {
		return
	}
	if n, err := strconv.Atoi(s[:end]); err == nil {
		*into = n
	}
}

// sendsms serves /cgi-bin/sendsms the way gw/smsbox.c sendsms_thread does:
// a request without a body (GET, or a url-encoded form) carries CGI
// variables; a POST with a body carries the text and X-Kannel-* headers.
//
// Only GET and POST act: any other method (a HEAD, a CORS preflight's
// OPTIONS carrying sendsms parameters) is answered 405 and sends nothing.
func (s *Server) sendsms(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeAnswer(w, http.StatusMethodNotAllowed, answerMethod)
		return
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := s.readBody(w, r)
	if err != nil {
		status, answer := bodyAnswer(err)
		writeAnswer(w, status, answer)
		return
	}
	if r.Method != http.MethodPost || len(body) == 0 || ct == "application/x-www-form-urlencoded" {
		args := r.URL.Query()
		if ct == "application/x-www-form-urlencoded" {
			form, _ := url.ParseQuery(string(body))
			for k, v := range form {
				args[k] = append(args[k], v...)
			}
		}
		status, answer := s.sendGET(r, args)
		writeAnswer(w, status, answer)
		return
	}
	status, answer := s.sendPOST(r, ct, params["charset"], body)
	writeAnswer(w, status, answer)
}

// first is http_cgi_variable: the first value of the first name given.
func first(args url.Values, names ...string) *string {
	for _, n := range names {
		if v, ok := args[n]; ok && len(v) > 0 {
			return &v[0]
		}
	}
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// sendGET is smsbox_req_sendsms: authorise, read the CGI variables, check
// the receiver, then handle.
func (s *Server) sendGET(r *http.Request, args url.Values) (int, string) {
	req := newSendRequest()
	req.user = str(first(args, "username", "user"))
	req.pass = str(first(args, "password", "pass"))
	u, err := s.authorise(req.user, req.pass, r.RemoteAddr)
	if err != nil {
		return authAnswer(err)
	}
	req.udh = str(first(args, "udh"))
	req.text = str(first(args, "text"))
	req.charset = str(first(args, "charset"))
	req.smsc = str(first(args, "smsc"))
	req.from = first(args, "from")
	req.to = first(args, "to")
	req.account = str(first(args, "account"))
	req.binfo = str(first(args, "binfo"))
	req.dlrURL = str(first(args, "dlr-url", "dlrurl"))
	req.metaData = str(first(args, "meta-data"))
	for _, f := range [...]struct {
		name string
		into *int
	}{
		{"mclass", &req.mclass}, {"pid", &req.pid}, {"rpi", &req.rpi}, {"alt-dcs", &req.altDCS},
		{"mwi", &req.mwi}, {"coding", &req.coding}, {"compress", &req.compress},
		{"validity", &req.validity}, {"deferred", &req.deferred}, {"priority", &req.priority},
	} {
		if v := first(args, f.name); v != nil {
			scanInt(*v, f.into)
		}
	}
	if v := first(args, "dlr-mask", "dlrmask"); v != nil {
		scanInt(*v, &req.dlrMask)
	}
	switch {
	case req.to == nil:
		return http.StatusBadRequest, answerMissingTo
	case *req.to == "":
		return http.StatusBadRequest, answerEmptyTo
	}
	return s.handle(r, u, req)
}

// sendPOST is smsbox_sendsms_post: the content type first, then the
// X-Kannel-* headers, the credentials among them.
func (s *Server) sendPOST(r *http.Request, ct, charset string, body []byte) (int, string) {
	req := newSendRequest()
	switch ct {
	case "text/html", "text/vnd.wap.wml":
		body = []byte(htmlToSMS(string(body)))
	case "text/plain", "application/octet-stream":
	default:
		// text/xml (Kannel's XML POST) is not implemented; see docs/kannel.md.
		return http.StatusBadRequest, answerInvalidType
	}
	h := r.Header
	get := func(name string) *string {
		if v, ok := h[http.CanonicalHeaderKey(name)]; ok && len(v) > 0 {
			t := strings.TrimSpace(v[0])
			return &t
		}
		return nil
	}
	req.user, req.pass = str(get("X-Kannel-Username")), str(get("X-Kannel-Password"))
	req.from, req.to = get("X-Kannel-From"), get("X-Kannel-To")
	req.udh, req.smsc = str(get("X-Kannel-UDH")), str(get("X-Kannel-SMSC"))
	req.dlrURL, req.account = str(get("X-Kannel-DLR-URL")), str(get("X-Kannel-Account"))
	req.binfo, req.metaData = str(get("X-Kannel-BInfo")), str(get("X-Kannel-Meta-Data"))
	for _, f := range [...]struct {
		name string
		into *int
	}{
		{"X-Kannel-Coding", &req.coding}, {"X-Kannel-PID", &req.pid}, {"X-Kannel-MWI", &req.mwi},
		{"X-Kannel-MClass", &req.mclass}, {"X-Kannel-Alt-DCS", &req.altDCS}, {"X-Kannel-Compress", &req.compress},
		{"X-Kannel-Validity", &req.validity}, {"X-Kannel-Deferred", &req.deferred}, {"X-Kannel-DLR-Mask", &req.dlrMask},
		{"X-Kannel-RPI", &req.rpi}, {"X-Kannel-Priority", &req.priority},
	} {
		if v := get(f.name); v != nil {
			scanInt(*v, f.into)
		}
	}
	if req.udh != "" {
		// Hex, else URL-encoded (get_x_kannel_from_headers).
		if b, ok := unhex(req.udh); ok {
			req.udh = string(b)
		} else if d, err := url.QueryUnescape(req.udh); err == nil {
			req.udh = d
		}
	}
	u, err := s.authorise(req.user, req.pass, r.RemoteAddr)
	switch {
	case err != nil:
		return authAnswer(err)
	case req.to == nil:
		return http.StatusBadRequest, answerMissingToPOST
	case *req.to == "":
		return http.StatusBadRequest, answerEmptyTo
	}
	switch ct {
	case "application/octet-stream":
		if req.coding == undefined {
			req.coding = codingBinary
		}
	case "text/plain":
		if req.coding == undefined {
			req.coding = coding7Bit
		}
	default:
		return http.StatusUnsupportedMediaType, answerUnsupported
	}
	req.text, req.charset = string(body), charset
	return s.handle(r, u, req)
}

// unhex decodes an even-length hex string.
func unhex(s string) ([]byte, bool) {
	if len(s)%2 != 0 {
		return nil, false
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		n, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, false
		}
		out[i] = byte(n)
	}
	return out, true
}

// numberChars are smsbox's default sendsms-chars: a receiver with any
// other character is denied.
const numberChars = "0123456789 +-"

// handle is smsbox_req_handle: the same checks in the same order, so a
// request with several faults gets the answer Kannel gives; then the
// messages are stored and the answer is the bearerbox acknowledgement's.
func (s *Server) handle(r *http.Request, u *user, req sendRequest) (int, string) {
	bad := func(answer string) (int, string) { return http.StatusBadRequest, answer }
	if req.udh != "" && len(req.udh) != int(req.udh[0])+1 {
		return bad(answerUDH)
	}
	var allowed []string
	denied := false
	rcvs := words(*req.to)
	if len(rcvs) > s.opts.MaxReceivers {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf(answerTooManyReceivers, len(rcvs), s.opts.MaxReceivers)
	}
	for _, rcv := range rcvs {
		if strings.Trim(rcv, numberChars) != "" {
			denied = true
			continue
		}
		if !slices.Contains(allowed, rcv) {
			allowed = append(allowed, rcv)
		}
	}
	if len(allowed) == 0 {
		return bad(answerDenied)
	}
	from := ""
	switch {
	case u.ForcedSender != "":
		from = u.ForcedSender
	case str(req.from) != "":
		from = *req.from
	default:
		from = u.DefaultSender // "" lets the tenant's sender apply
	}
	if len(req.account) > 64 || strings.ContainsAny(req.account, "[]\n\r") {
		return bad(answerAccount)
	}
	if req.dlrURL != "" {
		l := strings.ToLower(req.dlrURL)
		if len(l) < 8 || !(strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")) {
			return bad(answerDLRURL)
		}
	}
	switch {
	case req.dlrMask < -1 || req.dlrMask > 63:
		return bad(answerDLRMask)
	case req.mclass < -1 || req.mclass > 3:
		return bad(answerMClass)
	case req.pid < -1 || req.pid > 255:
		return bad(answerPID)
	case req.rpi < -1 || req.rpi > 2:
		return bad(answerRPI)
	case req.altDCS < -1 || req.altDCS > 1:
		return bad(answerAltDCS)
	case req.mwi < -1 || req.mwi > 7:
		return bad(answerMWI)
	case req.coding < -1 || req.coding > 2:
		return bad(answerCoding)
	case req.compress < -1 || req.compress > 1:
		return bad(answerCompress)
	}
	if req.coding == undefined {
		req.coding = coding7Bit
		if req.udh != "" {
			req.coding = codingBinary
		}
	}
	switch {
	case req.validity < -1:
		return bad(answerValidity)
	case req.deferred < -1:
		return bad(answerDeferred)
	case req.priority != undefined && (req.priority < 0 || req.priority > 3):
		return bad(answerPriority)
	}
	text := req.text // 8-bit data is taken as it came (charset_processing leaves it)
	if req.coding != codingBinary {
		var err error
		if text, err = decodeText(req.text, req.charset, req.coding); err != nil {
			return bad(answerCharset)
		}
	}
	var bin *gateway.Binary
	if req.coding == codingBinary || req.udh != "" {
		var ok bool
		if bin, ok = binaryOf(req, text); !ok {
			return bad(answerCharset)
		}
	}
	smsc := u.smscFor(req.smsc)
	if smsc != "" && len(u.AllowedSMSC) > 0 && !slices.Contains(u.AllowedSMSC, smsc) {
		return http.StatusForbidden, answerNotRoutable
	}
	pin := ""
	if smsc != "" && s.carrierRuns(smsc) {
		pin = smsc
	}

	now := s.opts.Now()
	meta := map[string]string{metaUser: u.Username}
	if req.dlrURL != "" && req.dlrMask > 0 && req.dlrMask&(dlrAll) != 0 {
		meta[metaDLRURL] = req.dlrURL
		meta[metaDLRMask] = strconv.Itoa(req.dlrMask)
	}
	for _, kv := range [...][2]string{{metaMetaData, req.metaData}, {metaSMSC, smsc},
		{metaAccount, req.account}, {metaBInfo, req.binfo}, {metaCharset, req.charset}} {
		if kv[1] != "" {
			meta[kv[0]] = kv[1]
		}
	}
	if req.mclass != undefined {
		meta[metaMClass] = strconv.Itoa(req.mclass)
	}
	submit := submitOptions(req)
	texts, bins := []string{text}, []*gateway.Binary{bin}
	if bin == nil {
		texts = u.split(text, req.coding == codingUCS2)
	} else {
		bins = u.splitBinary(bin)
		texts = make([]string, len(bins))
	}
	reqs := make([]gateway.SendRequest, 0, len(allowed)*len(texts))
	for _, rcv := range allowed {
		for j, part := range texts {
			m := meta // one message: no copy
			if len(allowed)*len(texts) > 1 {
				m = maps.Clone(meta)
			}
			m[metaTo] = rcv
			sr := gateway.SendRequest{To: rcv, Text: part, From: from, Meta: m, Carrier: pin, Submit: submit}
			if bin != nil {
				sr.Binary = bins[j]
			}
			if req.priority != undefined {
				sr.Priority = int32(req.priority)
			}
			if req.validity != undefined {
				sr.ExpiresAt = minutesFrom(now, req.validity)
			}
			if req.deferred != undefined {
				sr.NotBefore = minutesFrom(now, req.deferred)
			}
			reqs = append(reqs, sr)
		}
	}
	out, err := s.eng.Accept(r.Context(), u.Tenant, reqs)
	if err != nil {
		var q *gateway.QuotaError
		if errors.As(err, &q) {
			s.log.Warn("sendsms refused: tenant over its rate", "user", u.Username, "tenant", u.Tenant)
		} else {
			s.log.Error("sendsms: accept", "user", u.Username, "err", err)
		}
		return http.StatusServiceUnavailable, answerTemporal
	}
	var firstErr *gateway.FieldError
	stored, refusedTo, rejected := 0, 0, 0
	for _, o := range out {
		if o.Err == nil {
			stored++
			if o.Status == gateway.StatusRejected {
				rejected++ // stored, final: the tenant's fraud controls refused it
			}
			continue
		}
		var fe *gateway.FieldError
		if errors.As(o.Err, &fe) {
			if fe.Field == "to" {
				refusedTo++
			}
			if firstErr == nil {
				firstErr = fe
			}
		}
	}
	if stored == 0 {
		switch {
		case refusedTo == len(out) || firstErr == nil:
			return bad(answerDenied)
		case firstErr.Field == "text" || strings.HasPrefix(firstErr.Field, "binary"):
			return bad(answerCharset)
		case firstErr.Field == "from" && from == "":
			return bad(answerNoSender)
		case firstErr.Field == "expires_at":
			return bad(answerValidity)
		case firstErr.Field == "not_before":
			return bad(answerDeferred)
		}
		return http.StatusForbidden, answerNotRoutable
	}
	if rejected == stored {
		// Every message was refused by the tenant's fraud or spend
		// controls (stored REJECTED with the reason): not routable.
		s.log.Info("sendsms refused by the tenant's fraud controls", "user", u.Username, "tenant", u.Tenant, "messages", rejected)
		return http.StatusForbidden, answerNotRoutable
	}
	s.log.Debug("sendsms accepted", "user", u.Username, "tenant", u.Tenant, "messages", stored,
		"denied", denied || stored < len(out))
	if !s.eng.Ready() {
		return http.StatusAccepted, answerQueued
	}
	return http.StatusAccepted, answerAccepted
}

// minutesFrom is now plus n minutes (validity, deferred). A count too large
// for a time.Duration (which would wrap to the past) becomes a century: the
// engine refuses it as beyond its schedule horizon, as it does any far date.
func minutesFrom(now time.Time, n int) time.Time {
	const century = 100 * 366 * 24 * 60
	return now.Add(time.Duration(min(n, century)) * time.Minute)
}

// smscFor is the smsc-id a user's message carries (gw/smsbox.c
// smsbox_req_handle): the user's forced_smsc, else the request's smsc,
// else the user's default_smsc.
func (u *user) smscFor(asked string) string {
	switch {
	case u.ForcedSMSC != "":
		return u.ForcedSMSC
	case asked != "":
		return asked
	}
	return u.DefaultSMSC
}

// carrierRuns says whether a carrier of that name runs here. A message's
// smsc-id pins it to that carrier, as an SMSC whose allowed-smsc-id lists
// it takes it alone in Kannel; an smsc-id no carrier has is routed as if
// none were given, as bearerbox does (gw/smscconn.c smscconn_usable: an
// SMSC without allowed-smsc-id takes any message).
func (s *Server) carrierRuns(smsc string) bool {
	if s.opts.Carriers == nil {
		return false
	}
	return slices.ContainsFunc(s.opts.Carriers(), func(c Carrier) bool { return c.ID == smsc })
}

// readBody reads a request body up to the listener's cap; a larger body is
// an *http.MaxBytesError, never a silently shortened body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil // a GET: io.ReadAll would allocate its buffer for nothing
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
}

// bodyAnswer answers a body that could not be read: 413 with the limit
// when it is too large, else Kannel's answer to a misformed body.
func bodyAnswer(err error) (int, string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf(answerTooLarge, tooBig.Limit)
	}
	return http.StatusBadRequest, answerCharset
}

// submitOptions maps a request onto the submit_sm fields Kannel sets from
// it (gw/smsc/smsc_smpp.c msg_to_pdu): registered_delivery from the
// dlr-mask — 2 (failures only) for a mask with 2 and not 1, 1 for a mask
// with 1 or 2, else 0, plus 0x10 (intermediate notification) for a mask
// with 32 (DLR_INTERMEDIATE, gw/dlr.h); the message class (mclass, carried
// in the data coding), the protocol id (pid), and UCS-2 for coding=2
// whatever the characters. A request without
// dlr-mask asks for no receipt, as in Kannel.
func submitOptions(req sendRequest) gateway.SubmitOptions {
	var o gateway.SubmitOptions
	rd := 0
	mask := req.dlrMask
	switch {
	case mask == undefined:
	case mask&dlrFail != 0 && mask&dlrSuccess == 0:
		rd = 2
	case mask&(dlrSuccess|dlrFail) != 0:
		rd = 1
	}
	if mask != undefined && mask&dlrIntermediate != 0 {
		rd += 0x10
	}
	o.RegisteredDelivery = &rd
	if req.mclass != undefined {
		c := req.mclass
		o.MessageClass = &c
	}
	if req.pid != undefined {
		p := req.pid
		o.ProtocolID = &p
	}
	o.UCS2 = req.coding == codingUCS2
	return o
}

// split is what smsbox's send_message does with a sendsms text for the
// user (gw/sms.c sms_split with the sendsms-user's concatenation and
// max-messages): with concatenation off, separate SMS of at most one
// part's length each, max_messages of them (Kannel's default 1), the rest
// dropped; with it on, one concatenated message, cut to max_messages parts
// when that is set. smsgw's default, concatenation on and no cap, sends
// the whole text as one concatenated message (docs/kannel.md). ucs2 cuts
// at UCS-2's sizes (coding=2).
func (u *user) split(text string, ucs2 bool) []string {
	maxMsgs := 0
	if u.MaxMessages != nil {
		maxMsgs = *u.MaxMessages
	}
	if u.Concatenation == nil || *u.Concatenation {
		if maxMsgs == 0 {
			return []string{text}
		}
		return []string{strings.Join(smsSplitAs(text, "", "", "", "", true, maxMsgs, ucs2), "")}
	}
	if maxMsgs == 0 {
		maxMsgs = 1
	}
	return smsSplitAs(text, "", "", "", "", false, maxMsgs, ucs2)
}

// binaryOf is the short_message Kannel sends for a request with coding=1
// or a UDH (gw/smsc/smsc_smpp.c msg_to_pdu): the UDH, then the data as
// given for 8-bit, the text in GSM 03.38 (one septet per octet) for 7-bit,
// in UTF-16BE for UCS-2; the data_coding from gw/sms.c fields_to_dcs, in
// the 0xF0 group when a message class is set without MWI, as msg_to_pdu
// forces it. ok is false for a 7-bit text GSM 03.38 cannot write.
func binaryOf(req sendRequest, text string) (*gateway.Binary, bool) {
	b := &gateway.Binary{UDH: []byte(req.udh)}
	switch req.coding {
	case codingBinary:
		b.Data = []byte(text)
	case codingUCS2:
		for _, u := range utf16.Encode([]rune(text)) {
			b.Data = append(b.Data, byte(u>>8), byte(u))
		}
	default:
		septets, ok := smstext.EncodeGSM7(text)
		if !ok {
			return nil, false
		}
		b.Data = septets
	}
	mode := req.altDCS
	if req.mwi == undefined && req.mclass != undefined {
		mode = 1
	}
	b.DataCoding = byte(dcsOf(req.coding, req.mclass, req.mwi, mode, len(b.Data) > 0))
	return b, true
}

// splitBinary is split for a binary message: with concatenation off,
// separate messages of at most one SMS each (the UDH on every one, no
// concatenation element), max_messages of them (1 by default); with it
// on, one message the gateway cuts into concatenated parts, its data cut
// to max_messages parts when that is set.
func (u *user) splitBinary(b *gateway.Binary) []*gateway.Binary {
	maxMsgs := 0
	if u.MaxMessages != nil {
		maxMsgs = *u.MaxMessages
	}
	if u.Concatenation == nil || *u.Concatenation {
		parts := b.Parts()
		if maxMsgs == 0 || len(parts) <= maxMsgs {
			return []*gateway.Binary{b}
		}
		cut := *b
		cut.Data = nil
		for _, p := range parts[:maxMsgs] {
			cut.Data = append(cut.Data, p...)
		}
		return []*gateway.Binary{&cut}
	}
	maxMsgs = max(maxMsgs, 1)
	per := max(gateway.MaxBinaryOctets-len(b.UDH), 1)
	if b.DataCoding&0xC0 == 0 && b.DataCoding&0x0C == 0x08 {
		per = max(per&^1, 2) // whole UCS-2 characters
	}
	var out []*gateway.Binary
	for d := b.Data; len(out) < maxMsgs; {
		n := min(per, len(d))
		out = append(out, &gateway.Binary{UDH: b.UDH, Data: d[:n], DataCoding: b.DataCoding})
		if d = d[n:]; len(d) == 0 {
			break
		}
	}
	return out
}
