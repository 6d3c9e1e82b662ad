package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/provider"
)

// Options are the connector's dependencies (logger, registerer, HTTP
// client), shared by every provider connector.
type Options = provider.Options

// Connector sends through Twilio's Messages API and takes its status
// callbacks. It implements gateway.Connector; see the package
// documentation for its invariants.
type Connector struct {
	*provider.Core
	cfg      Config
	endpoint string
}

var (
	_ gateway.Connector = (*Connector)(nil)
	_ provider.Webhooks = (*Connector)(nil)
)

// New checks cfg (filling defaults, see Config.Validate) and builds the
// connector of carrier name. Nothing is sent before Start.
func New(name string, cfg Config, opts Options) (*Connector, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("twilio: carrier %q: %w", name, errors.Join(errs...))
	}
	return &Connector{
		Core:     provider.NewCore("twilio", name, cfg.limits(), opts),
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json",
	}, nil
}

// Submit sends m's whole text in one Messages request (Twilio segments it)
// and returns the message's sid for every asked part. It blocks while
// `concurrency` requests are in flight or the TPS limit holds, until ctx
// ends.
func (c *Connector) Submit(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult {
	return c.SubmitOnce(ctx, m, parts, func(ctx context.Context) ([]provider.Segment, error) {
		return c.send(ctx, m)
	})
}

func (c *Connector) send(ctx context.Context, m *gateway.Message) ([]provider.Segment, error) {
	form := url.Values{
		"To":             {m.To},
		"Body":           {m.Text},
		"StatusCallback": {c.cfg.StatusCallbackURL},
	}
	if c.cfg.From != "" {
		form.Set("From", c.cfg.From)
	}
	if c.cfg.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", c.cfg.MessagingServiceSID)
	}
	req, err := http.NewRequest(http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, provider.Errorf(gateway.NextRoute, "config", "twilio: %v", err)
	}
	req.SetBasicAuth(c.cfg.AccountSID, c.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, errorOf(resp)
	}
	var ok struct {
		SID    string `json:"sid"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(resp.Body, &ok); err != nil {
		// Twilio took it (2xx) but we cannot tell its sid: retrying may
		// send twice, losing track of it is worse.
		return nil, provider.Errorf(gateway.Retry, "twilio:bad_answer", "twilio: answer %d not understood: %v", resp.Status, err)
	}
	c.Logger().Debug("twilio: accepted", "msg_id", m.ID, "to", gateway.MaskNumber(m.To), "sid", ok.SID, "status", ok.Status)
	return []provider.Segment{{ID: ok.SID}}, nil
}

// codeDecisions refines HTTPDecision with Twilio's error codes
// (https://www.twilio.com/docs/api/errors). Codes that say this account or
// sender cannot reach the number are NextRoute: another route may.
var codeDecisions = map[int]gateway.Decision{
	20003: gateway.NextRoute, // authentication failed
	20404: gateway.NextRoute, // resource not found: the account_sid is wrong
	20429: gateway.Retry,     // too many requests
	21211: gateway.Permanent, // invalid 'To' number
	21212: gateway.NextRoute, // invalid 'From' number: our config
	21408: gateway.NextRoute, // sending to this region not enabled on the account
	21606: gateway.NextRoute, // 'From' cannot send to this destination
	21610: gateway.Permanent, // recipient replied STOP
	21612: gateway.NextRoute, // 'To' not reachable from this 'From'
	21614: gateway.Permanent, // 'To' is not a mobile number
	21617: gateway.Permanent, // text longer than 1600 characters
}

// errorOf reads Twilio's error answer ({"code": 21211, "message": …,
// "status": 400}) into a SubmitError coded "twilio:CODE", or "http:STATUS"
// when the body has no code.
func errorOf(resp *provider.Response) error {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(resp.Body, &e) != nil || e.Code == 0 {
		return provider.HTTPError(resp.Status, provider.Snippet(resp.Body))
	}
	d, ok := codeDecisions[e.Code]
	if !ok {
		d = provider.HTTPDecision(resp.Status)
	}
	return provider.Errorf(d, "twilio:"+strconv.Itoa(e.Code), "twilio: HTTP %d: %s", resp.Status, e.Message)
}

// WebhookHandler serves Twilio's status callbacks at "POST /status"
// relative to its mount point (provider.Mount: /webhooks/{name}/status,
// which is what status_callback_url must name). X-Twilio-Signature is
// checked against status_callback_url and the POST parameters before
// anything else: a missing or forged one is answered 403.
func (c *Connector) WebhookHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /status", c.ReceiptHandler(c.parseStatus))
	return mux
}

func (c *Connector) parseStatus(r *http.Request) (gateway.Receipt, error) {
	if err := r.ParseForm(); err != nil {
		return gateway.Receipt{}, provider.BadRequest("twilio: form: %v", err)
	}
	if !ValidSignature(c.cfg.AuthToken, c.cfg.StatusCallbackURL, r.PostForm, r.Header.Get(SignatureHeader)) {
		return gateway.Receipt{}, provider.Forbidden("twilio: %s missing or wrong", SignatureHeader)
	}
	f := r.PostForm
	sid := first(f.Get("MessageSid"), f.Get("SmsSid"))
	state := first(f.Get("MessageStatus"), f.Get("SmsStatus"))
	if sid == "" || state == "" {
		return gateway.Receipt{}, provider.BadRequest("twilio: MessageSid and MessageStatus are required")
	}
	return gateway.Receipt{
		CarrierID: sid,
		Status:    StatusOf(state),
		State:     state,
		Error:     f.Get("ErrorCode"),
	}, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// StatusOf maps a Twilio MessageStatus onto smsgw's: delivered (and read,
// which comes after it) → DELIVERED; undelivered and failed → UNDELIVERED;
// everything else (accepted, scheduled, queued, sending, sent, …) is
// intermediate ("").
func StatusOf(s string) gateway.Status {
	switch s {
	case "delivered", "read":
		return gateway.StatusDelivered
	case "undelivered", "failed":
		return gateway.StatusUndelivered
	}
	return ""
}
