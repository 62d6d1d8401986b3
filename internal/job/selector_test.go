package job

import (
	"errors"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

func TestSelector(t *testing.T) {
	prod := map[string]string{"env": "prod", "team": "data", "size": "5"}
	dev := map[string]string{"env": "dev"}
	none := map[string]string(nil)
	for _, c := range []struct {
		sel             string
		prod, dev, none bool
	}{
		{"", true, true, true},
		{"env=prod", true, false, false},
		{"env == prod", true, false, false},
		{"env!=prod", false, true, true},
		{"bacalhau_canary != true", true, true, true}, // upstream CLI's default filter
		{"env in (prod, dev)", true, true, false},
		{"env notin (prod)", false, true, true},
		{"team", true, false, false},
		{"!team", false, true, true},
		{"env=prod,team=data", true, false, false},
		{"env in (prod,dev),!team", false, true, false},
		{"size>3", true, false, false},
		{"size<3", false, false, false},
	} {
		s, err := ParseSelector(c.sel)
		if err != nil {
			t.Fatalf("ParseSelector(%q): %v", c.sel, err)
		}
		if got := [3]bool{s.Matches(prod), s.Matches(dev), s.Matches(none)}; got != [3]bool{c.prod, c.dev, c.none} {
			t.Errorf("%q matches prod, dev, none = %v, want %v", c.sel, got, [3]bool{c.prod, c.dev, c.none})
		}
		back, err := ParseSelector(s.String())
		if err != nil || back.String() != s.String() {
			t.Errorf("%q written as %q reads back as %q, %v", c.sel, s.String(), back.String(), err)
		}
	}
}

func TestSelectorErrors(t *testing.T) {
	for sel, want := range map[string]string{
		"env=prod,,a":                           "empty requirement",
		"env in prod":                           "parentheses",
		"env in (a,(b))":                        "nested",
		"size>big":                              "whole number",
		"e v=1":                                 "only letters",
		"=x":                                    "no label key",
		"env=a b":                               "cannot name",
		"env ~ x":                               "want key=value",
		strings.Repeat("a", MaxSelectorBytes+1): "at most",
	} {
		_, err := ParseSelector(sel)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSelector(%q) = %v, want an invalid error with %q", sel, err, want)
		}
	}
}

func TestJobLabels(t *testing.T) {
	m, err := ParseJobLabels([]string{"env=prod,team=data", "gpu"})
	if err != nil || len(m) != 3 || m["env"] != "prod" || m["gpu"] != "" {
		t.Fatalf("ParseJobLabels = %v, %v", m, err)
	}
	for _, bad := range []string{"e v=1", "env=a,b=(c)", "=x", "k=" + strings.Repeat("v", MaxLabelValue+1)} {
		if _, err := ParseJobLabels([]string{bad}); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseJobLabels(%q) = %v, want an invalid error", bad, err)
		}
	}
	many := make([]string, MaxJobLabels+1)
	for i := range many {
		many[i] = "k" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + "=v"
	}
	if _, err := ParseJobLabels(many); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("%d labels: %v, want the bound", len(many), err)
	}
	s := Spec{Engine: EngineWasm, Wasm: &WasmTask{Module: cidtext.MustParse(cidV1)}, Labels: map[string]string{"a": "x y"}}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "labels") {
		t.Errorf("Validate of a label with a space: %v", err)
	}
}

// FuzzParseSelector: any text parses or fails with ErrInvalid; a selector that parses
// is written back as one that reads the same, and matching never panics.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"env=prod", "a in (b,c),!d", "x notin (y)", "n>3", "bacalhau_canary != true", "k", ",", "a in (", "!", "a=(b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		back, err := ParseSelector(sel.String())
		if err != nil || back.String() != sel.String() {
			t.Fatalf("%q written as %q reads back as %q, %v", s, sel.String(), back.String(), err)
		}
		sel.Matches(map[string]string{"env": "prod", "n": "4"})
	})
}
