package smpp

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/openmf/smsgw/smstext"
)

// Bind modes. A transceiver carries submits, receipts and MO on one
// connection, which is what nearly every carrier offers. Carriers that only
// offer separate binds get transmitter + receiver pairs: each of the
// Binds "binds" is then one transmitter and one receiver (which may live on
// its own host and port). A lone transmitter or receiver is refused: the
// gateway needs both directions to match receipts.
const (
	BindTransceiver = "transceiver"
	BindPair        = "transmitter_receiver"
	bindTransmitter = "transmitter"
	bindReceiver    = "receiver"
)

// Defaults filled in by Config.Validate. They follow Kannel's (window 10,
// enquire_link 30 s) so a carrier tuned for Kannel sees the same traffic.
const (
	DefaultBinds           = 1
	DefaultWindow          = 10
	DefaultEnquireLink     = 30 * time.Second
	DefaultResponseTimeout = 10 * time.Second
	DefaultRebindInterval  = 5 * time.Second
	DefaultThrottlePause   = time.Second // Kannel holds sending 1 s after ESME_RTHROTTLED
	DefaultMOTimeout       = time.Minute
	DefaultMOResendWindow  = time.Minute
	DefaultShortcodeTON    = 3 // network specific
	DefaultShortcodeNPI    = 0
	DefaultDestTON         = 1 // international
	DefaultDestNPI         = 1 // ISDN (E.164)

	// MaxWindow bounds our own per-bind window (gosmpp's tracker stops at
	// 255, ours is a semaphore and does not).
	MaxWindow = 1000
	// MaxBinds bounds binds per carrier; carriers cap binds per account far
	// lower.
	MaxBinds = 64
)

// Config is the `smpp:` section of one carrier in the gateway's YAML. The
// gateway's loader reports errors under `carriers[i].smpp.`; Validate's
// messages start with the field name relative to this section.
type Config struct {
	Host       string `yaml:"host"`
	Port       int    `yaml:"port"`
	SystemID   string `yaml:"system_id"`
	Password   string `yaml:"password"`
	SystemType string `yaml:"system_type"`
	// Bind is the bind mode: "transceiver" (the default) or
	// "transmitter_receiver" (each bind is a transmitter and a receiver).
	Bind string `yaml:"bind"`
	// ReceiverHost and ReceiverPort are where the receivers of
	// transmitter_receiver pairs bind (default Host and Port).
	ReceiverHost string `yaml:"receiver_host"`
	ReceiverPort int    `yaml:"receiver_port"`
	// AddressRange is the bind's address_range, which some carriers use to
	// route MO for a shortcode to this account (default empty).
	AddressRange string `yaml:"address_range"`
	// TLS wraps every bind in TLS (SMPP over TLS, usually port 3550).
	TLS bool `yaml:"tls"`
	// CAFile is a PEM bundle the carrier's certificate must chain to
	// (default: the system roots); only with tls.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the certificate must carry (default Host);
	// only with tls.
	ServerName string `yaml:"server_name"`
	// Binds is how many parallel binds to open (default 1). With a shared
	// store it is the total for the cluster (gateway.BindSlots).
	Binds int `yaml:"binds"`
	// Window is how many submit_sm may await their response per bind
	// (default 10, at most 1000).
	Window int `yaml:"window"`
	// TPS caps submit_sm per second over all binds of the carrier; 0 means
	// unlimited.
	TPS float64 `yaml:"tps"`
	// EnquireLink is the keep-alive interval (default 30s).
	EnquireLink time.Duration `yaml:"enquire_link"`
	// ResponseTimeout is how long a submit_sm may wait for its response, and
	// bounds binding and writes (default 10s).
	ResponseTimeout time.Duration `yaml:"response_timeout"`
	// RebindInterval caps the exponential backoff (with jitter) between
	// connection attempts after a lost link or a failed dial (default 5s).
	// A refused bind (bad credentials, too many binds) waits at least this
	// long and up to 12 times it, so a misconfigured account never loops.
	RebindInterval time.Duration `yaml:"rebind_interval"`
	// ThrottlePause is how long the whole carrier holds sending after an
	// ESME_RTHROTTLED or ESME_RMSGQFUL (default 1s, as Kannel does).
	ThrottlePause time.Duration `yaml:"throttle_pause"`
	// MOTimeout is how long the parts of a concatenated MO wait for their
	// siblings; after it the parts received are stored as one message
	// marked incomplete (default 1m).
	MOTimeout time.Duration `yaml:"mo_timeout"`
	// MOResendWindow is how far back a single-part MO without an id, on a
	// link bound since, looks for an identical one (sender, recipient,
	// text) received on an earlier link: that one was stored and its
	// deliver_sm_resp lost (the gateway died), so this is the carrier's
	// resend and is not stored again (default 1m).
	MOResendWindow time.Duration `yaml:"mo_resend_window"`
	// Concat is how long messages are sent: "udh8" (default), "udh16",
	// "sar" or "payload" (the smstext.Concat* modes: 8- or 16-bit
	// reference UDH, SAR TLVs, one message_payload). Every mode keeps the
	// part count smstext.Count gave at accept time.
	Concat string `yaml:"concat"`
	// DefaultAlphabet is what the carrier means by data_coding 0: "gsm7"
	// (default), "latin1" or "ascii" (smstext.Alphabet*); SMPP 3.4 leaves
	// it to the SMSC. GSM texts are then written in that
	// alphabet, one octet per character, with the same parts; MO with
	// data_coding 0 is read in it.
	DefaultAlphabet string `yaml:"default_alphabet"`
	// Latin1 sends texts that fit ISO-8859-1 but not GSM 03.38 as
	// data_coding 3 instead of UCS-2, when that gives the same part count
	// (for carriers whose UCS-2 handling is poor).
	Latin1 bool `yaml:"latin1"`
	// SubmitIDFormat and ReceiptIDFormat say how the carrier writes message
	// ids in submit_sm_resp and in receipts ("string", "hex", "dec"), so
	// both normalize to the same carrier id. Unset (or "auto") on both
	// sides, a receipt's id is tried as written, then read as the other
	// base (smstext.AltIDs), as Kannel does when msg-id-type is unset.
	SubmitIDFormat  smstext.IDFormat `yaml:"submit_id_format"`
	ReceiptIDFormat smstext.IDFormat `yaml:"receipt_id_format"`
	// ReceiptWindow is how long after a submission a receipt may still
	// apply to it: the longest validity the carrier gives a message, plus a
	// margin (default gateway.DefaultReceiptWindow, 7 days). A receipt for
	// an id submitted earlier than that is an older use of a recycled id.
	ReceiptWindow time.Duration `yaml:"receipt_window"`
	// PackGSM7 sends GSM 7-bit text packed (8 septets in 7 octets), for the
	// few carriers that want it; default unpacked.
	PackGSM7 bool `yaml:"pack_gsm7"`
	// SourceTON and SourceNPI apply to numeric senders without '+' longer
	// than a shortcode (default 0/0, "unknown").
	SourceTON *int `yaml:"source_ton"`
	SourceNPI *int `yaml:"source_npi"`
	// AlphaTON/AlphaNPI apply to alphanumeric senders (default 5/0),
	// ShortcodeTON/ShortcodeNPI to numeric senders of at most 8 digits
	// (default 3/0), IntlTON/IntlNPI to "+digits" senders (default 1/1).
	AlphaTON     *int `yaml:"alpha_ton"`
	AlphaNPI     *int `yaml:"alpha_npi"`
	ShortcodeTON *int `yaml:"shortcode_ton"`
	ShortcodeNPI *int `yaml:"shortcode_npi"`
	IntlTON      *int `yaml:"intl_ton"`
	IntlNPI      *int `yaml:"intl_npi"`
	// DestTON and DestNPI apply to destinations, which are E.164 without '+'
	// (default 1/1).
	DestTON *int `yaml:"dest_ton"`
	DestNPI *int `yaml:"dest_npi"`
	// Tenant owns the inbound (MO) messages arriving on this carrier. Empty:
	// the tenant whose sender ids include the number the client wrote to,
	// else the first tenant.
	Tenant string `yaml:"tenant"`
}

