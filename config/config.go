package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"go.yaml.in/yaml/v3"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/gateway/keyword"
	"github.com/openmf/smsgw/gateway/limits"
	"github.com/openmf/smsgw/gateway/store"
	"github.com/openmf/smsgw/httpapi/console"
	"github.com/openmf/smsgw/httpapi/kannel"
	"github.com/openmf/smsgw/httpapi/messagegateway"
	"github.com/openmf/smsgw/internal/guard"
	"github.com/openmf/smsgw/routing"
	smppserver "github.com/openmf/smsgw/smpp/server"
	"github.com/openmf/smsgw/webhook"
)

// Config is the whole file.
type Config struct {
	Listen   Listen          `yaml:"listen"`
	Store    store.Config    `yaml:"store"`
	Gateway  Gateway         `yaml:"gateway"`
	Tenants  []Tenant        `yaml:"tenants"`
	Carriers []Carrier       `yaml:"carriers"`
	Routes   []routing.Route `yaml:"routes"`
	// Breaker says when a carrier counts as failing; see routing.BreakerConfig.
	Breaker routing.BreakerConfig `yaml:"breaker"`
	Admin   Admin                 `yaml:"admin"`
	// Keywords route inbound messages (MO) by their first word.
	Keywords []Keyword `yaml:"keywords"`
	// Webhooks says where the gateway may call out to.
	Webhooks webhook.Config `yaml:"webhooks"`
	// MessageGateway holds what the Fineract message-gateway API shares by
	// all tenants.
	MessageGateway MessageGateway `yaml:"message_gateway"`
	// Kannel, when set, serves Kannel's sendsms and status on its own
	// listener (apps written for Kannel switch unchanged).
	Kannel *kannel.Config `yaml:"kannel"`
	// SMPPServer, when set, lets downstream applications bind to smsgw
	// over SMPP as to a carrier (docs/smpp-server.md).
	SMPPServer *smppserver.Config `yaml:"smpp_server"`
	// Limits bound every listener and slow down credential guessing; see
	// docs/security.md.
	Limits Limits `yaml:"limits"`
	// Console, when set, serves the web console under /console/ on the
	// HTTP listener to its users; see docs/console.md.
	Console *console.Config `yaml:"console"`
}

// Limits is the `limits` section: the interfaces' bounds (listeners,
// failed-login back-off, CORS) and the engine's auto-reply limit.
type Limits struct {
	guard.Config `yaml:",inline"`
	// AutoReply limits automatic replies per number and per tenant.
	AutoReply limits.AutoReplyConfig `yaml:"auto_reply"`
}

// MessageGateway is the `message_gateway` section.
type MessageGateway struct {
	// EndPoint is Fineract's end_point setting: the API is served under
	// /{end_point} as well as at the root.
	EndPoint string `yaml:"end_point"`
	// ReportHorizon is how long POST /sms/report keeps a message waiting
	// (150) for a fact that may still come: the POST of an id smsgw never
	// received, or the receipt of a message a carrier took. Past it the
	// answer is final (400 never received; 200 sent). Default 72h, or half
	// of gateway.event_retention when that is shorter: it must be shorter
	// than the retention, which prunes the record of when an id was first
	// asked for.
	ReportHorizon time.Duration `yaml:"report_horizon"`
}

// Keyword is one keyword rule (see gateway/keyword). Without an action it
// only marks the message for adapters following the event stream.
type Keyword struct {
	Name       string   `yaml:"name"` // default: the keyword
	Tenants    []string `yaml:"tenants"`
	Shortcodes []string `yaml:"shortcodes"`
	Keyword    string   `yaml:"keyword"`
	Aliases    []string `yaml:"aliases"`
	Regex      string   `yaml:"regex"`
	Default    bool     `yaml:"default"`
	Reply      string   `yaml:"reply"`
	Webhook    *struct {
		URL    string `yaml:"url"`
		Secret string `yaml:"secret"`
	} `yaml:"webhook"`
	// Kannel is an sms-service: its get-url or post-url answer is the reply.
	Kannel *kannel.Service `yaml:"kannel"`
	// Frontline forwards the message to a FrontlineSMS cloud webhook.
	Frontline *kannel.Frontline `yaml:"frontline"`
}

