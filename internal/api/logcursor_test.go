package api

import (
	"strings"
	"testing"
)

func TestLogCursor(t *testing.T) {
	c := map[string]uint64{"12D3KooWB": 7, "12D3KooWA": 0}
	s := FormatLogCursor(c)
	if s != "12D3KooWA:0,12D3KooWB:7" {
		t.Fatalf("format: %q", s)
	}
	back, err := ParseLogCursor(s)
	if err != nil || len(back) != 2 || back["12D3KooWB"] != 7 {
		t.Fatalf("parse: %v %v", back, err)
	}
	for _, bad := range []string{"x", "a:", ":1", "a:-1", "a:1,a:2", "a:1,", "a b:1", "a:1:2", strings.Repeat("a:1,", MaxCursorNodes) + "b:1"} {
		if _, err := ParseLogCursor(bad); err == nil || !strings.Contains(err.Error(), "log cursor") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzLogCursor(f *testing.F) {
	for _, s := range []string{"", "a:1", "12D3KooWA:0,12D3KooWB:7", "a:1,a:1", "a:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseLogCursor(s)
		if err != nil {
			return
		}
		again, err := ParseLogCursor(FormatLogCursor(c))
		if err != nil || len(again) != len(c) {
			t.Fatalf("%q: round trip %v %v", s, again, err)
		}
		for n, seq := range c {
			if !validNodeText(n) || again[n] != seq {
				t.Fatalf("%q: node %q", s, n)
			}
		}
	})
}
