package sandbox

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// cowFS is a writable mount over a read-only input: a copy-on-write
// overlay, as overlayfs builds one. Reads of what the guest has not changed
// go to lower, the input (read lazily from the blockstore); the first change
// to a file copies it up into upper, a host directory of scratch space, and
// a file or directory the guest removes from lower is hidden by a whiteout
// in memory (gone). Every byte and entry copied up is counted against the
// run's outputs quota before it is written, so a guest cannot use its
// writable mounts to fill the disk either.
//
// Invariants: upper holds the directories of every path it holds, each a
// directory of the merged view; a whiteout at k hides lower's k and all
// below it, and upper holds k's parent. So a directory that is not in upper
// is lower's, unchanged, and can be opened there.
//
// What the guest changes is dropped after the run: the scratch directory is
// removed, and a result holds /outputs alone.
type cowFS struct {
	lower experimentalsys.FS // read-only
	src   fs.FS              // lower's files, for copying up
	upper experimentalsys.FS // sysfs.DirFS(dir)
	dir   string
	quota *outputsQuota
	gone  map[string]bool // whiteouts, by key
}

type layer int

const (
	inUpper layer = iota + 1
	inLower
)

// key is p as a clean relative path, "." for the root, and whether it had
// a trailing slash.
func key(p string) (string, bool) {
	comps, slash := splitPath(p)
	if len(comps) == 0 {
		return ".", slash
	}
	return strings.Join(comps, "/"), slash
}

func parentOf(k string) string {
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		return k[:i]
	}
	return "."
}

func childOf(k, name string) string {
	if k == "." {
		return name
	}
	return k + "/" + name
}

// lowerVisible reports whether lower's entry at k, if any, shows: no
// whiteout on k nor on a directory above it.
func (c *cowFS) lowerVisible(k string) bool {
	if len(c.gone) == 0 {
		return true
	}
	for q := k; ; q = parentOf(q) {
		if c.gone[q] {
			return false
		}
		if q == "." {
			return true
		}
	}
}

// lowerHas reports whether lower's entry at k shows.
func (c *cowFS) lowerHas(k string) bool {
	if !c.lowerVisible(k) {
		return false
	}
	_, errno := c.lower.Lstat(k)
	return errno == 0
}

// find looks k up in the merged view.
func (c *cowFS) find(k string) (sys.Stat_t, layer, experimentalsys.Errno) {
	st, errno := c.upper.Lstat(k)
	if errno == 0 {
		return st, inUpper, 0
	}
	if errno != experimentalsys.ENOENT {
		return sys.Stat_t{}, 0, errno
	}
	if c.lowerVisible(k) {
		if st, errno = c.lower.Lstat(k); errno == 0 {
			return st, inLower, 0
		}
		if errno != experimentalsys.ENOENT {
			return sys.Stat_t{}, 0, errno
		}
	}
	return sys.Stat_t{}, 0, c.missing(k)
}

// missing is the errno of a lookup of k, which neither layer shows: ENOTDIR
// when what holds it is not a directory, as the OS says, else ENOENT.
func (c *cowFS) missing(k string) experimentalsys.Errno {
	if k == "." {
		return experimentalsys.ENOENT
	}
	st, _, errno := c.find(parentOf(k))
	if errno == experimentalsys.ENOTDIR || errno == 0 && !st.Mode.IsDir() {
		return experimentalsys.ENOTDIR
	}
	return experimentalsys.ENOENT
}

// ensureDir makes directory k of the merged view a directory of upper.
func (c *cowFS) ensureDir(k string) experimentalsys.Errno {
	if k == "." {
		return 0
	}
	st, where, errno := c.find(k)
	switch {
	case errno != 0:
		return errno
	case !st.Mode.IsDir():
		return experimentalsys.ENOTDIR
	case where == inUpper:
		return 0
	}
	if errno := c.ensureDir(parentOf(k)); errno != 0 {
		return errno
	}
	if errno := c.quota.charge(wasi.OutputsEntryCost); errno != 0 {
		return errno
	}
	if errno := c.upper.Mkdir(k, st.Mode.Perm()|0o700); errno != 0 {
		c.quota.refund(wasi.OutputsEntryCost)
		return errno
	}
	return 0
}

