package store

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestMigrationsInOrderAndUnique: files are applied by version, not by name
// order, and two files sharing a version are refused by name (the second
// would otherwise never run where the first already had).
func TestMigrationsInOrderAndUnique(t *testing.T) {
	fsys := fstest.MapFS{
		"s/0010_b.sql": {Data: []byte("B")},
		"s/0002_a.sql": {Data: []byte("A")},
		"s/README":     {Data: []byte("not a migration")},
	}
	ms, err := migrations(fsys, "s")
	if err != nil || len(ms) != 2 || ms[0].version != 2 || ms[1].version != 10 || ms[1].body != "B" {
		t.Fatalf("migrations %+v, %v; want 0002 then 0010", ms, err)
	}
	fsys["s/0010_c.sql"] = &fstest.MapFile{Data: []byte("C")}
	if _, err := migrations(fsys, "s"); err == nil || !strings.Contains(err.Error(), "0010_b.sql and 0010_c.sql share version 10") {
		t.Errorf("two files with version 10: %v, want an error naming both", err)
	}
	fsys["s/x_d.sql"] = &fstest.MapFile{Data: []byte("D")}
	if _, err := migrations(fsys, "s"); err == nil || !strings.Contains(err.Error(), "x_d.sql") {
		t.Errorf("a file without a version: %v, want an error naming it", err)
	}
	for _, dir := range []string{"schema/sqlite", "schema/postgres"} {
		fs := sqliteSchema
		if dir == "schema/postgres" {
			fs = postgresSchema
		}
		if _, err := migrations(fs, dir); err != nil {
			t.Errorf("the embedded %s migrations: %v", dir, err)
		}
	}
}
