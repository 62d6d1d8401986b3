package functions

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// Defaults of Config's zero values.
const (
	DefaultMaxConcurrent = 64
	DefaultMaxQueue      = 256
	DefaultQueueTimeout  = 10 * time.Second
	DefaultMaxResponse   = 16 << 20
	DefaultMaxInstances  = 64
	DefaultLogEntries    = 1000
	DefaultLogStderr     = 1 << 10
)

// Host is what the functions role needs from its node: module bytes and input file
// systems, by CID, fetched from the network when the node lacks them.
type Host interface {
	ReadModule(ctx context.Context, module cidtext.CID) ([]byte, error)
	Mounts(ctx context.Context, inputs []job.Input) ([]wasi.Mount, error)
}

// Engine runs guests: the wazero sandbox, or another WASM engine that takes a
// sandbox.Guest (sandbox/wasmtime).
type Engine interface {
	Run(ctx context.Context, g sandbox.Guest) (sandbox.Result, error)
}

// Config configures a Runtime. Zero values take the defaults above.
type Config struct {
	// MaxConcurrent is how many requests the node runs at once, all functions
	// together; MaxQueue how many more may wait for a slot, for at most QueueTimeout.
	// Past them a request gets 429.
	MaxConcurrent int
	MaxQueue      int
	QueueTimeout  time.Duration
	// MaxResponse bounds a response's bytes (headers and body); past it: 502.
	MaxResponse int64
	// MaxInstances bounds the live pooled instances on the node, all functions
	// together.
	MaxInstances int
	// LogEntries is how many invocation records the node keeps per function.
	LogEntries int
	// LogStderr is how many bytes of the guest's stderr a record keeps (the end).
	LogStderr int
	Logger    *slog.Logger
	Metrics   *Metrics // nil: none
}

// Runtime runs functions' requests on a sandbox. Safe for concurrent use.
type Runtime struct {
	cfg     Config
	engines map[job.Engine]Engine
	host    Host
	log     *slog.Logger

	slots   chan struct{} // node-wide
	waiting chan struct{} // node-wide queue places

	mu        sync.Mutex
	perFn     map[string]*fnGate   // by function name
	pools     map[string]*pool     // by function name + version
	instances int                  // live pooled instances
	warm      map[cidtext.CID]bool // modules this process has run: later loads are not cold
	logs      map[string]*logRing
	closed    bool
	wg        sync.WaitGroup

	// Modules to compile ahead of their first request (Warm), each once; at most
	// one per deployed function, so the registry's bound bounds it.
	toWarm  map[warmKey]bool
	warming bool // the warmer goroutine runs
	stop    context.Context
	cancel  context.CancelFunc
}

// precompiler is an Engine that can compile a module ahead of its first run (the
// wazero sandbox, sandbox/wasmtime's); Warm skips engines that are not.
type precompiler interface {
	Precompile(ctx context.Context, key string, load func(context.Context) ([]byte, error)) error
}

// warmKey is a module to compile ahead, on one engine.
type warmKey struct {
	engine job.Engine
	module cidtext.CID
}

type fnGate struct {
	slots chan struct{}
}

// NewRuntime builds a Runtime over the engines the node offers functions, which it
// does not own. A function whose engine is not among them gets 503.
func NewRuntime(cfg Config, engines map[job.Engine]Engine, host Host) *Runtime {
	cfg.MaxConcurrent = cmp.Or(max(cfg.MaxConcurrent, 0), DefaultMaxConcurrent)
	cfg.MaxQueue = cmp.Or(max(cfg.MaxQueue, 0), DefaultMaxQueue)
	cfg.QueueTimeout = cmp.Or(max(cfg.QueueTimeout, 0), DefaultQueueTimeout)
	cfg.MaxResponse = cmp.Or(max(cfg.MaxResponse, 0), DefaultMaxResponse)
	cfg.MaxInstances = cmp.Or(max(cfg.MaxInstances, 0), DefaultMaxInstances)
	cfg.LogEntries = cmp.Or(max(cfg.LogEntries, 0), DefaultLogEntries)
	cfg.LogStderr = min(cmp.Or(max(cfg.LogStderr, 0), DefaultLogStderr), job.MaxInvocationStderr)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rt := &Runtime{cfg: cfg, engines: engines, host: host, log: cfg.Logger,
		slots: make(chan struct{}, cfg.MaxConcurrent), waiting: make(chan struct{}, cfg.MaxQueue),
		perFn: map[string]*fnGate{}, pools: map[string]*pool{}, warm: map[cidtext.CID]bool{}, logs: map[string]*logRing{},
		toWarm: map[warmKey]bool{}}
	rt.stop, rt.cancel = context.WithCancel(context.Background())
	return rt
}

