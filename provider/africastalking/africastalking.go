package africastalking

import (
	"context"
	"crypto/subtle"
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

// Connector sends through Africa's Talking's SMS API and takes its delivery
// reports. It implements gateway.Connector; see the package documentation
// for its invariants.
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
		return nil, fmt.Errorf("africastalking: carrier %q: %w", name, errors.Join(errs...))
	}
	return &Connector{
		Core:     provider.NewCore("africastalking", name, cfg.limits(), opts),
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/version1/messaging",
	}, nil
}

// Submit sends m's whole text in one messaging request (Africa's Talking
// segments it) and returns the recipient's messageId for every asked part.
// It blocks while `concurrency` requests are in flight or the TPS limit
// holds, until ctx ends.
func (c *Connector) Submit(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult {
	return c.SubmitOnce(ctx, m, parts, func(ctx context.Context) ([]provider.Segment, error) {
		return c.send(ctx, m)
	})
}

// answer is the messaging response body.
type answer struct {
	SMSMessageData struct {
		Message    string `json:"Message"`
		Recipients []struct {
			StatusCode int    `json:"statusCode"`
			Number     string `json:"number"`
			Status     string `json:"status"`
			Cost       string `json:"cost"`
			MessageID  string `json:"messageId"`
		} `json:"Recipients"`
	} `json:"SMSMessageData"`
}

func (c *Connector) send(ctx context.Context, m *gateway.Message) ([]provider.Segment, error) {
	form := url.Values{
		"username": {c.cfg.Username},
		"to":       {m.To},
		"message":  {m.Text},
	}
	if c.cfg.From != "" {
		form.Set("from", c.cfg.From)
	}
	req, err := http.NewRequest(http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, provider.Errorf(gateway.NextRoute, "config", "africastalking: %v", err)
	}
	req.Header.Set("apiKey", c.cfg.APIKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, provider.HTTPError(resp.Status, provider.Snippet(resp.Body))
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil {
		return nil, provider.Errorf(gateway.Retry, "africastalking:bad_answer", "africastalking: answer not understood: %s", provider.Snippet(resp.Body))
	}
	rs := a.SMSMessageData.Recipients
	if len(rs) == 0 {
		// Refused as a whole (e.g. "InvalidSenderId"): about the request's
		// account-level settings, not this number, so another route may do.
		return nil, provider.Errorf(gateway.NextRoute, "africastalking:no_recipients", "africastalking: %s", a.SMSMessageData.Message)
	}
	r := rs[0]
	if d, ok := accepted(r.StatusCode); !ok {
		return nil, provider.Errorf(d, "africastalking:"+strconv.Itoa(r.StatusCode), "africastalking: %d %s", r.StatusCode, r.Status)
	}
	if r.MessageID == "" || r.MessageID == "None" {
		return nil, provider.Errorf(gateway.Retry, "africastalking:no_id", "africastalking: accepted without a messageId")
	}
	c.Logger().Debug("africastalking: accepted", "msg_id", m.ID, "to", gateway.MaskNumber(m.To), "id", r.MessageID, "cost", r.Cost)
	return []provider.Segment{{ID: r.MessageID}}, nil
}

// accepted is the table of a recipient's statusCode: 100 Processed, 101
// Sent and 102 Queued are accepted; otherwise the decision. Codes about our
// account or sender are NextRoute (another route may carry the message),
// codes about the number are Permanent, the provider's own failures Retry.
// Codes not listed are Permanent.
func accepted(code int) (gateway.Decision, bool) {
	switch code {
	case 100, 101, 102: // Processed, Sent, Queued
		return 0, true
	case 402, // InvalidSenderId: our `from` is not registered for this account
		404, // UnsupportedNumberType: this account cannot reach it; another may
		405, // InsufficientBalance
		407: // CouldNotRoute
		return gateway.NextRoute, false
	case 500, 501: // InternalServerError, GatewayError
		return gateway.Retry, false
	}
	// 401 RiskHold, 403 InvalidPhoneNumber, 406 UserInBlacklist, 409
	// DoNotDisturbRejection, 502 RejectedByGateway, and anything unknown.
	return gateway.Permanent, false
}

// WebhookHandler serves Africa's Talking's delivery reports at
// "POST /status" relative to its mount point (provider.Mount:
// /webhooks/{name}/status; register that URL, with ?token=… when
// callback_token is set, as the SMS delivery reports callback in the
// dashboard). The token is checked in constant time before the body is
// read: a missing or wrong one is answered 403.
func (c *Connector) WebhookHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /status", c.ReceiptHandler(c.parseReport))
	return mux
}

func (c *Connector) parseReport(r *http.Request) (gateway.Receipt, error) {
	if c.cfg.CallbackToken != "" {
		got := r.URL.Query().Get("token")
		if subtle.ConstantTimeCompare([]byte(got), []byte(c.cfg.CallbackToken)) != 1 {
			return gateway.Receipt{}, provider.Forbidden("africastalking: token missing or wrong")
		}
	}
	if err := r.ParseForm(); err != nil {
		return gateway.Receipt{}, provider.BadRequest("africastalking: form: %v", err)
	}
	f := r.PostForm
	id, state := f.Get("id"), f.Get("status")
	if id == "" || state == "" {
		return gateway.Receipt{}, provider.BadRequest("africastalking: id and status are required")
	}
	return gateway.Receipt{CarrierID: id, Status: StatusOf(state), State: state, Error: f.Get("failureReason")}, nil
}

// StatusOf maps an Africa's Talking delivery status onto smsgw's: Success →
// DELIVERED, Failed → UNDELIVERED, Rejected → REJECTED; Sent, Submitted
// and Buffered are intermediate ("").
func StatusOf(s string) gateway.Status {
	switch s {
	case "Success":
		return gateway.StatusDelivered
	case "Failed":
		return gateway.StatusUndelivered
	case "Rejected":
		return gateway.StatusRejected
	}
	return ""
}
