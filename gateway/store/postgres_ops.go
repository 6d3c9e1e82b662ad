package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openmf/smsgw/gateway"
)

// The write operations of the PostgreSQL store. Each checks its input and
// queues itself to the node's writers (postgres_writer.go), which run it in
// the next batch: Accept, Claim, RecordSubmits and RecordReceipts as stages
// of the batch's pipeline (multi-row statements for all the calls of a
// kind), the others one by one. Where two nodes may touch the same message
// at once, the batch holds the message's row lock (phase 2, in id order)
// before any operation reads the state it decides on.

// sqlAcceptManyPG stores messages and their parts in one statement, each
// message only when its (tenant, client_ref) and its id are new, and
// returns the ids stored. The rows go in (tenant, client_ref, id) order, so
// that two batches inserting the same refs wait for each other in one
// order. $1..$17 are the messages' columns, $18 the batch's time, $19 the
// leases asked for at accept (0: none) and $20 this node, their owner.
const sqlAcceptManyPG = `WITH m AS (
		INSERT INTO messages (id, tenant, client_ref, sender, recipient, body, encoding, priority,
			not_before, expires_at, status, attempts, carrier, cost, currency, last_error,
			created_at, updated_at, part_count, next_attempt, due_at, lease_until, lease_owner,
			pinned_carrier, category, meta)
		SELECT id, tenant, ref, sender, rcpt, body, enc, prio, nb, exp, st, 0, '', 0, '', lerr,
			$18, $18, pc, 0, due, lease, CASE WHEN lease > 0 THEN $20 ELSE '' END, pin, cat, meta
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::int4[], $9::int8[], $10::int8[], $11::text[], $12::text[], $13::int4[], $14::int8[],
			$15::text[], $16::text[], $17::text[], $19::int8[])
			AS u(id, tenant, ref, sender, rcpt, body, enc, prio, nb, exp, st, lerr, pc, due, pin, cat, meta, lease)
		ORDER BY tenant, ref, id
		ON CONFLICT DO NOTHING RETURNING id, status, part_count),
	p AS (
		INSERT INTO parts (message_id, idx, carrier, carrier_id, status, error, submitted_at, updated_at)
		SELECT m.id, g, '', '', m.status, '', 0, $18 FROM m, generate_series(0, m.part_count - 1) g)
	SELECT id FROM m`

// pgAcceptArgs is an Accept call as the writer sees it.
type pgAcceptArgs struct {
	msgs    []*gateway.Message
	ids     []string
	results []gateway.AcceptResult
	now     time.Time
	node    string // the owner of the leases asked for at accept
}

// Accept stores msgs. A concurrent Accept with the same (tenant,
// client_ref), on any node, makes the insert wait for that transaction and
// then find its message.
func (s *pgStore) Accept(ctx context.Context, msgs []*gateway.Message) ([]gateway.AcceptResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	ids, err := acceptIDs(msgs)
	if err != nil {
		return nil, err
	}
	if err := checkAcceptText(msgs, ids); err != nil {
		return nil, err
	}
	a := &pgAcceptArgs{msgs: msgs, ids: ids, results: make([]gateway.AcceptResult, len(msgs)), node: s.node}
	err = s.submit(&pgOp{ctx: ctx, name: "accept", rank: pgRankAccept, accept: a, stage: acceptStagePG})
	if err != nil {
		return nil, err
	}
	acceptDone(msgs, a.results, a.now)
	return a.results, nil
}

// checkAcceptText refuses text PostgreSQL cannot store (NUL, invalid
// UTF-8) before the message joins a batch, where its statement would fail
// every message of the batch and force a replay.
func checkAcceptText(msgs []*gateway.Message, ids []string) error {
	names := [...]string{"id", "tenant", "client_ref", "from", "to", "text", "encoding",
		"pinned carrier", "category", "last error"}
	for i, m := range msgs {
		for j, v := range [...]string{ids[i], m.Tenant, m.ClientRef, m.From, m.To, m.Text,
			string(m.Encoding), m.PinnedCarrier, string(m.Category), m.LastError} {
			if !validText(v) {
				return fmt.Errorf("store: accept: message %d: %s: NUL or invalid UTF-8", i, names[j])
			}
		}
	}
	return nil
}

