package node

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/store"
)

func readRandom(b []byte) (int, error) { return rand.Read(b) }

// Submit validates a spec, stores the job and queues it. The job is on disk when Submit
// returns: a crash after that loses nothing.
func (n *Node) Submit(ctx context.Context, spec job.Spec) (*job.Job, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.Engine != job.EngineWasm {
		return nil, fmt.Errorf("%w: engine %q (this node runs %q jobs; the docker engine is not built yet)", ErrUnsupported, spec.Engine, job.EngineWasm)
	}
	j := job.New(spec, n.now())
	if err := n.jobs.Create(j); err != nil {
		return nil, err
	}
	select {
	case n.queue <- j.ID:
	case <-ctx.Done():
		// Stored but not queued: it is queued again at the next start.
		return j, nil
	case <-n.ctx.Done():
		return nil, ErrClosed
	}
	return j, nil
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
func (n *Node) List(ctx context.Context, q store.Query) (store.Page, error) {
	return n.jobs.List(q)
}

// Cancel stops a pending or running job.
func (n *Node) Cancel(ctx context.Context, idOrPrefix string) (*job.Job, error) {
	id, err := n.jobs.Resolve(idOrPrefix)
	if err != nil {
		return nil, err
	}
	j, err := n.update(id, func(j *job.Job) error {
		if j.State == job.StateRunning {
			return nil // the worker records the end when the guest has stopped
		}
		return j.Transition(job.StateCancelled, "cancelled by the user", n.now())
	})
	if err != nil {
		return nil, err
	}
	if e, ok := n.running.Load(id); ok {
		e.(*execution).cancel()
		return n.Wait(ctx, id)
	}
	return j, nil
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

// update changes a stored job and wakes its watchers.
func (n *Node) update(id string, fn func(*job.Job) error) (*job.Job, error) {
	j, err := n.jobs.Update(id, fn)
	if err == nil {
		n.watch.publish(id)
	}
	return j, err
}