// TaskKind is the outbox task kind the rule's action needs a handler for,
// besides the engine's own replies ("" for none): a reload refuses a rule
// whose handler the running gateway does not have.
func (k *Keyword) TaskKind() string {
	if k.Webhook != nil {
		return gateway.TaskWebhook
	}
	return k.serviceKind()
}

// serviceKind is the interface service the rule hands its messages to.
func (k *Keyword) serviceKind() string {
	switch {
	case k.Kannel != nil:
		return kannel.ServiceKind
	case k.Frontline != nil:
		return kannel.FrontlineKind
	}
	return ""
}

// OptOut is a tenant's STOP/START/HELP wording and policy; see
// gateway.OptOut for the defaults.
type OptOut struct {
	StopWords          []string `yaml:"stop_words"`
	StartWords         []string `yaml:"start_words"`
	HelpWords          []string `yaml:"help_words"`
	StopReply          string   `yaml:"stop_reply"`
	StartReply         string   `yaml:"start_reply"`
	HelpReply          string   `yaml:"help_reply"`
	AllowTransactional bool     `yaml:"allow_transactional"`
}

// Admin holds the operators' access to the Admin gRPC service.
type Admin struct {
	APIKeys []string `yaml:"api_keys"` // admin keys open the Admin service only
	// PProf serves Go's profiler under /debug/pprof/ on the HTTP listener,
	// to requests carrying an admin key ("Authorization: Bearer KEY"), so
	// an operator can profile a live node. Off by default.
	PProf bool `yaml:"pprof"`
}

// Listen holds the addresses smsgw serves on. 9191 is the port Fineract
// expects of a message gateway.
type Listen struct {
	GRPC    string `yaml:"grpc"`     // default 127.0.0.1:9190
	HTTP    string `yaml:"http"`     // default 127.0.0.1:9191; /metrics, /healthz, /readyz
	GRPCTLS *TLS   `yaml:"grpc_tls"` // TLS (and mutual TLS) for the gRPC listener
}

// TLS is a listener's certificate and, for mutual TLS, the CA that signs the
// clients' certificates (Mifos-side adapters on another machine).
type TLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"` // set: clients must present a certificate it signed
}

// ServerConfig loads the files into a crypto/tls configuration.
func (t *TLS) ServerConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file, key_file: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client_ca_file: %s holds no PEM certificate", t.ClientCAFile)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// Gateway tunes the engine; every field has a working default.
type Gateway struct {
	MaxParts int `yaml:"max_parts"` // longest text accepted, in SMS parts; default 10
	// ScheduleHorizon is how far from now a message's not_before and
	// expires_at may lie, either way; default 8760h (a year), at most 100
	// years.
	ScheduleHorizon time.Duration `yaml:"schedule_horizon"`
	MaxBatch        int           `yaml:"max_batch"`    // most messages in one SendBatch; default 1000
	MaxAttempts     int           `yaml:"max_attempts"` // submission attempts before FAILED; default 12
	RetryBase       time.Duration `yaml:"retry_base"`   // first retry delay; default 2s
	RetryMax        time.Duration `yaml:"retry_max"`    // retry delay cap; default 5m
	// EventRetention drops events older than this (adapters must have read
	// them by then); default 720h (30 days); negative keeps them forever.
	EventRetention time.Duration `yaml:"event_retention"`
}

