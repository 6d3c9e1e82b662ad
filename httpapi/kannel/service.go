package kannel

import (
	"context"
	"errors"
	"fmt"
	"html"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/smstext"
	"github.com/openmf/smsgw/webhook"
)

// runService carries out a Kannel sms-service for an inbound message
// (gw/smsbox.c obey_request, url_result_thread, send_message): expand the
// get-url or post-url, call it, and send the answer back as the reply.
// Replies carry the task's key and the part number as client_ref, so a
// task run again after a crash sends nothing twice.
func (s *Server) runService(ctx context.Context, t gateway.Task) error {
	rule, in, err := gateway.ResolveRuleTask(ctx, t, s.eng.Keywords(), s.eng.GetInbound)
	if err != nil {
		return err
	}
	ruleName := rule.Name
	svc := s.services.Load().SMS[ruleName]
	if svc == nil {
		return gateway.GiveUp(fmt.Errorf("kannel: keyword rule %q has no Kannel service", ruleName))
	}
	esc := moEscapes(in, ruleName)
	req := webhook.Request{ID: t.Key, Header: http.Header{}}
	if svc.SendSender {
		req.Header.Set("X-Kannel-From", in.From)
	}
	if svc.GetURL != "" {
		req.Method, req.URL = http.MethodGet, expand(svc.GetURL, esc)
	} else {
		req.Method, req.URL = http.MethodPost, expand(svc.PostURL, esc)
		body := in.Text
		if svc.StripKeyword {
			_, body = splitKeyword(in.Text)
		}
		req.Body = []byte(body)
		req.ContentType = `text/plain; charset="UTF-8"`
		req.Header.Set("X-Kannel-To", in.To)
		req.Header.Set("X-Kannel-Time", in.ReceivedAt.UTC().Format("2006-01-02 15:04:05"))
		if in.Carrier != "" {
			req.Header.Set("X-Kannel-SMSC", in.Carrier)
		}
		req.Header.Set("X-Kannel-Coding", strconv.Itoa(esc.Coding))
		req.Header.Set("X-Kannel-Service", ruleName)
	}
	reply := sendOpts{}
	resp, err := s.wh.Do(ctx, req)
	switch {
	case err != nil && !gateway.IsGiveUp(err):
		return err // retried by the outbox with backoff
	case err != nil:
		if errors.Is(err, webhook.ErrNotAllowed) {
			s.log.Warn("sms-service url refused: host not in webhooks.allow_hosts", "host", hostOf(req.URL), "rule", ruleName)
		} else {
			s.log.Warn("sms-service url failed", "host", hostOf(req.URL), "rule", ruleName, "err", err)
		}
		// smsbox answers the client when the fetch failed for good.
		if serr := s.sendReply(ctx, t, svc, in, replyCouldNotFetch, reply); serr != nil {
			return serr
		}
		return err
	case resp.Status != http.StatusOK && resp.Status != http.StatusAccepted:
		return s.sendReply(ctx, t, svc, in, replyCouldNotFetch, reply)
	}
	text := replyText(resp)
	if svc.AcceptXKannelHeaders {
		reply.to = strings.TrimSpace(resp.Header.Get("X-Kannel-To"))
		reply.dlrURL = strings.TrimSpace(resp.Header.Get("X-Kannel-DLR-URL"))
		scanInt(resp.Header.Get("X-Kannel-DLR-Mask"), &reply.dlrMask)
	}
	return s.sendReply(ctx, t, svc, in, text, reply)
}

// sendOpts are what an answer's X-Kannel-* headers may change.
type sendOpts struct {
	to      string
	dlrURL  string
	dlrMask int
}

// replyText turns an answer into SMS text by its content type, as
// url_result_thread does: text/plain as it is, HTML and WML with the
// markup removed, anything else (binary, XML) cannot be represented.
func replyText(resp *webhook.Response) string {
	ct, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var text string
	switch ct {
	case "text/plain":
		text = string(resp.Body)
	case "text/html", "text/vnd.wap.wml":
		text = htmlToSMS(string(resp.Body))
	default:
		return replyCouldNotRepresent
	}
	out, err := decodeText(text, params["charset"], coding7Bit)
	if err != nil {
		return replyCouldNotRepresent
	}
	return out
}

