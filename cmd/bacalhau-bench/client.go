package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// trivialStart builds the yardstick, a Go program that does nothing, and returns its path.
func (b *bench) trivialStart() (string, error) {
	out := filepath.Join(b.work, "trivial")
	if o, err := exec.Command("go", "build", "-o", out, "./cmd/bacalhau-bench/testdata/trivial").CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the trivial program: %v\n%s", err, o)
	}
	return out, nil
}

// client: how long the client takes to start, against a trivial Go program measured in
// the same run (interleaved, so both see the same machine).
func (b *bench) client() ([]row, error) {
	trivial, err := b.trivialStart()
	if err != nil {
		return nil, err
	}
	cmds := [][]string{{trivial}, {b.bin, "version", "--client"}, {b.bin, "--help"}}
	ds := make([][]time.Duration, len(cmds))
	for i := 0; i < 42; i++ {
		for k, c := range cmds {
			_, d, err := timed(exec.Command(c[0], c[1:]...), filepath.Base(c[0]), c[1:])
			if err != nil {
				return nil, err
			}
			if i >= 2 { // warm the page cache first
				ds[k] = append(ds[k], d)
			}
		}
	}
	base := median(ds[0])
	var rows []row
	rows = append(rows, row{"trivial Go program start (median of 40)", ms(base), "", "the yardstick"})
	for k, c := range cmds[1:] {
		d := median(ds[k+1])
		rows = append(rows, row{"bacalhau " + strings.Join(c[1:], " ") + " (median of 40)",
			fmt.Sprintf("%s = %.2fx trivial", ms(d), ratio(d, base)), "<= 2x trivial", ""})
	}
	return rows, nil
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }
