package sandbox

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

const (
	// DefaultEntryPoint is the function a Guest calls when EntryPoint is "".
	DefaultEntryPoint = wasi.DefaultEntryPoint
	// DefaultMemoryLimit is the most linear memory a guest may have when
	// Guest.MemoryLimit is 0.
	DefaultMemoryLimit = 1 << 30 // 1 GiB
	// DefaultOutputLimit is the most a guest may write to each of stdout and
	// stderr when Guest.OutputLimit is 0.
	DefaultOutputLimit = 16 << 20 // 16 MiB
	// DefaultLoadTimeout bounds loading and compiling one module when
	// Options.LoadTimeout is 0.
	DefaultLoadTimeout = 10 * time.Minute
	// DefaultMaxCacheBytes bounds the in-memory compile cache when
	// Options.MaxCacheBytes is 0: some 18 Go modules of 2.6 MB.
	DefaultMaxCacheBytes = 256 << 20 // 256 MiB
	// DefaultMaxDiskCacheBytes bounds Options.CacheDir when
	// Options.MaxDiskCacheBytes is 0: some 100 Go modules of 2.6 MB.
	DefaultMaxDiskCacheBytes = 1 << 30 // 1 GiB
	// ExitCodeAbnormal is Result.ExitCode when the guest did not exit by
	// itself: it trapped, timed out or was cancelled. Result.Reason says which.
	ExitCodeAbnormal = -1
)

// Reasons a run ended other than by the guest exiting.
const (
	ReasonTimeout   = "timeout"
	ReasonCancelled = "cancelled"
)

// Stop says why a run ended.
type Stop uint8

const (
	// StopExited: the guest exited, or its entry point returned, by itself.
	StopExited Stop = iota
	StopTimeout
	StopCancelled
	// StopMemory: the memory limit stopped the guest, or it needs more to start.
	StopMemory
	StopTrap
)

var (
	// ErrInvalidModule is wrapped by Run's error when the module cannot be
	// run at all: bytes that are not WebAssembly, imports other than WASI
	// preview 1, or no such entry point.
	ErrInvalidModule = errors.New("sandbox: invalid module")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("sandbox: closed")
	// ErrInvalidGuest is wrapped by Run's error for a Guest that cannot run.
	ErrInvalidGuest = errors.New("sandbox: invalid guest")
	// ErrLoadTimeout is wrapped by Run's error when loading and compiling
	// the module took longer than Options.LoadTimeout.
	ErrLoadTimeout = errors.New("sandbox: loading and compiling the module timed out")

	errTimeout = errors.New("sandbox: task timed out")
)

// Options configure a Sandbox. The zero value works.
type Options struct {
	// CacheDir holds compiled code across restarts; "" keeps it in memory.
	CacheDir string
	// MaxConcurrent is how many guests may run at once; Run waits for a
	// slot. 0 means no limit.
	MaxConcurrent int
	// CompileWorkers is how many goroutines compile one module; 0 means
	// GOMAXPROCS.
	CompileWorkers int
	// LoadTimeout bounds loading and compiling one module, which runs in
	// the background for all the runs waiting for it; 0 means
	// DefaultLoadTimeout.
	LoadTimeout time.Duration
	// MaxCacheBytes bounds the compiled modules kept in memory, by an
	// estimate of what each holds (see CacheStats); the least recently
	// used go first. 0 means DefaultMaxCacheBytes.
	MaxCacheBytes uint64
	// MaxDiskCacheBytes bounds CacheDir: the oldest files go first. 0 means
	// DefaultMaxDiskCacheBytes.
	MaxDiskCacheBytes uint64
}

// Sandbox runs guests. It is safe for concurrent use: one wazero runtime and
// its compiled modules are shared by all runs; each run gets a fresh
// instance.
type Sandbox struct {
	// rt runs instrumented modules (see instrument): the sandbox stops them
	// through their interrupt global. checkedRT runs, with wazero's
	// WithCloseOnContextDone, the modules that could not be instrumented.
	rt, checkedRT wazero.Runtime
	// instrument is the module rewriter; tests replace it.
	instrument func([]byte) ([]byte, error)
	cache      wazero.CompilationCache
	wasiFns    map[string]api.FunctionDefinition // what WASI provides
	workers    int
	slots      chan struct{} // nil: no limit
	memories   memoryPool
	disk       *diskCache

	loadTimeout   time.Duration
	maxCacheBytes uint64

	mu         sync.Mutex
	modules    map[string]*compiled // by key, loading or cached
	lru        *list.List           // of cached *compiled, most recently used first
	cacheBytes uint64               // the cost of the modules in lru
	closed     bool
	running    sync.WaitGroup // runs
	loads      sync.WaitGroup // background loads
	stopAll    context.CancelFunc
	stopping   context.Context
}

