package store

import (
	"errors"
	"reflect"
	"testing"

	"github.com/openmf/smsgw/gateway"
)

func sampleRecord() (int64, []journaledMessage) {
	return 1_764_900_000_123_456_789, []journaledMessage{
		{ID: "0190f3c2-7a6b-7c1d-9e2f-3a4b5c6d7e8f", Tenant: "default", ClientRef: "loan-42", From: "MFI",
			To: "+254700000001", Text: "Habari! Malipo yako ni KES 1,200 — tarehe 5 Mei.", Encoding: gateway.EncodingUCS2,
			Priority: -3, Category: gateway.CategoryTransactional, PinnedCarrier: "safaricom",
			NotBefore: 1_764_900_100_000_000_000, ExpiresAt: -1, Parts: 2,
			Meta: map[string]string{"dlr-url": "http://127.0.0.1:8080/dlr?id=%i&s=%d", "dlr-mask": "3", "": ""}},
		{ID: "b", Tenant: "t2", To: "+256700000002", Text: "", Status: gateway.StatusOptedOut, LastError: "opted out", Parts: 1},
	}
}

// TestAcceptRecordRoundTrip: a record reads back as written, every field.
func TestAcceptRecordRoundTrip(t *testing.T) {
	now, msgs := sampleRecord()
	gotNow, got, err := decodeAcceptRecord(appendAcceptRecord(nil, now, msgs))
	if err != nil || gotNow != now || !reflect.DeepEqual(got, msgs) {
		t.Errorf("read back %d %+v (%v), want %d %+v", gotNow, got, err, now, msgs)
	}
}

// FuzzAcceptRecord: any payload that passed the frame's checksum but is
// not a record this build writes is refused as damage, never a panic or a
// half-read record; a record cut or extended by a byte is refused too.
func FuzzAcceptRecord(f *testing.F) {
	now, msgs := sampleRecord()
	good := appendAcceptRecord(nil, now, msgs)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(good[:len(good):len(good)], 0))
	f.Add([]byte{acceptRecordV1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, p []byte) {
		_, got, err := decodeAcceptRecord(p)
		if err != nil {
			if !errors.Is(err, errJournalDamaged) {
				t.Fatalf("error %v is not damage", err)
			}
			return
		}
		// What decodes writes back to the same bytes, up to the order of
		// its metadata.
		n, _, err := decodeAcceptRecord(appendAcceptRecord(nil, 0, got))
		if err != nil || n != 0 {
			t.Fatalf("a decoded record does not encode again: %v", err)
		}
	})
}
