package blockstore

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// An empty file is one empty raw block: it must cross bitswap like any other.
func TestBitswapEmptyBlock(t *testing.T) {
	a, b := newBSPeer(t, nil), newBSPeer(t, nil)
	connect(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := a.s.AddFile(ctx, bytes.NewReader(nil), AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := a.s.Has(ctx, e.CID); !ok || err != nil {
		t.Fatalf("the adder does not hold its empty block %s: %v %v", e.CID, ok, err)
	}
	blk, err := b.ex.Getter().GetBlock(ctx, e.CID)
	if err != nil {
		t.Fatalf("fetching the empty block %s: %v", e.CID, err)
	}
	if len(blk.RawData()) != 0 || blk.Cid() != e.CID {
		t.Fatalf("got %d bytes as %s", len(blk.RawData()), blk.Cid())
	}
}

// A peer's bitswap client asking this store's bitswap server for the empty block gets
// it: kubo asks for it whenever it fetches a result with an empty stderr. The want goes
// to the network (boxo's client, not our getter, which knows the block by its hash).
func TestBitswapServesEmptyBlock(t *testing.T) {
	a, b := newBSPeer(t, nil), newBSPeer(t, nil)
	connect(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := a.s.AddFile(ctx, bytes.NewReader(nil), AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	blk, err := b.ex.bs.GetBlock(ctx, e.CID)
	if err != nil {
		t.Fatalf("a peer asking for the empty block %s over bitswap: %v", e.CID, err)
	}
	if len(blk.RawData()) != 0 || blk.Cid() != e.CID {
		t.Fatalf("got %d bytes as %s", len(blk.RawData()), blk.Cid())
	}
}
