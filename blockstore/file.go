package blockstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"sync"

	"github.com/ipfs/go-cid"
)

// file is an open UnixFS file. ReadAt walks from the root to the leaves
// covering the range, using the blocksizes, so it fetches only the blocks
// it needs; intermediate nodes and the current leaf are cached.
type file struct {
	fsys  *unixFS
	root  *dagNode
	name  string
	depth int
	off   int64

	mu sync.Mutex // ReadAt may be called in parallel (io.ReaderAt)

	inner      map[cid.Cid]*dagNode // decoded intermediate nodes
	innerBytes int
	leaf       []byte // bytes of the cached leaf
	leafC      cid.Cid
	leafOff    uint64 // file offset of leaf[0]
	leafOK     bool
	leafShared bool // leaf aliases a decoded node's data: do not reuse

	// ra reads parts of raw leaves straight into the caller's buffer; set
	// for a trusted getter that implements BlockReaderAt.
	ra  BlockReaderAt
	sra sizedReaderAt // ra, when it also reports block sizes
	run leafRun       // the last node whose raw leaves were read

	// Read-ahead through a getter that prefetches (prefetch.go).
	pf     prefetcher
	raEnd  uint64 // where the last read ended
	raWin  uint64 // read-ahead window after it (0: not sequential)
	raDone uint64 // blocks are requested up to here
}

// leafRun caches the layout of the children of one file node: a read that
// lands under it finds its leaf by binary search instead of a walk from the
// root.
type leafRun struct {
	n     *dagNode
	start uint64   // file offset of the first child
	ends  []uint64 // file offset where each child ends
}

const maxInnerCache = 4 << 20 // bytes of intermediate nodes kept per file

var (
	_ fs.File     = (*file)(nil)
	_ io.Seeker   = (*file)(nil)
	_ io.ReaderAt = (*file)(nil)
)

func (f *unixFS) newFile(n *dagNode, name string, depth int) *file {
	file := &file{fsys: f, root: n, name: name, depth: depth, inner: map[cid.Cid]*dagNode{}}
	if f.trusted {
		file.ra, _ = f.g.(BlockReaderAt)
		file.sra, _ = f.g.(sizedReaderAt)
	}
	file.pf, _ = f.g.(prefetcher)
	return file
}

func (f *file) Stat() (fs.FileInfo, error) { return fileInfo{name: f.name, n: f.root}, nil }

func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaf, f.inner, f.run = nil, nil, leafRun{}
	return nil
}

func (f *file) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 && n == len(p) {
		err = nil
	}
	return n, err
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += int64(f.root.size)
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	f.off = offset
	return offset, nil
}

