package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Diff lists the paths of the file where two configs differ, as an
// operator writes them ("carriers[0].smpp.host", "tenants[1].senders",
// "routes"): the leaves that changed, and a whole list when its length
// did. It never shows a value (they may be secrets). Reload uses it to
// apply what may change live and to name what may not.
func Diff(old, new *Config) []string {
	var out []string
	diff(reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem(), "", &out)
	return out
}

var carrierType = reflect.TypeFor[Carrier]()

func diff(a, b reflect.Value, path string, out *[]string) {
	switch {
	case a.Type() == carrierType:
		ca, cb := a.Interface().(Carrier), b.Interface().(Carrier)
		if ca.Name != cb.Name {
			*out = append(*out, join(path, "name"))
		}
		if ca.Kind != cb.Kind {
			*out = append(*out, join(path, cb.Kind))
			return
		}
		diff(reflect.ValueOf(&ca.Section).Elem(), reflect.ValueOf(&cb.Section).Elem(), join(path, ca.Kind), out)
		return
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		switch {
		case a.IsNil() && b.IsNil():
		case a.IsNil() != b.IsNil() || a.Kind() == reflect.Interface && a.Elem().Type() != b.Elem().Type():
			*out = append(*out, path)
		default:
			diff(a.Elem(), b.Elem(), path, out)
		}
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			p := path // an inline struct keeps its parent's path
			switch {
			case opts == "inline":
			case name == "":
				p = join(path, strings.ToLower(f.Name)) // yaml's default key
			default:
				p = join(path, name)
			}
			diff(a.Field(i), b.Field(i), p, out)
		}
	case reflect.Slice:
		if a.Len() != b.Len() {
			*out = append(*out, path)
			return
		}
		for i := range a.Len() {
			diff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
