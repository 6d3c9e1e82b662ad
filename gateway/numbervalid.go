package gateway

import (
	"regexp/syntax"
	"slices"
	"sync"

	"github.com/nyaruka/phonenumbers"

	"github.com/openmf/smsgw/gateway/limits"
)

// Whether a parsed number is valid, and its region, decided once for
// every number that starts with the same digits.
//
// phonenumbers.IsValidNumber reads only the country code and the
// national significant number (NSN, GetNationalSignificantNumber): it is
// a boolean function of full matches of the NSN against the patterns of
// the code's regions (getNumberTypeHelper: the general description, then
// premium rate, toll free, shared cost, VoIP, personal, pager, UAN,
// voicemail, fixed line and mobile, each also with possible lengths) and,
// for codes shared by several regions, of prefix matches against each
// region's leading digits, which pick the region
// (getRegionCodeForNumberFromRegionList). GetRegionCodeForNumber is the
// same pick. For a code cc, a length n and a prefix p of the NSN, each of
// those matches is either true for every NSN of n digits that starts
// with p, false for every one, or depends on the rest. validDecider works
// out which (atom, below), evaluates IsValidNumber or the pick over those
// three values with Kleene's logic, and when the result does not depend
// on the unknown matches, it is phonenumbers' answer for every such NSN:
// the key (cc, n, p) is remembered with it. A later number with that
// prefix and length is answered from the key. Prefixes are tried from the
// shortest, so a key is as short as the patterns allow: "+254", "7" and
// 9 digits decide every Kenyan mobile number, while a North American
// number needs its area code and the first digit of its exchange. With
// all n digits known every match is known, so every number gets a key.
//
// Why an atom's "every" and "none" are exact: phonenumbers matches with
// Go's regexp (MatchString, unanchored), whose answer depends only on
// the set of strings the pattern matches somewhere in. An atom runs the
// very program regexp compiles from the same pattern string (Perl
// syntax, simplified: compilePattern) as a set of threads, starting a new
// thread at every position as an unanchored search does, and evaluates
// its empty-width assertions exactly: every character of an NSN is a
// digit, a word character, so ^, $, \b and \B depend only on whether the
// position is 0 or n. verdict then goes through all 10^m ways of
// completing the m digits left (memoized on the set of threads, which is
// all the future depends on), not a sample.
//
// Where a code has no metadata for this (non-geographic codes), or the
// analysis grows past its bound, the answer is phonenumbers' own.

// maxValidKeys bounds the remembered prefixes; an MFI's traffic needs a
// few hundred.
const maxValidKeys = 1 << 16

// maxStates bounds the states the analysis may make before the decider
// starts afresh (~150 bytes a state); every code's patterns together need
// ~16,000.
const maxStates = 1 << 18

// question is what a key answers: IsValidNumber, or
// GetRegionCodeForNumber.
type question uint8

const (
	askValid question = iota
	askRegion
)

type validKey struct {
	q      question
	cc     int32
	n      int8
	prefix string
}

type ccLength struct {
	q  question
	cc int32
	n  int8
}

// validDecider remembers decided prefixes, and holds the analysis that
// decides new ones.
type validDecider struct {
	mu      sync.RWMutex
	keys    map[validKey]int8   // valid: 1 or 0; region: its index in the code's regions, -1 none
	lengths map[ccLength]uint32 // which prefix lengths have keys, a bit each

	work      sync.Mutex // the analysis below
	atoms     map[string]*atom
	plans     map[int32]*validPlan
	walk      uint64
	states    int // of all atoms
	maxStates int
}

var validity = newValidDecider()

func newValidDecider() *validDecider {
	return &validDecider{
		keys:      make(map[validKey]int8),
		lengths:   make(map[ccLength]uint32),
		atoms:     make(map[string]*atom),
		plans:     make(map[int32]*validPlan),
		maxStates: maxStates,
	}
}

// valid is phonenumbers.IsValidNumber for the parsed number, or ok=false
// when this decider cannot say.
func (v *validDecider) valid(p parsed) (valid, ok bool) {
	a, ok := v.answer(askValid, p)
	return a == 1, ok
}

// region is phonenumbers.GetRegionCodeForNumber for the parsed number
// ("" for none), or ok=false when this decider cannot say.
func (v *validDecider) region(p parsed) (region string, ok bool) {
	regions := phonenumbers.GetRegionCodesForCountryCode(p.cc)
	if len(regions) == 1 {
		return regions[0], true // whatever the number
	}
	a, ok := v.answer(askRegion, p)
	if !ok || a < 0 {
		return "", ok
	}
	return regions[a], true
}