// Tenant is one MFI (or one Fineract tenant) using the gateway.
type Tenant struct {
	ID            string   `yaml:"id"`
	APIKeys       []string `yaml:"api_keys"`
	DefaultRegion string   `yaml:"default_region"` // ISO 3166, for national numbers
	Sender        string   `yaml:"sender"`         // default sender id
	Senders       []string `yaml:"senders"`        // further allowed sender ids
	Rate          float64  `yaml:"rate"`           // messages accepted per second; 0: no limit
	Burst         int      `yaml:"burst"`          // accepted at once above rate; default: rate
	// Weight is the tenant's share of each dispatch round against the other
	// tenants with messages due (default 1): one tenant's backlog or
	// high-priority flood cannot hold back another's messages.
	Weight int     `yaml:"weight"`
	OptOut *OptOut `yaml:"opt_out"` // STOP/START/HELP; defaults when absent
	// Fraud limits where the tenant's messages may go and how much and how
	// fast it may spend (see limits.FraudConfig); absent, only the
	// high-risk ranges are denied.
	Fraud *limits.FraudConfig `yaml:"fraud"`
	// Fineract lets Apache Fineract send through this tenant with its
	// message-gateway API (on the HTTP listener).
	Fineract *messagegateway.TenantConfig `yaml:"fineract"`
}

// Carrier is one way out: an SMPP bind pool straight to an operator, or a
// cloud provider's HTTP API. In the file it is its name and exactly one
// section, whose key is the connector's kind:
//
//   - name: carrier-a
//     smpp: {host: …}
//
// The section is decoded into the kind's own config type (Kinds says which),
// which validates itself.
type Carrier struct {
	Name    string
	Kind    string  // the key of its section: smpp, twilio, …
	Section Section // *smpp.Config for smpp, and so on

	node     *yaml.Node // the section as read, until Parse decodes it
	keys     []string   // every key besides name, to refuse two sections
	fromFile bool       // Parse reports a file's missing section itself
}

// Section is one carrier kind's part of the file, decoded into the type its
// connector package owns.
type Section interface {
	// Validate reports every problem, each naming its key
	// ("binds: must be ≥ 1"); the loader prefixes the carrier's path.
	Validate() []error
}

// Kind is one carrier kind as the loader sees it: the key of its section
// and how to make the empty section it decodes into.
type Kind struct {
	Name    string
	Section func() Section
}

// Kinds are the carrier kinds a loader knows, in the order errors list
// them. The composition root (app) holds the one registration list and
// derives this from it.
type Kinds []Kind

func (ks Kinds) find(name string) (Kind, bool) {
	i := slices.IndexFunc(ks, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return ks[i], true
}

func (ks Kinds) String() string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.Name
	}
	return strings.Join(names, ", ")
}

// UnmarshalYAML keeps the section undecoded: only Parse, which knows the
// kinds, can tell what type it is.
func (c *Carrier) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a carrier is a mapping of name and one section", n.Line)
	}
	c.fromFile = true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		if k == "name" {
			if err := v.Decode(&c.Name); err != nil {
				return err
			}
			continue
		}
		c.keys = append(c.keys, k)
		c.Kind, c.node = k, v
	}
	return nil
}

// decodeSections turns each carrier's section into its kind's type. It
// returns the file's shape problems (no section, two, an unknown kind),
// which are reported with the validation errors, apart from the decoding
// errors, which stop the load as the file's own decoding errors do.
func (c *Config) decodeSections(kinds Kinds) (shape, decoding []error) {
	for i := range c.Carriers {
		cr := &c.Carriers[i]
		p := fmt.Sprintf("carriers[%d]", i)
		k, known := kinds.find(cr.Kind)
		switch {
		case len(cr.keys) != 1:
			shape = append(shape, fmt.Errorf("%s: exactly one of %s is required, not %d", p, kinds, len(cr.keys)))
			continue
		case !known:
			shape = append(shape, fmt.Errorf("%s.%s: unknown carrier kind (known: %s)", p, cr.Kind, kinds))
			continue
		}
		cr.Section = k.Section()
		decoding = append(decoding, decodeStrict(cr.node, cr.Section)...)
		cr.node, cr.keys = nil, nil
	}
	return shape, decoding
}

