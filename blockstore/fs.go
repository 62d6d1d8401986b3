package blockstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
)

// NewFS returns a read-only fs.FS over the UnixFS DAG at root. Blocks are
// fetched through g when they are needed, never the whole DAG up front, and
// each block is checked against its CID unless g implements TrustedGetter
// and reports true (the local store's getter does).
//
// If root is a directory, the FS is that directory. If root is a file, the
// FS is a directory holding that one file under the name root.String()
// (e.g. "bafkrei..."), the name `ipfs get` gives it.
//
// Lookups follow fs.ValidPath. Files implement io.Seeker and io.ReaderAt;
// ReadDir results are sorted by name. UnixFS symlinks are listed as
// fs.ModeSymlink entries; the FS implements fs.ReadLinkFS (ReadLink, Lstat),
// and Open, Stat, ReadDir and ReadFile follow symlinks whose target stays
// inside the DAG (relative targets, resolved from the link's directory, up to
// maxSymlinkHops links per lookup). An absolute target, or one that climbs
// above the root, is not followed: such a link is fs.ErrNotExist, as a
// dangling one is. A malformed DAG (bad entry names,
// wrong node types, sizes that do not add up, blocks that do not match
// their CID, nesting deeper than MaxDepth) gives errors wrapping ErrBadDAG
// or ErrBadBlock. ctx bounds every fetch made through the FS.
func NewFS(ctx context.Context, g BlockGetter, root cid.Cid) (fs.FS, error) {
	f := &unixFS{ctx: ctx, g: g, root: root}
	if t, ok := g.(TrustedGetter); ok {
		f.trusted = t.TrustedBlocks()
	}
	n, err := f.loadNode(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("blockstore: fs %s: %w", root, err)
	}
	switch n.kind {
	case kindFile:
		f.single = n
	case kindDir, kindHAMT:
		f.rootDir = n
	default:
		return nil, fmt.Errorf("blockstore: fs %s: %w: root is a symlink", root, ErrBadDAG)
	}
	return f, nil
}

type unixFS struct {
	ctx     context.Context
	g       BlockGetter
	trusted bool
	root    cid.Cid
	rootDir *dagNode // when root is a directory
	single  *dagNode // when root is a file
}

var (
	_ fs.FS         = (*unixFS)(nil)
	_ fs.StatFS     = (*unixFS)(nil)
	_ fs.ReadDirFS  = (*unixFS)(nil)
	_ fs.ReadFileFS = (*unixFS)(nil)
	_ fs.ReadLinkFS = (*unixFS)(nil)
)

// maxSymlinkHops is how many symlinks one lookup follows (MAXSYMLINKS of Linux).
const maxSymlinkHops = 40

// Open opens the named file or directory, following symlinks.
func (f *unixFS) Open(name string) (fs.File, error) {
	n, base, depth, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	if n.kind == kindFile {
		return f.newFile(n, base, depth), nil
	}
	return &dirFile{fsys: f, n: n, name: base, depth: depth}, nil
}

// Stat returns the FileInfo of the named file or directory, following
// symlinks.
func (f *unixFS) Stat(name string) (fs.FileInfo, error) {
	n, base, _, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return fileInfo{name: base, n: n}, nil
}

// Lstat returns the FileInfo of the named entry without following it if it
// is a symlink (symlinks on the way to it are followed).
func (f *unixFS) Lstat(name string) (fs.FileInfo, error) {
	n, base, _, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return fileInfo{name: base, n: n}, nil
}

// ReadLink returns the target of the named symlink, as stored.
func (f *unixFS) ReadLink(name string) (string, error) {
	n, _, _, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.kind != kindSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("not a symlink: %w", fs.ErrInvalid)}
	}
	return string(n.data), nil
}

