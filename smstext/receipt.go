package smstext

import (
	"errors"
	"strings"
	"time"
)

// ErrNoReceiptID is returned by ParseReceipt when the text has no "id:"
// field: without it a receipt cannot be matched to anything.
var ErrNoReceiptID = errors.New("smstext: delivery receipt has no id")

// ReceiptFields is the text form of an SMPP delivery receipt (SMPP 3.4
// Appendix B), which carriers put in the short_message of a deliver_sm:
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//
// The id is the carrier's message id as written in the receipt; normalize it
// with NormalizeID before matching.
type ReceiptFields struct {
	ID, Sub, Dlvrd, Stat, Err, Text string
	SubmitDate, DoneDate            time.Time // zero when absent/unparseable; YYMMDDhhmm or YYMMDDhhmmss, read as UTC
}

// Receipt field indexes, in Appendix B's order.
const (
	rfID = iota
	rfSub
	rfDlvrd
	rfSubmitDate
	rfDoneDate
	rfStat
	rfErr
	rfText
	rfCount
)

// receiptKeys are the field names, lower case; a space inside a name also
// matches '_' or nothing ("submit_date", "submitdate"), which carriers use.
var receiptKeys = [rfCount]string{"id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text"}

// ParseReceipt reads the text form of a delivery receipt tolerantly, because
// carriers vary it: keys are case-insensitive and may come in any order with
// extra spaces (also around ':'), fields may be missing, "text:" takes the
// rest of the line. A key is only recognised at the start of the text or
// after white space. When a key repeats the first wins. Dates that do not
// parse are left zero rather than failing the receipt. Only a missing or
// empty id is an error (ErrNoReceiptID), since such a receipt matches
// nothing.
func ParseReceipt(text string) (ReceiptFields, error) {
	type hit struct{ field, start, val int }
	hits := make([]hit, 0, 2*rfCount)
	var seen [rfCount]bool
	for i := 0; i < len(text); i++ {
		if i > 0 && !isReceiptSpace(text[i-1]) {
			continue
		}
		f, val, ok := matchReceiptKey(text, i)
		if !ok {
			continue
		}
		hits = append(hits, hit{f, i, val})
		if f == rfText {
			break
		}
		i = val - 1
	}
	var vals [rfCount]string
	for k, h := range hits {
		if seen[h.field] {
			continue
		}
		seen[h.field] = true
		end := len(text)
		if h.field == rfText {
			if nl := strings.IndexByte(text[h.val:], '\n'); nl >= 0 {
				end = h.val + nl
			}
		} else if k+1 < len(hits) {
			end = hits[k+1].start
		}
		vals[h.field] = strings.Trim(text[h.val:end], " \t\r\n\x00")
	}
	f := ReceiptFields{
		ID:         vals[rfID],
		Sub:        vals[rfSub],
		Dlvrd:      vals[rfDlvrd],
		SubmitDate: parseReceiptDate(vals[rfSubmitDate]),
		DoneDate:   parseReceiptDate(vals[rfDoneDate]),
		Stat:       vals[rfStat],
		Err:        vals[rfErr],
		Text:       vals[rfText],
	}
	if f.ID == "" {
		return f, ErrNoReceiptID
	}
	return f, nil
}

func isReceiptSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0
}

// matchReceiptKey reports which field's key starts text[i:], followed by
// optional spaces and ':', and where its value starts.
func matchReceiptKey(text string, i int) (field, val int, ok bool) {
	for f, key := range receiptKeys {
		j, matched := i, true
		for k := 0; k < len(key); k++ {
			if key[k] == ' ' {
				for j < len(text) && (text[j] == ' ' || text[j] == '_') {
					j++
				}
				continue
			}
			if j >= len(text) || lowerASCII(text[j]) != key[k] {
				matched = false
				break
			}
			j++
		}
		if !matched {
			continue
		}
		for j < len(text) && (text[j] == ' ' || text[j] == '\t') {
			j++
		}
		if j < len(text) && text[j] == ':' {
			return f, j + 1, true
		}
	}
	return 0, 0, false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Receipt date layouts: Appendix B's YYMMDDhhmm, and the seconds some
// carriers add.
const (
	receiptDate   = "0601021504"
	receiptDateSS = "060102150405"
)

// parseReceiptDate reads a receipt date as UTC, since the receipt carries no
// zone; zero when absent or unparseable.
func parseReceiptDate(v string) time.Time {
	layout := receiptDate
	switch len(v) {
	case len(receiptDate):
	case len(receiptDateSS):
		layout = receiptDateSS
	default:
		return time.Time{}
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return time.Time{}
		}
	}
	t, err := time.ParseInLocation(layout, v, time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}