// copyUp copies lower's entry k (described by st) into upper; with empty,
// a file's bytes are not copied (it is about to be truncated).
func (c *cowFS) copyUp(k string, st sys.Stat_t, empty bool) experimentalsys.Errno {
	if st.Mode.IsDir() {
		return c.ensureDir(k)
	}
	if errno := c.ensureDir(parentOf(k)); errno != 0 {
		return errno
	}
	if st.Mode&fs.ModeSymlink != 0 {
		target, errno := c.lower.Readlink(k)
		if errno != 0 {
			return errno
		}
		if errno := c.quota.charge(wasi.OutputsEntryCost); errno != 0 {
			return errno
		}
		if errno := c.upper.Symlink(target, k); errno != 0 {
			c.quota.refund(wasi.OutputsEntryCost)
			return errno
		}
		return 0
	}
	if !st.Mode.IsRegular() {
		return experimentalsys.EPERM
	}
	size := st.Size
	if empty {
		size = 0
	}
	if errno := c.quota.charge(wasi.OutputsEntryCost + size); errno != 0 {
		return errno
	}
	if errno := c.copyFile(k, st.Mode.Perm()|0o600, size); errno != 0 {
		c.quota.refund(wasi.OutputsEntryCost + size)
		return errno
	}
	return 0
}

// copyFile writes lower's file k, its first size bytes, to upper.
func (c *cowFS) copyFile(k string, perm fs.FileMode, size int64) experimentalsys.Errno {
	hostPath := filepath.Join(c.dir, filepath.FromSlash(k))
	dst, err := os.OpenFile(hostPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	err = func() error {
		if size == 0 {
			return nil
		}
		src, err := c.src.Open(k)
		if err != nil {
			return err
		}
		defer src.Close()
		n, err := io.Copy(dst, io.LimitReader(src, size))
		if err == nil && n != size {
			err = io.ErrUnexpectedEOF
		}
		return err
	}()
	if err == nil {
		var info os.FileInfo
		if info, err = dst.Stat(); err == nil {
			c.quota.adopt(sys.NewStat_t(info).Ino, size)
		}
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(hostPath)
		return experimentalsys.EIO
	}
	return 0
}

// copyUpTree copies directory k and everything below it into upper, so that
// it can be renamed there whole.
func (c *cowFS) copyUpTree(k string) experimentalsys.Errno {
	if errno := c.ensureDir(k); errno != 0 {
		return errno
	}
	ents, errno := c.list(k)
	if errno != 0 {
		return errno
	}
	for _, e := range ents {
		ck := childOf(k, e.Name)
		st, where, errno := c.find(ck)
		switch {
		case errno != 0:
			return errno
		case st.Mode.IsDir():
			errno = c.copyUpTree(ck)
		case where == inLower:
			errno = c.copyUp(ck, st, false)
		}
		if errno != 0 {
			return errno
		}
	}
	return 0
}

// list returns the entries of directory k of the merged view, unsorted.
func (c *cowFS) list(k string) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	var out []experimentalsys.Dirent
	names := map[string]bool{}
	if st, errno := c.upper.Lstat(k); errno == 0 && st.Mode.IsDir() {
		ents, errno := readAll(c.upper, k)
		if errno != 0 {
			return nil, errno
		}
		for _, e := range ents {
			names[e.Name] = true
		}
		out = ents
	}
	if !c.lowerVisible(k) {
		return out, 0
	}
	if st, errno := c.lower.Lstat(k); errno != 0 || !st.Mode.IsDir() {
		return out, 0
	}
	ents, errno := readAll(c.lower, k)
	if errno != 0 {
		return nil, errno
	}
	for _, e := range ents {
		if !names[e.Name] && !c.gone[childOf(k, e.Name)] {
			e.Ino = 0 // numbered by path
			out = append(out, e)
		}
	}
	return out, 0
}

func readAll(fsys experimentalsys.FS, k string) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	f, errno := fsys.OpenFile(k, experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
	if errno != 0 {
		return nil, errno
	}
	defer f.Close()
	return f.Readdir(-1)
}

func writes(flag experimentalsys.Oflag) bool {
	return flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR|experimentalsys.O_APPEND|experimentalsys.O_TRUNC|experimentalsys.O_CREAT) != 0
}

func (c *cowFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	k, slash := key(p)
	st, where, errno := c.find(k)
	switch {
	case errno == experimentalsys.ENOENT:
		if flag&experimentalsys.O_CREAT == 0 {
			return nil, errno
		}
		if slash {
			return nil, experimentalsys.EISDIR
		}
		if errno := c.ensureDir(parentOf(k)); errno != 0 {
			return nil, errno
		}
		return c.upper.OpenFile(k, flag, perm)
	case errno != 0:
		return nil, errno
	case flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0:
		return nil, experimentalsys.EEXIST
	case st.Mode.IsDir():
		if writes(flag) {
			return nil, experimentalsys.EISDIR
		}
		if where == inLower {
			return c.lower.OpenFile(k, flag, perm)
		}
		f, errno := c.upper.OpenFile(k, flag, perm)
		if errno != 0 || !c.lowerHas(k) {
			return f, errno
		}
		return &cowDir{File: f, c: c, k: k}, 0
	case slash && st.Mode&fs.ModeSymlink == 0:
		return nil, experimentalsys.ENOTDIR
	case where == inLower && !writes(flag):
		if flag&experimentalsys.O_DIRECTORY != 0 {
			return nil, experimentalsys.ENOTDIR
		}
		return c.lower.OpenFile(k, flag, perm)
	case where == inLower:
		if errno := c.copyUp(k, st, flag&experimentalsys.O_TRUNC != 0); errno != 0 {
			return nil, errno
		}
	}
	return c.upper.OpenFile(k, flag, perm)
}

