// Package node wires one Bacalhau node: the requester side (job store, queue, state
// changes) and the compute side (workers that run executions on the node's executors,
// one per engine, against the blockstore and import their results). With one node it
// is a network of one.
//
//	x, err := wasm.New(ctx, wasm.Options{})
//	n, err := node.Open(ctx, node.Config{Repo: dir, Executors: map[job.Engine]executor.Executor{job.EngineWasm: x}})
//	j, err := n.Submit(ctx, spec)
//	j, err = n.Wait(ctx, j.ID)
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/compute"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/requester"
	"github.com/bacalhau-project/bacalhau-wasm/internal/store"
	"github.com/bacalhau-project/bacalhau-wasm/internal/version"
)

var (
	ErrClosed = errors.New("node: closed")
	// ErrUnsupported wraps job.ErrInvalid: asking for what the node cannot do is a bad request.
	ErrUnsupported = fmt.Errorf("%w: not supported by this node", job.ErrInvalid)
)

// Config configures a node. The zero value needs only Repo.
type Config struct {
	Repo        string       // holds blocks/, jobs/, executions/
	Concurrency int          // jobs run at once; 0 means the number of CPUs
	OutputLimit int64        // per-stream stdout/stderr cap; 0 means the sandbox default
	Logger      *slog.Logger // nil discards
	Now         func() time.Time
	Labels      map[string]string // what selectors (-s k=v) match against
	// Memory is what the node offers its jobs in all, in bytes: an execution reserves
	// its spec's memory from it while it runs, and a job asking for more than all of it
	// is refused. 0 means 3/4 of the machine's RAM.
	Memory uint64
	// MaxOutputsLimit is the largest outputs limit (spec.OutputsLimit) a job may ask
	// for on this node, in bytes. 0 means DefaultMaxOutputsLimit.
	MaxOutputsLimit uint64
	// Fetchers is how many executions at once may fetch their module and inputs from
	// the network before they wait for a worker. 0 means DefaultFetchers.
	Fetchers int
	// FetchTimeout bounds that fetch; it is never longer than the job's own timeout.
	// 0 means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Executors run the executions of each engine the node offers: the engines in its
	// bids, heartbeats and info are this map's keys. At least one is needed. The node
	// owns them from Open on, and closes them when it closes (or when Open fails).
	Executors map[job.Engine]executor.Executor
	// RepoMaxSize bounds the blockstore's bytes on disk: a write that would pass it
	// runs a garbage collection first and fails (blockstore.ErrRepoFull) if that is
	// not enough. 0 means DefaultRepoMaxSize; negative means no limit.
	RepoMaxSize int64
	// GCInterval is how often the node collects garbage on its own: blocks no pin
	// holds (fetched data, results past their retention). 0 means DefaultGCInterval;
	// negative means only when the repository is full or `repo gc` asks.
	GCInterval time.Duration
	// ResultRetention is how long the node keeps the result of a job it ran that
	// completed, FailedRetention that of one that did not (0: the defaults). What
	// users add is kept until they remove it.
	ResultRetention, FailedRetention time.Duration
	// Network makes the node a libp2p peer (DHT, GossipSub, bitswap). Without it the
	// node is a network of one that still signs its receipts.
	Network *NetConfig
}

// Defaults of the repository's size policy (see Config).
const (
	DefaultRepoMaxSize     = 10 << 30 // kubo's Datastore.StorageMax
	DefaultGCInterval      = time.Hour
	DefaultResultRetention = 30 * 24 * time.Hour
	DefaultFailedRetention = 24 * time.Hour
)

