package sandbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// cowPaths are the names the fuzzer's operations use; cowTargets the link
// targets.
var (
	cowPaths   = []string{"a", "b", "d", "d/x", "d/e", "d/e/y", "d/z", "l", "d/l", "a/q"}
	cowTargets = []string{"a", "d", "../a", "x", "e/y", "nothing", "../../a", "/etc/passwd", "l"}
	cowLower   = map[string]string{"a": "A", "d/x": "X", "d/e/y": "Y"}
)

// FuzzCowFS applies the operations the input spells to a copy-on-write mount
// over an input (cowFS over an fs.FS, under linkFS as a guest gets it) and to a
// host directory holding a copy of the input (the same linkFS over sysfs.DirFS),
// and checks that every operation gives the same errno and leaves the same tree:
// the overlay behaves as a writable copy would. Paths come from the guest, so
// this is also the fuzzer of their lookup.
func FuzzCowFS(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{4, 2, 0, 5, 2, 0, 3, 3, 0, 6, 0, 1})    // rmdir a lower dir, rename it, ...
	f.Add([]byte{7, 7, 1, 1, 2, 5, 8, 0, 2})             // links
	f.Add([]byte{6, 2, 1, 0, 1, 0, 2, 3, 5, 4, 2, 0, 1}) // rename a lower directory and write under it
	// What the fuzzer found: a file copied up could not be renamed to a new name
	// (ENOENT); errnos in Linux's order (ENOTDIR of a parent before ENOENT or EPERM;
	// ENOTEMPTY onto a directory above the source; a missing path renamed onto itself).
	for _, s := range []string{"270770", "\"z0!10000", "2a5addcc", "6da/q1", "5d/e/y d", "5d/ld/l"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		lowerFS := fstest.MapFS{}
		ref := t.TempDir()
		for name, body := range cowLower {
			lowerFS[name] = &fstest.MapFile{Data: []byte(body), Mode: 0o644}
			p := filepath.Join(ref, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		quota, err := newOutputsQuota("", 1<<40)
		if err != nil {
			t.Fatal(err)
		}
		upper := t.TempDir()
		cow := &linkFS{FS: &cowFS{lower: &sysfs.ReadFS{FS: &sysfs.AdaptFS{FS: lowerFS}}, src: lowerFS,
			upper: sysfs.DirFS(upper), dir: upper, quota: quota, gone: map[string]bool{}}}
		host := &linkFS{FS: sysfs.DirFS(ref)}
		for i := 0; i+2 < len(ops); i += 3 {
			op, a, b := ops[i]%10, cowPaths[int(ops[i+1])%len(cowPaths)], ops[i+2]
			p2 := cowPaths[int(b)%len(cowPaths)]
			do := func(fsys experimentalsys.FS) experimentalsys.Errno {
				switch op {
				case 0: // append a byte, creating the file
					f, errno := fsys.OpenFile(a, experimentalsys.O_WRONLY|experimentalsys.O_CREAT|experimentalsys.O_APPEND, 0o644)
					if errno != 0 {
						return errno
					}
					defer f.Close()
					_, errno = f.Write([]byte{'0' + b%10})
					return errno
				case 1: // truncate
					f, errno := fsys.OpenFile(a, experimentalsys.O_WRONLY|experimentalsys.O_TRUNC, 0)
					if errno != 0 {
						return errno
					}
					return f.Close()
				case 2:
					return fsys.Unlink(a)
				case 3:
					return fsys.Mkdir(a, 0o755)
				case 4:
					return fsys.Rmdir(a)
				case 5:
					return fsys.Rename(a, p2)
				case 6:
					return fsys.Link(a, p2)
				case 7:
					return fsys.Symlink(cowTargets[int(b)%len(cowTargets)], a)
				case 8: // read through links
					f, errno := fsys.OpenFile(a, experimentalsys.O_RDONLY, 0)
					if errno != 0 {
						return errno
					}
					return f.Close()
				default:
					_, errno := fsys.Stat(a)
					return errno
				}
			}
			if got, want := do(cow), do(host); got != want {
				t.Fatalf("op %d (%d %s %s/%d): copy-on-write gives %v, a host copy %v", i/3, op, a, p2, b, got, want)
			}
		}
		for _, p := range cowPaths {
			cst, cerr := cow.Lstat(p)
			hst, herr := host.Lstat(p)
			if cerr != herr {
				t.Fatalf("lstat %s: copy-on-write %v, host copy %v", p, cerr, herr)
			}
			if cerr != 0 {
				continue
			}
			if cst.Mode.Type() != hst.Mode.Type() || (cst.Mode.IsRegular() && (cst.Size != hst.Size || cst.Nlink != hst.Nlink)) {
				t.Fatalf("lstat %s: copy-on-write %v %d bytes %d links, host copy %v %d bytes %d links", p, cst.Mode, cst.Size, cst.Nlink, hst.Mode, hst.Size, hst.Nlink)
			}
			if cst.Mode.Type() == fs.ModeSymlink {
				ct, _ := cow.Readlink(p)
				ht, _ := host.Readlink(p)
				if ct != ht {
					t.Fatalf("readlink %s: %q and %q", p, ct, ht)
				}
			}
			if cst.Mode.IsDir() {
				cn, hn := names(t, cow, p), names(t, host, p)
				if cn != hn {
					t.Fatalf("list %s: copy-on-write %q, host copy %q", p, cn, hn)
				}
			}
		}
		for name := range cowLower {
			if string(lowerFS[name].Data) != cowLower[name] {
				t.Fatalf("the input's %s changed", name)
			}
		}
	})
}

// names lists directory p of fsys, sorted, as one string.
func names(t *testing.T, fsys experimentalsys.FS, p string) string {
	f, errno := fsys.OpenFile(p, experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
	if errno != 0 {
		t.Fatalf("open %s: %v", p, errno)
	}
	defer f.Close()
	ents, errno := f.Readdir(-1)
	if errno != 0 {
		t.Fatalf("readdir %s: %v", p, errno)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
