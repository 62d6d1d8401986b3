package blockstore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	ipld "github.com/ipfs/go-ipld-format"
)

// DirBuilder assembles a directory tree from entries given in any order, and
// builds it as kubo's `ipfs add -r` does: boxo's UnixFS directories with
// kubo's defaults, so a directory whose links (name + CID bytes) exceed 256
// KiB becomes a HAMT-sharded directory of fanout 256. Not safe for
// concurrent use.
type DirBuilder struct {
	s    *Store
	opts AddOptions
	root *dirNode
	err  error
}

type dirNode struct {
	dirs  map[string]*dirNode
	files map[string]Entry
}

func newDirNode() *dirNode {
	return &dirNode{dirs: map[string]*dirNode{}, files: map[string]Entry{}}
}

// NewDirBuilder starts an empty directory; opts choose the CID version of
// the directory nodes (files are added separately, with AddFile).
func (s *Store) NewDirBuilder(opts AddOptions) *DirBuilder {
	b := &DirBuilder{s: s, opts: opts, root: newDirNode()}
	if _, err := opts.prefix(); err != nil {
		b.err = err
	}
	return b
}

// AddFile puts the imported file e at path (slash-separated, relative to the
// root); missing parent directories are created.
func (b *DirBuilder) AddFile(path string, e Entry) error {
	if !e.CID.Defined() {
		return fmt.Errorf("%w: %q: undefined CID", ErrBadOptions, path)
	}
	parent, name, err := b.parent(path)
	if err != nil {
		return err
	}
	if _, ok := parent.dirs[name]; ok {
		return fmt.Errorf("%w: %q is a directory", ErrExists, path)
	}
	if _, ok := parent.files[name]; ok {
		return fmt.Errorf("%w: %q", ErrExists, path)
	}
	parent.files[name] = e
	return nil
}

// Mkdir creates the directory at path (and its parents); it is not an error
// if it exists.
func (b *DirBuilder) Mkdir(path string) error {
	parent, name, err := b.parent(path)
	if err != nil {
		return err
	}
	_, err = parent.mkdir(name, path)
	return err
}

func (d *dirNode) mkdir(name, path string) (*dirNode, error) {
	if _, ok := d.files[name]; ok {
		return nil, fmt.Errorf("%w: %q is a file", ErrExists, path)
	}
	c, ok := d.dirs[name]
	if !ok {
		c = newDirNode()
		d.dirs[name] = c
	}
	return c, nil
}

// parent checks path and returns its parent directory (created if needed)
// and last segment.
func (b *DirBuilder) parent(path string) (*dirNode, string, error) {
	segs, err := splitPath(path)
	if err != nil {
		return nil, "", err
	}
	d := b.root
	for i, seg := range segs[:len(segs)-1] {
		if d, err = d.mkdir(seg, strings.Join(segs[:i+1], "/")); err != nil {
			return nil, "", err
		}
	}
	return d, segs[len(segs)-1], nil
}

// splitPath splits a relative slash-separated path, rejecting absolute
// paths, empty, "." and ".." segments and NUL. Any other byte is allowed, as
// in UnixFS names.
func splitPath(path string) ([]string, error) {
	if path == "" || strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%w: %q", ErrBadPath, path)
	}
	segs := strings.Split(path, "/")
	for _, s := range segs {
		if !validName(s) {
			return nil, fmt.Errorf("%w: %q", ErrBadPath, path)
		}
	}
	return segs, nil
}

// validName reports whether s may name a directory entry.
func validName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// Finish builds and stores the tree and returns the root directory's entry
// (Size 0, Tsize the cumulative size). The builder must not be used after.
func (b *DirBuilder) Finish(ctx context.Context) (Entry, error) {
	if b.err != nil {
		return Entry{}, b.err
	}
	w := b.s.newWriter(ctx)
	nd, err := b.build(ctx, w, b.root)
	if err != nil {
		w.abort()
		return Entry{}, fmt.Errorf("blockstore: build directory: %w", err)
	}
	if err := w.done(); err != nil {
		return Entry{}, err
	}
	return entryOf(nd, 0)
}

func (b *DirBuilder) build(ctx context.Context, w *writer, d *dirNode) (ipld.Node, error) {
	prefix, _ := b.opts.prefix()
	dir, err := uio.NewDirectory(w)
	if err != nil {
		return nil, err
	}
	dir.SetCidBuilder(prefix)
	// kubo adds entries in directory-walk (name) order; the result does not
	// depend on the order, but keep it deterministic anyway.
	for _, name := range sortedKeys(d.dirs) {
		child, err := b.build(ctx, w, d.dirs[name])
		if err != nil {
			return nil, err
		}
		if err := dir.AddChild(ctx, name, child); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(d.files) {
		e := d.files[name]
		if err := dir.AddChild(ctx, name, &linkNode{c: e.CID, tsize: e.Tsize}); err != nil {
			return nil, err
		}
	}
	nd, err := dir.GetNode()
	if err != nil {
		return nil, err
	}
	if err := w.Add(ctx, nd); err != nil {
		return nil, err
	}
	return nd, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
