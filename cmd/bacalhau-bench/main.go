// Command bacalhau-bench measures the figures the issues ask for and prints them as a
// table: `make bench` runs it after building bin/bacalhau and the examples.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

type row struct {
	name, value, goal, note string
}

func main() {
	bin := flag.String("bin", "bin/bacalhau", "the bacalhau binary")
	examples := flag.String("examples", "build/examples", "directory of the example .wasm files")
	only := flag.String("only", "", "run only the benchmarks whose name contains this")
	flag.Parse()
	work, err := os.MkdirTemp("", "bacalhau-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(work)
	b := &bench{bin: abs(*bin), examples: abs(*examples), work: work, ctx: context.Background()}
	if err := b.buildGuests(); err != nil {
		fatal(err)
	}
	steps := []struct {
		name string
		fn   func() ([]row, error)
	}{
		{"client", b.client},
		{"startup", b.startup},
		{"hello", b.hello},
		{"burst", b.burst},
		{"sha256", b.sha256},
		{"wasmtime", b.wasmtime},
		{"read", b.read},
		{"add", b.add},
		{"list", b.list},
		{"modules", b.modules},
		{"network-3node", b.net3},
		{"network-bitswap", b.netBitswap},
		{"network-20", b.net20},
		{"network-lazy", b.netLazy},
		{"docker", b.docker},
		{"functions", b.functions},
		{"interop", b.interop},
	}
	var rows []row
	for _, s := range steps {
		if *only != "" && !contains(s.name, *only) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s...\n", s.name)
		r, err := s.fn()
		if err != nil {
			rows = append(rows, row{s.name, "ERROR", "", err.Error()})
			continue
		}
		rows = append(rows, r...)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tMEASURED\tGOAL\tNOTE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.value, r.goal, r.note)
	}
	tw.Flush()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		fatal(err)
	}
	return a
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

type bench struct {
	ctx      context.Context
	bin      string
	examples string
	work     string
	readall  string
	readat   string
}

func (b *bench) buildGuests() error {
	b.readall = filepath.Join(b.work, "readall.wasm")
	b.readat = filepath.Join(b.work, "readat.wasm")
	for name, out := range map[string]string{"readall": b.readall, "readat": b.readat} {
		cmd := exec.Command("go", "build", "-o", out, "./cmd/bacalhau-bench/testdata/"+name)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", name, err, out)
		}
	}
	return nil
}
