package fakefineract

import "strings"

// like reports whether s matches the SQL LIKE pattern as MySQL and MariaDB
// evaluate it under their default (case-insensitive) collation: '%' is any
// run of characters, '_' is one character, '\' makes the next character
// literal (a '\' at the end is itself). Fineract passes search queries
// into LIKE unescaped, so the fake must give '%' and '_' in a query the
// same meaning the real one does.
func like(s, pattern string) bool {
	const (
		literal = iota
		anyRun  // %
		anyOne  // _
	)
	type token struct {
		kind int
		r    rune
	}
	var p []token
	pr := []rune(strings.ToLower(pattern))
	for i := 0; i < len(pr); i++ {
		switch c := pr[i]; {
		case c == '\\' && i+1 < len(pr):
			i++
			p = append(p, token{literal, pr[i]})
		case c == '%':
			p = append(p, token{kind: anyRun})
		case c == '_':
			p = append(p, token{kind: anyOne})
		default:
			p = append(p, token{literal, c})
		}
	}
	t := []rune(strings.ToLower(s))
	// Greedy matching that backtracks to the last '%': linear in most
	// cases, quadratic at worst, never exponential.
	ti, pi := 0, 0
	star, resume := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi].kind == anyRun:
			star, resume = pi, ti
			pi++
		case pi < len(p) && (p[pi].kind == anyOne || p[pi].r == t[ti]):
			ti++
			pi++
		case star >= 0:
			resume++
			ti, pi = resume, star+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].kind == anyRun {
		pi++
	}
	return pi == len(p)
}
