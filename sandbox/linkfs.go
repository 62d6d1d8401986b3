package sandbox

import (
	"io/fs"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// maxSymlinks is how many symbolic links one lookup follows before it
// fails with ELOOP, as Linux's MAXSYMLINKS.
const maxSymlinks = 40

// linkFS lets a guest create and follow symbolic links in a writable mount
// without ever reaching past it. It resolves every link itself, component
// by component, and hands the file system below it only paths free of
// links (the last component excepted when an operation does not follow
// it, which the operating system then does not follow either: O_NOFOLLOW,
// lstat, unlink, rename). So a link is followed only inside the mount: an
// absolute target, or a relative one that climbs above the mount's root,
// fails with EPERM, what wazero returns for a path that leaves a preopen
// (WASI's ENOTCAPABLE).
//
// A guest is one thread and the mount is its own, so nothing changes the
// tree between a lookup and the operation that follows it.
type linkFS struct {
	experimentalsys.FS
	// links is false while the mount can hold no link: none was there when
	// the run started and the guest made none. Lookups are then skipped.
	links bool
}

// splitPath splits a clean relative path as wazero passes it ("." or ""
// for the root, maybe a trailing slash) into its components.
func splitPath(p string) (comps []string, trailingSlash bool) {
	trailingSlash = strings.HasSuffix(p, "/")
	for _, c := range strings.Split(strings.Trim(p, "/"), "/") {
		if c != "" && c != "." {
			comps = append(comps, c)
		}
	}
	return comps, trailingSlash
}

// resolve returns p with every link in it replaced by what it points to,
// the last component's only if follow. A missing last component is kept
// (the operation creates it or reports ENOENT); a missing or non-directory
// component before it fails the lookup.
func (l *linkFS) resolve(p string, follow bool) (string, experimentalsys.Errno) {
	if !l.links {
		return p, 0
	}
	todo, slash := splitPath(p)
	follow = follow || slash // "link/" names what link points to
	var done []string
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".", "":
			continue
		case "..":
			if len(done) == 0 {
				return "", experimentalsys.EPERM // above the mount
			}
			done = done[:len(done)-1]
			continue
		}
		last := len(todo) == 0
		cur := strings.Join(append(done, c), "/")
		if last && !follow {
			done = append(done, c)
			break
		}
		st, errno := l.FS.Lstat(cur)
		switch {
		case errno == experimentalsys.ENOENT && last:
			done = append(done, c)
			continue
		case errno != 0:
			return "", errno
		case st.Mode&fs.ModeSymlink != 0:
			if hops++; hops > maxSymlinks {
				return "", experimentalsys.ELOOP
			}
			target, errno := l.FS.Readlink(cur)
			if errno != 0 {
				return "", errno
			}
			if strings.HasPrefix(target, "/") {
				return "", experimentalsys.EPERM // absolute: outside any mount
			}
			more, tslash := splitPath(target)
			if tslash && len(todo) == 0 {
				slash = true
			}
			todo = append(more, todo...)
			continue
		case !last && !st.Mode.IsDir():
			return "", experimentalsys.ENOTDIR
		}
		done = append(done, c)
	}
	out := strings.Join(done, "/")
	if out == "" {
		out = "."
	}
	if slash && out != "." {
		out += "/"
	}
	return out, 0
}

func (l *linkFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	rp, errno := l.resolve(p, flag&experimentalsys.O_NOFOLLOW == 0)
	if errno != 0 {
		return nil, errno
	}
	if l.links {
		flag |= experimentalsys.O_NOFOLLOW // resolved: the last component is no link to follow
	}
	return l.FS.OpenFile(rp, flag, perm)
}

func (l *linkFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	rp, errno := l.resolve(p, false)
	if errno != 0 {
		return sys.Stat_t{}, errno
	}
	return l.FS.Lstat(rp)
}

func (l *linkFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	if !l.links {
		return l.FS.Stat(p)
	}
	rp, errno := l.resolve(p, true)
	if errno != 0 {
		return sys.Stat_t{}, errno
	}
	return l.FS.Lstat(rp)
}

func (l *linkFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	rp, errno := l.resolve(p, false)
	if errno != 0 {
		return errno
	}
	return l.FS.Mkdir(rp, perm)
}

func (l *linkFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	rp, errno := l.resolve(p, true)
	if errno != 0 {
		return errno
	}
	return l.FS.Chmod(rp, perm)
}

func (l *linkFS) Rename(from, to string) experimentalsys.Errno {
	rf, errno := l.resolve(from, false)
	if errno != 0 {
		return errno
	}
	rt, errno := l.resolve(to, false)
	if errno != 0 {
		return errno
	}
	return l.FS.Rename(rf, rt)
}

func (l *linkFS) Rmdir(p string) experimentalsys.Errno {
	rp, errno := l.resolve(p, false)
	if errno != 0 {
		return errno
	}
	return l.FS.Rmdir(rp)
}

func (l *linkFS) Unlink(p string) experimentalsys.Errno {
	rp, errno := l.resolve(p, false)
	if errno != 0 {
		return errno
	}
	return l.FS.Unlink(rp)
}

func (l *linkFS) Link(oldPath, newPath string) experimentalsys.Errno {
	ro, errno := l.resolve(oldPath, false)
	if errno != 0 {
		return errno
	}
	rn, errno := l.resolve(newPath, false)
	if errno != 0 {
		return errno
	}
	return l.FS.Link(ro, rn)
}

// Symlink creates a link at linkName. An absolute target is refused with
// EPERM, as wasmtime (cap-std) does: it could only point outside the
// mount; so is a relative one that climbs above the mount from where the
// link is, so that the host directory (and a result, once imported) never
// holds a link out of it. What a link points to is checked again when it
// is followed, as renames can move it.
func (l *linkFS) Symlink(target, linkName string) experimentalsys.Errno {
	rn, errno := l.resolve(strings.TrimSuffix(linkName, "/"), false)
	if errno != 0 {
		return errno
	}
	if target == "" {
		return experimentalsys.ENOENT // as Linux
	}
	if strings.HasPrefix(target, "/") || strings.ContainsRune(target, 0) || climbsOut(rn, target) {
		return experimentalsys.EPERM
	}
	if strings.HasSuffix(linkName, "/") {
		// "new/" names a directory, which a link is not: EEXIST if there is
		// something, else ENOENT, as Linux.
		if _, errno := l.FS.Lstat(rn); errno == 0 {
			return experimentalsys.EEXIST
		}
		return experimentalsys.ENOENT
	}
	l.links = true
	return l.FS.Symlink(target, rn)
}

func (l *linkFS) Readlink(p string) (string, experimentalsys.Errno) {
	rp, errno := l.resolve(p, false)
	if errno != 0 {
		return "", errno
	}
	return l.FS.Readlink(rp)
}

func (l *linkFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	rp, errno := l.resolve(p, true)
	if errno != 0 {
		return errno
	}
	return l.FS.Utimens(rp, atim, mtim)
}

// climbsOut reports whether target, read from the directory holding the
// link at linkPath (resolved, relative to the mount), reaches above the
// mount's root.
func climbsOut(linkPath, target string) bool {
	dir, _ := splitPath(linkPath)
	depth := len(dir) - 1 // the link's directory
	comps, _ := splitPath(target)
	for _, c := range comps {
		if c == ".." {
			if depth--; depth < 0 {
				return true
			}
		} else {
			depth++
		}
	}
	return false
}
