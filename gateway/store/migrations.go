package store

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migration is one embedded schema file: its version and its SQL.
type migration struct {
	version int
	name    string
	body    string
}

// migrations reads dir's NNNN_*.sql files in version order. Two files with
// one version are refused: the migrator records versions, not names, so
// the second would be skipped silently on every database the first reached.
func migrations(fsys fs.FS, dir string) ([]migration, error) {
	files, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("store: migrate: %w", err)
	}
	var out []migration
	for _, name := range files {
		base := path.Base(name)
		prefix, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(prefix)
		if err != nil {
			return nil, fmt.Errorf("store: migrate: %s: name must start with a version number", base)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("store: migrate: %w", err)
		}
		out = append(out, migration{version: v, name: base, body: string(body)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("store: migrate: %s and %s share version %d: renumber one", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}
