package smsc

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// Option configures a Server at construction.
type Option func(*options)

type options struct {
	systemID, password string
	checkCreds         bool
	receiptMin         time.Duration
	receiptMax         time.Duration
	idFormat           IDFormat
	handler            Handler
	record             bool
	logger             *slog.Logger
	throttle           float64 // share of submits answered ESME_RTHROTTLED
	tps                float64 // submits per second per server before ESME_RTHROTTLED; 0 = no cap
	respMin, respMax   time.Duration
	linkDrop           float64 // share of accepted submits whose connection dies before the response
	receiptFirst       float64 // share of receipts sent before the submit_sm_resp
	tlsConfig          *tls.Config
}

func defaultOptions() options {
	return options{
		receiptMin: 0,
		receiptMax: 10 * time.Millisecond,
		record:     true,
		logger:     slog.New(slog.DiscardHandler),
	}
}

// WithCredentials makes the server accept binds only for this system_id and
// password, the way a carrier account does. Without it any credentials bind,
// which is what most tests want.
func WithCredentials(systemID, password string) Option {
	return func(o *options) {
		o.systemID, o.password, o.checkCreds = systemID, password, true
	}
}

// WithReceiptDelay sets the range a delivery receipt's delay is drawn from,
// measured from the submit_sm_resp (default 0–10 ms). Use equal values for a
// fixed delay; a long delay keeps receipts out of a test's way.
func WithReceiptDelay(minDelay, maxDelay time.Duration) Option {
	return func(o *options) {
		if maxDelay < minDelay {
			maxDelay = minDelay
		}
		o.receiptMin, o.receiptMax = minDelay, maxDelay
	}
}

// IDFormat chooses how message ids are written, to exercise the client's id
// normalization (mismatched bases are the first cause of "unmatched DLR").
type IDFormat int

const (
	// IDDecimal writes the same decimal id in submit_sm_resp and receipts.
	IDDecimal IDFormat = iota
	// IDHexResp writes the id in lowercase hex in submit_sm_resp and in
	// decimal in receipts (text and receipted_message_id), like carriers that
	// need Kannel's msg-id-type 0x01.
	IDHexResp
	// IDHexReceipt writes the id in decimal in submit_sm_resp and in
	// uppercase hex in receipts (Kannel's msg-id-type 0x02).
	IDHexReceipt
	// IDPaddedReceipt writes the id in decimal in submit_sm_resp and
	// zero-padded to 20 digits in receipts.
	IDPaddedReceipt
)

// WithIDFormat sets how message ids are written (default IDDecimal).
func WithIDFormat(f IDFormat) Option {
	return func(o *options) { o.idFormat = f }
}

// WithThrottle answers a random share (0..1) of submit_sm with
// ESME_RTHROTTLED, the way an SMSC under load does.
func WithThrottle(ratio float64) Option {
	return func(o *options) { o.throttle = ratio }
}

// WithTPS answers ESME_RTHROTTLED to submit_sm beyond tps per second over
// the whole server (a token bucket with a burst of a tenth of a second), the
// way a carrier enforces an account's TPS.
func WithTPS(tps float64) Option {
	return func(o *options) { o.tps = tps }
}

// WithResponseDelay delays every submit_sm_resp by a random duration in
// [minDelay, maxDelay], which also answers them out of order.
func WithResponseDelay(minDelay, maxDelay time.Duration) Option {
	return func(o *options) {
		if maxDelay < minDelay {
			maxDelay = minDelay
		}
		o.respMin, o.respMax = minDelay, maxDelay
	}
}

// WithLinkDrops kills the connection after accepting a random share (0..1)
// of submit_sm, before their submit_sm_resp goes out: the message was taken
// (its receipt follows on the next bind) but the client cannot know, so a
// resend is a duplicate the test can count.
func WithLinkDrops(ratio float64) Option {
	return func(o *options) { o.linkDrop = ratio }
}

// WithReceiptsFirst sends the receipt of a random share (0..1) of accepted
// submit_sm before their submit_sm_resp, on the same connection.
func WithReceiptsFirst(ratio float64) Option {
	return func(o *options) { o.receiptFirst = ratio }
}

// WithTLS serves SMPP over TLS with the given server configuration.
func WithTLS(c *tls.Config) Option {
	return func(o *options) { o.tlsConfig = c }
}

// WithHandler installs the fault-injection hook called for every submit_sm
// received on a bound session. The zero Action accepts the message.
func WithHandler(h Handler) Option {
	return func(o *options) { o.handler = h }
}

// WithoutRecording stops the server from keeping every Submit and Deliver in
// memory, for long-running use (`smsgw simulate-smsc`, the bench) where the
// log would grow without bound. Stats are still counted.
func WithoutRecording() Option {
	return func(o *options) { o.record = false }
}

// WithLogger sets where the server logs binds and connection errors
// (default: discarded).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// Handler decides what the simulator does with one submit_sm. It runs on the
// connection's reading goroutine, so it must be quick; it may be called
// concurrently for different connections.
type Handler func(s *Submit) Action

// Action is a Handler's verdict on one submit_sm. The zero value answers
// ESME_ROK at once and sends a receipt if one was requested.
type Action struct {
	// Status is the command_status of the submit_sm_resp (0 = accepted; only
	// accepted messages get an id and a receipt).
	Status uint32
	// Delay holds the submit_sm_resp back, to fill the client's window.
	Delay time.Duration
	// Drop never answers, to provoke the client's response timeout.
	Drop bool
	// Close closes the connection instead of answering, like a dying link.
	Close bool
	// ReceiptStat is the receipt's stat word (default "DELIVRD"); ReceiptErr
	// its err field (default "000").
	ReceiptStat string
	ReceiptErr  string
	// NoReceipt suppresses the receipt even if one was requested.
	NoReceipt bool
	// Intermediate, when set, is the stat word (ENROUTE, ACCEPTD) of an
	// intermediate notification sent after the submit_sm_resp and before
	// the final receipt, when registered_delivery asks for one (0x10), or
	// always with IntermediateUnasked, like carriers that send them anyway.
	Intermediate        string
	IntermediateUnasked bool
	// Nack answers a generic_nack with this command_status instead of a
	// submit_sm_resp, like an SMSC that could not parse the PDU.
	Nack uint32
}
