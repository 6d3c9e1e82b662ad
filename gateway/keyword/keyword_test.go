package keyword

import (
	"strings"
	"testing"
)

func table(t *testing.T, rules ...Rule) *Table {
	t.Helper()
	tb, err := New(rules)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestMatch(t *testing.T) {
	tb := table(t,
		Rule{Keywords: []string{"BAL", "SALDO"}},
		Rule{Name: "due-22333", Keywords: []string{"DUE"}, Shortcodes: []string{"22333"}},
		Rule{Name: "due", Keywords: []string{"DUE"}},
		Rule{Name: "loan", Regex: `loan[0-9]*`},
		Rule{Name: "mfi-b-default", Default: true, Tenants: []string{"mfi-b"}},
		Rule{Default: true},
	)
	cases := []struct {
		tenant, to, text string
		rule, word, args string
	}{
		{"mfi-a", "22333", "BAL", "BAL", "BAL", ""},
		{"mfi-a", "22333", "  bal   1234 ", "BAL", "bal", "1234"},
		{"mfi-a", "22333", "Saldo", "BAL", "Saldo", ""},
		{"mfi-a", "22333", "due now", "due-22333", "due", "now"},
		{"mfi-a", "+22333", "DUE", "due-22333", "DUE", ""},
		{"mfi-a", "44444", "DUE", "due", "DUE", ""},
		{"mfi-a", "22333", "LOAN42 x", "loan", "LOAN42", "x"},
		{"mfi-a", "22333", "hello there", "default", "hello", "there"},
		{"mfi-b", "22333", "hello", "mfi-b-default", "hello", ""},
		{"mfi-a", "22333", "", "default", "", ""},
		{"mfi-a", "22333", "BALANCE", "default", "BALANCE", ""},
	}
	for _, c := range cases {
		m, ok := tb.Match(c.tenant, c.to, c.text)
		if !ok || m.Rule.Name != c.rule || m.Word != c.word || m.Args != c.args {
			name := "<none>"
			if ok {
				name = m.Rule.Name
			}
			t.Errorf("Match(%s, %s, %q) = %s %q %q, want %s %q %q", c.tenant, c.to, c.text, name, m.Word, m.Args, c.rule, c.word, c.args)
		}
	}
	if tb.Rule("loan") == nil || tb.Rule("nope") != nil {
		t.Error("Rule by name")
	}
}

func TestNoDefault(t *testing.T) {
	tb := table(t, Rule{Keywords: []string{"BAL"}, Tenants: []string{"mfi-a"}})
	if m, ok := tb.Match("mfi-b", "22333", "BAL"); ok {
		t.Errorf("another tenant's rule matched: %+v", m.Rule)
	}
	if _, ok := tb.Match("mfi-a", "22333", "HELLO"); ok {
		t.Error("an unknown word matched without a default")
	}
	var none *Table
	if _, ok := none.Match("mfi-a", "1", "BAL"); ok {
		t.Error("a nil table matched")
	}
}

func TestNewErrors(t *testing.T) {
	_, err := New([]Rule{
		{},
		{Name: "x", Keywords: []string{"A"}},
		{Name: "x", Keywords: []string{"B"}},
		{Name: "y"},
		{Name: "z", Regex: "("},
		{Name: "w", Keywords: []string{"TWO WORDS"}},
		{Name: "v", Keywords: []string{"V"}, Webhook: &Webhook{}},
	})
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	for _, want := range []string{
		"keywords[0]: needs a name", `keywords[2]: name "x" is used twice`,
		"keywords[3] (y): needs keywords", "keywords[4] (z): regex", `keywords[5] (w): keywords[0] "TWO WORDS" must be one word`,
		"keywords[6] (v): webhook needs a url",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
