package requester

import (
	"context"
	"fmt"
	"slices"
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
func (r *Requester) Submit(ctx context.Context, spec job.Spec) (*job.Job, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	local := r.cfg.Local
	if !local.Runs(spec.Engine) && !r.peerRuns(spec.Engine) {
		return nil, fmt.Errorf("%w: engine %q: no node of this network runs %s jobs (this node runs %s)", ErrUnsupported, spec.Engine, spec.Engine, job.JoinEngines(local.Engines(), ", "))
	}
	if r.ctx.Err() != nil {
		return nil, ErrClosed
	}
	now := r.now()
	j := job.New(spec, now)
	j.ID = r.cfg.JobIDs()
	j.Requester, j.Rev = r.id, 1
	// Alone on the network, this node takes the job in the same write that stores it:
	// a lone node pays one write per job less.
	alone := !r.connected() && local.Refusal(spec) == "" && spec.Verify <= 1
	var execID string
	if alone {
		execID = ExecutionID(j.ID, 1)
		j.Executions = []job.Execution{{ID: execID, NodeID: r.id, State: job.StatePending, StartedAt: now}}
		j.Log(now, "", "taken by this node (no other node is connected)")
	}
	j.UpdateQueueClock(now)
	if err := r.jobs.Create(j); err != nil {
		return nil, err
	}
	r.publishEvent(j)
	if alone {
		if err := local.Enqueue(j.ID, execID, spec, r.cfg.Self); err != nil {
			return nil, err // stored: settled when the node starts again
		}
	}
	r.startDrive(j.ID)
	return j, nil
}

// ExecutionID names the k-th execution of a job: unique by construction, as it holds
// the job's whole UUID. The compute side keys its tasks and execution directories by it.
func ExecutionID(jobID string, k int) string {
	return ExecutionPrefix(jobID) + strconv.Itoa(k)
}

// ExecutionPrefix is what the IDs of a job's executions start with.
func ExecutionPrefix(jobID string) string {
	return "e-" + strings.TrimPrefix(jobID, job.IDPrefix) + "-"
}

// peerRuns reports whether a live peer says it runs engine.
func (r *Requester) peerRuns(engine job.Engine) bool {
	if r.net == nil {
		return false
	}
	for _, p := range r.LivePeers() {
		if p.ID != r.cfg.Self && slices.Contains(p.Engines, engine) {
			return true
		}
	}
	return false
}

// Resolve returns the ID of the job whose ID is idOrPrefix or starts with it.
func (r *Requester) Resolve(idOrPrefix string) (string, error) { return r.jobs.Resolve(idOrPrefix) }

// Get returns a job by ID or unique ID prefix.
func (r *Requester) Get(ctx context.Context, idOrPrefix string) (*job.Job, error) {
	id, err := r.jobs.Resolve(idOrPrefix)
	if err != nil {
		return nil, err
	}
	return r.jobs.Get(id)
}

// List returns a page of jobs.
func (r *Requester) List(ctx context.Context, q api.ListQuery) (api.ListPage, error) {
	p, err := r.jobs.List(store.Query(q))
	return api.ListPage(p), err
}

// Cancel stops a pending or running job. A job another node owns is cancelled through
// that node.
func (r *Requester) Cancel(ctx context.Context, idOrPrefix string) (*job.Job, error) {
	id, err := r.jobs.Resolve(idOrPrefix)
	if err != nil {
		return nil, err
	}
	j, err := r.jobs.Get(id)
	if err != nil {
		return nil, err
	}
	if j.Requester == "" || j.Requester == r.id {
		return r.cancelOwned(id)
	}
	if j.State.Terminal() {
		return nil, fmt.Errorf("%w: %s is %s already, cannot become %s", job.ErrTransition, id, j.State, job.StateCancelled)
	}
	owner, err := peer.Decode(j.Requester)
	if err != nil || r.net == nil {
		return nil, fmt.Errorf("node: job %s belongs to node %s, which this node cannot reach", id, j.Requester)
	}
	if err := r.net.Cancel(ctx, owner, &jobproto.Cancel{JobID: id}); err != nil {
		return nil, fmt.Errorf("node: cancel through the job's requester %s: %w", owner, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var last *job.Job
	_ = r.Watch(wctx, id, func(k *job.Job) bool { last = k; return !k.State.Terminal() })
	if last == nil {
		return r.jobs.Get(id)
	}
	return last, nil
}

// Wait blocks until the job is in a terminal state or ctx ends, and returns it.
func (r *Requester) Wait(ctx context.Context, id string) (*job.Job, error) {
	var last *job.Job
	err := r.Watch(ctx, id, func(j *job.Job) bool {
		last = j
		return !j.State.Terminal()
	})
	return last, err
}

// Watch calls fn with the job now and after every change until fn returns false, the
// job is terminal, or ctx ends.
func (r *Requester) Watch(ctx context.Context, idOrPrefix string, fn func(*job.Job) bool) error {
	id, err := r.jobs.Resolve(idOrPrefix)
	if err != nil {
		return err
	}
	sub := r.watch.subscribe(id)
	defer r.watch.unsubscribe(id, sub)
	seen := -1
	for {
		j, err := r.jobs.Get(id)
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
		case <-r.ctx.Done():
			return ErrClosed
		}
	}
}

// Recover settles what a crash interrupted and returns the unfinished jobs this node
// owns, oldest first, for Resume. An execution this node recorded as running on itself
// ends as failed, and so does its job. (The guest starts while its running state is
// being written, so one that died in that window runs again; a guest's only effects
// are in its execution directory, which the node empties.) Executions this node
// accepted for other requesters are not on its disk: their requesters reschedule them.
func (r *Requester) Recover() ([]*job.Job, error) {
	ids := r.jobs.InState(job.StatePending, job.StateRunning)
	var owned []*job.Job
	for _, id := range ids {
		j, err := r.jobs.Get(id)
		if err != nil {
			return nil, fmt.Errorf("node: recover %s: %w", id, err)
		}
		if j.Requester != "" && j.Requester != r.id {
			continue // another node's job: its requester drives it
		}
		j, err = r.update(id, func(j *job.Job) error {
			now := r.now()
			j.Requester = r.id
			interrupted := false
			for i := range j.Executions {
				e := &j.Executions[i]
				if e.NodeID != r.id || e.State.Terminal() {
					continue
				}
				if e.State == job.StateRunning {
					e.State, e.EndedAt, e.Error = job.StateFailed, now, job.ReasonNodeStopped
					interrupted = true
				}
			}
			if interrupted {
				return j.Transition(job.StateFailed, job.ReasonNodeStopped, now)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("node: recover %s: %w", id, err)
		}
		owned = append(owned, j)
	}
	return owned, nil
}

// Resume drives the jobs Recover returned again: their executions this node had taken
// but not started are queued on it again, so a restart loses none of its own jobs.
func (r *Requester) Resume(owned []*job.Job) error {
	for _, j := range owned {
		for _, e := range j.Executions {
			if !j.State.Terminal() && e.NodeID == r.id && !e.Lost && e.State == job.StatePending {
				if err := r.cfg.Local.Enqueue(j.ID, e.ID, j.Spec, r.cfg.Self); err != nil {
					return err
				}
			}
		}
		r.startDrive(j.ID)
	}
	return nil
}