// decodeStrict decodes a node refusing unknown keys, as the file's decoder
// does (yaml.Node.Decode alone would accept them), with the errors' line
// numbers those of the file.
func decodeStrict(n *yaml.Node, v any) []error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return []error{err}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var again yaml.Node
		_ = yaml.Unmarshal(b, &again)
		lines := map[int]int{}
		if len(again.Content) == 1 {
			sameLines(again.Content[0], n, lines)
		}
		errs := yamlErrors(err)
		for i, e := range errs {
			msg := e.Error()
			if m := lineNo.FindStringSubmatch(msg); m != nil {
				l, _ := strconv.Atoi(m[1])
				if fileLine, ok := lines[l]; ok {
					msg = fmt.Sprintf("line %d:%s", fileLine, msg[len(m[0]):])
				} else {
					msg = fmt.Sprintf("line %d:%s", n.Line, msg[len(m[0]):])
				}
			}
			errs[i] = errors.New(msg)
		}
		return errs
	}
	return nil
}

// sameLines maps the lines of a re-encoded tree to the file's, walking
// both trees, which have the same shape, together.
func sameLines(again, orig *yaml.Node, lines map[int]int) {
	if _, seen := lines[again.Line]; !seen {
		lines[again.Line] = orig.Line
	}
	for i := range min(len(again.Content), len(orig.Content)) {
		sameLines(again.Content[i], orig.Content[i], lines)
	}
}

var lineNo = regexp.MustCompile(`^line (\d+):`)

// Load reads, expands and validates a config file whose carriers are of
// the given kinds.
func Load(path string, kinds Kinds) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f, kinds)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a config from r; see Load. The error, when not nil, is an
// *Errors listing every problem.
func Parse(r io.Reader, kinds Kinds) (*Config, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, &Errors{List: yamlErrors(err)} // not YAML at all
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	var errs []error
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		// A type error leaves the rest decoded: go on to find the
		// sections' own decoding errors and the validation errors too,
		// so one run reports every problem.
		if te := (*yaml.TypeError)(nil); !errors.As(err, &te) {
			return nil, &Errors{List: yamlErrors(err)}
		}
		errs = yamlErrors(err)
	}
	shape, decoding := c.decodeSections(kinds)
	errs = append(errs, decoding...)
	invalid := shape
	expandEnv(reflect.ValueOf(&c).Elem(), "", &invalid)
	for i, cr := range c.Carriers {
		if cr.Section != nil {
			expandEnv(reflect.ValueOf(cr.Section), fmt.Sprintf("carriers[%d].%s", i, cr.Kind), &invalid)
		}
	}
	if err := Complete(&c); err != nil {
		invalid = append(invalid, err.(*Errors).List...)
	}
	if all := diagnose(&root, kinds, errs, invalid); len(all) > 0 {
		return nil, &Errors{List: all}
	}
	return &c, nil
}

// Complete fills the defaults of a config built in code (the demo, tests)
// and validates it like a file; the error, when not nil, is an *Errors.
func Complete(c *Config) error {
	c.setDefaults()
	if errs := c.validate(); len(errs) > 0 {
		return &Errors{List: errs}
	}
	return nil
}

// Errors is every problem found in a file.
type Errors struct{ List []error }

func (e *Errors) Error() string {
	var b strings.Builder
	for i, err := range e.List {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func yamlErrors(err error) []error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make([]error, len(te.Errors))
		for i, s := range te.Errors {
			s = strings.Replace(s, "not found in type", "is not a known key in", 1)
			out[i] = errors.New(s)
		}
		return out
	}
	return []error{err}
}