// Guest is one run of a module.
type Guest struct {
	// ModuleKey names the module, e.g. its CID. Compiled modules are cached
	// per key; "" compiles every time (the on-disk cache still applies).
	ModuleKey string
	// Module loads the wasm bytes; it is called only when ModuleKey is not
	// in the in-memory cache.
	Module func(ctx context.Context) ([]byte, error)
	// EntryPoint is the exported function to call; "" means DefaultEntryPoint.
	EntryPoint string
	// WASI is what the guest sees.
	WASI wasi.Config
	// Timeout bounds the run in wall-clock time; 0 means none.
	Timeout time.Duration
	// MemoryLimit bounds the guest's linear memory in bytes (rounded down to
	// 64 KiB pages, at least one); 0 means DefaultMemoryLimit.
	MemoryLimit uint64
	// OutputLimit caps each of stdout and stderr in bytes; writes past it
	// are discarded. 0 means DefaultOutputLimit.
	OutputLimit int64
}

// Result is how a guest's run ended.
type Result struct {
	// ExitCode is the guest's exit code, or ExitCodeAbnormal.
	ExitCode int
	// Stop says why the run ended; Reason says it in words.
	Stop Stop
	// Reason is "" when the guest exited by itself with no limit hit;
	// otherwise ReasonTimeout, ReasonCancelled, "memory limit of 64 MiB
	// exceeded", "module needs 2 MiB of memory to start; the limit is 1 MiB"
	// or "trap: ...".
	Reason string
	// Load is the time spent loading and compiling the module (or finding it
	// compiled), Run the time from then to the end.
	Load, Run time.Duration
	// StdoutTruncated and StderrTruncated report output past OutputLimit.
	StdoutTruncated, StderrTruncated bool
	// OutputsLimitHit reports that the guest was refused room in /outputs
	// (ENOSPC) past WASI.OutputsLimit: what it left there is incomplete.
	// Reason then says so, unless the run ended for another reason too.
	OutputsLimitHit bool
}

// New starts a Sandbox. Close it to release compiled code.
func New(ctx context.Context, opts Options) (*Sandbox, error) {
	cache := wazero.NewCompilationCache()
	if opts.CacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(opts.CacheDir); err != nil {
			return nil, fmt.Errorf("sandbox: compile cache: %w", err)
		}
	}
	// Both runtimes share the compile cache: wazero keys compiled code by
	// the module's bytes and the WithCloseOnContextDone flag.
	cfg := wazero.NewRuntimeConfig().WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	checkedRT := wazero.NewRuntimeWithConfig(ctx, cfg.WithCloseOnContextDone(true))
	// The listener turns the EIO of a refused write to /outputs into ENOSPC.
	w, err := wasi_snapshot_preview1.Instantiate(withENOSPC(ctx), rt)
	if err == nil {
		_, err = wasi_snapshot_preview1.Instantiate(withENOSPC(ctx), checkedRT)
	}
	if err != nil {
		_ = rt.Close(ctx)
		_ = checkedRT.Close(ctx)
		_ = cache.Close(ctx)
		return nil, fmt.Errorf("sandbox: instantiating WASI: %w", err)
	}
	s := &Sandbox{
		rt:         rt,
		checkedRT:  checkedRT,
		instrument: instrument,
		cache:      cache,
		wasiFns:    w.(api.Module).ExportedFunctionDefinitions(),
		workers:    opts.CompileWorkers,
		modules:    map[string]*compiled{},
		lru:        list.New(),
		disk:       &diskCache{dir: opts.CacheDir, max: cmp.Or(opts.MaxDiskCacheBytes, DefaultMaxDiskCacheBytes)},

		loadTimeout:   cmp.Or(max(opts.LoadTimeout, 0), DefaultLoadTimeout),
		maxCacheBytes: cmp.Or(opts.MaxCacheBytes, DefaultMaxCacheBytes),
	}
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	s.disk.prune() // the bound may have changed since the last run
	if opts.MaxConcurrent > 0 {
		s.slots = make(chan struct{}, opts.MaxConcurrent)
	}
	s.stopping, s.stopAll = context.WithCancel(context.Background())
	return s, nil
}