// sendReply is send_message: max-messages, omit-empty, the auto-reply
// limit (per number and tenant), header, footer, split-chars, split-suffix
// and concatenation, then the engine stores the replies.
func (s *Server) sendReply(ctx context.Context, t gateway.Task, svc *Service, in *gateway.Inbound, text string, o sendOpts) error {
	maxMsgs := 1
	if svc.MaxMessages != nil {
		maxMsgs = *svc.MaxMessages
	}
	if maxMsgs == 0 {
		return nil // "No reply sent, denied."
	}
	if text == "" {
		if svc.OmitEmpty {
			return nil
		}
		text = replyEmpty
	}
	to := o.to
	if to == "" {
		to = in.From
	}
	if !s.eng.AllowAutoReply(t.Tenant, to) {
		return nil // over limits.auto_reply: the engine counted it
	}
	parts := smsSplit(text, svc.Header, svc.Footer, svc.SplitSuffix, svc.SplitChars, svc.Concatenation, maxMsgs)
	if svc.Concatenation {
		parts = []string{strings.Join(parts, "")}
	}
	reqs := make([]gateway.SendRequest, len(parts))
	for i, p := range parts {
		reqs[i] = gateway.SendRequest{ReplyTo: in.ID, To: o.to, Text: p, Category: gateway.CategoryTransactional,
			ClientRef: t.Key + ":" + strconv.Itoa(i)}
		if o.dlrURL != "" && o.dlrMask > 0 {
			reqs[i].Meta = map[string]string{metaDLRURL: o.dlrURL, metaDLRMask: strconv.Itoa(o.dlrMask),
				metaUser: in.Keyword}
		}
	}
	out, err := s.eng.Accept(ctx, t.Tenant, reqs)
	if err != nil {
		return err
	}
	for _, r := range out {
		if r.Err != nil {
			return gateway.GiveUp(fmt.Errorf("kannel: reply to %s: %w", in.ID, r.Err))
		}
	}
	s.log.Debug("sms-service replied", "rule", in.Keyword, "inbound", in.ID, "to", gateway.MaskNumber(in.From), "parts", len(parts))
	return nil
}

// moEscapes is an inbound message as Kannel's escapes see it after
// smsbox swapped the addresses: %p the client, %P the number it wrote to.
func moEscapes(in *gateway.Inbound, service string) escapeMsg {
	e := escapeMsg{Text: in.Text, Sender: in.To, Receiver: in.From, Time: in.ReceivedAt, SMSCID: in.Carrier,
		ID: in.ID, Service: service, DLRMask: undefined, MClass: undefined, MWI: undefined,
		Validity: undefined, Deferred: undefined}
	if _, ok := smstext.EncodeGSM7(in.Text); !ok {
		e.Coding = codingUCS2
	}
	return e
}

// splitKeyword is urltrans.c strip_keyword: the text after the first word
// and the blanks that follow it.
func splitKeyword(text string) (word, rest string) {
	i := strings.IndexAny(text, " \t\n\r\f\v")
	if i < 0 {
		return text, ""
	}
	return text[:i], strings.TrimLeft(text[i:], " \t\n\r\f\v")
}

var (
	reTags   = regexp.MustCompile(`(?s)<!--.*?-->|<[^>]*>`)
	reBlanks = regexp.MustCompile(`\s+`)
)

// htmlToSMS is gw/html.c html_to_sms in short: the markup goes, entities
// are decoded, blanks squeezed.
func htmlToSMS(s string) string {
	s = reTags.ReplaceAllString(s, " ")
	s = html.UnescapeString(s)
	return strings.TrimSpace(reBlanks.ReplaceAllString(s, " "))
}

// smsSplit is gw/sms.c sms_split for text: parts of at most one SMS (160
// GSM septets, or 140 octets of UCS-2; 153 and 134 when concatenated),
// each with the header before and the footer after it and the split
// suffix after all but the last, cut at the last split character when one
// is given, and at most maxMsgs parts: the last takes what fits and the
// rest is dropped.
func smsSplit(text, header, footer, suffix, splitChars string, catenate bool, maxMsgs int) []string {
	return smsSplitAs(text, header, footer, suffix, splitChars, catenate, maxMsgs, false)
}

// smsSplitAs is smsSplit with UCS-2 part sizes whatever the characters
// when ucs2 is set (a coding=2 request).
func smsSplitAs(text, header, footer, suffix, splitChars string, catenate bool, maxMsgs int, ucs2 bool) []string {
	for _, s := range []string{text, header, footer, suffix} {
		if _, ok := smstext.EncodeGSM7(s); !ok {
			ucs2 = true
		}
	}
	units := func(s string) int {
		if !ucs2 {
			b, _ := smstext.EncodeGSM7(s)
			return len(b)
		}
		n := 0
		for _, r := range s {
			if r > 0xFFFF {
				n += 4
			} else {
				n += 2
			}
		}
		return n
	}
	single, multi := 160, 153
	if ucs2 {
		single, multi = 140, 134
	}
	hf := units(header) + units(footer)
	maxLen := single - hf
	if units(text) > maxLen && catenate {
		maxLen = multi - hf
	}
	maxLen = max(maxLen, 0)
	var parts []string
	rest := text
	for n := 1; ; n++ {
		last := units(rest) <= maxLen || n == maxMsgs
		part := ""
		part, rest = extractPart(rest, splitChars, maxLen-units(suffix), units)
		p := header + part + footer
		if !last {
			p += suffix
		}
		parts = append(parts, p)
		if last || part == "" {
			return parts
		}
	}
}

// extractPart takes the longest prefix of s within limit units, cut after
// the last split character inside it when s is longer than the limit.
func extractPart(s, splitChars string, limit int, units func(string) int) (part, rest string) {
	end := 0
	for end < len(s) {
		_, size := utf8.DecodeRuneInString(s[end:])
		if units(s[:end+size]) > limit {
			break
		}
		end += size
	}
	if end < len(s) && splitChars != "" {
		for i := end; i > 0; {
			r, size := utf8.DecodeLastRuneInString(s[:i])
			if strings.ContainsRune(splitChars, r) {
				end = i
				break
			}
			i -= size
		}
	}
	return s[:end], s[end:]
}
