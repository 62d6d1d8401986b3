// Guest outfill changes /outputs (or $OUTFILL_DIR) as its arguments say, one command each:
//
//	write:P:K      create or truncate P and write K KiB to it
//	append:P:K     append K KiB to P
//	pwrite:P:O:K   write K KiB at offset O KiB
//	trunc:P:K      truncate P to K KiB
//	rm:P  mkdir:P  mv:FROM:TO  link:OLD:NEW
//	files:P:N      create N empty files P0, P1, ...
//	fill:P:K       write to P until a write fails, K KiB at most
//
// Writes go 64 KiB at a time. At the first error it says on stderr which
// command failed, how far it got and why, and exits 1; else it says "ok".
package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

var chunk = bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB

func main() {
	for _, cmd := range os.Args[1:] {
		if err := do(strings.Split(cmd, ":")); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", cmd, err)
			os.Exit(1)
		}
	}
	fmt.Println("ok")
}

// path is P under /outputs, or under $OUTFILL_DIR when it is set.
func path(p string) string {
	if d := os.Getenv("OUTFILL_DIR"); d != "" {
		return d + "/" + p
	}
	return "/outputs/" + p
}

func num(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

func do(a []string) error {
	switch a[0] {
	case "write", "append":
		flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if a[0] == "append" {
			flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := os.OpenFile(path(a[1]), flag, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeKiB(f, num(a[2]), -1)
	case "pwrite":
		f, err := os.OpenFile(path(a[1]), os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeKiB(f, num(a[3]), num(a[2])<<10)
	case "trunc":
		return os.Truncate(path(a[1]), num(a[2])<<10)
	case "rm":
		return os.Remove(path(a[1]))
	case "mkdir":
		return os.Mkdir(path(a[1]), 0o755)
	case "mv":
		return os.Rename(path(a[1]), path(a[2]))
	case "link":
		return os.Link(path(a[1]), path(a[2]))
	case "files":
		n := num(a[2])
		for i := range n {
			f, err := os.Create(path(a[1] + strconv.FormatInt(i, 10)))
			if err != nil {
				return fmt.Errorf("after %d files: %w", i, err)
			}
			f.Close()
		}
		return nil
	case "fill":
		f, err := os.Create(path(a[1]))
		if err != nil {
			return err
		}
		defer f.Close()
		return writeKiB(f, num(a[2]), -1)
	}
	return fmt.Errorf("unknown command")
}

// writeKiB writes kib KiB to f, at off if it is not negative.
func writeKiB(f *os.File, kib, off int64) error {
	for done := int64(0); done < kib; done += 64 {
		b := chunk[:min(64, kib-done)<<10]
		var err error
		if off >= 0 {
			_, err = f.WriteAt(b, off+done<<10)
		} else {
			_, err = f.Write(b)
		}
		if err != nil {
			return fmt.Errorf("after %d KiB: %w", done, err)
		}
	}
	return nil
}