// Close cancels running guests, waits for them (or for ctx) and releases
// compiled code. Run returns ErrClosed afterwards.
func (s *Sandbox) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stopAll()

	done := make(chan struct{})
	go func() { s.running.Wait(); s.loads.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("sandbox: waiting for running guests: %w", ctx.Err())
	}
	s.memories.drain()
	return errors.Join(s.rt.Close(ctx), s.checkedRT.Close(ctx), s.cache.Close(ctx))
}

// Run runs t and reports how the guest ended. An error means the host
// could not run it: an invalid config or module (ErrInvalidModule), a
// module that could not be loaded, a context done before the guest started,
// or a closed Sandbox. Everything the guest does is in Result.
func (s *Sandbox) Run(ctx context.Context, t Guest) (res Result, err error) {
	if err := t.WASI.Validate(); err != nil {
		return Result{}, err
	}
	if t.Module == nil {
		return Result{}, fmt.Errorf("%w: no Module loader", ErrInvalidGuest)
	}
	if t.Timeout < 0 || t.OutputLimit < 0 {
		return Result{}, fmt.Errorf("%w: negative Timeout or OutputLimit", ErrInvalidGuest)
	}
	if t.MemoryLimit != 0 && t.MemoryLimit < wasmPage {
		return Result{}, fmt.Errorf("%w: memory limit %s is below the minimum of 64 KiB (one WebAssembly page)",
			ErrInvalidGuest, formatBytes(t.MemoryLimit))
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Result{}, ErrClosed
	}
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()

	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-s.stopping.Done():
			return Result{}, ErrClosed
		}
	}

	t0 := time.Now()
	c, err := s.acquire(ctx, t.ModuleKey, t.Module)
	if err != nil {
		return Result{}, err
	}
	defer s.release(c)
	t1 := time.Now()
	defer func() { res.Load, res.Run = t1.Sub(t0), time.Since(t1) }()
	entry := t.EntryPoint
	if entry == "" {
		entry = DefaultEntryPoint
	}
	if _, ok := c.mod.ExportedFunctions()[entry]; !ok || (c.instrumented && entry == startExport) {
		return Result{}, fmt.Errorf("%w: no exported function %q", ErrInvalidModule, entry)
	}
	limit := t.MemoryLimit
	if limit == 0 {
		limit = DefaultMemoryLimit
	}
	limit &^= wasmPage - 1 // whole pages
	if c.minMemory > limit {
		return Result{ExitCode: ExitCodeAbnormal, Stop: StopMemory, Reason: startMemoryReason(c.minMemory, limit)}, nil
	}
	return s.run(ctx, c, entry, limit, t)
}

