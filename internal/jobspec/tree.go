package jobspec

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A spec is read in two steps: YAML (JSON is YAML too) into a tree that remembers the
// line of every node, then that tree checked against the Go type it must fill, field by
// field, so an error names the field's path and line. Field names match as encoding/json
// matches them (case-insensitively), as upstream's decoder does.

type mapping struct {
	keys  []string
	vals  []node
	lines []int
}

type sequence struct{ items []node }

type scalar struct {
	tag, text string
}

type node struct {
	line int
	v    any // *mapping, *sequence or scalar
}

// Bounds on what a spec may hold.
const (
	// MaxSpecBytes is the largest spec file Decode reads.
	MaxSpecBytes = 1 << 20
	maxDepth     = 32
)

// Error is a spec error with where it is: the field's path (Tasks[0].Engine.Type) and
// its line, when known.
type Error struct {
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("job spec")
	if e.Line > 0 {
		fmt.Fprintf(&b, ", line %d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(", " + e.Path)
	}
	return b.String() + ": " + e.Msg
}

func errAt(n node, path, format string, args ...any) error {
	return &Error{Path: path, Line: n.line, Msg: fmt.Sprintf(format, args...)}
}

// parse reads YAML or JSON into a tree.
func parse(data []byte) (node, error) {
	if len(data) > MaxSpecBytes {
		return node{}, &Error{Msg: fmt.Sprintf("%d bytes, at most %d allowed", len(data), MaxSpecBytes)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return node{}, &Error{Msg: "not valid YAML or JSON: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return node{}, &Error{Msg: "the spec is empty"}
	}
	return convert(doc.Content[0], 0)
}

func convert(y *yaml.Node, depth int) (node, error) {
	n := node{line: y.Line}
	if depth > maxDepth {
		return n, errAt(n, "", "nested more than %d levels deep", maxDepth)
	}
	switch y.Kind {
	case yaml.MappingNode:
		m := &mapping{}
		seen := map[string]bool{}
		for i := 0; i+1 < len(y.Content); i += 2 {
			k := y.Content[i]
			if k.Kind != yaml.ScalarNode {
				return n, errAt(node{line: k.Line}, "", "a key must be a plain name")
			}
			if seen[k.Value] {
				return n, errAt(node{line: k.Line}, "", "key %q appears twice", k.Value)
			}
			seen[k.Value] = true
			v, err := convert(y.Content[i+1], depth+1)
			if err != nil {
				return n, err
			}
			m.keys, m.vals, m.lines = append(m.keys, k.Value), append(m.vals, v), append(m.lines, k.Line)
		}
		n.v = m
	case yaml.SequenceNode:
		s := &sequence{}
		for _, c := range y.Content {
			v, err := convert(c, depth+1)
			if err != nil {
				return n, err
			}
			s.items = append(s.items, v)
		}
		n.v = s
	case yaml.ScalarNode:
		n.v = scalar{tag: y.ShortTag(), text: y.Value}
	case yaml.AliasNode:
		return n, errAt(n, "", "YAML aliases (*name) are not supported: write the value out")
	default:
		return n, errAt(n, "", "unexpected YAML node")
	}
	return n, nil
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// fill checks n against type t and returns a value of plain JSON types (map[string]any,
// []any, string, float64/int64, bool, nil) that encoding/json decodes into t without
// surprises. Unknown fields, wrong kinds and out-of-range numbers fail with the path.
func fill(n node, t reflect.Type, path string) (any, error) {
	if n.v == nil {
		return nil, nil
	}
	if s, ok := n.v.(scalar); ok && s.tag == "!!null" {
		return nil, nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return plain(n, path)
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		// A value that reads itself from text (a CID): a string, checked here so
		// that its error carries the field's path and line.
		s, ok := n.v.(scalar)
		if !ok {
			return nil, errAt(n, path, "want a string")
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s.text)); err != nil {
			return nil, errAt(n, path, "%v", err)
		}
		return s.text, nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Interface:
		return plain(n, path)
	case reflect.Struct:
		m, ok := n.v.(*mapping)
		if !ok {
			return nil, errAt(n, path, "want an object with fields %s", fieldNames(t))
		}
		out := map[string]any{}
		for i, k := range m.keys {
			f, ok := fieldFor(t, k)
			if !ok {
				return nil, errAt(node{line: m.lines[i]}, join(path, k), "unknown field %q (known: %s)", k, fieldNames(t))
			}
			name := jsonName(f)
			if _, dup := out[name]; dup {
				return nil, errAt(node{line: m.lines[i]}, join(path, k), "field %s given twice", name)
			}
			v, err := fill(m.vals[i], f.Type, join(path, name))
			if err != nil {
				return nil, err
			}
			out[name] = v
		}
		return out, nil
	case reflect.Map:
		m, ok := n.v.(*mapping)
		if !ok {
			return nil, errAt(n, path, "want a map of names to values")
		}
		out := map[string]any{}
		for i, k := range m.keys {
			v, err := fill(m.vals[i], t.Elem(), join(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case reflect.Slice:
		s, ok := n.v.(*sequence)
		if !ok {
			return nil, errAt(n, path, "want a list")
		}
		out := make([]any, len(s.items))
		for i, it := range s.items {
			v, err := fill(it, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	s, ok := n.v.(scalar)
	if !ok {
		return nil, errAt(n, path, "want a single value, not a list or an object")
	}
	switch t.Kind() {
	case reflect.String:
		return s.text, nil // a number or true where text is wanted is that text, as upstream reads YAML
	case reflect.Bool:
		b, err := strconv.ParseBool(s.text)
		if err != nil || s.tag != "!!bool" {
			return nil, errAt(n, path, "want true or false, got %q", s.text)
		}
		return b, nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		v, err := strconv.ParseInt(s.text, 0, 64)
		if err != nil {
			return nil, errAt(n, path, "want a whole number, got %q", s.text)
		}
		return v, nil
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		v, err := strconv.ParseUint(s.text, 0, 64)
		if err != nil {
			return nil, errAt(n, path, "want a whole number of zero or more, got %q", s.text)
		}
		return v, nil
	}
	return nil, errAt(n, path, "cannot be read (type %s)", t)
}

// plain converts a node with no type to fill to plain JSON values.
func plain(n node, path string) (any, error) {
	switch v := n.v.(type) {
	case *mapping:
		out := map[string]any{}
		for i, k := range v.keys {
			x, err := plain(v.vals[i], join(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	case *sequence:
		out := make([]any, len(v.items))
		for i, it := range v.items {
			x, err := plain(it, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case scalar:
		switch v.tag {
		case "!!null":
			return nil, nil
		case "!!bool":
			return v.text == "true" || v.text == "True" || v.text == "TRUE", nil
		case "!!int":
			if i, err := strconv.ParseInt(v.text, 0, 64); err == nil {
				return i, nil
			}
			return v.text, nil
		case "!!float":
			f, err := strconv.ParseFloat(v.text, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, errAt(n, path, "number %q is out of range", v.text)
			}
			return f, nil
		}
		return v.text, nil
	}
	return nil, errAt(n, path, "unexpected value")
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func fieldFor(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		if strings.EqualFold(jsonName(f), key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func fieldNames(t reflect.Type) string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
			names = append(names, jsonName(f))
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// decodeInto fills n into *out: checked by fill, then decoded by encoding/json.
func decodeInto(n node, path string, out any) error {
	v, err := fill(n, reflect.TypeOf(out).Elem(), path)
	if err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return errAt(n, path, "%v", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errAt(n, join(path, te.Field), "want a %s, got a %s", te.Type, te.Value)
		}
		return errAt(n, path, "%v", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// child is the value of key (matched as encoding/json matches) in a mapping node.
func child(n node, key string) (node, bool) {
	m, ok := n.v.(*mapping)
	if !ok {
		return node{}, false
	}
	for i, k := range m.keys {
		if strings.EqualFold(k, key) {
			return m.vals[i], true
		}
	}
	return node{}, false
}

// params re-reads a SpecConfig's Params (already plain values) strictly into out.
func params(raw map[string]any, line int, path string, out any) error {
	b, err := json.Marshal(raw)
	if err != nil {
		return &Error{Path: path, Line: line, Msg: err.Error()}
	}
	n, err := parse(b)
	if err != nil {
		return err
	}
	n.line = line
	if err := decodeInto(n, path, out); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Line = line // the lines of the re-read are not the file's: say where Params is
		}
		return err
	}
	return nil
}
