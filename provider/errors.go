package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/openmf/smsgw/gateway"
)

// ErrStopped is returned for submissions made after Stop began: the engine
// retries them later, on this carrier after a restart or on another.
var ErrStopped = errors.New("provider: connector stopped")

// HTTPDecision is the table for answers a provider gives at the HTTP level,
// before (or instead of) its own error codes:
//
//   - 408, 429 and 5xx: the provider is busy or broken right now → Retry.
//   - 401 and 403: our credentials are wrong or lack rights for this
//     route; another route may work → NextRoute.
//   - 404 and 3xx: the base_url or account id in our config is wrong, which
//     is no fault of the message → NextRoute.
//   - any other 4xx: the provider refused this request as malformed, which
//     resending will not change → Permanent.
//
// Provider-specific codes in the body refine this (see each connector).
func HTTPDecision(status int) gateway.Decision {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return gateway.Retry
	case status == http.StatusUnauthorized, status == http.StatusForbidden,
		status == http.StatusNotFound, status >= 300 && status < 400:
		return gateway.NextRoute
	case status >= 400:
		return gateway.Permanent
	}
	return gateway.Retry
}

// HTTPError wraps a non-2xx answer as a SubmitError with Code "http:NNN"
// and the HTTPDecision for it; detail (the provider's message, never the
// request) goes into the error text.
func HTTPError(status int, detail string) *gateway.SubmitError {
	return &gateway.SubmitError{
		Decision:  HTTPDecision(status),
		Code:      fmt.Sprintf("http:%d", status),
		Err:       fmt.Errorf("provider: HTTP %d: %s", status, detail),
		Throttled: status == http.StatusTooManyRequests,
	}
}

// Errorf builds the SubmitError of a provider-level refusal: code is
// "twilio:21211" and the like.
func Errorf(d gateway.Decision, code, format string, args ...any) *gateway.SubmitError {
	return &gateway.SubmitError{Decision: d, Code: code, Err: fmt.Errorf(format, args...)}
}

// transportError classifies a request that got no HTTP answer. All of them
// are Retry: the provider may be down for a moment, and the routing layer's
// breaker moves traffic away if it stays down.
func transportError(err error) *gateway.SubmitError {
	code := "http:transport"
	switch {
	case errors.Is(err, ErrStopped):
		code = "stopped"
	case errors.Is(err, context.DeadlineExceeded):
		code = "http:timeout"
	case errors.Is(err, context.Canceled):
		code = "canceled"
	}
	return &gateway.SubmitError{Decision: gateway.Retry, Code: code, Err: fmt.Errorf("provider: %w", err)}
}
