package store

import (
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/openmf/smsgw/gateway"
)

// pgReceiptState is the state of the messages a batch's receipts apply
// to, read once under their row locks and changed in memory as receipts
// are applied in call order; it is the receiptWriter of receiptsStagePG,
// and queueWrites turns what changed into three multi-row statements.
type pgReceiptState struct {
	w       *ptx
	msgs    map[string]*pgMsgState
	ids     []string             // msgs' keys, in id order
	targets map[[2]string]string // (carrier, carrier id) -> the message it applies to
}

// pgMsgState is a message a receipt applies to, with all its parts.
type pgMsgState struct {
	tenant    string
	status    gateway.Status
	partCount int
	parts     []pgPartState // by index

	finished bool // finishMessage changed status and lastErr
	lastErr  string
}

type pgPartState struct {
	idx                int
	carrier, carrierID string
	submittedAt        int64
	status             gateway.Status
	err                string

	set, touched bool // setPart changed status and err; touchPart or setPart ran
}

// receiptPairs lists the distinct (carrier, carrier id) pairs of the
// receipts of ops that have a carrier id, as two columns and as a set.
func receiptPairs(ops []*pgOp) (cs, cids []string, want map[[2]string]bool) {
	want = make(map[[2]string]bool)
	for _, o := range ops {
		for _, r := range o.receipts.rs {
			for _, id := range receiptIDs(r) {
				p := [2]string{r.Carrier, id}
				if id != "" && !want[p] {
					want[p] = true
					cs, cids = append(cs, r.Carrier), append(cids, id)
				}
			}
		}
	}
	return cs, cids, want
}

// load reads the messages the receipts' (carrier, carrier id) pairs cs,
// cids apply to; want holds the same pairs. The rows were locked by phase 2
// (lockStage), or by a RecordSubmits of the batch for a carrier id it
// records; a message neither locked (which the receipt keys rule out) is
// locked here and the state read again.
func (st *pgReceiptState) load(cs, cids []string, want map[[2]string]bool) error {
	for range 2 {
		st.reset()
		if len(cs) == 0 {
			return nil
		}
		rows, err := st.w.query(sqlReceiptMessagesPG, cs, cids)
		if err != nil {
			return err
		}
		if err := st.scan(rows); err != nil {
			return err
		}
		if unlocked := st.unlocked(); len(unlocked) > 0 {
			if err := st.w.lockMore(unlocked); err != nil {
				return err
			}
			continue
		}
		st.findTargets(want)
		return nil
	}
	return fmt.Errorf("receipt messages still unlocked after locking them")
}

func (st *pgReceiptState) reset() {
	st.msgs = make(map[string]*pgMsgState)
	st.ids = st.ids[:0]
	st.targets = make(map[[2]string]string)
}

// scan reads rows of sqlReceiptMessagesPG (or the same columns) into st.
// A message st holds already keeps its state: it may have changed in
// memory since.
func (st *pgReceiptState) scan(rows pgx.Rows) error {
	var (
		id, tenant, status, partStatus string
		partCount                      int
		p                              pgPartState
	)
	fresh := make(map[string]bool)
	_, err := pgx.ForEachRow(rows, []any{&id, &tenant, &status, &partCount,
		&p.idx, &p.carrier, &p.carrierID, &p.submittedAt, &partStatus, &p.err}, func() error {
		m := st.msgs[id]
		if m == nil {
			m = &pgMsgState{tenant: tenant, status: gateway.Status(status), partCount: partCount}
			st.msgs[id] = m
			st.ids = append(st.ids, id)
			fresh[id] = true
		}
		if fresh[id] {
			p.status = gateway.Status(partStatus)
			m.parts = append(m.parts, p)
		}
		return nil
	})
	slices.Sort(st.ids)
	return err
}

