package blockstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// bsView is the boxo blockstore.Blockstore that bitswap serves from: it sees
// blocks in pebble and in pack files, and blocks fetched from peers that the
// storer has not made durable yet. Writes go through the store's durable
// write path (verified, packed when large).
type bsView struct {
	s  *Store
	st *storer // may be nil
}

var _ bstore.Blockstore = bsView{}

func notFound(c cid.Cid) error { return ipld.ErrNotFound{Cid: c} }

// Has implements bstore.Blockstore.
func (v bsView) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if c.Prefix().MhType == mh.IDENTITY {
		return true, nil
	}
	if v.st != nil && v.st.pendingHas(c) {
		return true, nil
	}
	return v.s.Has(ctx, c)
}

// Get implements bstore.Blockstore.
func (v bsView) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if v.st != nil {
		if b, ok := v.st.pendingGet(c); ok {
			return b, nil
		}
	}
	b, err := localGetter{v.s}.GetBlock(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound(c)
	}
	return b, err
}

// GetSize implements bstore.Blockstore.
func (v bsView) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if c.Prefix().MhType == mh.IDENTITY {
		dec, err := mh.Decode(c.Hash())
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrBadBlock, c, err)
		}
		return len(dec.Digest), nil
	}
	if v.st != nil {
		if b, ok := v.st.pendingGet(c); ok {
			return len(b.RawData()), nil
		}
	}
	n, err := localGetter{v.s}.blockSize(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return 0, notFound(c)
	}
	if err == nil && n == 0 {
		// boxo's bitswap server takes a size of 0 for "not held" (its
		// blockstoreManager.getBlockSizes drops zeros), so a peer's want for the
		// empty block was never answered: kubo's `ipfs get` of any result with an
		// empty stderr hung. The size only schedules the send; Get returns the
		// empty block itself.
		return 1, nil
	}
	return n, err
}

// Put implements bstore.Blockstore: the block is verified and durable when
// it returns.
func (v bsView) Put(ctx context.Context, b blocks.Block) error { return v.s.Put(ctx, b) }

// PutMany implements bstore.Blockstore: every block is verified, and all of
// them are durable when it returns (one sync).
func (v bsView) PutMany(ctx context.Context, bs []blocks.Block) error {
	w := v.s.newWriter(ctx)
	for _, b := range bs {
		if err := ctx.Err(); err != nil {
			w.abort()
			return err
		}
		if err := verifyBlock(b.Cid(), b.RawData()); err != nil {
			w.abort()
			return err
		}
		if err := w.put(b.Cid(), b.RawData()); err != nil {
			w.abort()
			return err
		}
	}
	return w.done()
}

// errNoDelete: blocks are deleted only by GC, never one by one.
var errNoDelete = errors.New("blockstore: deleting blocks is not supported")

// DeleteBlock implements bstore.Blockstore. Bitswap never deletes; blocks
// go only through the store's GC (they may be shared), so this always
// fails.
func (v bsView) DeleteBlock(context.Context, cid.Cid) error { return errNoDelete }

// AllKeysChan implements bstore.Blockstore: every block in pebble and in the
// packs, as CIDv1 raw of its multihash (keys do not keep the codec). A
// multihash stored in both places is listed twice. Drain the channel or
// cancel ctx before closing the store.
func (v bsView) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) {
	it, err := v.s.db.NewIterWithContext(ctx, &pebble.IterOptions{})
	if err != nil {
		return nil, fmt.Errorf("blockstore: keys: %w", mapErr(err))
	}
	out := make(chan cid.Cid, 64)
	blockPrefix := []byte(bstore.BlockPrefix.String() + "/")
	go func() {
		defer close(out)
		defer it.Close()
		for _, prefix := range [][]byte{blockPrefix, packKeyPrefix} {
			for ok := it.SeekGE(prefix); ok; ok = it.Next() {
				k := it.Key()
				if len(k) < len(prefix) || string(k[:len(prefix)]) != string(prefix) {
					break
				}
				var h mh.Multihash
				if string(prefix) == string(packKeyPrefix) {
					h = append(mh.Multihash(nil), k[len(prefix):]...)
				} else {
					var err error
					if h, err = dshelp.DsKeyToMultihash(ds.RawKey("/" + string(k[len(prefix):]))); err != nil {
						continue
					}
				}
				select {
				case out <- cid.NewCidV1(cid.Raw, h):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
