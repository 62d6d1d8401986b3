// Package requester is the side of a node that owns jobs: the job store, the scheduling
// rounds (announce, collect bids, rank them, accept the best), the verification quorum,
// rescheduling when a node falls silent or restarts, the queue timeout, cancel, and the
// shared view (copies of other requesters' jobs, pulled when their events say they
// changed). It reaches its node's compute side through Local and the other nodes
// through Network, two small interfaces internal/node implements; tests give it fakes.
//
//	r := requester.New(ctx, requester.Config{Self: id, Store: jobs, Local: local, Net: net})
//	j, err := r.Submit(ctx, spec)
//	j, err = r.Wait(ctx, j.ID)
package requester
