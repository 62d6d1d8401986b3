package main

import (
	"strings"
	"testing"
)

func TestGreet(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Hello, world!\n"},
		{[]string{"Bacalhau"}, "Hello, Bacalhau!\n"},
		{[]string{"compute", "over", "data"}, "Hello, compute over data!\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		if err := greet(&b, tt.args); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("greet(%q) wrote %q, want %q", tt.args, b.String(), tt.want)
		}
	}
}