func (c *Config) setDefaults() {
	if c.Listen.GRPC == "" {
		c.Listen.GRPC = "127.0.0.1:9190"
	}
	if c.Listen.HTTP == "" {
		c.Listen.HTTP = "127.0.0.1:9191"
	}
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	for i := range c.Tenants { // regions are ISO codes: "ke" is KE, once, here
		c.Tenants[i].DefaultRegion = strings.ToUpper(strings.TrimSpace(c.Tenants[i].DefaultRegion))
		if f := c.Tenants[i].Fraud; f != nil {
			f.SetDefaults()
		}
	}
	if c.Store.Driver == "sqlite" && c.Store.Path == "" {
		c.Store.Path = "./data/smsgw.db"
	}
	c.Limits.Config.SetDefaults()
	if c.SMPPServer != nil {
		c.SMPPServer.SetDefaults()
	}
	c.Limits.AutoReply.SetDefaults()
	if c.Console != nil {
		c.Console.SetDefaults()
	}
	g := &c.Gateway
	if g.MaxParts == 0 {
		g.MaxParts = 10
	}
	if g.MaxAttempts == 0 {
		g.MaxAttempts = 12
	}
	if g.ScheduleHorizon == 0 {
		g.ScheduleHorizon = gateway.DefaultScheduleHorizon
	}
	if g.RetryBase == 0 {
		g.RetryBase = 2 * time.Second
	}
	if g.RetryMax == 0 {
		g.RetryMax = 5 * time.Minute
	}
	if g.EventRetention == 0 {
		g.EventRetention = 30 * 24 * time.Hour
	}
	if c.MessageGateway.ReportHorizon == 0 {
		// Shorter than the retention, which prunes what the horizon counts from.
		c.MessageGateway.ReportHorizon = 72 * time.Hour
		if g.EventRetention > 0 {
			c.MessageGateway.ReportHorizon = min(c.MessageGateway.ReportHorizon, g.EventRetention/2)
		}
	}
}

// maxScheduleHorizon keeps every schedule the store can hold (nanoseconds
// since 1970 end in 2262) far from that limit.
const maxScheduleHorizon = 100 * 365 * 24 * time.Hour

func prefixed(prefix string, errs []error) []error {
	out := make([]error, len(errs))
	for i, err := range errs {
		out[i] = fmt.Errorf("%s%w", prefix, err)
	}
	return out
}

