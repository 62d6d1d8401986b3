package dht

import (
	"container/list"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Replay protection defaults: a message is accepted once, and only while its time is
// within [now-maxAge, now+maxSkew].
const (
	defaultMaxAge     = 5 * time.Minute
	defaultMaxSkew    = time.Minute
	defaultMaxAuthors = 1024 // authors remembered, least recently heard from forgotten first
	defaultPerAuthor  = 256  // sequence numbers remembered per author
)

// replayGuard remembers the (author, seq) pairs it has accepted. Each author has its own
// bounded set and a floor: when its set is full the oldest entry is dropped and the
// floor rises to it, and anything at or below the floor counts as seen. So one author
// flooding cannot evict another's entries, and memory is bounded by
// maxAuthors × perAuthor. An author forgotten altogether is still held to the time window.
type replayGuard struct {
	maxAge, maxSkew       time.Duration
	maxAuthors, perAuthor int

	mu      sync.Mutex
	authors map[peer.ID]*list.Element // of *authorSeen, most recent at the front
	lru     *list.List
}

type authorSeen struct {
	id    peer.ID
	floor uint64
	seen  map[uint64]struct{}
	order []uint64 // ring of seen seqs in arrival order
	next  int
}

func newReplayGuard() *replayGuard {
	return &replayGuard{
		maxAge: defaultMaxAge, maxSkew: defaultMaxSkew,
		maxAuthors: defaultMaxAuthors, perAuthor: defaultPerAuthor,
		authors: map[peer.ID]*list.Element{}, lru: list.New(),
	}
}

// check accepts (author, seq) sent at t once; it returns ErrStale outside the time
// window and ErrReplay for a pair seen before. Only accepted pairs are remembered.
func (g *replayGuard) check(author peer.ID, seq uint64, t, now time.Time) error {
	if t.Before(now.Add(-g.maxAge)) || t.After(now.Add(g.maxSkew)) {
		return fmt.Errorf("%w: sent %s, now %s", ErrStale, t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var a *authorSeen
	if el, ok := g.authors[author]; ok {
		g.lru.MoveToFront(el)
		a = el.Value.(*authorSeen)
	} else {
		if g.lru.Len() >= g.maxAuthors {
			old := g.lru.Remove(g.lru.Back()).(*authorSeen)
			delete(g.authors, old.id)
		}
		a = &authorSeen{id: author, seen: map[uint64]struct{}{}, order: make([]uint64, 0, g.perAuthor)}
		g.authors[author] = g.lru.PushFront(a)
	}
	if _, dup := a.seen[seq]; dup || seq <= a.floor {
		return fmt.Errorf("%w: %s seq %d", ErrReplay, author, seq)
	}
	if len(a.order) < g.perAuthor {
		a.order = append(a.order, seq)
	} else {
		old := a.order[a.next]
		delete(a.seen, old)
		a.floor = max(a.floor, old)
		a.order[a.next] = seq
		a.next = (a.next + 1) % g.perAuthor
	}
	a.seen[seq] = struct{}{}
	return nil
}
