//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	wt "github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// Available reports whether this build offers the wasmtime engine.
const Available = true

// Version names the engine and its version: it is part of every compiled
// code cache key, so code compiled by another wasmtime is never loaded.
const Version = "wasmtime-go/v39.0.1"

const (
	// DefaultMaxInstances bounds the guests one Sandbox runs at once, when
	// Options.MaxInstances is 0: each holds a slot of the engine's pool.
	DefaultMaxInstances = 256
	// keepResident is how much of a pooled memory stays mapped from one run
	// to the next: what a Go guest's start touches.
	keepResident = 8 << 20
	// DefaultMaxInputBytes bounds what the inputs of one run may hold once
	// copied out of the blockstore, when Options.MaxInputBytes is 0.
	DefaultMaxInputBytes = 4 << 30 // 4 GiB
	// epochTick is how often the engine's epoch advances: how soon a
	// spinning guest sees that its run was stopped.
	epochTick = 10 * time.Millisecond
	// outputsPoll is how often /outputs is measured against its limit.
	outputsPoll = 20 * time.Millisecond
	wasmPage    = 64 << 10
)

// ErrInputsTooLarge is wrapped by Run's error when the inputs hold more than
// Options.MaxInputBytes.
var ErrInputsTooLarge = errors.New("wasmtime: inputs too large")

// Options configure a Sandbox. The zero value works.
type Options struct {
	// CacheDir keeps compiled code across restarts; "" keeps it in memory only.
	CacheDir string
	// MaxCacheBytes bounds the compiled modules kept in memory (by the size of
	// their serialised code); 0 means sandbox.DefaultMaxCacheBytes.
	MaxCacheBytes uint64
	// MaxDiskCacheBytes bounds CacheDir; 0 means sandbox.DefaultMaxDiskCacheBytes.
	MaxDiskCacheBytes uint64
	// LoadTimeout bounds loading and compiling one module; 0 means
	// sandbox.DefaultLoadTimeout.
	LoadTimeout time.Duration
	// WorkDir is where a run's inputs are copied to (a directory per run,
	// removed after it); "" means os.TempDir().
	WorkDir string
	// MaxInputBytes bounds the bytes one run's inputs may hold; 0 means
	// DefaultMaxInputBytes.
	MaxInputBytes int64
	// MaxInstances bounds the guests running at once; more wait for a slot.
	// 0 means DefaultMaxInstances.
	MaxInstances int
}

// Sandbox runs guests on one wasmtime engine. It is safe for concurrent use.
type Sandbox struct {
	engine *wt.Engine
	linker *wt.Linker
	cache  *codeCache

	workDir       string
	maxInputBytes int64
	slots         chan struct{} // one per instance the engine's pool holds

	mu       sync.Mutex
	closed   bool
	running  sync.WaitGroup
	stopping context.Context
	stopAll  context.CancelFunc
	ticker   chan struct{} // closed to stop the epoch ticker
	tickDone chan struct{}
}

// New starts a Sandbox. Close it to stop its runs and its epoch ticker.
func New(ctx context.Context, opts Options) (*Sandbox, error) {
	cfg := wt.NewConfig()
	cfg.SetEpochInterruption(true)
	slots := cmp.Or(max(opts.MaxInstances, 0), DefaultMaxInstances)
	if err := usePooling(cfg, uint32(slots), keepResident); err != nil {
		return nil, err
	}
	engine := wt.NewEngineWithConfig(cfg)
	linker := wt.NewLinker(engine)
	if err := linker.DefineWasi(); err != nil {
		return nil, fmt.Errorf("wasmtime: defining WASI: %w", err)
	}
	// A sleeping guest is stopped by our poll_oneoff: wasmtime's sleeps in
	// the host, where no epoch reaches it.
	linker.AllowShadowing(true)
	if err := linker.FuncWrap("wasi_snapshot_preview1", "poll_oneoff", pollOneoff); err != nil {
		return nil, fmt.Errorf("wasmtime: defining poll_oneoff: %w", err)
	}
	// No symbolic links in /outputs: wasmtime lets a guest plant one whose
	// target leads out of the directory (it does not follow it, but what
	// imports the outputs afterwards might).
	if err := linker.FuncWrap("wasi_snapshot_preview1", "path_symlink", refuseSymlink); err != nil {
		return nil, fmt.Errorf("wasmtime: defining path_symlink: %w", err)
	}
	s := &Sandbox{
		engine:        engine,
		linker:        linker,
		workDir:       cmp.Or(opts.WorkDir, os.TempDir()),
		maxInputBytes: cmp.Or(max(opts.MaxInputBytes, 0), DefaultMaxInputBytes),
		slots:         make(chan struct{}, slots),
		ticker:        make(chan struct{}),
		tickDone:      make(chan struct{}),
	}
	s.stopping, s.stopAll = context.WithCancel(context.Background())
	s.cache = newCodeCache(s.stopping, engine, opts)
	go s.tick()
	return s, nil
}

