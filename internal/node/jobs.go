package node

import (
	"context"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// The API's job routes are the requester's (internal/requester).

// Submit validates a spec, stores the job with this node as its requester and starts
// scheduling it. The job is on disk when Submit returns: a crash after that loses nothing.
func (n *Node) Submit(ctx context.Context, spec job.Spec) (*job.Job, error) {
	j, err := n.req.Submit(ctx, spec)
	if err == nil {
		n.counts.submit(j)
	}
	return j, err
}

// Get returns a job by ID or unique ID prefix.
func (n *Node) Get(ctx context.Context, idOrPrefix string) (*job.Job, error) {
	return n.req.Get(ctx, idOrPrefix)
}

// List returns a page of jobs.
func (n *Node) List(ctx context.Context, q api.ListQuery) (api.ListPage, error) {
	return n.req.List(ctx, q)
}

// Cancel stops a pending or running job. A job another node owns is cancelled through
// that node.
func (n *Node) Cancel(ctx context.Context, idOrPrefix string) (*job.Job, error) {
	return n.req.Cancel(ctx, idOrPrefix)
}

// Wait blocks until the job is in a terminal state or ctx ends, and returns it.
func (n *Node) Wait(ctx context.Context, id string) (*job.Job, error) { return n.req.Wait(ctx, id) }

// Watch calls fn with the job now and after every change until fn returns false, the
// job is terminal, or ctx ends.
func (n *Node) Watch(ctx context.Context, idOrPrefix string, fn func(*job.Job) bool) error {
	return n.req.Watch(ctx, idOrPrefix, fn)
}