func (c *cowFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	k, slash := key(p)
	st, _, errno := c.find(k)
	if errno == 0 && slash && !st.Mode.IsDir() {
		return sys.Stat_t{}, experimentalsys.ENOTDIR
	}
	return st, errno
}

// Stat is Lstat: links are resolved above, by linkFS, and lower (a UnixFS
// DAG) shows none.
func (c *cowFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) { return c.Lstat(p) }

func (c *cowFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	k, _ := key(p)
	if _, _, errno := c.find(k); errno == 0 {
		return experimentalsys.EEXIST
	} else if errno == experimentalsys.ENOTDIR {
		return experimentalsys.ENOENT // as wazero's DirFS says it
	} else if errno != experimentalsys.ENOENT {
		return errno
	}
	if errno := c.ensureDir(parentOf(k)); errno != 0 {
		return errno
	}
	return c.upper.Mkdir(k, perm)
}

// up makes k's entry an entry of upper, for a change of its metadata.
func (c *cowFS) up(k string) experimentalsys.Errno {
	st, where, errno := c.find(k)
	if errno != 0 || where == inUpper {
		return errno
	}
	return c.copyUp(k, st, false)
}

func (c *cowFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	k, _ := key(p)
	if errno := c.up(k); errno != 0 {
		return errno
	}
	return c.upper.Chmod(k, perm)
}

func (c *cowFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	k, _ := key(p)
	if errno := c.up(k); errno != 0 {
		return errno
	}
	return c.upper.Utimens(k, atim, mtim)
}

// whiteout hides lower's entry k, which upper does not hold. It costs an
// entry, as the entry it hides is given back by detFS.
func (c *cowFS) whiteout(k string) experimentalsys.Errno {
	if errno := c.ensureDir(parentOf(k)); errno != 0 {
		return errno
	}
	if errno := c.quota.charge(wasi.OutputsEntryCost); errno != 0 {
		return errno
	}
	c.gone[k] = true
	return 0
}

func (c *cowFS) Unlink(p string) experimentalsys.Errno {
	k, _ := key(p)
	st, where, errno := c.find(k)
	switch {
	case errno != 0:
		return errno
	case st.Mode.IsDir():
		return experimentalsys.EISDIR
	case where == inLower:
		return c.whiteout(k)
	}
	inLowerToo := c.lowerHas(k)
	if errno := c.upper.Unlink(k); errno != 0 {
		return errno
	}
	if inLowerToo {
		c.gone[k] = true
	}
	return 0
}

func (c *cowFS) Rmdir(p string) experimentalsys.Errno {
	k, _ := key(p)
	if k == "." {
		return experimentalsys.EPERM
	}
	st, where, errno := c.find(k)
	switch {
	case errno != 0:
		return errno
	case !st.Mode.IsDir():
		return experimentalsys.ENOTDIR
	}
	if ents, errno := c.list(k); errno != 0 {
		return errno
	} else if len(ents) > 0 {
		return experimentalsys.ENOTEMPTY
	}
	if where == inLower {
		return c.whiteout(k)
	}
	inLowerToo := c.lowerHas(k)
	if errno := c.upper.Rmdir(k); errno != 0 {
		return errno
	}
	if inLowerToo {
		c.gone[k] = true
	}
	return 0
}