// tick advances the engine's epoch: every running guest's code then calls
// back to see whether its run was stopped.
func (s *Sandbox) tick() {
	defer close(s.tickDone)
	t := time.NewTicker(epochTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.engine.IncrementEpoch()
		case <-s.ticker:
			return
		}
	}
}

// Close stops running guests, waits for them (or for ctx) and stops the
// epoch ticker. Run returns sandbox.ErrClosed afterwards.
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
	go func() { s.running.Wait(); s.cache.wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("wasmtime: waiting for running guests: %w", ctx.Err())
	}
	close(s.ticker)
	<-s.tickDone
	return nil
}

// stopKind says what stopped a run from outside.
type stopKind int32

const (
	running stopKind = iota
	stopTimeout
	stopCancel
	stopClosed
	stopOutputs
)

// runState is what the host knows of one run while its guest runs: the
// epoch callback and poll_oneoff read it.
type runState struct {
	stop   atomic.Int32 // a stopKind
	halted chan struct{}
	once   sync.Once
	start  time.Time // the guest's monotonic clock's origin, near enough
}

func (r *runState) halt(k stopKind) {
	r.once.Do(func() {
		r.stop.Store(int32(k))
		close(r.halted)
	})
}

func (r *runState) stopped() bool { return r.stop.Load() != int32(running) }

// Run runs g and reports how the guest ended, as the wazero sandbox does.
// An error means the host could not run it: an invalid guest or module
// (sandbox.ErrInvalidModule), a module that could not be loaded, inputs over
// the bound (ErrInputsTooLarge), a context done before the guest started, or
// a closed Sandbox (sandbox.ErrClosed).
func (s *Sandbox) Run(ctx context.Context, g sandbox.Guest) (res sandbox.Result, err error) {
	if err := g.WASI.Validate(); err != nil {
		return sandbox.Result{}, err
	}
	switch {
	case g.Module == nil:
		return sandbox.Result{}, fmt.Errorf("%w: no Module loader", sandbox.ErrInvalidGuest)
	case g.Timeout < 0 || g.OutputLimit < 0:
		return sandbox.Result{}, fmt.Errorf("%w: negative Timeout or OutputLimit", sandbox.ErrInvalidGuest)
	case g.MemoryLimit != 0 && g.MemoryLimit < wasmPage:
		return sandbox.Result{}, fmt.Errorf("%w: memory limit %s is below the minimum of 64 KiB (one WebAssembly page)",
			sandbox.ErrInvalidGuest, sandbox.FormatBytes(g.MemoryLimit))
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return sandbox.Result{}, sandbox.ErrClosed
	}
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()

	t0 := time.Now()
	mod, err := s.cache.get(ctx, g.ModuleKey, g.Module)
	if err != nil {
		return sandbox.Result{}, err
	}
	entry := cmp.Or(g.EntryPoint, sandbox.DefaultEntryPoint)
	limit := cmp.Or(g.MemoryLimit, sandbox.DefaultMemoryLimit) &^ (wasmPage - 1)
	hasEntry, minMemory := describe(mod, entry)
	if !hasEntry {
		return sandbox.Result{}, fmt.Errorf("%w: no exported function %q", sandbox.ErrInvalidModule, entry)
	}
	if minMemory > limit {
		return sandbox.Result{ExitCode: sandbox.ExitCodeAbnormal, Stop: sandbox.StopMemory,
			Reason: sandbox.StartMemoryReason(minMemory, limit)}, nil
	}
	var dirs []string
	if len(g.WASI.Mounts) > 0 {
		work, err := os.MkdirTemp(s.workDir, "wasmtime-run-")
		if err != nil {
			return sandbox.Result{}, fmt.Errorf("wasmtime: run directory: %w", err)
		}
		defer os.RemoveAll(work)
		if dirs, err = materialise(ctx, work, g.WASI.Mounts, s.maxInputBytes); err != nil {
			return sandbox.Result{}, err
		}
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		return sandbox.Result{}, ctx.Err()
	case <-s.stopping.Done():
		return sandbox.Result{}, sandbox.ErrClosed
	}
	t1 := time.Now()
	defer func() { res.Load, res.Run = t1.Sub(t0), time.Since(t1) }()
	return s.run(ctx, mod, entry, limit, dirs, g)
}