func (s *Sandbox) run(ctx context.Context, c *compiled, entry string, memLimit uint64, t Guest) (res Result, err error) {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.stopping, func() { cancel(ErrClosed) })
	defer stop()
	if t.Timeout > 0 {
		var cancelTimeout context.CancelFunc
		runCtx, cancelTimeout = context.WithTimeoutCause(runCtx, t.Timeout, errTimeout)
		defer cancelTimeout()
	}

	outLimit := t.OutputLimit
	if outLimit == 0 {
		outLimit = DefaultOutputLimit
	}
	stdout := NewCappedWriter(t.WASI.Stdout, outLimit)
	stderr := NewCappedWriter(t.WASI.Stderr, outLimit)
	var quota *outputsQuota
	if t.WASI.OutputsDir != "" || hasWritable(t.WASI.Mounts) {
		if quota, err = newOutputsQuota(t.WASI.OutputsDir, cmp.Or(t.WASI.OutputsLimit, wasi.DefaultOutputsLimit)); err != nil {
			return Result{}, err
		}
		runCtx = context.WithValue(runCtx, quotaKey{}, quota)
	}
	uppers, dropScratch, err := scratch(t.WASI)
	if err != nil {
		return Result{}, err
	}
	defer dropScratch()
	defer func() {
		res.StdoutTruncated, res.StderrTruncated = stdout.Truncated(), stderr.Truncated()
		if err == nil && quota != nil && quota.hit.Load() {
			res.OutputsLimitHit = true
			if res.Reason == "" {
				res.Reason = outputsReason(quota.limit)
			}
		}
	}()

	clock := &wasi.Clock{}
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: instances of one module may run at once
		WithStartFunctions().
		WithArgs(t.WASI.Argv()...).
		WithStdin(t.WASI.Stdin).
		WithStdout(stdout).
		WithStderr(stderr).
		WithWalltime(clock.Walltime, sys.ClockResolution(wasi.Tick)).
		WithNanotime(clock.Nanotime, sys.ClockResolution(wasi.Tick)).
		WithNanosleep(func(ns int64) { sleep(runCtx, clock, ns) }).
		WithRandSource(wasi.NewRand(t.WASI.Seed)).
		WithFSConfig(fsConfig(t.WASI, quota, uppers))
	if t.WASI.Realtime {
		cfg = realtime(runCtx, cfg)
	}
	for _, kv := range t.WASI.SortedEnv() {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}

	mem := &memoryLimiter{limit: memLimit, pool: &s.memories}
	defer mem.release() // after inst.Close: no guest runs any more
	inst, err := instantiate(experimental.WithMemoryAllocator(runCtx, mem), c, cfg)
	if err != nil {
		if need := mem.startNeed.Load(); need > 0 {
			return Result{ExitCode: ExitCodeAbnormal, Stop: StopMemory, Reason: startMemoryReason(need, memLimit)}, nil
		}
		if mem.refused.Load() {
			return Result{ExitCode: ExitCodeAbnormal, Stop: StopMemory, Reason: memoryReason(memLimit)}, nil
		}
		if runCtx.Err() != nil {
			return doneResult(ctx, runCtx), nil
		}
		return Result{}, fmt.Errorf("%w: instantiating: %w", ErrInvalidModule, err)
	}
	defer inst.Close(context.Background())
	if c.instrumented {
		stopWatchdog, werr := watchdog(runCtx, inst)
		if werr != nil {
			return Result{}, werr
		}
		defer stopWatchdog()
		if c.start {
			// As when wazero runs a start function while instantiating, a
			// start function that fails by itself makes the module invalid.
			_, err = inst.ExportedFunction(startExport).Call(runCtx)
			var exit *sys.ExitError
			if err != nil && !errors.As(err, &exit) && runCtx.Err() == nil && !mem.refused.Load() {
				return Result{}, fmt.Errorf("%w: instantiating: %w", ErrInvalidModule, err)
			}
		}
		if err == nil {
			_, err = inst.ExportedFunction(entry).Call(runCtx)
		}
	} else {
		_, err = inst.ExportedFunction(entry).Call(runCtx)
	}
	var exit *sys.ExitError
	switch {
	case err == nil:
		return Result{}, nil
	case errors.As(err, &exit) && !isContextExit(exit.ExitCode()):
		res.ExitCode = int(exit.ExitCode())
		if res.ExitCode != 0 && mem.refused.Load() {
			res.Stop, res.Reason = StopMemory, memoryReason(memLimit)
		}
		return res, nil
	case runCtx.Err() != nil:
		return doneResult(ctx, runCtx), nil
	case mem.refused.Load():
		return Result{ExitCode: ExitCodeAbnormal, Stop: StopMemory, Reason: memoryReason(memLimit)}, nil
	default:
		msg, _, _ := strings.Cut(err.Error(), "\n") // drop wazero's stack trace
		return Result{ExitCode: ExitCodeAbnormal, Stop: StopTrap, Reason: "trap: " + msg}, nil
	}
}

// instantiate is InstantiateModule in c's runtime, turning a panic of the
// memory allocator path (an initial memory the limiter refused) into an
// error.
func instantiate(ctx context.Context, c *compiled, cfg wazero.ModuleConfig) (inst api.Module, err error) {
	defer func() {
		if r := recover(); r != nil {
			inst, err = nil, fmt.Errorf("instantiation panicked: %v", r)
		}
	}()
	return c.rt.InstantiateModule(ctx, c.mod, cfg)
}

