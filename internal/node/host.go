package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/compute"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/requester"
)

// host is the node as its compute side sees it (compute.Host): the link to the
// requesters of its executions, the network's blocks, and the node's key.
type host struct{ n *Node }

var _ compute.Host = host{}

func (h host) Report(a *compute.Assignment, e job.Execution) bool { return h.n.report(a, e) }
func (h host) Note(a *compute.Assignment, phase, msg string)      { h.n.note(a, phase, msg) }
func (h host) Getter() blockstore.BlockGetter                     { return h.n.getter() }
func (h host) ReadFile(ctx context.Context, c cid.Cid) ([]byte, error) {
	return h.n.ReadFile(ctx, c)
}
func (h host) Exchange() *blockstore.Exchange                { return h.n.exchange() }
func (h host) Sources(ctx context.Context, c cid.Cid) string { return h.n.sources(ctx, c) }
func (h host) Provide(c cid.Cid)                             { h.n.provide(c) }
func (h host) Sign(r *job.Receipt) error                     { return jobproto.SignReceipt(h.n.key, r, h.n.cfg.Now()) }

// maxProviders is how many providers a fetch looks up on the DHT.
const maxProviders = 3

// providerLookup bounds the DHT lookup that names the providers: the fetch does not
// wait for it longer (bitswap goes on searching), and it ends at the first provider.
const providerLookup = 2 * time.Second

// sources says whom a fetch of c asks: the providers the DHT names, or the connected
// peers when it names none. It connects to the providers, so bitswap asks them first.
func (n *Node) sources(ctx context.Context, c cid.Cid) string {
	lctx, cancel := context.WithTimeout(ctx, providerLookup)
	defer cancel()
	var ids []string
	for p := range n.net.peer.DHT().FindProvidersAsync(lctx, c, maxProviders) {
		if p.ID == n.peerID || len(p.ID) == 0 {
			continue
		}
		ids = append(ids, p.ID.String())
		if len(p.Addrs) > 0 && n.net.peer.Host().Network().Connectedness(p.ID) != network.Connected {
			n.connect(ctx, p)
		}
		break // one is enough to start from; a lookup for more can take seconds
	}
	if len(ids) > 0 {
		return "from " + strings.Join(ids, ", ")
	}
	return fmt.Sprintf("(no provider found on the DHT): asking %d connected peer(s)", len(n.net.peer.Host().Network().Peers()))
}

// connect dials a provider in the background; bitswap asks connected peers first.
func (n *Node) connect(ctx context.Context, p peer.AddrInfo) {
	n.goTrack(func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = n.net.peer.Host().Connect(cctx, p)
	})
}

// note tells the requester what an execution is doing before it runs, for the job's
// history. A requester that has given the execution up cancels the task.
func (n *Node) note(t *compute.Assignment, phase, msg string) {
	e := job.Execution{ID: t.ExecID, NodeID: n.id, State: job.StatePending, Phase: phase}
	u := &jobproto.ExecutionUpdate{JobID: t.JobID, ExecutionID: t.ExecID, Execution: e, Note: requester.TruncateText(msg, 1000)}
	if !n.sendUpdate(t, u) {
		t.Cancel()
	}
}

// report tells the requester how an execution goes: this node's own requester
// directly, another node's over the network. It returns false when the requester has
// given the execution up (the worker then stops). A terminal report to another node
// is retried in the background until it is taken or refused.
func (n *Node) report(t *compute.Assignment, e job.Execution) bool {
	u := &jobproto.ExecutionUpdate{JobID: t.JobID, ExecutionID: t.ExecID, Execution: e}
	if t.Requester == n.peerID || !e.State.Terminal() {
		return n.sendUpdate(t, u)
	}
	send := func() error { return n.sendRemote(t, u) }
	n.goTrack(func() {
		wait := 250 * time.Millisecond
		deadline := time.Now().Add(reportPatience)
		for {
			err := send()
			if err == nil || errors.Is(err, dht.ErrGivenUp) || time.Now().After(deadline) {
				if err != nil {
					n.cfg.Logger.Warn("report execution", "job", t.JobID, "execution", t.ExecID, "err", err)
				}
				return
			}
			select {
			case <-time.After(wait):
				wait = min(2*wait, 10*time.Second)
			case <-n.life.ctx.Done():
				return
			}
		}
	})
	return true
}

// sendUpdate delivers an update to the requester once (applies it, for this node's own
// jobs). It returns false when the requester has given the execution up.
func (n *Node) sendUpdate(t *compute.Assignment, u *jobproto.ExecutionUpdate) bool {
	if t.Requester == n.peerID {
		err := n.req.Apply(n.peerID, u)
		if err != nil && !errors.Is(err, dht.ErrGivenUp) && !errors.Is(err, requester.ErrUnchanged) {
			n.cfg.Logger.Error("record execution", "job", t.JobID, "execution", t.ExecID, "err", err)
		}
		return !errors.Is(err, dht.ErrGivenUp)
	}
	err := n.sendRemote(t, u)
	return !errors.Is(err, dht.ErrGivenUp)
}

func (n *Node) sendRemote(t *compute.Assignment, u *jobproto.ExecutionUpdate) error {
	ctx, cancel := context.WithTimeout(n.life.ctx, 5*time.Second)
	defer cancel()
	_, err := jobproto.Request[jobproto.ExecutionUpdate, jobproto.Ack](ctx, n.peer(), t.Requester, jobproto.ProtoUpdate, u)
	return err
}

// reportPatience is how long a compute node keeps trying to deliver a result.
const reportPatience = 10 * time.Minute

// local is the node's compute side as its requester uses it (requester.Local).
type local struct{ n *Node }

var _ requester.Local = local{}

func (l local) Refusal(spec job.Spec) string                 { return l.n.compute.Refusal(spec) }
func (l local) Bid(jobID string, spec job.Spec) jobproto.Bid { return l.n.compute.Bid(jobID, spec) }
func (l local) Runs(engine job.Engine) bool                  { return l.n.compute.Runs(engine) }
func (l local) Engines() []job.Engine                        { return l.n.compute.Engines() }
func (l local) Enqueue(jobID, execID string, spec job.Spec, requester peer.ID) error {
	return l.n.compute.Enqueue(jobID, execID, spec, requester)
}
func (l local) Stop(execID string) {
	if t, ok := l.n.compute.Assignment(execID); ok {
		t.Cancel()
	}
}