// answer is the question's answer from a remembered prefix, or decided
// now and remembered.
func (v *validDecider) answer(q question, p parsed) (int8, bool) {
	n := len(p.nsn)
	if n < 2 || n > 17 {
		return 0, false
	}
	cl := ccLength{q, int32(p.cc), int8(n)}
	v.mu.RLock()
	mask := v.lengths[cl]
	for k := 0; mask != 0; k, mask = k+1, mask>>1 {
		if mask&1 != 0 {
			if a, ok := v.keys[validKey{q, cl.cc, cl.n, p.nsn[:k]}]; ok {
				v.mu.RUnlock()
				return a, true
			}
		}
	}
	v.mu.RUnlock()

	v.work.Lock()
	k, a, ok := v.decide(q, p.cc, p.nsn)
	v.work.Unlock()
	if !ok {
		return 0, false
	}
	v.mu.Lock()
	if len(v.keys) >= maxValidKeys {
		clear(v.keys)
		clear(v.lengths)
	}
	// The prefix may be a slice of a request body: a copy.
	v.keys[validKey{q, cl.cc, cl.n, string([]byte(p.nsn[:k]))}] = a
	v.lengths[cl] |= 1 << k
	v.mu.Unlock()
	return a, true
}

// tri is a match's or IsValidNumber's value for every NSN with a prefix:
// no, yes, or it depends on the digits after the prefix.
type tri uint8

const (
	no tri = iota
	yes
	depends
)

// validPlan is IsValidNumber for one country code: its regions in
// phonenumbers' order (GetRegionCodesForCountryCode).
type validPlan struct {
	regions []regionValidity
}

// regionValidity is getNumberTypeHelper(nsn, metadata) != UNKNOWN for a
// region, and how GetRegionCodeForNumber picks it.
type regionValidity struct {
	leading *atom  // "^(?:" + leading digits + ")", nil without
	general desc   // the general description
	types   []desc // the other descriptions, mobile left out when it is the fixed line's pattern
}

// desc is isNumberMatchingDesc: a possible length, and a full match.
type desc struct {
	lengths []int32
	match   *atom
}

// plan is the code's plan, nil when it has none (a code without
// regional metadata).
func (v *validDecider) plan(cc int) *validPlan {
	if p, ok := v.plans[int32(cc)]; ok {
		return p
	}
	var p *validPlan
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	if len(regions) > 0 {
		p = &validPlan{}
		for _, r := range regions {
			meta := metadataFor(r)
			if meta == nil {
				p = nil
				break
			}
			rv := regionValidity{general: v.desc(meta.GetGeneralDesc())}
			if ld := meta.GetLeadingDigits(); ld != "" && len(regions) > 1 {
				rv.leading = v.atom("^(?:" + ld + ")")
			}
			for _, d := range []*phonenumbers.PhoneNumberDesc{meta.GetPremiumRate(), meta.GetTollFree(), meta.GetSharedCost(),
				meta.GetVoip(), meta.GetPersonalNumber(), meta.GetPager(), meta.GetUan(), meta.GetVoicemail(), meta.GetFixedLine()} {
				rv.types = append(rv.types, v.desc(d))
			}
			if !meta.GetSameMobileAndFixedLinePattern() {
				rv.types = append(rv.types, v.desc(meta.GetMobile()))
			}
			p.regions = append(p.regions, rv)
		}
	}
	v.plans[int32(cc)] = p
	return p
}

func (v *validDecider) desc(d *phonenumbers.PhoneNumberDesc) desc {
	return desc{lengths: d.GetPossibleLength(), match: v.atom("^(?:" + d.GetNationalNumberPattern() + ")$")}
}

func (v *validDecider) atom(pattern string) *atom {
	if a, ok := v.atoms[pattern]; ok {
		return a
	}
	a := newAtom(pattern, v)
	v.atoms[pattern] = a
	return a
}

// decide walks the NSN's digits until the answer to q no longer depends
// on the rest, and returns how many digits that took.
func (v *validDecider) decide(q question, cc int, nsn string) (k int, answer int8, ok bool) {
	plan := v.plan(cc)
	if plan == nil {
		return 0, 0, false
	}
	v.walk++
	w := walk{gen: v.walk, nsn: nsn}
	decided := false
	for k = 0; k <= len(nsn); k++ {
		w.k = k
		// A match whose analysis failed counts as depends, so an answer
		// holds all the same. Every match is known once all digits are:
		// only a failed analysis ends undecided.
		if q == askValid {
			t := plan.value(&w)
			decided = t != depends
			if t == yes {
				answer = 1
			}
		} else {
			var i int
			i, decided = plan.pick(&w)
			answer = int8(i)
		}
		if decided || w.failed {
			break
		}
	}
	if w.failed {
		// The bound was reached: start afresh next time.
		clear(v.atoms)
		clear(v.plans)
		v.states = 0
	}
	return k, answer, decided
}

