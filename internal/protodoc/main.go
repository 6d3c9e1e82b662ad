// Command protodoc writes the gRPC API reference (docs/api.md) from the
// comments in proto/smsgw/v1, so the reference can never drift from the
// contract. `make docs` runs it; `make test` checks the committed file.
//
//	protoc --include_source_info --descriptor_set_out=api.pb ... | protodoc api.pb > docs/api.md
package main

import (
	_ "embed" // for restGuide
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: protodoc DESCRIPTOR_SET > api.md")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "protodoc:", err)
		os.Exit(1)
	}
}

func run(path string, w io.Writer) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		return err
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return err
	}
	fmt.Fprint(w, "# smsgw API reference: gRPC and REST/JSON\n\n")
	fmt.Fprint(w, "Generated from `proto/smsgw/v1` (and the REST guide in `internal/protodoc/rest.md`) by `make docs`; do not edit.\n"+
		"Authenticate every call with `authorization: Bearer <API key>` (a tenant key for Messaging, an admin key for Admin).\n"+
		"The same calls over HTTP/JSON: [REST/JSON](#restjson).\n")
	var ours []protoreflect.FileDescriptor
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(string(fd.Package()), "smsgw.") {
			ours = append(ours, fd)
		}
		return true
	})
	// RangeFiles has no fixed order; the output must have one.
	slices.SortFunc(ours, func(a, b protoreflect.FileDescriptor) int { return strings.Compare(a.Path(), b.Path()) })
	for _, fd := range ours {
		writeFile(w, fd)
	}
	writeREST(w, ours)
	return nil
}

// restGuide is the hand-written part of the REST section: conventions,
// errors, streaming and curl examples. The route table after it is
// generated from the google.api.http annotations.
//
//go:embed rest.md
var restGuide string

// httpRule is a method's REST route ("POST", "/v1/messages"), or empty
// strings when it has none.
func httpRule(m protoreflect.MethodDescriptor) (verb, path string) {
	rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		verb, path = "GET", p.Get
	case *annotations.HttpRule_Post:
		verb, path = "POST", p.Post
	case *annotations.HttpRule_Put:
		verb, path = "PUT", p.Put
	case *annotations.HttpRule_Delete:
		verb, path = "DELETE", p.Delete
	case *annotations.HttpRule_Patch:
		verb, path = "PATCH", p.Patch
	}
	return verb, path
}

func writeREST(w io.Writer, files []protoreflect.FileDescriptor) {
	fmt.Fprintf(w, "\n%s\n### Routes\n\nFrom the `google.api.http` annotations; path fields (`{id}`) come from the URL, "+
		"the other fields of a GET or DELETE from the query string, those of a POST from the JSON body.\n\n"+
		"| method | route | RPC |\n|---|---|---|\n", restGuide)
	for _, fd := range files {
		for i := range fd.Services().Len() {
			s := fd.Services().Get(i)
			for j := range s.Methods().Len() {
				m := s.Methods().Get(j)
				if verb, path := httpRule(m); verb != "" {
					fmt.Fprintf(w, "| %s | `%s` | %s.%s |\n", verb, path, s.Name(), m.Name())
				}
			}
		}
	}
}

func comment(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	return strings.TrimSpace(strings.Join(strings.Fields(strings.ReplaceAll(loc.LeadingComments, "\n", " \n")), " "))
}

// blockComment keeps a comment's paragraphs and its table lines (those
// starting with "|"), for text that stands on its own rather than in a
// table cell.
func blockComment(d protoreflect.Descriptor) string {
	return blockText(d.ParentFile().SourceLocations().ByDescriptor(d).LeadingComments)
}

// blockText is blockComment of a comment's text; a line starting with "- "
// begins a list item.
func blockText(comment string) string {
	var paras []string
	for _, para := range strings.Split(strings.TrimSpace(comment), "\n\n") {
		var out, text []string
		flush := func() {
			if len(text) > 0 {
				out = append(out, strings.Join(text, " "))
				text = nil
			}
		}
		for _, line := range strings.Split(para, "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "|") {
				flush()
				out = append(out, line)
			} else if strings.HasPrefix(line, "- ") {
				flush()
				text = append(text, line)
			} else if line != "" {
				text = append(text, line)
			}
		}
		flush()
		paras = append(paras, strings.Join(out, "\n"))
	}
	return strings.Join(paras, "\n\n")
}

func typeName(f protoreflect.FieldDescriptor) string {
	var t string
	switch f.Kind() {
	case protoreflect.MessageKind:
		t = string(f.Message().FullName())
		if strings.HasPrefix(t, "smsgw.v1.") {
			t = fmt.Sprintf("[%s](#%s)", f.Message().Name(), strings.ToLower(string(f.Message().Name())))
		}
	case protoreflect.EnumKind:
		t = fmt.Sprintf("[%s](#%s)", f.Enum().Name(), strings.ToLower(string(f.Enum().Name())))
	default:
		t = f.Kind().String()
	}
	if f.IsList() {
		t = "repeated " + t
	}
	return t
}

func writeFile(w io.Writer, fd protoreflect.FileDescriptor) {
	fmt.Fprintf(w, "\n## %s\n", fd.Path())
	// The package statement's comment (field 2 of FileDescriptorProto).
	if c := blockText(fd.SourceLocations().ByPath(protoreflect.SourcePath{2}).LeadingComments); c != "" {
		fmt.Fprintf(w, "\n%s\n", c)
	}
	for i := range fd.Services().Len() {
		s := fd.Services().Get(i)
		fmt.Fprintf(w, "\n### service %s\n\n%s\n\n| method | request | response | |\n|---|---|---|---|\n", s.FullName(), blockComment(s))
		for j := range s.Methods().Len() {
			m := s.Methods().Get(j)
			out := string(m.Output().Name())
			if m.IsStreamingServer() {
				out = "stream " + out
			}
			fmt.Fprintf(w, "| `%s` | [%s](#%s) | %s | %s |\n", m.Name(), m.Input().Name(), strings.ToLower(string(m.Input().Name())), out, comment(m))
		}
	}
	for i := range fd.Messages().Len() {
		m := fd.Messages().Get(i)
		fmt.Fprintf(w, "\n### %s\n\n", m.Name())
		if c := comment(m); c != "" {
			fmt.Fprintf(w, "%s\n\n", c)
		}
		if m.Fields().Len() == 0 {
			fmt.Fprint(w, "No fields.\n")
			continue
		}
		fmt.Fprint(w, "| field | type | |\n|---|---|---|\n")
		for j := range m.Fields().Len() {
			f := m.Fields().Get(j)
			fmt.Fprintf(w, "| `%s` | %s | %s |\n", f.Name(), typeName(f), comment(f))
		}
	}
	for i := range fd.Enums().Len() {
		e := fd.Enums().Get(i)
		fmt.Fprintf(w, "\n### %s\n\n", e.Name())
		if c := comment(e); c != "" {
			fmt.Fprintf(w, "%s\n\n", c)
		}
		fmt.Fprint(w, "| value | number | |\n|---|---|---|\n")
		for j := range e.Values().Len() {
			v := e.Values().Get(j)
			fmt.Fprintf(w, "| `%s` | %d | %s |\n", v.Name(), v.Number(), comment(v))
		}
	}
}
