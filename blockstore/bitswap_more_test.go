package blockstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p"
	mh "github.com/multiformats/go-multihash"
)

// leafPattern yields n bytes in which every 256 KiB chunk is distinct (a
// counter at its start, zeros after): cheap to make, no two leaves alike.
type leafPattern struct{ off, n int64 }

func (p *leafPattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rest := p.n - p.off; int64(len(b)) > rest {
		b = b[:rest]
	}
	clear(b)
	// Write the 8-byte counter of every chunk start in b, even a partial one.
	first := p.off / defaultChunkSize
	last := (p.off + int64(len(b)) - 1) / defaultChunkSize
	for k := first; k <= last; k++ {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], uint64(k)+1)
		for j := int64(0); j < 8; j++ {
			if i := k*defaultChunkSize + j - p.off; i >= 0 && i < int64(len(b)) {
				b[i] = c[j]
			}
		}
	}
	p.off += int64(len(b))
	return len(b), nil
}

// eventually polls cond (without sleeping) until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// Reading 1 MiB at a random offset of a remote 1 GiB file moves the leaves
// under that range and the inner nodes on the way, not the file.
func TestBitswapLazyReadAt(t *testing.T) {
	ctx := context.Background()
	a, b := newBSPeer(t, nil), newBSPeer(t, nil)
	connect(t, b, a)
	size := int64(1 << 30)
	if testing.Short() {
		size = 128 << 20
	}
	e, err := a.s.AddFile(ctx, &leafPattern{n: size}, ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := NewFS(ctx, b.ex.Getter(), e.CID)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open(e.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewSource(1))
	off := rng.Int63n(size - 1<<20)
	got := make([]byte, 1<<20)
	if _, err := f.(io.ReaderAt).ReadAt(got, off); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 1<<20)
	p := &leafPattern{off: off, n: size}
	if _, err := io.ReadFull(p, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
	st, err := b.ex.Stat()
	if err != nil {
		t.Fatal(err)
	}
	// The bound: a 1 MiB read moves at most 2 MiB (5 leaves and 2 inner nodes
	// when no want is re-sent; a loaded machine may see a leaf twice).
	if st.DataReceived > 2<<20 || st.DataReceived < 1<<20 {
		t.Fatalf("moved %d bytes in %d blocks for a 1 MiB read", st.DataReceived, st.BlocksReceived)
	}
	t.Logf("1 MiB at %d of %d: %d bytes in %d blocks", off, size, st.DataReceived, st.BlocksReceived)
}

// liarStore answers every request with bytes that do not match the CID.
type liarStore struct{ bsView }

func (liarStore) Has(context.Context, cid.Cid) (bool, error) { return true, nil }
func (liarStore) GetSize(context.Context, cid.Cid) (int, error) {
	return 4096, nil
}
func (liarStore) Get(_ context.Context, c cid.Cid) (blocks.Block, error) {
	return blocks.NewBlockWithCid(bytes.Repeat([]byte("lie!"), 1024), c)
}

// A peer that serves blocks that do not match their CIDs: nothing it sends
// is accepted or stored, and the honest peer's blocks are.
func TestBitswapRejectsBadBlocks(t *testing.T) {
	ctx := context.Background()
	a, b := newBSPeer(t, nil), newBSPeer(t, nil)
	lh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer lh.Close()
	liar := bitswap.New(ctx, bsnet.NewFromIpfsHost(lh), nil, liarStore{bsView{s: openTemp(t)}})
	defer liar.Close()
	connect(t, b, &bsPeer{h: lh})

	data := genBytes("liar", 3<<20)
	e, err := a.s.AddFile(ctx, bytes.NewReader(data), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	// Only the liar is connected: the fetch does not complete.
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = b.ex.Getter().GetBlock(tctx, e.CID)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch from the liar: %v, want a timeout", err)
	}
	st, _ := b.ex.Stat()
	if st.BlocksReceived == 0 {
		t.Fatal("the liar sent nothing: the test proves nothing")
	}
	if ok, _ := b.s.Has(ctx, e.CID); ok {
		t.Fatal("a bad block was stored")
	}
	// With the honest peer connected too, the right bytes arrive.
	connect(t, b, a)
	fsys, err := NewFS(ctx, b.ex.Getter(), e.CID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs.ReadFile(fsys, e.CID.String())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	// A CID whose hash function verifcid does not allow (MD5) is
	// refused before anything is asked.
	weak, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.MD5, MhLength: -1}.Sum([]byte("x"))
	if _, err := b.ex.Getter().GetBlock(ctx, weak); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("md5 CID: %v, want ErrBadBlock", err)
	}
}

