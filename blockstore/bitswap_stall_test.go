package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
)

// newBSPeerWith is newBSPeer (no router) with exchange options.
func newBSPeerWith(t testing.TB, opts ExchangeOptions) *bsPeer {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	p := &bsPeer{s: s, h: h}
	if p.ex, err = s.StartBitswapWith(context.Background(), h, nil, opts); err != nil {
		h.Close()
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// dagBlocks builds a directory (a multi-leaf file and small files) in a scratch store
// and returns its root and every block, in export (depth-first) order.
func dagBlocks(t *testing.T, fileSize int, opts AddOptions) (cid.Cid, []blocks.Block) {
	t.Helper()
	ctx := context.Background()
	s := openTemp(t)
	b := s.NewDirBuilder(opts)
	big, err := s.AddFile(ctx, bytes.NewReader(genBytes("stall", fileSize)), opts)
	if err != nil {
		t.Fatal(err)
	}
	must(t, b.AddFile("big.bin", big))
	for i := range 3 {
		e, err := s.AddFile(ctx, bytes.NewReader([]byte(fmt.Sprintf("small %d", i))), opts)
		if err != nil {
			t.Fatal(err)
		}
		must(t, b.AddFile(fmt.Sprintf("d/small-%d", i), e))
	}
	root, err := b.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var car bytes.Buffer
	if err := s.ExportCAR(ctx, root.CID, &car); err != nil {
		t.Fatal(err)
	}
	_, m, order := carBlocks(t, car.Bytes())
	out := make([]blocks.Block, len(order))
	for i, c := range order {
		out[i], _ = blocks.NewBlockWithCid(m[c], c)
	}
	return root.CID, out
}

// A DAG with one block missing on its only holder: FetchDAG fails with a StallError
// naming that block and the root (wrapping ErrNotFound) once nothing has arrived for
// the stall timeout, long before the caller's deadline; so does a Getter's GetBlock.
func TestFetchDAGStallsOnMissingBlock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const stall = time.Second
	a, b := newBSPeer(t, nil), newBSPeerWith(t, ExchangeOptions{StallTimeout: stall})
	connect(t, b, a)
	root, blks := dagBlocks(t, 2<<20, ProfileV1)
	missing := blks[len(blks)/2] // a leaf of big.bin
	if missing.Cid().Type() != cid.Raw {
		t.Fatalf("block %d is %s, want a leaf", len(blks)/2, missing.Cid())
	}
	for _, blk := range blks {
		if blk.Cid() != missing.Cid() {
			must(t, a.s.Put(ctx, blk))
		}
	}

	var mu sync.Mutex
	var last FetchProgress
	err := b.ex.FetchDAGWith(ctx, root, FetchOptions{Progress: func(p FetchProgress) {
		mu.Lock()
		last = p
		mu.Unlock()
	}})
	var se *StallError
	if !errors.As(err, &se) || se.CID != missing.Cid() || se.Root != root || !errors.Is(err, ErrNotFound) {
		t.Fatalf("FetchDAG = %v; want a StallError for %s in %s wrapping ErrNotFound", err, missing.Cid(), root)
	}
	want := fmt.Sprintf("block %s (in DAG %s) not found on the network within 1s", missing.Cid(), root)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message %q, want it to say %q", err, want)
	}
	if ctx.Err() != nil {
		t.Fatal("the fetch ended with the caller's deadline, not the stall timeout")
	}
	mu.Lock()
	got := last
	mu.Unlock()
	if got.Blocks < uint64(len(blks)-1)/2 || got.Bytes == 0 || got.Peers != 1 || got.From != a.h.ID() {
		t.Errorf("progress %+v: want at least %d blocks, all from %s", got, (len(blks)-1)/2, a.h.ID())
	}
	// Everything but the missing block arrived.
	for _, blk := range blks {
		if ok := b.ex.haveLocal(blk.Cid()); ok == (blk.Cid() == missing.Cid()) {
			t.Errorf("block %s held: %v", blk.Cid(), ok)
		}
	}

	// A getter (what a job's FS reads through) stalls the same way.
	_, err = b.ex.Getter().GetBlock(ctx, missing.Cid())
	if !errors.As(err, &se) || se.CID != missing.Cid() || se.Root.Defined() || !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetBlock = %v; want a StallError for %s", err, missing.Cid())
	}
	if ctx.Err() != nil {
		t.Fatal("GetBlock ended with the caller's deadline, not the stall timeout")
	}
	// A negative stall timeout waits for the caller's context.
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if err := b.ex.FetchDAGWith(short, missing.Cid(), FetchOptions{StallTimeout: -1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("FetchDAG without a stall timeout: %v, want context.Canceled", err)
	}
}

// gatedStore serves a store's blocks through bitswap one at a time: each Get waits for
// a token, so the test sets the pace at which blocks leave the holder. It claims not
// to hold the block late until the test releases it.
type gatedStore struct {
	bsView
	gate     <-chan struct{}
	late     cid.Cid
	released *atomic.Bool
}

func (g gatedStore) hidden(c cid.Cid) bool { return c == g.late && !g.released.Load() }

func (g gatedStore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if g.hidden(c) {
		return false, nil
	}
	return g.bsView.Has(ctx, c)
}

func (g gatedStore) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if g.hidden(c) {
		return 0, notFound(c)
	}
	return g.bsView.GetSize(ctx, c)
}