// acceptStagePG stores the messages of every Accept of the batch with one
// statement (sqlAcceptManyPG), resolving duplicates within the batch first
// and those already stored by one lookup after. An Accept that fails (a
// preset id that exists) fails alone; if it stored other messages by then,
// the batch is replayed without it.
func acceptStagePG(w *ptx, ops []*pgOp) *pgStage {
	type key struct{ tenant, ref string }
	type row struct {
		a *pgAcceptArgs
		i int
		o *pgOp
	}
	var (
		live                                         []*pgOp
		rows                                         []row
		first                                        = make(map[key]int) // (tenant, ref) -> its first row
		dups                                         []row               // later rows of a ref in the batch
		seen                                         = make(map[string]bool)
		ids, tenants, refs, froms, tos, bodies, encs []string
		sts, lerrs, pins, cats, metas                []string
		prios, pcs                                   []int32
		nbs, exps, dues, leases                      []int64
	)
	for _, o := range ops {
		a := o.accept
		a.now = w.now
		// A preset id an earlier message of the batch takes: the call
		// fails, as it would after that message's call.
		mine, mineRefs := make(map[string]bool, len(a.msgs)), map[key]bool{}
		for i, m := range a.msgs {
			if k := (key{m.Tenant, m.ClientRef}); m.ClientRef != "" {
				if _, dup := first[k]; dup || mineRefs[k] {
					continue
				}
				mineRefs[k] = true
			}
			if seen[a.ids[i]] || mine[a.ids[i]] {
				o.err = fmt.Errorf("store: accept: message id %s exists already", a.ids[i])
				break
			}
			mine[a.ids[i]] = true
		}
		if o.err != nil {
			continue
		}
		live = append(live, o)
		for i, m := range a.msgs {
			if m.ClientRef != "" {
				k := key{m.Tenant, m.ClientRef}
				if _, ok := first[k]; ok {
					dups = append(dups, row{a, i, o})
					continue
				}
				first[k] = len(rows)
			}
			rows = append(rows, row{a, i, o})
			seen[a.ids[i]] = true
			notBefore := toNanos(m.NotBefore)
			st, lastErr := acceptStatus(m)
			ids, tenants, refs = append(ids, a.ids[i]), append(tenants, m.Tenant), append(refs, m.ClientRef)
			froms, tos, bodies = append(froms, m.From), append(tos, m.To), append(bodies, m.Text)
			encs, prios, nbs = append(encs, string(m.Encoding)), append(prios, m.Priority), append(nbs, notBefore)
			exps, sts, lerrs = append(exps, toNanos(m.ExpiresAt)), append(sts, string(st)), append(lerrs, lastErr)
			pcs, dues = append(pcs, int32(len(m.Parts))), append(dues, max(notBefore, w.nowNs))
			pins, cats, metas = append(pins, m.PinnedCarrier), append(cats, string(m.Category)), append(metas, encodeMeta(m.Meta))
			leases = append(leases, acceptLease(m))
		}
	}
	if len(rows) == 0 {
		return &pgStage{ops: live}
	}
	stored := make(map[string]bool)
	return &pgStage{
		ops: live,
		queue: func(b *pgx.Batch) {
			b.Queue(sqlAcceptManyPG, ids, tenants, refs, froms, tos, bodies, encs, prios, nbs, exps,
				sts, lerrs, pcs, dues, pins, cats, metas, w.nowNs, leases, live[0].accept.node)
		},
		read: func(br pgx.BatchResults) error {
			got, err := br.Query()
			if err != nil {
				return fmt.Errorf("store: accept: %w", err)
			}
			var id string
			if _, err := pgx.ForEachRow(got, []any{&id}, func() error {
				stored[id] = true
				return nil
			}); err != nil {
				return fmt.Errorf("store: accept: %w", err)
			}
			return nil
		},
		after: func() error {
			// Rows not stored: their ref names a message stored before
			// (a duplicate), else their preset id exists.
			var lookTenants, lookRefs []string
			for _, r := range rows {
				if m := r.a.msgs[r.i]; !stored[r.a.ids[r.i]] && m.ClientRef != "" {
					lookTenants, lookRefs = append(lookTenants, m.Tenant), append(lookRefs, m.ClientRef)
				}
			}
			found := map[key]string{}
			if len(lookRefs) > 0 {
				got, err := w.query(`SELECT tenant, client_ref, id FROM messages
					WHERE (tenant, client_ref) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND client_ref <> ''`,
					lookTenants, lookRefs)
				if err != nil {
					return fmt.Errorf("store: accept: %w", err)
				}
				var tenant, ref, id string
				if _, err := pgx.ForEachRow(got, []any{&tenant, &ref, &id}, func() error {
					found[key{tenant, ref}] = id
					return nil
				}); err != nil {
					return fmt.Errorf("store: accept: %w", err)
				}
			}
			resolved := make([]string, len(rows))
			wrote, replay := map[*pgOp]bool{}, false
			for ri, r := range rows {
				m, id := r.a.msgs[r.i], r.a.ids[r.i]
				switch {
				case stored[id]:
					resolved[ri] = id
					r.a.results[r.i] = gateway.AcceptResult{ID: id}
					wrote[r.o] = true
				case m.ClientRef != "" && found[key{m.Tenant, m.ClientRef}] != "":
					resolved[ri] = found[key{m.Tenant, m.ClientRef}]
					r.a.results[r.i] = gateway.AcceptResult{ID: resolved[ri], Duplicate: true}
				default:
					r.o.err = fmt.Errorf("store: accept: message id %s exists already", id)
					// Later calls with its ref were told they duplicate it.
					replay = replay || m.ClientRef != ""
				}
			}
			for _, o := range live {
				if o.err != nil && wrote[o] {
					replay = true
				}
			}
			if replay {
				return errReplay
			}
			for _, r := range dups {
				m := r.a.msgs[r.i]
				r.a.results[r.i] = gateway.AcceptResult{ID: resolved[first[key{m.Tenant, m.ClientRef}]], Duplicate: true}
			}
			// Events in call order, for the messages stored.
			for _, o := range live {
				if o.err != nil {
					continue
				}
				for i, m := range o.accept.msgs {
					if r := o.accept.results[i]; !r.Duplicate {
						st, lastErr := acceptStatus(m)
						w.event(m.Tenant, r.ID, st, lastErr)
					}
				}
			}
			return nil
		},
	}
}

// ClaimLease is Options.LeaseDuration.
func (s *pgStore) ClaimLease() time.Duration { return s.opts.LeaseDuration }

// Claim leases due messages in priority order. FOR UPDATE SKIP LOCKED lets
// nodes claim side by side: each skips the rows another is leasing right
// now, and a lease that lapsed (its node died) is due again for anyone.
func (s *pgStore) Claim(ctx context.Context, now time.Time, limit int) ([]*gateway.Message, error) {
	return s.claim(ctx, now, "", limit)
}

// ClaimFor implements gateway.MessageStore.
func (s *pgStore) ClaimFor(ctx context.Context, now time.Time, tenant string, limit int) ([]*gateway.Message, error) {
	if tenant == "" {
		return nil, fmt.Errorf("store: claim: empty tenant")
	}
	return s.claim(ctx, now, tenant, limit)
}

// claim leases due messages: every tenant's when tenant is "", else that
// tenant's.
func (s *pgStore) claim(ctx context.Context, now time.Time, tenant string, limit int) ([]*gateway.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	nowNs := toNanos(now)
	a := &pgClaimArgs{now: nowNs, until: nowNs + int64(s.opts.LeaseDuration), limit: limit, node: s.node, tenant: tenant}
	if err := s.submit(&pgOp{ctx: ctx, name: "claim", rank: pgRankClaim, claim: a, stage: claimStagePG}); err != nil {
		return nil, err
	}
	return a.out, nil
}

// pgClaimArgs is a Claim call as the writer sees it.
type pgClaimArgs struct {
	now, until int64
	limit      int
	node       string
	tenant     string // "": every tenant's
	out        []*gateway.Message
}

// claimStagePG runs each Claim of the batch as one statement (sqlClaimPG)
// in the batch's pipeline.
func claimStagePG(w *ptx, ops []*pgOp) *pgStage {
	return &pgStage{
		ops: ops,
		queue: func(b *pgx.Batch) {
			for _, o := range ops {
				a := o.claim
				if a.tenant == "" {
					b.Queue(sqlClaimPG, a.now, a.limit, a.until, a.node)
				} else {
					b.Queue(sqlClaimTenantPG, a.now, a.limit, a.until, a.node, a.tenant)
				}
			}
		},
		read: func(br pgx.BatchResults) error {
			for _, o := range ops {
				if err := readClaim(br, o.claim); err != nil {
					return &pgOpFailed{o, fmt.Errorf("store: claim: %w", err)}
				}
			}
			return nil
		},
	}
}

