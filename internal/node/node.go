// Package node wires one Bacalhau node: the requester side (job store, queue, state
// changes) and the compute side (workers that run tasks in the sandbox against the
// blockstore and import their results). With one node it is a network of one.
//
//	n, err := node.Open(ctx, node.Config{Repo: dir})
//	j, err := n.Submit(ctx, spec)
//	j, err = n.Wait(ctx, j.ID)
package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/store"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
)

// Version is the node's version, set at build time with -ldflags.
var Version = "v0.1.0-dev"

var (
	ErrClosed = errors.New("node: closed")
	// ErrUnsupported wraps job.ErrInvalid: asking for what the node cannot do is a bad request.
	ErrUnsupported = fmt.Errorf("%w: not supported by this node", job.ErrInvalid)
)

// Config configures a node. The zero value needs only Repo.
type Config struct {
	Repo        string       // holds blocks/, jobs.db, compile-cache/, executions/
	Concurrency int          // jobs run at once; 0 means the number of CPUs
	OutputLimit int64        // per-stream stdout/stderr cap; 0 means the sandbox default
	Logger      *slog.Logger // nil discards
	Now         func() time.Time
}

// Node is one node. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	id     string
	log    *slog.Logger
	blocks *blockstore.Store
	jobs   *store.Store
	box    *sandbox.Sandbox
	now    func() time.Time

	queue   chan string // job IDs waiting for a worker
	watch   *broker
	running sync.Map // job ID -> *execution

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open opens the repo (creating it if needed), recovers jobs a crash interrupted, and
// starts the workers.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Repo == "" {
		return nil, errors.New("node: no repo directory given")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.NumCPU()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	for _, d := range []string{"blocks", "compile-cache", "executions"} {
		if err := os.MkdirAll(filepath.Join(cfg.Repo, d), 0o700); err != nil {
			return nil, fmt.Errorf("node: repo: %w", err)
		}
	}
	id, err := nodeID(cfg.Repo)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, id: id, log: cfg.Logger, now: cfg.Now, watch: newBroker()}
	if n.blocks, err = blockstore.Open(filepath.Join(cfg.Repo, "blocks"), blockstore.Options{Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	if n.jobs, err = store.Open(filepath.Join(cfg.Repo, "jobs.db")); err != nil {
		n.blocks.Close()
		return nil, err
	}
	if n.box, err = sandbox.New(ctx, sandbox.Options{CacheDir: filepath.Join(cfg.Repo, "compile-cache")}); err != nil {
		n.jobs.Close()
		n.blocks.Close()
		return nil, err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	pending, err := n.recover()
	if err != nil {
		n.Close()
		return nil, err
	}
	// The queue holds every accepted job that has not started: it never drops one, so
	// it is sized for what is pending now plus a generous burst; Submit blocks (it does
	// not fail) while it is full.
	n.queue = make(chan string, len(pending)+queueBurst)
	for _, id := range pending {
		n.queue <- id
	}
	for i := 0; i < cfg.Concurrency; i++ {
		n.wg.Add(1)
		go n.worker()
	}
	return n, nil
}

const queueBurst = 100_000

// recover fails the jobs that were running when the process died and returns the
// pending ones, oldest first, to queue again.
func (n *Node) recover() ([]string, error) {
	for _, id := range n.jobs.InState(job.StateRunning) {
		_, err := n.jobs.Update(id, func(j *job.Job) error {
			now := n.now()
			if e := j.Latest(); e != nil && !e.State.Terminal() {
				e.State, e.EndedAt, e.Error = job.StateFailed, now, "node stopped while the job was running"
			}
			return j.Transition(job.StateFailed, "node stopped while the job was running", now)
		})
		if err != nil {
			return nil, fmt.Errorf("node: recover %s: %w", id, err)
		}
		_ = os.RemoveAll(n.execDir(id))
	}
	return n.jobs.InState(job.StatePending), nil
}

// Close stops the workers (running jobs end as failed with a reason) and closes storage.
func (n *Node) Close() error {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	var errs []error
	if n.box != nil {
		errs = append(errs, n.box.Close(context.Background()))
	}
	if n.jobs != nil {
		errs = append(errs, n.jobs.Close())
	}
	if n.blocks != nil {
		errs = append(errs, n.blocks.Close())
	}
	return errors.Join(errs...)
}

// Info describes the node for `bacalhau id` and the API.
type Info struct {
	ID          string   `json:"id"`
	Version     string   `json:"version"`
	Engines     []string `json:"engines"`
	Concurrency int      `json:"concurrency"`
	Queued      int      `json:"queued"`
	Running     int      `json:"running"`
}

// Info reports what the node is and how busy it is.
func (n *Node) Info() Info {
	running := 0
	n.running.Range(func(any, any) bool { running++; return true })
	return Info{
		ID:          n.id,
		Version:     Version,
		Engines:     []string{string(job.EngineWasm)},
		Concurrency: n.cfg.Concurrency,
		Queued:      len(n.queue),
		Running:     running,
	}
}

// Blocks is the node's blockstore, for data add/get.
func (n *Node) Blocks() *blockstore.Store { return n.blocks }

// nodeID reads the node's ID from the repo, making one the first time. The network
// issue replaces it with the libp2p peer ID of a persisted key.
func nodeID(repo string) (string, error) {
	p := filepath.Join(repo, "node-id")
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
		return string(b), nil
	}
	seed := make([]byte, 32)
	if _, err := readRandom(seed); err != nil {
		return "", err
	}
	sum := sha256.Sum256(seed)
	id := "n-" + hex.EncodeToString(sum[:8])
	if err := os.WriteFile(p, []byte(id), 0o600); err != nil {
		return "", fmt.Errorf("node: write node id: %w", err)
	}
	return id, nil
}
