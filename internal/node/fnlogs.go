package node

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/dht/fnproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/functions"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Bounds of a gathering of function logs from the network.
const (
	// logsTimeout bounds the wait for the peers' records: a peer that has not
	// answered by then is reported unreachable.
	logsTimeout = 3 * time.Second
	// logsFanout is how many peers are asked at once.
	logsFanout = 16
)

// localLogs returns this node's records of name's requests numbered above after, each
// naming this node.
func (n *Node) localLogs(name string, after uint64, limit int) []job.Invocation {
	recs := n.fn.rt.Logs(name, after, limit)
	for i := range recs {
		recs[i].Node = n.id
	}
	return recs
}

// Logs returns the records of name's requests on this node and on every live peer,
// those after cursor (each node's last sequence number seen; none: the latest), oldest
// first, the newest limit of them, with the cursor that follows them.
func (fs Functions) Logs(ctx context.Context, name string, cursor map[string]uint64, limit int) (api.FunctionLogs, error) {
	n := fs.n
	out := api.FunctionLogs{Records: []job.Invocation{}}
	if _, ok := n.fn.reg.Record(name); !ok {
		return out, fmt.Errorf("%w: %q", functions.ErrNotFound, name)
	}
	limit = min(max(limit, 1), fnproto.MaxLogRecords)
	recs := n.localLogs(name, cursor[n.id], limit)
	var mu sync.Mutex
	if p := n.peer(); p != nil {
		ctx, cancel := context.WithTimeout(ctx, logsTimeout)
		defer cancel()
		sem := make(chan struct{}, logsFanout)
		var wg sync.WaitGroup
		now := n.cfg.Now()
		for _, q := range n.req.Peers() {
			if now.Sub(q.LastSeen) > n.grace() {
				continue
			}
			wg.Go(func() {
				select {
				case sem <- struct{}{}:
					defer func() { <-sem }()
				case <-ctx.Done():
					mu.Lock()
					out.Unreachable = append(out.Unreachable, api.NodeError{Node: q.ID.String(), Error: ctx.Err().Error()})
					mu.Unlock()
					return
				}
				got, err := fnproto.Logs(ctx, p, q.ID, name, cursor[q.ID.String()], limit)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					out.Unreachable = append(out.Unreachable, api.NodeError{Node: q.ID.String(), Error: err.Error()})
					return
				}
				for _, r := range got {
					r.Node = q.ID.String() // the peer speaks for itself only
					recs = append(recs, r)
				}
			})
		}
		wg.Wait()
	}
	slices.SortStableFunc(recs, func(a, b job.Invocation) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Seq, b.Seq))
	})
	if len(recs) > limit {
		recs = recs[len(recs)-limit:]
	}
	next := maps.Clone(cursor)
	if next == nil {
		next = map[string]uint64{}
	}
	// A node's new cursor is its newest record's number, lower than the old cursor
	// when the node restarted (its records live in memory and are numbered anew).
	newest := map[string]uint64{}
	for _, r := range recs {
		newest[r.Node] = max(newest[r.Node], r.Seq)
	}
	maps.Copy(next, newest)
	out.Records = append(out.Records, recs...)
	out.Cursor = api.FormatLogCursor(next)
	slices.SortFunc(out.Unreachable, func(a, b api.NodeError) int { return cmp.Compare(a.Node, b.Node) })
	return out, nil
}