// readClaim reads one claim's messages, one row per part, into a.out.
func readClaim(br pgx.BatchResults, a *pgClaimArgs) error {
	a.out = a.out[:0]
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	var last *gateway.Message
	for rows.Next() {
		var (
			p       gateway.Part
			status  string
			updated int64
		)
		m, err := scanMessage(pgMultiScanner{rows, []any{&p.Index, &p.Carrier, &p.CarrierID, &status, &p.Error, &updated}})
		if err != nil {
			return err
		}
		if last == nil || last.ID != m.ID {
			m.LeaseUntil = time.Unix(0, a.until)
			a.out = append(a.out, m)
			last = m
		}
		p.Status = gateway.Status(status)
		p.UpdatedAt = fromNanos(updated)
		last.Parts = append(last.Parts, p)
	}
	return rows.Err()
}

// sqlClaimPG leases due messages and returns them with their parts, in
// claim order, one row per part: $1 now, $2 limit, $3 lease end, $4 node.
var sqlClaimPG = claimPG("")

// sqlClaimTenantPG is sqlClaimPG over the tenant $5 only
// (messages_tenant_due).
var sqlClaimTenantPG = claimPG("tenant = $5 AND ")

// claimPG is the claim statement with an extra condition cond.
func claimPG(cond string) string {
	return `WITH c AS (
		SELECT id FROM messages
		WHERE ` + cond + `status = 'ACCEPTED' AND not_before <= $1 AND next_attempt <= $1 AND lease_until < $1
		ORDER BY priority DESC, due_at, id LIMIT $2
		FOR UPDATE SKIP LOCKED),
	m AS (
		UPDATE messages m SET lease_until = $3, lease_owner = $4 FROM c WHERE m.id = c.id
		RETURNING ` + prefixed("m.", messageColumns) + `, m.due_at)
	SELECT ` + prefixed("m.", messageColumns) + `, p.idx, p.carrier, p.carrier_id, p.status, p.error, p.updated_at
	FROM m JOIN parts p ON p.message_id = m.id
	ORDER BY m.priority DESC, m.due_at, m.id, p.idx`
}

// RecordSubmits stores carrier ids, completes fully submitted messages and
// applies receipts that were waiting for these ids. The batch holds the
// ids' receipt keys and the messages' rows before it runs.
func (s *pgStore) RecordSubmits(ctx context.Context, recs []gateway.SubmitRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if err := checkSubmits(recs); err != nil {
		return err
	}
	pairs := make([][2]string, len(recs))
	msgIDs := make([]string, len(recs))
	for i, r := range recs {
		pairs[i] = [2]string{r.Carrier, r.CarrierID}
		msgIDs[i] = r.MessageID
	}
	return s.submit(&pgOp{ctx: ctx, name: "record submits", rank: pgRankSubmits, msgIDs: msgIDs, keys: pairs,
		submits: recs, stage: submitsStagePG})
}

// The multi-row statements of RecordSubmits.
const (
	// sqlSubmitPartsPG records carrier ids: $1 message ids, $2 indexes,
	// $3 carriers, $4 carrier ids, $5 times, $6 costs; one row per part.
	sqlSubmitPartsPG = `UPDATE parts p SET carrier = u.c, carrier_id = u.cid,
			status = CASE WHEN p.status IN ('ACCEPTED', 'SUBMITTED') THEN 'SUBMITTED' ELSE p.status END,
			submitted_at = u.at, updated_at = u.at, cost = u.cost
		FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[], $5::int8[], $6::float8[])
			AS u(m, i, c, cid, at, cost)
		WHERE p.message_id = u.m AND p.idx = u.i`
	// sqlSubmitTotalsPG adds each message's totals ($1 ids, $2 carriers,
	// $3 costs, $4 currencies; $5 now) and makes an ACCEPTED message with
	// no part left unsent SUBMITTED, releasing its lease; it returns which
	// it made SUBMITTED. The unsent parts are counted per message through
	// the parts key: a NOT EXISTS there may be planned as one hashed scan
	// of every unsent part in the table. MATERIALIZED counts them once.
	sqlSubmitTotalsPG = `WITH u AS MATERIALIZED (
			SELECT u.id, u.c, u.cost, u.cur, m.status = 'ACCEPTED'
				AND (SELECT count(*) FROM parts p WHERE p.message_id = u.id AND p.carrier_id = '') = 0 AS done
			FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[]) AS u(id, c, cost, cur)
			JOIN messages m ON m.id = u.id)
		UPDATE messages m SET carrier = COALESCE(NULLIF(u.c, ''), m.carrier), cost = m.cost + u.cost,
			currency = COALESCE(NULLIF(u.cur, ''), m.currency), updated_at = $5,
			status = CASE WHEN u.done THEN 'SUBMITTED' ELSE m.status END,
			lease_until = CASE WHEN u.done THEN 0 ELSE m.lease_until END
		FROM u WHERE m.id = u.id
		RETURNING m.id, m.tenant, u.done`
	// sqlSubmitAttemptsPG appends "submitted" attempts: $1 message ids,
	// $2 carriers, $3 times. A message that does not exist gets none (its
	// call fails after the statement, see submitsStagePG).
	sqlSubmitAttemptsPG = `INSERT INTO attempts (message_id, carrier, outcome, detail, at)
		SELECT m, c, 'submitted', '', at FROM unnest($1::text[], $2::text[], $3::int8[])
			WITH ORDINALITY AS u(m, c, at, n)
		WHERE EXISTS (SELECT 1 FROM messages WHERE id = u.m)
		ORDER BY n`
	// sqlUnmatchedManyPG lists the stored receipts for the (carrier,
	// carrier id) pairs $1, $2 that arrived at or after $3 (gateway.ReceiptRace
	// ago), in arrival order.
	sqlUnmatchedManyPG = `SELECT id, carrier, carrier_id, status, state, error, at FROM unmatched_receipts
		WHERE (carrier, carrier_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND received_at >= $3 ORDER BY id`
	// sqlWaitingStatePG reads, as sqlReceiptMessagesPG does, the messages
	// $3 that just recorded a (carrier $1, carrier id $2) some stored
	// receipt waits for, with all their parts.
	sqlWaitingStatePG = `WITH w AS (
			SELECT DISTINCT s.m FROM unnest($1::text[], $2::text[], $3::text[]) AS s(c, cid, m)
			JOIN unmatched_receipts u ON u.carrier = s.c AND u.carrier_id = s.cid)
		SELECT m.id, m.tenant, m.status, m.part_count,
			p.idx, p.carrier, p.carrier_id, p.submitted_at, p.status, p.error
		FROM w JOIN messages m ON m.id = w.m JOIN parts p ON p.message_id = m.id
		ORDER BY m.id, p.idx`
)