func (c *Config) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Listen.GRPC == c.Listen.HTTP && !strings.HasSuffix(c.Listen.GRPC, ":0") {
		add("listen.http: %s is also listen.grpc", c.Listen.HTTP)
	}
	if c.Listen.GRPCTLS != nil {
		if _, err := c.Listen.GRPCTLS.ServerConfig(); err != nil {
			add("listen.grpc_tls.%v", err)
		}
	}
	errs = append(errs, prefixed("store.", c.Store.Validate())...)
	errs = append(errs, prefixed("limits.", c.Limits.Config.Validate())...)
	errs = append(errs, prefixed("limits.auto_reply.", c.Limits.AutoReply.Validate())...)
	if c.Gateway.MaxParts < 1 || c.Gateway.MaxParts > 255 {
		add("gateway.max_parts: must be 1..255 (a concatenation reference counts to 255)")
	}
	if c.Gateway.MaxBatch < 0 || c.Gateway.MaxBatch > 10000 {
		add("gateway.max_batch: must be 0 (default 1000) to 10000")
	}
	if h := c.Gateway.ScheduleHorizon; h < time.Minute || h > maxScheduleHorizon {
		add("gateway.schedule_horizon: must be 1m to %s (100 years)", maxScheduleHorizon)
	}
	if c.Gateway.MaxAttempts < 1 {
		add("gateway.max_attempts: must be ≥ 1")
	}
	if c.Gateway.RetryBase < 0 || c.Gateway.RetryMax < c.Gateway.RetryBase {
		add("gateway.retry_max: must be ≥ retry_base ≥ 0")
	}
	if h := c.MessageGateway.ReportHorizon; h < 0 || c.Gateway.EventRetention > 0 && h >= c.Gateway.EventRetention {
		add("message_gateway.report_horizon: must be > 0 and shorter than gateway.event_retention (%s), which prunes the record of when an id was first asked for", c.Gateway.EventRetention)
	}

	if len(c.Tenants) == 0 {
		add("tenants: at least one tenant is required")
	}
	tenantIDs := map[string]bool{}
	keys := map[string]string{}
	for i, t := range c.Tenants {
		p := fmt.Sprintf("tenants[%d]", i)
		switch {
		case t.ID == "":
			add("%s.id: required", p)
		case tenantIDs[t.ID]:
			add("%s.id: %q is used by an earlier tenant", p, t.ID)
		}
		tenantIDs[t.ID] = true
		if t.Fraud != nil {
			errs = append(errs, prefixed(p+".fraud.", t.Fraud.Validate())...)
		}
		if len(t.APIKeys) == 0 {
			add("%s.api_keys: at least one key is required", p)
		}
		for j, k := range t.APIKeys {
			switch {
			case len(k) < 8:
				add("%s.api_keys[%d]: must be at least 8 characters", p, j)
			case keys[k] != "":
				add("%s.api_keys[%d]: the same key is used by %s", p, j, keys[k])
			}
			keys[k] = p
		}
		if t.DefaultRegion == "" {
			add("%s.default_region: required (ISO 3166 code, e.g. KE)", p)
		} else if phonenumbers.GetCountryCodeForRegion(t.DefaultRegion) == 0 {
			add("%s.default_region: %q is not a region phone numbers know", p, t.DefaultRegion)
		}
		if t.Sender == "" {
			add("%s.sender: required (the default sender id or shortcode)", p)
		}
		if t.Weight < 0 || t.Weight > 1000 {
			add("%s.weight: must be 0 (default 1) to 1000", p)
		}
		if t.Rate < 0 || t.Burst < 0 {
			add("%s.rate, burst: must be ≥ 0", p)
		}
		if f := t.Fineract; f != nil {
			errs = append(errs, prefixed(p+".fineract.", f.Validate())...)
			for j, b := range f.Bridges {
				if b.PhoneNo != t.Sender && !slices.Contains(t.Senders, b.PhoneNo) {
					add("%s.fineract.bridges[%d].phone_no: %q is not the tenant's sender or one of its senders", p, j, b.PhoneNo)
				}
			}
		}
	}

	if len(c.Carriers) == 0 {
		add("carriers: at least one carrier is required")
	}
	carriers := map[string]bool{}
	for i, cr := range c.Carriers {
		p := fmt.Sprintf("carriers[%d]", i)
		switch {
		case cr.Name == "":
			add("%s.name: required", p)
		case carriers[cr.Name]:
			add("%s.name: %q is used by an earlier carrier", p, cr.Name)
		}
		carriers[cr.Name] = true
		if cr.Section == nil {
			if !cr.fromFile {
				add("%s: a carrier needs a section (smpp, twilio, …)", p)
			}
			continue
		}
		errs = append(errs, prefixed(p+"."+cr.Kind+".", cr.Section.Validate())...)
		if t, ok := cr.Section.(interface{ InboundTenant() string }); ok && t.InboundTenant() != "" && !tenantIDs[t.InboundTenant()] {
			add("%s.%s.tenant: %q is not a configured tenant", p, cr.Kind, t.InboundTenant())
		}
	}

	errs = append(errs, prefixed("breaker.", c.Breaker.Validate())...)
	for i, k := range c.Admin.APIKeys {
		switch {
		case len(k) < 16:
			add("admin.api_keys[%d]: must be at least 16 characters", i)
		case keys[k] != "":
			add("admin.api_keys[%d]: the same key is used by %s", i, keys[k])
		}
	}
	errs = append(errs, prefixed("webhooks.", c.Webhooks.Validate())...)
	if _, err := c.KeywordTable(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			add("%s", e)
		}
	}
	for i, k := range c.Keywords {
		for j, t := range k.Tenants {
			if !tenantIDs[t] {
				add("keywords[%d].tenants[%d]: %q is not a configured tenant", i, j, t)
			}
		}
		p := fmt.Sprintf("keywords[%d].", i)
		if k.Kannel != nil {
			errs = append(errs, prefixed(p+"kannel.", k.Kannel.Validate())...)
		}
		if k.Frontline != nil {
			errs = append(errs, prefixed(p+"frontline.", k.Frontline.Validate())...)
		}
		actions := 0
		for _, set := range []bool{k.Webhook != nil, k.Kannel != nil, k.Frontline != nil} {
			if set {
				actions++
			}
		}
		if actions > 1 {
			add("%swebhook, kannel, frontline: choose one (reply may go with any)", p)
		}
	}
	if kc := c.Kannel; kc != nil {
		errs = append(errs, prefixed("kannel.", kc.Validate())...)
		for i, u := range kc.Users {
			if u.Tenant != "" && !tenantIDs[u.Tenant] {
				add("kannel.users[%d].tenant: %q is not a configured tenant", i, u.Tenant)
			}
		}
		if kc.Listen != "" && (kc.Listen == c.Listen.GRPC || kc.Listen == c.Listen.HTTP) && !strings.HasSuffix(kc.Listen, ":0") {
			add("kannel.listen: %s is also another listener", kc.Listen)
		}
	}
	if cc := c.Console; cc != nil {
		errs = append(errs, prefixed("console.", cc.Validate())...)
		for i, u := range cc.Users {
			if u.Tenant != "" && !tenantIDs[u.Tenant] {
				add("console.users[%d].tenant: %q is not a configured tenant", i, u.Tenant)
			}
		}
	}
	if sc := c.SMPPServer; sc != nil {
		errs = append(errs, prefixed("smpp_server.", sc.Validate())...)
		for i, a := range sc.Accounts {
			if a.Tenant != "" && !tenantIDs[a.Tenant] {
				add("smpp_server.accounts[%d].tenant: %q is not a configured tenant", i, a.Tenant)
			}
		}
		for _, l := range []string{c.Listen.GRPC, c.Listen.HTTP} {
			if sc.Listen == l && !strings.HasSuffix(l, ":0") {
				add("smpp_server.listen: %s is also another listener", sc.Listen)
			}
		}
	}
	if len(c.Routes) == 0 {
		add("routes: at least one route is required")
	}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d].", i)
		errs = append(errs, prefixed(p, r.Validate())...)
		if r.Carrier != "" && !carriers[r.Carrier] {
			add("%scarrier: %q is not a configured carrier", p, r.Carrier)
		}
	}
	return errs
}