// watchdog interrupts inst, an instrumented module, once ctx is done: it
// sets the interrupt global and empties the fuel, so that the guest yields
// and traps at its next check (loop iteration or function call). The
// returned stop waits for a watchdog already firing, so that the instance
// may be closed after it returns.
//
// The guest's own decrement of fuel may overwrite the watchdog's 0; the
// guest then yields when the fuel it had runs out, yieldEvery checks later
// at most, and traps then.
func watchdog(ctx context.Context, inst api.Module) (stop func(), err error) {
	interrupt, ok1 := inst.ExportedGlobal(interruptGlobal).(api.MutableGlobal)
	fuel, ok2 := inst.ExportedGlobal(fuelGlobal).(api.MutableGlobal)
	if !ok1 || !ok2 {
		return nil, errors.New("sandbox: instrumented module lacks its mutable globals")
	}
	fired := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		interrupt.Set(1)
		fuel.Set(0)
		close(fired)
	})
	return func() {
		if !stopAfter() {
			<-fired
		}
	}, nil
}

// sleep sleeps on clock until ns have passed or the run is over. In the
// latter case it ends the guest at once, as proc_exit does: otherwise the
// guest could go on to exit by itself before wazero closes it.
func sleep(ctx context.Context, clock *wasi.Clock, ns int64) {
	clock.Sleep(ctx, ns)
	if ctx.Err() != nil {
		code := sys.ExitCodeContextCanceled
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			code = sys.ExitCodeDeadlineExceeded
		}
		panic(sys.NewExitError(code))
	}
}

func isContextExit(code uint32) bool {
	return code == sys.ExitCodeContextCanceled || code == sys.ExitCodeDeadlineExceeded
}

// doneResult says why runCtx, derived from the caller's ctx, is done.
func doneResult(ctx, runCtx context.Context) Result {
	r := Result{ExitCode: ExitCodeAbnormal, Stop: StopCancelled, Reason: ReasonCancelled}
	switch cause := context.Cause(runCtx); {
	case errors.Is(cause, errTimeout), errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.Stop, r.Reason = StopTimeout, ReasonTimeout
	case errors.Is(cause, ErrClosed):
		r.Reason = ReasonCancelled + ": sandbox closed"
	}
	return r
}

func fsConfig(c wasi.Config, quota *outputsQuota, uppers []string) wazero.FSConfig {
	fsc := wazero.NewFSConfig().(sysfs.FSConfig)
	var cfg wazero.FSConfig
	for i, m := range c.Mounts {
		fsys := inputFS(m, uint64(i+1))
		if m.Writable {
			fsys = cowMountFS(m, uppers[i], uint64(i+1), quota)
		}
		cfg = fsc.WithSysFSMount(fsys, m.Target)
		fsc = cfg.(sysfs.FSConfig)
	}
	if c.OutputsDir != "" {
		cfg = fsc.WithSysFSMount(outputFS(c.OutputsDir, uint64(len(c.Mounts)+1), quota), wasi.OutputsTarget)
	}
	if cfg == nil {
		return wazero.NewFSConfig()
	}
	return cfg
}

func hasWritable(ms []wasi.Mount) bool {
	for _, m := range ms {
		if m.Writable {
			return true
		}
	}
	return false
}

// scratch makes the host directories where the writable mounts of c keep
// what the guest changes (uppers[i] for c.Mounts[i]), under c.ScratchDir or
// a temporary directory; drop removes them and that directory.
func scratch(c wasi.Config) (uppers []string, drop func(), err error) {
	if !hasWritable(c.Mounts) {
		return nil, func() {}, nil
	}
	dir := c.ScratchDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bacalhau-scratch-"); err != nil {
			return nil, nil, fmt.Errorf("sandbox: scratch space: %w", err)
		}
	} else if err = os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("sandbox: scratch space: %w", err)
	}
	drop = func() { _ = os.RemoveAll(dir) }
	uppers = make([]string, len(c.Mounts))
	for i, m := range c.Mounts {
		if !m.Writable {
			continue
		}
		uppers[i] = filepath.Join(dir, "mount"+strconv.Itoa(i))
		if err := os.Mkdir(uppers[i], 0o700); err != nil {
			drop()
			return nil, nil, fmt.Errorf("sandbox: scratch space: %w", err)
		}
	}
	return uppers, drop, nil
}
