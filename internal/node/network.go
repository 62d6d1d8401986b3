package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/requester"
)

// Network defaults (NetConfig's zero values).
const (
	DefaultGrace     = 10 * time.Second
	DefaultHeartbeat = time.Second
	DefaultBidWindow = 300 * time.Millisecond
)

// startNetwork starts the libp2p peer, bitswap on it, the topic subscriptions, the
// stream handlers and the heartbeats.
func (n *Node) startNetwork(ctx context.Context) error {
	nc := n.cfg.Network
	if nc.Grace <= 0 {
		nc.Grace = DefaultGrace
	}
	if nc.Heartbeat <= 0 {
		nc.Heartbeat = DefaultHeartbeat
	}
	if nc.BidWindow <= 0 {
		nc.BidWindow = DefaultBidWindow
	}
	dn, err := dht.New(ctx, dht.Config{Dir: n.cfg.Repo, ListenAddrs: nc.Listen, Bootstrap: nc.Peers, Labels: n.cfg.Labels, Logger: n.log, Topics: jobproto.Topics(),
		IPFSPeers: nc.IPFSPeers, IPFSDHT: nc.IPFSDHT})
	if err != nil {
		return err
	}
	n.net = dn
	if n.ex, err = n.blocks.StartBitswapWith(n.ctx, dn.Host(), dn.Routing(), blockstore.ExchangeOptions{StallTimeout: nc.FetchStall}); err != nil {
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
		ch, err := dn.Subscribe(n.ctx, t)
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
	return nil
}

// heartbeats publishes this node's heartbeat every interval.
func (n *Node) heartbeats() {
	t := time.NewTicker(n.cfg.Network.Heartbeat)
	defer t.Stop()
	for {
		hb := jobproto.NewHeartbeat(n.net, n.compute.Engines(), n.compute.Capacity())
		hb.Started = n.started
		if err := n.net.Publish(n.ctx, jobproto.TopicHeartbeats, hb); err != nil && n.ctx.Err() == nil {
			n.log.Debug("heartbeat", "err", err)
		}
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
	}
}

func (n *Node) onHeartbeat(m dht.Message) {
	hb, ok := m.Payload.(*jobproto.Heartbeat)
	if !ok || m.From == n.peerID {
		return
	}
	if n.peers.saw(hb, n.now(), 3*n.cfg.Network.Heartbeat) {
		// New, or back after a silence (a restart, a healed partition): catch up on
		// the jobs it owns.
		n.goTrack(func() { n.catchUp(hb.Node) })
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
		ctx, cancel := context.WithTimeout(n.ctx, acceptTimout)
		defer cancel()
		if _, err := jobproto.Request[jobproto.Bid, jobproto.Ack](ctx, n.net, a.Requester, jobproto.ProtoBid, &b); err != nil {
			n.log.Debug("bid", "job", a.JobID, "err", err)
		}
	})
}

func (n *Node) handleBid(_ context.Context, from peer.ID, b *jobproto.Bid) (*jobproto.Ack, error) {
	n.bidMu.Lock()
	ch := n.bids[b.JobID]
	n.bidMu.Unlock()
	if ch == nil {
		return &jobproto.Ack{OK: false}, nil // the round is over
	}
	select {
	case ch <- requester.Bid{Node: from, Bid: *b}:
		return &jobproto.Ack{OK: true}, nil
	default:
		return &jobproto.Ack{OK: false}, nil
	}
}

