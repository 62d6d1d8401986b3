package blockstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
)

// listDir returns the entries of a basic or HAMT directory, sorted by name.
// Each child is fetched to learn its type (raw leaves need no fetch).
func (f *unixFS) listDir(n *dagNode, depth int) ([]fs.DirEntry, error) {
	var links []dagLink
	if n.kind == kindHAMT {
		if err := f.hamtEntries(n, depth, 0, &links); err != nil {
			return nil, err
		}
	} else {
		links = n.links
	}
	ents := make([]fs.DirEntry, 0, len(links))
	seen := make(map[string]struct{}, len(links))
	ahead := dirPrefetch{}
	ahead.pf, _ = f.g.(prefetcher)
	for i, l := range links {
		ahead.at(f, links, i)
		if p := nameProblem(l.name); p != "" {
			return nil, fmt.Errorf("%w: %s: entry %s", ErrBadDAG, n.c, p)
		}
		if _, dup := seen[l.name]; dup {
			return nil, fmt.Errorf("%w: %s: duplicate entry %s", ErrBadDAG, n.c, quoteName(l.name))
		}
		seen[l.name] = struct{}{}
		if l.c.Equals(n.c) {
			return nil, fmt.Errorf("%w: %s links to itself", ErrBadDAG, n.c)
		}
		child, err := f.childInfo(l)
		if err != nil {
			return nil, err
		}
		ents = append(ents, fs.FileInfoToDirEntry(fileInfo{name: l.name, n: child}))
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	return ents, nil
}

// childInfo loads what a directory listing needs to know about a child.
func (f *unixFS) childInfo(l dagLink) (*dagNode, error) {
	if l.c.Prefix().Codec == rawCodec && f.trusted {
		// A raw leaf is a file; its size is the block size.
		if sz, ok := f.g.(sizer); ok {
			n, err := sz.blockSize(f.ctx, l.c)
			if err != nil {
				return nil, err
			}
			return &dagNode{c: l.c, kind: kindFile, size: uint64(n)}, nil
		}
	}
	return f.loadNode(f.ctx, l.c)
}

// lookup finds the entry named name in directory n at depth; it returns the
// link and the depth reached (HAMT levels count).
func (f *unixFS) lookup(n *dagNode, name string, depth int) (dagLink, int, error) {
	if n.kind == kindHAMT {
		return f.hamtLookup(n, name, depth)
	}
	for _, l := range n.links {
		if l.name == name {
			if p := nameProblem(l.name); p != "" {
				return dagLink{}, 0, fmt.Errorf("%w: %s: entry %s", ErrBadDAG, n.c, p)
			}
			return l, depth, nil
		}
	}
	return dagLink{}, 0, fs.ErrNotExist
}

// dirFile is an open directory.
type dirFile struct {
	fsys  *unixFS
	n     *dagNode
	name  string
	depth int
	ents  []fs.DirEntry
	read  bool
	off   int
}

var _ fs.ReadDirFile = (*dirFile)(nil)

func (d *dirFile) Stat() (fs.FileInfo, error) { return fileInfo{name: d.name, n: d.n}, nil }
func (d *dirFile) Close() error               { return nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	if !d.read {
		ents, err := d.fsys.listDir(d.n, d.depth)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: err}
		}
		d.ents, d.read = ents, true
	}
	rest := d.ents[d.off:]
	if count <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if count > len(rest) {
		count = len(rest)
	}
	d.off += count
	return rest[:count], nil
}
