package blockstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/exchange"
	"github.com/ipfs/boxo/verifcid"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// sessionIdle is how long a network getter keeps its bitswap session with
// nothing waiting on it before closing it (a later fetch opens a new one).
const sessionIdle = 30 * time.Second

// prefetcher is an optional interface of a BlockGetter that can fetch
// blocks ahead of need. NewFS uses it for read-ahead and to fetch the
// children of a directory together.
type prefetcher interface {
	// prefetch starts fetching the blocks not held locally; it does not
	// wait for them. ctx bounds the fetch.
	prefetch(ctx context.Context, cs []cid.Cid)
	// haveLocal reports whether c can be read without the network.
	haveLocal(c cid.Cid) bool
}

// Getter returns a BlockGetter that reads the local store first and
// fetches missing blocks from peers through one bitswap session: wants go
// first to the peers that sent the session's earlier blocks. Use one getter
// per DAG read (NewFS). Fetched blocks are stored (see Sync).
//
// Its blocks are verified: a block from a peer is accepted only for a CID
// whose hash function verifcid allows, and bitswap builds a received
// block's CID by hashing its bytes (so a block is delivered for a want only
// if it hashes to it); local blocks were verified when stored. NewFS
// therefore does not hash them again.
//
// A GetBlock that waits while the getter receives no block for the
// exchange's stall timeout fails with a *StallError (see ExchangeOptions).
func (ex *Exchange) Getter() BlockGetter { return ex.newGetter() }

func (ex *Exchange) newGetter() *netGetter {
	return &netGetter{ex: ex, inflight: map[cid.Cid]*want{}, stall: ex.stall}
}

type netGetter struct {
	ex       *Exchange
	stall    time.Duration // <= 0: none
	prog     *progress     // nil: nobody listens
	lastRecv atomic.Int64  // unix ns of the last block delivered

	mu         sync.Mutex
	inflight   map[cid.Cid]*want
	sess       exchange.Fetcher // nil until needed, and after idling
	sessCtx    context.Context
	sessCancel context.CancelFunc
	idle       *time.Timer
	waiters    int
	lastUse    time.Time
}

// want is one block being fetched.
type want struct {
	c    cid.Cid
	done chan struct{}
	blk  blocks.Block
	err  error
}

var (
	_ BlockGetter   = (*netGetter)(nil)
	_ TrustedGetter = (*netGetter)(nil)
	_ prefetcher    = (*netGetter)(nil)
)

// TrustedBlocks reports true: see Getter.
func (g *netGetter) TrustedBlocks() bool { return true }

var _ BlockReaderAt = (*netGetter)(nil)

// ReadBlockAt implements BlockReaderAt: see readBlockAt.
func (g *netGetter) ReadBlockAt(ctx context.Context, c cid.Cid, p []byte, off int64) (int, error) {
	n, _, err := g.readBlockAt(ctx, c, p, off)
	return n, err
}

// readBlockAt implements sizedReaderAt. A block in the store is read in place, as the
// store's own getter reads it (one pread for a packed leaf), so a guest reads local data
// through this getter as fast as through the store's; a block the store lacks is
// fetched (or taken from the blocks fetched but not yet stored) and copied.
func (g *netGetter) readBlockAt(ctx context.Context, c cid.Cid, p []byte, off int64) (int, int64, error) {
	n, size, err := localGetter{g.ex.s}.readBlockAt(ctx, c, p, off)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return n, size, err
	}
	b, err := g.GetBlock(ctx, c)
	if err != nil {
		return 0, 0, err
	}
	data := b.RawData()
	size = int64(len(data))
	if off >= size {
		return 0, size, io.EOF
	}
	if n = copy(p, data[off:]); n < len(p) {
		return n, size, io.EOF
	}
	return n, size, nil
}

