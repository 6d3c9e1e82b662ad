package gateway

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/openmf/smsgw/gateway/limits"
	"github.com/openmf/smsgw/internal/mask"
)

// FieldError is a request the engine refuses, naming the field at fault so
// an API can answer with a field violation.
type FieldError struct {
	Field  string
	Reason string
}

// Error names the field first, as the APIs' field violations do.
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Tenant is what the engine needs to know of a tenant to validate its
// messages. API keys and quotas belong to the APIs, not here.
type Tenant struct {
	ID            string
	DefaultRegion string   // ISO 3166 region for national numbers, e.g. "KE"
	Sender        string   // default sender id
	Senders       []string // further allowed sender ids
	Rate          float64  // messages accepted per second; 0: no limit
	Burst         int      // messages accepted at once above Rate; default max(1, Rate)
	Weight        int      // share of each dispatch round among tenants with due messages; default 1
	OptOut        OptOut
	// Fraud is the tenant's destination, spend and velocity controls; the
	// zero value denies the high-risk ranges only.
	Fraud limits.FraudConfig
}

// NormalizeNumber turns a number as people and Fineract write it
// ("0712 345 678", "+254712345678") into E.164, or says why it cannot.
// Answers are remembered (see numberCache): the same clients are texted
// again and again.
func NormalizeNumber(number, region string) (string, error) {
	return numbers.normalize(number, region)
}

// parseNumber is NormalizeNumber without the cache. A number written the
// usual way is parsed by fastParse and its validity decided by prefix
// (validDecider), both answering as phonenumbers would (numberparse.go,
// numbervalid.go); anything else is parsed by phonenumbers.
func parseNumber(number, region string) (string, error) {
	n, err := numberText(number)
	if err != nil {
		return "", err
	}
	if p, ok := fastParse(n, region); ok {
		valid, ok := validity.valid(p)
		if !ok {
			valid = phonenumbers.IsValidNumber(p.phoneNumber())
		}
		if valid {
			return p.e164(), nil
		}
		return "", notValidNumber(number, region)
	}
	return parseWithPhonenumbers(number, n, region)
}

// numberText is the number as phonenumbers should see it, or why it is
// refused before parsing.
func numberText(number string) (string, error) {
	n := strings.TrimSpace(number)
	if n == "" {
		return "", fmt.Errorf("is empty")
	}
	// libphonenumber reads letters as keypad digits ("0712abc678" becomes
	// +254712222678): a typo would reach a stranger. Nobody writes an SMS
	// number in letters, so a letter anywhere refuses it.
	if i := strings.IndexFunc(n, unicode.IsLetter); i >= 0 {
		return "", fmt.Errorf("%q contains the letter %q; write the number in digits", number, []rune(n[i:])[0])
	}
	if strings.HasPrefix(n, "00") {
		n = "+" + n[2:]
	}
	return n, nil
}

