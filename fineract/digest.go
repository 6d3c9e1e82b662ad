package fineract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/openmf/smsgw/internal/mask"
	"github.com/openmf/smsgw/smstext"
)

// Clock is the digest's time: the real one, or a fake a test moves.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// DigestRefPrefix starts a digest's client_ref; the day and the loan
// officer's staff id follow, so a restart on the same day sends nothing
// twice.
const DigestRefPrefix = "fineract-digest:"

// DigestOptions configures a tenant's daily digest.
type DigestOptions struct {
	// Notifier holds the tenant's settings: the digest's time, zone and
	// officers, the texts and the region, replaced together on reload.
	Notifier *Notifier
	Fineract EventFineract
	Gateway  Sender
	Clock    Clock // default the real one
	// MaxParts bounds a digest; lines that do not fit are counted in
	// .More. Default 4.
	MaxParts int
	// CatchUp: an adapter started less than this after the day's time
	// sends the day's digest at once (the client_ref keeps it once).
	// Default 1 h.
	CatchUp time.Duration
	Metrics *Metrics
	Log     *slog.Logger
}

// Digest sends each loan officer, once a day at the tenant's local time,
// the clients of theirs in arrears, the repayments due tomorrow (from
// Fineract's loans) and tomorrow's center meetings (from its collection
// sheet's centers by meeting date).
type Digest struct {
	opts DigestOptions
	log  *slog.Logger
}

// NewDigest checks opts.
func NewDigest(opts DigestOptions) (*Digest, error) {
	if opts.Notifier == nil || opts.Fineract == nil || opts.Gateway == nil {
		return nil, errors.New("fineract: a digest needs the tenant's notifier, Fineract and a gateway")
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.MaxParts <= 0 {
		opts.MaxParts = 4
	}
	if opts.CatchUp <= 0 {
		opts.CatchUp = time.Hour
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Digest{opts: opts, log: opts.Log.With("job", "digest")}, nil
}

// Run sends the digest every day at its time until ctx ends; a reload
// that changes the time applies at once. A digest that fails (Fineract or
// the gateway unavailable) is tried again every minute for an hour.
func (d *Digest) Run(ctx context.Context) error {
	first := true
	for {
		changed := d.opts.Notifier.updated()
		s := d.opts.Notifier.settings.Load().digest
		if s == nil { // a reload removed the digest: wait for one that adds it
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
				continue
			}
		}
		now := d.opts.Clock.Now().In(s.loc)
		at := time.Date(now.Year(), now.Month(), now.Day(), s.hour, s.minute, 0, 0, s.loc)
		if !at.After(now) && (!first || now.Sub(at) >= d.opts.CatchUp) {
			at = at.AddDate(0, 0, 1) // today's has been sent, or is too late to send
		}
		first = false
		if wait := at.Sub(now); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed: // a reload may have moved the time
				continue
			case <-d.opts.Clock.After(wait):
			}
		}
		for try := 0; ; try++ {
			err := d.Send(ctx, at)
			if err == nil || ctx.Err() != nil {
				break
			}
			if try == 60 {
				d.opts.Metrics.digest("failed")
				d.log.Error("digest not sent; giving up for today", "day", at.Format(time.DateOnly), "err", errText(err))
				break
			}
			d.log.Warn("digest failed; trying again in a minute", "day", at.Format(time.DateOnly), "err", errText(err))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-d.opts.Clock.After(time.Minute):
			}
		}
	}
}

// digestPage is how many loans one GET /v1/loans asks for.
const digestPage = 200

