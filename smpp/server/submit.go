package server

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/mask"
	"github.com/openmf/smsgw/smpp/internal/wire"
	"github.com/openmf/smsgw/smstext"
)

// Meta keys a message accepted over SMPP carries, so the receipt
// follower knows whose it is, whether a receipt was asked for and which
// ids the ESME was given.
const (
	metaAccount   = "smpp.account"
	metaRD        = "smpp.registered_delivery"
	metaParts     = "smpp.parts"     // "n" when the ESME sent n concatenated parts
	metaSubmitted = "smpp.submitted" // YYMMDDhhmm, the receipt's submit date
	metaPreview   = "smpp.preview"   // the text's first 20 characters, the receipt's text:
	// metaESMEID is the id a submit_multi was answered with, shared by the
	// messages of its destinations and named by their receipts.
	metaESMEID = "smpp.esme_id"
)

// receiptDateLayout is SMPP 3.4 Appendix B's YYMMDDhhmm.
const receiptDateLayout = "0601021504"

// job is what one PDU (or the parts of one message) asks to accept, and
// the PDUs that wait for the answer: one message answered once, or once
// per part of a reassembled message; or, for a submit_multi, one message
// per destination answered together (multi set).
type job struct {
	reqs    []gateway.SendRequest
	answers []answer
	multi   *multi
}

// multi is what a submit_multi's answer needs besides the outcomes: the
// destinations of reqs in order, those refused before the accept, and
// the id answered.
type multi struct {
	dests   []dest
	refused []unsuccess
	id      string
}

// answer is a submit_sm waiting for its submit_sm_resp; part is its
// 1-based place in a reassembled message (0: the message was one PDU).
type answer struct {
	c        *session
	cmd, seq uint32
	part     int
}

// respond answers a submit and counts it answered.
func (c *session) respond(cmd, status, seq uint32, id string) {
	c.send(wire.MessageResp(cmd, status, seq, id))
	c.answered()
}

// partID is the id the ESME was given for part k of n: smsgw's message id,
// with ".k" when the message came in parts (each part got its own answer
// and gets its own receipt).
func partID(id string, k, n int) string {
	if n <= 1 || k == 0 {
		return id
	}
	return id + "." + strconv.Itoa(k)
}

func (c *session) handleSubmit(h wire.Header, body []byte) {
	a := c.account()
	c.mu.Lock()
	bindCmd := c.bindCmd
	c.mu.Unlock()
	if a == nil || bindCmd == wire.CmdBindReceiver || c.draining.Load() {
		c.send(wire.MessageResp(h.Cmd, statusInvBndSts, h.Seq, ""))
		return
	}
	m := c.srv.metrics
	var (
		sub   submit
		dests []dest
		err   error
	)
	switch h.Cmd {
	case wire.CmdDataSM:
		sub, err = parseDataSM(body)
	case wire.CmdSubmitMulti:
		sub, dests, err = parseSubmitMulti(body)
		if err == nil {
			sub.dstTON, sub.dstNPI, sub.dst = dests[0].ton, dests[0].npi, dests[0].addr
		}
	default:
		sub, err = parseSubmit(body)
	}
	if err != nil {
		m.submits.WithLabelValues(a.cfg.SystemID, "malformed").Inc()
		c.nack(h.Seq, statusInvCmdLen)
		return
	}
	if c.inFlight.Load() >= int64(a.cfg.Window) {
		m.throttled.WithLabelValues(a.cfg.SystemID, "window").Inc()
		c.send(wire.MessageResp(h.Cmd, statusThrottled, h.Seq, ""))
		return
	}
	if a.limiter != nil && !a.limiter.AllowN(c.srv.now(), 1) {
		m.throttled.WithLabelValues(a.cfg.SystemID, "rate").Inc()
		c.send(wire.MessageResp(h.Cmd, statusThrottled, h.Seq, ""))
		return
	}
	c.inFlight.Add(1)
	p, status, why := c.srv.decode(a, sub)
	if status != statusOK {
		m.submits.WithLabelValues(a.cfg.SystemID, "refused").Inc()
		c.srv.log.Info("smpp submit refused", "system_id", a.cfg.SystemID, "status", fmt.Sprintf("0x%08X", status), "reason", why)
		c.respond(h.Cmd, status, h.Seq, "")
		return
	}
	ans := answer{c: c, cmd: h.Cmd, seq: h.Seq}
	if p.concat != nil && h.Cmd == wire.CmdSubmitMulti {
		// A part to many destinations goes as it came, UDH kept.
		p.concat, p.req.Binary = nil, &gateway.Binary{UDH: p.udh, Data: p.body, DataCoding: p.dc}
	}
	if p.concat != nil {
		c.srv.reasm.add(a, ans, p)
		return
	}
	if h.Cmd == wire.CmdSubmitMulti {
		c.queue(multiJob(p.req, dests, ans))
		return
	}
	c.queue(&job{reqs: []gateway.SendRequest{p.req}, answers: []answer{ans}})
}