// submitsStagePG runs the RecordSubmits of a batch as multi-row statements
// in the batch's pipeline: the parts (in rounds, when a batch records one
// part twice, so that the later record wins as it would in call order),
// the messages' totals and statuses, the attempts, and the lookup of
// receipts waiting for the ids. A call that names a message or part that
// does not exist fails alone (found against the locked rows once the
// pipeline has run: the batch is then replayed without it). Receipts found
// waiting are applied one by one, as they are rare.
func submitsStagePG(w *ptx, ops []*pgOp) *pgStage {
	type partKey struct {
		id  string
		idx int
	}
	type total struct {
		carrier, currency string
		cost              float64
		at                int64
	}
	var (
		rounds                      []*pgSubmitRound
		seen                        = make(map[partKey]int)
		order                       []string // messages, by first record
		totals                      = make(map[string]*total)
		attIDs, attCarriers         []string
		attAts                      []int64
		pairCarriers, pairCarrierID []string
		pairMsgs                    []string
	)
	for _, o := range ops {
		var opOrder []string
		opTotals := make(map[string]*total)
		for _, r := range o.submits {
			at := w.nowNs
			if !r.At.IsZero() {
				at = r.At.UnixNano()
			}
			k := partKey{r.MessageID, r.Index}
			n := seen[k]
			seen[k] = n + 1
			if n == len(rounds) {
				rounds = append(rounds, &pgSubmitRound{})
			}
			rd := rounds[n]
			rd.ids, rd.idxs, rd.cs = append(rd.ids, r.MessageID), append(rd.idxs, int32(r.Index)), append(rd.cs, r.Carrier)
			rd.cids, rd.ats, rd.costs = append(rd.cids, r.CarrierID), append(rd.ats, at), append(rd.costs, r.Cost)
			for _, id := range keptIDs(r.CarrierID) {
				pairCarriers, pairCarrierID = append(pairCarriers, r.Carrier), append(pairCarrierID, id)
				pairMsgs = append(pairMsgs, r.MessageID)
			}
			t := opTotals[r.MessageID]
			if t == nil {
				t = &total{}
				opTotals[r.MessageID] = t
				opOrder = append(opOrder, r.MessageID)
			}
			t.carrier = r.Carrier
			if r.Currency != "" {
				t.currency = r.Currency
			}
			t.cost += r.Cost
			t.at = max(t.at, at)
		}
		// Each call adds one attempt per message; the message's totals
		// are the calls' in call order (the last carrier and currency
		// given, the sum of the costs).
		for _, id := range opOrder {
			t := opTotals[id]
			attIDs, attCarriers, attAts = append(attIDs, id), append(attCarriers, t.carrier), append(attAts, t.at)
			g := totals[id]
			if g == nil {
				g = &total{}
				totals[id] = g
				order = append(order, id)
			}
			if t.carrier != "" {
				g.carrier = t.carrier
			}
			if t.currency != "" {
				g.currency = t.currency
			}
			g.cost += t.cost
		}
	}
	totCarriers, totCosts, totCurrencies := make([]string, len(order)), make([]float64, len(order)), make([]string, len(order))
	for i, id := range order {
		g := totals[id]
		totCarriers[i], totCosts[i], totCurrencies[i] = g.carrier, g.cost, g.currency
	}
	var (
		updated int64
		done    map[string]bool
		tenants map[string]string
		waiting map[[2]string][]pgWaitingReceipt
	)
	// Run as a group, the batch also reads the state of the messages that
	// receipts wait for, and applies those in memory (pgReceiptState) with
	// the batch's other receipts.
	grouped := w.deferred != nil
	return &pgStage{
		ops: ops,
		queue: func(b *pgx.Batch) {
			for _, rd := range rounds {
				b.Queue(sqlSubmitPartsPG, rd.ids, rd.idxs, rd.cs, rd.cids, rd.ats, rd.costs)
			}
			b.Queue(sqlSubmitTotalsPG, order, totCarriers, totCosts, totCurrencies, w.nowNs)
			b.Queue(sqlSubmitAttemptsPG, attIDs, attCarriers, attAts)
			b.Queue(sqlUnmatchedManyPG, pairCarriers, pairCarrierID, w.nowNs-int64(gateway.ReceiptRace))
			if grouped {
				b.Queue(sqlWaitingStatePG, pairCarriers, pairCarrierID, pairMsgs)
			}
			w.dirty = true
		},
		read: func(br pgx.BatchResults) (err error) {
			updated, done, tenants, waiting, err = readSubmitResults(br, rounds)
			if err == nil && grouped {
				var rows pgx.Rows
				if rows, err = br.Query(); err == nil {
					err = w.receiptState().scan(rows)
				}
			}
			if err != nil {
				return fmt.Errorf("store: record submits: %w", err)
			}
			return nil
		},
		after: func() error {
			want, failed := 0, false
			for _, o := range ops {
				for _, r := range o.submits {
					lm, ok := w.locked[r.MessageID]
					if !ok || r.Index < 0 || r.Index >= lm.partCount {
						o.err = fmt.Errorf("store: record submit %s part %d: %w", r.MessageID, r.Index, gateway.ErrNotFound)
						failed = true
						break
					}
				}
				want += len(o.submits)
			}
			if failed {
				return errReplay
			}
			if updated != int64(want) {
				return fmt.Errorf("store: record submits: %d parts updated for %d records", updated, want)
			}
			for _, id := range order {
				if done[id] {
					w.event(tenants[id], id, gateway.StatusSubmitted, "")
				}
			}
			if len(waiting) == 0 {
				return nil
			}
			if grouped {
				return applyWaiting(w, ops, waiting)
			}
			// Apply the waiting receipts of each (carrier, carrier id)
			// to the message that recorded it first in call order, then
			// forget them.
			w.receiptsStale = true
			for _, o := range ops {
				for _, r := range o.submits {
					p := [2]string{r.Carrier, r.CarrierID}
					ws := waiting[p]
					if len(ws) == 0 {
						continue
					}
					delete(waiting, p)
					for _, x := range ws {
						t, err := w.target(submittedPart, r.MessageID, r.Carrier, r.CarrierID)
						if err == nil {
							err = applyReceipt(w, t, x.Receipt)
						}
						if err == nil {
							_, err = w.exec("DELETE FROM unmatched_receipts WHERE id = $1", x.id)
						}
						if err != nil {
							return fmt.Errorf("store: record submit %s part %d: %w", r.MessageID, r.Index, err)
						}
					}
				}
			}
			return nil
		},
	}
}

