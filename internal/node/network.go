package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/requester"
)

// Network defaults (NetConfig's zero values).
const (
	DefaultGrace     = 10 * time.Second
	DefaultHeartbeat = time.Second
	DefaultBidWindow = 300 * time.Millisecond
)

// bidTimeout bounds a bid's delivery to a requester.
const bidTimeout = 5 * time.Second

// netSide is the node's libp2p side, set by startNetwork.
type netSide struct {
	peer *dht.Peer
	ex   *blockstore.Exchange
}

// peer is the node's libp2p peer, nil off a network (or before it started).
func (n *Node) peer() *dht.Peer {
	if n.net == nil {
		return nil
	}
	return n.net.peer
}

// exchange is the node's bitswap exchange, nil off a network.
func (n *Node) exchange() *blockstore.Exchange {
	if n.net == nil {
		return nil
	}
	return n.net.ex
}

// startNetwork starts the libp2p peer, bitswap on it, the topic subscriptions, the
// stream handlers and the heartbeats.
func (n *Node) startNetwork(ctx context.Context) error {
	nc := n.cfg.Network
	dn, err := dht.New(ctx, dht.Config{Dir: n.cfg.Repo, ListenAddrs: nc.Listen, Bootstrap: nc.Peers, Labels: n.cfg.Labels, Logger: n.cfg.Logger, Topics: functionTopics(),
		IPFSPeers: nc.IPFSPeers, IPFSDHT: nc.IPFSDHT})
	if err != nil {
		return err
	}
	n.net.peer = dn
	if n.net.ex, err = n.blocks.StartBitswapWith(n.life.ctx, dn.Host(), dn.Routing(), blockstore.ExchangeOptions{StallTimeout: nc.FetchStall}); err != nil {
		return err
	}
	jobproto.Handle(dn, jobproto.ProtoBid, n.handleBid)
	jobproto.Handle(dn, jobproto.ProtoAccept, n.handleAccept)
	jobproto.Handle(dn, jobproto.ProtoUpdate, n.handleUpdate)
	jobproto.Handle(dn, jobproto.ProtoCancel, n.handleCancel)
	jobproto.Handle(dn, jobproto.ProtoJobPull, n.handleJobPull)
	for t, f := range map[dht.Topic]func(dht.Message){
		jobproto.TopicJobs:       n.onAnnouncement,
		jobproto.TopicJobEvents:  n.onJobEvent,
		jobproto.TopicHeartbeats: n.onHeartbeat,
	} {
		ch, err := dn.Subscribe(n.life.ctx, t)
		if err != nil {
			return err
		}
		n.goTrack(func() {
			for m := range ch {
				f(m)
			}
		})
	}
	n.goTrack(n.heartbeats)
	return n.startFunctionsNetwork()
}

