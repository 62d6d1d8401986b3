package sandbox

import (
	"hash/fnv"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

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
	return &detFS{FS: sysfs.DirFS(dir), dev: dev, quota: quota}
}

// detFS makes what a guest sees of a mount independent of the host:
// directory entries come sorted by name, inode numbers are a hash of the
// path, the device number is the mount's index, every timestamp is
// wasi.Epoch, and directories have size 0 and one link. It refuses to
// create symbolic links, so that a guest cannot plant a link to a host path
// in /outputs and follow it. With a quota (the outputs), every change that
// makes the mount hold more is counted first (fsquota.go).
type detFS struct {
	experimentalsys.FS
	dev   uint64
	quota *outputsQuota // nil: not counted
}

func (d *detFS) ino(p string) sys.Inode {
	h := fnv.New64a()
	_, _ = io.WriteString(h, path.Clean("/"+p))
	return h.Sum64() | 1 // never zero: zero means "unknown" to some guests
}

func (d *detFS) normalize(st *sys.Stat_t, p string) {
	st.Dev = d.dev
	st.Ino = d.ino(p)
	st.Atim, st.Mtim, st.Ctim = epochNanos, epochNanos, epochNanos
	if st.Mode.IsDir() {
		st.Size, st.Nlink = 0, 1 // both depend on the host's file system
	}
}

func (d *detFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if d.quota != nil && flag&(experimentalsys.O_CREAT|experimentalsys.O_TRUNC) != 0 {
		return d.openCounted(p, flag, perm)
	}
	f, errno := d.FS.OpenFile(p, flag, perm)
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

func (d *detFS) Symlink(string, string) experimentalsys.Errno { return experimentalsys.EPERM }

// detFile is a file of a detFS.
type detFile struct {
	experimentalsys.File
	fs   *detFS
	path string

	// dirents holds the unread entries of a directory, sorted.
	dirents []experimentalsys.Dirent
}

func (f *detFile) Dev() (uint64, experimentalsys.Errno) { return f.fs.dev, 0 }

func (f *detFile) Ino() (sys.Inode, experimentalsys.Errno) { return f.fs.ino(f.path), 0 }

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
			all[i].Ino = f.fs.ino(path.Join(f.path, all[i].Name))
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