// applyWaiting applies, in memory (w.receiptState), the receipts waiting
// for the (carrier, carrier id) pairs ops recorded: each pair's to the
// message that recorded it first in call order. The writes, and the
// deletion of the receipts applied, go with the COMMIT.
func applyWaiting(w *ptx, ops []*pgOp, waiting map[[2]string][]pgWaitingReceipt) error {
	st := w.receiptState()
	var applied []int64
	for _, o := range ops {
		for _, r := range o.submits {
			var ws []pgWaitingReceipt
			for _, id := range keptIDs(r.CarrierID) {
				p := [2]string{r.Carrier, id}
				ws = append(ws, waiting[p]...)
				delete(waiting, p)
			}
			if len(ws) == 0 {
				continue
			}
			slices.SortFunc(ws, func(a, b pgWaitingReceipt) int { return cmp.Compare(a.id, b.id) }) // arrival order
			t, ok := st.targetIn(r.MessageID, r.Carrier, r.CarrierID)
			if !ok {
				return fmt.Errorf("store: record submit %s part %d: its state was not read", r.MessageID, r.Index)
			}
			for _, x := range ws {
				if err := applyReceipt(st, t, x.Receipt); err != nil {
					return fmt.Errorf("store: record submit %s part %d: %w", r.MessageID, r.Index, err)
				}
				applied = append(applied, x.id)
				t, _ = st.targetIn(r.MessageID, r.Carrier, r.CarrierID)
			}
		}
	}
	w.deferred.Queue("DELETE FROM unmatched_receipts WHERE id = ANY($1)", applied)
	return nil
}

// pgSubmitRound is one statement of submitsStagePG's part updates: at
// most one record per part.
type pgSubmitRound struct {
	ids, cs, cids []string
	idxs          []int32
	ats           []int64
	costs         []float64
}

// pgWaitingReceipt is a stored receipt that matched no part when it arrived.
type pgWaitingReceipt struct {
	id int64
	gateway.Receipt
}

// readSubmitResults reads the results of submitsStagePG's pipeline: how
// many parts were updated, which messages became SUBMITTED, their tenants,
// and the receipts waiting per (carrier, carrier id), in arrival order.
func readSubmitResults(br pgx.BatchResults, rounds []*pgSubmitRound) (int64, map[string]bool, map[string]string, map[[2]string][]pgWaitingReceipt, error) {
	var updated int64
	for range rounds {
		tag, err := br.Exec()
		if err != nil {
			return 0, nil, nil, nil, err
		}
		updated += tag.RowsAffected()
	}
	done, tenants := make(map[string]bool), make(map[string]string)
	rows, err := br.Query()
	if err != nil {
		return 0, nil, nil, nil, err
	}
	var (
		id, tenant string
		ok         bool
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &tenant, &ok}, func() error {
		done[id], tenants[id] = ok, tenant
		return nil
	}); err != nil {
		return 0, nil, nil, nil, err
	}
	if _, err := br.Exec(); err != nil {
		return 0, nil, nil, nil, err
	}
	rows, err = br.Query()
	if err != nil {
		return 0, nil, nil, nil, err
	}
	var waiting map[[2]string][]pgWaitingReceipt
	var (
		x      pgWaitingReceipt
		status string
		at     int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&x.id, &x.Carrier, &x.CarrierID, &status, &x.State, &x.Error, &at}, func() error {
		if waiting == nil {
			waiting = make(map[[2]string][]pgWaitingReceipt)
		}
		x.Status, x.Time = gateway.Status(status), fromNanos(at)
		p := [2]string{x.Carrier, x.CarrierID}
		waiting[p] = append(waiting[p], x)
		return nil
	}); err != nil {
		return 0, nil, nil, nil, err
	}
	return updated, done, tenants, waiting, nil
}

// target loads the receiptTarget the condition on parts p selects
// (pgx.ErrNoRows if none).
func (w *ptx) target(cond string, args ...any) (receiptTarget, error) {
	var t receiptTarget
	rows, err := w.query(sqlTarget+cond+" ORDER BY p.idx", args...)
	if err != nil {
		return t, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p                 partState
			partStatus, state string
		)
		if err := rows.Scan(&t.msgID, &p.idx, &partStatus, &p.err, &t.tenant, &state, &t.partCount); err != nil {
			return t, err
		}
		p.status, t.msgStatus = gateway.Status(partStatus), gateway.Status(state)
		t.parts = append(t.parts, p)
	}
	if err := rows.Err(); err != nil {
		return t, err
	}
	if len(t.parts) == 0 {
		return t, pgx.ErrNoRows
	}
	return t, nil
}

// pgReceiptArgs is a RecordReceipts call as the writer sees it.
type pgReceiptArgs struct {
	rs    []gateway.Receipt
	tally gateway.ReceiptTally
}

// RecordReceipts matches receipts by (carrier, carrier id), through the
// shared index, whichever node recorded the id, and keeps final ones that
// match nothing yet. The batch holds the receipts' keys, then the rows of
// the messages they name, before it reads their parts: two nodes receiving
// receipts for two parts of one message see each other's part, and exactly
// one of them finishes the message.
func (s *pgStore) RecordReceipts(ctx context.Context, rs []gateway.Receipt) (gateway.ReceiptTally, error) {
	if len(rs) == 0 {
		return gateway.ReceiptTally{}, nil
	}
	pairs := make([][2]string, 0, len(rs))
	for _, r := range rs {
		for _, id := range receiptIDs(r) {
			pairs = append(pairs, [2]string{r.Carrier, id})
		}
	}
	a := &pgReceiptArgs{rs: rs}
	err := s.submit(&pgOp{ctx: ctx, name: "record receipts", rank: pgRankReceipts, keys: pairs,
		receipts: a, stage: receiptsStagePG})
	if err != nil {
		return gateway.ReceiptTally{}, err
	}
	return a.tally, nil
}

