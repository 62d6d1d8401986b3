// Package node wires one Bacalhau node: it opens the repository (blockstore, job store,
// identity), joins the network (dht.Peer, the job protocol's topics and streams), and
// builds the requester side (internal/requester: jobs, scheduling, the shared view) and
// the compute side (internal/compute: executions run on the node's executors), routing
// messages and reports between them. It also serves the API's data front. With one
// node it is a network of one.
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
	ErrClosed = requester.ErrClosed
	// ErrUnsupported wraps job.ErrInvalid: asking for what the node cannot do is a bad request.
	ErrUnsupported = requester.ErrUnsupported
)

// Config configures a node. The zero value needs only Repo.
type Config struct {
	Repo        string       // holds blocks/, jobs/, executions/
	Concurrency int          // jobs run at once; 0 means the number of CPUs
	OutputLimit int64        // per-stream stdout/stderr cap; 0 means the sandbox default
	Logger      *slog.Logger // nil discards
	Now         func() time.Time
	// JobIDs makes the IDs of jobs submitted to this node; nil is job.NewID. Tests set
	// it to make IDs that share a prefix.
	JobIDs func() string
	Labels map[string]string // what selectors (-s k=v) match against
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
	// Functions configures the functions role (functions.go); nil takes its defaults.
	Functions *FunctionsConfig
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

// Node is one node: the wiring of its requester and compute sides to its storage, its
// network and its API. Its methods are safe for concurrent use.
type Node struct {
	cfg     Config
	id      string // peer ID of key, as text
	peerID  peer.ID
	key     crypto.PrivKey
	blocks  *blockstore.Store
	jobs    *store.Store
	compute *compute.Compute     // the compute side: fetch, queue, workers, executors
	fn      *fnRole              // the functions role: registry, runtime (functions.go)
	req     *requester.Requester // the requester side: jobs, scheduling, the shared view
	net     *netSide             // nil without Config.Network
	counts  *jobCounters         // for /metrics (metrics.go)
	life    lifetime
}

// lifetime is what the node's own goroutines (heartbeats, reports, GC) run under.
type lifetime struct {
	ctx     context.Context
	cancel  context.CancelFunc
	started time.Time  // when Open ran: heartbeats carry it, so a restart is seen
	mu      sync.Mutex // guards closing and wg.Add against Close
	closing bool
	wg      sync.WaitGroup
}

// goTrack runs f in a goroutine Close waits for; false if the node is closing.
func (n *Node) goTrack(f func()) bool {
	n.life.mu.Lock()
	defer n.life.mu.Unlock()
	if n.life.closing {
		return false
	}
	n.life.wg.Go(f)
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
	cfg = withDefaults(cfg)
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
	n := &Node{cfg: cfg, id: pid.String(), peerID: pid, key: key, counts: newJobCounters()}
	if n.blocks, err = blockstore.Open(filepath.Join(cfg.Repo, "blocks"), blockstore.Options{Logger: cfg.Logger, MaxSize: max(cfg.RepoMaxSize, 0)}); err != nil {
		return nil, err
	}
	if n.jobs, err = openJobs(cfg.Repo, cfg.Logger); err != nil {
		n.blocks.Close()
		return nil, err
	}
	n.life.ctx, n.life.cancel = context.WithCancel(context.Background())
	n.life.started = cfg.Now()
	nodeCloses = true
	rc := requester.Config{Self: pid, Store: n.jobs, Local: local{n}, Labels: cfg.Labels, Now: cfg.Now, JobIDs: cfg.JobIDs, Logger: cfg.Logger,
		Settled: n.counts.settle}
	if nc := cfg.Network; nc != nil {
		n.net = &netSide{}
		rc.Net = link{n}
		rc.Grace, rc.Heartbeat, rc.BidWindow = nc.Grace, nc.Heartbeat, nc.BidWindow
	}
	n.req = requester.New(n.life.ctx, rc) // stopped with the node's own goroutines, before the compute side closes
	owned, err := n.req.Recover()
	if err != nil {
		n.Close()
		return nil, err
	}
	// A guest's only effects are in its execution directory: what a crash left there
	// goes (recovered executions run again from nothing).
	entries, _ := os.ReadDir(filepath.Join(cfg.Repo, "executions"))
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(cfg.Repo, "executions", e.Name()))
	}
	n.compute = compute.New(compute.Config{Dir: filepath.Join(cfg.Repo, "executions"), NodeID: n.id,
		Concurrency: cfg.Concurrency, Fetchers: cfg.Fetchers, FetchTimeout: cfg.FetchTimeout,
		Memory: cfg.Memory, MaxOutputsLimit: cfg.MaxOutputsLimit, OutputLimit: cfg.OutputLimit,
		ResultRetention: cfg.ResultRetention, FailedRetention: cfg.FailedRetention,
		Labels: cfg.Labels, Executors: cfg.Executors, Now: cfg.Now, Logger: cfg.Logger}, host{n}, n.blocks)
	if err := n.startFunctions(ctx); err != nil {
		n.Close()
		return nil, err
	}
	if cfg.GCInterval > 0 {
		n.goTrack(n.gcLoop)
	}
	if cfg.Network != nil {
		if err := n.startNetwork(ctx); err != nil {
			n.Close()
			return nil, err
		}
	}
	if err := n.req.Resume(owned); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// withDefaults fills in cfg's zero values.
func withDefaults(cfg Config) Config {
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
	if cfg.Network != nil {
		nc := *cfg.Network
		if nc.Grace <= 0 {
			nc.Grace = DefaultGrace
		}
		if nc.Heartbeat <= 0 {
			nc.Heartbeat = DefaultHeartbeat
		}
		if nc.BidWindow <= 0 {
			nc.BidWindow = DefaultBidWindow
		}
		cfg.Network = &nc
	}
	return cfg
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

// Close stops the workers (running jobs end as failed with a reason) and closes storage.
// Calls after the first return nil.
func (n *Node) Close() error {
	n.life.mu.Lock()
	if n.life.closing {
		n.life.mu.Unlock()
		return nil // closed, or closing, already
	}
	n.life.closing = true
	n.life.mu.Unlock()
	if n.life.cancel != nil {
		n.life.cancel()
	}
	if n.compute != nil {
		n.compute.Close()
	}
	if n.req != nil {
		n.req.Close()
	}
	n.life.wg.Wait()
	errs := []error{n.stopFunctions()}
	if n.net != nil && n.net.ex != nil {
		errs = append(errs, n.net.ex.Close())
	}
	if n.net != nil && n.net.peer != nil {
		errs = append(errs, n.net.peer.Close())
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
	if p := n.peer(); p != nil {
		for _, a := range p.Addrs() {
			info.Addrs = append(info.Addrs, a.String())
		}
		info.Peers = len(n.req.LivePeers())
	}
	return info
}

// Blocks is the node's blockstore, for data add/get.
func (n *Node) Blocks() *blockstore.Store { return n.blocks }
