package blockstore

import (
	"github.com/ipfs/go-cid"
)

// Read-ahead for getters that can prefetch (the bitswap getter). Bitswap
// batches wants and answers them over round trips, so fetching one block
// at a time leaves the link idle; NewFS asks for blocks together instead:
//
//   - A ReadAt requests every block under the range it reads in one batch
//     (fetching the inner nodes on the way first), so a random 1 MiB read
//     costs one round trip for its leaves and moves only them.
//   - Reads that continue where the previous one ended (a sequential
//     stream) also request the bytes after it: a window that starts at
//     raMin and doubles with every sequential read up to raMax. The window
//     is refilled when half of it has been consumed, and reaches across
//     inner nodes (the next inner node is requested first, its leaves on a
//     later read once it has arrived).
//   - Listing a directory requests its entries' blocks dirAhead at a time
//     (bounded by dirAheadBytes of link sizes); a HAMT's shards are
//     requested together, level by level.
var (
	raMin         uint64 = 1 << 20
	raMax         uint64 = 32 << 20
	dirAhead             = 256
	dirAheadBytes uint64 = 32 << 20
)

// readAhead requests the blocks of [off, off+n) and, for a sequential
// stream, of the window after it. f.mu is held.
func (f *file) readAhead(off, n uint64) {
	size := f.root.size
	seq := off == f.raEnd
	f.raEnd = off + n
	if seq {
		f.raWin = min(max(2*f.raWin, raMin), raMax)
	} else {
		f.raWin, f.raDone = 0, 0
	}
	need := off + n
	hi := min(size, need+f.raWin)
	lo := off
	if seq && f.raDone > lo {
		if f.raDone >= min(size, need+f.raWin/2) {
			return // at least half the window is requested already
		}
		lo = f.raDone
	}
	if lo >= hi {
		return
	}
	var cs []cid.Cid
	f.raDone = f.walkAhead(f.root, 0, f.depth, lo, hi, need, &cs)
	if len(cs) > 0 {
		f.pf.prefetch(f.fsys.ctx, cs)
	}
}

// walkAhead appends to cs the children of n (which holds the file bytes
// from base) that overlap [lo, hi), going down into inner nodes: those
// under the bytes being read (below need) are fetched if missing, those
// beyond only if held locally; the others are requested and their leaves
// left for a later call. It returns the offset up to which every block was
// requested. Errors stop the walk: the read itself reports them.
func (f *file) walkAhead(n *dagNode, base uint64, depth int, lo, hi, need uint64, cs *[]cid.Cid) uint64 {
	if depth > MaxDepth || len(n.links) != len(n.sizes) {
		return lo
	}
	complete := hi
	cb := base + uint64(len(n.data))
	for i, l := range n.links {
		ce := cb + n.sizes[i]
		start := cb
		cb = ce
		if ce <= lo {
			continue
		}
		if start >= hi {
			break
		}
		if l.c.Equals(n.c) {
			return min(complete, start)
		}
		if l.c.Prefix().Codec == rawCodec || n.sizes[i] <= uint64(maxChunkSize) {
			*cs = append(*cs, l.c) // a leaf (or a node over one leaf's bytes)
			continue
		}
		child, ok := f.inner[l.c]
		if !ok && (start < need || f.pf.haveLocal(l.c)) {
			c, err := f.innerNode(l.c)
			if err != nil {
				return min(complete, start)
			}
			child, ok = c, true
		}
		if !ok {
			*cs = append(*cs, l.c)
			complete = min(complete, start)
			continue
		}
		if child.kind != kindFile || child.size != n.sizes[i] {
			return min(complete, start)
		}
		complete = min(complete, f.walkAhead(child, start, depth+1, lo, hi, need, cs))
	}
	return complete
}

// dirPrefetch requests a directory's entries ahead of a listing.
type dirPrefetch struct {
	pf   prefetcher
	next int // first link not yet requested
}

// at requests links from i on when fewer than half a window is requested.
func (d *dirPrefetch) at(f *unixFS, links []dagLink, i int) {
	if d.pf == nil || d.next >= len(links) || d.next-i >= dirAhead/2 {
		return
	}
	start := max(d.next, i)
	var cs []cid.Cid
	var bytes uint64
	j := start
	for ; j < len(links) && j-i < dirAhead && (bytes < dirAheadBytes || j == start); j++ {
		cs = append(cs, links[j].c)
		bytes += links[j].tsize
	}
	d.next = j
	d.pf.prefetch(f.ctx, cs)
}