// PruneReceipts implements gateway.Store.
func (s *pgStore) PruneReceipts(ctx context.Context, p gateway.ReceiptPrune) (gateway.ReceiptsPruned, error) {
	var out gateway.ReceiptsPruned
	err := s.write(ctx, "prune receipts", func(w *ptx) error {
		out = gateway.ReceiptsPruned{}
		rows, err := w.query(sqlPruneReceiptsStale, toNanos(p.StaleBefore))
		if err != nil {
			return fmt.Errorf("store: prune receipts: %w", err)
		}
		w.dirty = true // the delete, whatever fails after
		var carrier, id string
		_, err = pgx.ForEachRow(rows, []any{&carrier, &id}, func() error {
			pruned(&out, carrier, id)
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: prune receipts: %w", err)
		}
		old, err := w.exec(sqlPruneReceiptsOld, toNanos(p.Before))
		if err != nil {
			return fmt.Errorf("store: prune receipts: %w", err)
		}
		over, err := w.exec(sqlPruneReceiptsOver, p.Keep)
		if err != nil {
			return fmt.Errorf("store: prune receipts: %w", err)
		}
		out.Dropped = int(old + over)
		return nil
	})
	return out, err
}

// The multi-row statements of RecordReceipts.
const (
	// sqlReceiptMessagesPG reads the message each (carrier $1, carrier id
	// $2) applies to now (the latest to record the id), with all its parts.
	sqlReceiptMessagesPG = `WITH t AS (
			SELECT DISTINCT x.message_id FROM unnest($1::text[], $2::text[]) AS u(c, cid)
			CROSS JOIN LATERAL (SELECT message_id FROM parts
				WHERE carrier = u.c AND carrier_id = u.cid AND carrier_id <> ''
				ORDER BY status <> 'SUBMITTED', submitted_at DESC, message_id DESC LIMIT 1) x)
		SELECT m.id, m.tenant, m.status, m.part_count,
			p.idx, p.carrier, p.carrier_id, p.submitted_at, p.status, p.error
		FROM t JOIN messages m ON m.id = t.message_id JOIN parts p ON p.message_id = m.id
		ORDER BY m.id, p.idx`
	// sqlReceiptPartsPG writes parts: $1 message ids, $2 indexes, $3
	// whether the part takes status $4 and error $5 or is only touched;
	// $6 now.
	sqlReceiptPartsPG = `UPDATE parts p SET status = CASE WHEN u.fin THEN u.st ELSE p.status END,
			error = CASE WHEN u.fin THEN u.err ELSE p.error END, updated_at = $6
		FROM unnest($1::text[], $2::int4[], $3::bool[], $4::text[], $5::text[]) AS u(m, i, fin, st, err)
		WHERE p.message_id = u.m AND p.idx = u.i`
	// sqlReceiptFinishPG finishes messages: $1 ids, $2 statuses, $3 last
	// errors, $4 now.
	sqlReceiptFinishPG = `UPDATE messages m SET status = u.st, last_error = u.err, lease_until = 0, updated_at = $4
		FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, st, err) WHERE m.id = u.id`
	// sqlKeepReceiptsPG keeps final receipts that matched nothing, in
	// order: $1..$7 their columns, $8 now.
	sqlKeepReceiptsPG = `INSERT INTO unmatched_receipts (carrier, carrier_id, status, state, error, at, named, received_at)
		SELECT c, cid, st, state, err, at, named, $8
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::bool[])
			WITH ORDINALITY AS u(c, cid, st, state, err, at, named, n)
		ORDER BY n`
)

// receiptsStagePG applies the receipts of every RecordReceipts of the
// batch: one statement, last in the batch's pipeline, reads the messages
// they apply to, with their parts; the receipts are applied in call order
// to that state in memory (the same rules, applyReceipt, as one at a time);
// and what changed (the parts, the finished messages, the receipts kept
// for later) is written with the COMMIT. Run operation by operation, each
// reads and writes on its own.
func receiptsStagePG(w *ptx, ops []*pgOp) *pgStage {
	cs, cids, want := receiptPairs(ops)
	stage := &pgStage{ops: ops}
	if w.deferred == nil {
		// One by one: read, apply and write now.
		stage.after = func() error {
			st := &pgReceiptState{w: w}
			if err := st.load(cs, cids, want); err != nil {
				return fmt.Errorf("store: record receipts: %w", err)
			}
			return applyReceipts(w, st, ops)
		}
		return stage
	}
	st := w.receiptState()
	if len(cs) > 0 {
		stage.queue = func(b *pgx.Batch) { b.Queue(sqlReceiptMessagesPG, cs, cids) }
		stage.read = func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err == nil {
				err = st.scan(rows)
			}
			if err != nil {
				return fmt.Errorf("store: record receipts: %w", err)
			}
			return nil
		}
	}
	stage.after = func() error {
		if len(st.unlocked()) > 0 { // see load; one by one, the batch locks them
			return fmt.Errorf("store: record receipts: a message read is not locked")
		}
		st.findTargets(want)
		return applyReceipts(w, st, ops)
	}
	return stage
}

// applyReceipts applies the receipts of ops to st in call order and, one
// operation at a time, writes what changed now; run as a group, the batch
// writes the state with the COMMIT (tryBatch), and the receipts kept.
func applyReceipts(w *ptx, st *pgReceiptState, ops []*pgOp) error {
	var keepC, keepCID, keepSt, keepState, keepErr []string
	var keepAt []int64
	var keepNamed []bool
	for _, o := range ops {
		a := o.receipts
		a.tally = gateway.ReceiptTally{}
		for _, r := range a.rs {
			if r.CarrierID == "" {
				continue
			}
			t, ok, named := pick(r, w.nowNs, func(id string) (receiptTarget, bool) { return st.target(r.Carrier, id) })
			if !ok {
				switch {
				case r.Status.Final():
					if named {
						a.tally.Held++
					}
					keepC, keepCID, keepSt = append(keepC, r.Carrier), append(keepCID, r.CarrierID), append(keepSt, string(r.Status))
					keepState, keepErr, keepAt = append(keepState, r.State), append(keepErr, r.Error), append(keepAt, toNanos(r.Time))
					keepNamed = append(keepNamed, named)
				case named:
					tallyStale(&a.tally, r)
				}
				continue
			}
			a.tally.Matched++
			if err := applyReceipt(st, t, r); err != nil {
				return fmt.Errorf("store: record receipt %s/%s: %w", r.Carrier, r.CarrierID, err)
			}
		}
	}
	b := w.deferred
	if b == nil {
		b = &pgx.Batch{}
		st.queueWrites(b)
	}
	if len(keepC) > 0 {
		b.Queue(sqlKeepReceiptsPG, keepC, keepCID, keepSt, keepState, keepErr, keepAt, keepNamed, w.nowNs)
	}
	if b == w.deferred || b.Len() == 0 {
		return nil
	}
	w.dirty = true
	if err := w.sendBatch(b).Close(); err != nil {
		return fmt.Errorf("store: record receipts: %w", err)
	}
	return nil
}