// Defaults of Config's zero values.
const (
	// DefaultMaxOutputsLimit lets a job ask for ten times the default outputs limit
	// without its node's operator changing anything, while one job cannot fill a disk
	// of the usual size with its result.
	DefaultMaxOutputsLimit = 10 << 30
	// DefaultFetchers: fetches wait on the network, not on the CPU. Eight let a node
	// fetch ahead for its workers while a few jobs whose content nobody has wait out
	// their fetch timeout.
	DefaultFetchers = 8
	// DefaultFetchTimeout: a module and the roots of the inputs are a few blocks to a few
	// MB, which a reachable provider sends within seconds; a minute also covers a DHT
	// lookup on a large network and a slow link, and bounds how long a job whose content
	// nobody has stays in the fetching phase.
	DefaultFetchTimeout = time.Minute
)

// NetConfig says how a node joins the network.
type NetConfig struct {
	Listen []string        // multiaddrs; default dht.DefaultListenAddrs
	Peers  []peer.AddrInfo // bootstrap peers; none starts a new network
	// Grace is how long a compute node may stay silent (no heartbeat) before its
	// executions are given to another node. Default 10 s.
	Grace time.Duration
	// Heartbeat is the interval of heartbeats. Default 1 s.
	Heartbeat time.Duration
	// BidWindow is how long a requester waits for bids from the nodes it knows of
	// before it picks among those that came. Default 300 ms.
	BidWindow time.Duration
	// FetchStall fails a download from peers (a DAG for data get or car export, a
	// block a guest reads) when no block arrives for this long. Default
	// blockstore.DefaultStallTimeout.
	FetchStall time.Duration
	// IPFSPeers are IPFS peers (kubo) the node keeps connected, for bitswap both ways.
	IPFSPeers []peer.AddrInfo
	// IPFSDHT also speaks the standard IPFS DHT, providing what the node holds there.
	IPFSDHT bool
}

// Node is one node. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	id     string // peer ID of key, as text
	peerID peer.ID
	key    crypto.PrivKey
	log    *slog.Logger
	blocks *blockstore.Store
	jobs   *store.Store
	now    func() time.Time

	compute *compute.Compute // the compute side: fetch, queue, workers, executors
	watch   *broker
	started time.Time // when Open ran: heartbeats carry it, so a restart is seen

	net     *dht.Peer            // nil without Config.Network
	ex      *blockstore.Exchange // nil without Config.Network
	peers   *peerTable
	bidMu   sync.Mutex
	bids    map[string]chan requester.Bid // job ID -> bids of the scheduling round under way
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

// goTrack runs f in a goroutine Close waits for; false if the node is closing.
func (n *Node) goTrack(f func()) bool {
	n.goMu.Lock()
	defer n.goMu.Unlock()
	if n.closing {
		return false
	}
	n.wg.Go(f)
	return true
}