// multiJob makes a submit_multi's job: the message once per SME
// destination, each with the id the ESME is answered with; distribution
// lists, which smsgw does not keep, are refused.
func multiJob(req gateway.SendRequest, dests []dest, ans answer) *job {
	m := &multi{id: uuid.NewString()}
	j := &job{answers: []answer{ans}, multi: m}
	for _, d := range dests {
		if d.list {
			m.refused = append(m.refused, unsuccess{d: d, status: statusInvDestFlag})
			continue
		}
		r := req
		r.To = address(d.ton, d.addr)
		r.Meta = maps.Clone(req.Meta)
		r.Meta[metaESMEID] = m.id
		j.reqs = append(j.reqs, r)
		m.dests = append(m.dests, d)
	}
	return j
}

// queue hands a job to the session's accepter; false when the session is
// gone (the job's submits are then never answered: the ESME resends).
func (c *session) queue(j *job) bool {
	select {
	case c.jobs <- j:
		return true
	case <-c.done:
		return false
	}
}

// acceptLoop stores the queued submits in batches (one Engine.Accept per
// batch, so a busy bind costs one durable write per batch) and answers
// each once its batch is durable.
func (c *session) acceptLoop() {
	defer c.srv.wg.Done()
	for {
		var batch []*job
		select {
		case j := <-c.jobs:
			batch = append(batch, j)
		case <-c.done:
			return
		}
	more:
		for len(batch) < 256 {
			select {
			case j := <-c.jobs:
				batch = append(batch, j)
			default:
				break more
			}
		}
		c.srv.acceptJobs(c.account(), batch)
	}
}

func (s *Server) acceptJobs(a *account, batch []*job) {
	var reqs []gateway.SendRequest
	for _, j := range batch {
		reqs = append(reqs, j.reqs...)
	}
	var (
		outs []gateway.AcceptOutcome
		err  error
	)
	if len(reqs) > 0 {
		outs, err = s.eng.Accept(s.ctx, a.cfg.Tenant, reqs)
	}
	id := a.cfg.SystemID
	if err != nil {
		status := statusSysErr
		var qe *gateway.QuotaError
		if errors.As(err, &qe) {
			status = statusThrottled
			s.metrics.throttled.WithLabelValues(id, "tenant").Add(float64(len(batch)))
		} else {
			s.metrics.submits.WithLabelValues(id, "error").Add(float64(len(batch)))
			s.log.Error("smpp submit: accept failed", "system_id", id, "err", err)
		}
		for _, j := range batch {
			for _, an := range j.answers {
				an.c.respond(an.cmd, status, an.seq, "")
			}
		}
		return
	}
	for _, j := range batch {
		mine := outs[:len(j.reqs)]
		outs = outs[len(j.reqs):]
		statuses := make([]uint32, len(mine))
		for i, o := range mine {
			if o.Err != nil {
				statuses[i] = refusal(o.Err)
				s.metrics.submits.WithLabelValues(id, "refused").Inc()
				// The reason may quote the number: info names the field only.
				s.log.Info("smpp submit refused", "system_id", id, "status", fmt.Sprintf("0x%08X", statuses[i]), "field", refusedField(o.Err))
				s.log.Debug("smpp submit refused", "system_id", id, "reason", o.Err.Error())
				continue
			}
			s.metrics.submits.WithLabelValues(id, "accepted").Inc()
			s.log.Debug("smpp submit accepted", "system_id", id, "msg_id", o.ID, "to", mask.Number(j.reqs[i].To), "parts", len(j.answers))
		}
		if m := j.multi; m != nil {
			s.answerMulti(j.answers[0], m, statuses)
			continue
		}
		for _, an := range j.answers {
			an.c.respond(an.cmd, statuses[0], an.seq, partID(mine[0].ID, an.part, len(j.answers)))
		}
	}
}