// Send sends the digest of the day day (its date in the tenant's zone
// counts) to every loan officer with a loan in arrears, a repayment due
// the next day or a center meeting the next day. An error means some digests may not have been sent; Send
// may be called again, and sends nothing twice.
func (d *Digest) Send(ctx context.Context, day time.Time) error {
	set := d.opts.Notifier.settings.Load()
	s, texts := set.digest, set.texts
	if s == nil {
		return nil
	}
	day = day.In(s.loc)
	tomorrow := day.AddDate(0, 0, 1)
	type officer struct {
		arrears, due []DigestLine
		meetings     []string
	}
	byOfficer := map[int64]*officer{}
	of := func(id int64) *officer {
		if byOfficer[id] == nil {
			byOfficer[id] = &officer{}
		}
		return byOfficer[id]
	}
	wanted := func(id int64) bool { return id != 0 && (len(s.officers) == 0 || slices.Contains(s.officers, id)) }
	next := LocalDate{tomorrow.Year(), tomorrow.Month(), tomorrow.Day()}
	for offset := 0; ; offset += digestPage {
		page, err := d.opts.Fineract.Loans(ctx, offset, digestPage)
		if err != nil {
			return err
		}
		for _, l := range page.PageItems {
			if !l.Status.Active || !wanted(l.LoanOfficerID) {
				continue
			}
			full, err := d.opts.Fineract.Loan(ctx, l.ID)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			line := DigestLine{Client: full.ClientName, Product: full.LoanProductName, Number: last4(full.AccountNo), AccountNo: full.AccountNo}
			if full.Summary.TotalOverdue.Sign() > 0 {
				a := line
				a.Amount = texts.Money(full.Summary.TotalOverdue, full.Currency)
				of(l.LoanOfficerID).arrears = append(of(l.LoanOfficerID).arrears, a)
			}
			for _, p := range full.RepaymentSchedule.Periods {
				if p.Period > 0 && !p.Complete && p.DueDate == next {
					due := line
					due.Amount = texts.Money(p.TotalOutstandingForPeriod, full.Currency)
					of(l.LoanOfficerID).due = append(of(l.LoanOfficerID).due, due)
				}
			}
		}
		if len(page.PageItems) == 0 || offset+len(page.PageItems) >= page.TotalFilteredRecords {
			break
		}
	}
	// Tomorrow's center meetings, office by office (Fineract's collection
	// sheet reads one office at a time).
	offices, err := d.opts.Fineract.Offices(ctx)
	if err != nil {
		return err
	}
	for _, office := range offices {
		staff, err := d.opts.Fineract.MeetingCenters(ctx, office.ID, next)
		if err != nil {
			return err
		}
		for _, sc := range staff {
			if !wanted(sc.StaffID) {
				continue
			}
			for _, c := range sc.MeetingFallCenters {
				of(sc.StaffID).meetings = append(of(sc.StaffID).meetings, c.Name)
			}
		}
	}
	var ids []int64
	for id := range byOfficer {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	dayText := texts.Date(LocalDate{day.Year(), day.Month(), day.Day()})
	r := &Responder{region: d.opts.Notifier.opts.Region}
	for _, id := range ids {
		o := byOfficer[id]
		st, err := d.opts.Fineract.Staff(ctx, id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		var num string
		if err == nil {
			num, err = r.normalize(st.MobileNo)
		}
		if err != nil {
			d.opts.Metrics.digest("no_mobile")
			d.log.Warn("loan officer has no mobile number in Fineract; no digest", "staff_id", id)
			continue
		}
		text, err := d.fit(texts, DigestData{Officer: st.Firstname, Date: dayText, Arrears: o.arrears, DueTomorrow: o.due, Meetings: o.meetings})
		if err != nil {
			return err
		}
		ref := DigestRefPrefix + day.Format(time.DateOnly) + ":" + strconv.FormatInt(id, 10)
		log := d.log.With("staff_id", id, "to", mask.Number(num))
		if err := d.opts.Notifier.send(ctx, log, d.opts.Metrics.digest, num, text, ref); err != nil {
			return err
		}
	}
	return nil
}

// fit drops lines from the end of the longer list until the digest fits
// in MaxParts (at least one line is kept); .More counts what was dropped.
func (d *Digest) fit(t *Texts, data DigestData) (string, error) {
	for {
		text, err := t.Render(TmplDigest, data)
		if err != nil {
			return "", fmt.Errorf("digest template: %w", err)
		}
		if len(data.Arrears)+len(data.DueTomorrow) <= 1 {
			return text, nil
		}
		if _, parts, err := smstext.Count[smstext.Encoding](text); err == nil && parts <= d.opts.MaxParts {
			return text, nil
		}
		if len(data.Arrears) >= len(data.DueTomorrow) {
			data.Arrears = data.Arrears[:len(data.Arrears)-1]
		} else {
			data.DueTomorrow = data.DueTomorrow[:len(data.DueTomorrow)-1]
		}
		data.More++
	}
}
