// Command faulty misbehaves on purpose, one way per mode, for the end-to-end tests:
//
//	faulty spin | sleep | grow | flood [BYTES] | escape | exit CODE | tick N | write | walk DIR | fill BYTES
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: faulty MODE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "spin":
		for {
		}
	case "sleep":
		time.Sleep(time.Hour)
		fmt.Println("woke up")
	case "grow":
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 { // every page: resident, as real data is
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "flood": // forever, or BYTES bytes and then exit 1
		line := []byte("all work and no play makes jack a dull boy\n")
		limit := -1
		if len(os.Args) > 2 {
			limit, _ = strconv.Atoi(os.Args[2])
		}
		for n := 0; limit < 0 || n < limit; n += len(line) {
			os.Stdout.Write(line)
		}
		os.Exit(1)
	case "escape":
		escape()
	case "exit":
		code, _ := strconv.Atoi(os.Args[2])
		fmt.Println("partial output before failing")
		fmt.Fprintln(os.Stderr, "something went wrong")
		os.WriteFile("/outputs/partial.txt", []byte("kept\n"), 0o644)
		os.Exit(code)
	case "fill": // BYTES into /outputs/fill, reporting how far it got
		n, _ := strconv.Atoi(os.Args[2])
		f, err := os.Create("/outputs/fill")
		if err != nil {
			fmt.Println("create:", err)
			os.Exit(1)
		}
		buf := make([]byte, 64<<10)
		written := 0
		for written < n {
			k, err := f.Write(buf[:min(len(buf), n-written)])
			written += k
			if err != nil {
				fmt.Printf("wrote %d bytes: %v\n", written, err)
				os.Exit(1)
			}
		}
		fmt.Printf("wrote %d bytes\n", written)
	case "tick":
		n, _ := strconv.Atoi(os.Args[2])
		for i := 0; i < n; i++ {
			fmt.Printf("tick %d\n", i)
			time.Sleep(200 * time.Millisecond)
		}
	case "write":
		os.WriteFile("/outputs/out.txt", []byte(os.Getenv("GREETING")+"\n"), 0o644)
		fmt.Println(time.Now().UnixNano(), os.Args[2:])
	case "walk":
		walk(os.Args[2])
	}
}

// walk prints every directory (with a trailing /) and file (with its size) under dir,
// and exits 2 on the first error, as a Go program walking its inputs would.
func walk(dir string) {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			fmt.Println(p + "/")
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Println(p, info.Size())
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// escape tries to get out of its mounts and prints what happened to each attempt.
func escape() {
	try := func(what string, err error) {
		if err != nil {
			fmt.Printf("%s: denied\n", what)
		} else {
			fmt.Printf("%s: ALLOWED\n", what)
		}
	}
	_, err := os.ReadFile("/etc/passwd")
	try("read /etc/passwd", err)
	_, err = os.ReadFile("/inputs/../../etc/passwd")
	try("read /inputs/../../etc/passwd", err)
	_, err = os.ReadDir("../")
	try("list ../", err)
	err = os.WriteFile("/inputs/new.txt", []byte("x"), 0o644)
	try("write /inputs/new.txt", err)
	err = os.WriteFile("/outputs/../escaped.txt", []byte("x"), 0o644)
	try("write /outputs/../escaped.txt", err)
	err = os.Remove("/inputs/a.txt")
	try("remove /inputs/a.txt", err)
}
