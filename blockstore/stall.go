package blockstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bsmsg "github.com/ipfs/boxo/bitswap/message"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultStallTimeout is how long a fetch waits without receiving a block before it
// gives up (ExchangeOptions.StallTimeout).
const DefaultStallTimeout = 30 * time.Second

// ErrNoRouter: FindProviders on an exchange started without a content router.
var ErrNoRouter = errors.New("blockstore: exchange has no content router")

// StallError is the error of a fetch that received no block for its stall timeout while
// it waited for CID: nobody it could find sent it. It wraps ErrNotFound.
type StallError struct {
	CID   cid.Cid       // the block waited for
	Root  cid.Cid       // the DAG being fetched (FetchDAG), or undefined
	After time.Duration // the stall timeout
}

func (e *StallError) Error() string {
	if e.Root.Defined() && e.Root != e.CID {
		return fmt.Sprintf("blockstore: block %s (in DAG %s) not found on the network within %s", e.CID, e.Root, e.After)
	}
	return fmt.Sprintf("blockstore: block %s not found on the network within %s", e.CID, e.After)
}

// Unwrap returns ErrNotFound.
func (e *StallError) Unwrap() error { return ErrNotFound }

// FetchProgress is what a fetch received from peers so far.
type FetchProgress struct {
	Blocks uint64  // blocks received (duplicates of a block count once)
	Bytes  uint64  // their bytes
	From   peer.ID // the peer that sent the latest block ("" if not known)
	Peers  int     // distinct peers that sent blocks
}

// FetchOptions tune one FetchDAGWith.
type FetchOptions struct {
	// Progress, if set, is called after each block received from a peer, one call
	// at a time, on the fetch's goroutines: it must return quickly.
	Progress func(FetchProgress)
	// StallTimeout overrides the exchange's (ExchangeOptions.StallTimeout) for this
	// fetch: zero keeps it, negative waits until ctx ends.
	StallTimeout time.Duration
}

// progress accumulates FetchProgress for one getter.
type progress struct {
	mu    sync.Mutex
	fn    func(FetchProgress)
	cur   FetchProgress
	peers map[peer.ID]struct{}
}

func (p *progress) add(b blocks.Block, from peer.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur.Blocks++
	p.cur.Bytes += uint64(len(b.RawData()))
	p.cur.From = from
	if from != "" {
		if _, ok := p.peers[from]; !ok && len(p.peers) < maxProgressPeers {
			p.peers[from] = struct{}{}
		}
		p.cur.Peers = len(p.peers)
	}
	p.fn(p.cur)
}

// maxProgressPeers bounds the peers a progress counts (a fetch from more is rare).
const maxProgressPeers = 1024

// senderLog remembers which peer sent each of the last senderLogSize blocks bitswap
// received (a bitswap tracer), so a fetch can say from whom its blocks came.
type senderLog struct {
	mu   sync.Mutex
	from map[cid.Cid]peer.ID
	ring [senderLogSize]cid.Cid
	next int
}

const senderLogSize = 4096

func newSenderLog() *senderLog { return &senderLog{from: make(map[cid.Cid]peer.ID, senderLogSize)} }

// MessageReceived implements boxo's tracer.Tracer.
func (l *senderLog) MessageReceived(p peer.ID, m bsmsg.BitSwapMessage) {
	bs := m.Blocks()
	if len(bs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range bs {
		c := b.Cid()
		if old := l.ring[l.next]; old.Defined() {
			delete(l.from, old)
		}
		l.ring[l.next] = c
		l.next = (l.next + 1) % senderLogSize
		l.from[c] = p
	}
}

// MessageSent implements boxo's tracer.Tracer.
func (l *senderLog) MessageSent(peer.ID, bsmsg.BitSwapMessage) {}

func (l *senderLog) sender(c cid.Cid) peer.ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.from[c]
}

// await waits for w until it is done, ctx ends, or the getter has received no block
// for its stall timeout (counted from the later of the wait's start and the last
// block received); then it returns a *StallError. While it waits with nothing
// arriving it looks the block's providers up again, at growing intervals, and connects
// to them: bitswap searches a session's providers once at its start and then only once
// a minute, so a fetch begun before the routing table knew the provider (a node just
// restarted) would otherwise wait out the stall timeout although the block is there.
func (g *netGetter) await(ctx context.Context, w *want) error {
	start := time.Now()
	search := time.NewTimer(researchFirst)
	defer search.Stop()
	next := researchFirst
	var stallTimer *time.Timer
	var stallC <-chan time.Time // nil without a stall timeout: never fires
	if g.stall > 0 {
		stallTimer = time.NewTimer(g.stall)
		defer stallTimer.Stop()
		stallC = stallTimer.C
	}
	for {
		select {
		case <-w.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-search.C:
			if time.Since(g.lastActivity(start)) >= next {
				g.ex.connectProviders(ctx, w.c)
			}
			next = min(2*next, researchMax)
			search.Reset(next)
			continue
		case <-stallC:
		}
		idle := time.Since(g.lastActivity(start))
		if idle < g.stall {
			stallTimer.Reset(g.stall - idle)
			continue
		}
		select {
		case <-w.done:
			return nil
		default:
			return &StallError{CID: w.c, After: g.stall}
		}
	}
}

// Intervals of await's provider searches.
const (
	researchFirst = 2 * time.Second
	researchMax   = 8 * time.Second
)

// lastActivity is when the getter last received a block, or start if later.
func (g *netGetter) lastActivity(start time.Time) time.Time {
	if last := time.Unix(0, g.lastRecv.Load()); last.After(start) {
		return last
	}
	return start
}

// connectProviders looks up the providers of c and connects to those this node is not
// connected to; bitswap then asks them for what its sessions want. Bounded, best
// effort.
func (ex *Exchange) connectProviders(ctx context.Context, c cid.Cid) {
	if ex.r == nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, researchMax)
	defer cancel()
	ps, err := ex.FindProviders(lctx, c, 4)
	if err != nil {
		return
	}
	for _, p := range ps {
		if ex.h.Network().Connectedness(p.ID) != network.Connected && len(p.Addrs) > 0 {
			_ = ex.h.Connect(lctx, p)
		}
	}
}

// received notes a block delivered to the getter: progress for the stall timeout and
// for FetchOptions.Progress.
func (g *netGetter) received(b blocks.Block) {
	g.lastRecv.Store(time.Now().UnixNano())
	if g.prog != nil {
		g.prog.add(b, g.ex.senders.sender(b.Cid()))
	}
}
