package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// The JSON the CLI prints: snake_case keys, numbers as numbers (protojson
// prints int64 as strings), statuses without their STATUS_ prefix, times
// in RFC 3339, stable spacing — for jq and scripts.

type messageJSON struct {
	ID            string        `json:"id"`
	ClientRef     string        `json:"client_ref,omitempty"`
	Status        string        `json:"status"`
	From          string        `json:"from,omitempty"`
	To            string        `json:"to"`
	Text          string        `json:"text,omitempty"`
	Encoding      string        `json:"encoding,omitempty"`
	Priority      int32         `json:"priority,omitempty"`
	Attempts      int32         `json:"attempts"`
	Carrier       string        `json:"carrier,omitempty"`
	PinnedCarrier string        `json:"pinned_carrier,omitempty"`
	Cost          float64       `json:"cost"`
	Currency      string        `json:"currency,omitempty"`
	LastError     string        `json:"last_error,omitempty"`
	CreatedAt     *time.Time    `json:"created_at,omitempty"`
	UpdatedAt     *time.Time    `json:"updated_at,omitempty"`
	NotBefore     *time.Time    `json:"not_before,omitempty"`
	ExpiresAt     *time.Time    `json:"expires_at,omitempty"`
	Parts         []partJSON    `json:"parts,omitempty"`
	History       []attemptJSON `json:"history,omitempty"`
}

type partJSON struct {
	Index     int32      `json:"index"`
	Status    string     `json:"status"`
	Carrier   string     `json:"carrier,omitempty"`
	CarrierID string     `json:"carrier_id,omitempty"`
	Error     string     `json:"error,omitempty"`
	Cost      float64    `json:"cost"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

type attemptJSON struct {
	Carrier string     `json:"carrier"`
	Outcome string     `json:"outcome"`
	Detail  string     `json:"detail,omitempty"`
	At      *time.Time `json:"at,omitempty"`
}

type eventJSON struct {
	Seq       int64        `json:"seq"`
	Kind      string       `json:"kind"`
	Time      *time.Time   `json:"time,omitempty"`
	MessageID string       `json:"message_id,omitempty"`
	Status    string       `json:"status,omitempty"`
	Detail    string       `json:"detail,omitempty"`
	Inbound   *inboundJSON `json:"inbound,omitempty"`
	Audit     *auditJSON   `json:"audit,omitempty"`
}

type auditJSON struct {
	User    string     `json:"user"`
	Role    string     `json:"role,omitempty"`
	Source  string     `json:"source,omitempty"`
	Action  string     `json:"action"`
	Target  string     `json:"target,omitempty"`
	Outcome string     `json:"outcome,omitempty"`
	At      *time.Time `json:"at,omitempty"`
}

type inboundJSON struct {
	ID         string     `json:"id"`
	Carrier    string     `json:"carrier,omitempty"`
	From       string     `json:"from"`
	To         string     `json:"to"`
	Text       string     `json:"text"`
	Keyword    string     `json:"keyword,omitempty"`
	ReceivedAt *time.Time `json:"received_at,omitempty"`
}

func ts(t *timestamppb.Timestamp) *time.Time {
	if t == nil {
		return nil
	}
	v := t.AsTime().UTC()
	return &v
}

func statusName(s pb.Status) string { return strings.TrimPrefix(s.String(), "STATUS_") }

// parseStatus reads a status as an operator types it: failed, FAILED or
// STATUS_FAILED.
func parseStatus(s string) (pb.Status, error) {
	name := "STATUS_" + strings.TrimPrefix(strings.ToUpper(s), "STATUS_")
	v, ok := pb.Status_value[name]
	if !ok || v == 0 {
		var names []string
		for i := int32(1); i < int32(len(pb.Status_name)); i++ {
			names = append(names, strings.ToLower(statusName(pb.Status(i))))
		}
		return 0, fmt.Errorf("unknown status %q: want one of %s", s, strings.Join(names, ", "))
	}
	return pb.Status(v), nil
}

func messageView(m *pb.Message) messageJSON {
	v := messageJSON{
		ID: m.GetId(), ClientRef: m.GetClientRef(), Status: statusName(m.GetStatus()), From: m.GetFrom(), To: m.GetTo(),
		Text: m.GetText(), Encoding: m.GetEncoding(), Priority: m.GetPriority(), Attempts: m.GetAttempts(),
		Carrier: m.GetCarrier(), PinnedCarrier: m.GetPinnedCarrier(), Cost: m.GetCost(), Currency: m.GetCurrency(),
		LastError: m.GetLastError(), CreatedAt: ts(m.GetCreatedAt()), UpdatedAt: ts(m.GetUpdatedAt()),
		NotBefore: ts(m.GetNotBefore()), ExpiresAt: ts(m.GetExpiresAt()),
	}
	for _, p := range m.GetParts() {
		v.Parts = append(v.Parts, partJSON{Index: p.GetIndex(), Status: statusName(p.GetStatus()), Carrier: p.GetCarrier(),
			CarrierID: p.GetCarrierId(), Error: p.GetError(), Cost: p.GetCost(), UpdatedAt: ts(p.GetUpdatedAt())})
	}
	for _, a := range m.GetHistory() {
		v.History = append(v.History, attemptJSON{Carrier: a.GetCarrier(), Outcome: a.GetOutcome(), Detail: a.GetDetail(), At: ts(a.GetAt())})
	}
	return v
}

func eventView(e *pb.Event) eventJSON {
	v := eventJSON{Seq: e.GetSeq(), Kind: strings.ToLower(strings.TrimPrefix(e.GetKind().String(), "EVENT_KIND_")), Time: ts(e.GetTime()),
		MessageID: e.GetMessageId(), Detail: e.GetDetail()}
	if e.GetStatus() != pb.Status_STATUS_UNSPECIFIED {
		v.Status = statusName(e.GetStatus())
	}
	if in := e.GetInbound(); in != nil {
		v.Inbound = &inboundJSON{ID: in.GetId(), Carrier: in.GetCarrier(), From: in.GetFrom(), To: in.GetTo(), Text: in.GetText(),
			Keyword: in.GetKeyword(), ReceivedAt: ts(in.GetReceivedAt())}
	}
	if a := e.GetAudit(); a != nil {
		v.Audit = &auditJSON{User: a.GetUser(), Role: a.GetRole(), Source: a.GetSource(), Action: a.GetAction(),
			Target: a.GetTarget(), Outcome: a.GetOutcome(), At: ts(a.GetAt())}
	}
	return v
}

// writeJSON prints v indented, for a person or jq.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// writeJSONLine prints v on one line, for streams (one event a line).
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// shortTime prints a time for a table: UTC, to the second.
func shortTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format("2006-01-02 15:04:05")
}

// orDash keeps table columns aligned when a cell is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
