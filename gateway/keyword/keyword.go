// Package keyword routes mobile-originated messages to services by their
// first word, the way shortcode services have always worked (Kannel's
// sms-service): a client texts "BAL 1234" to the MFI's shortcode and the
// rule for BAL on that shortcode and tenant decides what happens.
//
// Matching is case-insensitive and ignores surrounding blanks. For one
// message, the candidate rules are those whose tenant and shortcode lists
// admit it; among them a keyword or alias equal to the first word wins,
// then a regular expression matching the first word (in table order), then
// a default rule. A rule limited to a shortcode or tenant beats a general
// one at each of these steps, so a tenant can override a shared default.
package keyword

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Rule is one keyword service. Its actions are carried out by the gateway;
// this package only decides which rule a message belongs to.
type Rule struct {
	// Name identifies the rule: it is recorded on the inbound message and
	// shown to adapters, and names the rule again after a reload.
	Name string
	// Tenants and Shortcodes limit the rule; empty admits any.
	Tenants    []string
	Shortcodes []string
	// Keywords are the first words that select the rule (keyword and
	// aliases), compared case-insensitively.
	Keywords []string
	// Regex selects the rule when it matches the first word (Kannel's
	// keyword-regex); it is compiled case-insensitive.
	Regex string
	// Default makes the rule answer messages no other rule took.
	Default bool

	// A rule with no action below only publishes the message on the event
	// stream, where adapters answer it.

	// Reply is a fixed text sent back to the sender ("" for none).
	Reply string
	// Webhook is called with the message, signed (see package webhook).
	Webhook *Webhook
	// Service names an interface's task handler for the message (for
	// instance "kannel", whose get-url answer becomes the reply). The
	// interface keeps its own settings for the rule, by the rule's name.
	Service string

	re *regexp.Regexp
}

// Webhook is where a rule posts its messages and the secret that signs them.
type Webhook struct {
	URL    string
	Secret string
}

// Match is what a message matched: the rule, its first word as typed and
// the rest of the text (the service's arguments).
type Match struct {
	Rule *Rule
	Word string
	Args string
}

// Table is a compiled set of rules. It is immutable, so a reload swaps in a
// new Table while messages are being matched against the old one.
type Table struct {
	rules []*Rule
}

// New checks and compiles rules.
func New(rules []Rule) (*Table, error) {
	t := &Table{}
	names := make(map[string]bool)
	var errs []error
	for i := range rules {
		r := rules[i]
		where := fmt.Sprintf("keywords[%d]", i)
		r.Name = r.TableName()
		if r.Name == "" {
			errs = append(errs, fmt.Errorf("%s: needs a name, a keyword or default", where))
			continue
		}
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("%s: name %q is used twice", where, r.Name))
		}
		names[r.Name] = true
		if len(r.Keywords) == 0 && r.Regex == "" && !r.Default {
			errs = append(errs, fmt.Errorf("%s (%s): needs keywords, a regex or default: true", where, r.Name))
		}
		for j, k := range r.Keywords {
			if k == "" || strings.IndexFunc(k, unicode.IsSpace) >= 0 {
				errs = append(errs, fmt.Errorf("%s (%s): keywords[%d] %q must be one word", where, r.Name, j, k))
			}
		}
		if r.Regex != "" {
			if _, err := regexp.Compile(r.Regex); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): regex: %v", where, r.Name, err))
			} else {
				r.re = regexp.MustCompile("(?i)^(?:" + r.Regex + ")$")
			}
		}
		if r.Webhook != nil && r.Webhook.URL == "" {
			errs = append(errs, fmt.Errorf("%s (%s): webhook needs a url", where, r.Name))
		}
		t.rules = append(t.rules, &r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// TableName is the name the rule goes by in a table (and in the tasks it
// makes): its Name, else its first keyword in capitals, else "default" for
// a default rule; "" when it has none of them.
func (r *Rule) TableName() string {
	switch {
	case r.Name != "":
		return r.Name
	case len(r.Keywords) > 0:
		return strings.ToUpper(r.Keywords[0])
	case r.Default:
		return "default"
	}
	return ""
}

// Rule returns the rule with the given name, nil if the table has none.
func (t *Table) Rule(name string) *Rule {
	if t == nil {
		return nil
	}
	for _, r := range t.rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Split returns a text's first word and the rest, trimmed.
func Split(text string) (word, args string) {
	text = strings.TrimSpace(text)
	i := strings.IndexFunc(text, unicode.IsSpace)
	if i < 0 {
		return text, ""
	}
	return text[:i], strings.TrimSpace(text[i:])
}

// Match finds the rule for a message from a client to shortcode to, for a
// tenant. ok is false when no rule, not even a default, takes it.
func (t *Table) Match(tenant, to, text string) (m Match, ok bool) {
	word, args := Split(text)
	m = Match{Word: word, Args: args}
	if t == nil {
		return m, false
	}
	steps := []func(r *Rule) bool{
		func(r *Rule) bool {
			return slices.ContainsFunc(r.Keywords, func(k string) bool { return strings.EqualFold(k, word) })
		},
		func(r *Rule) bool { return r.re != nil && r.re.MatchString(word) },
		func(r *Rule) bool { return r.Default },
	}
	for _, step := range steps {
		var best *Rule
		bestScore := -1
		for _, r := range t.rules {
			score, admits := r.admits(tenant, to)
			if !admits || !step(r) {
				continue
			}
			if score > bestScore {
				best, bestScore = r, score
			}
		}
		if best != nil {
			m.Rule = best
			return m, true
		}
	}
	return m, false
}

// admits reports whether a rule applies to the tenant and shortcode, with a
// score that prefers the more specific rules.
func (r *Rule) admits(tenant, to string) (score int, ok bool) {
	if len(r.Tenants) > 0 {
		if !slices.Contains(r.Tenants, tenant) {
			return 0, false
		}
		score++
	}
	if len(r.Shortcodes) > 0 {
		if !slices.ContainsFunc(r.Shortcodes, func(s string) bool { return SameNumber(s, to) }) {
			return 0, false
		}
		score += 2
	}
	return score, true
}

// SameNumber compares shortcodes and numbers ignoring a leading "+", as
// carriers write them either way; an empty one matches nothing.
func SameNumber(a, b string) bool {
	return a != "" && strings.TrimPrefix(a, "+") == strings.TrimPrefix(b, "+")
}