// Precompile loads and compiles a module into the cache (or loads it from
// the disk cache) ahead of its first Run, as the wazero sandbox's does: the
// load is bounded by Options.LoadTimeout (sandbox.ErrLoadTimeout), and an
// invalid module is sandbox.ErrInvalidModule.
func (s *Sandbox) Precompile(ctx context.Context, key string, load func(context.Context) ([]byte, error)) error {
	if key == "" {
		return fmt.Errorf("%w: Precompile needs a ModuleKey", sandbox.ErrInvalidGuest)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return sandbox.ErrClosed
	}
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()
	_, err := s.cache.get(ctx, key, load)
	return err
}

// Compiled reports whether the module cached under key is compiled and in
// memory: a Run of it starts without loading or compiling anything.
func (s *Sandbox) Compiled(key string) bool { return s.cache.compiled(key) }

// describe reports whether mod exports the function entry, and the bytes of
// linear memory it needs to start.
func describe(mod *wt.Module, entry string) (hasEntry bool, minMemory uint64) {
	for _, e := range mod.Exports() {
		ty := e.Type()
		if e.Name() == entry && ty.FuncType() != nil {
			hasEntry = true
		}
		if m := ty.MemoryType(); m != nil {
			minMemory = max(minMemory, m.Minimum()*wasmPage)
		}
	}
	for _, i := range mod.Imports() {
		if m := i.Type().MemoryType(); m != nil {
			minMemory = max(minMemory, m.Minimum()*wasmPage)
		}
	}
	return hasEntry, minMemory
}