// EngineTenants converts the tenants for the engine.
func (c *Config) EngineTenants() []gateway.Tenant {
	out := make([]gateway.Tenant, len(c.Tenants))
	for i, t := range c.Tenants {
		out[i] = gateway.Tenant{ID: t.ID, DefaultRegion: t.DefaultRegion, Sender: t.Sender, Senders: t.Senders,
			Rate: t.Rate, Burst: t.Burst, Weight: t.Weight}
		if t.Fraud != nil {
			out[i].Fraud = *t.Fraud
		}
		if o := t.OptOut; o != nil {
			out[i].OptOut = gateway.OptOut{StopWords: o.StopWords, StartWords: o.StartWords, HelpWords: o.HelpWords,
				StopReply: o.StopReply, StartReply: o.StartReply, HelpReply: o.HelpReply, AllowTransactional: o.AllowTransactional}
		} else {
			out[i].OptOut = gateway.DefaultOptOut()
		}
	}
	return out
}

// RouteQuery is the routing question for a number as a tenant would send
// it: the tenant (default the first), the number normalized by its region,
// the sender (default the tenant's). The CLI's route command and the Admin
// service's ExplainRoute both ask it this way. Bad input is a
// *gateway.FieldError.
func (c *Config) RouteQuery(tenant, to, from string) (gateway.RouteQuery, error) {
	t := c.Tenants[0]
	if tenant != "" {
		i := slices.IndexFunc(c.Tenants, func(t Tenant) bool { return t.ID == tenant })
		if i < 0 {
			return gateway.RouteQuery{}, &gateway.FieldError{Field: "tenant", Reason: fmt.Sprintf("no tenant %q", tenant)}
		}
		t = c.Tenants[i]
	}
	e164, err := gateway.NormalizeNumber(to, t.DefaultRegion)
	if err != nil {
		return gateway.RouteQuery{}, &gateway.FieldError{Field: "to", Reason: err.Error()}
	}
	if from == "" {
		from = t.Sender
	}
	return gateway.RouteQuery{Tenant: t.ID, From: from, To: e164, Key: e164}, nil
}