// RecordAttempts appends failed attempts to the messages' histories in one
// statement. The batch locks the messages' rows first, which the attempts'
// foreign key would otherwise share-lock after the batch's other row locks.
func (s *pgStore) RecordAttempts(ctx context.Context, recs []gateway.AttemptRecord) error {
	if len(recs) == 0 {
		return nil
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.MessageID
	}
	return s.writeLocked(ctx, "record attempts", ids, func(w *ptx) error {
		n := len(recs)
		carriers, outcomes, details, ats := make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
		for i, r := range recs {
			carriers[i], outcomes[i], details[i], ats[i] = r.Carrier, r.Outcome, r.Detail, attemptTime(r, w.nowNs)
		}
		if _, err := w.exec(`INSERT INTO attempts (message_id, carrier, outcome, detail, at)
			SELECT m, c, o, d, at FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[])
				WITH ORDINALITY AS u(m, c, o, d, at, n)
			ORDER BY n`, ids, carriers, outcomes, details, ats); err != nil {
			return fmt.Errorf("store: record attempts: %w", err)
		}
		return nil
	})
}

// Reschedule releases a claimed message for another attempt. A message that
// is no longer ACCEPTED (submitted or final meanwhile) is left alone.
func (s *pgStore) Reschedule(ctx context.Context, id string, lease, at time.Time, lastErr string, counted bool) error {
	inc := 0
	if counted {
		inc = 1
	}
	return s.writeLocked(ctx, "reschedule", []string{id}, func(w *ptx) error {
		n, err := w.exec(sqlReschedule, toNanos(at), lastErr, w.nowNs, id, inc, toNanos(lease))
		if err != nil {
			return fmt.Errorf("store: reschedule %s: %w", id, err)
		}
		if n > 0 {
			return nil
		}
		var (
			tenant, status string
			leaseUntil     int64
		)
		err = w.queryRow(sqlLeaseState, id).Scan(&tenant, &status, &leaseUntil)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: reschedule %s: %w", id, gateway.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: reschedule %s: %w", id, err)
		}
		if leaseLost(toNanos(lease), leaseUntil, gateway.Status(status)) {
			return fmt.Errorf("store: reschedule %s: %w", id, gateway.ErrLeaseLost)
		}
		return nil
	})
}

// Finish gives a message its final status; see the SQLite store for the
// rules. The batch locks the message's row first, so a receipt finishing it
// on another node at the same moment yields exactly one final event.
func (s *pgStore) Finish(ctx context.Context, id string, lease time.Time, status gateway.Status, detail string) error {
	if !status.Final() {
		return fmt.Errorf("store: finish %s: status %q is not final", id, status)
	}
	return s.writeLocked(ctx, "finish", []string{id}, func(w *ptx) error {
		var (
			tenant, cur string
			leaseUntil  int64
		)
		err := w.queryRow(sqlLeaseState+" FOR UPDATE", id).Scan(&tenant, &cur, &leaseUntil)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: finish %s: %w", id, gateway.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: finish %s: %w", id, err)
		}
		if gateway.Status(cur).Final() {
			return nil
		}
		if leaseLost(toNanos(lease), leaseUntil, gateway.Status(cur)) {
			return fmt.Errorf("store: finish %s: %w", id, gateway.ErrLeaseLost)
		}
		if _, err := w.exec(sqlFinishMsg, string(status), detail, w.nowNs, id); err != nil {
			return fmt.Errorf("store: finish %s: %w", id, err)
		}
		if _, err := w.exec(sqlFinishUnsent, string(status), detail, w.nowNs, id); err != nil {
			return fmt.Errorf("store: finish %s: %w", id, err)
		}
		w.event(tenant, id, status, detail)
		return nil
	})
}

// RecordInbound stores new inbound messages with an event each, and the
// tasks of the new ones, in one transaction; the unique (carrier,
// carrier_ref) index deduplicates across nodes.
func (s *pgStore) RecordInbound(ctx context.Context, in []*gateway.Inbound) (int, error) {
	if len(in) == 0 {
		return 0, nil
	}
	ids, err := inboundIDs(in)
	if err != nil {
		return 0, err
	}
	added := make([]bool, len(in))
	var now time.Time
	err = s.submit(&pgOp{ctx: ctx, name: "record inbound", rank: pgRankInbound, run: func(w *ptx) error {
		now = w.now
		w.dirty = true // the inserts below, whatever fails after
		b := &pgx.Batch{}
		for i, m := range in {
			received := toNanos(m.ReceivedAt)
			if received == 0 {
				received = w.nowNs
			}
			q, args := insertInbound(ids[i], m, received)
			b.Queue(q, args...)
		}
		br := w.sendBatch(b)
		var tasks []gateway.Task
		for i, m := range in {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return fmt.Errorf("store: record inbound %s: %w", ids[i], err)
			}
			added[i] = tag.RowsAffected() > 0
			if added[i] {
				tasks = append(tasks, m.Tasks...)
				w.events = append(w.events, eventRow{kind: gateway.EventInbound, tenant: m.Tenant, inboundID: ids[i]})
			}
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("store: record inbound: %w", err)
		}
		if _, err := w.enqueueTasks(tasks); err != nil {
			return fmt.Errorf("store: record inbound: %w", err)
		}
		return nil
	}})
	if err != nil {
		return 0, err
	}
	return inboundDone(in, ids, added, now), nil
}