// unlocked lists the loaded messages whose rows the batch has not locked.
func (st *pgReceiptState) unlocked() []string {
	var out []string
	for _, id := range st.ids {
		if _, ok := st.w.locked[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// findTargets sets the message each pair of want applies to: its latest
// submission with a part not final yet, else its latest at all, as
// sqlReceiptMessagesPG chose. The loaded messages include it, so the
// latest among them is the latest.
func (st *pgReceiptState) findTargets(want map[[2]string]bool) {
	type best struct {
		open bool // the part is not final
		at   int64
		id   string
	}
	latest := make(map[[2]string]best)
	for _, id := range st.ids {
		for _, p := range st.msgs[id].parts {
			k := [2]string{p.carrier, p.carrierID}
			if p.carrierID == "" || !want[k] {
				continue
			}
			c := best{!p.status.Final(), p.submittedAt, id}
			b, ok := latest[k]
			if !ok || (c.open && !b.open) || (c.open == b.open && (c.at > b.at || (c.at == b.at && id > b.id))) {
				latest[k] = c
			}
		}
	}
	for k, b := range latest {
		st.targets[k] = b.id
	}
}

// target is the receiptTarget of (carrier, carrierID) in the current
// state, false if it matches no part.
func (st *pgReceiptState) target(carrier, carrierID string) (receiptTarget, bool) {
	id, ok := st.targets[[2]string{carrier, carrierID}]
	if !ok {
		return receiptTarget{}, false
	}
	return st.targetIn(id, carrier, carrierID)
}

// targetIn is the receiptTarget of (carrier, carrierID) in message id,
// false if it has no such part.
func (st *pgReceiptState) targetIn(id, carrier, carrierID string) (receiptTarget, bool) {
	m := st.msgs[id]
	if m == nil {
		return receiptTarget{}, false
	}
	t := receiptTarget{msgID: id, tenant: m.tenant, msgStatus: m.status, partCount: m.partCount}
	for _, p := range m.parts {
		if p.carrier == carrier && p.carrierID == carrierID {
			t.parts = append(t.parts, partState{idx: p.idx, status: p.status, err: p.err})
			t.submittedAt = max(t.submittedAt, p.submittedAt)
		}
	}
	return t, len(t.parts) > 0
}

func (st *pgReceiptState) part(msgID string, idx int) (*pgPartState, error) {
	if m := st.msgs[msgID]; m != nil {
		for i := range m.parts {
			if m.parts[i].idx == idx {
				return &m.parts[i], nil
			}
		}
	}
	return nil, fmt.Errorf("part %d of message %s not loaded", idx, msgID)
}

// touchPart, setPart, partStates, finishMessage and event make
// pgReceiptState a receiptWriter.

func (st *pgReceiptState) touchPart(msgID string, idx int) error {
	p, err := st.part(msgID, idx)
	if err != nil {
		return err
	}
	p.touched = true
	return nil
}

func (st *pgReceiptState) setPart(msgID string, idx int, status gateway.Status, partErr string) error {
	p, err := st.part(msgID, idx)
	if err != nil {
		return err
	}
	p.status, p.err, p.set, p.touched = status, partErr, true, true
	return nil
}

func (st *pgReceiptState) partStates(msgID string) ([]partState, error) {
	m := st.msgs[msgID]
	if m == nil {
		return nil, fmt.Errorf("message %s not loaded", msgID)
	}
	out := make([]partState, len(m.parts))
	for i, p := range m.parts {
		out[i] = partState{idx: p.idx, status: p.status, err: p.err}
	}
	return out, nil
}

func (st *pgReceiptState) finishMessage(msgID string, status gateway.Status, lastErr string) error {
	m := st.msgs[msgID]
	if m == nil {
		return fmt.Errorf("message %s not loaded", msgID)
	}
	m.status, m.lastErr, m.finished = status, lastErr, true
	return nil
}

func (st *pgReceiptState) event(tenant, msgID string, status gateway.Status, detail string) {
	st.w.event(tenant, msgID, status, detail)
}

// queueWrites queues the statements that store what changed: the parts
// touched or given a final status, and the messages finished, in id order.
func (st *pgReceiptState) queueWrites(b *pgx.Batch) {
	var (
		pIDs, pSts, pErrs []string
		pIdx              []int32
		pSet              []bool
		mIDs, mSts, mErrs []string
	)
	for _, id := range st.ids {
		m := st.msgs[id]
		for _, p := range m.parts {
			if p.touched {
				pIDs, pIdx, pSet = append(pIDs, id), append(pIdx, int32(p.idx)), append(pSet, p.set)
				pSts, pErrs = append(pSts, string(p.status)), append(pErrs, p.err)
			}
		}
		if m.finished {
			mIDs, mSts, mErrs = append(mIDs, id), append(mSts, string(m.status)), append(mErrs, m.lastErr)
		}
	}
	if len(pIDs) > 0 {
		b.Queue(sqlReceiptPartsPG, pIDs, pIdx, pSet, pSts, pErrs, st.w.nowNs)
	}
	if len(mIDs) > 0 {
		b.Queue(sqlReceiptFinishPG, mIDs, mSts, mErrs, st.w.nowNs)
	}
}

var _ receiptWriter = (*pgReceiptState)(nil)
