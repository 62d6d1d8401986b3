package blockstore

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/boxo/verifcid"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	mh "github.com/multiformats/go-multihash"
)

// BlockGetter fetches one block by CID. The local store's getter reads from
// disk; the network layer passes one backed by bitswap.
type BlockGetter interface {
	GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error)
}

// TrustedGetter is an optional interface of a BlockGetter whose blocks were
// verified against their CIDs when they were stored or received. NewFS does
// not re-hash blocks from a getter whose TrustedBlocks returns true.
type TrustedGetter interface {
	TrustedBlocks() bool
}

// viewer is an optional interface of a BlockGetter that can lend a block's
// bytes without copying them; fn must not keep data after it returns.
type viewer interface {
	viewBlock(ctx context.Context, c cid.Cid, fn func(data []byte) error) error
}

// Blocks returns the local, trusted getter.
func (s *Store) Blocks() BlockGetter { return localGetter{s} }

type localGetter struct{ s *Store }

var (
	_ BlockGetter   = localGetter{}
	_ TrustedGetter = localGetter{}
	_ viewer        = localGetter{}
)

func (localGetter) TrustedBlocks() bool { return true }

func (g localGetter) GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	var b blocks.Block
	err := g.viewBlock(ctx, c, func(data []byte) error {
		var err error
		b, err = blocks.NewBlockWithCid(append([]byte(nil), data...), c)
		return err
	})
	return b, err
}

func (g localGetter) viewBlock(ctx context.Context, c cid.Cid, fn func([]byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.Prefix().MhType == 0 { // identity: the data is the hash digest
		return viewIdentity(c, fn)
	}
	v, closer, err := g.s.db.Get(blockKey(c))
	if err != nil {
		return fmt.Errorf("blockstore: get %s: %w", c, mapErr(err))
	}
	defer closer.Close()
	return fn(v)
}

func viewIdentity(c cid.Cid, fn func([]byte) error) error {
	dec, err := mh.Decode(c.Hash())
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadBlock, c, err)
	}
	return fn(dec.Digest)
}

func dshelpKey(c cid.Cid) ds.Key { return dshelp.MultihashToDsKey(c.Hash()) }

// verifyBlock checks that data hashes to c with an allowed hash function.
func verifyBlock(c cid.Cid, data []byte) error {
	if err := verifcid.ValidateCid(verifcid.DefaultAllowlist, c); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadBlock, c, err)
	}
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadBlock, c, err)
	}
	if !got.Equals(c) {
		return fmt.Errorf("%w: %s", ErrBadBlock, c)
	}
	return nil
}

// fetch gets a block through g, verifying it unless g is trusted, and hands
// its bytes to fn (which must not keep them unless the getter is not a
// viewer).
func fetch(ctx context.Context, g BlockGetter, trusted bool, c cid.Cid, fn func([]byte) error) error {
	if v, ok := g.(viewer); ok && trusted {
		return v.viewBlock(ctx, c, fn)
	}
	b, err := g.GetBlock(ctx, c)
	if err != nil {
		return fmt.Errorf("blockstore: get %s: %w", c, err)
	}
	if b == nil {
		return fmt.Errorf("blockstore: get %s: %w", c, ErrNotFound)
	}
	if !trusted {
		if err := verifyBlock(c, b.RawData()); err != nil {
			return err
		}
	}
	return fn(b.RawData())
}

// sizer is an optional interface of a BlockGetter that can tell a block's
// size without reading it.
type sizer interface {
	blockSize(ctx context.Context, c cid.Cid) (int, error)
}

var _ sizer = localGetter{}

func (g localGetter) blockSize(ctx context.Context, c cid.Cid) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	key := blockKey(c)
	it, err := g.s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: key, UpperBound: append(key, 0)})
	if err != nil {
		return 0, fmt.Errorf("blockstore: size %s: %w", c, mapErr(err))
	}
	defer it.Close()
	if !it.First() {
		if err := it.Error(); err != nil {
			return 0, fmt.Errorf("blockstore: size %s: %w", c, mapErr(err))
		}
		return 0, fmt.Errorf("blockstore: size %s: %w", c, ErrNotFound)
	}
	lv := it.LazyValue()
	return lv.Len(), nil
}
