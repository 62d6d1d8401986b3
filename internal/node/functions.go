package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/dht/fnproto"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/compute"
	"github.com/bacalhau-project/bacalhau-wasm/internal/functions"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// FunctionsConfig configures the functions role (the zero value works): the registry
// of deployed functions, replicated over the network, and the runtime that answers
// their requests.
type FunctionsConfig struct {
	Runtime      functions.Config
	MaxFunctions int // deployed at once; 0 means functions.DefaultMaxFunctions
	// CacheMemory and CacheDisk bound the functions' compiled modules (a sandbox of
	// their own, beside the jobs'); 0 means the sandbox defaults.
	CacheMemory, CacheDisk uint64
	// Engines start the WASM engines besides wazero that functions may run on
	// (job.EngineWasmtime), each with its compiled code kept under dir. The node
	// closes them.
	Engines map[job.Engine]NewFunctionEngine
}

// FunctionEngine is an engine functions run on, besides the node's wazero sandbox.
type FunctionEngine interface {
	functions.Engine
	Close(ctx context.Context) error
}

// NewFunctionEngine starts a FunctionEngine whose compiled code is kept under dir.
type NewFunctionEngine func(ctx context.Context, dir string) (FunctionEngine, error)

// fnRole is the node's functions role.
type fnRole struct {
	reg     *functions.Registry
	rt      *functions.Runtime
	sb      *sandbox.Sandbox
	others  []FunctionEngine // besides sb
	metrics *prometheus.Registry

	mu     sync.Mutex
	pulled map[peer.ID]bool // peers whose registry this node pulled since it met them
	// serving: the node answers requests (Functions.Serve): it compiles every deployed
	// function's module ahead of its first request.
	serving atomic.Bool
}

// ErrNoFunction wraps functions.ErrNotFound as a not-found error of the API.
var ErrNoFunction = functions.ErrNotFound

// startFunctions opens the registry and the runtime.
func (n *Node) startFunctions(ctx context.Context) error {
	cfg := n.cfg.Functions
	if cfg == nil {
		cfg = &FunctionsConfig{}
	}
	dir := filepath.Join(n.cfg.Repo, "functions")
	cache := filepath.Join(dir, "compile-cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return fmt.Errorf("node: functions: %w", err)
	}
	reg, err := functions.OpenRegistry(filepath.Join(dir, "registry.json"), cfg.MaxFunctions)
	if err != nil {
		return err
	}
	sb, err := sandbox.New(ctx, sandbox.Options{CacheDir: cache, MaxCacheBytes: cfg.CacheMemory, MaxDiskCacheBytes: cfg.CacheDisk})
	if err != nil {
		return err
	}
	r := &fnRole{reg: reg, sb: sb, metrics: prometheus.NewRegistry(), pulled: map[peer.ID]bool{}}
	engines := map[job.Engine]functions.Engine{job.EngineWasm: sb}
	for e, start := range cfg.Engines {
		x, err := start(ctx, filepath.Join(dir, "compile-cache-"+string(e)))
		if err != nil {
			r.closeEngines()
			return fmt.Errorf("node: functions on %s: %w", e, err)
		}
		r.others = append(r.others, x)
		engines[e] = x
	}
	rcfg := cfg.Runtime
	rcfg.Logger = n.cfg.Logger
	// The pool-size gauge reads the runtime built next (r.rt is set before any scrape).
	rcfg.Metrics = functions.NewMetrics(r.metrics, func() map[string]int { return r.rt.PoolSizes() })
	r.rt = functions.NewRuntime(rcfg, engines, fnHost{n})
	n.registerJobMetrics(r.metrics)
	n.fn = r
	return nil
}

func (n *Node) stopFunctions() error {
	if n.fn == nil {
		return nil
	}
	n.fn.rt.Close()
	return n.fn.closeEngines()
}

// closeEngines closes the role's sandboxes.
func (r *fnRole) closeEngines() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{r.sb.Close(ctx)}
	for _, x := range r.others {
		errs = append(errs, x.Close(ctx))
	}
	return errors.Join(errs...)
}

// registerJobMetrics adds the job counters to the /metrics registry.
func (n *Node) registerJobMetrics(reg *prometheus.Registry) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.counts.register(reg)
	for _, st := range []job.State{job.StatePending, job.StateRunning, job.StateCompleted, job.StateFailed, job.StateCancelled} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bacalhau_jobs",
			Help: "Jobs this node knows, by state.", ConstLabels: prometheus.Labels{"state": string(st)}},
			func() float64 { return float64(len(n.jobs.InState(st))) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bacalhau_compute_queue_length",
		Help: "Executions waiting for a worker on this node."}, func() float64 { return float64(n.compute.Stats().Queued) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bacalhau_compute_running",
		Help: "Executions running on this node."}, func() float64 { return float64(n.compute.Stats().Running) }))
}