func (c *cowFS) Rename(from, to string) experimentalsys.Errno {
	kf, _ := key(from)
	kt, _ := key(to)
	if kf == kt {
		return 0 // as wazero's DirFS, even for a missing path
	}
	for _, k := range []string{kf, kt} { // both directories first, as Linux
		if st, _, errno := c.find(parentOf(k)); errno != 0 {
			return errno
		} else if !st.Mode.IsDir() {
			return experimentalsys.ENOTDIR
		}
	}
	sf, wf, errno := c.find(kf)
	if errno != 0 {
		return errno
	}
	if kf == "." || kt == "." {
		return experimentalsys.EPERM
	}
	if sf.Mode.IsDir() && strings.HasPrefix(kt, kf+"/") {
		return experimentalsys.EINVAL
	}
	if strings.HasPrefix(kf, kt+"/") {
		return experimentalsys.ENOTEMPTY // onto a directory above it, as Linux
	}
	st, wt, errno := c.find(kt)
	switch {
	case errno == experimentalsys.ENOENT:
	case errno != 0:
		return errno
	case sf.Mode.IsDir() && !st.Mode.IsDir():
		return experimentalsys.ENOTDIR
	case !sf.Mode.IsDir() && st.Mode.IsDir():
		return experimentalsys.EISDIR
	case st.Mode.IsDir():
		if ents, errno := c.list(kt); errno != 0 {
			return errno
		} else if len(ents) > 0 {
			return experimentalsys.ENOTEMPTY
		}
	}
	fromLower, toLower := c.lowerHas(kf), c.lowerHas(kt)
	if errno := c.ensureDir(parentOf(kt)); errno != 0 {
		return errno
	}
	errno = 0
	switch {
	case sf.Mode.IsDir():
		errno = c.copyUpTree(kf)
	case wf == inLower:
		errno = c.copyUp(kf, sf, false)
	}
	if errno != 0 {
		return errno
	}
	if wt == inLower { // replaced: its whiteout costs the entry detFS gives back
		if errno := c.quota.charge(wasi.OutputsEntryCost); errno != 0 {
			return errno
		}
	}
	if errno := c.upper.Rename(kf, kt); errno != 0 {
		if wt == inLower {
			c.quota.refund(wasi.OutputsEntryCost)
		}
		return errno
	}
	if fromLower {
		c.gone[kf] = true
	}
	if toLower {
		c.gone[kt] = true
	}
	return 0
}

func (c *cowFS) Link(oldPath, newPath string) experimentalsys.Errno {
	ko, _ := key(oldPath)
	kn, _ := key(newPath)
	so, wo, errno := c.find(ko)
	if errno != 0 {
		return errno
	}
	if _, _, errno := c.find(kn); errno == 0 {
		return experimentalsys.EEXIST
	} else if errno != experimentalsys.ENOENT {
		return errno
	}
	if so.Mode.IsDir() {
		return experimentalsys.EPERM // as Linux, after the checks of the new name
	}
	if errno := c.ensureDir(parentOf(kn)); errno != 0 {
		return errno
	}
	if wo == inLower {
		if errno := c.copyUp(ko, so, false); errno != 0 {
			return errno
		}
	}
	return c.upper.Link(ko, kn)
}

func (c *cowFS) Symlink(target, linkName string) experimentalsys.Errno {
	k, _ := key(linkName)
	if _, _, errno := c.find(k); errno == 0 {
		return experimentalsys.EEXIST
	} else if errno != experimentalsys.ENOENT {
		return errno
	}
	if errno := c.ensureDir(parentOf(k)); errno != 0 {
		return errno
	}
	return c.upper.Symlink(target, k)
}

func (c *cowFS) Readlink(p string) (string, experimentalsys.Errno) {
	k, _ := key(p)
	st, where, errno := c.find(k)
	switch {
	case errno != 0:
		return "", errno
	case st.Mode&fs.ModeSymlink == 0:
		return "", experimentalsys.EINVAL
	case where == inLower:
		return c.lower.Readlink(k)
	}
	return c.upper.Readlink(k)
}

// cowDir is an open directory of upper that lower has too: its entries are
// both's, less the whiteouts.
//
// A listing starts again when the upper directory's position is 0: it is
// fresh or wazero rewound it (Seek to 0). Listing moves that position off 0
// (past "." and ".."). Overriding Seek instead would be simpler, but
// wazero's Seek returns an Errno, which go vet refuses on a method of ours.
type cowDir struct {
	experimentalsys.File
	c    *cowFS
	k    string
	ents []experimentalsys.Dirent
}

func (d *cowDir) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if pos, errno := d.File.Seek(0, io.SeekCurrent); errno == 0 && pos == 0 {
		ents, errno := d.c.list(d.k)
		if errno != 0 {
			return nil, errno
		}
		d.ents = ents
		if _, errno := d.File.Readdir(-1); errno != 0 {
			return nil, errno
		}
	}
	if n < 0 || n > len(d.ents) {
		n = len(d.ents)
	}
	out := d.ents[:n:n]
	d.ents = d.ents[n:]
	return out, 0
}

// adopt records the size of a file whose bytes were charged already.
func (q *outputsQuota) adopt(ino sys.Inode, size int64) {
	q.mu.Lock()
	q.sizes[ino] = size
	q.mu.Unlock()
}
