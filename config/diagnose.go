package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The YAML decoder words its errors in Go terms ("field max_attemps not
// found in type config.Gateway", "cannot unmarshal !!str `fast` into
// float64") with a line but no path. diagnose rewrites every error of a
// load as an operator reads it: the key's path in the file, what was
// expected in words, a "did you mean" for a misspelt key, and the line —
// "gateway.max_attemps: not a known key; did you mean max_attempts? (line 12)".

// located is one node of the file with its path.
type located struct {
	path string
	node *yaml.Node
}

// fileIndex knows every key and value of a file by line and by path.
type fileIndex struct {
	keys   map[int][]located // line → keys on it (path is the key's own)
	values map[int][]located // line → scalar and collection values on it
	lines  map[string]int    // path → line of its key (or item)
}

func indexFile(root *yaml.Node) *fileIndex {
	ix := &fileIndex{keys: map[int][]located{}, values: map[int][]located{}, lines: map[string]int{}}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
			return
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				ix.keys[k.Line] = append(ix.keys[k.Line], located{p, k})
				if _, seen := ix.lines[p]; !seen {
					ix.lines[p] = k.Line
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if _, seen := ix.lines[p]; !seen {
					ix.lines[p] = c.Line
				}
				walk(c, p)
			}
		}
		ix.values[n.Line] = append(ix.values[n.Line], located{path, n})
	}
	walk(root, "")
	return ix
}

var (
	unknownKeyRE = regexp.MustCompile("^line (\\d+): field (\\S+) is not a known key in (.*)$")
	typeErrRE    = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.*)$")
	pathRE       = regexp.MustCompile(`^([A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*)[:\s,]`)
)

// diagnose rewrites errs (decoder and validation errors alike) against
// the file's tree; kinds resolves the carrier sections' types. A
// validation error on a path whose value could not be decoded, or whose
// environment variable is unset, says nothing more and is dropped.
func diagnose(root *yaml.Node, kinds Kinds, decodeErrs, validateErrs []error) []error {
	ix := indexFile(root)
	var out []error
	bad := map[string]bool{}
	for _, e := range decodeErrs {
		msg, path := ix.rewrite(e.Error(), kinds)
		if path != "" {
			bad[path] = true
		}
		out = append(out, fmt.Errorf("%s", msg))
	}
	for _, e := range validateErrs {
		m := pathRE.FindStringSubmatch(e.Error())
		if m == nil {
			out = append(out, e)
			continue
		}
		if bad[m[1]] {
			continue
		}
		if strings.Contains(e.Error(), ": environment variable ") {
			// An unset variable leaves the value empty: what the
			// validation says of an empty value next is noise.
			bad[m[1]] = true
		}
		if line, ok := ix.lineOf(m[1]); ok {
			out = append(out, fmt.Errorf("%w (line %d)", e, line))
			continue
		}
		out = append(out, e)
	}
	return out
}

// lineOf is the line of path, or of its nearest ancestor in the file.
func (ix *fileIndex) lineOf(path string) (int, bool) {
	for p := path; p != ""; {
		if l, ok := ix.lines[p]; ok {
			return l, true
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return 0, false
}

// rewrite turns one decoder error into path, words and line; it returns
// the path it is about ("" when it cannot tell).
func (ix *fileIndex) rewrite(msg string, kinds Kinds) (string, string) {
	if m := unknownKeyRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		path := m[2]
		for _, k := range ix.keys[line] {
			if k.node.Value == m[2] {
				path = k.path
				break
			}
		}
		out := fmt.Sprintf("%s: not a known key", path)
		parent := ""
		if i := strings.LastIndexByte(path, '.'); i > 0 {
			parent = path[:i]
		}
		if known := knownKeys(parent, kinds); len(known) > 0 {
			if s := closest(m[2], known); s != "" {
				out += fmt.Sprintf("; did you mean %s?", s)
			} else {
				out += fmt.Sprintf(" (known here: %s)", strings.Join(known, ", "))
			}
		}
		return fmt.Sprintf("%s (line %d)", out, line), path
	}
	if m := typeErrRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		tag, value, goType := m[2], m[3], m[4]
		path := ""
		for _, v := range ix.values[line] {
			if v.node.Kind == yaml.ScalarNode && v.node.Value == value || value == "" && v.node.Tag == tag {
				path = v.path
				break
			}
		}
		got := "`" + value + "`"
		if value == "" {
			got = map[string]string{"!!map": "a mapping", "!!seq": "a list"}[tag]
			if got == "" {
				got = tag
			}
		}
		where := path
		if where == "" {
			where = "value"
		}
		return fmt.Sprintf("%s: %s is not %s (line %d)", where, got, expected(goType), line), path
	}
	// Syntax errors and others keep the decoder's words.
	return msg, ""
}

// expected says in words what a Go type takes in YAML.
func expected(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration (30s, 5m, 2h)"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	}
	return "a mapping of keys" // a struct
}

var durationType = reflect.TypeFor[time.Duration]()

// knownKeys lists the keys a mapping at path may hold, from the Go types
// the file decodes into (carriers' sections from their kind).
func knownKeys(path string, kinds Kinds) []string {
	t := reflect.TypeFor[Config]()
	if path != "" {
		for _, seg := range splitPath(path) {
			for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
				t = t.Elem()
			}
			if t == reflect.TypeFor[Carrier]() {
				k, ok := kinds.find(seg)
				if !ok {
					return nil
				}
				t = reflect.TypeOf(k.Section())
				continue
			}
			if t.Kind() != reflect.Struct {
				return nil
			}
			f, ok := fieldByKey(t, seg)
			if !ok {
				return nil
			}
			t = f.Type
		}
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t == reflect.TypeFor[Carrier]() {
		names := []string{"name"}
		for _, k := range kinds {
			names = append(names, k.Name)
		}
		return names
	}
	if t.Kind() != reflect.Struct || t == durationType {
		return nil
	}
	var keys []string
	collectKeys(t, &keys)
	return keys
}

// splitPath drops the indexes: tenants[0].opt_out → tenants, opt_out.
func splitPath(path string) []string {
	var segs []string
	for _, s := range strings.Split(path, ".") {
		if i := strings.IndexByte(s, '['); i >= 0 {
			s = s[:i]
		}
		segs = append(segs, s)
	}
	return segs
}

func yamlKey(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return "", false
	}
	if strings.Contains(opts, "inline") {
		return "", true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, true
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := yamlKey(f)
		if !ok {
			continue
		}
		if name == "" { // inline
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if g, ok := fieldByKey(ft, key); ok {
					return g, true
				}
			}
			continue
		}
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func collectKeys(t reflect.Type, keys *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := yamlKey(f)
		if !ok {
			continue
		}
		if name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectKeys(ft, keys)
			}
			continue
		}
		*keys = append(*keys, name)
	}
}

// closest is the known key nearest to key, when near enough to be a slip
// (an edit distance of at most a third of its length, and 3).
func closest(key string, known []string) string {
	best, bestD := "", min(3, max(1, len(key)/3))+1
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is Levenshtein's, with a swap of neighbours counting one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
