package blockstore

import (
	"context"
	"io"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// FileCID returns the entry AddFile would return for r's bytes, storing nothing: a
// client can ask a node whether it holds a file before uploading it.
func FileCID(ctx context.Context, r io.Reader, opts AddOptions) (Entry, error) {
	return buildFile(ctx, discardDAG{}, r, opts)
}

// discardDAG accepts nodes and keeps none; the balanced importer never reads back.
type discardDAG struct{}

func (discardDAG) Add(context.Context, ipld.Node) error            { return nil }
func (discardDAG) AddMany(context.Context, []ipld.Node) error      { return nil }
func (discardDAG) Remove(context.Context, cid.Cid) error           { return nil }
func (discardDAG) RemoveMany(context.Context, []cid.Cid) error     { return nil }
func (discardDAG) Get(context.Context, cid.Cid) (ipld.Node, error) { return nil, ipld.ErrNotFound{} }
func (discardDAG) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption)
	close(ch)
	return ch
}