func (n *Node) handleAccept(_ context.Context, from peer.ID, a *jobproto.Accept) (*jobproto.Ack, error) {
	// An execution ID names its job: a peer cannot take another job's ID ahead of its
	// requester.
	if !strings.HasPrefix(a.ExecutionID, executionPrefix(a.JobID)) {
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
	if err := n.applyUpdate(from, u); err != nil {
		return nil, err // errGivenUp goes as dht.ErrGivenUp
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
	j, err := n.jobs.Get(c.JobID)
	if err != nil {
		return nil, err
	}
	if j.Requester != n.id {
		return nil, errors.New("this node is not the job's requester")
	}
	if _, err := n.cancelOwned(c.JobID); err != nil {
		return nil, err
	}
	return &jobproto.Ack{OK: true}, nil
}

// maxPullBytes keeps a JobRecords answer under jobproto.MaxJobPullSize.
const maxPullBytes = jobproto.MaxJobPullSize * 3 / 4

func (n *Node) handleJobPull(_ context.Context, _ peer.ID, p *jobproto.JobPull) (*jobproto.JobRecords, error) {
	ids := p.IDs
	more := false
	if len(ids) == 0 {
		ids, _, more = n.jobs.UpdatedSince(n.id, time.Unix(0, p.Since), p.After, jobproto.MaxPullJobs)
	}
	out := &jobproto.JobRecords{More: more}
	size := 0
	for _, id := range ids {
		j, err := n.jobs.Get(id)
		if err != nil || j.Requester != n.id {
			continue
		}
		b, err := json.Marshal(j)
		if err != nil {
			continue
		}
		if size+len(b) > maxPullBytes {
			out.More = true
			break
		}
		size += len(b)
		out.Jobs = append(out.Jobs, b)
	}
	return out, nil
}

// onJobEvent pulls a job record from its requester when the event says it is newer
// than this node's copy.
func (n *Node) onJobEvent(m dht.Message) {
	ev, ok := m.Payload.(*jobproto.JobEvent)
	if !ok || m.From == n.peerID || n.jobs.Rev(ev.JobID) >= ev.Rev {
		return
	}
	n.pullMu.Lock()
	if _, busy := n.pulling[ev.JobID]; busy {
		n.pulling[ev.JobID] = ev.Node // pull once more when the current pull ends
		n.pullMu.Unlock()
		return
	}
	n.pulling[ev.JobID] = ""
	n.pullMu.Unlock()
	n.goTrack(func() {
		from := ev.Node
		for {
			n.pullIDs(from, []string{ev.JobID})
			n.pullMu.Lock()
			again := n.pulling[ev.JobID]
			if again == "" {
				delete(n.pulling, ev.JobID)
				n.pullMu.Unlock()
				return
			}
			n.pulling[ev.JobID] = ""
			n.pullMu.Unlock()
			from = again
		}
	})
}

func (n *Node) pullIDs(from peer.ID, ids []string) {
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	recs, err := jobproto.Request[jobproto.JobPull, jobproto.JobRecords](ctx, n.net, from, jobproto.ProtoJobPull, &jobproto.JobPull{IDs: ids})
	if err != nil {
		n.log.Debug("pull job", "from", from, "err", err)
		return
	}
	n.storeCopies(from, recs)
}

// catchUp pulls every job record from owns that changed since the last catch-up.
func (n *Node) catchUp(from peer.ID) {
	n.pullMu.Lock()
	mark := n.marks[from]
	n.pullMu.Unlock()
	for n.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		recs, err := jobproto.Request[jobproto.JobPull, jobproto.JobRecords](ctx, n.net, from, jobproto.ProtoJobPull,
			&jobproto.JobPull{Since: mark.since.UnixNano(), After: mark.after})
		cancel()
		if err != nil {
			n.log.Debug("catch up", "from", from, "err", err)
			return
		}
		last := n.storeCopies(from, recs)
		if last != nil {
			mark = pullMark{since: last.UpdatedAt, after: last.ID}
			n.pullMu.Lock()
			n.marks[from] = mark
			n.pullMu.Unlock()
		}
		if !recs.More || last == nil {
			return
		}
	}
}

// pullMark is how far a catch-up from one requester got.
type pullMark struct {
	since time.Time
	after string
}

// storeCopies stores the valid records of jobs from owns and returns the last one.
func (n *Node) storeCopies(from peer.ID, recs *jobproto.JobRecords) *job.Job {
	var last *job.Job
	for _, b := range recs.Jobs {
		j, err := jobproto.DecodeJob(b, from)
		if err != nil {
			n.log.Warn("job record refused", "from", from, "err", err)
			continue
		}
		last = j
		if j.Requester == n.id {
			continue
		}
		if wrote, err := n.jobs.Put(j); err != nil {
			n.log.Error("store job copy", "job", j.ID, "err", err)
		} else if wrote {
			n.watch.publish(j.ID)
		}
	}
	return last
}

// connected reports whether this node has a connection to any peer.
func (n *Node) connected() bool {
	return n.net != nil && len(n.net.Host().Network().Peers()) > 0
}

// publishEvent tells the network that a job this node owns changed.
func (n *Node) publishEvent(j *job.Job) {
	if !n.connected() {
		return // nobody to tell: a node that connects later catches up by pulling
	}
	ev := &jobproto.JobEvent{JobID: j.ID, State: j.State, Time: j.UpdatedAt, Node: n.peerID, Rev: j.Rev, Reason: truncateText(j.Reason, 1000)}
	if e := j.Reported(); e != nil && j.State == job.StateCompleted {
		ev.ResultCID = e.ResultCID
	}
	if err := n.net.Publish(n.ctx, jobproto.TopicJobEvents, ev); err != nil && n.ctx.Err() == nil {
		n.log.Debug("publish job event", "job", j.ID, "err", err)
	}
}

func truncateText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && s[max]&0xc0 == 0x80 {
		max--
	}
	return s[:max]
}

// Nodes lists this node and every node it has heard from, by peer ID.
func (n *Node) Nodes() []api.PeerStatus {
	now := n.now()
	self := api.PeerStatus{ID: n.id, Engines: slices.Clone(n.compute.Engines()), Capacity: api.Capacity(n.compute.Capacity()),
		Labels: maps.Clone(n.cfg.Labels), LastSeen: now, Self: true, Live: true}
	if n.net != nil {
		for _, a := range n.net.Addrs() {
			self.Addrs = append(self.Addrs, a.String())
		}
	}
	out := []api.PeerStatus{self}
	for _, p := range n.peers.all() {
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

// peerTable holds the last heartbeat of every node heard from.
type peerTable struct {
	mu sync.Mutex
	m  map[peer.ID]*peerEntry
}

type peerEntry struct {
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

func newPeerTable() *peerTable { return &peerTable{m: map[peer.ID]*peerEntry{}} }

// saw records a heartbeat; it reports whether the node is new or was silent for stale.
func (t *peerTable) saw(hb *jobproto.Heartbeat, now time.Time, stale time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[hb.Node]
	fresh := e == nil || now.Sub(e.LastSeen) > stale
	ne := &peerEntry{ID: hb.Node, Addrs: hb.Addrs, Engines: hb.Engines, Capacity: hb.Capacity, Labels: hb.Labels, LastSeen: now, Started: hb.Started}
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
func (t *peerTable) live(now time.Time, grace time.Duration) []peerEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []peerEntry
	for _, e := range t.m {
		if now.Sub(e.LastSeen) <= grace {
			out = append(out, *e)
		}
	}
	return out
}

func (t *peerTable) all() []peerEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]peerEntry, 0, len(t.m))
	for _, e := range t.m {
		out = append(out, *e)
	}
	return out
}
