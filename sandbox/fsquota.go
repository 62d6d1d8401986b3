package sandbox

import (
	"io"
	"io/fs"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// The changes a guest can make to a mount with a quota, each counted
// before it is made (see outputsQuota). Files are stated through the
// underlying file system, whose inode numbers are the host's.

// openCounted opens p with O_CREAT or O_TRUNC: a new entry is charged
// first, a truncated file counted at its new size.
func (d *detFS) openCounted(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	created := false
	if _, errno := d.FS.Lstat(p); errno == experimentalsys.ENOENT && flag&experimentalsys.O_CREAT != 0 {
		if errno := d.quota.charge(wasi.OutputsEntryCost); errno != 0 {
			return nil, errno
		}
		created = true
	}
	f, errno := d.FS.OpenFile(p, flag, perm)
	if errno != 0 {
		if created {
			d.quota.refund(wasi.OutputsEntryCost)
		}
		return nil, errno
	}
	if st, errno := f.Stat(); errno == 0 && st.Mode.IsRegular() {
		d.quota.settle(st.Ino, st.Size)
	}
	return &detFile{File: f, fs: d, path: p}, 0
}

func (d *detFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	if d.quota == nil {
		return d.FS.Mkdir(p, perm)
	}
	if errno := d.quota.charge(wasi.OutputsEntryCost); errno != 0 {
		return errno
	}
	errno := d.FS.Mkdir(p, perm)
	if errno != 0 {
		d.quota.refund(wasi.OutputsEntryCost)
	}
	return errno
}

func (d *detFS) Link(oldPath, newPath string) experimentalsys.Errno {
	if d.quota == nil {
		return d.FS.Link(oldPath, newPath)
	}
	if errno := d.quota.charge(wasi.OutputsEntryCost); errno != 0 {
		return errno
	}
	errno := d.FS.Link(oldPath, newPath)
	if errno != 0 {
		d.quota.refund(wasi.OutputsEntryCost)
	}
	return errno
}

func (d *detFS) Unlink(p string) experimentalsys.Errno {
	if d.quota == nil {
		return d.FS.Unlink(p)
	}
	st, stErr := d.FS.Lstat(p)
	errno := d.FS.Unlink(p)
	if errno == 0 {
		d.quota.refund(wasi.OutputsEntryCost)
		if stErr == 0 && st.Mode.IsRegular() && st.Nlink <= 1 {
			d.quota.forget(st.Ino)
		}
		if stErr == 0 && st.Nlink <= 1 {
			d.forget(st.Ino)
		}
	}
	return errno
}

func (d *detFS) Rmdir(p string) experimentalsys.Errno {
	if d.quota == nil {
		return d.FS.Rmdir(p)
	}
	st, stErr := d.FS.Lstat(p)
	errno := d.FS.Rmdir(p)
	if errno == 0 {
		d.quota.refund(wasi.OutputsEntryCost)
		if stErr == 0 {
			d.forget(st.Ino)
		}
	}
	return errno
}

// Rename gives back what a replaced entry held: its entry and, if it was
// the file's last link, its bytes. Renaming a link onto another link of
// the same file changes nothing.
func (d *detFS) Rename(from, to string) experimentalsys.Errno {
	if d.quota == nil {
		return d.FS.Rename(from, to)
	}
	fromSt, fromErr := d.FS.Lstat(from)
	toSt, toErr := d.FS.Lstat(to)
	errno := d.FS.Rename(from, to)
	if errno == 0 && toErr == 0 && (fromErr != 0 || fromSt.Ino != toSt.Ino) {
		d.quota.refund(wasi.OutputsEntryCost)
		if toSt.Mode.IsRegular() && toSt.Nlink <= 1 {
			d.quota.forget(toSt.Ino)
		}
		if toSt.Nlink <= 1 || toSt.Mode.IsDir() {
			d.forget(toSt.Ino)
		}
	}
	return errno
}

func (f *detFile) Write(buf []byte) (int, experimentalsys.Errno) {
	q := f.fs.quota
	if q == nil || len(buf) == 0 {
		return f.File.Write(buf)
	}
	st, errno := f.File.Stat()
	if errno != 0 || !st.Mode.IsRegular() {
		return f.File.Write(buf)
	}
	off := st.Size
	if !f.File.IsAppend() {
		if off, errno = f.File.Seek(0, io.SeekCurrent); errno != 0 {
			return 0, errno
		}
	}
	if errno := q.resize(st.Ino, max(st.Size, off+int64(len(buf))), true); errno != 0 {
		return 0, errno
	}
	n, errno := f.File.Write(buf)
	if n < len(buf) {
		f.settle()
	}
	return n, errno
}

func (f *detFile) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	q := f.fs.quota
	if q == nil || len(buf) == 0 || off < 0 {
		return f.File.Pwrite(buf, off)
	}
	st, errno := f.File.Stat()
	if errno != 0 || !st.Mode.IsRegular() {
		return f.File.Pwrite(buf, off)
	}
	if errno := q.resize(st.Ino, max(st.Size, off+int64(len(buf))), true); errno != 0 {
		return 0, errno
	}
	n, errno := f.File.Pwrite(buf, off)
	if n < len(buf) {
		f.settle()
	}
	return n, errno
}

// Truncate counts the file at its new size first: growing it may be
// refused, shrinking it gives bytes back. fd_allocate comes here too.
func (f *detFile) Truncate(size int64) experimentalsys.Errno {
	q := f.fs.quota
	if q == nil || size < 0 {
		return f.File.Truncate(size)
	}
	st, errno := f.File.Stat()
	if errno != 0 || !st.Mode.IsRegular() {
		return f.File.Truncate(size)
	}
	if errno := q.resize(st.Ino, size, false); errno != 0 {
		return errno
	}
	errno = f.File.Truncate(size)
	if errno != 0 {
		f.settle()
	}
	return errno
}

// settle counts the file at the size it has, after a change that failed
// or went part of the way.
func (f *detFile) settle() {
	if st, errno := f.File.Stat(); errno == 0 {
		f.fs.quota.settle(st.Ino, st.Size)
	}
}
