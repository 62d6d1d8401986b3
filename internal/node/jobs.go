package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/store"
)

// Submit validates a spec, stores the job with this node as its requester and starts
// scheduling it. The job is on disk when Submit returns: a crash after that loses nothing.
func (n *Node) Submit(ctx context.Context, spec job.Spec) (*job.Job, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if !n.runs(spec.Engine) && !n.peerRuns(spec.Engine) {
		return nil, fmt.Errorf("%w: engine %q: no node of this network runs %s jobs (this node runs %s)", ErrUnsupported, spec.Engine, spec.Engine, job.JoinEngines(n.compute.Engines(), ", "))
	}
	if n.ctx.Err() != nil {
		return nil, ErrClosed
	}
	now := n.now()
	j := job.New(spec, now)
	j.ID = newJobID()
	j.Requester, j.Rev = n.id, 1
	// Alone on the network, this node takes the job in the same write that stores it:
	// a lone node pays one write per job less.
	local := !n.connected() && (n.compute.Refusal(spec) == "") && spec.Verify <= 1
	var execID string
	if local {
		execID = executionID(j.ID, 1)
		j.Executions = []job.Execution{{ID: execID, NodeID: n.id, State: job.StatePending, StartedAt: now}}
		j.Log(now, "", "taken by this node (no other node is connected)")
	}
	j.UpdateQueueClock(now)
	if err := n.jobs.Create(j); err != nil {
		return nil, err
	}
	n.publishEvent(j)
	if local {
		if err := n.compute.Enqueue(j.ID, execID, spec, n.peerID); err != nil {
			return nil, err // stored: settled when the node starts again
		}
	}
	n.startDrive(j.ID)
	return j, nil
}

// newJobID makes the IDs of submitted jobs; tests replace it.
var newJobID = job.NewID

// executionID names the k-th execution of a job: unique by construction, as it holds
// the job's whole UUID. The node keys its tasks and execution directories by it.
func executionID(jobID string, k int) string {
	return executionPrefix(jobID) + strconv.Itoa(k)
}

// executionPrefix is what the IDs of a job's executions start with.
func executionPrefix(jobID string) string {
	return "e-" + strings.TrimPrefix(jobID, job.IDPrefix) + "-"
}

// Get returns a job by ID or unique ID prefix.
func (n *Node) Get(ctx context.Context, idOrPrefix string) (*job.Job, error) {
	id, err := n.jobs.Resolve(idOrPrefix)
	if err != nil {
		return nil, err
	}
	return n.jobs.Get(id)
}

// List returns a page of jobs.
func (n *Node) List(ctx context.Context, q api.ListQuery) (api.ListPage, error) {
	p, err := n.jobs.List(store.Query(q))
	return api.ListPage(p), err
}

// Cancel stops a pending or running job. A job another node owns is cancelled through
// that node.
func (n *Node) Cancel(ctx context.Context, idOrPrefix string) (*job.Job, error) {
	id, err := n.jobs.Resolve(idOrPrefix)
	if err != nil {
		return nil, err
	}
	j, err := n.jobs.Get(id)
	if err != nil {
		return nil, err
	}
	if j.Requester == "" || j.Requester == n.id {
		return n.cancelOwned(id)
	}
	if j.State.Terminal() {
		return nil, fmt.Errorf("%w: %s is %s already, cannot become %s", job.ErrTransition, id, j.State, job.StateCancelled)
	}
	owner, err := peer.Decode(j.Requester)
	if err != nil || n.net == nil {
		return nil, fmt.Errorf("node: job %s belongs to node %s, which this node cannot reach", id, j.Requester)
	}
	if _, err := jobproto.Request[jobproto.Cancel, jobproto.Ack](ctx, n.net, owner, jobproto.ProtoCancel, &jobproto.Cancel{JobID: id}); err != nil {
		return nil, fmt.Errorf("node: cancel through the job's requester %s: %w", owner, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var last *job.Job
	_ = n.Watch(wctx, id, func(k *job.Job) bool { last = k; return !k.State.Terminal() })
	if last == nil {
		return n.jobs.Get(id)
	}
	return last, nil
}

// Wait blocks until the job is in a terminal state or ctx ends, and returns it.
func (n *Node) Wait(ctx context.Context, id string) (*job.Job, error) {
	var last *job.Job
	err := n.Watch(ctx, id, func(j *job.Job) bool {
		last = j
		return !j.State.Terminal()
	})
	return last, err
}

// Watch calls fn with the job now and after every change until fn returns false, the
// job is terminal, or ctx ends.
func (n *Node) Watch(ctx context.Context, idOrPrefix string, fn func(*job.Job) bool) error {
	id, err := n.jobs.Resolve(idOrPrefix)
	if err != nil {
		return err
	}
	sub := n.watch.subscribe(id)
	defer n.watch.unsubscribe(id, sub)
	seen := -1
	for {
		j, err := n.jobs.Get(id)
		if err != nil {
			return err
		}
		if len(j.History) != seen {
			seen = len(j.History)
			if !fn(j) || j.State.Terminal() {
				return nil
			}
		}
		select {
		case <-sub:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.ctx.Done():
			return ErrClosed
		}
	}
}

// update changes a job this node owns, bumps its revision, wakes its watchers and
// tells the network. An error from fn leaves the job as it was.
func (n *Node) update(id string, fn func(*job.Job) error) (*job.Job, error) {
	j, err := n.jobs.Update(id, func(j *job.Job) error {
		if err := fn(j); err != nil {
			return err
		}
		j.Rev++
		now := n.now()
		if now.After(j.UpdatedAt) {
			j.UpdatedAt = now
		}
		j.UpdateQueueClock(now)
		return nil
	})
	if err == nil {
		n.watch.publish(id)
		n.publishEvent(j)
	}
	return j, err
}
