package blockstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	mh "github.com/multiformats/go-multihash"
)

// bsProviderSearchDelay is how long a session waits for connected peers
// before it asks the content router (boxo's default is 1 s). The server's
// options keep boxo's defaults: see RATIONALE.md ("Bitswap").
var bsProviderSearchDelay = 100 * time.Millisecond

// Exchange moves blocks between this store and peers with bitswap, on a
// libp2p host: it serves every block the store holds (pebble and pack
// files) to peers that want it, and fetches missing blocks through
// Getter. Fetched blocks are stored through the store's durable write path
// in the background (Sync waits for them).
type Exchange struct {
	s       *Store
	h       host.Host
	r       routing.ContentRouting
	bs      *bitswap.Bitswap
	st      *storer
	ctx     context.Context
	stall   time.Duration // <= 0: none
	senders *senderLog

	cancel    context.CancelFunc
	mu        sync.Mutex
	closed    bool
	fetches   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// ErrExchangeClosed: the Exchange was used after Close.
var ErrExchangeClosed = errors.New("blockstore: exchange closed")

// ExchangeOptions tune an Exchange. The zero value is the default.
type ExchangeOptions struct {
	// StallTimeout bounds how long a fetch (FetchDAG, a Getter's GetBlock
	// and the reads of an FS over it) waits while no block arrives: it then
	// fails with a *StallError naming the block it waited for. Blocks
	// arriving for other wants of the same fetch count as progress, so a
	// slow but moving fetch is never cut off. Zero means
	// DefaultStallTimeout; negative means no limit (wait until the caller's
	// context ends).
	StallTimeout time.Duration
}

// StartBitswap is StartBitswapWith with the default options.
func (s *Store) StartBitswap(ctx context.Context, h host.Host, r routing.ContentRouting) (*Exchange, error) {
	return s.StartBitswapWith(ctx, h, r, ExchangeOptions{})
}

// StartBitswapWith starts bitswap on h, serving s's blocks and fetching
// missing ones from peers. r finds providers of blocks no connected peer has
// and announces this node's blocks (Provide); it may be nil, and then only
// connected peers are asked. The exchange runs until Close or until ctx is
// done; it does not close the store or the host.
func (s *Store) StartBitswapWith(ctx context.Context, h host.Host, r routing.ContentRouting, opts ExchangeOptions) (*Exchange, error) {
	if h == nil {
		return nil, errors.New("blockstore: bitswap: nil host")
	}
	if s.packs.isClosed() {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	ex := &Exchange{s: s, h: h, r: r, ctx: ctx, cancel: cancel, stall: opts.StallTimeout, senders: newSenderLog()}
	if ex.stall == 0 {
		ex.stall = DefaultStallTimeout
	}
	ex.st = newStorer(s, ex.notifyServer)
	var disc routing.ContentDiscovery // a nil r must stay a nil interface
	if r != nil {
		disc = r
	}
	ex.bs = bitswap.New(ctx, bsnet.NewFromIpfsHost(h), disc, bsView{s: s, st: ex.st},
		bitswap.ProviderSearchDelay(bsProviderSearchDelay),
		bitswap.WithTracer(ex.senders),
	)
	ex.st.start()
	return ex, nil
}

// notifyServer tells bitswap's server that fetched blocks are now stored,
// so peers that asked this node for them get them.
func (ex *Exchange) notifyServer(bs []blocks.Block) {
	if ex.bs.Server != nil {
		_ = ex.bs.Server.NotifyNewBlocks(ex.ctx, bs...)
	}
}

// Provide announces on the content router that this node holds the DAG
// rooted at each c (call it with the roots of added or fetched DAGs). It is
// a no-op without a router. Peers fetch the rest of a DAG from the same
// node through bitswap sessions, so only roots need announcing.
func (ex *Exchange) Provide(ctx context.Context, cs ...cid.Cid) error {
	if ex.r == nil {
		return nil
	}
	for _, c := range cs {
		if err := ex.r.Provide(ctx, c, true); err != nil {
			return fmt.Errorf("blockstore: provide %s: %w", c, err)
		}
	}
	return nil
}

// defaultMaxProviders is how many providers FindProviders returns at most
// when not told.
const defaultMaxProviders = 20

// FindProviders asks the content router for up to max peers (max <= 0: 20)
// that announced c, this node left out, and returns those found when the
// router's search ends, max are found, or ctx ends (an error only if ctx
// ended with none found). Without a router it returns ErrNoRouter. It tells
// who should hold a DAG, e.g. to name them when a fetch stalls.
func (ex *Exchange) FindProviders(ctx context.Context, c cid.Cid, max int) ([]peer.AddrInfo, error) {
	if ex.r == nil {
		return nil, ErrNoRouter
	}
	if max <= 0 {
		max = defaultMaxProviders
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []peer.AddrInfo
	for p := range ex.r.FindProvidersAsync(qctx, c, max+1) { // +1: this node may be one
		if p.ID == ex.h.ID() {
			continue
		}
		out = append(out, p)
		if len(out) == max {
			break
		}
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, fmt.Errorf("blockstore: find providers of %s: %w", c, ctx.Err())
	}
	return out, nil
}

// Sync waits until every block fetched so far is durable in the store, and
// returns the first error met storing fetched blocks.
func (ex *Exchange) Sync(ctx context.Context) error { return ex.st.sync(ctx) }

// ExchangeStat counts what bitswap moved since the exchange started.
type ExchangeStat struct {
	BlocksReceived, DataReceived       uint64 // from peers, duplicates included
	DupBlocksReceived, DupDataReceived uint64 // received but already held
	BlocksSent, DataSent               uint64 // served to peers
	Peers                              int    // peers with a ledger
}

// Stat returns bitswap's counters.
func (ex *Exchange) Stat() (ExchangeStat, error) {
	st, err := ex.bs.Stat()
	if err != nil {
		return ExchangeStat{}, fmt.Errorf("blockstore: bitswap stat: %w", err)
	}
	return ExchangeStat{
		BlocksReceived: st.BlocksReceived, DataReceived: st.DataReceived,
		DupBlocksReceived: st.DupBlksReceived, DupDataReceived: st.DupDataReceived,
		BlocksSent: st.BlocksSent, DataSent: st.DataSent, Peers: len(st.Peers),
	}, nil
}

// Close stops bitswap, waits for fetches to end and makes the blocks
// fetched so far durable. It does not close the store or the host. It is
// safe to call more than once.
func (ex *Exchange) Close() error {
	ex.closeOnce.Do(func() {
		ex.mu.Lock()
		ex.closed = true
		ex.mu.Unlock()
		ex.cancel()
		ex.fetches.Wait()
		ex.bs.Close()
		ex.closeErr = ex.st.close()
	})
	return ex.closeErr
}

// startFetch registers a fetch goroutine unless the exchange is closed.
func (ex *Exchange) startFetch() bool {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.closed || ex.ctx.Err() != nil {
		return false
	}
	ex.fetches.Add(1)
	return true
}

// local returns a block held locally: waiting to be stored, or stored.
func (ex *Exchange) local(ctx context.Context, c cid.Cid) (blocks.Block, bool, error) {
	if b, ok := ex.st.pendingGet(c); ok {
		return b, true, nil
	}
	b, err := localGetter{ex.s}.GetBlock(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// haveLocal reports whether c is held locally (an error counts as no).
func (ex *Exchange) haveLocal(c cid.Cid) bool {
	if c.Prefix().MhType == mh.IDENTITY || ex.st.pendingHas(c) {
		return true
	}
	ok, err := ex.s.has(c)
	return ok && err == nil
}
