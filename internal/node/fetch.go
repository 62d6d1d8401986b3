package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// The fetch stage: an accepted execution whose module or input roots are not in the
// store has them fetched from the network by one of Config.Fetchers fetchers before it
// waits for a worker, so that content nobody has never holds a worker. The module is
// fetched whole, each input's root and the path inside it; the rest of an input is read
// lazily while the guest runs. The fetch is bounded by Config.FetchTimeout and by the
// job's own timeout, and the job's history says what is fetched from whom.

// ErrNotFound is matched (errors.Is) by the error of a fetch whose module or input
// cannot be found; the error's text, the execution's reason, names the CID alone.
var ErrNotFound = errors.New("node: content not found")

// notFound is an error that is ErrNotFound and reads as its message.
type notFound struct{ msg string }

func (e *notFound) Error() string        { return e.msg }
func (e *notFound) Is(target error) bool { return target == ErrNotFound }

func notFoundf(format string, args ...any) error { return &notFound{fmt.Sprintf(format, args...)} }

// maxProviders is how many providers a fetch looks up on the DHT.
const maxProviders = 3

// providerLookup bounds the DHT lookup that names the providers: the fetch does not
// wait for it longer (bitswap goes on searching), and it ends at the first provider.
const providerLookup = 2 * time.Second

func (n *Node) fetcher() {
	defer n.wg.Done()
	for {
		select {
		case t := <-n.fetchq:
			n.fetchTask(t)
		case <-n.ctx.Done():
			return
		}
	}
}

// fetchTask fetches what t needs and hands it to the workers, or reports why it
// cannot run.
func (n *Node) fetchTask(t *assignment) {
	if t.ctx.Err() != nil {
		n.dropTask(t)
		return
	}
	started := n.now()
	// The limit counts from the accept: time spent waiting for a fetcher is part of it.
	limit := min(n.cfg.FetchTimeout, specTimeout(t.spec))
	ctx, cancel := context.WithDeadline(t.ctx, t.accepted.Add(limit))
	n.fetching.Add(1)
	err := n.fetchContent(ctx, t, limit)
	n.fetching.Add(-1)
	cancel()
	switch {
	case err == nil:
		if ahead := len(n.queue); ahead > 0 || int(n.active.Load()) >= n.cfg.Concurrency {
			n.note(t, job.PhaseQueued, fmt.Sprintf("has its module and inputs; waiting for a worker (%d execution(s) ahead)", ahead))
		}
		select {
		case n.queue <- t:
		case <-n.ctx.Done():
			n.dropTask(t)
		}
		return
	case t.ctx.Err() != nil:
		n.dropTask(t)
		return
	}
	n.report(t, job.Execution{ID: t.execID, NodeID: n.id, State: job.StateFailed, StartedAt: started, EndedAt: n.now(), Error: err.Error()})
	n.forget(t)
}

// dropTask ends a task that was cancelled (or whose node is stopping) before it ran.
func (n *Node) dropTask(t *assignment) {
	if n.ctx.Err() == nil {
		n.report(t, job.Execution{ID: t.execID, NodeID: n.id, State: job.StateCancelled, EndedAt: n.now(), Error: reasonCancelled})
	}
	n.forget(t)
}

func specTimeout(spec job.Spec) time.Duration {
	if spec.Timeout <= 0 {
		return job.DefaultTimeout
	}
	return time.Duration(spec.Timeout)
}

// needsFetch reports whether an execution of spec must go through the fetch stage:
// its module is not whole in the store, or an input root is not there.
func (n *Node) needsFetch(spec job.Spec) bool {
	if !n.holds(spec) {
		return true
	}
	if spec.Module() == "" {
		return false
	}
	mod, err := job.ParseCID(spec.Module())
	return err == nil && !n.moduleWhole(mod)
}

// moduleWhole reports whether every block of the module file at c is in the store
// (a module whose root alone was fetched, by a `data` existence check for one, is not).
// It reads the module from the store once per process; a module that is not a file
// counts as whole: loading it fails with the reason.
func (n *Node) moduleWhole(c cid.Cid) bool {
	if n.wholeMods.Has(c) {
		return true
	}
	fsys, err := blockstore.NewFS(n.ctx, n.blocks.Blocks(), c)
	if err != nil {
		return false
	}
	f, err := fsys.Open(c.String())
	if err != nil {
		n.wholeMods.Add(c) // a directory: not a module, whole or not
		return true
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		return false
	}
	n.wholeMods.Add(c)
	return true
}