// ReadAt implements io.ReaderAt.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	size := f.root.size
	if uint64(off) >= size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := len(p)
	if rest := size - uint64(off); uint64(want) > rest {
		want = int(rest)
	}
	if f.pf != nil && f.inner != nil {
		f.readAhead(uint64(off), uint64(want))
	}
	done := 0
	for done < want {
		pos := uint64(off) + uint64(done)
		if f.leafOK && pos >= f.leafOff && pos < f.leafOff+uint64(len(f.leaf)) {
			done += copy(p[done:want], f.leaf[pos-f.leafOff:])
			continue
		}
		n, ok, err := f.readRun(pos, p[done:want])
		if !ok && err == nil {
			n, err = f.readFrom(f.root, 0, f.depth, pos, p[done:want])
		}
		if err != nil {
			return done, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
		if n == 0 {
			return done, &fs.PathError{Op: "read", Path: f.name, Err: fmt.Errorf("%w: no progress at offset %d", ErrBadDAG, pos)}
		}
		done += n
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// readFrom copies into p the bytes at file offset pos from node n, which
// holds the file bytes starting at base. It descends one path and returns
// how much it copied (at least 1 unless p is empty).
func (f *file) readFrom(n *dagNode, base uint64, depth int, pos uint64, p []byte) (int, error) {
	for {
		if depth > MaxDepth {
			return 0, fmt.Errorf("%w: deeper than %d", ErrBadDAG, MaxDepth)
		}
		rel := pos - base
		if rel < uint64(len(n.data)) {
			if len(n.links) == 0 {
				f.setLeaf(n.c, base, n.data) // a dag-pb leaf: keep it
			}
			return copy(p, n.data[rel:]), nil
		}
		childBase := base + uint64(len(n.data))
		i := 0
		for ; i < len(n.sizes); i++ {
			if pos < childBase+n.sizes[i] {
				break
			}
			childBase += n.sizes[i]
		}
		if i == len(n.sizes) {
			return 0, fmt.Errorf("%w: %s: offset %d past the blocks", ErrBadDAG, n.c, pos)
		}
		l := n.links[i]
		want := n.sizes[i]
		if l.c.Equals(n.c) {
			return 0, fmt.Errorf("%w: %s links to itself", ErrBadDAG, n.c)
		}
		if l.c.Prefix().Codec == rawCodec {
			f.setRun(n, base+uint64(len(n.data)))
			return f.readRawLeaf(l.c, childBase, want, pos, p)
		}
		child, err := f.innerNode(l.c)
		if err != nil {
			return 0, err
		}
		if child.kind != kindFile {
			return 0, fmt.Errorf("%w: %s: file links to a non-file node", ErrBadDAG, n.c)
		}
		if child.size != want {
			return 0, fmt.Errorf("%w: %s: blocksize %d, child holds %d", ErrBadDAG, n.c, want, child.size)
		}
		n, base = child, childBase
		depth++
	}
}

// setRun makes n, whose children start at file offset start, the cached
// leaf run.
func (f *file) setRun(n *dagNode, start uint64) {
	if f.run.n == n {
		return
	}
	ends := f.run.ends[:0]
	end := start
	for _, sz := range n.sizes {
		end += sz
		ends = append(ends, end)
	}
	f.run = leafRun{n: n, start: start, ends: ends}
}

// readRun reads at pos from a raw leaf of the cached run; ok is false if
// pos is not under a raw leaf of the run.
func (f *file) readRun(pos uint64, p []byte) (int, bool, error) {
	r := &f.run
	if r.n == nil || pos < r.start || len(r.ends) == 0 || pos >= r.ends[len(r.ends)-1] {
		return 0, false, nil
	}
	i := sort.Search(len(r.ends), func(i int) bool { return r.ends[i] > pos })
	l := r.n.links[i]
	if l.c.Prefix().Codec != rawCodec || l.c.Equals(r.n.c) {
		return 0, false, nil
	}
	base := r.start
	if i > 0 {
		base = r.ends[i-1]
	}
	n, err := f.readRawLeaf(l.c, base, r.n.sizes[i], pos, p)
	return n, true, err
}

// readRawLeaf reads from a raw leaf that should hold want bytes at base.
// With a BlockReaderAt the bytes go straight into p. Otherwise a read that
// covers the whole leaf copies straight into p, and a partial one caches
// the leaf for the reads that follow.
func (f *file) readRawLeaf(c cid.Cid, base, want, pos uint64, p []byte) (int, error) {
	rel := pos - base
	if f.ra != nil {
		return f.readLeafAt(c, want, rel, p)
	}
	direct := rel == 0 && uint64(len(p)) >= want
	var n int
	err := fetch(f.fsys.ctx, f.fsys.g, f.fsys.trusted, c, func(data []byte) error {
		if uint64(len(data)) != want {
			return fmt.Errorf("%w: %s: blocksize %d, leaf holds %d", ErrBadDAG, c, want, len(data))
		}
		if direct {
			n = copy(p, data)
			return nil
		}
		if f.leafShared {
			f.leaf, f.leafShared = nil, false
		}
		f.leaf = append(f.leaf[:0], data...)
		f.leafC, f.leafOff, f.leafOK = c, base, true
		n = copy(p, data[rel:])
		return nil
	})
	return n, err
}

// readLeafAt reads from offset rel of raw leaf c (want bytes long) into p
// through the getter's BlockReaderAt.
func (f *file) readLeafAt(c cid.Cid, want, rel uint64, p []byte) (int, error) {
	if k := want - rel; uint64(len(p)) > k {
		p = p[:k]
	}
	var n int
	var err error
	size := int64(-1)
	if f.sra != nil {
		n, size, err = f.sra.readBlockAt(f.fsys.ctx, c, p, int64(rel))
	} else {
		n, err = f.ra.ReadBlockAt(f.fsys.ctx, c, p, int64(rel))
	}
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		return n, err
	case size >= 0 && uint64(size) != want:
		return 0, fmt.Errorf("%w: %s: blocksize %d, leaf holds %d", ErrBadDAG, c, want, size)
	case n < len(p):
		return 0, fmt.Errorf("%w: %s: blocksize %d, leaf is shorter", ErrBadDAG, c, want)
	}
	return n, nil
}

func (f *file) setLeaf(c cid.Cid, base uint64, data []byte) {
	f.leaf, f.leafShared = data, true
	f.leafC, f.leafOff, f.leafOK = c, base, true
}

// innerNode returns a decoded dag-pb node of this file, cached.
func (f *file) innerNode(c cid.Cid) (*dagNode, error) {
	if n, ok := f.inner[c]; ok {
		return n, nil
	}
	if f.inner == nil {
		return nil, errors.New("file closed")
	}
	n, err := f.fsys.loadNode(f.fsys.ctx, c)
	if err != nil {
		return nil, err
	}
	if len(n.links) > 0 { // leaves are cached as the current leaf instead
		if f.innerBytes+n.raw > maxInnerCache {
			clear(f.inner)
			f.innerBytes = 0
		}
		f.inner[c] = n
		f.innerBytes += n.raw
	}
	return n, nil
}
