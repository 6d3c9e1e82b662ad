package store

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"sqlite", Config{Driver: "sqlite", Path: "/var/lib/smsgw/smsgw.db"}, nil},
		{"default driver is sqlite", Config{Path: "smsgw.db"}, nil},
		{"postgres", Config{Driver: "postgres", DSN: "postgres://smsgw@db/smsgw"}, nil},
		{"unknown driver", Config{Driver: "mysql", Path: "x"}, []string{`driver: must be "sqlite" or "postgres", not "mysql"`}},
		{"sqlite without path", Config{Driver: "sqlite"}, []string{"path: required for driver sqlite"}},
		{"empty section", Config{}, []string{"path: required for driver sqlite"}},
		{"in-memory", Config{Path: ":memory:"}, []string{"path: must be a file, an in-memory database is not durable"}},
		{"query in path", Config{Path: "a.db?mode=ro"}, []string{`path: must not contain "?"`}},
		{"sqlite with dsn", Config{Path: "a.db", DSN: "postgres://x"}, []string{"dsn: only used by driver postgres"}},
		{"postgres without dsn, with path", Config{Driver: "postgres", Path: "a.db"},
			[]string{"dsn: required for driver postgres", "path: only used by driver sqlite"}},
		{"sqlite without the journal", Config{Path: "a.db", Journal: new(false)}, nil},
		{"postgres with a journal setting", Config{Driver: "postgres", DSN: "postgres://x", Journal: new(true)},
			[]string{"journal: only used by driver sqlite (PostgreSQL commits each accept itself)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.cfg.Validate()
			var got []string
			for _, err := range errs {
				got = append(got, err.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Validate() = %q, want %q", got, tc.want)
			}
		})
	}
}