// GetBlock returns block c from the store, or from peers.
func (g *netGetter) GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := verifcid.ValidateCid(verifcid.DefaultAllowlist, c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadBlock, c, err)
	}
	for retried := false; ; retried = true {
		if b, ok, err := g.ex.local(ctx, c); err != nil || ok {
			return b, err
		}
		w, err := g.start(ctx, []cid.Cid{c}, c)
		if err != nil {
			return nil, err
		}
		if w == nil {
			continue // stored meanwhile
		}
		g.wait(1)
		err = g.await(ctx, w)
		g.wait(-1)
		if err != nil {
			return nil, err
		}
		if w.err == nil {
			return w.blk, nil
		}
		// A fetch started under another context (a prefetch, an idle
		// session) ended: fetch again under ours, once.
		if !retried && isCtxErr(w.err) {
			continue
		}
		return nil, fmt.Errorf("blockstore: fetch %s: %w", c, w.err)
	}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (g *netGetter) wait(d int) {
	g.mu.Lock()
	g.waiters += d
	g.lastUse = time.Now()
	g.mu.Unlock()
}

func (g *netGetter) prefetch(ctx context.Context, cs []cid.Cid) {
	if ctx.Err() != nil {
		return
	}
	ok := cs[:0:0]
	for _, c := range cs {
		if verifcid.ValidateCid(verifcid.DefaultAllowlist, c) == nil {
			ok = append(ok, c)
		}
	}
	_, _ = g.start(ctx, ok, cid.Undef)
}

func (g *netGetter) haveLocal(c cid.Cid) bool { return g.ex.haveLocal(c) }

// start fetches the blocks of cs that are neither held locally nor being
// fetched, in one GetBlocks call on the session, and returns the want for
// target (nil if it is held locally).
func (g *netGetter) start(ctx context.Context, cs []cid.Cid, target cid.Cid) (*want, error) {
	g.mu.Lock()
	var news []*want
	var tw *want
	for _, c := range cs {
		if w := g.inflight[c]; w != nil {
			if c == target {
				tw = w
			}
			continue
		}
		// Checked under g.mu: a fetch adds its block to the storer before
		// it leaves inflight, so a block is never missed in between.
		if g.ex.haveLocal(c) {
			continue
		}
		w := &want{c: c, done: make(chan struct{})}
		news = append(news, w)
		if c == target {
			tw = w
		}
	}
	if len(news) == 0 {
		g.mu.Unlock()
		return tw, nil
	}
	if !g.ex.startFetch() {
		g.mu.Unlock()
		return nil, ErrExchangeClosed
	}
	for _, w := range news {
		g.inflight[w.c] = w
	}
	sess, sctx := g.session()
	g.lastUse = time.Now()
	g.mu.Unlock()
	go g.fetch(ctx, sess, sctx, news)
	return tw, nil
}

// session returns the getter's session, opening one if needed. g.mu held.
func (g *netGetter) session() (exchange.Fetcher, context.Context) {
	if g.sess == nil {
		g.sessCtx, g.sessCancel = context.WithCancel(g.ex.ctx)
		g.sess = g.ex.bs.NewSession(g.sessCtx)
		if g.idle == nil {
			g.idle = time.AfterFunc(sessionIdle, g.idleCheck)
		} else {
			g.idle.Reset(sessionIdle)
		}
	}
	return g.sess, g.sessCtx
}

// idleCheck closes the session when nothing has used it for sessionIdle.
// Prefetches nobody waits for end with it.
func (g *netGetter) idleCheck() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sess == nil {
		return
	}
	if since := time.Since(g.lastUse); g.waiters > 0 || since < sessionIdle {
		g.idle.Reset(sessionIdle - min(since, sessionIdle-time.Second))
		return
	}
	g.sessCancel()
	g.sess, g.sessCtx, g.sessCancel = nil, nil, nil
}

