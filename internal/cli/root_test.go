package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestCommandTable: the table Run builds commands from names each command by the name
// the command answers to, and the full tree has no client command missing from it.
func TestCommandTable(t *testing.T) {
	e := &Env{}
	seen := map[string]bool{}
	for _, c := range commands {
		if got := c.build(e); got.Name() != c.name || got.Short != c.short {
			t.Errorf("commands[%q] (%q) builds %q (%q)", c.name, c.short, got.Name(), got.Short)
		}
		seen[c.name] = true
	}
	root := newRoot(&Env{Args: []string{"--help"}}, nil)
	for _, c := range root.Commands() {
		switch c.Name() {
		case "config", "help", "completion":
			continue
		}
		if !seen[c.Name()] {
			t.Errorf("command %q is not in the table", c.Name())
		}
	}
}

func TestCommandName(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"wasm", "run", "x.wasm"}, "wasm"},
		{[]string{"--api-port", "1235", "list"}, "list"},
		{[]string{"--api-host=h", "--config", "c.yaml", "describe", "j"}, "describe"},
		{[]string{"--help"}, ""},
		{[]string{"-h", "wasm"}, ""},
		{[]string{"--api-port"}, ""},
	} {
		if got := commandName(tc.args); got != tc.want {
			t.Errorf("commandName(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestOnlyTheNamedCommandIsBuilt: a command line naming a command builds that one alone,
// and one naming none (or a typo) builds them all, so help and suggestions still list
// every command.
func TestOnlyTheNamedCommandIsBuilt(t *testing.T) {
	names := func(args ...string) []string {
		var out []string
		for _, c := range newRoot(&Env{Args: args}, nil).Commands() {
			out = append(out, c.Name())
		}
		return out
	}
	if got := names("--api-port", "1", "version", "--client"); strings.Join(got, ",") != "config,version" {
		t.Errorf("version built %v, want config and version", got)
	}
	for _, args := range [][]string{{"--help"}, {"wams", "run"}, {"help", "wasm"}} {
		if got := names(args...); len(got) < len(commands)+1 {
			t.Errorf("%q built only %v", args, got)
		}
	}
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"wams", "run"}, nil, &out, &errb, nil); code == 0 || !strings.Contains(errb.String(), "wasm") {
		t.Errorf("a typo of wasm: exit %d, stderr %q, want a failure suggesting wasm", code, errb.String())
	}
	out.Reset()
	if code := Run(context.Background(), []string{"--help"}, nil, &out, &errb, nil); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(out.String(), "\n  "+c.name+" ") {
			t.Errorf("--help does not list %q:\n%s", c.name, out.String())
		}
	}
	// The stand-ins print the help the whole tree prints.
	var full bytes.Buffer
	if code := Run(context.Background(), []string{"help"}, nil, &full, &errb, nil); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	if out.String() != full.String() {
		t.Errorf("--help (stand-ins):\n%s\nhelp (the whole tree):\n%s", out.String(), full.String())
	}
}