// List reads a tenant's messages in one statement, newest first, without
// parts or attempts (see listQuery).
func (s *pgStore) List(ctx context.Context, tenant string, f gateway.ListFilter) ([]*gateway.Message, error) {
	query, args, err := listQuery(tenant, f)
	if err != nil {
		return nil, err
	}
	var out []*gateway.Message
	err = s.run(func() error {
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = out[:0]
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("store: list: %w", err)
	}
	return out, nil
}

// Cancel ends a message no carrier has taken. The batch locks the message's
// row first: a Claim on any node either holds the row (Cancel waits, then
// sees its live lease) or skips it (SKIP LOCKED) and finds it CANCELED after.
func (s *pgStore) Cancel(ctx context.Context, tenant, id string, now time.Time) error {
	nowNs := toNanos(now)
	return s.writeLocked(ctx, "cancel", []string{id}, func(w *ptx) error {
		var st cancelState
		err := w.queryRow(sqlCancelState+" FOR UPDATE", id).Scan(&st.tenant, &st.status, &st.leaseUntil)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: cancel %s: %w", id, gateway.ErrNotFound)
		}
		if err == nil {
			err = w.queryRow(sqlSubmittedParts, id).Scan(&st.submitted)
		}
		if err != nil {
			return fmt.Errorf("store: cancel %s: %w", id, err)
		}
		if err := checkCancel(tenant, id, st, nowNs); err != nil {
			return err
		}
		if _, err := w.exec(sqlFinishMsg, string(gateway.StatusCanceled), canceledDetail, w.nowNs, id); err != nil {
			return fmt.Errorf("store: cancel %s: %w", id, err)
		}
		if _, err := w.exec(sqlFinishUnsent, string(gateway.StatusCanceled), canceledDetail, w.nowNs, id); err != nil {
			return fmt.Errorf("store: cancel %s: %w", id, err)
		}
		w.event(st.tenant, id, gateway.StatusCanceled, canceledDetail)
		return nil
	})
}

// AckEvents moves a cursor forward. The log's last seq is the event
// sequence's last value: it counts pruned events, so a consumer may ack an
// event that retention deleted meanwhile. (It also counts seqs drawn by
// transactions still open or rolled back; no consumer can have read those,
// since Events waits them out, so only a caller inventing seqs could ack
// one.)
func (s *pgStore) AckEvents(ctx context.Context, tenant, cursor string, seq int64) error {
	if err := checkAck(tenant, cursor, seq); err != nil {
		return err
	}
	return s.write(ctx, "ack events", func(w *ptx) error {
		var (
			last   int64
			called bool
		)
		if err := w.queryRow("SELECT last_value, is_called FROM events_seq_seq").Scan(&last, &called); err != nil {
			return fmt.Errorf("store: ack events %q/%q: %w", tenant, cursor, err)
		}
		if !called {
			last = 0
		}
		if seq > last {
			return ackAhead(tenant, cursor, seq, last)
		}
		if _, err := w.exec(`INSERT INTO event_cursors (tenant, name, seq, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant, name) DO UPDATE
			SET seq = GREATEST(event_cursors.seq, excluded.seq), updated_at = excluded.updated_at`,
			tenant, cursor, seq, w.nowNs); err != nil {
			return fmt.Errorf("store: ack events %q/%q: %w", tenant, cursor, err)
		}
		return nil
	})
}

// Cursor reads a cursor in one statement.
// LastSeq implements gateway.EventLog from the sequence: a number drawn
// by a transaction still open counts as passed, so a stream started after
// it may miss that one event (it was appended concurrently with the call).
func (s *pgStore) LastSeq(ctx context.Context) (int64, error) {
	var (
		seq    int64
		called bool
	)
	err := s.run(func() error {
		return s.pool.QueryRow(ctx, "SELECT last_value, is_called FROM events_seq_seq").Scan(&seq, &called)
	})
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("store: last seq: %w", err)
		}
		return 0, err
	}
	if !called {
		return 0, nil
	}
	return seq, nil
}

// Cursors implements gateway.EventLog.
func (s *pgStore) Cursors(ctx context.Context, tenant string) ([]gateway.CursorState, error) {
	var out []gateway.CursorState
	err := s.run(func() error {
		rows, err := s.pool.Query(ctx, sqlCursors, tenant)
		if err != nil {
			return err
		}
		out, err = scanCursors(rows)
		return err
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("store: cursors of %q: %w", tenant, err)
	}
	return out, err
}

// DeleteCursor implements gateway.EventLog.
func (s *pgStore) DeleteCursor(ctx context.Context, tenant, cursor string) (bool, error) {
	var n int64
	err := s.writeAlone(ctx, "delete cursor", func(w *ptx) error {
		var err error
		if n, err = w.exec(sqlDeleteCursor, tenant, cursor); err != nil {
			return fmt.Errorf("store: delete cursor %q/%q: %w", tenant, cursor, err)
		}
		return nil
	})
	return n > 0, err
}

func (s *pgStore) Cursor(ctx context.Context, tenant, cursor string) (int64, error) {
	if cursor == "" {
		return 0, fmt.Errorf("store: cursor (tenant %q): empty cursor name", tenant)
	}
	var seq int64
	err := s.run(func() error {
		err := s.pool.QueryRow(ctx, sqlCursor, tenant, cursor).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			seq = 0
			return nil
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return 0, err
		}
		return 0, fmt.Errorf("store: cursor %q/%q: %w", tenant, cursor, err)
	}
	return seq, nil
}

// PruneEvents deletes old events in one transaction. It draws no seq and
// takes no event lock: Events' wait is for seqs still to commit, and
// deleting committed rows leaves a gap a reader just passes over. The
// sequence never goes back, so new events number above every deleted one.
func (s *pgStore) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.writeAlone(ctx, "prune events", func(w *ptx) error {
		queryRow := func(q string, args ...any) scanner { return w.queryRow(q, args...) }
		var err error
		_, n, err = pruneEventsThrough(queryRow, w.exec, before)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// PrunedThrough implements gateway.EventLog.
func (s *pgStore) PrunedThrough(ctx context.Context) (int64, error) {
	var seq int64
	err := s.run(func() error {
		return s.pool.QueryRow(ctx, sqlPrunedThrough).Scan(&seq)
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("store: pruned through: %w", err)
	}
	return seq, err
}

// prune runs retention statements in one transaction, in order, each
// with before as $1, and returns how many rows the last one deleted.
func (s *pgStore) prune(ctx context.Context, what string, before time.Time, stmts ...string) (int, error) {
	var n int64
	err := s.writeAlone(ctx, "prune "+what, func(w *ptx) error {
		for _, st := range stmts {
			var err error
			if n, err = w.exec(st, toNanos(before)); err != nil {
				return fmt.Errorf("store: prune %s: %w", what, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
