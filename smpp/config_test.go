package smpp

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/openmf/smsgw/smstext"
)

func validConfig() Config {
	return Config{Host: "smsc.example.net", Port: 2775, SystemID: "mfi", Password: "secret"}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig()
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if c.Bind != "transceiver" || c.Binds != 1 || c.Window != 10 || c.TPS != 0 ||
		c.EnquireLink != 30*time.Second || c.ResponseTimeout != 10*time.Second || c.RebindInterval != 5*time.Second ||
		*c.SourceTON != 0 || *c.SourceNPI != 0 || *c.DestTON != 1 || *c.DestNPI != 1 ||
		c.ThrottlePause != time.Second || c.MOTimeout != time.Minute || c.Concat != smstext.ConcatUDH8 ||
		c.DefaultAlphabet != smstext.AlphabetGSM7 || *c.AlphaTON != 5 || *c.AlphaNPI != 0 ||
		*c.ShortcodeTON != 3 || *c.ShortcodeNPI != 0 || *c.IntlTON != 1 || *c.IntlNPI != 1 {
		t.Fatalf("defaults not filled: %+v", c)
	}
	// Explicit zeros for TON/NPI are kept, not replaced by the defaults.
	zero := 0
	c = validConfig()
	c.DestTON, c.DestNPI = &zero, &zero
	c.Validate()
	if *c.DestTON != 0 || *c.DestNPI != 0 {
		t.Fatalf("explicit dest_ton/npi 0 overwritten: %d/%d", *c.DestTON, *c.DestNPI)
	}
}

