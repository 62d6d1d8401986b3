package node

import (
	"context"
	"io"
	"io/fs"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
)

// ReadFile reads a whole UnixFS file from the node's store.
func (n *Node) ReadFile(ctx context.Context, c cid.Cid) ([]byte, error) {
	fsys, err := blockstore.NewFS(ctx, n.getter(), c)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(c.String()) // a file root is the one entry, named by its CID
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: c.String(), Err: fs.ErrInvalid}
	}
	b := make([]byte, 0, st.Size())
	buf := make([]byte, 256<<10)
	for {
		k, err := f.Read(buf)
		b = append(b, buf[:k]...)
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// getter reads blocks for one DAG read: from the store, and through bitswap for blocks
// the store lacks when the node is on a network.
func (n *Node) getter() blockstore.BlockGetter {
	if n.exchange() != nil {
		return n.exchange().Getter()
	}
	return n.blocks.Blocks()
}

// provide announces on the DHT, in the background, that this node holds the DAG at c.
func (n *Node) provide(c cid.Cid) {
	if n.exchange() == nil {
		return
	}
	n.goTrack(func() {
		ctx, cancel := context.WithTimeout(n.life.ctx, time.Minute)
		defer cancel()
		if err := n.exchange().Provide(ctx, c); err != nil && n.life.ctx.Err() == nil {
			n.cfg.Logger.Debug("provide", "cid", c, "err", err)
		}
	})
}

// DataFront is the node's blockstore as the API sees it: what it holds, plus, on a network,
// DAGs other nodes hold, fetched through bitswap when they are asked for.
type DataFront struct {
	*blockstore.Store
	n *Node
}

// DataFront returns the API's view of the node's blocks.
func (n *Node) DataFront() *DataFront { return &DataFront{Store: n.blocks, n: n} }

// Has reports whether the DAG root is here or, on a network, can be fetched from a peer
// within rootWait.
func (d *DataFront) Has(ctx context.Context, c cid.Cid) (bool, error) {
	ok, err := d.Store.Has(ctx, c)
	if ok || err != nil || d.n.exchange() == nil {
		return ok, err
	}
	return d.fetchRoot(ctx, c), nil
}

// HasLocal reports whether the node holds the root itself.
func (d *DataFront) HasLocal(ctx context.Context, c cid.Cid) (bool, error) {
	return d.Store.Has(ctx, c)
}

// rootWait bounds the wait for a peer to send the root of a DAG asked for.
const rootWait = 10 * time.Second

func (d *DataFront) fetchRoot(ctx context.Context, c cid.Cid) bool {
	ctx, cancel := context.WithTimeout(ctx, rootWait)
	defer cancel()
	_, err := d.n.exchange().Getter().GetBlock(ctx, c)
	return err == nil
}

// Fetch makes the DAG at root whole in the store, fetching what is missing from peers.
// A block that no peer sends within the stall timeout fails it with an error naming the
// block (blockstore.StallError, an ErrNotFound). The API calls it before it starts a
// download, so that such an error is a status code, not a download cut short.
func (d *DataFront) Fetch(ctx context.Context, root cid.Cid) error {
	if d.n.exchange() == nil {
		return nil
	}
	if err := d.n.exchange().FetchDAGWith(ctx, root, blockstore.FetchOptions{}); err != nil {
		return err
	}
	return d.n.exchange().Sync(ctx)
}
