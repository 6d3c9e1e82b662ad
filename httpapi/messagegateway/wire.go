package messagegateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// decodeArray reads a JSON array and nothing after it, returning its
// elements undecoded so an error can name the item at fault.
func decodeArray(r io.Reader) ([]json.RawMessage, error) {
	dec := json.NewDecoder(r)
	var items []json.RawMessage
	if err := dec.Decode(&items); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return nil, errors.New("the body is empty; want a JSON array")
		case errors.As(err, &typeErr):
			return nil, fmt.Errorf("want a JSON array, got a JSON %s", typeErr.Value)
		}
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if items == nil {
		return nil, errors.New("want a JSON array, got null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON array")
	}
	return items, nil
}

// decodeSMS parses a POST /sms body. Any item Fineract could not have sent
// (not an object, no integer internalId, a non-string number or text) makes
// the whole body malformed.
func decodeSMS(r io.Reader) ([]smsItem, error) {
	raw, err := decodeArray(r)
	if err != nil {
		return nil, err
	}
	items := make([]smsItem, len(raw))
	for i, b := range raw {
		if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("item %d: want a JSON object, got a JSON %s", i, kind(b))
		}
		if err := json.Unmarshal(b, &items[i]); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) && typeErr.Field != "" {
				return nil, fmt.Errorf("item %d: %s: want a %s, got a JSON %s", i, typeErr.Field, typeErr.Type, typeErr.Value)
			}
			return nil, fmt.Errorf("item %d: %v", i, unwrapJSON(err))
		}
		if items[i].InternalID == nil {
			return nil, fmt.Errorf("item %d: internalId is required (Fineract's SMS message id)", i)
		}
	}
	return items, nil
}

// decodeIDs parses a POST /sms/report body: Fineract's ids as a JSON array.
func decodeIDs(r io.Reader) ([]int64, error) {
	raw, err := decodeArray(r)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(raw))
	for i, b := range raw {
		var f flexInt
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("item %d: %v", i, unwrapJSON(err))
		}
		ids[i] = int64(f)
	}
	return ids, nil
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
	Accepted   int       `json:"accepted"`
	Duplicates int       `json:"duplicates"`
	OptedOut   int       `json:"optedOut"`
	Refused    []refusal `json:"refused"`
}

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