// InboundTenant names the tenant that owns this carrier's MO messages, so
// the config loader can check that it exists.
func (c *Config) InboundTenant() string { return c.Tenant }

// MaxTPS is the configured cap on submissions per second (0: none), for
// the operator's view of the carrier (smsgw carriers).
func (c *Config) MaxTPS() float64 { return c.TPS }

// Validate checks the section and fills in defaults for fields left zero:
// bind "transceiver", binds 1, window 10, enquire_link 30s,
// response_timeout 10s, rebind_interval 5s, throttle_pause 1s, mo_timeout
// 1m, mo_resend_window 1m, concat "udh8", default_alphabet "gsm7", source_ton/npi 0, dest_ton/npi
// 1, alpha 5/0, shortcode 3/0, intl 1/1. It reports every problem, each message starting with its field name
// (e.g. "port: must be 1..65535"), so the config loader can prefix the path.
func (c *Config) Validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}

	if c.Host == "" {
		bad("host", "required")
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("port", "must be 1..65535, got %d", c.Port)
	}
	switch {
	case c.SystemID == "":
		bad("system_id", "required")
	case len(c.SystemID) > 15:
		bad("system_id", "must be at most 15 characters (SMPP 3.4 §5.2.1), got %d", len(c.SystemID))
	}
	if len(c.SystemType) > 12 {
		bad("system_type", "must be at most 12 characters (SMPP 3.4 §5.2.2), got %d", len(c.SystemType))
	}
	switch c.Bind {
	case "":
		c.Bind = BindTransceiver
	case BindTransceiver, BindPair:
	case bindTransmitter, bindReceiver:
		bad("bind", "%q alone is not supported: use %q or %q (receipts need a receiving bind)", c.Bind, BindTransceiver, BindPair)
	default:
		bad("bind", "must be %q or %q, got %q", BindTransceiver, BindPair, c.Bind)
	}
	if c.ReceiverPort < 0 || c.ReceiverPort > 65535 {
		bad("receiver_port", "must be 1..65535, got %d", c.ReceiverPort)
	}
	if (c.ReceiverHost != "" || c.ReceiverPort != 0) && c.Bind != BindPair {
		bad("receiver_host", "only with bind %q", BindPair)
	}
	if len(c.AddressRange) > 40 {
		bad("address_range", "must be at most 40 characters (SMPP 3.4 §5.2.7), got %d", len(c.AddressRange))
	}
	if !c.TLS && (c.CAFile != "" || c.ServerName != "") {
		bad("tls", "ca_file and server_name need tls: true")
	}
	switch c.Concat {
	case "":
		c.Concat = smstext.ConcatUDH8
	case smstext.ConcatUDH8, smstext.ConcatUDH16, smstext.ConcatSAR, smstext.ConcatPayload:
	default:
		bad("concat", "must be %q, %q, %q or %q, got %q", smstext.ConcatUDH8, smstext.ConcatUDH16, smstext.ConcatSAR, smstext.ConcatPayload, c.Concat)
	}
	switch c.DefaultAlphabet {
	case "":
		c.DefaultAlphabet = smstext.AlphabetGSM7
	case smstext.AlphabetGSM7, smstext.AlphabetLatin1, smstext.AlphabetASCII:
	default:
		bad("default_alphabet", "must be %q, %q or %q, got %q", smstext.AlphabetGSM7, smstext.AlphabetLatin1, smstext.AlphabetASCII, c.DefaultAlphabet)
	}
	switch {
	case c.Binds == 0:
		c.Binds = DefaultBinds
	case c.Binds < 1 || c.Binds > MaxBinds:
		bad("binds", "must be 1..%d, got %d", MaxBinds, c.Binds)
	}
	switch {
	case c.Window == 0:
		c.Window = DefaultWindow
	case c.Window < 1 || c.Window > MaxWindow:
		bad("window", "must be 1..%d, got %d", MaxWindow, c.Window)
	}
	if c.TPS < 0 {
		bad("tps", "must be ≥ 0 (0 = unlimited), got %v", c.TPS)
	}
	durations := []struct {
		field string
		v     *time.Duration
		def   time.Duration
	}{
		{"enquire_link", &c.EnquireLink, DefaultEnquireLink},
		{"response_timeout", &c.ResponseTimeout, DefaultResponseTimeout},
		{"rebind_interval", &c.RebindInterval, DefaultRebindInterval},
		{"throttle_pause", &c.ThrottlePause, DefaultThrottlePause},
		{"mo_timeout", &c.MOTimeout, DefaultMOTimeout},
		{"mo_resend_window", &c.MOResendWindow, DefaultMOResendWindow},
	}
	for _, d := range durations {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			bad(d.field, "must be positive, got %v", *d.v)
		}
	}
	for _, f := range []struct {
		field string
		v     smstext.IDFormat
	}{{"submit_id_format", c.SubmitIDFormat}, {"receipt_id_format", c.ReceiptIDFormat}} {
		switch f.v {
		case "", smstext.IDString, smstext.IDHex, smstext.IDDec, smstext.IDAuto:
		default:
			bad(f.field, "must be %q, %q, %q or %q, got %q", smstext.IDAuto, smstext.IDString, smstext.IDHex, smstext.IDDec, f.v)
		}
	}
	if c.ReceiptWindow < 0 {
		bad("receipt_window", "must be positive, got %v", c.ReceiptWindow)
	}
	addrs := []struct {
		field    string
		v        **int
		def, max int
	}{
		{"source_ton", &c.SourceTON, 0, 6},
		{"source_npi", &c.SourceNPI, 0, 18},
		{"dest_ton", &c.DestTON, DefaultDestTON, 6},
		{"dest_npi", &c.DestNPI, DefaultDestNPI, 18},
		{"alpha_ton", &c.AlphaTON, 5, 6},
		{"alpha_npi", &c.AlphaNPI, 0, 18},
		{"shortcode_ton", &c.ShortcodeTON, DefaultShortcodeTON, 6},
		{"shortcode_npi", &c.ShortcodeNPI, DefaultShortcodeNPI, 18},
		{"intl_ton", &c.IntlTON, 1, 6},
		{"intl_npi", &c.IntlNPI, 1, 18},
	}
	for _, a := range addrs {
		switch {
		case *a.v == nil:
			v := a.def
			*a.v = &v
		case **a.v < 0 || **a.v > a.max:
			bad(a.field, "must be 0..%d, got %d", a.max, **a.v)
		}
	}
	return errs
}

// addr is host:port for dialing.
func (c *Config) addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// receiverAddr is where the receivers of transmitter_receiver pairs dial.
func (c *Config) receiverAddr() string {
	host, port := c.Host, c.Port
	if c.ReceiverHost != "" {
		host = c.ReceiverHost
	}
	if c.ReceiverPort != 0 {
		port = c.ReceiverPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func intOr(p *int, def int) byte {
	if p == nil {
		return byte(def)
	}
	return byte(*p)
}
