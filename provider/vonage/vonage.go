package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/provider"
)

// Options are the connector's dependencies (logger, registerer, HTTP
// client), shared by every provider connector.
type Options = provider.Options

// Connector sends through Vonage's SMS API and takes its delivery receipts.
// It implements gateway.Connector; see the package documentation for its
// invariants.
type Connector struct {
	*provider.Core
	cfg      Config
	endpoint string
	balance  prometheus.Gauge
}

var (
	_ gateway.Connector = (*Connector)(nil)
	_ provider.Webhooks = (*Connector)(nil)
)

// New checks cfg (filling defaults, see Config.Validate) and builds the
// connector of carrier name. Nothing is sent before Start.
func New(name string, cfg Config, opts Options) (*Connector, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("vonage: carrier %q: %w", name, errors.Join(errs...))
	}
	return &Connector{
		Core:     provider.NewCore("vonage", name, cfg.limits(), opts),
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/sms/json",
		balance:  newBalance(opts.Registerer, name),
	}, nil
}

// Submit sends m's whole text in one /sms/json request. Vonage splits a
// long text itself and answers one message-id per SMS: when it split into
// as many SMS as m has parts, part i gets the i-th id (each receives its
// own receipt); otherwise every part gets the first id. It blocks while
// `concurrency` requests are in flight or the TPS limit holds, until ctx
// ends.
func (c *Connector) Submit(ctx context.Context, m *gateway.Message, parts []int) []gateway.PartResult {
	return c.SubmitOnce(ctx, m, parts, func(ctx context.Context) ([]provider.Segment, error) {
		return c.send(ctx, m)
	})
}

// answer is the /sms/json response body.
type answer struct {
	Count    string `json:"message-count"`
	Messages []struct {
		Status    string `json:"status"`
		ID        string `json:"message-id"`
		ErrorText string `json:"error-text"`
		Balance   string `json:"remaining-balance"`
	} `json:"messages"`
}

