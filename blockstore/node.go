package blockstore

import (
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// decodeNode turns a stored block into boxo's node types (raw or dag-pb).
func decodeNode(c cid.Cid, data []byte) (ipld.Node, error) {
	b, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		return nil, err
	}
	switch c.Type() {
	case cid.Raw:
		return merkledag.DecodeRawBlock(b)
	case cid.DagProtobuf:
		return merkledag.DecodeProtobufBlock(b)
	default:
		return nil, fmt.Errorf("%w: %s: codec %#x is not UnixFS", ErrBadDAG, c, c.Type())
	}
}

// linkNode stands for a node known only by CID and cumulative size: enough
// for boxo's directory code to make a link to it.
type linkNode struct {
	c     cid.Cid
	tsize uint64
}

var _ ipld.Node = (*linkNode)(nil)

func (n *linkNode) Cid() cid.Cid                  { return n.c }
func (n *linkNode) Size() (uint64, error)         { return n.tsize, nil }
func (n *linkNode) RawData() []byte               { return nil }
func (n *linkNode) String() string                { return n.c.String() }
func (n *linkNode) Loggable() map[string]any      { return map[string]any{"cid": n.c} }
func (n *linkNode) Links() []*ipld.Link           { return nil }
func (n *linkNode) Tree(string, int) []string     { return nil }
func (n *linkNode) Copy() ipld.Node               { c := *n; return &c }
func (n *linkNode) Stat() (*ipld.NodeStat, error) { return &ipld.NodeStat{Hash: n.c.String()}, nil }
func (n *linkNode) Resolve([]string) (any, []string, error) {
	return nil, nil, fmt.Errorf("blockstore: link node %s cannot resolve", n.c)
}
func (n *linkNode) ResolveLink([]string) (*ipld.Link, []string, error) {
	return nil, nil, fmt.Errorf("blockstore: link node %s cannot resolve", n.c)
}

// blockLinks returns the CIDs a raw or dag-pb block links to.
func blockLinks(c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Type() {
	case cid.Raw:
		return nil, nil
	case cid.DagProtobuf:
		pn, err := merkledag.DecodeProtobuf(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadDAG, c, err)
		}
		out := make([]cid.Cid, len(pn.Links()))
		for i, l := range pn.Links() {
			out[i] = l.Cid
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: %s: codec %#x is not supported", ErrBadDAG, c, c.Type())
	}
}