// fetch runs one GetBlocks call. Each block delivered is stored (in the
// background) and handed to its want; wants still open when the call ends
// fail with the reason.
func (g *netGetter) fetch(ctx context.Context, sess exchange.Fetcher, sctx context.Context, ws []*want) {
	defer g.ex.fetches.Done()
	fctx, cancel := context.WithCancel(sctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	keys := make([]cid.Cid, len(ws))
	byCID := make(map[cid.Cid]*want, len(ws))
	for i, w := range ws {
		keys[i] = w.c
		byCID[w.c] = w
	}
	ch, err := sess.GetBlocks(fctx, keys)
	if err == nil {
		for b := range ch {
			// Bitswap delivers a block to the wants of b.Cid(), which it
			// computed by hashing the received bytes with the wanted
			// CID's prefix: b hashes to w.c.
			w := byCID[b.Cid()]
			if w == nil {
				continue
			}
			delete(byCID, w.c)
			// Stored in the background; if that cannot start (closing,
			// cancelled), the reader still gets the block.
			_ = g.ex.st.add(fctx, b)
			g.received(b)
			g.finish(w, b, nil)
		}
	}
	if err == nil {
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case fctx.Err() != nil:
			err = fctx.Err()
		default:
			err = ErrNotFound
		}
	}
	for _, w := range byCID {
		g.finish(w, nil, err)
	}
}

func (g *netGetter) finish(w *want, b blocks.Block, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w.blk, w.err = b, err
	close(w.done)
	if g.inflight[w.c] == w {
		delete(g.inflight, w.c)
	}
}

// FetchDAG is FetchDAGWith with the default options.
func (ex *Exchange) FetchDAG(ctx context.Context, root cid.Cid) error {
	return ex.FetchDAGWith(ctx, root, FetchOptions{})
}

// FetchDAGWith makes every block of the DAG at root local, fetching the missing ones
// from peers level by level. A level's blocks are wanted fetchWindow at a time, the
// next window asked for while the current one is read: a wantlist of a thousand blocks
// at once makes the sender slower to answer than bitswap's DONT_HAVE timeout, and the
// session then waits about 45 s before it asks again. It does not wait for the blocks
// to be durable: call Sync for that.
//
// When no block arrives for the stall timeout while the fetch waits for one, it fails
// with a *StallError naming that block and root (it wraps ErrNotFound); a fetch that
// keeps receiving blocks runs as long as ctx allows. opts.Progress hears of every block
// received.
func (ex *Exchange) FetchDAGWith(ctx context.Context, root cid.Cid, opts FetchOptions) error {
	ctx, cancel := context.WithCancel(ctx) // ends the wants still open when we return
	defer cancel()
	g := ex.newGetter()
	if opts.StallTimeout != 0 {
		g.stall = opts.StallTimeout
	}
	if opts.Progress != nil {
		g.prog = &progress{fn: opts.Progress, peers: map[peer.ID]struct{}{}}
	}
	stalled := func(err error) error {
		var se *StallError
		if errors.As(err, &se) {
			se.Root = root
			return se
		}
		return nil
	}
	seen := map[cid.Cid]struct{}{root: {}}
	want := func(cs []cid.Cid) {
		var missing []cid.Cid
		for _, c := range cs {
			if !g.haveLocal(c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			g.prefetch(ctx, missing)
		}
	}
	level := []cid.Cid{root}
	for depth := 0; len(level) > 0; depth++ {
		if depth > MaxDepth {
			return fmt.Errorf("%w: deeper than %d", ErrBadDAG, MaxDepth)
		}
		var next []cid.Cid
		want(level[:min(fetchWindow, len(level))])
		for start := 0; start < len(level); start += fetchWindow {
			if ahead := start + fetchWindow; ahead < len(level) {
				want(level[ahead:min(ahead+fetchWindow, len(level))])
			}
			for _, c := range level[start:min(start+fetchWindow, len(level))] {
				if c.Type() == cid.Raw && g.haveLocal(c) {
					continue // a leaf held already: nothing to read or follow
				}
				b, err := g.GetBlock(ctx, c)
				if se := stalled(err); se != nil {
					return se
				}
				if err != nil {
					return fmt.Errorf("blockstore: fetch %s: %w", c, err)
				}
				links, err := blockLinks(c, b.RawData())
				if err != nil {
					return fmt.Errorf("blockstore: fetch %s: %w", c, err)
				}
				for _, l := range links {
					if _, ok := seen[l]; !ok {
						seen[l] = struct{}{}
						next = append(next, l)
					}
				}
			}
		}
		level = next
	}
	return nil
}

// fetchWindow is how many blocks FetchDAG wants at a time (twice that in flight).
const fetchWindow = 128
