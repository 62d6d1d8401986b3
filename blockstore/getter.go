package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

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
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.Prefix().MhType != 0 {
		if l, ok, err := g.locatePacked(c); err != nil {
			return nil, err
		} else if ok {
			buf := make([]byte, l.n)
			if _, err := g.s.readPacked(c, l, buf, 0); err != nil {
				return nil, fmt.Errorf("blockstore: get %s: %w", c, err)
			}
			return blocks.NewBlockWithCid(buf, c)
		}
	}
	var b blocks.Block
	err := g.viewBlock(ctx, c, func(data []byte) error {
		var err error
		b, err = blocks.NewBlockWithCid(append([]byte(nil), data...), c)
		return err
	})
	return b, err
}

// locatePacked finds c in the pack index. Raw blocks are looked for there
// first; other codecs only after pebble missed (lookupPebble), as keys are
// multihashes and any CID of a packed block's multihash names it.
func (g localGetter) locatePacked(c cid.Cid) (packLoc, bool, error) {
	if c.Type() != rawCodec {
		return packLoc{}, false, nil
	}
	l, ok, err := g.s.locate(c.Hash())
	if err != nil {
		return packLoc{}, false, fmt.Errorf("blockstore: get %s: %w", c, err)
	}
	return l, ok, nil
}

var viewBufs = sync.Pool{New: func() any { return new([]byte) }}

func (g localGetter) viewBlock(ctx context.Context, c cid.Cid, fn func([]byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.Prefix().MhType == 0 { // identity: the data is the hash digest
		return viewIdentity(c, fn)
	}
	if isEmptyBlock(c) {
		return fn(nil)
	}
	l, ok, err := g.locatePacked(c)
	if err != nil {
		return err
	}
	if !ok {
		v, closer, err := g.s.db.Get(blockKey(c))
		if err == nil {
			defer closer.Close()
			return fn(v)
		}
		if !errors.Is(err, pebble.ErrNotFound) || c.Type() == rawCodec {
			return fmt.Errorf("blockstore: get %s: %w", c, mapErr(err))
		}
		if l, ok, err = g.s.locate(c.Hash()); err != nil {
			return fmt.Errorf("blockstore: get %s: %w", c, err)
		} else if !ok {
			return fmt.Errorf("blockstore: get %s: %w", c, ErrNotFound)
		}
	}
	bp := viewBufs.Get().(*[]byte)
	defer viewBufs.Put(bp)
	if int64(cap(*bp)) < l.n {
		*bp = make([]byte, l.n)
	}
	buf := (*bp)[:l.n]
	if _, err := g.s.readPacked(c, l, buf, 0); err != nil {
		return fmt.Errorf("blockstore: get %s: %w", c, err)
	}
	return fn(buf)
}

// emptySHA256 is the multihash of no bytes: every empty file added with raw leaves is
// this one block.
var emptySHA256, _ = mh.Sum(nil, mh.SHA2_256, -1)

// isEmptyBlock reports whether c names the empty block (sha2-256 of nothing, any
// codec). Every store holds it implicitly, as it holds identity blocks: its bytes are
// known, and a want for it over bitswap was seen never to complete
// (TestBitswapEmptyBlock), which hung every fetch of a result with an empty stderr.
func isEmptyBlock(c cid.Cid) bool { return bytes.Equal(c.Hash(), emptySHA256) }

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
	if isEmptyBlock(c) {
		return 0, nil
	}
	if l, ok, err := g.locatePacked(c); err != nil {
		return 0, err
	} else if ok {
		return int(l.n), nil
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
		if c.Type() != rawCodec {
			if l, ok, err := g.s.locate(c.Hash()); err != nil {
				return 0, fmt.Errorf("blockstore: size %s: %w", c, err)
			} else if ok {
				return int(l.n), nil
			}
		}
		return 0, fmt.Errorf("blockstore: size %s: %w", c, ErrNotFound)
	}
	lv := it.LazyValue()
	return lv.Len(), nil
}

// BlockReaderAt is an optional interface of a BlockGetter that reads part
// of a block straight into the caller's buffer, without fetching the whole
// block. The local store's getter implements it; NewFS uses it (for a
// trusted getter) so that file reads become preads into the reader's
// buffer.
type BlockReaderAt interface {
	// ReadBlockAt reads len(p) bytes of block c starting at byte off of the
	// block, with io.ReaderAt's contract: n < len(p) only with an error,
	// io.EOF when the block ends first.
	ReadBlockAt(ctx context.Context, c cid.Cid, p []byte, off int64) (n int, err error)
}

// sizedReaderAt is BlockReaderAt that also returns the block's size, so
// NewFS can check blocksizes without another lookup.
type sizedReaderAt interface {
	readBlockAt(ctx context.Context, c cid.Cid, p []byte, off int64) (n int, size int64, err error)
}

var (
	_ BlockReaderAt = localGetter{}
	_ sizedReaderAt = localGetter{}
)

// ReadBlockAt implements BlockReaderAt. A packed block is read with one
// pread into p; a block kept in pebble is copied from its value.
func (g localGetter) ReadBlockAt(ctx context.Context, c cid.Cid, p []byte, off int64) (int, error) {
	n, _, err := g.readBlockAt(ctx, c, p, off)
	return n, err
}

func (g localGetter) readBlockAt(ctx context.Context, c cid.Cid, p []byte, off int64) (int, int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if off < 0 {
		return 0, 0, fmt.Errorf("blockstore: read %s: negative offset", c)
	}
	if c.Prefix().MhType != 0 {
		l, ok, err := g.locatePacked(c)
		if err != nil {
			return 0, 0, err
		}
		if ok {
			if off >= l.n {
				return 0, l.n, io.EOF
			}
			want := p
			if rest := l.n - off; int64(len(want)) > rest {
				want = want[:rest]
			}
			n, err := g.s.readPacked(c, l, want, off)
			if err != nil {
				return n, l.n, fmt.Errorf("blockstore: read %s: %w", c, err)
			}
			if n < len(p) {
				return n, l.n, io.EOF
			}
			return n, l.n, nil
		}
	}
	var n int
	var size int64
	err := g.viewBlock(ctx, c, func(data []byte) error {
		size = int64(len(data))
		if off < size {
			n = copy(p, data[off:])
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if n < len(p) {
		return n, size, io.EOF
	}
	return n, size, nil
}