func (s *Sandbox) run(ctx context.Context, mod *wt.Module, entry string, memLimit uint64, inputDirs []string, g sandbox.Guest) (res sandbox.Result, err error) {
	r := &runState{halted: make(chan struct{}), start: time.Now()}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if g.Timeout > 0 {
		var cancelTimeout context.CancelFunc
		runCtx, cancelTimeout = context.WithTimeout(runCtx, g.Timeout)
		defer cancelTimeout()
	}
	stopClose := context.AfterFunc(s.stopping, func() { r.halt(stopClosed) })
	defer stopClose()
	stopCtx := context.AfterFunc(runCtx, func() {
		if errors.Is(runCtx.Err(), context.DeadlineExceeded) {
			r.halt(stopTimeout)
		} else {
			r.halt(stopCancel)
		}
	})
	defer stopCtx()

	wc := wt.NewWasiConfig()
	defer wc.Close() // a no-op once the store owns it
	wc.SetArgv(g.WASI.Argv())
	var keys, values []string
	for _, kv := range g.WASI.SortedEnv() {
		keys, values = append(keys, kv[0]), append(values, kv[1])
	}
	wc.SetEnv(keys, values)
	var writable []string // the private copies of writable mounts
	for i, m := range g.WASI.Mounts {
		dirPerms, filePerms := wt.DIR_READ, wt.FILE_READ
		if m.Writable {
			dirPerms, filePerms = wt.DIR_READ|wt.DIR_WRITE, wt.FILE_READ|wt.FILE_WRITE
			writable = append(writable, inputDirs[i])
		}
		if err := wc.PreopenDir(inputDirs[i], m.Target, dirPerms, filePerms); err != nil {
			return sandbox.Result{}, fmt.Errorf("wasmtime: mounting %s: %w", m.Target, err)
		}
	}
	var outputs *outputsWatch
	if g.WASI.OutputsDir != "" {
		if err := wc.PreopenDir(g.WASI.OutputsDir, wasi.OutputsTarget, wt.DIR_READ|wt.DIR_WRITE, wt.FILE_READ|wt.FILE_WRITE); err != nil {
			return sandbox.Result{}, fmt.Errorf("wasmtime: mounting %s: %w", wasi.OutputsTarget, err)
		}
	}
	if g.WASI.OutputsDir != "" || len(writable) > 0 {
		outputs = watchOutputs(g.WASI.OutputsDir, writable, cmp.Or(g.WASI.OutputsLimit, wasi.DefaultOutputsLimit), r)
		defer func() {
			if hit, discarded := outputs.finish(); hit && err == nil {
				res.OutputsLimitHit = true
				if res.Reason == "" || r.stop.Load() == int32(stopOutputs) {
					res.Reason = sandbox.OutputsReason(outputs.limit)
					if discarded {
						res.Reason += "; what the guest wrote was discarded"
					}
				}
			}
		}()
	}
	outLimit := cmp.Or(g.OutputLimit, sandbox.DefaultOutputLimit)
	stdout, err := newStream(g.WASI.Stdout, outLimit, wc.SetStdoutFile)
	if err != nil {
		return sandbox.Result{}, err
	}
	stderr, err := newStream(g.WASI.Stderr, outLimit, wc.SetStderrFile)
	if err != nil {
		stdout.abort()
		return sandbox.Result{}, err
	}

	if g.WASI.Stdin != nil {
		stop, err := feedStdin(g.WASI.Stdin, wc.SetStdinFile, r)
		if err != nil {
			stdout.abort()
			stderr.abort()
			return sandbox.Result{}, err
		}
		defer stop()
	}

	store := wt.NewStoreWithData(s.engine, r)
	store.Limiter(int64(memLimit), -1, -1, -1, -1)
	store.SetWasi(wc)
	store.SetEpochDeadline(1)
	unregister, err := register(store, r)
	if err != nil {
		store.Close()
		stdout.wait()
		stderr.wait()
		return sandbox.Result{}, err
	}
	res, err = s.call(store, mod, entry, memLimit, r)
	unregister()
	store.Close() // closes the guest's ends of stdout and stderr
	res.StdoutTruncated, res.StderrTruncated = stdout.wait(), stderr.wait()
	return res, err
}

// call instantiates mod in store and calls entry, mapping how it ended.
func (s *Sandbox) call(store *wt.Store, mod *wt.Module, entry string, memLimit uint64, r *runState) (sandbox.Result, error) {
	abnormal := sandbox.Result{ExitCode: sandbox.ExitCodeAbnormal}
	inst, err := s.linker.Instantiate(store, mod)
	if err != nil {
		if r.stopped() {
			return stoppedResult(r), nil
		}
		var pages uint64
		if _, serr := fmt.Sscanf(err.Error(), "memory minimum size of %d pages exceeds memory limits", &pages); serr == nil {
			// A memory the module does not export, which describe cannot see.
			abnormal.Stop, abnormal.Reason = sandbox.StopMemory, sandbox.StartMemoryReason(pages*wasmPage, memLimit)
			return abnormal, nil
		}
		return sandbox.Result{}, fmt.Errorf("%w: instantiating: %s", sandbox.ErrInvalidModule, firstLine(err.Error()))
	}
	f := inst.GetFunc(store, entry)
	if f == nil {
		return sandbox.Result{}, fmt.Errorf("%w: no exported function %q", sandbox.ErrInvalidModule, entry)
	}
	_, err = f.Call(store)
	var werr *wt.Error
	switch {
	case r.stopped():
		// Whatever the guest did last, the host stopped it.
		return stoppedResult(r), nil
	case err == nil:
		return sandbox.Result{}, nil
	case errors.As(err, &werr):
		if code, ok := werr.ExitStatus(); ok {
			res := sandbox.Result{ExitCode: int(code)}
			if code != 0 && nearLimit(inst, store, memLimit) {
				res.Stop, res.Reason = sandbox.StopMemory, sandbox.MemoryReason(memLimit)
			}
			return res, nil
		}
	}
	if nearLimit(inst, store, memLimit) {
		abnormal.Stop, abnormal.Reason = sandbox.StopMemory, sandbox.MemoryReason(memLimit)
		return abnormal, nil
	}
	abnormal.Stop, abnormal.Reason = sandbox.StopTrap, "trap: "+cause(err.Error())
	return abnormal, nil
}