func TestConfigErrors(t *testing.T) {
	neg := -1
	big := 7
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"host", func(c *Config) { c.Host = "" }, "host: required"},
		{"port zero", func(c *Config) { c.Port = 0 }, "port: must be 1..65535, got 0"},
		{"port high", func(c *Config) { c.Port = 70000 }, "port: must be 1..65535, got 70000"},
		{"system_id", func(c *Config) { c.SystemID = "" }, "system_id: required"},
		{"system_id long", func(c *Config) { c.SystemID = strings.Repeat("x", 16) }, "system_id: must be at most 15 characters (SMPP 3.4 §5.2.1), got 16"},
		{"system_type long", func(c *Config) { c.SystemType = strings.Repeat("x", 13) }, "system_type: must be at most 12 characters (SMPP 3.4 §5.2.2), got 13"},
		{"bind transmitter", func(c *Config) { c.Bind = "transmitter" }, `bind: "transmitter" alone is not supported: use "transceiver" or "transmitter_receiver" (receipts need a receiving bind)`},
		{"bind receiver", func(c *Config) { c.Bind = "receiver" }, `bind: "receiver" alone is not supported: use "transceiver" or "transmitter_receiver" (receipts need a receiving bind)`},
		{"bind other", func(c *Config) { c.Bind = "trx" }, `bind: must be "transceiver" or "transmitter_receiver", got "trx"`},
		{"receiver_host without pair", func(c *Config) { c.ReceiverHost = "rx.example.net" }, `receiver_host: only with bind "transmitter_receiver"`},
		{"receiver_port", func(c *Config) { c.Bind, c.ReceiverPort = BindPair, 70000 }, "receiver_port: must be 1..65535, got 70000"},
		{"address_range", func(c *Config) { c.AddressRange = strings.Repeat("1", 41) }, "address_range: must be at most 40 characters (SMPP 3.4 §5.2.7), got 41"},
		{"ca_file without tls", func(c *Config) { c.CAFile = "ca.pem" }, "tls: ca_file and server_name need tls: true"},
		{"concat", func(c *Config) { c.Concat = "udh" }, `concat: must be "udh8", "udh16", "sar" or "payload", got "udh"`},
		{"default_alphabet", func(c *Config) { c.DefaultAlphabet = "cp1252" }, `default_alphabet: must be "gsm7", "latin1" or "ascii", got "cp1252"`},
		{"throttle_pause", func(c *Config) { c.ThrottlePause = -time.Second }, "throttle_pause: must be positive, got -1s"},
		{"mo_timeout", func(c *Config) { c.MOTimeout = -time.Second }, "mo_timeout: must be positive, got -1s"},
		{"shortcode_ton", func(c *Config) { c.ShortcodeTON = &big }, "shortcode_ton: must be 0..6, got 7"},
		{"binds", func(c *Config) { c.Binds = -1 }, "binds: must be 1..64, got -1"},
		{"binds high", func(c *Config) { c.Binds = 65 }, "binds: must be 1..64, got 65"},
		{"window", func(c *Config) { c.Window = -3 }, "window: must be 1..1000, got -3"},
		{"window high", func(c *Config) { c.Window = 1001 }, "window: must be 1..1000, got 1001"},
		{"tps", func(c *Config) { c.TPS = -1 }, "tps: must be ≥ 0 (0 = unlimited), got -1"},
		{"enquire_link", func(c *Config) { c.EnquireLink = -time.Second }, "enquire_link: must be positive, got -1s"},
		{"response_timeout", func(c *Config) { c.ResponseTimeout = -time.Second }, "response_timeout: must be positive, got -1s"},
		{"rebind_interval", func(c *Config) { c.RebindInterval = -time.Second }, "rebind_interval: must be positive, got -1s"},
		{"submit_id_format", func(c *Config) { c.SubmitIDFormat = "base36" }, `submit_id_format: must be "auto", "string", "hex" or "dec", got "base36"`},
		{"receipt_id_format", func(c *Config) { c.ReceiptIDFormat = "HEX" }, `receipt_id_format: must be "auto", "string", "hex" or "dec", got "HEX"`},
		{"source_ton", func(c *Config) { c.SourceTON = &big }, "source_ton: must be 0..6, got 7"},
		{"dest_npi", func(c *Config) { c.DestNPI = &neg }, "dest_npi: must be 0..18, got -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			errs := c.Validate()
			if len(errs) != 1 || errs[0].Error() != tc.want {
				t.Fatalf("errors %q, want exactly %q", errs, tc.want)
			}
		})
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	var c Config
	errs := c.Validate()
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{"host: required", "port: must be 1..65535, got 0", "system_id: required"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
host: 10.0.0.5
port: 2775
system_id: mfi
password: secret
system_type: VMA
binds: 2
window: 50
tps: 120
enquire_link: 15s
response_timeout: 8s
rebind_interval: 2s
submit_id_format: hex
receipt_id_format: dec
pack_gsm7: true
source_ton: 5
source_npi: 0
dest_ton: 1
dest_npi: 1
tenant: mfi-a
bind: transmitter_receiver
receiver_host: 10.0.0.6
receiver_port: 2776
address_range: "^22345$"
tls: true
ca_file: /etc/smsgw/carrier-ca.pem
server_name: smsc.carrier.example
throttle_pause: 500ms
mo_timeout: 30s
concat: sar
default_alphabet: latin1
latin1: true
alpha_ton: 5
shortcode_ton: 0
shortcode_npi: 1
intl_ton: 1
intl_npi: 1
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if c.Host != "10.0.0.5" || c.Port != 2775 || c.SystemType != "VMA" || c.Binds != 2 || c.Window != 50 ||
		c.TPS != 120 || c.EnquireLink != 15*time.Second || c.ResponseTimeout != 8*time.Second ||
		c.RebindInterval != 2*time.Second || c.SubmitIDFormat != smstext.IDHex || c.ReceiptIDFormat != smstext.IDDec ||
		!c.PackGSM7 || *c.SourceTON != 5 || *c.DestNPI != 1 || c.Tenant != "mfi-a" ||
		c.Bind != BindPair || c.receiverAddr() != "10.0.0.6:2776" || c.AddressRange != "^22345$" || !c.TLS ||
		c.CAFile == "" || c.ServerName != "smsc.carrier.example" || c.ThrottlePause != 500*time.Millisecond ||
		c.MOTimeout != 30*time.Second || c.Concat != smstext.ConcatSAR || c.DefaultAlphabet != smstext.AlphabetLatin1 || !c.Latin1 ||
		*c.ShortcodeTON != 0 || *c.ShortcodeNPI != 1 {
		t.Fatalf("decoded %+v", c)
	}
}

func TestNewPoolRejectsInvalidConfig(t *testing.T) {
	_, err := NewPool("carrier-a", Config{Port: 2775}, Options{})
	if err == nil || !strings.Contains(err.Error(), `smpp: carrier "carrier-a": host: required`) ||
		!strings.Contains(err.Error(), "system_id: required") {
		t.Fatalf("error %v", err)
	}
}