// MetricsHandler serves the node's metrics in Prometheus text format.
func (n *Node) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(n.fn.metrics, promhttp.HandlerOpts{})
}

// fnHost is the node as the functions runtime sees it.
type fnHost struct{ n *Node }

func (h fnHost) ReadModule(ctx context.Context, c cidtext.CID) ([]byte, error) {
	k, err := blockstore.Key(c)
	if err != nil {
		return nil, err
	}
	return h.n.ReadFile(ctx, k)
}

func (h fnHost) Mounts(ctx context.Context, inputs []job.Input) ([]wasi.Mount, error) {
	ms := make([]wasi.Mount, 0, len(inputs))
	for _, in := range inputs {
		fsys, err := compute.InputFS(ctx, h.n.getter(), in)
		if err != nil {
			return nil, err
		}
		ms = append(ms, wasi.Mount{FS: fsys, Target: in.Target})
	}
	return ms, nil
}

// Functions is the node's functions role as the API and the trigger see it.
type Functions struct{ n *Node }

// Functions returns the node's functions role.
func (n *Node) Functions() Functions { return Functions{n} }

// Deploy binds f.Name to f (a new version if the name is taken), records it and
// announces it to the network.
func (fs Functions) Deploy(ctx context.Context, f job.Function) (job.Function, error) {
	n := fs.n
	f.Normalize()
	f.Deleted = false
	f.Version, f.Deployer, f.Deployed = 0, "", time.Time{}
	if err := f.Validate(); err != nil {
		return f, err
	}
	for _, r := range f.Routes {
		if other, ok := n.fn.reg.RouteOwner(r); ok && other != f.Name {
			return f, fmt.Errorf("%w: %s is function %s's (delete %s, or redeploy it without that route, first)", job.ErrRouteTaken, r, other, other)
		}
	}
	k, _ := blockstore.Key(f.Module)
	if ok, err := n.blocks.Has(ctx, k); err != nil || !ok {
		if n.net == nil || n.net.ex == nil {
			return f, fmt.Errorf("%w: module %s is not on this node: add it first (bacalhau data add)", job.ErrInvalid, f.Module)
		}
	}
	f = fs.stamp(f)
	if _, err := n.fn.reg.Apply(f); err != nil {
		return f, err
	}
	n.fn.rt.Deployed(&f)
	n.fn.warm(&f)
	n.publishFunction(ctx, f)
	return f, nil
}

// Serve tells the node that it answers the functions' requests (it has a trigger
// listener): it compiles the module of every function deployed, now and as they are
// deployed, in the background, so that no request waits for a compile, nor for a fetch
// from the network. A node that only records the functions never fetches their modules.
func (fs Functions) Serve() {
	fs.n.fn.serving.Store(true)
	for _, f := range fs.n.fn.reg.List() {
		fs.n.fn.warm(&f)
	}
}

func (r *fnRole) warm(f *job.Function) {
	if r.serving.Load() {
		r.rt.Warm(f)
	}
}

// stamp gives f a version above the one the registry holds for its name.
func (fs Functions) stamp(f job.Function) job.Function {
	now := fs.n.cfg.Now()
	f.Version = now.UnixNano()
	if old, ok := fs.n.fn.reg.Record(f.Name); ok && old.Version >= f.Version {
		f.Version = old.Version + 1
	}
	f.Deployer, f.Deployed = fs.n.id, now
	return f
}

// Delete removes the function named name from the network.
func (fs Functions) Delete(ctx context.Context, name string) (job.Function, error) {
	n := fs.n
	if _, ok := n.fn.reg.Lookup(name); !ok {
		return job.Function{}, fmt.Errorf("%w: %q", functions.ErrNotFound, name)
	}
	f := fs.stamp(job.Function{Name: name, Deleted: true})
	if _, err := n.fn.reg.Apply(f); err != nil {
		return f, err
	}
	n.fn.rt.Forget(name)
	n.publishFunction(ctx, f)
	return f, nil
}

// List returns the deployed functions.
func (fs Functions) List() []job.Function { return fs.n.fn.reg.List() }

// Get returns the function named name.
func (fs Functions) Get(name string) (job.Function, error) {
	f, ok := fs.n.fn.reg.Lookup(name)
	if !ok {
		return job.Function{}, fmt.Errorf("%w: %q", functions.ErrNotFound, name)
	}
	return *f, nil
}