// answerMulti answers a submit_multi: ESME_ROK with its id and the
// destinations refused when any was accepted, else the first refusal.
func (s *Server) answerMulti(an answer, m *multi, statuses []uint32) {
	refused := m.refused
	ok := false
	for i, st := range statuses {
		if st == statusOK {
			ok = true
			continue
		}
		refused = append(refused, unsuccess{d: m.dests[i], status: st})
	}
	status := statusOK
	if !ok {
		status = statusInvNumDests
		if len(statuses) > 0 {
			status = statuses[0]
		}
	}
	an.c.send(multiResp(status, an.seq, m.id, refused))
	an.c.answered()
}

// refusedField names the field a refusal is about ("" when it names none).
func refusedField(err error) string {
	var fe *gateway.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// refusal is the command_status of a message the gateway refused.
func refusal(err error) uint32 {
	var fe *gateway.FieldError
	if errors.As(err, &fe) {
		switch fe.Field {
		case "to":
			return statusInvDstAdr
		case "from":
			return statusInvSrcAdr
		case "text", "binary", "binary.udh":
			return statusInvMsgLen
		case "expires_at":
			return statusInvExpiry
		case "not_before":
			return statusInvSchedule
		}
	}
	return statusSubmitFail
}

// piece is a decoded submit: a whole message (req), or one part of a
// concatenated one (concat set, body its undecoded octets).
type piece struct {
	req    gateway.SendRequest
	concat *smstext.Concat
	udh    []byte
	body   []byte
	dc     byte
	src    string
	dst    string
}

// decode turns a submit into a send request of the account's tenant, or
// says with which status and why it is refused.
func (s *Server) decode(a *account, sub submit) (piece, uint32, string) {
	now := s.now()
	p := piece{dc: sub.dataCoding, src: sub.src, dst: sub.dst}
	p.req.To = address(sub.dstTON, sub.dst)
	p.req.From = address(sub.srcTON, sub.src)
	if p.req.To == "" {
		return p, statusInvDstAdr, "destination_addr is empty"
	}
	var err error
	if p.req.NotBefore, err = parseTime(sub.schedule, now); err != nil {
		return p, statusInvSchedule, "schedule_delivery_time: " + err.Error()
	}
	if p.req.ExpiresAt, err = parseTime(sub.validity, now); err != nil {
		return p, statusInvExpiry, "validity_period: " + err.Error()
	}
	p.req.Meta = map[string]string{
		metaAccount:   a.cfg.SystemID,
		metaRD:        strconv.Itoa(int(sub.registeredDelivery)),
		metaSubmitted: now.UTC().Format(receiptDateLayout),
	}
	payload := sub.shortMessage
	if mp, ok := sub.tlvs[tagMessagePayload]; ok {
		if len(payload) > 0 {
			return p, statusInvOptParam, "both short_message and message_payload are set"
		}
		payload = mp
	}
	body := payload
	if sub.esmClass&0x40 != 0 {
		udh, rest, concat, err := smstext.SplitUDH(payload)
		if err != nil {
			return p, statusInvMsgLen, err.Error()
		}
		p.udh, body, p.concat = udh, rest, concat
	}
	if ref, ok := sub.tlvs[tagSarMsgRefNum]; ok && p.concat == nil {
		total, seq := sub.tlvs[tagSarTotalSegments], sub.tlvs[tagSarSegmentSeqnum]
		if len(ref) != 2 || len(total) != 1 || len(seq) != 1 || total[0] == 0 || seq[0] == 0 || seq[0] > total[0] {
			return p, statusInvOptParam, "sar_msg_ref_num, sar_total_segments and sar_segment_seqnum do not make a part"
		}
		p.concat = &smstext.Concat{Ref: uint16(ref[0])<<8 | uint16(ref[1]), Wide: true, Total: int(total[0]), Seq: int(seq[0])}
	}
	if p.concat != nil && p.concat.Total == 1 {
		p.concat = nil
	}
	if _, text := smstext.TextCoding(sub.dataCoding); !text {
		// Binary data (ring tones, WAP push, SIM updates) goes as it
		// came, one SMS per submit, its UDH kept.
		p.concat = nil
		p.req.Binary = &gateway.Binary{UDH: p.udh, Data: body, DataCoding: sub.dataCoding}
		return p, statusOK, ""
	}
	p.body = body
	if p.concat != nil {
		return p, statusOK, ""
	}
	if len(p.udh) > 0 && !onlyConcat(p.udh) {
		p.req.Binary = &gateway.Binary{UDH: p.udh, Data: body, DataCoding: sub.dataCoding}
		return p, statusOK, ""
	}
	if status, why := p.setText(body); status != statusOK {
		return p, status, why
	}
	return p, statusOK, ""
}

// onlyConcat says whether a UDH holds nothing but concatenation IEs, so
// its text may be read and sent as text.
func onlyConcat(udh []byte) bool {
	ies := udh[1:]
	for len(ies) >= 2 {
		if ies[0] != 0x00 && ies[0] != 0x08 {
			return false
		}
		ies = ies[min(len(ies), 2+int(ies[1])):]
	}
	return true
}

// setText decodes the message's octets in its data_coding; UCS-2 asked
// for is kept (a text in UCS-2 is sent in UCS-2 even when GSM 03.38 could
// carry it).
func (p *piece) setText(body []byte) (uint32, string) {
	text, err := smstext.DecodeText(p.dc, body, smstext.TextOptions{})
	if err != nil {
		return statusInvMsgLen, err.Error()
	}
	if text == "" {
		return statusInvMsgLen, "the message is empty"
	}
	p.req.Text = text
	if c, _ := smstext.TextCoding(p.dc); c == smstext.DataCodingUCS2 {
		p.req.Submit.UCS2 = true
	}
	p.req.Meta[metaPreview] = preview(text)
	return statusOK, ""
}

// preview is the first 20 characters of a text, for the receipt's text:
// field (Appendix B).
func preview(text string) string {
	r := []rune(text)
	if len(r) > 20 {
		r = r[:20]
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 {
			return ' '
		}
		return c
	}, string(r))
}

