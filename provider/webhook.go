package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openmf/smsgw/gateway"
)

// Webhooks is implemented by connectors whose provider calls us back. The
// gateway's wiring mounts each one's handler with Mount.
type Webhooks interface {
	// WebhookHandler serves the provider's callbacks, with paths relative
	// to the connector's mount point (e.g. "POST /status").
	WebhookHandler() http.Handler
}

// WebhookPrefix is where connector name's callbacks are served on the HTTP
// listener: the public status_callback_url of a connector is the gateway's
// public address followed by this prefix and the connector's own path.
func WebhookPrefix(name string) string { return "/webhooks/" + name }

// Mount serves h under WebhookPrefix(name) on mux, with the prefix
// stripped, so h sees "/status" whatever the carrier is called.
func Mount(mux *http.ServeMux, name string, h http.Handler) {
	p := WebhookPrefix(name)
	mux.Handle(p+"/", http.StripPrefix(p, h))
}

// WebhookError is a callback refused before anything reached the sink. Its
// Status is the HTTP answer: 403 for a missing or wrong signature or token
// (the provider, or whoever forged it, must not retry into a store), 400
// for a request we cannot read.
type WebhookError struct {
	Status int
	Reason string
}

// Error says which answer the callback got and why, for the log.
func (e *WebhookError) Error() string { return fmt.Sprintf("webhook: %d: %s", e.Status, e.Reason) }

// Forbidden refuses a callback whose signature or token does not check.
func Forbidden(format string, args ...any) error {
	return &WebhookError{Status: http.StatusForbidden, Reason: fmt.Sprintf(format, args...)}
}

// BadRequest refuses a callback that lacks what a receipt needs.
func BadRequest(format string, args ...any) error {
	return &WebhookError{Status: http.StatusBadRequest, Reason: fmt.Sprintf(format, args...)}
}

// maxWebhookBody bounds a callback's body; status callbacks are a few
// hundred bytes.
const maxWebhookBody = 64 << 10

// ReceiptHandler is the webhook skeleton every connector shares. parse
// verifies the request (signature, token) and only then reads it into a
// receipt; ReceiptHandler fills in Carrier (and Time, if parse left it
// zero), hands it to the sink, and answers 200 only once the sink returned
// nil. A sink error, or a connector not started or stopping, answers 503 so
// the provider retries; a parse error answers its WebhookError status (400
// for any other error).
func (c *Core) ReceiptHandler(parse func(r *http.Request) (gateway.Receipt, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		sink, open := c.sink, c.started && !c.stopping
		c.mu.Unlock()
		if !open {
			c.m.webhook[webhookUnavailable].Inc()
			http.Error(w, "not accepting callbacks now", http.StatusServiceUnavailable)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
		rcpt, err := parse(r)
		if err != nil {
			we := &WebhookError{Status: http.StatusBadRequest, Reason: err.Error()}
			errors.As(err, &we)
			if we.Status == http.StatusForbidden {
				c.m.webhook[webhookForbidden].Inc()
				c.log.Warn("provider: callback refused", "reason", we.Reason, "remote", r.RemoteAddr)
			} else {
				c.m.webhook[webhookBadRequest].Inc()
				c.log.Debug("provider: callback not understood", "reason", we.Reason, "remote", r.RemoteAddr)
			}
			http.Error(w, http.StatusText(we.Status), we.Status)
			return
		}
		rcpt.Carrier = c.name
		if rcpt.Time.IsZero() {
			rcpt.Time = time.Now()
		}
		ctx, cancel := context.WithTimeout(r.Context(), c.timeout)
		defer cancel()
		if err := sink.HandleReceipts(ctx, []gateway.Receipt{rcpt}); err != nil {
			c.m.webhook[webhookSinkError].Inc()
			c.log.Warn("provider: storing receipt failed, provider will resend", "carrier_id", rcpt.CarrierID, "err", err)
			http.Error(w, "receipt not stored, try again", http.StatusServiceUnavailable)
			return
		}
		c.m.webhook[webhookOK].Inc()
		w.WriteHeader(http.StatusOK)
	})
}