// parseWithPhonenumbers parses n, the text of number, with phonenumbers.
func parseWithPhonenumbers(number, n, region string) (string, error) {
	num, err := phonenumbers.Parse(n, region)
	if err != nil {
		return "", fmt.Errorf("%q is not a phone number: %v", number, err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", notValidNumber(number, region)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

func notValidNumber(number, region string) error {
	return fmt.Errorf("%q is not a valid phone number (default region %s)", number, region)
}

// DefaultScheduleHorizon is how far from now a message may be scheduled or
// set to expire when the config does not say: a year covers any loan cycle.
const DefaultScheduleHorizon = 365 * 24 * time.Hour

// maxTextBytes guards memory before segmentation: no allowed message comes
// near it (the part limit bites first), and a huge body is refused cheaply.
const maxTextBytes = 64 << 10

// validate checks and normalizes one request into a message ready to store;
// reply is the inbound message it answers, if any.
// The message and its parts come from slab.
func (a *acceptor) validate(t *Tenant, r SendRequest, reply *Inbound, slab *messageSlab) (*Message, error) {
	if reply != nil {
		if r.To == "" {
			r.To = reply.From
		}
		// The client wrote to this number: the tenant's by definition.
		r.From = reply.To
	}
	to, err := NormalizeNumber(r.To, t.DefaultRegion)
	if err != nil {
		return nil, &FieldError{"to", err.Error()}
	}
	var (
		enc   Encoding
		parts int
	)
	if r.Binary != nil {
		if err := r.Binary.check(); err != nil {
			return nil, err
		}
		enc, parts = EncodingBinary, len(r.Binary.Parts())
		if parts > a.maxParts {
			return nil, &FieldError{"binary", fmt.Sprintf("needs %d SMS parts; the limit is %d", parts, a.maxParts)}
		}
		r.Text, r.Meta = binaryMessage(r.Binary, r.Meta)
	} else {
		if r.Text == "" {
			return nil, &FieldError{"text", "is empty"}
		}
		if len(r.Text) > maxTextBytes {
			return nil, &FieldError{"text", fmt.Sprintf("is %d bytes; the limit is %d", len(r.Text), maxTextBytes)}
		}
		if !utf8.ValidString(r.Text) {
			return nil, &FieldError{"text", "is not valid UTF-8"}
		}
		segment := a.segment
		if r.Submit.UCS2 && a.segmentUCS2 != nil {
			segment = a.segmentUCS2
		}
		enc, parts, err = segment(r.Text)
		if err != nil {
			return nil, &FieldError{"text", err.Error()}
		}
		if parts > a.maxParts {
			return nil, &FieldError{"text", fmt.Sprintf("needs %d SMS parts (%s); the limit is %d", parts, enc, a.maxParts)}
		}
	}
	from := r.From
	if from == "" {
		from = t.Sender
	}
	if from == "" {
		return nil, &FieldError{"from", "is empty and the tenant has no default sender"}
	}
	if reply == nil && from != t.Sender && !slices.Contains(t.Senders, from) {
		return nil, &FieldError{"from", fmt.Sprintf("sender %q is not allowed for tenant %s", from, t.ID)}
	}
	switch r.Category {
	case "", CategoryMarketing, CategoryTransactional:
	default:
		return nil, &FieldError{"category", fmt.Sprintf("%q is not marketing or transactional", r.Category)}
	}
	now := a.now()
	for _, f := range []struct {
		name string
		at   time.Time
	}{{"not_before", r.NotBefore}, {"expires_at", r.ExpiresAt}} {
		if !f.at.IsZero() && (f.at.After(now.Add(a.horizon)) || f.at.Before(now.Add(-a.horizon))) {
			return nil, &FieldError{f.name, fmt.Sprintf("is %s, more than %s from now (the gateway's schedule_horizon)",
				f.at.UTC().Format(time.RFC3339), a.horizon)}
		}
	}
	if !r.ExpiresAt.IsZero() && !r.NotBefore.IsZero() && !r.ExpiresAt.After(r.NotBefore) {
		return nil, &FieldError{"expires_at", "must be after not_before"}
	}
	if err := r.Submit.check(); err != nil {
		return nil, err
	}
	pin := pinned(reply)
	if r.Carrier != "" && reply == nil {
		if !a.carriers.Runs(r.Carrier) {
			return nil, &FieldError{"carrier", fmt.Sprintf("no carrier %q runs here", r.Carrier)}
		}
		pin = r.Carrier
	}
	m := slab.message()
	*m = Message{
		Tenant:        t.ID,
		PinnedCarrier: pin,
		ClientRef:     r.ClientRef,
		From:          from,
		To:            to,
		Text:          r.Text,
		Encoding:      enc,
		Priority:      r.Priority,
		Category:      category(r.Category),
		Meta:          r.Submit.store(r.Meta),
		NotBefore:     r.NotBefore,
		ExpiresAt:     r.ExpiresAt,
		Parts:         slab.parts(parts),
	}
	for i := range m.Parts {
		m.Parts[i] = Part{Index: i, Status: StatusAccepted}
	}
	return m, nil
}

// MaskNumber is the gateway's name for smsgw's one number-masking policy,
// mask.Number: a phone number for logs, "+254712345678" → "+2547*****678".
func MaskNumber(n string) string {
	return mask.Number(n)
}

func category(c Category) Category {
	if c == "" {
		return CategoryMarketing
	}
	return c
}

func pinned(reply *Inbound) string {
	if reply == nil {
		return ""
	}
	return reply.Carrier
}

// messageSlab hands out the messages of one accept call and their parts
// from two arrays sized for the call: one allocation each per call instead
// of two per message. A message is single-part most of the time, so the
// parts array holds one per request; longer messages take their parts
// from a fresh array when it runs out.
type messageSlab struct {
	msgs    []Message
	partBuf []Part
}

func newMessageSlab(n int) *messageSlab {
	return &messageSlab{msgs: make([]Message, n), partBuf: make([]Part, n)}
}

func (s *messageSlab) message() *Message {
	if len(s.msgs) == 0 {
		s.msgs = make([]Message, 1)
	}
	m := &s.msgs[0]
	s.msgs = s.msgs[1:]
	return m
}

// parts returns n zero parts whose capacity ends at n, so an append by a
// later stage cannot run into the next message's parts.
func (s *messageSlab) parts(n int) []Part {
	if n > len(s.partBuf) {
		return make([]Part, n)
	}
	p := s.partBuf[:n:n]
	s.partBuf = s.partBuf[n:]
	return p
}
