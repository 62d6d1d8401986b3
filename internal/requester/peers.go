package requester

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// peerTable holds the last heartbeat of every node heard from.
type peerTable struct {
	mu sync.Mutex
	m  map[peer.ID]*Peer
}

type Peer struct {
	ID       peer.ID
	Addrs    []string
	Engines  []job.Engine
	Capacity jobproto.Capacity
	Labels   map[string]string
	LastSeen time.Time
	// Started is the node's process start (its clock); Restarted is when this node saw
	// it change (this node's clock), zero if it has not.
	Started, Restarted time.Time
}

func newPeerTable() *peerTable { return &peerTable{m: map[peer.ID]*Peer{}} }

// saw records a heartbeat; it reports whether the node is new or was silent for stale.
func (t *peerTable) saw(hb *jobproto.Heartbeat, now time.Time, stale time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[hb.Node]
	fresh := e == nil || now.Sub(e.LastSeen) > stale
	ne := &Peer{ID: hb.Node, Addrs: hb.Addrs, Engines: hb.Engines, Capacity: hb.Capacity, Labels: hb.Labels, LastSeen: now, Started: hb.Started}
	if e != nil {
		ne.Restarted = e.Restarted
		if !e.Started.IsZero() && !hb.Started.Equal(e.Started) {
			ne.Restarted = now
		}
	}
	t.m[hb.Node] = ne
	return fresh
}

// restarts returns when p's process started (p's clock) and when this node saw it
// restart (this node's clock); either is zero if unknown.
func (t *peerTable) restarts(p peer.ID) (started, restarted time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[p]; e != nil {
		return e.Started, e.Restarted
	}
	return time.Time{}, time.Time{}
}

func (t *peerTable) lastSeen(p peer.ID) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[p]; e != nil {
		return e.LastSeen, true
	}
	return time.Time{}, false
}

// live returns the nodes seen within grace.
func (t *peerTable) live(now time.Time, grace time.Duration) []Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Peer
	for _, e := range t.m {
		if now.Sub(e.LastSeen) <= grace {
			out = append(out, *e)
		}
	}
	return out
}

func (t *peerTable) all() []Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Peer, 0, len(t.m))
	for _, e := range t.m {
		out = append(out, *e)
	}
	return out
}
