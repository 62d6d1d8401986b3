package blockstore

import (
	"context"
	"fmt"
	"math"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	upb "github.com/ipfs/boxo/ipld/unixfs/pb"
	"github.com/ipfs/go-cid"
)

// MaxDepth caps how deep NewFS, ExportTar and ExportCAR follow a DAG:
// directory nesting plus file tree levels plus HAMT levels on the way. A
// balanced file of 174 links per node needs 8 levels for 2^60 bytes, so only
// hostile or broken DAGs reach it; the cap also ends link cycles that an
// unverifying getter could present.
const MaxDepth = 1024

type nodeKind int

const (
	kindFile    nodeKind = iota // raw leaf, or dag-pb UnixFS File / Raw
	kindDir                     // UnixFS Directory
	kindHAMT                    // UnixFS HAMTShard
	kindSymlink                 // UnixFS Symlink (listed, not followed)
)

type dagLink struct {
	name  string
	c     cid.Cid
	tsize uint64
}

// dagNode is a decoded, shape-checked UnixFS node.
type dagNode struct {
	c      cid.Cid
	kind   nodeKind
	data   []byte    // file bytes held by this node itself
	links  []dagLink // children (file parts, entries or shards)
	sizes  []uint64  // file: bytes under each link
	size   uint64    // file: total bytes under this node
	fanout int       // HAMT
	raw    int       // encoded block size
}

// decodeDAGNode decodes a block of codec raw or dag-pb as UnixFS and checks
// what can be checked locally.
func decodeDAGNode(c cid.Cid, block []byte) (*dagNode, error) {
	switch c.Type() {
	case cid.Raw:
		return &dagNode{c: c, kind: kindFile, data: block, size: uint64(len(block)), raw: len(block)}, nil
	case cid.DagProtobuf:
	default:
		return nil, fmt.Errorf("%w: %s: codec %#x is not UnixFS", ErrBadDAG, c, c.Type())
	}
	pn, err := merkledag.DecodeProtobuf(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadDAG, c, err)
	}
	fsn, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadDAG, c, err)
	}
	n := &dagNode{c: c, raw: len(block), links: make([]dagLink, len(pn.Links()))}
	for i, l := range pn.Links() {
		n.links[i] = dagLink{name: l.Name, c: l.Cid, tsize: l.Size}
	}
	switch fsn.Type() {
	case upb.Data_File, upb.Data_Raw:
		n.kind = kindFile
		n.data = fsn.Data()
		n.sizes = fsn.BlockSizes()
		if len(n.sizes) != len(n.links) {
			return nil, fmt.Errorf("%w: %s: %d blocksizes for %d links", ErrBadDAG, c, len(n.sizes), len(n.links))
		}
		total := uint64(len(n.data))
		for _, s := range n.sizes {
			if s > math.MaxInt64-total {
				return nil, fmt.Errorf("%w: %s: blocksizes overflow", ErrBadDAG, c)
			}
			total += s
		}
		if fs := fsn.FileSize(); fs != total {
			return nil, fmt.Errorf("%w: %s: filesize %d, blocks hold %d", ErrBadDAG, c, fs, total)
		}
		n.size = total
	case upb.Data_Directory:
		n.kind = kindDir
	case upb.Data_HAMTShard:
		n.kind = kindHAMT
		f := fsn.Fanout()
		if fsn.HashType() != hamtMurmur3 || f < 2 || f > 1024 || f&(f-1) != 0 {
			return nil, fmt.Errorf("%w: %s: HAMT fanout %d hash %#x", ErrBadDAG, c, f, fsn.HashType())
		}
		n.fanout = int(f)
	case upb.Data_Symlink:
		n.kind = kindSymlink
		n.data = fsn.Data()
		n.size = uint64(len(n.data))
	default:
		return nil, fmt.Errorf("%w: %s: UnixFS type %v", ErrBadDAG, c, fsn.Type())
	}
	return n, nil
}

// loadNode fetches and decodes one node. The block is copied, so the node
// may be kept.
func (f *unixFS) loadNode(ctx context.Context, c cid.Cid) (*dagNode, error) {
	if !c.Defined() {
		return nil, fmt.Errorf("%w: undefined CID", ErrBadDAG)
	}
	var n *dagNode
	err := fetch(ctx, f.g, f.trusted, c, func(data []byte) error {
		var err error
		n, err = decodeDAGNode(c, append([]byte(nil), data...))
		return err
	})
	return n, err
}
