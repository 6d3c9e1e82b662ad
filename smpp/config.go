package smpp

import (
	"fmt"
	"time"
)

// Bind modes. Only transceiver is supported: one connection carries submits,
// receipts and MO, which is what nearly every carrier offers and what keeps
// receipts on the bind that can acknowledge them.
const (
	BindTransceiver = "transceiver"
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
	// Bind is the bind mode; only "transceiver" (the default) is supported.
	Bind string `yaml:"bind"`
	// Binds is how many parallel binds to open (default 1).
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
	// RebindInterval is the pause between reconnection attempts once a bind
	// was lost, and the cap of the initial connection backoff (default 5s).
	RebindInterval time.Duration `yaml:"rebind_interval"`
	// SubmitIDFormat and ReceiptIDFormat say how the carrier writes message
	// ids in submit_sm_resp and in receipts ("string", "hex", "dec"), so
	// both normalize to the same carrier id.
	SubmitIDFormat  IDFormat `yaml:"submit_id_format"`
	ReceiptIDFormat IDFormat `yaml:"receipt_id_format"`
	// PackGSM7 sends GSM 7-bit text packed (8 septets in 7 octets), for the
	// few carriers that want it; default unpacked.
	PackGSM7 bool `yaml:"pack_gsm7"`
	// SourceTON and SourceNPI apply to numeric senders without '+' (default
	// 0/0, "unknown"); alphanumeric senders always go as TON 5, NPI 0 and
	// "+digits" as TON 1, NPI 1.
	SourceTON *int `yaml:"source_ton"`
	SourceNPI *int `yaml:"source_npi"`
	// DestTON and DestNPI apply to destinations, which are E.164 without '+'
	// (default 1/1).
	DestTON *int `yaml:"dest_ton"`
	DestNPI *int `yaml:"dest_npi"`
	// Tenant owns the inbound (MO) messages arriving on this carrier.
	Tenant string `yaml:"tenant"`
}

// Validate checks the section and fills in defaults for fields left zero:
// bind "transceiver", binds 1, window 10, enquire_link 30s,
// response_timeout 10s, rebind_interval 5s, source_ton/npi 0, dest_ton/npi
// 1. It reports every problem, each message starting with its field name
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
	case BindTransceiver:
	case bindTransmitter, bindReceiver:
		bad("bind", "%q is not supported: transceiver is the supported mode (receipts and MO must arrive on the bind that submits)", c.Bind)
	default:
		bad("bind", "must be %q, got %q", BindTransceiver, c.Bind)
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
		v     IDFormat
	}{{"submit_id_format", c.SubmitIDFormat}, {"receipt_id_format", c.ReceiptIDFormat}} {
		switch f.v {
		case "", IDString, IDHex, IDDec:
		default:
			bad(f.field, "must be %q, %q or %q, got %q", IDString, IDHex, IDDec, f.v)
		}
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
func (c *Config) addr() string { return fmt.Sprintf("%s:%d", c.Host, c.Port) }

func intOr(p *int, def int) byte {
	if p == nil {
		return byte(def)
	}
	return byte(*p)
}