func (c *Connector) send(ctx context.Context, m *gateway.Message) ([]provider.Segment, error) {
	form := url.Values{
		"api_key":           {c.cfg.APIKey},
		"api_secret":        {c.cfg.APISecret},
		"from":              {c.cfg.From},
		"to":                {strings.TrimPrefix(m.To, "+")},
		"text":              {m.Text},
		"status-report-req": {"1"},
		"client-ref":        {m.ID},
	}
	if unicode(m) {
		form.Set("type", "unicode")
	}
	if c.cfg.StatusCallbackURL != "" {
		form.Set("callback", c.cfg.StatusCallbackURL)
	}
	req, err := http.NewRequest(http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, provider.Errorf(gateway.NextRoute, "config", "vonage: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, provider.HTTPError(resp.Status, provider.Snippet(resp.Body))
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || len(a.Messages) == 0 {
		return nil, provider.Errorf(gateway.Retry, "vonage:bad_answer", "vonage: answer not understood: %s", provider.Snippet(resp.Body))
	}
	segs := make([]provider.Segment, len(a.Messages))
	for i, msg := range a.Messages {
		if msg.Status == "0" {
			segs[i].ID = NormalizeID(msg.ID)
		} else {
			segs[i].Err = errorOf(msg.Status, msg.ErrorText)
		}
		if b, err := strconv.ParseFloat(msg.Balance, 64); err == nil {
			c.balance.Set(b)
		}
	}
	c.Logger().Debug("vonage: answered", "msg_id", m.ID, "to", gateway.MaskNumber(m.To), "messages", len(segs))
	return segs, nil
}

// unicode reports whether m's text must go as type=unicode: it was accepted
// as UCS-2, or (not classified) it has characters beyond ASCII.
func unicode(m *gateway.Message) bool {
	if m.Encoding != "" {
		return m.Encoding == gateway.EncodingUCS2
	}
	for _, r := range m.Text {
		if r > 0x7E {
			return true
		}
	}
	return false
}

// NormalizeID upper-cases a Vonage message id, so the id the send answer
// gives and the messageId of its receipt match whatever case each used.
func NormalizeID(id string) string { return strings.ToUpper(strings.TrimSpace(id)) }

// codeDecisions is the table of the SMS API's status codes
// (https://developer.vonage.com/api-errors/sms). Codes about our account,
// credentials or sender are NextRoute: another route may carry the
// message; codes about the number or the text are Permanent. Codes not
// listed are Permanent.
var codeDecisions = map[string]gateway.Decision{
	"1":  gateway.Retry,     // throttled
	"2":  gateway.Permanent, // missing parameters
	"3":  gateway.Permanent, // invalid parameters
	"4":  gateway.NextRoute, // invalid credentials
	"5":  gateway.Retry,     // internal error
	"6":  gateway.Permanent, // invalid message (e.g. unrecognised number prefix)
	"7":  gateway.Permanent, // number barred
	"8":  gateway.NextRoute, // partner account barred
	"9":  gateway.NextRoute, // partner quota violation: out of credit
	"10": gateway.Retry,     // too many existing binds: back off
	"11": gateway.NextRoute, // account not enabled for HTTP
	"12": gateway.Permanent, // message too long
	"14": gateway.NextRoute, // invalid signature: our config
	"15": gateway.NextRoute, // invalid sender address: not authorised for this account
	"22": gateway.Permanent, // invalid network code
	"23": gateway.NextRoute, // invalid callback URL: our config
	"29": gateway.NextRoute, // non-whitelisted destination: demo account limit, not the number's fault
	"32": gateway.NextRoute, // signature and API secret disallowed: our config
	"33": gateway.Permanent, // number de-activated
}

func errorOf(status, text string) error {
	d, ok := codeDecisions[status]
	if !ok {
		d = gateway.Permanent
	}
	return provider.Errorf(d, "vonage:"+status, "vonage: status %s: %s", status, text)
}

// WebhookHandler serves Vonage's delivery receipts at "/status" relative to
// its mount point (provider.Mount: /webhooks/{name}/status), by GET or
// POST, form-encoded or JSON, whichever the account's webhook setting
// uses. With signature_secret set, a receipt without a valid `sig` is
// answered 403 before anything else is read; without it, one lacking
// messageId or status is answered 400.
func (c *Connector) WebhookHandler() http.Handler {
	mux := http.NewServeMux()
	h := c.ReceiptHandler(c.parseReceipt)
	mux.Handle("GET /status", h)
	mux.Handle("POST /status", h)
	return mux
}

func (c *Connector) parseReceipt(r *http.Request) (gateway.Receipt, error) {
	params, err := paramsOf(r)
	if err != nil {
		return gateway.Receipt{}, provider.BadRequest("vonage: %v", err)
	}
	if c.cfg.SignatureSecret != "" && !ValidSignature(c.cfg.SignatureMethod, c.cfg.SignatureSecret, params) {
		return gateway.Receipt{}, provider.Forbidden("vonage: sig missing or wrong")
	}
	id, state := params.Get("messageId"), params.Get("status")
	if id == "" || state == "" {
		return gateway.Receipt{}, provider.BadRequest("vonage: messageId and status are required")
	}
	rcpt := gateway.Receipt{CarrierID: NormalizeID(id), Status: StatusOf(state), State: state}
	if e := params.Get("err-code"); e != "" && e != "0" {
		rcpt.Error = e
	}
	// scts is when the carrier reported the state, YYMMDDHHMM in UTC.
	if t, err := time.Parse("0601021504", params.Get("scts")); err == nil {
		rcpt.Time = t
	}
	return rcpt, nil
}

// paramsOf reads a receipt's parameters from the query (GET), a form or a
// JSON object (POST), as strings either way so the signature sees them as
// Vonage signed them.
func paramsOf(r *http.Request) (url.Values, error) {
	if r.Method == http.MethodGet {
		return r.URL.Query(), nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("form: %w", err)
		}
		return r.PostForm, nil
	}
	var obj map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("JSON: %w", err)
	}
	params := url.Values{}
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			params.Set(k, v)
		case json.Number:
			params.Set(k, v.String())
		case bool:
			params.Set(k, strconv.FormatBool(v))
		case nil:
		default:
			return nil, fmt.Errorf("JSON: field %q is not a scalar", k)
		}
	}
	return params, nil
}

// StatusOf maps a Vonage receipt status onto smsgw's: delivered →
// DELIVERED, expired → EXPIRED, failed → UNDELIVERED, rejected →
// REJECTED; accepted, buffered and unknown are intermediate ("").
func StatusOf(s string) gateway.Status {
	switch s {
	case "delivered":
		return gateway.StatusDelivered
	case "expired":
		return gateway.StatusExpired
	case "failed":
		return gateway.StatusUndelivered
	case "rejected":
		return gateway.StatusRejected
	}
	return ""
}
