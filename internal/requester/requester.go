package requester

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/store"
)

var (
	// ErrClosed is returned once the requester is closing.
	ErrClosed = errors.New("node: closed")
	// ErrUnsupported wraps job.ErrInvalid: asking for what the node cannot do is a bad request.
	ErrUnsupported = fmt.Errorf("%w: not supported by this node", job.ErrInvalid)
	// ErrUnchanged is what Apply returns for an update that changes nothing (a
	// compute node telling the phase it told already).
	ErrUnchanged = errors.New("unchanged")
)

// errGivenUp answers an update for an execution the requester no longer waits for. It
// is dht.ErrGivenUp, whose code crosses the stream to the compute node; its text keeps
// "execution given up", which compute nodes before codes look for.
var errGivenUp = fmt.Errorf("%w by the requester", dht.ErrGivenUp)

// Local is the compute side of the requester's own node, as the requester uses it: it
// bids for the node's own jobs like any peer and runs the executions accepted on it.
type Local interface {
	// Refusal says why the node cannot run spec now, or "" if it can; Bid is its bid.
	Refusal(spec job.Spec) string
	Bid(jobID string, spec job.Spec) jobproto.Bid
	// Runs reports whether the node has an executor for engine; Engines lists them.
	Runs(engine job.Engine) bool
	Engines() []job.Engine
	// Enqueue takes an execution for requester; Stop stops one it holds, if it does.
	Enqueue(jobID, execID string, spec job.Spec, requester peer.ID) error
	Stop(execID string)
}

// Network is how the requester reaches other nodes: the job topics and the job
// protocol's streams (package dht/jobproto).
type Network interface {
	// Connected reports whether any peer is connected.
	Connected() bool
	// Announce publishes a job on jobproto.TopicJobs; Event a change on TopicJobEvents.
	Announce(ctx context.Context, a *jobproto.JobAnnouncement) error
	Event(ctx context.Context, ev *jobproto.JobEvent) error
	// Accept hands an execution to a node that bid; an error means it did not take it.
	Accept(ctx context.Context, to peer.ID, a *jobproto.Accept) error
	// Cancel asks a node to stop an execution (c.ExecutionID) or, sent to a job's
	// requester, to cancel the job.
	Cancel(ctx context.Context, to peer.ID, c *jobproto.Cancel) error
	// Pull asks a requester for job records.
	Pull(ctx context.Context, from peer.ID, p *jobproto.JobPull) (*jobproto.JobRecords, error)
}

// Config configures a requester. Self, Store and Local are needed.
type Config struct {
	Self   peer.ID      // this node
	Store  *store.Store // every job this node knows of: its own and copies of others'
	Local  Local
	Net    Network           // nil: a network of one
	Labels map[string]string // this node's labels, for the reason a job cannot run
	// Grace is how long a node may stay silent before its executions are given up;
	// Heartbeat is the interval of heartbeats (a node silent for three is caught up
	// with when heard again); BidWindow is how long a round waits for bids.
	Grace, Heartbeat, BidWindow time.Duration
	Now                         func() time.Time // nil: time.Now in UTC
	// JobIDs makes the IDs of submitted jobs; nil is job.NewID. Tests set it to make
	// IDs that share a prefix.
	JobIDs func() string
	Logger *slog.Logger // nil discards
	// Settled, if set, is called once for each job this node owns when it reaches a
	// terminal state (completed, failed or cancelled), after the change is stored.
	Settled func(*job.Job)
}

// Requester owns the jobs submitted to its node: it stores them, schedules their
// executions on the nodes that bid, gives up silent nodes' executions and schedules
// again, settles each job from its executions (comparing their result CIDs when the
// job asks for verification), and keeps this node's copies of other requesters' jobs
// up to date. Its methods are safe for concurrent use.
type Requester struct {
	cfg   Config
	id    string // cfg.Self as text, as job records name nodes
	jobs  *store.Store
	net   Network
	log   *slog.Logger
	now   func() time.Time
	peers *peerTable
	watch *broker

	bidMu   sync.Mutex
	bids    map[string]chan Bid // job ID -> bids of the scheduling round under way
	pullMu  sync.Mutex
	pulling map[string]peer.ID // job ID -> requester to pull it from again
	marks   map[peer.ID]pullMark
	driving sync.Map // job ID -> struct{}: a drive loop owns it

	ctx     context.Context
	cancel  context.CancelFunc
	goMu    sync.Mutex // guards closing and wg.Add against Close
	closing bool
	wg      sync.WaitGroup
}

// New makes a requester; it starts nothing until Resume or Submit. Its drive loops and
// requests stop when ctx ends or Close is called; Close also waits for them.
func New(ctx context.Context, cfg Config) *Requester {
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.JobIDs == nil {
		cfg.JobIDs = job.NewID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Requester{cfg: cfg, id: cfg.Self.String(), jobs: cfg.Store, net: cfg.Net, log: cfg.Logger, now: cfg.Now,
		peers: newPeerTable(), watch: newBroker(),
		bids: map[string]chan Bid{}, pulling: map[string]peer.ID{}, marks: map[peer.ID]pullMark{}}
	r.ctx, r.cancel = context.WithCancel(ctx)
	return r
}

// Close stops the drive loops, pulls and background requests and waits for them.
// Calls after the first return at once.
func (r *Requester) Close() {
	r.goMu.Lock()
	if r.closing {
		r.goMu.Unlock()
		return
	}
	r.closing = true
	r.goMu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// goTrack runs f in a goroutine Close waits for; false if the requester is closing.
func (r *Requester) goTrack(f func()) bool {
	r.goMu.Lock()
	defer r.goMu.Unlock()
	if r.closing {
		return false
	}
	r.wg.Go(f)
	return true
}

// connected reports whether this node has a connection to any peer.
func (r *Requester) connected() bool { return r.net != nil && r.net.Connected() }

// update changes a job this node owns, bumps its revision, wakes its watchers and
// tells the network. An error from fn leaves the job as it was.
func (r *Requester) update(id string, fn func(*job.Job) error) (*job.Job, error) {
	settled := false
	j, err := r.jobs.Update(id, func(j *job.Job) error {
		was := j.State
		if err := fn(j); err != nil {
			return err
		}
		j.Rev++
		now := r.now()
		if now.After(j.UpdatedAt) {
			j.UpdatedAt = now
		}
		j.UpdateQueueClock(now)
		settled = !was.Terminal() && j.State.Terminal()
		return nil
	})
	if err == nil {
		if settled && r.cfg.Settled != nil {
			r.cfg.Settled(j) // before the watchers wake: who saw the end sees it counted
		}
		r.watch.publish(id)
		r.publishEvent(j)
	}
	return j, err
}
