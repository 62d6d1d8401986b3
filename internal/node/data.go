package node

import (
	"context"
	"io"
	"io/fs"

	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
)

// ReadFile reads a whole UnixFS file from the node's store.
func (n *Node) ReadFile(ctx context.Context, c cid.Cid) ([]byte, error) {
	fsys, err := blockstore.NewFS(ctx, n.blocks.Blocks(), c)
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