// fetchContent makes the module (whole) and each input's root and path local.
func (n *Node) fetchContent(ctx context.Context, t *assignment, limit time.Duration) error {
	if m := t.spec.Module(); m != "" {
		mod, err := job.ParseCID(m)
		if err != nil {
			return err
		}
		if err := n.fetchItem(ctx, t, "module", mod, "", limit); err != nil {
			return err
		}
	}
	for _, in := range t.spec.Inputs {
		c, err := job.ParseCID(in.CID)
		if err != nil {
			return err
		}
		if err := n.fetchItem(ctx, t, "input", c, in.Path, limit); err != nil {
			return err
		}
	}
	return nil
}

// fetchItem fetches one module (whole, when path is "" and what is "module") or input
// (its root and the nodes on path).
func (n *Node) fetchItem(ctx context.Context, t *assignment, what string, c cid.Cid, path string, limit time.Duration) error {
	name := c.String()
	if path != "" {
		name += "/" + path
	}
	local, err := n.blocks.Has(ctx, c)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	if !local && n.ex == nil {
		return notFoundf("%s %s is not on this node, which is not on a network", what, name)
	}
	if n.ex == nil {
		return n.resolvePath(ctx, what, c, path, limit) // all local
	}
	if what == "module" && local && n.moduleWhole(c) {
		return nil
	}
	t0 := time.Now()
	if !local || what == "module" {
		from := n.sources(ctx, c)
		n.note(t, job.PhaseFetching, fmt.Sprintf("fetching %s %s %s", what, name, from))
	}
	if what == "module" {
		if err := n.ex.FetchDAG(ctx, c); err != nil {
			return n.fetchError(ctx, what, name, limit, err)
		}
		n.note(t, job.PhaseFetching, fmt.Sprintf("fetched module %s (%s) in %s", name, n.moduleSize(ctx, c), time.Since(t0).Round(time.Millisecond)))
		return nil
	}
	if _, err := n.ex.Getter().GetBlock(ctx, c); err != nil {
		return n.fetchError(ctx, what, name, limit, err)
	}
	return n.resolvePath(ctx, what, c, path, limit)
}

// resolvePath walks path inside the DAG at c, fetching the nodes on it.
func (n *Node) resolvePath(ctx context.Context, what string, c cid.Cid, path string, limit time.Duration) error {
	if path == "" {
		return nil
	}
	name := c.String() + "/" + path
	fsys, err := blockstore.NewFS(ctx, n.getter(), c)
	if err != nil {
		return n.fetchError(ctx, what, name, limit, err)
	}
	if _, err := fs.Stat(fsys, strings.Trim(path, "/")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notFoundf("%s %s: no such file or directory in the DAG", what, name)
		}
		return n.fetchError(ctx, what, name, limit, err)
	}
	return nil
}

// fetchError says why a fetch failed: not found within the limit, or how it broke.
func (n *Node) fetchError(ctx context.Context, what, name string, limit time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return notFoundf("%s %s not found on the network within %s", what, name, limit)
	}
	return fmt.Errorf("fetching %s %s: %w", what, name, err)
}

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

// moduleSize is the size of the UnixFS file at c, in words, or "size unknown".
func (n *Node) moduleSize(ctx context.Context, c cid.Cid) string {
	fsys, err := blockstore.NewFS(ctx, n.getter(), c)
	if err != nil {
		return "size unknown"
	}
	st, err := fs.Stat(fsys, c.String())
	if err != nil {
		return "size unknown"
	}
	return job.FormatBytes(uint64(st.Size()))
}

// note tells the requester what an execution is doing before it runs, for the job's
// history. A requester that has given the execution up cancels the task.
func (n *Node) note(t *assignment, phase, msg string) {
	e := job.Execution{ID: t.execID, NodeID: n.id, State: job.StatePending, Phase: phase}
	u := &jobproto.ExecutionUpdate{JobID: t.jobID, ExecutionID: t.execID, Execution: e, Note: truncateText(msg, 1000)}
	if !n.sendUpdate(t, u) {
		t.cancel()
	}
}
