package blockstore

import (
	"context"
	"io"

	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// FileCID returns the entry AddFile would return for r's bytes, storing nothing: a
// client can ask a node whether it holds a file before uploading it.
func FileCID(ctx context.Context, r io.Reader, opts AddOptions) (Entry, error) {
	prefix, err := opts.prefix()
	if err != nil {
		return Entry{}, err
	}
	size, err := opts.chunkSize()
	if err != nil {
		return Entry{}, err
	}
	cr := &countingReader{ctx: ctx, r: r}
	params := helpers.DagBuilderParams{
		Maxlinks:   linksPerNode,
		RawLeaves:  prefix.Version == 1,
		CidBuilder: prefix,
		Dagserv:    discardDAG{},
	}
	db, err := params.New(chunker.NewSizeSplitter(cr, int64(size)))
	if err != nil {
		return Entry{}, err
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		if cr.err != nil {
			err = cr.err
		}
		return Entry{}, err
	}
	return entryOf(nd, uint64(cr.n))
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
