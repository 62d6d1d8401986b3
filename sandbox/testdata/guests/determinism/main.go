// Guest determinism prints everything that could differ between two runs:
// times, random numbers, environment, arguments and directory listings of
// /inputs and of /outputs after creating files in it in unsorted order.
package main

import (
	crand "crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	var b strings.Builder
	start := time.Now()
	fmt.Fprintln(&b, "now:", start.UTC().Format(time.RFC3339Nano))
	time.Sleep(20 * time.Millisecond)
	fmt.Fprintln(&b, "slept:", time.Since(start))
	fmt.Fprintln(&b, "math/rand:", rand.Int64(), rand.Int64())
	key := make([]byte, 16)
	if _, err := crand.Read(key); err != nil {
		panic(err)
	}
	fmt.Fprintf(&b, "crypto/rand: %x\n", key)
	m := map[int]bool{}
	for i := range 20 {
		m[i] = true
	}
	fmt.Fprint(&b, "map order:")
	for k := range m {
		fmt.Fprint(&b, " ", k)
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "env: %q\n", os.Environ())
	fmt.Fprintf(&b, "args: %q\n", os.Args)

	for _, name := range []string{"zeta", "alpha", "mike", "bravo", "yankee", "charlie", "xray", "delta"} {
		if err := os.WriteFile("/outputs/"+name, []byte(name), 0o644); err != nil {
			panic(err)
		}
	}
	if err := os.Mkdir("/outputs/sub", 0o755); err != nil {
		panic(err)
	}
	list(&b, "/inputs")
	list(&b, "/outputs")
	os.Stdout.WriteString(b.String())
	if err := os.WriteFile("/outputs/report.txt", []byte(b.String()), 0o644); err != nil {
		panic(err)
	}
}

func list(w io.Writer, root string) {
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		fmt.Fprintf(w, "%s/%s %v %d %s dev=%d ino=%d\n", root, p, info.Mode(), info.Size(),
			info.ModTime().UTC().Format(time.RFC3339), st.Dev, st.Ino)
		return nil
	})
	if err != nil {
		panic(err)
	}
	// The raw order of one directory, as the guest gets it.
	f, err := os.Open(root)
	if err != nil {
		panic(err)
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		panic(err)
	}
	f.Close()
	fmt.Fprintf(w, "readdir %s: %q\n", root, names)
}