// nearLimit reports whether the guest's memory ended within one growth step
// of memLimit: wasmtime's C API does not say when the store's limiter
// refused a memory.grow (it returns -1 to the guest), so a run that failed
// with its memory this close to the limit is reported as stopped by it.
// A step is what a Go guest grows by (its heap arenas are 4 MiB) or a
// sixteenth of the limit, whichever is more.
func nearLimit(inst *wt.Instance, store *wt.Store, memLimit uint64) bool {
	ex := inst.GetExport(store, "memory")
	if ex == nil || ex.Memory() == nil {
		return false
	}
	size := uint64(ex.Memory().DataSize(store))
	step := max(4<<20, memLimit/16)
	return size+step > memLimit
}

func stoppedResult(r *runState) sandbox.Result {
	res := sandbox.Result{ExitCode: sandbox.ExitCodeAbnormal, Stop: sandbox.StopCancelled, Reason: sandbox.ReasonCancelled}
	switch stopKind(r.stop.Load()) {
	case stopTimeout:
		res.Stop, res.Reason = sandbox.StopTimeout, sandbox.ReasonTimeout
	case stopClosed:
		res.Reason = sandbox.ReasonCancelled + ": sandbox closed"
	case stopOutputs:
		res.Stop, res.Reason = sandbox.StopExited, "" // the outputs watch says why
	}
	return res
}

// cause is the line of a wasmtime error that says what happened: the one
// after "Caused by:" (a trap's message follows its wasm backtrace), else the
// first.
func cause(s string) string {
	if _, after, ok := strings.Cut(s, "Caused by:"); ok {
		return firstLine(after)
	}
	return firstLine(s)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// stream is one of a guest's output streams: a pipe whose write end wasmtime
// holds (opened through /proc/self/fd, as the C API takes only paths) and
// whose read end is copied into a capped writer.
type stream struct {
	r         *os.File
	done      chan struct{}
	truncated bool
}

func newStream(w io.Writer, limit int64, set func(string) error) (*stream, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("wasmtime: output pipe: %w", err)
	}
	err = set(fmt.Sprintf("/proc/self/fd/%d", pw.Fd()))
	pw.Close() // wasmtime opened its own
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("wasmtime: output pipe: %w", err)
	}
	st := &stream{r: pr, done: make(chan struct{})}
	capped := sandbox.NewCappedWriter(w, limit)
	go func() {
		defer close(st.done)
		_, _ = io.Copy(capped, pr)
		// A writer that fails is discarded; the guest must not block on it.
		_, _ = io.Copy(io.Discard, pr)
		pr.Close()
		st.truncated = capped.Truncated()
	}()
	return st, nil
}

// feedStdin gives the guest a pipe as stdin (opened through /proc/self/fd, as
// the C API takes only paths) and copies in into it. The guest reads EOF when
// in ends, or once its run is stopped: a guest blocked reading stdin is in the
// host, where no epoch reaches it. stop closes the pipe after the run; the
// copy ends at its next write, or when in's Read returns.
func feedStdin(in io.Reader, set func(string) error, r *runState) (stop func(), err error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("wasmtime: input pipe: %w", err)
	}
	err = set(fmt.Sprintf("/proc/self/fd/%d", pr.Fd()))
	pr.Close() // wasmtime opened its own
	if err != nil {
		pw.Close()
		return nil, fmt.Errorf("wasmtime: input pipe: %w", err)
	}
	go func() {
		_, _ = io.Copy(pw, in)
		pw.Close()
	}()
	done := make(chan struct{})
	go func() {
		select {
		case <-r.halted:
		case <-done:
		}
		pw.Close()
	}()
	return func() { close(done) }, nil
}

// wait waits for the guest's end of the pipe to be closed and everything
// before it copied, and reports whether output was dropped past the cap.
func (s *stream) wait() bool {
	<-s.done
	return s.truncated
}

// abort closes a stream whose guest never ran.
func (s *stream) abort() {
	s.r.Close()
	<-s.done
}