// FineractTenants is the message-gateway API's view of the tenants: those
// with a fineract section, by tenant id.
func (c *Config) FineractTenants() map[string]messagegateway.TenantConfig {
	out := map[string]messagegateway.TenantConfig{}
	for _, t := range c.Tenants {
		if t.Fineract != nil {
			out[t.ID] = *t.Fineract
		}
	}
	return out
}

// KeywordTable compiles the keyword rules; its error names each bad rule
// by its place in the file, one per line.
func (c *Config) KeywordTable() (*keyword.Table, error) {
	return keyword.New(c.keywordRules())
}

func (c *Config) keywordRules() []keyword.Rule {
	rules := make([]keyword.Rule, len(c.Keywords))
	for i, k := range c.Keywords {
		r := keyword.Rule{Name: k.Name, Tenants: k.Tenants, Shortcodes: k.Shortcodes, Regex: k.Regex,
			Default: k.Default, Reply: k.Reply}
		if k.Keyword != "" {
			r.Keywords = append([]string{k.Keyword}, k.Aliases...)
		}
		if k.Webhook != nil {
			r.Webhook = &keyword.Webhook{URL: k.Webhook.URL, Secret: k.Webhook.Secret}
		}
		r.Service = k.serviceKind()
		rules[i] = r
	}
	return rules
}

// KannelServices are the Kannel sms-services and Frontline forwards of the
// keyword rules, by the rules' names: what the Kannel interface runs when a
// rule's task comes due.
func (c *Config) KannelServices() kannel.Services {
	out := kannel.Services{SMS: map[string]*kannel.Service{}, Frontline: map[string]*kannel.Frontline{}}
	rules := c.keywordRules()
	for i, k := range c.Keywords {
		name := rules[i].TableName()
		if k.Kannel != nil {
			out.SMS[name] = k.Kannel
		}
		if k.Frontline != nil {
			out.Frontline[name] = k.Frontline
		}
	}
	return out
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} in every string of the config, reporting unset
// variables with the path of the value that names them.
func expandEnv(v reflect.Value, path string, errs *[]error) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			expandEnv(v.Elem(), path, errs)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			name := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if name == "" || !t.Field(i).IsExported() {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			expandEnv(v.Field(i), p, errs)
		}
	case reflect.Slice:
		for i := range v.Len() {
			expandEnv(v.Index(i), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.String:
		s := v.String()
		if !strings.Contains(s, "${") {
			return
		}
		v.SetString(envRef.ReplaceAllStringFunc(s, func(ref string) string {
			name := ref[2 : len(ref)-1]
			val, ok := os.LookupEnv(name)
			if !ok {
				*errs = append(*errs, fmt.Errorf("%s: environment variable %s is not set", path, name))
			}
			return val
		}))
	}
}
