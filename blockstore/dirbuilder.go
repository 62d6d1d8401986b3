package blockstore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// DirBuilder assembles a directory tree from entries given in any order, and
// builds it as kubo's `ipfs add -r` does: boxo's UnixFS directories with
// kubo's defaults, so a directory whose links (name + CID bytes) exceed 256
// KiB becomes a HAMT-sharded directory of fanout 256. Unless its AddOptions
// set Hidden, entries under a name that starts with '.' are skipped (see
// Skips), as `ipfs add -r` without -H skips them. Not safe for concurrent
// use.
type DirBuilder struct {
	s    *Store
	opts AddOptions
	root *dirNode
	err  error
}

type dirNode struct {
	dirs  map[string]*dirNode
	files map[string]Entry
	links map[string]string // symlink name -> target
}

func newDirNode() *dirNode {
	return &dirNode{dirs: map[string]*dirNode{}, files: map[string]Entry{}, links: map[string]string{}}
}

// taken returns what already holds name in d ("" if nothing): "a directory",
// "a file" or "a symlink".
func (d *dirNode) taken(name string) string {
	switch {
	case d.dirs[name] != nil:
		return "a directory"
	case d.files[name].CID.Defined():
		return "a file"
	}
	if _, ok := d.links[name]; ok {
		return "a symlink"
	}
	return ""
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
// root); missing parent directories are created. A path Skips names is
// checked and then left out (nil error).
func (b *DirBuilder) AddFile(path string, e Entry) error {
	if !e.CID.Defined() {
		return fmt.Errorf("%w: %q: undefined CID", ErrBadOptions, path)
	}
	parent, name, err := b.parent(path)
	if err != nil || parent == nil {
		return err
	}
	if what := parent.taken(name); what != "" {
		return fmt.Errorf("%w: %s is %s", ErrExists, quoteName(path), what)
	}
	parent.files[name] = e
	return nil
}

// MaxSymlinkTarget is the longest symlink target AddSymlink accepts, in bytes
// (PATH_MAX of Linux, less its NUL).
const MaxSymlinkTarget = 4095

// AddSymlink puts a symbolic link to target at path, as the UnixFS symlink
// node `ipfs add -r` makes for a symlink it meets (dag-pb, Data = UnixFS
// Symlink holding target, the CID version of the builder's options). The
// target is stored as given, never resolved: relative, absolute and dangling
// targets alike. It must not be empty, hold NUL or be longer than
// MaxSymlinkTarget (ErrBadPath). A path Skips names is checked and then left
// out (nil error).
func (b *DirBuilder) AddSymlink(path, target string) error {
	if err := checkTarget(path, target); err != nil {
		return err
	}
	parent, name, err := b.parent(path)
	if err != nil || parent == nil {
		return err
	}
	if what := parent.taken(name); what != "" {
		return fmt.Errorf("%w: %s is %s", ErrExists, quoteName(path), what)
	}
	parent.links[name] = target
	return nil
}

func checkTarget(path, target string) error {
	switch {
	case target == "":
		return fmt.Errorf("%w: symlink %s: empty target", ErrBadPath, quoteName(path))
	case strings.ContainsRune(target, 0):
		return fmt.Errorf("%w: symlink %s: target contains NUL", ErrBadPath, quoteName(path))
	case len(target) > MaxSymlinkTarget:
		return fmt.Errorf("%w: symlink %s: target of %d bytes is longer than %d", ErrBadPath, quoteName(path), len(target), MaxSymlinkTarget)
	}
	return nil
}

// Mkdir creates the directory at path (and its parents); it is not an error
// if it exists. A path Skips names is checked and then left out (nil error).
func (b *DirBuilder) Mkdir(path string) error {
	parent, name, err := b.parent(path)
	if err != nil || parent == nil {
		return err
	}
	_, err = parent.mkdir(name, path)
	return err
}

func (d *dirNode) mkdir(name, path string) (*dirNode, error) {
	if what := d.taken(name); what != "" && what != "a directory" {
		return nil, fmt.Errorf("%w: %s is %s", ErrExists, quoteName(path), what)
	}
	c, ok := d.dirs[name]
	if !ok {
		c = newDirNode()
		d.dirs[name] = c
	}
	return c, nil
}

// Skips reports whether the builder leaves out an entry at path: one of its
// names starts with '.' and the options do not set Hidden. `ipfs add -r`
// without -H skips such files and directories (and everything under them).
// Callers that import a file before adding it can ask first and save the
// work.
func (b *DirBuilder) Skips(path string) bool {
	if b.opts.Hidden {
		return false
	}
	for _, s := range strings.Split(path, "/") {
		if isHidden(s) {
			return true
		}
	}
	return false
}

// isHidden reports whether kubo counts name as hidden: it starts with '.' and
// is not "." or "..".
func isHidden(name string) bool {
	return len(name) > 0 && name[0] == '.' && name != "." && name != ".."
}

// parent checks path and returns its parent directory (created if needed)
// and last segment; the directory is nil when Skips(path).
func (b *DirBuilder) parent(path string) (*dirNode, string, error) {
	segs, err := splitPath(path)
	if err != nil {
		return nil, "", err
	}
	if b.Skips(path) {
		return nil, "", nil
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
// paths, empty, "." and ".." segments, NUL and names longer than MaxNameLen.
// Any other byte is allowed, as in UnixFS names.
func splitPath(path string) ([]string, error) {
	if path == "" || strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%w: %s", ErrBadPath, quoteName(path))
	}
	segs := strings.Split(path, "/")
	for _, s := range segs {
		if p := nameProblem(s); p != "" {
			return nil, fmt.Errorf("%w: %s: %s", ErrBadPath, quoteName(path), p)
		}
	}
	return segs, nil
}

// Finish builds and stores the tree and returns the root directory's entry
// (Size 0, Tsize the cumulative size). The builder must not be used after.
func (b *DirBuilder) Finish(ctx context.Context) (Entry, error) {
	if b.err != nil {
		return Entry{}, b.err
	}
	w := b.s.newWriter(ctx)
	w.discard = b.opts.OnlyHash
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
	for _, name := range sortedKeys(d.links) {
		nd, err := symlinkNode(d.links[name], prefix)
		if err != nil {
			return nil, err
		}
		if err := w.Add(ctx, nd); err != nil {
			return nil, err
		}
		if err := dir.AddChild(ctx, name, nd); err != nil {
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

// symlinkNode makes the node kubo's adder makes for a symlink: dag-pb whose
// Data is a UnixFS Symlink holding target, no links.
func symlinkNode(target string, prefix cid.Prefix) (*merkledag.ProtoNode, error) {
	data, err := unixfs.SymlinkData(target)
	if err != nil {
		return nil, err
	}
	nd := merkledag.NodeWithData(data)
	if err := nd.SetCidBuilder(prefix); err != nil {
		return nil, err
	}
	return nd, nil
}