// Warm loads and compiles f's module in the background, so that its first request
// finds it compiled (in memory; after a restart, from the sandbox's disk cache) rather
// than paying for it. A module already compiled costs nothing; one that fails to
// load is left for the request to report. One module is compiled at a time.
func (rt *Runtime) Warm(f *job.Function) {
	if _, ok := rt.engines[f.EngineOf()].(precompiler); !ok {
		return // an engine this node does not offer, or one that compiles on first use
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed || f.Deleted || !f.Module.Defined() {
		return
	}
	rt.toWarm[warmKey{f.EngineOf(), f.Module}] = true
	if !rt.warming {
		rt.warming = true
		rt.wg.Add(1)
		go rt.warmer()
	}
}

// warmer compiles the modules Warm was given until there are none left.
func (rt *Runtime) warmer() {
	defer rt.wg.Done()
	for {
		rt.mu.Lock()
		var k warmKey
		for m := range rt.toWarm {
			k = m
			break
		}
		if !k.module.Defined() || rt.closed {
			rt.warming = false
			rt.mu.Unlock()
			return
		}
		delete(rt.toWarm, k)
		rt.mu.Unlock()
		p := rt.engines[k.engine].(precompiler)
		if err := p.Precompile(rt.stop, k.module.String(), rt.loader(k.module)); err != nil {
			rt.log.Debug("functions: compiling ahead", "engine", k.engine, "module", k.module.String(), "err", err)
		}
	}
}

// Error is an invocation that produced no response of the function's own: its HTTP
// status and the reason, for the client.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Reason)
}

func fail(status int, format string, args ...any) *Error {
	return &Error{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// ErrBusy is the reason of a 429.
var errClosed = errors.New("functions: runtime closed")

// Invoke runs req on f and returns the function's response, or an *Error.
func (rt *Runtime) Invoke(ctx context.Context, f *job.Function, req *Request) (*Response, error) {
	start := time.Now()
	req.stderr = &tailBuffer{max: rt.cfg.LogStderr}
	resp, cold, err := rt.invoke(ctx, f, req)
	rec := Invocation{Time: start.UTC(), RequestID: req.RequestID, Method: req.Method, Path: job.ClipText(req.PathInfo, job.MaxInvocationText),
		Duration: time.Since(start), Module: f.Module.String(), Cold: cold, Stderr: req.stderr.String()}
	var fe *Error
	switch {
	case err == nil:
		rec.Status = resp.Status
	case errors.As(err, &fe):
		rec.Status, rec.Error = fe.Status, job.ClipText(fe.Reason, job.MaxInvocationText)
	default:
		rec.Status, rec.Error = http.StatusInternalServerError, job.ClipText(err.Error(), job.MaxInvocationText)
	}
	rt.record(f.Name, rec)
	if m := rt.cfg.Metrics; m != nil {
		m.observe(f.Name, rec)
	}
	return resp, err
}

func (rt *Runtime) invoke(ctx context.Context, f *job.Function, req *Request) (*Response, bool, error) {
	if uint64(len(req.Body)) > f.MaxBody {
		return nil, false, fail(http.StatusRequestEntityTooLarge, "request body of %d bytes is over function %s's limit of %s", len(req.Body), f.Name, job.FormatBytes(f.MaxBody))
	}
	if rt.engines[f.EngineOf()] == nil {
		return nil, false, fail(http.StatusServiceUnavailable, "function %s runs on the %s engine, which this node does not offer", f.Name, f.EngineOf())
	}
	release, err := rt.admit(ctx, f)
	if err != nil {
		return nil, false, err
	}
	defer release()
	if f.Mode == job.ModePooled {
		return rt.invokePooled(ctx, f, req)
	}
	return rt.invokeFresh(ctx, f, req)
}

// admit takes a slot of the function and one of the node, waiting in the bounded
// queue for at most QueueTimeout.
func (rt *Runtime) admit(ctx context.Context, f *job.Function) (func(), error) {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil, fail(http.StatusServiceUnavailable, "the node is shutting down")
	}
	g := rt.perFn[f.Name]
	if g == nil || cap(g.slots) != f.Concurrency {
		g = &fnGate{slots: make(chan struct{}, f.Concurrency)}
		rt.perFn[f.Name] = g
	}
	rt.mu.Unlock()
	// Fast path: free slots, no queueing.
	select {
	case g.slots <- struct{}{}:
		select {
		case rt.slots <- struct{}{}:
			return func() { <-rt.slots; <-g.slots }, nil
		default:
			<-g.slots
		}
	default:
	}
	select {
	case rt.waiting <- struct{}{}:
		defer func() { <-rt.waiting }()
	default:
		return nil, fail(http.StatusTooManyRequests, "the node's queue of %d waiting requests is full", rt.cfg.MaxQueue)
	}
	t := time.NewTimer(rt.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-t.C:
		return nil, fail(http.StatusTooManyRequests, "function %s is running its %d concurrent requests; waited %s for a slot", f.Name, f.Concurrency, rt.cfg.QueueTimeout)
	case <-ctx.Done():
		return nil, fail(http.StatusServiceUnavailable, "request cancelled while waiting: %v", ctx.Err())
	}
	select {
	case rt.slots <- struct{}{}:
		return func() { <-rt.slots; <-g.slots }, nil
	case <-t.C:
		<-g.slots
		return nil, fail(http.StatusTooManyRequests, "the node is running its %d concurrent requests; waited %s for a slot", rt.cfg.MaxConcurrent, rt.cfg.QueueTimeout)
	case <-ctx.Done():
		<-g.slots
		return nil, fail(http.StatusServiceUnavailable, "request cancelled while waiting: %v", ctx.Err())
	}
}

// coldStart reports whether module has not run in this process yet, and marks it.
func (rt *Runtime) coldStart(module cidtext.CID) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	cold := !rt.warm[module]
	rt.warm[module] = true
	return cold
}

