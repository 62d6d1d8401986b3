package blockstore

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/bits"
	"strconv"

	"github.com/ipfs/go-cid"
	"github.com/spaolacci/murmur3"
)

// hamtMurmur3 is the multicodec of the only HAMT hash UnixFS uses: the
// first 64 bits of murmur3-x64-128, big-endian.
const hamtMurmur3 = 0x22

// rawCodec is the multicodec of raw leaves.
const rawCodec = 0x55

// hamtShape returns how many hex digits prefix link names and how many hash
// bits each level consumes.
func hamtShape(fanout int) (padLen, bitsPer int) {
	return len(strconv.FormatInt(int64(fanout-1), 16)), bits.TrailingZeros(uint(fanout))
}

// hamtLookup finds name in a HAMT directory by following its hash.
func (f *unixFS) hamtLookup(n *dagNode, name string, depth int) (dagLink, int, error) {
	var hb [8]byte
	binary.BigEndian.PutUint64(hb[:], murmur3.Sum64([]byte(name)))
	h := binary.BigEndian.Uint64(hb[:])
	consumed := 0
	for {
		padLen, bitsPer := hamtShape(n.fanout)
		if consumed+bitsPer > 64 {
			return dagLink{}, 0, fmt.Errorf("%w: %s: HAMT deeper than its hash", ErrBadDAG, n.c)
		}
		idx := (h << consumed) >> (64 - bitsPer)
		consumed += bitsPer
		prefix := fmt.Sprintf("%0*X", padLen, idx)
		var next *dagLink
		for i := range n.links {
			l := &n.links[i]
			if len(l.name) < padLen || l.name[:padLen] != prefix {
				continue
			}
			if len(l.name) > padLen {
				if l.name[padLen:] == name {
					if p := nameProblem(name); p != "" {
						return dagLink{}, 0, fmt.Errorf("%w: %s: entry %s", ErrBadDAG, n.c, p)
					}
					return dagLink{name: name, c: l.c, tsize: l.tsize}, depth, nil
				}
				continue
			}
			next = l
			break
		}
		if next == nil {
			return dagLink{}, 0, fs.ErrNotExist
		}
		depth++
		if depth > MaxDepth {
			return dagLink{}, 0, fmt.Errorf("%w: deeper than %d", ErrBadDAG, MaxDepth)
		}
		child, err := f.loadNode(f.ctx, next.c)
		if err != nil {
			return dagLink{}, 0, err
		}
		if child.kind != kindHAMT {
			return dagLink{}, 0, fmt.Errorf("%w: %s: HAMT shard link to a non-shard", ErrBadDAG, n.c)
		}
		n = child
	}
}

// hamtEntries appends every entry of the HAMT under n to out.
func (f *unixFS) hamtEntries(n *dagNode, depth, consumed int, out *[]dagLink) error {
	padLen, bitsPer := hamtShape(n.fanout)
	if consumed+bitsPer > 64 {
		return fmt.Errorf("%w: %s: HAMT deeper than its hash", ErrBadDAG, n.c)
	}
	if depth > MaxDepth {
		return fmt.Errorf("%w: deeper than %d", ErrBadDAG, MaxDepth)
	}
	if pf, ok := f.g.(prefetcher); ok {
		var shards []cid.Cid
		for _, l := range n.links {
			if len(l.name) == padLen {
				shards = append(shards, l.c)
			}
		}
		if len(shards) > 0 {
			pf.prefetch(f.ctx, shards)
		}
	}
	for _, l := range n.links {
		if len(l.name) < padLen {
			return fmt.Errorf("%w: %s: HAMT link name %q", ErrBadDAG, n.c, l.name)
		}
		if _, err := strconv.ParseUint(l.name[:padLen], 16, 32); err != nil {
			return fmt.Errorf("%w: %s: HAMT link name %q", ErrBadDAG, n.c, l.name)
		}
		if len(l.name) > padLen {
			*out = append(*out, dagLink{name: l.name[padLen:], c: l.c, tsize: l.tsize})
			continue
		}
		if l.c.Equals(n.c) {
			return fmt.Errorf("%w: %s links to itself", ErrBadDAG, n.c)
		}
		child, err := f.loadNode(f.ctx, l.c)
		if err != nil {
			return err
		}
		if child.kind != kindHAMT {
			return fmt.Errorf("%w: %s: HAMT shard link to a non-shard", ErrBadDAG, n.c)
		}
		if err := f.hamtEntries(child, depth+1, consumed+bitsPer, out); err != nil {
			return err
		}
	}
	return nil
}