// Lookup is the trigger's view of the registry.
func (fs Functions) Lookup(name string) (*job.Function, bool) { return fs.n.fn.reg.Lookup(name) }

// Route returns the function whose route takes the trigger request's path.
func (fs Functions) Route(path string) (*job.Function, string, bool) { return fs.n.fn.reg.Route(path) }

// Invoke runs one request.
func (fs Functions) Invoke(ctx context.Context, f *job.Function, r *functions.Request) (*functions.Response, error) {
	return fs.n.fn.rt.Invoke(ctx, f, r)
}

// InvokeAsync runs r as a job (Prefer: respond-async): the request body becomes an
// input mounted at /request, named by BACALHAU_REQUEST_BODY, and the job's stdout is
// the CGI response. The job has the deterministic configuration of every job.
func (fs Functions) InvokeAsync(ctx context.Context, f *job.Function, r *functions.Request) (string, error) {
	n := fs.n
	e, err := n.blocks.AddFile(ctx, bytes.NewReader(r.Body), blockstore.AddOptions{})
	if err != nil {
		return "", err
	}
	if err := n.DataFront().Added(ctx, e.CID, false); err != nil {
		return "", err
	}
	env := maps.Clone(functions.CGIEnv(r, f.Env))
	env["BACALHAU_REQUEST_BODY"] = "/request/" + e.CID.String()
	spec := job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: f.Module},
		Inputs:  append(append([]job.Input(nil), f.Inputs...), job.Input{CID: blockstore.JobCID(e.CID), Target: "/request"}),
		Env:     env,
		Timeout: f.Timeout, Memory: f.Memory}
	j, err := n.Submit(ctx, spec)
	if err != nil {
		return "", err
	}
	return j.ID, nil
}

// functionTopics adds the functions protocol's topic to the job protocol's.
func functionTopics() dht.Topics {
	ts := jobproto.Topics()
	maps.Copy(ts, fnproto.Topics())
	return ts
}

// startFunctionsNetwork serves pulls, applies announced records, and pulls the
// registry of every peer this node meets (by its heartbeats).
func (n *Node) startFunctionsNetwork() error {
	fnproto.Serve(n.net.peer, n.fn.reg.All)
	fnproto.ServeLogs(n.net.peer, n.localLogs)
	ch, err := n.net.peer.Subscribe(n.life.ctx, fnproto.TopicFunctions)
	if err != nil {
		return err
	}
	n.goTrack(func() {
		for m := range ch {
			if r, ok := m.Payload.(*fnproto.FunctionRecord); ok && m.From != n.peerID {
				n.applyFunction(r.Function)
			}
		}
	})
	hb, err := n.net.peer.Subscribe(n.life.ctx, jobproto.TopicHeartbeats)
	if err != nil {
		return err
	}
	n.goTrack(func() {
		for m := range hb {
			if m.From == n.peerID {
				continue
			}
			n.fn.mu.Lock()
			first := !n.fn.pulled[m.From]
			n.fn.pulled[m.From] = true
			n.fn.mu.Unlock()
			if first {
				from := m.From
				n.goTrack(func() { n.pullFunctions(from) })
			}
		}
	})
	return nil
}

func (n *Node) pullFunctions(p peer.ID) {
	ctx, cancel := context.WithTimeout(n.life.ctx, 30*time.Second)
	defer cancel()
	fns, err := fnproto.Pull(ctx, n.net.peer, p)
	if err != nil {
		n.cfg.Logger.Debug("functions: pull", "peer", p, "err", err)
		n.fn.mu.Lock()
		delete(n.fn.pulled, p) // try again at its next heartbeat
		n.fn.mu.Unlock()
		return
	}
	for _, f := range fns {
		n.applyFunction(f)
	}
}

// applyFunction records a function record learned from the network.
func (n *Node) applyFunction(f job.Function) {
	changed, err := n.fn.reg.Apply(f)
	if err != nil {
		n.cfg.Logger.Warn("functions: cannot record a deploy", "function", f.Name, "err", err)
		return
	}
	if !changed {
		return
	}
	if f.Deleted {
		n.fn.rt.Forget(f.Name)
	} else {
		n.fn.rt.Deployed(&f)
		n.fn.warm(&f)
	}
}

func (n *Node) publishFunction(ctx context.Context, f job.Function) {
	if n.net == nil {
		return
	}
	if err := n.net.peer.Publish(ctx, fnproto.TopicFunctions, &fnproto.FunctionRecord{Node: n.peerID, Function: f}); err != nil && !errors.Is(err, context.Canceled) {
		n.cfg.Logger.Warn("functions: announcing", "function", f.Name, "err", err)
	}
}
