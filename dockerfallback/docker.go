package dockerfallback

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Labels on every container this package starts.
const (
	LabelOwner     = "org.bacalhau-wasm.owner"
	LabelJob       = "org.bacalhau-wasm.job"
	LabelExecution = "org.bacalhau-wasm.execution"
)

// Defaults of Options.
const (
	DefaultPullTimeout   = 5 * time.Minute
	DefaultMaxInputBytes = 10 << 30
	DefaultPidsLimit     = 1024
	DefaultTmpSize       = 64 << 20
	DefaultOutputLimit   = 16 << 20
	pingTimeout          = 3 * time.Second
	cleanupTimeout       = 30 * time.Second
)

// ErrNoEngine is returned by New when no Docker engine answers.
var ErrNoEngine = errors.New("dockerfallback: no Docker engine reachable")

// Options configure an Executor; the zero value of each field but Dir and Owner
// is a default.
type Options struct {
	// Dir holds the executions' materialised inputs, one directory each; it is
	// emptied by New.
	Dir string
	// Owner names the node in the labels of its containers (its repository path),
	// so that nodes sharing an engine reap only their own.
	Owner string
	// DenyNetwork refuses tasks asking for --network full (a node's policy).
	DenyNetwork bool
	// GPUs is how many GPUs the node has to give containers.
	GPUs int
	// PullTimeout bounds a pull; MaxInputBytes what an execution's inputs may
	// materialise on disk; PidsLimit the processes of a container; TmpSize its /tmp.
	PullTimeout   time.Duration
	MaxInputBytes int64
	PidsLimit     int64
	TmpSize       int64
	// Client talks to the engine; nil means the environment's (DOCKER_HOST...).
	Client *client.Client
	// Wasm runs the jobs whose image is a WASM one (wasi/wasm, or a .wasm
	// entrypoint): the node's deterministic WASM executor. Nil refuses them.
	Wasm executor.Executor
}

// Executor runs Docker tasks. It is safe for concurrent use.
type Executor struct {
	opts Options
	cli  *client.Client

	mu      sync.Mutex
	live    map[string]string  // execution ID -> container ID
	pulling map[string]*pull   // image -> pull under way
	modules map[string]cid.Cid // image ID and path -> module of a WASM image
	closed  bool
}

var (
	_ executor.Executor = (*Executor)(nil)
	_ executor.Preparer = (*Executor)(nil)
	_ executor.Refuser  = (*Executor)(nil)
)

// New connects to the engine (ErrNoEngine if none answers), removes the containers
// and directories a previous run of the same owner left, and returns the executor.
func New(ctx context.Context, opts Options) (*Executor, error) {
	if opts.Dir == "" || opts.Owner == "" {
		return nil, errors.New("dockerfallback: Options.Dir and Options.Owner are required")
	}
	if opts.PullTimeout <= 0 {
		opts.PullTimeout = DefaultPullTimeout
	}
	if opts.MaxInputBytes <= 0 {
		opts.MaxInputBytes = DefaultMaxInputBytes
	}
	if opts.PidsLimit <= 0 {
		opts.PidsLimit = DefaultPidsLimit
	}
	if opts.TmpSize <= 0 {
		opts.TmpSize = DefaultTmpSize
	}
	cli := opts.Client
	if cli == nil {
		var err error
		cli, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoEngine, err)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: %v", ErrNoEngine, err)
	}
	cli.NegotiateAPIVersion(pctx)
	x := &Executor{opts: opts, cli: cli, live: map[string]string{}, pulling: map[string]*pull{}, modules: map[string]cid.Cid{}}
	if err := x.reap(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	return x, nil
}

// reap removes the containers labelled with this owner and empties Dir: what a node
// that was killed left behind.
func (x *Executor) reap(ctx context.Context) error {
	cs, err := x.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelOwner+"="+x.opts.Owner))})
	if err != nil {
		return fmt.Errorf("dockerfallback: listing containers left behind: %w", err)
	}
	for _, c := range cs {
		if err := x.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !client.IsErrNotFound(err) {
			return fmt.Errorf("dockerfallback: removing container %s left behind: %w", c.ID[:12], err)
		}
	}
	if err := os.RemoveAll(x.opts.Dir); err != nil {
		return fmt.Errorf("dockerfallback: emptying %s: %w", x.opts.Dir, err)
	}
	return os.MkdirAll(x.opts.Dir, 0o700)
}

// Refusal says why this node would not run spec: a GPU it lacks, a network its policy
// forbids.
func (x *Executor) Refusal(spec job.Spec) string {
	d := spec.Docker
	if d == nil {
		return ""
	}
	if d.GPU > x.opts.GPUs {
		if x.opts.GPUs == 0 {
			return fmt.Sprintf("needs %d GPU(s); this node has none", d.GPU)
		}
		return fmt.Sprintf("needs %d GPU(s); this node has %d", d.GPU, x.opts.GPUs)
	}
	if d.Network == job.NetworkFull && x.opts.DenyNetwork {
		return "asks for --network full; this node's policy allows no network"
	}
	return ""
}

// Close kills and removes the containers still running, and closes the client.
func (x *Executor) Close(ctx context.Context) error {
	x.mu.Lock()
	x.closed = true
	ids := make([]string, 0, len(x.live))
	for _, id := range x.live {
		ids = append(ids, id)
	}
	x.mu.Unlock()
	for _, id := range ids {
		x.remove(ctx, id)
	}
	return x.cli.Close()
}

// remove force-removes a container, whatever ctx says.
func (x *Executor) remove(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	x.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

func (x *Executor) execDir(execID string) string { return filepath.Join(x.opts.Dir, execID) }