// pick is GetRegionCodeForNumber over three-valued matches: the index of
// the first region whose leading digits match, or without leading
// digits, for which the number is valid; -1 for none; decided=false
// while that depends on digits not yet read.
func (p *validPlan) pick(w *walk) (i int, decided bool) {
	if len(p.regions) == 1 {
		return 0, true
	}
	for i := range p.regions {
		r := &p.regions[i]
		var t tri
		if r.leading != nil {
			t = w.value(r.leading)
		} else {
			t = r.value(w)
		}
		switch t {
		case yes:
			return i, true
		case depends:
			return 0, false
		}
	}
	return -1, true
}

// value is IsValidNumber over three-valued matches (Kleene's logic: a
// result of yes or no holds whatever the unknown matches are):
// IsValidNumberForRegion for the region GetRegionCodeForNumber picks,
// false when it picks none.
func (p *validPlan) value(w *walk) tri {
	i, decided := p.pick(w)
	switch {
	case !decided:
		return depends
	case i < 0:
		return no
	}
	return p.regions[i].value(w)
}

// value is getNumberTypeHelper(nsn, metadata) != UNKNOWN: the general
// description, and any one type.
func (r *regionValidity) value(w *walk) tri {
	g := r.general.value(w)
	if g == no {
		return no
	}
	anyType := no
	for _, d := range r.types {
		switch d.value(w) {
		case yes:
			return g
		case depends:
			anyType = depends
		}
	}
	if anyType == no {
		return no
	}
	return depends
}

func (d desc) value(w *walk) tri {
	if len(d.lengths) > 0 && !slices.Contains(d.lengths, int32(len(w.nsn))) {
		return no
	}
	return w.value(d.match)
}

// walk is one NSN being decided: its digits, and how many are known.
type walk struct {
	gen    uint64
	nsn    string
	k      int
	failed bool // the analysis outgrew its bound
}

// value is the pattern's match for every NSN of len(w.nsn) digits that
// starts with w.nsn[:w.k].
func (w *walk) value(a *atom) tri {
	if w.failed {
		return depends
	}
	n := len(w.nsn)
	if a.walkGen != w.gen {
		a.walkGen, a.walkPos, a.walkState = w.gen, 0, a.start
	}
	for a.walkPos < w.k {
		next := a.step(a.walkState, w.nsn[a.walkPos]-'0', a.walkPos+1 == n)
		if next < 0 {
			w.failed = true
			return depends
		}
		a.walkPos++
		a.walkState = next
	}
	v := a.verdict(a.walkState, n-w.k)
	if v == verdictFailed {
		w.failed = true
		return depends
	}
	return v
}

// atom is one pattern compiled for the analysis: the sets of program
// states that reading digits leads to, made as they are needed (a DFA
// built lazily), what each digit does to each, and, for each set and
// number of digits still to read, whether the pattern matches for all,
// none or some of them.
type atom struct {
	prog     *syntax.Prog
	states   []dstate
	index    map[string]int32
	start    int32
	next     [][20]int32   // per state, digit*2 + (1 when the next position is the end); -1 not made yet
	verdicts [][18]tri     // per state, by digits left; +1, 0 not worked out yet
	seen     []uint64      // add's marks: the instructions already in the state being made
	making   uint64        // the state being made, for seen
	owner    *validDecider // counts the states of all its atoms

	walkGen   uint64
	walkPos   int
	walkState int32
}

// dstate is a set of program instructions waiting for the next digit,
// and whether the pattern has matched already. MatchString asks whether
// any part of the string matches; once one does, the rest cannot undo
// it.
type dstate struct {
	pcs     []uint32
	matched bool
}

// verdictFailed is verdict's answer when the analysis outgrew its bound.
const verdictFailed tri = 3

// newAtom compiles the pattern as Go's regexp does. A pattern that does
// not compile cannot come from phonenumbers, which compiles it with
// regexp.MustCompile; its atom fails every analysis.
func newAtom(pattern string, owner *validDecider) *atom {
	a := &atom{index: make(map[string]int32), start: -1, owner: owner}
	prog, err := compilePattern(pattern)
	if err != nil {
		return a
	}
	a.prog = prog
	a.seen = make([]uint64, len(prog.Inst))
	var s dstate
	a.making++
	a.add(&s, uint32(prog.Start), flagsAt(0, false))
	a.start = a.intern(s)
	return a
}

