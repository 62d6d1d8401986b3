package dht

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

// Rendezvous is the DHT key every node advertises itself under (as the provider of the
// CID of this string) and looks the others up by. Versioned like the topics.
const Rendezvous = "/bacalhau/nodes/1"

const (
	maxFindInterval     = time.Minute      // discovery rounds slow down to this
	maxAdvertiseEvery   = 10 * time.Minute // provider records last 48 h; refresh well before
	peerTTL             = 10 * time.Minute // a disconnected peer not found again is forgotten
	dialTimeout         = 10 * time.Second
	maxParallelDials    = 8
	findTimeout         = 30 * time.Second
	defaultFindInterval = time.Second
	redialEvery         = 2 * time.Second // how often lost connections are dialled again
	redialTimeout       = 3 * time.Second
)

// discovery finds the other nodes through the rendezvous key and keeps connections to
// them. Nodes that connect to us and speak our DHT protocol are known too, so a node that
// joins is known to everyone it dials at once, not only at their next round.
type discovery struct {
	n     *Peer
	rd    *drouting.RoutingDiscovery
	first time.Duration
	kad   string // our DHT protocol, the mark of a node of this network

	mu    sync.Mutex
	peers map[peer.ID]time.Time // last time found or identified
}

func newDiscovery(n *Peer, first time.Duration) *discovery {
	if first <= 0 {
		first = defaultFindInterval
	}
	return &discovery{
		n: n, rd: drouting.NewRoutingDiscovery(n.dht), first: first,
		kad:   string(ProtocolPrefix) + "/kad/1.0.0",
		peers: map[peer.ID]time.Time{},
	}
}

func (d *discovery) start() error {
	sub, err := d.n.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return err
	}
	d.n.goTrack(func() {
		defer sub.Close()
		for {
			select {
			case <-d.n.ctx.Done():
				return
			case e := <-sub.Out():
				ev := e.(event.EvtPeerIdentificationCompleted)
				if slices.ContainsFunc(ev.Protocols, func(p protocol.ID) bool { return string(p) == d.kad }) {
					d.saw(ev.Peer)
				}
			}
		}
	})
	d.n.goTrack(d.loop)
	return nil
}

func (d *discovery) saw(p peer.ID) {
	if p == d.n.ID() {
		return
	}
	d.mu.Lock()
	d.peers[p] = time.Now()
	d.mu.Unlock()
}

// loop advertises and looks up the rendezvous key, quickly at first and then less often:
// a new network converges in seconds and a settled one costs little. Between lookups it
// dials again, every redialEvery, the known nodes it lost its connection to (a restart,
// a healed partition), and the bootstrap peers while it has no connection at all.
func (d *discovery) loop() {
	findEvery, adEvery := d.first, d.first
	var lastAd, nextFind time.Time
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-d.n.ctx.Done():
			return
		case <-t.C:
		}
		if !time.Now().Before(nextFind) {
			if time.Since(lastAd) >= adEvery {
				if _, err := d.rd.Advertise(d.n.ctx, Rendezvous); err != nil {
					d.n.log.Debug("advertise failed, will retry", "err", err)
				} else {
					lastAd = time.Now()
					adEvery = min(2*adEvery, maxAdvertiseEvery)
				}
			}
			d.find()
			d.prune()
			findEvery = min(2*findEvery, maxFindInterval)
			nextFind = time.Now().Add(findEvery)
		}
		d.redial()
		t.Reset(max(0, min(redialEvery, time.Until(nextFind))))
	}
}

// redial dials the known nodes this node is not connected to, bypassing the swarm's
// dial backoff (a peer behind a healed partition must not wait minutes).
func (d *discovery) redial() {
	net := d.n.host.Network()
	var todo []peer.AddrInfo
	d.mu.Lock()
	for p := range d.peers {
		if net.Connectedness(p) != network.Connected {
			todo = append(todo, d.n.host.Peerstore().PeerInfo(p))
		}
	}
	d.mu.Unlock()
	if len(net.Peers()) == 0 {
		for _, ai := range d.n.bootstrap {
			if ai.ID != d.n.ID() && !slices.ContainsFunc(todo, func(x peer.AddrInfo) bool { return x.ID == ai.ID }) {
				todo = append(todo, ai)
			}
		}
	}
	if len(todo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(network.WithForceDirectDial(d.n.ctx, "redial"), redialTimeout)
	defer cancel()
	sem := make(chan struct{}, maxParallelDials)
	var wg sync.WaitGroup
	for _, ai := range todo {
		if len(ai.Addrs) == 0 {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := d.n.host.Connect(ctx, ai); err == nil {
				d.saw(ai.ID)
			}
		})
	}
	wg.Wait()
}

// find looks the rendezvous key up and dials the nodes found that we are not connected to.
func (d *discovery) find() {
	ctx, cancel := context.WithTimeout(d.n.ctx, findTimeout)
	defer cancel()
	ch, err := d.rd.FindPeers(ctx, Rendezvous)
	if err != nil {
		d.n.log.Debug("rendezvous lookup failed", "err", err)
		return
	}
	sem := make(chan struct{}, maxParallelDials)
	var wg sync.WaitGroup
	for ai := range ch {
		if ai.ID == d.n.ID() || ai.ID == "" {
			continue
		}
		d.saw(ai.ID)
		if d.n.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			if err := d.n.host.Connect(dctx, ai); err != nil {
				d.n.log.Debug("cannot dial discovered node", "peer", ai.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

func (d *discovery) prune() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for p, seen := range d.peers {
		if time.Since(seen) > peerTTL && d.n.host.Network().Connectedness(p) != network.Connected {
			delete(d.peers, p)
		}
	}
}

// Peers returns the other nodes of the network this node knows of, found at the
// rendezvous or identified on a connection, with their known addresses, sorted by ID.
func (n *Peer) Peers() []peer.AddrInfo {
	d := n.disc
	d.mu.Lock()
	ids := make([]peer.ID, 0, len(d.peers))
	for p := range d.peers {
		ids = append(ids, p)
	}
	d.mu.Unlock()
	slices.Sort(ids)
	out := make([]peer.AddrInfo, len(ids))
	for i, p := range ids {
		out[i] = n.host.Peerstore().PeerInfo(p)
	}
	return out
}
