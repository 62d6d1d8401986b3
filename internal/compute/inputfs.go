package compute

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// fileDir is the mount of an input whose path inside its DAG names a file: a directory
// holding that one file under its name (the last segment of the path), as `ipfs get
// CID/sub/file` names it. A DAG whose root is a file is mounted the same way, under its
// CID (blockstore.NewFS does that).
type fileDir struct {
	fsys fs.FS  // the DAG
	path string // of the file in fsys
	name string // path.Base(path)
}

func newFileDir(fsys fs.FS, p string) *fileDir {
	return &fileDir{fsys: fsys, path: p, name: path.Base(p)}
}

var (
	_ fs.StatFS    = (*fileDir)(nil)
	_ fs.ReadDirFS = (*fileDir)(nil)
)

// Open opens the directory (".") or the file in it.
func (d *fileDir) Open(name string) (fs.File, error) {
	switch {
	case !fs.ValidPath(name):
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	case name == ".":
		return &fileDirHandle{d: d}, nil
	case name == d.name:
		return d.fsys.Open(d.path)
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Stat describes the directory or the file in it.
func (d *fileDir) Stat(name string) (fs.FileInfo, error) {
	switch {
	case !fs.ValidPath(name):
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	case name == ".":
		return dirInfo{}, nil
	case name == d.name:
		return fs.Stat(d.fsys, d.path)
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// ReadDir lists the one file.
func (d *fileDir) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		if _, err := d.Stat(name); err != nil {
			return nil, err
		}
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	st, err := fs.Stat(d.fsys, d.path)
	if err != nil {
		return nil, err
	}
	return []fs.DirEntry{fs.FileInfoToDirEntry(st)}, nil
}

// fileDirHandle is the open directory of a fileDir.
type fileDirHandle struct {
	d    *fileDir
	done bool // the entry was listed
}

func (h *fileDirHandle) Stat() (fs.FileInfo, error) { return dirInfo{}, nil }
func (h *fileDirHandle) Close() error               { return nil }
func (h *fileDirHandle) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: fs.ErrInvalid}
}

// ReadDir lists the one file, as fs.ReadDirFile says: n > 0 reads on from where the
// last call stopped.
func (h *fileDirHandle) ReadDir(n int) ([]fs.DirEntry, error) {
	if h.done {
		if n > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	ents, err := h.d.ReadDir(".")
	if err != nil {
		return nil, err
	}
	h.done = true
	return ents, nil
}

// dirInfo describes a fileDir's directory: read-only, as the directories of a DAG.
type dirInfo struct{}

func (dirInfo) Name() string       { return "." }
func (dirInfo) Size() int64        { return 0 }
func (dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (dirInfo) ModTime() time.Time { return time.Time{} }
func (dirInfo) IsDir() bool        { return true }
func (dirInfo) Sys() any           { return nil }

// InputFS opens an input DAG (or the path inside it) as a file system whose blocks are
// read through g when they are needed. A path naming a file is mounted as a directory
// holding that file under its name.
func InputFS(ctx context.Context, g blockstore.BlockGetter, in job.Input) (fs.FS, error) {
	c, err := blockstore.Key(in.CID)
	if err != nil {
		return nil, err
	}
	fsys, err := blockstore.NewFS(ctx, g, c)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", in.CID, err)
	}
	p := strings.Trim(in.Path, "/")
	if p == "" {
		return fsys, nil
	}
	st, err := fs.Stat(fsys, p)
	if err != nil {
		return nil, fmt.Errorf("input %s/%s: %w", in.CID, p, err)
	}
	if !st.IsDir() { // a file: mounted in a directory of its own, under its name
		return newFileDir(fsys, p), nil
	}
	if fsys, err = fs.Sub(fsys, p); err != nil {
		return nil, fmt.Errorf("input %s/%s: %w", in.CID, p, err)
	}
	return fsys, nil
}
