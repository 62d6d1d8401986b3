package node

import (
	"context"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// The repository's size policy: what users add is pinned until they remove it, a job's
// result for Config.ResultRetention (FailedRetention if it did not complete), blocks
// fetched from peers not at all. A garbage collection, every Config.GCInterval, when a
// write would pass Config.RepoMaxSize, or when `repo gc` asks, deletes what no pin and
// no execution under way holds, and compacts the pack files.

// GC collects the repository's garbage now.
func (n *Node) GC(ctx context.Context) (api.GCResult, error) {
	r, err := n.blocks.GC(ctx, blockstore.GCOptions{Now: n.cfg.Now()})
	if err != nil {
		return api.GCResult{}, err
	}
	return api.GCResult{Marked: r.Marked, PinsExpired: r.PinsExpired, BlocksFreed: r.BlocksFreed, BytesFreed: r.BytesFreed,
		PacksCompacted: r.PacksCompacted, PackBytesFreed: r.PackBytesFreed, DiskBefore: r.DiskBefore, DiskAfter: r.DiskAfter,
		Deferred: r.Deferred, Duration: job.Duration(r.Duration)}, nil
}

// RepoStat measures the repository.
func (n *Node) RepoStat(ctx context.Context) (api.RepoStat, error) {
	st, err := n.blocks.Stat(ctx)
	if err != nil {
		return api.RepoStat{}, err
	}
	return api.RepoStat(st), nil
}

// gcLoop collects garbage every Config.GCInterval.
func (n *Node) gcLoop() {
	t := time.NewTicker(n.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r, err := n.GC(n.life.ctx)
			if err != nil {
				if n.life.ctx.Err() == nil {
					n.cfg.Logger.Warn("garbage collection", "err", err)
				}
				continue
			}
			n.cfg.Logger.Info("garbage collected", "blocks", r.BlocksFreed, "bytes", r.BytesFreed+r.PackBytesFreed, "took", time.Duration(r.Duration))
		case <-n.life.ctx.Done():
			return
		}
	}
}

// Hold starts work the API does in several calls: an import (the files of a directory,
// then the directory), or a download (a fetch, then the export of the DAGs under keep).
// A GC leaves what it writes, and the DAGs under keep, alone until release runs.
func (d *DataFront) Hold(ctx context.Context, keep ...cid.Cid) (context.Context, func()) {
	h := d.Store.Hold()
	h.Keep(keep...)
	return h.Context(ctx), h.Release
}

// Added pins a DAG the API added (unless pin is false), until the user removes it, and
// announces it so that other nodes find it.
func (d *DataFront) Added(ctx context.Context, c cid.Cid, pin bool) error {
	if pin {
		if err := d.Store.Pin(ctx, c, blockstore.PinInfo{Kind: blockstore.PinData, Created: d.n.cfg.Now()}); err != nil {
			return err
		}
	}
	d.n.provide(c)
	return nil
}

// Remove unpins a DAG a user added: the next garbage collection frees what nothing
// else holds. A DAG the user did not add (or removed already) is blockstore.ErrNotFound.
func (d *DataFront) Remove(ctx context.Context, c cid.Cid) error {
	return d.Store.Unpin(ctx, c, blockstore.PinData, "")
}
