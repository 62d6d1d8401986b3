package sandbox

import (
	"hash/fnv"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// epochNanos is the modification, access and change time of every file the
// guest stats.
var epochNanos = wasi.Epoch.UnixNano()

// inputFS returns the read-only sys.FS wazero mounts for m.
func inputFS(m wasi.Mount, dev uint64) experimentalsys.FS {
	var inner experimentalsys.FS = &sysfs.AdaptFS{FS: m.FS}
	if dir, ok := wasi.HostPath(m.FS); ok {
		inner = sysfs.DirFS(dir)
	}
	return &detFS{FS: &sysfs.ReadFS{FS: inner}, dev: dev}
}

// outputFS returns the writable sys.FS wazero mounts at /outputs, held to
// quota.
func outputFS(dir string, dev uint64, quota *outputsQuota) experimentalsys.FS {
	return &detFS{FS: &linkFS{FS: sysfs.DirFS(dir), links: quota.links}, dev: dev, quota: quota, ids: newInodes()}
}

// cowMountFS returns the writable sys.FS wazero mounts for m, a copy-on-write
// mount whose changes go to the host directory upper, held to quota.
func cowMountFS(m wasi.Mount, upper string, dev uint64, quota *outputsQuota) experimentalsys.FS {
	var lower experimentalsys.FS = &sysfs.AdaptFS{FS: m.FS}
	if dir, ok := wasi.HostPath(m.FS); ok {
		lower = sysfs.DirFS(dir)
	}
	c := &cowFS{lower: &sysfs.ReadFS{FS: lower}, src: m.FS, upper: sysfs.DirFS(upper), dir: upper, quota: quota, gone: map[string]bool{}}
	return &detFS{FS: &linkFS{FS: c}, dev: dev, quota: quota, ids: newInodes()}
}

// detFS makes what a guest sees of a mount independent of the host:
// directory entries come sorted by name, inode numbers are a hash of the
// path (in a writable mount, of the path where the guest first saw the
// file, so that hard links share one), the device number is the mount's
// index, every timestamp is wasi.Epoch unless the guest set it, and
// directories have size 0 and one link. Symbolic links are made and
// followed by linkFS, inside the mount only. With a quota (the writable
// mounts), every change that makes the mount hold more is counted first
// (fsquota.go).
type detFS struct {
	experimentalsys.FS
	dev   uint64
	quota *outputsQuota // nil: not counted, read-only
	ids   *inodes       // nil: read-only, numbered by path
}

// inodes numbers the files of a writable mount, keyed by host inode, and
// keeps the times the guest set on them. A number is the hash of the path
// the guest first saw the file at (rehashed on a clash), so it does not
// depend on the host: the guest's own order of operations decides it.
// Entries go when a file's last link does, as the host may reuse its
// number.
type inodes struct {
	mu     sync.Mutex
	byHost map[sys.Inode]sys.Inode
	used   map[sys.Inode]bool
	times  map[sys.Inode][2]int64 // atim, mtim; UTIME_OMIT: not set
}

func newInodes() *inodes {
	return &inodes{byHost: map[sys.Inode]sys.Inode{}, used: map[sys.Inode]bool{}, times: map[sys.Inode][2]int64{}}
}

func pathIno(p string, n int) sys.Inode {
	h := fnv.New64a()
	_, _ = io.WriteString(h, path.Clean("/"+p))
	if n > 0 {
		_, _ = io.WriteString(h, "\x00"+strconv.Itoa(n))
	}
	return h.Sum64() | 1 // never zero: zero means "unknown" to some guests
}

// ino is the guest's number of the file at p whose host inode is host (0
// when it has none, as the files of an input).
func (d *detFS) ino(p string, host sys.Inode) sys.Inode {
	if d.ids == nil || host == 0 {
		return pathIno(p, 0)
	}
	ids := d.ids
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if v, ok := ids.byHost[host]; ok {
		return v
	}
	v := pathIno(p, 0)
	for n := 1; ids.used[v]; n++ {
		v = pathIno(p, n)
	}
	ids.byHost[host], ids.used[v] = v, true
	return v
}

// setTimes records times the guest set on the file with host inode host.
func (d *detFS) setTimes(host sys.Inode, atim, mtim int64) {
	if d.ids == nil || host == 0 {
		return
	}
	d.ids.mu.Lock()
	t, ok := d.ids.times[host]
	if !ok {
		t = [2]int64{experimentalsys.UTIME_OMIT, experimentalsys.UTIME_OMIT}
	}
	if atim != experimentalsys.UTIME_OMIT {
		t[0] = atim
	}
	if mtim != experimentalsys.UTIME_OMIT {
		t[1] = mtim
	}
	d.ids.times[host] = t
	d.ids.mu.Unlock()
}

// forget drops what is kept of a file whose last link went.
func (d *detFS) forget(host sys.Inode) {
	if d.ids == nil || host == 0 {
		return
	}
	d.ids.mu.Lock()
	if v, ok := d.ids.byHost[host]; ok {
		delete(d.ids.used, v)
		delete(d.ids.byHost, host)
	}
	delete(d.ids.times, host)
	d.ids.mu.Unlock()
}

func (d *detFS) normalize(st *sys.Stat_t, p string) {
	host := st.Ino
	st.Dev = d.dev
	st.Ino = d.ino(p, host)
	st.Atim, st.Mtim, st.Ctim = epochNanos, epochNanos, epochNanos
	if d.ids != nil && host != 0 {
		d.ids.mu.Lock()
		t, ok := d.ids.times[host]
		d.ids.mu.Unlock()
		if ok && t[0] != experimentalsys.UTIME_OMIT {
			st.Atim = t[0]
		}
		if ok && t[1] != experimentalsys.UTIME_OMIT {
			st.Mtim = t[1]
		}
	}
	if st.Mode.IsDir() {
		st.Size, st.Nlink = 0, 1 // both depend on the host's file system
	}
}

func (d *detFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if d.quota != nil && flag&(experimentalsys.O_CREAT|experimentalsys.O_TRUNC) != 0 {
		return d.openCounted(p, flag, perm)
	}
	f, errno := d.FS.OpenFile(p, flag, perm)
	if errno == experimentalsys.ENOSYS && d.quota == nil && writes(flag) {
		errno = experimentalsys.EROFS // wazero's ReadFS says ENOSYS; POSIX and WASI, EROFS
	}
	if errno != 0 {
		return nil, errno
	}
	return &detFile{File: f, fs: d, path: p}, 0
}

func (d *detFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	st, errno := d.FS.Stat(p)
	if errno == 0 {
		d.normalize(&st, p)
	}
	return st, errno
}

func (d *detFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	st, errno := d.FS.Lstat(p)
	if errno == 0 {
		d.normalize(&st, p)
	}
	return st, errno
}

// Symlink makes a link in a writable mount, counted as an entry. In a
// read-only one it fails as POSIX orders the checks: ENOENT or ENOTDIR for
// a missing parent, EEXIST for a taken name, EROFS otherwise.
func (d *detFS) Symlink(target, linkName string) experimentalsys.Errno {
	if d.quota == nil {
		if _, errno := d.FS.Lstat(linkName); errno == 0 {
			return experimentalsys.EEXIST
		}
		if _, errno := d.FS.Stat(path.Dir(strings.TrimSuffix(linkName, "/"))); errno != 0 {
			return errno
		}
		return experimentalsys.EROFS
	}
	if errno := d.quota.charge(wasi.OutputsEntryCost); errno != 0 {
		return errno
	}
	errno := d.FS.Symlink(target, linkName)
	if errno != 0 {
		d.quota.refund(wasi.OutputsEntryCost)
	}
	return errno
}

// Utimens keeps the times the guest sets: they are its own, deterministic
// (UTIME_NOW is the guest's virtual clock).
func (d *detFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	errno := d.FS.Utimens(p, atim, mtim)
	if errno == 0 {
		if st, errno := d.FS.Stat(p); errno == 0 {
			d.setTimes(st.Ino, atim, mtim)
		}
	}
	return errno
}

// detFile is a file of a detFS.
type detFile struct {
	experimentalsys.File
	fs   *detFS
	path string

	// dirents holds the unread entries of a directory, sorted.
	dirents []experimentalsys.Dirent
}

func (f *detFile) Dev() (uint64, experimentalsys.Errno) { return f.fs.dev, 0 }

func (f *detFile) Ino() (sys.Inode, experimentalsys.Errno) {
	host, errno := f.File.Ino()
	if errno != 0 {
		host = 0
	}
	return f.fs.ino(f.path, host), 0
}

func (f *detFile) Utimens(atim, mtim int64) experimentalsys.Errno {
	errno := f.File.Utimens(atim, mtim)
	if errno == 0 {
		if st, errno := f.File.Stat(); errno == 0 {
			f.fs.setTimes(st.Ino, atim, mtim)
		}
	}
	return errno
}

func (f *detFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	st, errno := f.File.Stat()
	if errno == 0 {
		f.fs.normalize(&st, f.path)
	}
	return st, errno
}

// Readdir hands out the entries of a directory sorted by name. It reads
// the whole directory from the underlying file, which is then at its end;
// when that read returns entries again, the directory was rewound (wazero
// seeks to 0), and the sorted list is rebuilt. This avoids overriding Seek.
func (f *detFile) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	all, errno := f.File.Readdir(-1)
	if errno != 0 {
		return nil, errno
	}
	if len(all) > 0 {
		slices.SortFunc(all, func(a, b experimentalsys.Dirent) int { return strings.Compare(a.Name, b.Name) })
		for i := range all {
			all[i].Ino = f.fs.ino(path.Join(f.path, all[i].Name), all[i].Ino)
		}
		f.dirents = all
	}
	if n < 0 || n > len(f.dirents) {
		n = len(f.dirents)
	}
	out := f.dirents[:n:n]
	f.dirents = f.dirents[n:]
	return out, 0
}