func (g gatedStore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if g.hidden(c) {
		return nil, notFound(c)
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.bsView.Get(ctx, c)
}

// A fetch that keeps receiving blocks is not cut off by the stall timeout, however
// long it runs: the holder sends one block every stall/5, the DAG takes several stall
// timeouts, and the first leaf FetchDAG waits for comes last, after the other leaves
// (longer than the stall timeout): what arrives for the fetch's other wants counts.
func TestFetchDAGSlowButMovingIsNotCutOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const stall = 2 * time.Second
	const pace = stall / 5
	root, blks := dagBlocks(t, 8*64<<10, AddOptions{CIDVersion: 1, ChunkSize: 64 << 10})
	if len(blks) != 14 { // 8 leaves, the file node, 3 small files, 2 directories
		t.Fatalf("%d blocks, want 14", len(blks))
	}
	late := blks[2] // root, big.bin's node, its first leaf
	if late.Cid().Type() != cid.Raw || len(late.RawData()) != 64<<10 {
		t.Fatalf("block 2 is %s (%d bytes), want big.bin's first leaf", late.Cid(), len(late.RawData()))
	}
	hs := openTemp(t)
	for _, blk := range blks {
		must(t, hs.Put(ctx, blk))
	}
	hh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer hh.Close()
	gate := make(chan struct{})
	released := new(atomic.Bool)
	holder := bitswap.New(ctx, bsnet.NewFromIpfsHost(hh), nil, gatedStore{bsView: bsView{s: hs}, gate: gate, late: late.Cid(), released: released})
	defer holder.Close()
	b := newBSPeerWith(t, ExchangeOptions{StallTimeout: stall})
	connect(t, b, &bsPeer{h: hh})

	done := make(chan error, 1)
	var mu sync.Mutex
	var seen []FetchProgress
	start := time.Now()
	go func() {
		done <- b.ex.FetchDAGWith(ctx, root, FetchOptions{Progress: func(p FetchProgress) {
			mu.Lock()
			seen = append(seen, p)
			mu.Unlock()
		}})
	}()
	tick := time.NewTicker(pace)
	defer tick.Stop()
	tokens := 0
	var err2 error
wait:
	for {
		select {
		case err2 = <-done:
			break wait
		case <-tick.C:
			if tokens == len(blks)-1 && !released.Load() {
				released.Store(true)
				must(t, holder.NotifyNewBlocks(ctx, late))
			}
			select {
			case gate <- struct{}{}:
				tokens++
			default: // nobody asked yet
			}
		}
	}
	if err2 != nil {
		t.Fatalf("FetchDAG after %v and %d blocks served: %v", time.Since(start), tokens, err2)
	}
	// The pace made the fetch last several stall timeouts (one token per pace at most).
	if served := time.Duration(tokens) * pace; served < 2*stall {
		t.Fatalf("only %d blocks were paced (%v): the test did not outlast the stall timeout", tokens, served)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(seen); n == 0 || seen[n-1].Blocks != uint64(len(blks)) || seen[n-1].From != hh.ID() {
		t.Fatalf("progress: %d calls, last %+v; want %d blocks from %s", n, seen[len(seen)-1], len(blks), hh.ID())
	}
	t.Logf("%d blocks in %v, stall timeout %v", len(blks), time.Since(start), stall)
}

// FindProviders asks the content router the exchange was started with: through the
// real DHT of two nodes, B finds that A provides a root; A does not list itself.
func TestFindProviders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := newDHTPeer(t), newDHTPeer(t)
	if err := b.h.Connect(ctx, peer.AddrInfo{ID: a.h.ID(), Addrs: a.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	e, err := a.s.AddFile(ctx, bytes.NewReader([]byte("provided")), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	waitRouting(t, ctx, a, b)
	if err := a.ex.Provide(ctx, e.CID); err != nil {
		t.Fatal(err)
	}
	ps, err := b.ex.FindProviders(ctx, e.CID, 5)
	if err != nil || len(ps) != 1 || ps[0].ID != a.h.ID() {
		t.Fatalf("FindProviders = %v, %v; want [%s]", ps, err, a.h.ID())
	}
	if ps, err := a.ex.FindProviders(ctx, e.CID, 5); err != nil || len(ps) != 0 {
		t.Fatalf("the provider's own FindProviders = %v, %v; want none (itself left out)", ps, err)
	}
	// Without a router there is nobody to ask.
	c := newBSPeer(t, nil)
	if _, err := c.ex.FindProviders(ctx, e.CID, 5); !errors.Is(err, ErrNoRouter) {
		t.Fatalf("without a router: %v, want ErrNoRouter", err)
	}
}

// newDHTPeer is a store with bitswap on a dht.Peer (loopback), routing through its DHT.
func newDHTPeer(t *testing.T) *bsPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dn, err := dht.New(ctx, dht.Config{Dir: t.TempDir(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		dn.Close()
		t.Fatal(err)
	}
	ex, err := s.StartBitswap(context.Background(), dn.Host(), dn.DHT())
	if err != nil {
		dn.Close()
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ex.Close()
		dn.Close()
		s.Close()
	})
	return &bsPeer{s: s, h: dn.Host(), ex: ex}
}

// waitRouting waits until each peer's DHT routing table holds the other.
func waitRouting(t *testing.T, ctx context.Context, a, b *bsPeer) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ra := a.ex.r.(*kaddht.IpfsDHT).RoutingTable().Find(b.h.ID())
		rb := b.ex.r.(*kaddht.IpfsDHT).RoutingTable().Find(a.h.ID())
		if ra != "" && rb != "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the DHTs never listed each other: %v", ctx.Err())
		case <-tick.C:
		}
	}
}