// heartbeats publishes this node's heartbeat every interval.
func (n *Node) heartbeats() {
	t := time.NewTicker(n.cfg.Network.Heartbeat)
	defer t.Stop()
	ctx := n.life.ctx
	for {
		hb := jobproto.NewHeartbeat(n.net.peer, n.compute.Engines(), n.compute.Capacity())
		hb.Started = n.life.started
		if err := n.net.peer.Publish(ctx, jobproto.TopicHeartbeats, hb); err != nil && ctx.Err() == nil {
			n.cfg.Logger.Debug("heartbeat", "err", err)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func (n *Node) onHeartbeat(m dht.Message) {
	if hb, ok := m.Payload.(*jobproto.Heartbeat); ok && m.From != n.peerID {
		n.req.OnHeartbeat(hb)
	}
}

func (n *Node) onJobEvent(m dht.Message) {
	if ev, ok := m.Payload.(*jobproto.JobEvent); ok && m.From != n.peerID {
		n.req.OnEvent(ev)
	}
}

// onAnnouncement bids for another node's job this node can run.
func (n *Node) onAnnouncement(m dht.Message) {
	a, ok := m.Payload.(*jobproto.JobAnnouncement)
	if !ok || m.From == n.peerID || slices.Contains(a.Exclude, n.peerID) || !(n.compute.Refusal(a.Spec) == "") {
		return
	}
	b := n.compute.Bid(a.JobID, a.Spec)
	n.goTrack(func() {
		ctx, cancel := context.WithTimeout(n.life.ctx, bidTimeout)
		defer cancel()
		if _, err := jobproto.Request[jobproto.Bid, jobproto.Ack](ctx, n.net.peer, a.Requester, jobproto.ProtoBid, &b); err != nil {
			n.cfg.Logger.Debug("bid", "job", a.JobID, "err", err)
		}
	})
}

func (n *Node) handleBid(_ context.Context, from peer.ID, b *jobproto.Bid) (*jobproto.Ack, error) {
	return &jobproto.Ack{OK: n.req.OnBid(from, b)}, nil
}

func (n *Node) handleAccept(_ context.Context, from peer.ID, a *jobproto.Accept) (*jobproto.Ack, error) {
	// An execution ID names its job: a peer cannot take another job's ID ahead of its
	// requester.
	if !strings.HasPrefix(a.ExecutionID, requester.ExecutionPrefix(a.JobID)) {
		return nil, fmt.Errorf("execution %s is not one of job %s", a.ExecutionID, a.JobID)
	}
	// a.Spec is normalised and valid: the protocol checked it on receipt.
	if r := n.compute.Refusal(a.Spec); r != "" {
		return nil, errors.New(r)
	}
	if err := n.compute.Enqueue(a.JobID, a.ExecutionID, a.Spec, from); err != nil {
		return nil, err
	}
	return &jobproto.Ack{OK: true}, nil
}

func (n *Node) handleUpdate(_ context.Context, from peer.ID, u *jobproto.ExecutionUpdate) (*jobproto.Ack, error) {
	if err := n.req.Apply(from, u); err != nil {
		return nil, err // a given-up execution goes as dht.ErrGivenUp
	}
	return &jobproto.Ack{OK: true}, nil
}

func (n *Node) handleCancel(_ context.Context, from peer.ID, c *jobproto.Cancel) (*jobproto.Ack, error) {
	if c.ExecutionID != "" { // the requester stops one execution here
		t, ok := n.compute.Assignment(c.ExecutionID)
		if !ok {
			return &jobproto.Ack{OK: false}, nil
		}
		if t.Requester != from || t.JobID != c.JobID {
			return nil, errors.New("only the job's requester can stop its executions")
		}
		t.Cancel()
		return &jobproto.Ack{OK: true}, nil
	}
	if err := n.req.OnCancel(c.JobID); err != nil {
		return nil, err
	}
	return &jobproto.Ack{OK: true}, nil
}

func (n *Node) handleJobPull(_ context.Context, _ peer.ID, p *jobproto.JobPull) (*jobproto.JobRecords, error) {
	return n.req.OnPull(p), nil
}

// link is the network as the requester reaches it (requester.Network).
type link struct{ n *Node }

var _ requester.Network = link{}

func (l link) Connected() bool {
	p := l.n.peer()
	return p != nil && len(p.Host().Network().Peers()) > 0
}

func (l link) Announce(ctx context.Context, a *jobproto.JobAnnouncement) error {
	return l.n.net.peer.Publish(ctx, jobproto.TopicJobs, a)
}

func (l link) Event(ctx context.Context, ev *jobproto.JobEvent) error {
	return l.n.net.peer.Publish(ctx, jobproto.TopicJobEvents, ev)
}

func (l link) Accept(ctx context.Context, to peer.ID, a *jobproto.Accept) error {
	_, err := jobproto.Request[jobproto.Accept, jobproto.Ack](ctx, l.n.net.peer, to, jobproto.ProtoAccept, a)
	return err
}

func (l link) Cancel(ctx context.Context, to peer.ID, c *jobproto.Cancel) error {
	_, err := jobproto.Request[jobproto.Cancel, jobproto.Ack](ctx, l.n.net.peer, to, jobproto.ProtoCancel, c)
	return err
}

func (l link) Pull(ctx context.Context, from peer.ID, p *jobproto.JobPull) (*jobproto.JobRecords, error) {
	return jobproto.Request[jobproto.JobPull, jobproto.JobRecords](ctx, l.n.net.peer, from, jobproto.ProtoJobPull, p)
}

// Nodes lists this node and every node it has heard from, by peer ID.
func (n *Node) Nodes() []api.PeerStatus {
	now := n.cfg.Now()
	self := api.PeerStatus{ID: n.id, Engines: slices.Clone(n.compute.Engines()), Capacity: api.Capacity(n.compute.Capacity()),
		Labels: maps.Clone(n.cfg.Labels), LastSeen: now, Self: true, Live: true}
	if p := n.peer(); p != nil {
		for _, a := range p.Addrs() {
			self.Addrs = append(self.Addrs, a.String())
		}
	}
	out := []api.PeerStatus{self}
	for _, p := range n.req.Peers() {
		addrs := make([]string, len(p.Addrs))
		for i, a := range p.Addrs { // dialable as they are, like this node's own
			if addrs[i] = a; !strings.Contains(a, "/p2p/") {
				addrs[i] = a + "/p2p/" + p.ID.String()
			}
		}
		out = append(out, api.PeerStatus{ID: p.ID.String(), Addrs: addrs, Engines: p.Engines, Capacity: api.Capacity(p.Capacity),
			Labels: p.Labels, LastSeen: p.LastSeen, Live: now.Sub(p.LastSeen) <= n.grace()})
	}
	sort.Slice(out, func(i, k int) bool { return out[i].ID < out[k].ID })
	return out
}

func (n *Node) grace() time.Duration {
	if n.cfg.Network == nil {
		return 0
	}
	return n.cfg.Network.Grace
}