// flagsAt is the empty-width context at a position of an NSN: the start
// at position 0, the end where no digit follows, and word boundaries
// there only, as every character of an NSN is a digit (a word
// character).
func flagsAt(pos int, end bool) syntax.EmptyOp {
	before, after := rune('0'), rune('0')
	if pos == 0 {
		before = -1
	}
	if end {
		after = -1
	}
	return syntax.EmptyOpContext(before, after)
}

// add puts pc and what it reaches without reading a digit into s.
func (a *atom) add(s *dstate, pc uint32, flags syntax.EmptyOp) {
	if a.seen[pc] == a.making {
		return
	}
	a.seen[pc] = a.making
	in := &a.prog.Inst[pc]
	switch in.Op {
	case syntax.InstFail:
	case syntax.InstAlt, syntax.InstAltMatch:
		a.add(s, in.Out, flags)
		a.add(s, in.Arg, flags)
	case syntax.InstNop, syntax.InstCapture:
		a.add(s, in.Out, flags)
	case syntax.InstEmptyWidth:
		if syntax.EmptyOp(in.Arg)&^flags == 0 {
			a.add(s, in.Out, flags)
		}
	case syntax.InstMatch:
		s.matched = true
	default:
		s.pcs = append(s.pcs, pc)
	}
}

// intern is the state's number, -1 past the decider's bound.
func (a *atom) intern(s dstate) int32 {
	slices.Sort(s.pcs)
	key := make([]byte, 0, 1+4*len(s.pcs))
	if s.matched {
		key = append(key, 1)
		s.pcs = nil // nothing after a match matters
	} else {
		key = append(key, 0)
	}
	for _, pc := range s.pcs {
		key = append(key, byte(pc), byte(pc>>8), byte(pc>>16), byte(pc>>24))
	}
	if i, ok := a.index[string(key)]; ok {
		return i
	}
	if a.owner.states >= a.owner.maxStates {
		return -1
	}
	a.owner.states++
	i := int32(len(a.states))
	a.states = append(a.states, s)
	a.index[string(key)] = i
	var next [20]int32
	for j := range next {
		next[j] = -1
	}
	a.next = append(a.next, next)
	a.verdicts = append(a.verdicts, [18]tri{})
	return i
}

// step is the state after reading digit d at position pos (the next
// position being the end or not), starting a new match attempt there too
// (an unanchored search: phonenumbers' patterns anchor themselves).
func (a *atom) step(state int32, d byte, end bool) int32 {
	if state < 0 {
		return -1
	}
	slot := int(d) * 2
	if end {
		slot++
	}
	if next := a.next[state][slot]; next >= 0 {
		return next
	}
	from := a.states[state]
	var s dstate
	s.matched = from.matched
	flags := flagsAt(1, end) // a position after a digit
	a.making++
	if !s.matched {
		for _, pc := range from.pcs {
			if in := &a.prog.Inst[pc]; consumes(in, rune('0'+d)) {
				a.add(&s, in.Out, flags)
			}
		}
		a.add(&s, uint32(a.prog.Start), flags)
	}
	next := a.intern(s)
	if next >= 0 {
		a.next[state][slot] = next
	}
	return next
}

// verdict is whether the pattern matches for all (yes), none (no) or
// some (depends) of the ways of reading left more digits from state.
func (a *atom) verdict(state int32, left int) tri {
	if state < 0 {
		return verdictFailed
	}
	if v := a.verdicts[state][left]; v != 0 {
		return v - 1
	}
	var v tri
	switch {
	case a.states[state].matched:
		v = yes
	case left == 0:
		v = no
	default:
		for d := range byte(10) {
			dv := a.verdict(a.step(state, d, left == 1), left-1)
			if dv == verdictFailed {
				return verdictFailed
			}
			if d == 0 {
				v = dv
			} else if dv != v {
				v = depends
			}
			if v == depends {
				break
			}
		}
	}
	a.verdicts[state][left] = v + 1
	return v
}

// numberCountry is limits.Country(e164), the number's ISO 3166 region for
// the tenants' country rules, answered by fastParse and a remembered
// prefix when it can be: Country is Parse(e164, "") and
// GetRegionCodeForNumber, "ZZ" for an error or no region.
func numberCountry(e164 string) string {
	if p, ok := fastParse(e164, ""); ok {
		if r, ok := validity.region(p); ok {
			if r == "" {
				return "ZZ"
			}
			return r
		}
	}
	return limits.Country(e164)
}
