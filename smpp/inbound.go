package smpp

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/openmf/smsgw/gateway"
	"github.com/openmf/smsgw/internal/mask"
	"github.com/openmf/smsgw/smstext"
)

// delivery is one deliver_sm waiting for the sink, with the link it arrived
// on (its response must go back there).
type delivery struct {
	l  *link
	d  *pdu.DeliverSM
	at time.Time
}

// enqueue hands a deliver_sm from a read loop to the sink worker; it blocks
// (back-pressure on the carrier) when the worker is behind, but never after
// Stop, so a closing read loop cannot hang.
func (p *Pool) enqueue(d delivery) {
	select {
	case p.work <- d:
	case <-p.quit:
	}
}

// moTick is how often the sink worker looks for concatenated MO whose
// parts stopped arriving.
func moTick(timeout time.Duration) time.Duration {
	return min(max(timeout/4, 5*time.Millisecond), time.Second)
}

// sinkLoop stores receipts and MO in batches and only then acknowledges
// them: the read loops never wait for an fsync. It alone touches the MO
// assembler, so reassembly needs no lock.
func (p *Pool) sinkLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(moTick(p.cfg.MOTimeout))
	defer tick.Stop()
	batch := make([]delivery, 0, sinkBatch)
	for {
		select {
		case d := <-p.work:
			batch = append(batch, d)
		case now := <-tick.C:
			if exp := p.mo.expire(now); len(exp) > 0 {
				p.handle(nil, exp)
			}
			continue
		case <-p.quit:
			return
		}
	fill:
		for len(batch) < sinkBatch {
			select {
			case d := <-p.work:
				batch = append(batch, d)
			default:
				break fill
			}
		}
		p.handle(batch, nil)
		clear(batch)
		batch = batch[:0]
	}
}

// answer is one deliver_sm_resp to send once the batch is stored.
type answer struct {
	d      delivery
	status data.CommandStatusType
}

// handle stores one batch (and the concatenated MO that timed out) and
// answers every deliver_sm the outcome covers: ESME_ROK when stored,
// ESME_RX_T_APPN when the sink failed (the carrier resends), ESME_RX_P_APPN
// when it can never be stored (undecodable text, receipt without an id:
// resending would not help). A part of a concatenated MO is held, without
// an answer, until its whole message is stored.
func (p *Pool) handle(batch []delivery, expired []*moGroup) {
	var (
		answers []answer
		rs      []gateway.Receipt
		rDel    []delivery
		ins     []*gateway.Inbound
		inDel   [][]delivery // single-part MO
		groups  []*moGroup   // joined MO: their held deliveries are read at answer time
		// maybeResent are the single-part MOs the store may skip as a
		// carrier's resend.
		maybeResent []resendCheck
	)
	for _, d := range batch {
		if d.d.EsmClass&0x3C == data.SM_SMSC_DLV_RCPT_TYPE {
			r, err := p.receiptOf(d.d, d.at)
			if err != nil {
				p.log.Warn("smpp: receipt without id, rejected", "err", err)
				p.m.rejNoID.Inc()
				answers = append(answers, answer{d, data.ESME_RX_P_APPN})
				continue
			}
			rs, rDel = append(rs, r), append(rDel, d)
			continue
		}
		part, err := p.moPartOf(d.d, d.at)
		if err != nil {
			p.log.Warn("smpp: MO not decodable, rejected", "err", err, "from", mask.Number(d.d.SourceAddr.Address()))
			p.m.rejUndecodable.Inc()
			answers = append(answers, answer{d, data.ESME_RX_P_APPN})
			continue
		}
		if part.Total <= 1 {
			text, _ := part.decode(p.text)
			in := p.inbound(part, text, part.MsgID)
			if key := resendKey(in); in.CarrierRef == "" && d.l != nil && !d.l.resent[key] &&
				!slices.ContainsFunc(maybeResent, func(c resendCheck) bool { return c.l == d.l && c.key == key }) {
				// No id to skip a resend by: one received on an earlier link,
				// within the window, is the message this one resends (the
				// first such on this link only: a carrier resends once).
				in.ResendAfter, in.ResendBefore = d.at.Add(-p.cfg.MOResendWindow), d.l.since
				maybeResent = append(maybeResent, resendCheck{d.l, key, in})
			}
			ins = append(ins, in)
			inDel = append(inDel, []delivery{d})
			continue
		}
		g, dup := p.mo.add(part, d, d.at)
		switch {
		case dup:
			// A resend of a part of a message stored moments ago.
			p.m.moDuplicate.Inc()
			answers = append(answers, answer{d, data.ESME_ROK})
		case g != nil:
			text, _ := g.join(p.text)
			p.m.moJoined.Add(float64(len(g.held)))
			ins = append(ins, p.inbound(g.first(), text, g.carrierRef(text)))
			groups = append(groups, g)
		}
	}
	for _, g := range expired {
		text, _ := g.join(p.text)
		p.m.moIncomplete.Add(float64(len(g.held)))
		p.log.Warn("smpp: concatenated MO incomplete after mo_timeout, stored as received",
			"from", mask.Number(g.key.From), "parts", len(g.parts), "total", g.key.Total)
		ins = append(ins, p.inbound(g.first(), text, g.carrierRef(text)))
		groups = append(groups, g)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ResponseTimeout)
	defer cancel()
	if len(rs) > 0 {
		st := data.ESME_ROK
		if err := p.sink.HandleReceipts(ctx, rs); err != nil {
			p.log.Warn("smpp: storing receipts failed, carrier will resend", "err", err, "n", len(rs))
			st = data.ESME_RX_T_APPN
			p.m.rejSink.Add(float64(len(rs)))
		} else {
			p.m.receipts.Add(float64(len(rs)))
		}
		for _, d := range rDel {
			answers = append(answers, answer{d, st})
		}
	}
	if len(ins) > 0 {
		st := data.ESME_ROK
		if err := p.sink.HandleInbound(ctx, ins); err != nil {
			p.log.Warn("smpp: storing inbound failed, carrier will resend", "err", err, "n", len(ins))
			st = data.ESME_RX_T_APPN
			p.m.rejSink.Add(float64(len(ins)))
		} else {
			p.m.inbound.Add(float64(len(ins)))
			for _, c := range maybeResent {
				if c.in.ID == "" { // skipped: the carrier's resend
					if c.l.resent == nil {
						c.l.resent = make(map[string]bool)
					}
					c.l.resent[c.key] = true
					p.m.moDuplicate.Inc()
					p.log.Info("smpp: MO resent by the carrier after a reconnect, stored before; acknowledged, not stored again",
						"from", mask.Number(c.in.From))
				}
			}
		}
		p.mo.stored(groups, st == data.ESME_ROK)
		for _, ds := range inDel {
			for _, d := range ds {
				answers = append(answers, answer{d, st})
			}
		}
		for _, g := range groups {
			for _, d := range g.held {
				answers = append(answers, answer{d, st})
			}
		}
	}
	for _, a := range answers {
		resp := a.d.d.GetResponse().(*pdu.DeliverSMResp)
		resp.CommandStatus = a.status
		if err := a.d.l.submit(resp); err != nil {
			p.log.Debug("smpp: deliver_sm_resp not sent, carrier will resend", "err", err)
		}
	}
}