// Cancelling the context stops a fetch: GetBlock and reads return, and the
// want leaves the wantlist.
func TestBitswapCancel(t *testing.T) {
	ctx := context.Background()
	a, b := newBSPeer(t, nil), newBSPeer(t, nil)
	connect(t, b, a)
	missing, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("nobody has this"))
	g := b.ex.Getter().(*netGetter)
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := g.GetBlock(cctx, missing)
		errc <- err
	}()
	eventually(t, "the want", func() bool {
		for _, c := range b.ex.bs.GetWantlist() {
			if c == missing {
				return true
			}
		}
		return false
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("GetBlock: %v, want context.Canceled", err)
	}
	eventually(t, "the want to be cancelled", func() bool { return len(b.ex.bs.GetWantlist()) == 0 })

	// A read through an FS whose context is cancelled fails with it.
	e, err := a.s.AddFile(ctx, bytes.NewReader(genBytes("cancel", 2<<20)), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(ctx)
	fsys, err := NewFS(fctx, b.ex.Getter(), e.CID)
	if err != nil {
		t.Fatal(err)
	}
	fcancel()
	if _, err := fs.ReadFile(fsys, e.CID.String()); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
	// After Close, fetches fail at once.
	b.ex.Close()
	if _, err := g.GetBlock(ctx, missing); !errors.Is(err, ErrExchangeClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// A node that is connected to nobody finds the provider of a root through
// the content router, and fetches the DAG from it.
func TestBitswapProvide(t *testing.T) {
	ctx := context.Background()
	r := newMemRouter()
	a, c := newBSPeer(t, r), newBSPeer(t, r)
	e, err := a.s.AddPath(ctx, treeDir(t), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ex.Provide(ctx, e.CID); err != nil {
		t.Fatal(err)
	}
	fsys, err := NewFS(ctx, c.ex.Getter(), e.CID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReadFile(fsys, "sub/deeper/c.txt"); err != nil {
		t.Fatal(err)
	}
	if len(c.h.Network().Peers()) == 0 {
		t.Fatal("not connected to the provider")
	}
}

// The boxo view sees packed and pebble blocks and lists both.
func TestBitswapView(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	e, err := s.AddFile(ctx, bytes.NewReader(genBytes("view", 1<<20)), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	small, err := s.AddFile(ctx, bytes.NewReader([]byte("small")), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	v := bsView{s: s}
	fsys, _ := NewFS(ctx, s.Blocks(), e.CID)
	f, _ := fsys.Open(e.CID.String())
	defer f.Close()
	root, err := f.(*file).innerNode(e.CID)
	if err != nil {
		t.Fatal(err)
	}
	leaf := root.links[0].c // packed
	for _, c := range []cid.Cid{e.CID, leaf, small.CID} {
		b, err := v.Get(ctx, c)
		if err != nil || verifyBlock(c, b.RawData()) != nil {
			t.Fatalf("Get %s: %v", c, err)
		}
		n, err := v.GetSize(ctx, c)
		if err != nil || n != len(b.RawData()) {
			t.Fatalf("GetSize %s: %d, %v", c, n, err)
		}
		if ok, err := v.Has(ctx, c); !ok || err != nil {
			t.Fatalf("Has %s: %v", c, err)
		}
	}
	missing, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("missing"))
	if _, err := v.Get(ctx, missing); !isNotFoundIPLD(err) {
		t.Fatalf("Get missing: %v", err)
	}
	if _, err := v.GetSize(ctx, missing); !isNotFoundIPLD(err) {
		t.Fatalf("GetSize missing: %v", err)
	}
	keys, err := v.AllKeysChan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for k := range keys {
		seen[string(k.Hash())] = true
	}
	for _, c := range []cid.Cid{e.CID, leaf, small.CID} {
		if !seen[string(c.Hash())] {
			t.Errorf("AllKeysChan misses %s", c)
		}
	}
	if len(seen) != 1+len(root.links)+1 {
		t.Errorf("AllKeysChan: %d keys, want %d", len(seen), len(root.links)+2)
	}
}

func isNotFoundIPLD(err error) bool { return ipld.IsNotFound(err) }
