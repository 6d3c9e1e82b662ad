// Package protocompat finds the changes to smsgw's .proto files that would
// break a client built against an earlier revision: on the wire (field
// numbers, types, cardinality), in JSON (field and enum value names, which
// the REST gateway speaks) and in generated code (packages, methods).
//
// It is the breaking-change check `make test` runs against the previous
// commit; `make proto-lint` runs buf's fuller check in CI. It compares
// compiled descriptors, so comments and formatting never count.
package protocompat

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Compile compiles the named files (paths relative to the import root)
// with read giving a file's source by that path.
func Compile(ctx context.Context, read func(path string) ([]byte, error), files ...string) ([]protoreflect.FileDescriptor, error) {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: func(path string) (io.ReadCloser, error) {
			b, err := read(path)
			if err != nil {
				return nil, err
			}
			return io.NopCloser(bytes.NewReader(b)), nil
		},
	})}
	fs, err := c.Compile(ctx, files...)
	if err != nil {
		return nil, err
	}
	out := make([]protoreflect.FileDescriptor, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out, nil
}

// Breaking lists what in next breaks a client of prev, file by file (the
// same paths in both), each naming the element and the change.
func Breaking(prev, next []protoreflect.FileDescriptor) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	byPath := make(map[string]protoreflect.FileDescriptor)
	for _, f := range next {
		byPath[f.Path()] = f
	}
	for _, p := range prev {
		n, ok := byPath[p.Path()]
		if !ok {
			add("%s: file removed", p.Path())
			continue
		}
		if p.Package() != n.Package() {
			add("%s: package %s became %s", p.Path(), p.Package(), n.Package())
		}
		for _, opt := range []string{"go_package", "java_package", "csharp_namespace", "php_namespace", "ruby_package"} {
			if a, b := fileOption(p, opt), fileOption(n, opt); a != "" && a != b {
				add("%s: option %s %q became %q", p.Path(), opt, a, b)
			}
		}
		messages(p.Messages(), n, add)
		enums(p.Enums(), n, add)
		for i := range p.Services().Len() {
			service(p.Services().Get(i), n, add)
		}
	}
	return out
}

// fileOption is a file option's value as text, "" when unset.
func fileOption(f protoreflect.FileDescriptor, name string) string {
	var v string
	f.Options().ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		if string(fd.Name()) == name {
			v = val.String()
			return false
		}
		return true
	})
	return v
}

func messages(ms protoreflect.MessageDescriptors, next protoreflect.FileDescriptor, add func(string, ...any)) {
	for i := range ms.Len() {
		m := ms.Get(i)
		if m.IsMapEntry() {
			continue // compared as its map field
		}
		d := next.Messages().ByName(m.Name())
		if parent, ok := m.Parent().(protoreflect.MessageDescriptor); ok {
			d = nil
			if np := findMessage(next, parent.FullName()); np != nil {
				d = np.Messages().ByName(m.Name())
			}
		}
		if d == nil {
			add("message %s removed", m.FullName())
			continue
		}
		for j := range m.Fields().Len() {
			field(m.Fields().Get(j), d, add)
		}
		messages(m.Messages(), next, add)
		enums(m.Enums(), next, add)
	}
}

// findMessage finds a message of f by full name, nested ones included.
func findMessage(f protoreflect.FileDescriptor, name protoreflect.FullName) protoreflect.MessageDescriptor {
	var walk func(ms protoreflect.MessageDescriptors) protoreflect.MessageDescriptor
	walk = func(ms protoreflect.MessageDescriptors) protoreflect.MessageDescriptor {
		for i := range ms.Len() {
			if m := ms.Get(i); m.FullName() == name {
				return m
			} else if d := walk(m.Messages()); d != nil {
				return d
			}
		}
		return nil
	}
	return walk(f.Messages())
}

func field(f protoreflect.FieldDescriptor, next protoreflect.MessageDescriptor, add func(string, ...any)) {
	n := next.Fields().ByNumber(f.Number())
	if n == nil {
		if !next.ReservedRanges().Has(f.Number()) || !next.ReservedNames().Has(f.Name()) {
			add("field %s (%d) removed without reserving its number and name", f.FullName(), f.Number())
		}
		return
	}
	if n.Name() != f.Name() || n.JSONName() != f.JSONName() {
		add("field %s (%d) renamed %s: JSON clients break", f.FullName(), f.Number(), n.Name())
	}
	if typeOf(f) != typeOf(n) {
		add("field %s (%d) type %s became %s", f.FullName(), f.Number(), typeOf(f), typeOf(n))
	}
	if f.Cardinality() != n.Cardinality() || f.IsMap() != n.IsMap() || f.HasPresence() != n.HasPresence() {
		add("field %s (%d) cardinality or presence changed", f.FullName(), f.Number())
	}
	if (f.ContainingOneof() == nil) != (n.ContainingOneof() == nil) {
		add("field %s (%d) moved into or out of a oneof", f.FullName(), f.Number())
	}
}

// typeOf names a field's wire type and, for messages and enums, which.
func typeOf(f protoreflect.FieldDescriptor) string {
	switch {
	case f.IsMap():
		return "map<" + typeOf(f.MapKey()) + ", " + typeOf(f.MapValue()) + ">"
	case f.Message() != nil:
		return string(f.Message().FullName())
	case f.Enum() != nil:
		return string(f.Enum().FullName())
	}
	return f.Kind().String()
}

func enums(es protoreflect.EnumDescriptors, next protoreflect.FileDescriptor, add func(string, ...any)) {
	for i := range es.Len() {
		e := es.Get(i)
		var d protoreflect.EnumDescriptor
		if parent, ok := e.Parent().(protoreflect.MessageDescriptor); ok {
			if np := findMessage(next, parent.FullName()); np != nil {
				d = np.Enums().ByName(e.Name())
			}
		} else {
			d = next.Enums().ByName(e.Name())
		}
		if d == nil {
			add("enum %s removed", e.FullName())
			continue
		}
		for j := range e.Values().Len() {
			v := e.Values().Get(j)
			switch nv := d.Values().ByNumber(v.Number()); {
			case nv == nil && !d.ReservedRanges().Has(v.Number()):
				add("enum value %s (%d) removed without reserving it", v.FullName(), v.Number())
			case nv != nil && nv.Name() != v.Name() && !slices.Contains(aliases(d, v.Number()), v.Name()):
				add("enum value %s (%d) renamed %s: JSON clients break", v.FullName(), v.Number(), nv.Name())
			}
		}
	}
}

// aliases are the names of an enum's values with number n.
func aliases(e protoreflect.EnumDescriptor, n protoreflect.EnumNumber) []protoreflect.Name {
	var out []protoreflect.Name
	for i := range e.Values().Len() {
		if v := e.Values().Get(i); v.Number() == n {
			out = append(out, v.Name())
		}
	}
	return out
}

func service(s protoreflect.ServiceDescriptor, next protoreflect.FileDescriptor, add func(string, ...any)) {
	d := next.Services().ByName(s.Name())
	if d == nil {
		add("service %s removed", s.FullName())
		return
	}
	for i := range s.Methods().Len() {
		m := s.Methods().Get(i)
		n := d.Methods().ByName(m.Name())
		switch {
		case n == nil:
			add("method %s removed", m.FullName())
		case n.Input().FullName() != m.Input().FullName() || n.Output().FullName() != m.Output().FullName():
			add("method %s takes or returns another message", m.FullName())
		case n.IsStreamingClient() != m.IsStreamingClient() || n.IsStreamingServer() != m.IsStreamingServer():
			add("method %s changed streaming", m.FullName())
		}
	}
}