// Open opens the repo (creating it if needed), recovers jobs a crash interrupted, and
// starts the workers.
func Open(ctx context.Context, cfg Config) (_ *Node, err error) {
	nodeCloses := false // once set, a failure's n.Close closes the executors
	defer func() {
		if err != nil && !nodeCloses {
			closeExecutors(cfg.Executors)
		}
	}()
	if cfg.Repo == "" {
		return nil, errors.New("node: no repo directory given")
	}
	if len(cfg.Executors) == 0 {
		return nil, errors.New("node: no executors: a node must offer at least one engine")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.NumCPU()
	}
	if cfg.RepoMaxSize == 0 {
		cfg.RepoMaxSize = DefaultRepoMaxSize
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if cfg.ResultRetention <= 0 {
		cfg.ResultRetention = DefaultResultRetention
	}
	if cfg.FailedRetention <= 0 {
		cfg.FailedRetention = DefaultFailedRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Memory == 0 {
		cfg.Memory = defaultMemory(cfg.Concurrency)
	}
	if cfg.MaxOutputsLimit == 0 {
		cfg.MaxOutputsLimit = DefaultMaxOutputsLimit
	}
	if cfg.Fetchers <= 0 {
		cfg.Fetchers = DefaultFetchers
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	for _, d := range []string{"blocks", "executions"} {
		if err := os.MkdirAll(filepath.Join(cfg.Repo, d), 0o700); err != nil {
			return nil, fmt.Errorf("node: repo: %w", err)
		}
	}
	key, err := dht.LoadIdentity(cfg.Repo)
	if err != nil {
		return nil, err
	}
	pid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("node: identity: %w", err)
	}
	n := &Node{cfg: cfg, id: pid.String(), peerID: pid, key: key, log: cfg.Logger, now: cfg.Now, watch: newBroker(),
		bids: map[string]chan requester.Bid{}, pulling: map[string]peer.ID{}, marks: map[peer.ID]pullMark{}, peers: newPeerTable()}
	if n.blocks, err = blockstore.Open(filepath.Join(cfg.Repo, "blocks"), blockstore.Options{Logger: cfg.Logger, MaxSize: max(cfg.RepoMaxSize, 0)}); err != nil {
		return nil, err
	}
	if n.jobs, err = openJobs(cfg.Repo, cfg.Logger); err != nil {
		n.blocks.Close()
		return nil, err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.started = n.now()
	nodeCloses = true
	owned, err := n.recover()
	if err != nil {
		n.Close()
		return nil, err
	}
	n.compute = compute.New(compute.Config{Dir: filepath.Join(cfg.Repo, "executions"), NodeID: n.id,
		Concurrency: cfg.Concurrency, Fetchers: cfg.Fetchers, FetchTimeout: cfg.FetchTimeout,
		Memory: cfg.Memory, MaxOutputsLimit: cfg.MaxOutputsLimit, OutputLimit: cfg.OutputLimit,
		ResultRetention: cfg.ResultRetention, FailedRetention: cfg.FailedRetention,
		Labels: cfg.Labels, Executors: cfg.Executors, Now: cfg.Now, Logger: cfg.Logger}, host{n}, n.blocks)
	if cfg.GCInterval > 0 {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.gcLoop() }()
	}
	if cfg.Network != nil {
		if err := n.startNetwork(ctx); err != nil {
			n.Close()
			return nil, err
		}
	}
	for _, j := range owned {
		for _, e := range j.Executions {
			if !j.State.Terminal() && e.NodeID == n.id && !e.Lost && e.State == job.StatePending {
				if err := n.compute.Enqueue(j.ID, e.ID, j.Spec, n.peerID); err != nil {
					n.Close()
					return nil, err
				}
			}
		}
		n.startDrive(j.ID)
	}
	return n, nil
}

func closeExecutors(xs map[job.Engine]executor.Executor) error {
	var errs []error
	for e, x := range xs {
		if err := x.Close(context.Background()); err != nil {
			errs = append(errs, fmt.Errorf("node: closing the %s executor: %w", e, err))
		}
	}
	return errors.Join(errs...)
}

// runs reports whether the node has an executor for engine.
func (n *Node) runs(engine job.Engine) bool { return n.compute.Runs(engine) }

// peerRuns reports whether a live peer says it runs engine.
func (n *Node) peerRuns(engine job.Engine) bool {
	if n.net == nil {
		return false
	}
	for _, p := range n.peers.live(n.now(), n.grace()) {
		if p.ID != n.peerID && slices.Contains(p.Engines, engine) {
			return true
		}
	}
	return false
}

// defaultMemory is 3/4 of the machine's RAM, leaving the rest to the node itself and
// the system; where RAM is unknown, enough for every worker to run a job of the largest
// memory a spec may ask for.
func defaultMemory(workers int) uint64 {
	if total := totalMemory(); total > 0 {
		return total / 4 * 3
	}
	return uint64(workers) * job.MaxMemory
}

// openJobs opens the job store, first importing the one-file store of earlier versions
// (jobs.db) if the repo has one; the file is kept, renamed jobs.db.imported.
func openJobs(repo string, log *slog.Logger) (*store.Store, error) {
	s, err := store.Open(filepath.Join(repo, "jobs"))
	if err != nil {
		return nil, err
	}
	legacy := filepath.Join(repo, "jobs.db")
	if _, err := os.Stat(legacy); err == nil {
		k, err := s.ImportBolt(legacy)
		if err == nil {
			err = os.Rename(legacy, legacy+".imported")
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("node: importing the jobs of %s: %w", legacy, err)
		}
		log.Info("imported the jobs of an earlier version", "jobs", k, "from", legacy)
	}
	return s, nil
}

// recover settles what a crash interrupted and returns the unfinished jobs this node
// owns, oldest first, to drive again; their executions this node had taken but not
// recorded as running are to be queued again: a restart loses none of its own jobs. An execution recorded as running ends as failed, and so does its job. (The
// guest starts while its running state is being written, so one that died in that
// window runs again; a guest's only effects are in its execution directory, which
// recover empties.) Executions this node accepted for other requesters are not on its
// disk: their requesters reschedule them.
func (n *Node) recover() ([]*job.Job, error) {
	ids := n.jobs.InState(job.StatePending, job.StateRunning)
	var owned []*job.Job
	for _, id := range ids {
		j, err := n.jobs.Get(id)
		if err != nil {
			return nil, fmt.Errorf("node: recover %s: %w", id, err)
		}
		if j.Requester != "" && j.Requester != n.id {
			continue // another node's job: its requester drives it
		}
		j, err = n.update(id, func(j *job.Job) error {
			now := n.now()
			j.Requester = n.id
			interrupted := false
			for i := range j.Executions {
				e := &j.Executions[i]
				if e.NodeID != n.id || e.State.Terminal() {
					continue
				}
				if e.State == job.StateRunning {
					e.State, e.EndedAt, e.Error = job.StateFailed, now, compute.ReasonNodeStopped
					interrupted = true
				}
			}
			if interrupted {
				return j.Transition(job.StateFailed, compute.ReasonNodeStopped, now)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("node: recover %s: %w", id, err)
		}
		owned = append(owned, j)
	}
	entries, _ := os.ReadDir(filepath.Join(n.cfg.Repo, "executions"))
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(n.cfg.Repo, "executions", e.Name()))
	}
	return owned, nil
}

// Close stops the workers (running jobs end as failed with a reason) and closes storage.
// Calls after the first return nil.
func (n *Node) Close() error {
	n.goMu.Lock()
	if n.closing {
		n.goMu.Unlock()
		return nil // closed, or closing, already
	}
	n.closing = true
	n.goMu.Unlock()
	if n.cancel != nil {
		n.cancel()
	}
	if n.compute != nil {
		n.compute.Close()
	}
	n.wg.Wait()
	var errs []error
	if n.ex != nil {
		errs = append(errs, n.ex.Close())
	}
	if n.net != nil {
		errs = append(errs, n.net.Close())
	}
	errs = append(errs, closeExecutors(n.cfg.Executors))
	if n.jobs != nil {
		errs = append(errs, n.jobs.Close())
	}
	if n.blocks != nil {
		errs = append(errs, n.blocks.Close())
	}
	return errors.Join(errs...)
}

// Info reports what the node is and how busy it is, for `bacalhau id` and the API.
func (n *Node) Info() api.NodeInfo {
	st := n.compute.Stats()
	info := api.NodeInfo{
		ID:          n.id,
		Labels:      maps.Clone(n.cfg.Labels),
		Version:     version.Version,
		Engines:     n.compute.Engines(),
		Concurrency: n.cfg.Concurrency,
		Queued:      st.Queued,
		Running:     st.Running,
		Fetching:    st.Fetching,
		Memory:      n.cfg.Memory,
		MemoryFree:  st.MemoryFree,
	}
	if n.net != nil {
		for _, a := range n.net.Addrs() {
			info.Addrs = append(info.Addrs, a.String())
		}
		info.Peers = len(n.peers.live(n.now(), n.grace()))
	}
	return info
}

// Blocks is the node's blockstore, for data add/get.
func (n *Node) Blocks() *blockstore.Store { return n.blocks }
