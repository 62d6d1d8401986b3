package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/compute"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
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
func (h host) Exchange() *blockstore.Exchange                { return h.n.ex }
func (h host) Sources(ctx context.Context, c cid.Cid) string { return h.n.sources(ctx, c) }
func (h host) Provide(c cid.Cid)                             { h.n.provide(c) }
func (h host) Sign(r *job.Receipt) error                     { return jobproto.SignReceipt(h.n.key, r, h.n.now()) }

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
	for p := range n.net.DHT().FindProvidersAsync(lctx, c, maxProviders) {
		if p.ID == n.peerID || len(p.ID) == 0 {
			continue
		}
		ids = append(ids, p.ID.String())
		if len(p.Addrs) > 0 && n.net.Host().Network().Connectedness(p.ID) != network.Connected {
			n.connect(ctx, p)
		}
		break // one is enough to start from; a lookup for more can take seconds
	}
	if len(ids) > 0 {
		return "from " + strings.Join(ids, ", ")
	}
	return fmt.Sprintf("(no provider found on the DHT): asking %d connected peer(s)", len(n.net.Host().Network().Peers()))
}

// connect dials a provider in the background; bitswap asks connected peers first.
func (n *Node) connect(ctx context.Context, p peer.AddrInfo) {
	n.goTrack(func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = n.net.Host().Connect(cctx, p)
	})
}

// note tells the requester what an execution is doing before it runs, for the job's
// history. A requester that has given the execution up cancels the task.
func (n *Node) note(t *compute.Assignment, phase, msg string) {
	e := job.Execution{ID: t.ExecID, NodeID: n.id, State: job.StatePending, Phase: phase}
	u := &jobproto.ExecutionUpdate{JobID: t.JobID, ExecutionID: t.ExecID, Execution: e, Note: truncateText(msg, 1000)}
	if !n.sendUpdate(t, u) {
		t.Cancel()
	}
}
