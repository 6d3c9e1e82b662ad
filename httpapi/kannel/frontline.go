package kannel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/webhook"
)

// FrontlineMessage is an inbound message as FrontlineSMS receives it: the
// payload of a Frontline API webhook call (available to Frontline
// activities as ${trigger.payload}), or the fields of a custom
// connection's receive URL.
type FrontlineMessage struct {
	ID         string    `json:"id"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Text       string    `json:"text"`
	Keyword    string    `json:"keyword"`
	Carrier    string    `json:"carrier,omitempty"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// frontlineBody is the Frontline API webhook's JSON: the API key and any
// payload ("Frontline API Custom Payload", support.frontlinesms.com).
type frontlineBody struct {
	APIKey  string           `json:"apiKey"`
	Payload FrontlineMessage `json:"payload"`
}

// runFrontline forwards an inbound message to FrontlineSMS. It is retried
// by the outbox like any webhook; Frontline sees the task key as
// X-Smsgw-Delivery and can drop a repeat.
func (s *Server) runFrontline(ctx context.Context, t gateway.Task) error {
	rule, in, err := gateway.ResolveRuleTask(ctx, t, s.eng.Keywords(), s.eng.GetInbound)
	if err != nil {
		return err
	}
	ruleName := rule.Name
	fl := s.services.Load().Frontline[ruleName]
	if fl == nil {
		return gateway.GiveUp(fmt.Errorf("kannel: keyword rule %q has no Frontline forward", ruleName))
	}
	msg := FrontlineMessage{ID: in.ID, From: in.From, To: in.To, Text: in.Text, Keyword: in.Keyword,
		Carrier: in.Carrier, ReceivedAt: in.ReceivedAt.UTC()}
	target := fl.URL
	if target == "" {
		target = FrontlineCloudURL
	}
	req := webhook.Request{Method: http.MethodPost, URL: target, ID: t.Key}
	if fl.Format == "form" {
		v := url.Values{"id": {msg.ID}, "from": {msg.From}, "to": {msg.To}, "text": {msg.Text},
			"keyword": {msg.Keyword}, "received_at": {msg.ReceivedAt.Format(time.RFC3339)}}
		if fl.APIKey != "" {
			v.Set("api_key", fl.APIKey)
		}
		req.ContentType, req.Body = "application/x-www-form-urlencoded", []byte(v.Encode())
	} else {
		b, err := json.Marshal(frontlineBody{APIKey: fl.APIKey, Payload: msg})
		if err != nil {
			return gateway.GiveUp(err)
		}
		req.ContentType, req.Body = "application/json", b
	}
	if _, err := s.wh.Do(ctx, req); err != nil {
		if errors.Is(err, webhook.ErrNotAllowed) {
			s.log.Warn("frontline forward refused: host not in webhooks.allow_hosts", "host", hostOf(target), "rule", ruleName)
		}
		return err
	}
	return nil
}

// frontlineAnswer is what /frontline/send answers, as JSON.
type frontlineAnswer struct {
	Status string   `json:"status,omitempty"` // "accepted"
	IDs    []string `json:"ids,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// frontlineSend serves /frontline/send: the endpoint a FrontlineSMS
// custom connection sends through. Its single-message payload maps
// Frontline's ${destination} and ${text} onto to and text, as a GET query,
// a url-encoded form or a JSON object; the credentials are a sendsms
// user's, as username and password or HTTP Basic authentication.
func (s *Server) frontlineSend(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, a frontlineAnswer) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(a)
	}
	fields := map[string]string{}
	for k, v := range r.URL.Query() {
		fields[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := s.readBody(w, r)
	if err != nil {
		if code, msg := bodyAnswer(err); code == http.StatusRequestEntityTooLarge {
			answer(code, frontlineAnswer{Error: msg})
			return
		}
		answer(http.StatusBadRequest, frontlineAnswer{Error: "unreadable body"})
		return
	}
	switch {
	case len(body) == 0:
	case ct == "application/json":
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			answer(http.StatusBadRequest, frontlineAnswer{Error: "body is not a JSON object"})
			return
		}
		for k, v := range obj {
			switch v := v.(type) {
			case string:
				fields[k] = v
			case []any: // several destinations
				var parts []string
				for _, e := range v {
					if s, ok := e.(string); ok {
						parts = append(parts, s)
					}
				}
				fields[k] = strings.Join(parts, " ")
			}
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			answer(http.StatusBadRequest, frontlineAnswer{Error: "body is not a url-encoded form"})
			return
		}
		for k, v := range form {
			fields[k] = v[0]
		}
	}
	pick := func(names ...string) string {
		for _, n := range names {
			if v := fields[n]; v != "" {
				return v
			}
		}
		return ""
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		user, pass = pick("username", "user"), pick("password", "pass")
	}
	u, err := s.authorise(user, pass, r.RemoteAddr)
	if err != nil {
		code, _ := authAnswer(err)
		msg := "authorization failed"
		if code == http.StatusTooManyRequests {
			msg = err.Error()
		}
		answer(code, frontlineAnswer{Error: msg})
		return
	}
	to := strings.FieldsFunc(pick("to", "destination", "recipient"), func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n'
	})
	if len(to) > s.opts.MaxReceivers {
		answer(http.StatusRequestEntityTooLarge, frontlineAnswer{Error: fmt.Sprintf("too many destinations (%d; at most %d per request)", len(to), s.opts.MaxReceivers)})
		return
	}
	text := pick("text", "message", "body")
	if len(to) == 0 || text == "" {
		answer(http.StatusBadRequest, frontlineAnswer{Error: "to (or destination) and text (or message) are required"})
		return
	}
	from := u.ForcedSender
	if from == "" {
		from = pick("from", "source")
	}
	if from == "" {
		from = u.DefaultSender
	}
	reqs := make([]gateway.SendRequest, len(to))
	for i, n := range to {
		reqs[i] = gateway.SendRequest{To: n, Text: text, From: from, Meta: map[string]string{metaUser: u.Username, metaTo: n}}
	}
	out, err := s.eng.Accept(r.Context(), u.Tenant, reqs)
	if err != nil {
		answer(http.StatusServiceUnavailable, frontlineAnswer{Error: "temporary failure, try again later"})
		return
	}
	var a frontlineAnswer
	for _, o := range out {
		if o.Err != nil {
			if a.Error == "" {
				a.Error = o.Err.Error()
			}
			continue
		}
		a.IDs = append(a.IDs, o.ID)
	}
	if len(a.IDs) == 0 {
		answer(http.StatusBadRequest, a)
		return
	}
	a.Status = "accepted"
	answer(http.StatusAccepted, a)
}
