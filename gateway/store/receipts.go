package store

import (
	"fmt"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/smstext"
)

// The receipt rules both stores share. A receipt names (carrier, carrier
// id); it applies to every part of the most recently submitted message that
// has that id and may still take a receipt: a carrier sending a message
// with message_payload returns one id for all its parts, and a carrier that
// recycles ids (a counter that wrapped or restarted) has only its latest
// use in flight. A part may take a receipt while it is not final and was
// submitted within the receipt's window (Receipt.Window). The stores load,
// for each id, the most recent submission with a part that is not final
// (else the most recent at all); pick decides whether and where the
// receipt applies, trying its alternative ids in turn; applyReceipt
// decides what to write.

// receiptTarget is the message a receipt applies to, with the parts of it
// that carry the receipt's carrier id.
type receiptTarget struct {
	msgID       string
	tenant      string
	msgStatus   gateway.Status
	partCount   int
	parts       []partState // the parts with the receipt's id, by index
	submittedAt int64       // the latest submission of those parts, ns
}

// takes says whether a receipt at now (ns) may apply to t: a part with its
// id is not final, and was submitted within the receipt's window.
func (t receiptTarget) takes(r gateway.Receipt, now int64) bool {
	w := r.Window
	if w <= 0 {
		w = gateway.DefaultReceiptWindow
	}
	if t.submittedAt < now-int64(w) {
		return false
	}
	for _, p := range t.parts {
		if !p.status.Final() {
			return true
		}
	}
	return false
}

// receiptIDs is r's carrier id, then its alternative readings.
func receiptIDs(r gateway.Receipt) []string {
	if len(r.AltIDs) == 0 {
		return []string{r.CarrierID}
	}
	return append([]string{r.CarrierID}, r.AltIDs...)
}

// pick finds where r applies: the target of the first of its ids whose
// parts may take it (target loads an id's). named says whether any of its
// ids named a part at all: a receipt that names parts none of which may
// take it is stale.
func pick(r gateway.Receipt, now int64, target func(carrierID string) (receiptTarget, bool)) (t receiptTarget, ok, named bool) {
	for _, id := range receiptIDs(r) {
		if id == "" {
			continue
		}
		t, found := target(id)
		if !found {
			continue
		}
		named = true
		if t.takes(r, now) {
			return t, true, true
		}
	}
	return receiptTarget{}, false, named
}

// keptIDs are the ids a receipt kept for a submit's carrier id may be
// stored under: the id itself and, as with receipt id base auto, its other
// readings. A receipt that overtakes its submit_sm_resp is kept under its
// own id (a carrier answering submits in hex writes receipts in decimal),
// so RecordSubmits looks for all of them.
func keptIDs(carrierID string) []string {
	return append([]string{carrierID}, smstext.AltIDs(carrierID, smstext.IDAuto)...)
}

// staleIDsMax bounds the ids a ReceiptTally lists.
const staleIDsMax = 5

// pruned adds a stale receipt PruneReceipts dropped to out.
func pruned(out *gateway.ReceiptsPruned, carrier, carrierID string) {
	if out.Stale == nil {
		out.Stale = make(map[string]gateway.ReceiptTally)
	}
	t := out.Stale[carrier]
	tallyStale(&t, gateway.Receipt{CarrierID: carrierID})
	out.Stale[carrier] = t
}

// tallyStale counts r stale in t.
func tallyStale(t *gateway.ReceiptTally, r gateway.Receipt) {
	t.Stale++
	if len(t.StaleIDs) < staleIDsMax {
		t.StaleIDs = append(t.StaleIDs, r.CarrierID)
	}
}

// partState is what applying and combining receipts need of one part.
type partState struct {
	idx    int
	status gateway.Status
	err    string
}

// receiptWriter is the row-level work of applying a receipt, implemented by
// each store's transaction.
type receiptWriter interface {
	// touchPart records that an intermediate receipt arrived for a part.
	touchPart(msgID string, idx int) error
	// setPart gives a part its final status and error text.
	setPart(msgID string, idx int, status gateway.Status, partErr string) error
	// partStates reads every part of a message, by index.
	partStates(msgID string) ([]partState, error)
	// finishMessage gives the message its final status, releasing any lease.
	finishMessage(msgID string, status gateway.Status, lastErr string) error
	// event queues a status event for the transaction.
	event(tenant, msgID string, status gateway.Status, detail string)
}

// applyReceipt updates the target's parts and, when the message has no part
// without a final status left, finishes the message with one event. A part
// that is final already keeps its status (a carrier resending a receipt),
// and a message that is final already (expired, canceled) keeps its status:
// only its parts' detail changes.
func applyReceipt(w receiptWriter, t receiptTarget, r gateway.Receipt) error {
	if !r.Status.Final() {
		for _, p := range t.parts {
			if err := w.touchPart(t.msgID, p.idx); err != nil {
				return err
			}
		}
		// An event with the unchanged status and the carrier's word
		// ("ENROUTE") tells followers the carrier holds the message
		// (Kannel's "buffered" report).
		if !t.msgStatus.Final() {
			w.event(t.tenant, t.msgID, t.msgStatus, eventDetail(r))
		}
		return nil
	}
	detail := eventDetail(r)
	partErr := ""
	if r.Status != gateway.StatusDelivered {
		partErr = receiptDetail(r)
	}
	changed := false
	for _, p := range t.parts {
		if p.status.Final() {
			continue
		}
		if err := w.setPart(t.msgID, p.idx, r.Status, partErr); err != nil {
			return err
		}
		changed = true
	}
	if !changed || t.msgStatus.Final() {
		return nil
	}
	final, lastErr := r.Status, partErr
	if t.partCount > 1 {
		parts, err := w.partStates(t.msgID)
		if err != nil {
			return err
		}
		var done bool
		final, lastErr, done = combineParts(parts)
		if !done {
			return nil
		}
		if final != gateway.StatusDelivered {
			detail = lastErr
		}
	}
	if err := w.finishMessage(t.msgID, final, lastErr); err != nil {
		return err
	}
	w.event(t.tenant, t.msgID, final, detail)
	return nil
}

// combineParts decides a multi-part message's status once every part has a
// final one: DELIVERED if all are, the common status if they agree,
// UNDELIVERED otherwise, with the first failing part's error.
func combineParts(parts []partState) (status gateway.Status, lastErr string, done bool) {
	same := true
	for i, p := range parts {
		if !p.status.Final() {
			return "", "", false
		}
		if i == 0 {
			status = p.status
		} else if p.status != status {
			same = false
		}
		if p.status != gateway.StatusDelivered && lastErr == "" {
			lastErr = fmt.Sprintf("part %d: %s", p.idx, partErrOr(p.err, p.status))
		}
	}
	if !same {
		status = gateway.StatusUndelivered
	}
	return status, lastErr, len(parts) > 0
}

// partErrOr is a part's error text, or its status when the carrier gave none.
func partErrOr(partErr string, status gateway.Status) string {
	if partErr == "" {
		return string(status)
	}
	return partErr
}

// receiptDetail is the carrier's own account of a receipt: its state word
// and error code, e.g. "UNDELIV err:034".
func receiptDetail(r gateway.Receipt) string {
	switch {
	case r.Error == "":
		return r.State
	case r.State == "":
		return "err:" + r.Error
	}
	return r.State + " err:" + r.Error
}

// eventDetail is what a receipt's status event carries: the receipt as the
// carrier wrote it when it sent a text (Kannel hands that on as %A), else
// receiptDetail.
func eventDetail(r gateway.Receipt) string {
	if r.Text != "" {
		return r.Text
	}
	return receiptDetail(r)
}
