// Command wasiconf checks, one case per line, what WASI preview 1 specifies
// of a guest's file system, as the official WASI test suite does: it expects
// the fixture tree below preopened, writable, as "/" and a writable
// "/outputs" beside it, and prints "PASS name" or "FAIL name: why" for each
// case. It always exits 0; with an argument it runs only the cases named.
// Cases run in order, and later ones find what earlier ones left.
//
// The fixture:
//
//	/hello.txt      "hello\n"
//	/dir/a.txt      "a"
//	/dir/sub/b.txt  "b"
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"time"
)

type check struct {
	name string
	run  func() error
}

var checks = []check{
	{"root_read", func() error { return content("/hello.txt", "hello\n") }},
	{"root_list", func() error {
		names, err := list("/")
		if err != nil {
			return err
		}
		if !slices.Contains(names, "dir") || !slices.Contains(names, "hello.txt") {
			return fmt.Errorf("/ lists %q", names)
		}
		return nil
	}},
	{"outputs_reachable", func() error {
		if err := os.WriteFile("/outputs/o.txt", []byte("out"), 0o644); err != nil {
			return err
		}
		return content("/outputs/o.txt", "out")
	}},
	{"rw_create", func() error {
		if err := os.WriteFile("/new.txt", []byte("new"), 0o644); err != nil {
			return err
		}
		return content("/new.txt", "new")
	}},
	{"rw_append", func() error {
		f, err := os.OpenFile("/hello.txt", os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteString("more\n"); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return content("/hello.txt", "hello\nmore\n")
	}},
	{"rw_truncate", func() error {
		if err := os.WriteFile("/dir/a.txt", []byte("A2"), 0o644); err != nil {
			return err
		}
		return content("/dir/a.txt", "A2")
	}},
	{"rw_remove", func() error {
		if err := os.WriteFile("/gone.txt", nil, 0o644); err != nil {
			return err
		}
		if err := os.Remove("/dir/a.txt"); err != nil {
			return err
		}
		if err := want(os.Remove("/dir/a.txt"), syscall.ENOENT); err != nil {
			return err
		}
		names, err := list("/dir")
		if err != nil {
			return err
		}
		if slices.Contains(names, "a.txt") {
			return fmt.Errorf("/dir still lists %q", names)
		}
		return want(stat("/dir/a.txt"), syscall.ENOENT)
	}},
	{"rw_rename_dir", func() error {
		if err := os.Rename("/dir/sub", "/moved"); err != nil {
			return err
		}
		if err := want(stat("/dir/sub"), syscall.ENOENT); err != nil {
			return err
		}
		return content("/moved/b.txt", "b")
	}},
	{"rw_rename_file_over", func() error {
		if err := os.WriteFile("/r1", []byte("one"), 0o644); err != nil {
			return err
		}
		if err := os.Rename("/r1", "/hello.txt"); err != nil {
			return err
		}
		if err := want(stat("/r1"), syscall.ENOENT); err != nil {
			return err
		}
		return content("/hello.txt", "one")
	}},
	{"rw_mkdir_rmdir", func() error {
		if err := os.Mkdir("/d2", 0o755); err != nil {
			return err
		}
		if err := want(os.Mkdir("/d2", 0o755), syscall.EEXIST); err != nil {
			return err
		}
		if err := syscall.Rmdir("/d2"); err != nil {
			return err
		}
		return want(stat("/d2"), syscall.ENOENT)
	}},
	{"rmdir_not_empty", func() error { return want(syscall.Rmdir("/moved"), syscall.ENOTEMPTY) }},
	{"rmdir_file", func() error { return want(syscall.Rmdir("/hello.txt"), syscall.ENOTDIR) }},
	{"unlink_missing", func() error { return want(syscall.Unlink("/missing"), syscall.ENOENT) }},
	{"open_missing_dir", func() error {
		_, err := os.Open("/missing/x")
		return want(err, syscall.ENOENT)
	}},
	{"open_file_as_dir", func() error { return want(stat("/hello.txt/x"), syscall.ENOTDIR) }},
	{"symlink_create", func() error {
		if err := os.Symlink("hello.txt", "/ln"); err != nil {
			return err
		}
		target, err := os.Readlink("/ln")
		if err != nil {
			return err
		}
		if target != "hello.txt" {
			return fmt.Errorf("readlink = %q", target)
		}
		st, err := os.Lstat("/ln")
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			return fmt.Errorf("lstat mode %v", st.Mode())
		}
		b, err := os.ReadFile("/ln")
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return errors.New("followed link reads nothing")
		}
		return nil
	}},
	{"symlink_missing_parent", func() error { return want(os.Symlink("x", "/nope/ln"), syscall.ENOENT) }},
	{"symlink_exists", func() error { return want(os.Symlink("x", "/hello.txt"), syscall.EEXIST) }},
	{"symlink_dangling", func() error {
		if err := os.Symlink("nothing-here", "/dangling"); err != nil {
			return err
		}
		if _, err := os.Lstat("/dangling"); err != nil {
			return err
		}
		return want(stat("/dangling"), syscall.ENOENT)
	}},
	{"symlink_to_dir", func() error {
		if err := os.Symlink("moved", "/dl"); err != nil {
			return err
		}
		return content("/dl/b.txt", "b")
	}},
	{"symlink_relative_up", func() error {
		if err := os.Mkdir("/up", 0o755); err != nil {
			return err
		}
		if err := os.Symlink("../new.txt", "/up/l"); err != nil {
			return err
		}
		return content("/up/l", "new")
	}},
	{"symlink_loop", func() error {
		if err := os.Symlink("loop2", "/loop1"); err != nil {
			return err
		}
		if err := os.Symlink("loop1", "/loop2"); err != nil {
			return err
		}
		_, err := os.Open("/loop1")
		return want(err, syscall.ELOOP)
	}},
	{"symlink_escape_refused", func() error {
		// A link that climbs out of the preopen must not be followed.
		if err := os.Symlink("../../../../../../../../../../etc/passwd", "/esc"); err != nil {
			return nil // refusing to make it is as good
		}
		if _, err := os.ReadFile("/esc"); err == nil {
			return errors.New("followed a link out of the preopen")
		}
		return nil
	}},
	{"symlink_absolute_refused", func() error {
		if err := os.Symlink("/etc/passwd", "/abs"); err != nil {
			return nil
		}
		if _, err := os.ReadFile("/abs"); err == nil {
			return errors.New("followed an absolute link out of the preopen")
		}
		return nil
	}},
	{"symlink_unlink", func() error {
		if err := os.Symlink("hello.txt", "/ln2"); err != nil {
			return err
		}
		if err := os.Remove("/ln2"); err != nil {
			return err
		}
		if err := want(lstat("/ln2"), syscall.ENOENT); err != nil {
			return err
		}
		_, err := os.Stat("/hello.txt")
		return err
	}},
	{"symlink_in_outputs", func() error {
		if err := os.WriteFile("/outputs/target.txt", []byte("t"), 0o644); err != nil {
			return err
		}
		if err := os.Symlink("target.txt", "/outputs/link"); err != nil {
			return err
		}
		return content("/outputs/link", "t")
	}},
	{"readlink_not_link", func() error {
		_, err := os.Readlink("/moved/b.txt")
		return want(err, syscall.EINVAL)
	}},
	{"utimes_kept", func() error {
		mt := time.Date(2021, 3, 4, 5, 6, 7, 8, time.UTC)
		at := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		for _, p := range []string{"/moved/b.txt", "/outputs/o.txt", "/moved"} {
			if err := os.Chtimes(p, at, mt); err != nil {
				return err
			}
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if !st.ModTime().Equal(mt) {
				return fmt.Errorf("%s: mtime %v after setting %v", p, st.ModTime().UTC(), mt)
			}
			if a := st.Sys().(*syscall.Stat_t).Atime; a != uint64(at.UnixNano()) {
				return fmt.Errorf("%s: atime %d after setting %d", p, a, at.UnixNano())
			}
		}
		return nil
	}},
	{"hardlink_same_inode", func() error {
		for _, pair := range [][2]string{{"/outputs/o.txt", "/outputs/o2.txt"}, {"/new.txt", "/new-link.txt"}} {
			if err := os.Link(pair[0], pair[1]); err != nil {
				return err
			}
			a, err := os.Stat(pair[0])
			if err != nil {
				return err
			}
			b, err := os.Stat(pair[1])
			if err != nil {
				return err
			}
			sa, sb := a.Sys().(*syscall.Stat_t), b.Sys().(*syscall.Stat_t)
			if sa.Ino != sb.Ino || sa.Nlink != 2 || sb.Nlink != 2 {
				return fmt.Errorf("%s ino %d nlink %d, %s ino %d nlink %d", pair[0], sa.Ino, sa.Nlink, pair[1], sb.Ino, sb.Nlink)
			}
		}
		return nil
	}},
	{"distinct_inodes", func() error {
		a, err := os.Stat("/new.txt")
		if err != nil {
			return err
		}
		b, err := os.Stat("/moved/b.txt")
		if err != nil {
			return err
		}
		if a.Sys().(*syscall.Stat_t).Ino == b.Sys().(*syscall.Stat_t).Ino {
			return errors.New("two files share an inode number")
		}
		return nil
	}},
}

func content(p, want string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if string(b) != want {
		return fmt.Errorf("%s holds %q, want %q", p, b, want)
	}
	return nil
}

func list(p string) ([]string, error) {
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

func stat(p string) error {
	_, err := os.Stat(p)
	return err
}

func lstat(p string) error {
	_, err := os.Lstat(p)
	return err
}

// want checks that err is errno.
func want(err error, errno syscall.Errno) error {
	if !errors.Is(err, errno) {
		return fmt.Errorf("got %v, want %v", err, errno)
	}
	return nil
}

func main() {
	only := os.Args[1:]
	for _, c := range checks {
		if len(only) > 0 && !slices.Contains(only, c.name) {
			continue
		}
		if err := c.run(); err != nil {
			fmt.Printf("FAIL %s: %v\n", c.name, err)
		} else {
			fmt.Printf("PASS %s\n", c.name)
		}
	}
}