func (rt *Runtime) loader(module cidtext.CID) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) { return rt.host.ReadModule(ctx, module) }
}

func (rt *Runtime) invokeFresh(ctx context.Context, f *job.Function, req *Request) (*Response, bool, error) {
	cold := rt.coldStart(f.Module)
	mounts, err := rt.host.Mounts(ctx, f.Inputs)
	if err != nil {
		return nil, cold, fail(http.StatusBadGateway, "function %s's inputs: %v", f.Name, err)
	}
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4 << 10}
	res, err := rt.engines[f.EngineOf()].Run(ctx, sandbox.Guest{
		ModuleKey: f.Module.String(), Module: rt.loader(f.Module),
		WASI: wasi.Config{Program: f.Name, Env: CGIEnv(req, f.Env), Mounts: mounts,
			Stdin: bytes.NewReader(req.Body), Stdout: &stdout, Stderr: req.teeStderr(stderr), Realtime: true},
		Timeout: time.Duration(f.Timeout), MemoryLimit: f.Memory, OutputLimit: rt.cfg.MaxResponse,
	})
	if m := rt.cfg.Metrics; m != nil && cold {
		m.compiled(f.Name, res.Load)
	}
	if err != nil {
		return nil, cold, fail(http.StatusBadGateway, "function %s cannot run: %v", f.Name, err)
	}
	if ferr := resultError(f, res, stderr); ferr != nil {
		return nil, cold, ferr
	}
	if res.StdoutTruncated {
		return nil, cold, fail(http.StatusBadGateway, "function %s's response is larger than the node's limit of %s", f.Name, job.FormatBytes(uint64(rt.cfg.MaxResponse)))
	}
	resp, err := ParseResponse(stdout.Bytes())
	if err != nil {
		return nil, cold, fail(http.StatusBadGateway, "function %s: %v", f.Name, err)
	}
	return resp, cold, nil
}

// resultError is the error of a run that did not end well, nil for one that did.
func resultError(f *job.Function, res sandbox.Result, stderr *tailBuffer) *Error {
	switch res.Stop {
	case sandbox.StopTimeout:
		return fail(http.StatusGatewayTimeout, "function %s did not answer within its timeout of %s", f.Name, time.Duration(f.Timeout))
	case sandbox.StopExited:
		if res.ExitCode != 0 {
			return fail(http.StatusBadGateway, "function %s exited with code %d%s", f.Name, res.ExitCode, stderr.suffix())
		}
		return nil
	default:
		return fail(http.StatusBadGateway, "function %s crashed: %s%s", f.Name, res.Reason, stderr.suffix())
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func (t *tailBuffer) suffix() string {
	s := string(bytes.TrimSpace([]byte(t.String())))
	if s == "" {
		return ""
	}
	if len(s) > 512 {
		s = "..." + s[len(s)-512:]
	}
	return " (stderr: " + s + ")"
}

// teeStderr is w, and the request's record's stderr too.
func (r *Request) teeStderr(w io.Writer) io.Writer {
	if r.stderr == nil {
		return w
	}
	return io.MultiWriter(w, r.stderr)
}

// Close stops the pooled instances and waits for them.
func (rt *Runtime) Close() {
	rt.mu.Lock()
	rt.closed = true
	rt.cancel()
	pools := rt.pools
	rt.pools = map[string]*pool{}
	rt.mu.Unlock()
	for _, p := range pools {
		p.retire()
	}
	rt.wg.Wait()
}
