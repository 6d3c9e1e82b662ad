package messagegateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The JSON Fineract sends and reads. Fineract serializes with Gson (null
// fields left out, HTML characters escaped as \u003d and the like) and reads
// with Jackson; field names follow its Java classes
// SmsMessageApiQueueResourceData, SmsMessageDeliveryReportData and
// SmsProviderData.

// smsItem is one element of POST /sms. tenantId, createdOnDate and
// sourceAddress are accepted in any form and ignored: the headers name the
// tenant, and the sender comes from the bridge.
type smsItem struct {
	InternalID   *flexInt        `json:"internalId"`
	TenantID     json.RawMessage `json:"tenantId"`
	MobileNumber *string         `json:"mobileNumber"`
	Message      *string         `json:"message"`
	ProviderID   *flexInt        `json:"providerId"`
}

// flexInt is a Java Long as Gson writes it (a JSON number), also accepted
// as a string of digits, since hand-written clients quote ids.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if unq, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
		s = strings.TrimSpace(unq)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want an integer, got a JSON %s", kind(b))
	}
	*f = flexInt(n)
	return nil
}

// arrayReader reads a JSON array one element at a time, so a page of any
// size costs the memory of one element; errors name the element at fault.
type arrayReader struct {
	dec *json.Decoder
	n   int // elements read
}

// newArrayReader reads the opening bracket.
func newArrayReader(r io.Reader) (*arrayReader, error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil, errors.New("the body is empty; want a JSON array")
	case err != nil:
		return nil, jsonError(err)
	case tok == nil:
		return nil, errors.New("want a JSON array, got null")
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("want a JSON array, got a JSON %s", tokenKind(tok))
	}
	return &arrayReader{dec: dec}, nil
}

// next returns the next element undecoded, or done after the closing
// bracket when nothing but white space follows it.
func (a *arrayReader) next() (elem json.RawMessage, done bool, err error) {
	if !a.dec.More() {
		if _, err := a.dec.Token(); err != nil { // the closing bracket
			return nil, false, jsonError(err)
		}
		if _, err := a.dec.Token(); !errors.Is(err, io.EOF) {
			return nil, false, errors.New("unexpected data after the JSON array")
		}
		return nil, true, nil
	}
	if err := a.dec.Decode(&elem); err != nil {
		return nil, false, fmt.Errorf("item %d: %w", a.n, jsonError(err))
	}
	a.n++
	return elem, false, nil
}

// jsonError words a decoding failure, keeping a body-size error
// recognizable for the 413 answer.
func jsonError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return fmt.Errorf("not JSON: %w", err)
}

// tokenKind names the JSON type of a decoder token.
func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "object"
		}
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return "number"
}

// parseItem decodes element i of a POST /sms body. Anything Fineract could
// not have sent (not an object, no integer internalId, a non-string number
// or text) makes the body malformed.
func parseItem(i int, b json.RawMessage) (smsItem, error) {
	var it smsItem
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return it, fmt.Errorf("item %d: want a JSON object, got a JSON %s", i, kind(b))
	}
	if err := json.Unmarshal(b, &it); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return it, fmt.Errorf("item %d: %s: want a %s, got a JSON %s", i, typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return it, fmt.Errorf("item %d: %v", i, unwrapJSON(err))
	}
	if it.InternalID == nil {
		return it, fmt.Errorf("item %d: internalId is required (Fineract's SMS message id)", i)
	}
	return it, nil
}

// errTooManyIDs refuses a report that asks for more ids than
// Options.MaxReportIDs.
type errTooManyIDs struct{ max int }

func (e errTooManyIDs) Error() string {
	return fmt.Sprintf("more than %d ids in one report request; Fineract asks for 200 at a time", e.max)
}

// decodeIDs parses a POST /sms/report body, Fineract's ids as a JSON
// array, reading at most max of them. An id asked twice is answered once.
func decodeIDs(r io.Reader, max int) ([]int64, error) {
	a, err := newArrayReader(r)
	if err != nil {
		return nil, err
	}
	var ids []int64
	seen := map[int64]bool{}
	for {
		b, done, err := a.next()
		if err != nil {
			return nil, err
		}
		if done {
			return ids, nil
		}
		var f flexInt
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("item %d: %v", a.n-1, unwrapJSON(err))
		}
		if seen[int64(f)] {
			continue
		}
		if len(ids) == max {
			return nil, errTooManyIDs{max}
		}
		seen[int64(f)] = true
		ids = append(ids, int64(f))
	}
}

// unwrapJSON drops encoding/json's "json: cannot unmarshal ..." wrapping of
// our own UnmarshalJSON errors.
func unwrapJSON(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// kind names a JSON value's type without quoting it: error messages end up
// in logs, and a value may be a phone number or a message.
func kind(b []byte) string {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '"':
		return "string"
	case '[':
		return "array"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	}
	return "number"
}

// sendAnswer is the 202 body of POST /sms. Fineract reads it as a string
// and ignores it; it is there for people reading logs and for curl.
type sendAnswer struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	OptedOut   int `json:"optedOut"`
	// Rejected counts items stored REJECTED by the tenant's fraud and
	// spend controls (the report gives each one's reason).
	Rejected int       `json:"rejected,omitempty"`
	Refused  []refusal `json:"refused"` // the first maxListedRefusals
	// MoreRefused counts the refusals not listed, so the answer stays
	// small however large the page.
	MoreRefused int `json:"moreRefused,omitempty"`
}

// maxListedRefusals bounds the refusals a 202 answer lists.
const maxListedRefusals = 100

// refusal names one item not stored, by Fineract's field names.
type refusal struct {
	item       int    // position in the page
	InternalID int64  `json:"internalId"`
	Field      string `json:"field"`
	Error      string `json:"error"`
}

// reportEntry is one element of the POST /sms/report answer, in the field
// order of Fineract's SmsMessageDeliveryReportData. Nil pointers are
// written as null, which Jackson reads into Fineract's String fields.
type reportEntry struct {
	ID              int64   `json:"id"`
	ExternalID      *string `json:"externalId"`
	AddedOnDate     *string `json:"addedOnDate"`
	DeliveredOnDate *string `json:"deliveredOnDate"`
	DeliveryStatus  int     `json:"deliveryStatus"`
	HasError        bool    `json:"hasError"`
	ErrorMessage    *string `json:"errorMessage"`
}

// bridgeEntry is one element of GET /smsbridges, as Fineract's
// SmsProviderData reads it.
type bridgeEntry struct {
	ID                  int64  `json:"id"`
	TenantID            string `json:"tenantId"`
	PhoneNo             string `json:"phoneNo"`
	ProviderAppKey      string `json:"providerAppKey"`
	ProviderName        string `json:"providerName"`
	ProviderDescription string `json:"providerDescription"`
}

// errorAnswer is the body of every non-2xx answer.
type errorAnswer struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
}

// dateLayout is RFC 3339 in UTC with milliseconds, what Jackson writes for a
// java.util.Date with timestamps off (see doc.go).
const dateLayout = "2006-01-02T15:04:05.000Z07:00"

func formatDate(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(dateLayout)
	return &s
}

func ptr(s string) *string { return &s }