// ReadDir reads the named directory, sorted by name.
func (f *unixFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, _, depth, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if n.kind != kindDir && n.kind != kindHAMT {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	ents, err := f.listDir(n, depth)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return ents, nil
}

// ReadFile reads the named file whole.
func (f *unixFS) ReadFile(name string) ([]byte, error) {
	n, base, depth, err := f.resolve("readfile", name, true)
	if err != nil {
		return nil, err
	}
	if n.kind != kindFile {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory")}
	}
	if n.size > maxReadFile {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("file too large to read whole")}
	}
	buf := make([]byte, n.size)
	file := f.newFile(n, base, depth)
	if _, err := file.ReadAt(buf, 0); err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: err}
	}
	return buf, nil
}

const maxReadFile = 1 << 31

// resolve walks name from the root and returns the node, its base name and
// its depth. Symlinks on the way are followed, and so is the last one if
// follow is set.
func (f *unixFS) resolve(op, name string, follow bool) (*dagNode, string, int, error) {
	if !fs.ValidPath(name) {
		return nil, "", 0, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if f.single != nil {
		switch name {
		case ".":
			return singleDirNode(f), ".", 0, nil
		case f.root.String():
			return f.single, name, 1, nil
		}
		return nil, "", 0, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	fail := func(err error) (*dagNode, string, int, error) {
		return nil, "", 0, &fs.PathError{Op: op, Path: name, Err: err}
	}
	base := path.Base(name)
	var segs []string
	if name != "." {
		segs = strings.Split(name, "/")
	}
	hops := 0
walk:
	n, depth := f.rootDir, 0
	for i, seg := range segs {
		if n.kind != kindDir && n.kind != kindHAMT {
			return fail(fs.ErrNotExist)
		}
		l, d, err := f.lookup(n, seg, depth)
		if err != nil {
			return fail(err)
		}
		depth = d + 1
		if depth > MaxDepth {
			return fail(fmt.Errorf("%w: deeper than %d", ErrBadDAG, MaxDepth))
		}
		if l.c.Equals(n.c) {
			return fail(fmt.Errorf("%w: %s links to itself", ErrBadDAG, n.c))
		}
		child, err := f.loadNode(f.ctx, l.c)
		if err != nil {
			return fail(err)
		}
		if child.kind == kindSymlink && (follow || i < len(segs)-1) {
			if hops++; hops > maxSymlinkHops {
				return fail(errors.New("too many levels of symbolic links"))
			}
			link := strings.Join(segs[:i+1], "/")
			target := string(child.data)
			if path.IsAbs(target) {
				return fail(fmt.Errorf("symlink %s -> %q: an absolute target is outside the DAG: %w", link, target, fs.ErrNotExist))
			}
			to := path.Join(path.Dir(link), target)
			if to == ".." || strings.HasPrefix(to, "../") {
				return fail(fmt.Errorf("symlink %s -> %q leads outside the DAG: %w", link, target, fs.ErrNotExist))
			}
			rest := segs[i+1:]
			segs = nil
			if to != "." {
				segs = strings.Split(to, "/")
			}
			segs = append(segs, rest...)
			goto walk
		}
		n = child
	}
	return n, base, depth, nil
}

// singleDirNode is the synthetic directory holding a single-file root.
func singleDirNode(f *unixFS) *dagNode {
	return &dagNode{kind: kindDir, links: []dagLink{{name: f.root.String(), c: f.root}}}
}

// fileInfo describes a node. UnixFS here carries no mode or mtime: files
// are 0444, directories 0555, times zero.
type fileInfo struct {
	name string
	n    *dagNode
}

func (i fileInfo) Name() string { return i.name }
func (i fileInfo) Size() int64 {
	if i.n.kind == kindFile || i.n.kind == kindSymlink {
		return int64(i.n.size)
	}
	return 0
}
func (i fileInfo) Mode() fs.FileMode {
	switch i.n.kind {
	case kindDir, kindHAMT:
		return fs.ModeDir | 0o555
	case kindSymlink:
		return fs.ModeSymlink | 0o444
	}
	return 0o444
}
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.n.kind == kindDir || i.n.kind == kindHAMT }
func (i fileInfo) Sys() any           { return i.n.c }
