package gateway

import "github.com/openmf/smsgw/gateway/limits"

// fraudDetail starts the last_error of a message the tenant's fraud and
// spend controls refused.
const fraudDetail = "refused by the tenant's fraud controls: "

// screen runs the tenant's fraud and spend controls (limits.Fraud) over
// the sendable messages of an accept call, before they are stored: a
// refused message is stored REJECTED with the reason (final, never sent,
// visible to the caller), never dropped. The returned func is given the
// store's results (nil when the store failed) and gives back the spend
// and velocity the messages not newly stored took.
func (a *acceptor) screen(t *Tenant, msgs []*Message) func(res []AcceptResult) {
	items := make([]limits.Item, 0, len(msgs))
	at := make([]int, 0, len(msgs))
	capped := t.Fraud.DailySpendCap > 0 || t.Fraud.MonthlySpendCap > 0
	countries := len(t.Fraud.AllowCountries) > 0 || len(t.Fraud.DenyCountries) > 0
	for i, m := range msgs {
		if m.Status != StatusAccepted && m.Status != "" {
			continue // opted out: never sent, costs nothing
		}
		it := limits.Item{To: m.To, Parts: len(m.Parts)}
		if countries {
			it.Country = numberCountry(m.To)
		}
		if capped && a.price != nil {
			it.Cost = a.price(RouteQuery{Tenant: t.ID, From: m.From, To: m.To, Pinned: m.PinnedCarrier, At: a.now()})
		}
		items = append(items, it)
		at = append(at, i)
	}
	refusals, undo := a.fraud.Check(t.ID, t.Fraud, items)
	for j, r := range refusals {
		if r != nil {
			m := msgs[at[j]]
			m.Status, m.LastError = StatusRejected, fraudDetail+r.Detail
			a.log.Info("message refused by fraud controls", "tenant", t.ID, "to", MaskNumber(m.To), "reason", r.Reason)
		}
	}
	return func(res []AcceptResult) {
		notStored := make([]bool, len(items))
		for j, i := range at {
			notStored[j] = res == nil || res[i].Duplicate
		}
		undo(notStored)
	}
}