// receiptOf reads a delivery receipt: the id from the receipted_message_id
// TLV when present, else from the text; the status from the message_state
// TLV when present, else from the text's stat; the error from the text's
// err, else from the network_error_code TLV ("type:code", e.g. "3:17" for
// GSM error 17).
// altIDs are the other readings of a receipt id when the carrier's id
// bases are not configured (auto), none otherwise.
func (p *Pool) altIDs(id string) []string {
	if !auto(p.cfg.SubmitIDFormat) || !auto(p.cfg.ReceiptIDFormat) {
		return nil
	}
	return smstext.AltIDs(id, smstext.IDAuto)
}

func auto(f smstext.IDFormat) bool { return f == "" || f == smstext.IDAuto }

func (p *Pool) receiptOf(d *pdu.DeliverSM, at time.Time) (gateway.Receipt, error) {
	raw, _ := d.Message.GetMessageData()
	f, perr := smstext.ParseReceipt(string(raw))
	id := f.ID
	if tlv, ok := d.OptionalParameters[pdu.TagReceiptedMessageID]; ok {
		if s := tlv.String(); strings.Trim(s, " \x00") != "" {
			id = s
		}
	}
	if strings.Trim(id, " \x00") == "" {
		if perr == nil {
			perr = smstext.ErrNoReceiptID
		}
		return gateway.Receipt{}, fmt.Errorf("smpp: receipt: %w", perr)
	}
	r := gateway.Receipt{
		Carrier:   p.name,
		CarrierID: smstext.NormalizeID(id, p.cfg.ReceiptIDFormat),
		AltIDs:    p.altIDs(id),
		Window:    p.cfg.ReceiptWindow,
		Status:    StatusOfStat(f.Stat),
		State:     f.Stat,
		Error:     f.Err,
		Text:      strings.TrimRight(string(raw), "\x00"),
		Time:      f.DoneDate,
	}
	if tlv, ok := d.OptionalParameters[pdu.TagMessageStateOption]; ok && len(tlv.Data) == 1 {
		r.Status = StatusOfState(tlv.Data[0])
		if r.State == "" {
			r.State = stateNames[tlv.Data[0]]
		}
	}
	if tlv, ok := d.OptionalParameters[pdu.TagNetworkErrorCode]; ok && r.Error == "" && len(tlv.Data) == 3 {
		r.Error = fmt.Sprintf("%d:%d", tlv.Data[0], int(tlv.Data[1])<<8|int(tlv.Data[2]))
	}
	if r.Time.IsZero() {
		r.Time = at
	}
	return r, nil
}

