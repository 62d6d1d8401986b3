// Guest escape tries to read and change things it must not reach. The
// first argument is the host path of a canary file. It prints one line per
// attempt, "denied: ..." or "ALLOWED: ...", and exits 1 if anything was
// allowed. It also checks that /outputs works, as a control.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func main() {
	canary := os.Args[1]
	allowed := false
	try := func(what string, err error) {
		if err == nil {
			allowed = true
			fmt.Printf("ALLOWED: %s\n", what)
			return
		}
		fmt.Printf("denied: %s: %v\n", what, err)
	}
	read := func(p string) error { _, err := os.ReadFile(p); return err }

	try("read ../canary", read("../canary"))
	try("read ../../canary", read("../../canary"))
	try("read /../canary", read("/../canary"))
	try("read /inputs/../canary", read("/inputs/../canary"))
	try("read /outputs/../canary", read("/outputs/../canary"))
	try("read host path "+canary, read(canary))
	try("read /etc/passwd", read("/etc/passwd"))
	try("list /", func() error { _, err := os.ReadDir("/"); return err }())
	try("list /tmp", func() error { _, err := os.ReadDir("/tmp"); return err }())
	try("write host path", os.WriteFile(canary, []byte("owned"), 0o644))
	try("create /inputs/new.txt", os.WriteFile("/inputs/new.txt", []byte("x"), 0o644))
	try("open /inputs/a.txt for writing", func() error {
		f, err := os.OpenFile("/inputs/a.txt", os.O_WRONLY, 0)
		if err == nil {
			f.Close()
		}
		return err
	}())
	try("truncate /inputs/a.txt", os.Truncate("/inputs/a.txt", 0))
	try("remove /inputs/a.txt", os.Remove("/inputs/a.txt"))
	try("rename /inputs/a.txt", os.Rename("/inputs/a.txt", "/inputs/b.txt"))
	try("move /inputs/a.txt to /outputs", os.Rename("/inputs/a.txt", "/outputs/a.txt"))
	try("mkdir /inputs/d", os.Mkdir("/inputs/d", 0o755))
	try("chtimes /inputs/a.txt", os.Chtimes("/inputs/a.txt", timeZero, timeZero))
	try("hard link /inputs/a.txt into /outputs", os.Link("/inputs/a.txt", "/outputs/hard"))
	try("symlink to host canary", os.Symlink(canary, "/outputs/link"))
	try("symlink to ../canary", os.Symlink("../canary", "/outputs/link2"))
	try("read through symlink", read("/outputs/link"))

	// Control: /outputs is writable and /inputs readable.
	if err := os.WriteFile(filepath.Join("/outputs", "ok.txt"), []byte("ok"), 0o644); err != nil {
		fmt.Println("control failed:", err)
		os.Exit(2)
	}
	if _, err := os.ReadFile("/inputs/a.txt"); err != nil {
		fmt.Println("control failed:", err)
		os.Exit(2)
	}
	if allowed {
		os.Exit(1)
	}
}

var timeZero = time.Unix(0, 0)