// address reads an SMPP address as the gateway takes numbers: an
// international number (TON 1) gets its '+'; anything else (national
// numbers, shortcodes, alphanumeric senders) is left as it came, for the
// tenant's region and senders to decide.
func address(ton byte, addr string) string {
	addr = strings.TrimSpace(addr)
	if ton == 1 && addr != "" && addr[0] != '+' {
		return "+" + addr
	}
	return addr
}

// parseTime reads an SMPP 3.4 §7.1.1 time: "YYMMDDhhmmsstnnp", absolute
// with a UTC offset in quarter hours (p '+' or '-') or relative to now
// (p 'R'); "" is no time.
func parseTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if len(v) != 16 {
		return time.Time{}, fmt.Errorf("%q is not YYMMDDhhmmsstnnp (16 characters)", v)
	}
	var n [7]int
	for i, w := range []int{2, 2, 2, 2, 2, 2, 1} {
		off := 2 * i
		x, err := strconv.Atoi(v[off : off+w])
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: not digits at %d", v, off)
		}
		n[i] = x
	}
	nn, err := strconv.Atoi(v[13:15])
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: the offset is not digits", v)
	}
	switch v[15] {
	case 'R':
		return now.AddDate(n[0], n[1], n[2]).Add(time.Duration(n[3])*time.Hour + time.Duration(n[4])*time.Minute + time.Duration(n[5])*time.Second), nil
	case '+', '-':
		off := nn * 15 * 60
		if v[15] == '-' {
			off = -off
		}
		if n[1] < 1 || n[1] > 12 || n[2] < 1 || n[2] > 31 || n[3] > 23 || n[4] > 59 || n[5] > 59 {
			return time.Time{}, fmt.Errorf("%q is not a date", v)
		}
		return time.Date(2000+n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], n[6]*int(100*time.Millisecond), time.FixedZone("", off)), nil
	}
	return time.Time{}, fmt.Errorf("%q: the last character must be +, - or R", v)
}