// stateNames spell message_state values the way receipt texts do, for
// receipts that carry only the TLV.
var stateNames = map[byte]string{
	StateEnroute: "ENROUTE", StateDelivered: "DELIVRD", StateExpired: "EXPIRED", StateDeleted: "DELETED",
	StateUndeliverable: "UNDELIV", StateAccepted: "ACCEPTD", StateUnknown: "UNKNOWN", StateRejected: "REJECTD",
}

// moPartOf reads a mobile-originated deliver_sm into an moPart: addresses,
// coding, body and, when the message is one part of several, its
// concatenation (from the UDH, 8- or 16-bit reference, or the SAR TLVs).
// The part must decode on its own, so one bad part cannot spoil the joined
// text. gosmpp v0.3.1 leaves the encoding nil for a data_coding it does not
// know (e.g. the GSM 03.38 message-class groups 0x10–0x13, 0xF0–0xF3),
// losing the value: such an MO is reported undecodable rather than guessed
// at.
func (p *Pool) moPartOf(d *pdu.DeliverSM, at time.Time) (moPart, error) {
	enc := d.Message.Encoding()
	if enc == nil {
		return moPart{}, fmt.Errorf("%w (not known to gosmpp)", smstext.ErrDataCoding)
	}
	body, _ := d.Message.GetMessageData()
	from := d.SourceAddr.Address()
	if d.SourceAddr.Ton() == 1 && !strings.HasPrefix(from, "+") && from != "" {
		from = "+" + from
	}
	part := moPart{From: from, To: d.DestAddr.Address(), DataCoding: enc.DataCoding(), Body: body, Seq: 1, Total: 1, At: at}
	if tlv, ok := d.OptionalParameters[pdu.TagReceiptedMessageID]; ok {
		part.MsgID = strings.Trim(tlv.String(), " \x00")
	}
	if udh := d.Message.UDH(); d.EsmClass&data.SM_UDH_GSM != 0 && udh != nil {
		raw, err := udh.MarshalBinary()
		if err != nil {
			return moPart{}, fmt.Errorf("smpp: MO UDH: %w", err)
		}
		_, _, c, err := smstext.SplitUDH(append(raw, body...))
		if err != nil {
			return moPart{}, fmt.Errorf("smpp: MO: %w", err)
		}
		part.UDH = raw
		if c != nil {
			part.Ref, part.Total, part.Seq = c.Ref, c.Total, c.Seq
			part.Kind = moKindUDH8
			if c.Wide {
				part.Kind = moKindUDH16
			}
		}
	} else if ref, total, seq, ok := sarOf(d.OptionalParameters); ok {
		part.Ref, part.Total, part.Seq, part.Kind = ref, total, seq, moKindSAR
	}
	if _, err := part.decode(p.text); err != nil {
		return moPart{}, err
	}
	return part, nil
}

// sarOf reads the three SAR TLVs; a set that is incomplete or out of range
// is ignored, as for a bad concatenation IE.
func sarOf(tlvs map[pdu.Tag]pdu.Field) (ref uint16, total, seq int, ok bool) {
	r, ok1 := tlvs[pdu.TagSarMsgRefNum]
	t, ok2 := tlvs[pdu.TagSarTotalSegments]
	s, ok3 := tlvs[pdu.TagSarSegmentSeqnum]
	if !ok1 || !ok2 || !ok3 || len(r.Data) != 2 || len(t.Data) != 1 || len(s.Data) != 1 {
		return 0, 0, 0, false
	}
	total, seq = int(t.Data[0]), int(s.Data[0])
	if total == 0 || seq == 0 || seq > total {
		return 0, 0, 0, false
	}
	return uint16(r.Data[0])<<8 | uint16(r.Data[1]), total, seq, true
}

// resendCheck is a single-part MO the store may skip as a resend, and the
// link it came on.
type resendCheck struct {
	l   *link
	key string
	in  *gateway.Inbound
}

// resendKey names an MO by what a resend repeats.
func resendKey(in *gateway.Inbound) string { return in.From + "\x00" + in.To + "\x00" + in.Text }

// inbound builds the gateway's view of an MO.
func (p *Pool) inbound(part moPart, text, ref string) *gateway.Inbound {
	if ref != "" && !strings.Contains(ref, ":") {
		ref = "id:" + ref
	}
	return &gateway.Inbound{
		Tenant:     p.tenant,
		Carrier:    p.name,
		CarrierRef: ref,
		From:       part.From,
		To:         part.To,
		Text:       text,
		ReceivedAt: part.At,
	}
}

// carrierRef identifies a reassembled MO for the store's duplicate check:
// a carrier that resends every part after a lost deliver_sm_resp produces
// the same sender, reference, count and text. The text is in the hash
// because 8-bit references wrap: the same sender's next long message with
// a reused reference must not be dropped as a duplicate.
func (g *moGroup) carrierRef(text string) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%s", g.key.From, g.key.To, g.key.Kind, g.key.Ref, g.key.Total, text)
	return fmt.Sprintf("mo:%016x", h.Sum64())
}
