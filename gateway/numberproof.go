package gateway

import "regexp/syntax"

// compilePattern compiles a pattern to the program Go's regexp runs for
// it (regexp.Compile: Perl syntax, simplified), for the proofs below.
func compilePattern(pattern string) (*syntax.Prog, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return syntax.Compile(re.Simplify())
}

// neverMatches reports whether pattern can match no part of any string
// made of the runes of alphabet. It follows every instruction that
// consumes nothing (taking every empty-width assertion as satisfied,
// which can only add matches) and every one that consumes a rune of the
// alphabet, from the start: if the match instruction is out of reach,
// no such string, and no part of one, matches. An error counts as
// "might match".
func neverMatches(pattern, alphabet string) bool {
	prog, err := compilePattern(pattern)
	if err != nil {
		return false
	}
	seen := make([]bool, len(prog.Inst))
	stack := []uint32{uint32(prog.Start)}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstMatch:
			return false
		case syntax.InstFail:
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, in.Out, in.Arg)
		case syntax.InstNop, syntax.InstCapture, syntax.InstEmptyWidth:
			stack = append(stack, in.Out)
		default: // the rune instructions
			for _, r := range alphabet {
				if consumes(in, r) {
					stack = append(stack, in.Out)
					break
				}
			}
		}
	}
	return true
}

// consumes is whether a rune instruction accepts r. Inst.MatchRune
// answers for InstRune and InstRune1 only: it says no for the "any
// rune" instructions.
func consumes(in *syntax.Inst, r rune) bool {
	switch in.Op {
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return r != '\n'
	default:
		return in.MatchRune(r)
	}
}
