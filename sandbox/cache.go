package sandbox

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// What a compiled module is taken to cost in memory: compiledCostFactor
// times the bytes compiled, plus compiledCostBase. Measured on the Go
// examples (2.3 to 3.1 MB of wasm, 2.7 to 3.6 MB once instrumented) with
// wazero v1.12 on amd64: 3.3 bytes of machine code (mmap'd, outside the Go
// heap) and 1.2 bytes of decoded module (Go heap) per instrumented byte,
// 4.5 in all, and up to 5.5 in a live node before the collector runs (the
// bench's modules row); see RATIONALE.md.
const (
	compiledCostFactor = 6
	compiledCostBase   = 64 << 10
)

// compiled is a module compiled once per ModuleKey and shared by its runs.
// Its fields after done are set once, under Sandbox.mu, before done is
// closed; refs, elem and cached are guarded by Sandbox.mu.
type compiled struct {
	key  string
	done chan struct{} // closed when mod or err is set
	mod  wazero.CompiledModule
	// rt is the runtime mod was compiled by and must run in: Sandbox.rt if
	// the module was instrumented, else Sandbox.checkedRT.
	rt           wazero.Runtime
	instrumented bool   // exports interruptGlobal
	start        bool   // exports startExport, to call before the entry point
	minMemory    uint64 // bytes of linear memory the module starts with
	cost         uint64 // estimated bytes of memory it holds, see moduleCost
	err          error

	refs   int           // runs holding it or waiting for it
	cached bool          // in Sandbox.modules: a new run may still take it
	elem   *list.Element // in Sandbox.lru once compiled and cached
	closed bool          // mod was closed
}

// moduleCost estimates the memory a module compiled from n bytes holds.
func moduleCost(n int) uint64 { return compiledCostBase + compiledCostFactor*uint64(n) }

// Precompile loads and compiles a module into the cache ahead of its first
// Run, for example when a function is deployed. It returns ErrInvalidModule
// (wrapped) for a module that could not run.
func (s *Sandbox) Precompile(ctx context.Context, key string, load func(context.Context) ([]byte, error)) error {
	if key == "" {
		return fmt.Errorf("%w: Precompile needs a ModuleKey", ErrInvalidGuest)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.running.Add(1) // Close waits for it, and for the load it may start
	s.mu.Unlock()
	defer s.running.Done()
	c, err := s.acquire(ctx, key, load)
	if err != nil {
		return err
	}
	s.release(c)
	return nil
}

// Compiled reports whether the module cached under key is compiled and in
// memory: a Run of it starts without loading or compiling anything.
func (s *Sandbox) Compiled(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.modules[key]
	return c != nil && c.elem != nil
}

// CacheStats reports how many compiled modules the in-memory cache holds
// and what they are estimated to cost, in bytes (bounded by
// Options.MaxCacheBytes). Modules evicted while a run still uses them are
// not counted.
func (s *Sandbox) CacheStats() (modules int, bytes uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len(), s.cacheBytes
}

// acquire returns the module cached under key, loading and compiling it on
// a miss, and holds it until release. Concurrent misses for one key load it
// once, in the background under the Sandbox's own context (bounded by
// Options.LoadTimeout): a caller whose ctx ends stops waiting, the load
// goes on for the others. Failures are not cached. Key "" loads a module
// of its own, closed on release.
func (s *Sandbox) acquire(ctx context.Context, key string, load func(context.Context) ([]byte, error)) (*compiled, error) {
	s.mu.Lock()
	c := s.modules[key] // never set for ""
	switch {
	case c != nil && c.elem != nil: // compiled and cached
		s.lru.MoveToFront(c.elem)
		c.refs++
		s.mu.Unlock()
		return c, nil
	case c == nil:
		c = &compiled{key: key, done: make(chan struct{})}
		if key != "" {
			c.cached = true
			s.modules[key] = c
		}
		s.loads.Add(1)
		go s.load(c, load)
	}
	c.refs++
	s.mu.Unlock()

	select {
	case <-c.done:
		if c.err != nil {
			s.release(c)
			return nil, c.err
		}
		return c, nil
	case <-ctx.Done():
		s.release(c)
		return nil, ctx.Err()
	case <-s.stopping.Done():
		s.release(c)
		return nil, ErrClosed
	}
}

// release ends a hold taken by acquire. The module is closed when it is
// not cached any more and nobody holds it: a running guest never loses its
// code.
func (s *Sandbox) release(c *compiled) {
	s.mu.Lock()
	c.refs--
	closeNow := c.refs == 0 && !c.cached && c.mod != nil && !c.closed
	if closeNow {
		c.closed = true
	}
	s.mu.Unlock()
	if closeNow {
		_ = c.mod.Close(context.Background())
	}
}

// load loads and compiles c's module, caches it and closes done. It runs
// in a goroutine of its own, under s.stopping, so that no caller's context
// can cut a load short that others wait for.
func (s *Sandbox) load(c *compiled, load func(context.Context) ([]byte, error)) {
	defer s.loads.Done()
	ctx, cancel := context.WithTimeoutCause(s.stopping, s.loadTimeout, ErrLoadTimeout)
	defer cancel()
	got, err := s.compile(ctx, load)
	if err == nil && ctx.Err() != nil {
		// Done past the bound (wazero compiles on one goroutine without looking at
		// ctx when it has one worker): dropped, as a compilation stopped at it.
		_ = got.mod.Close(context.Background())
		err = ctx.Err()
	}
	if err != nil && ctx.Err() != nil {
		// Stopped, not failed: say why rather than what the loader made of it.
		if err = context.Cause(ctx); errors.Is(err, ErrLoadTimeout) {
			err = fmt.Errorf("%w after %s", ErrLoadTimeout, s.loadTimeout)
		} else {
			err = ErrClosed
		}
	}

	var toClose []*compiled
	s.mu.Lock()
	if err != nil {
		c.err = err
		if c.cached {
			c.cached = false
			delete(s.modules, c.key)
		}
	} else {
		c.mod, c.rt, c.instrumented, c.start, c.minMemory, c.cost = got.mod, got.rt, got.instrumented, got.start, got.minMemory, got.cost
		switch {
		case c.cached:
			c.elem = s.lru.PushFront(c)
			s.cacheBytes += c.cost
			toClose = s.evict()
		case c.refs == 0: // uncached, and its caller gave up
			c.closed = true
			toClose = append(toClose, c)
		}
	}
	s.mu.Unlock()
	for _, e := range toClose {
		_ = e.mod.Close(context.Background())
	}
	if err == nil {
		s.disk.prune() // before done: a run that follows finds the directory within its bound
	}
	close(c.done)
	if len(toClose) > 0 {
		// Closing a compiled module only drops wazero's references to it: its
		// machine code is unmapped by a finalizer, which runs when the collector
		// next does. The Go heap grows slowly while the code stays mapped, so
		// without this a node that compiles many modules holds several times
		// the cache's bound in evicted code.
		runtime.GC()
	}
}

// evict drops the least recently used modules from the cache until it
// holds at most maxCacheBytes, possibly the one just added, and returns
// those that nobody holds, to be closed. s.mu must be held.
func (s *Sandbox) evict() (toClose []*compiled) {
	for s.cacheBytes > s.maxCacheBytes {
		e := s.lru.Back()
		if e == nil {
			break
		}
		c := e.Value.(*compiled)
		s.lru.Remove(e)
		c.elem = nil
		c.cached = false
		delete(s.modules, c.key)
		s.cacheBytes -= c.cost
		if c.refs == 0 {
			c.closed = true
			toClose = append(toClose, c)
		}
	}
	return toClose
}

func (s *Sandbox) compile(ctx context.Context, load func(context.Context) ([]byte, error)) (*compiled, error) {
	bin, err := load(ctx)
	if err != nil {
		return nil, fmt.Errorf("sandbox: loading module: %w", err)
	}
	ctx = experimental.WithCompilationWorkers(ctx, s.workers)
	c := s.compileInstrumented(ctx, bin)
	if c == nil {
		// Not instrumentable, or not valid once instrumented (then most
		// likely not valid at all, and wazero says why on the original).
		if err := ctx.Err(); err != nil {
			return nil, err // stopped while compiling: says nothing of the module
		}
		mod, err := s.checkedRT.CompileModule(ctx, bin)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
		}
		c = &compiled{mod: mod, rt: s.checkedRT, cost: moduleCost(len(bin))}
	}
	if err := s.checkImports(c.mod); err != nil {
		_ = c.mod.Close(ctx)
		return nil, err
	}
	for _, m := range c.mod.ExportedMemories() {
		c.minMemory = max(c.minMemory, uint64(m.Min())<<16)
	}
	return c, nil
}

// compileInstrumented instruments and compiles bin, or returns nil if
// either fails.
func (s *Sandbox) compileInstrumented(ctx context.Context, bin []byte) *compiled {
	ibin, err := s.instrument(bin)
	if err != nil {
		return nil
	}
	mod, err := s.rt.CompileModule(ctx, ibin)
	if err != nil {
		return nil
	}
	c := &compiled{mod: mod, rt: s.rt, instrumented: true, cost: moduleCost(len(ibin))}
	if f, ok := mod.ExportedFunctions()[startExport]; ok {
		// The start section must name a () -> () function; the original
		// fails to compile if it does not.
		if len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0 {
			_ = mod.Close(ctx)
			return nil
		}
		c.start = true
	}
	return c
}

// checkImports makes sure the module imports nothing but WASI preview 1
// functions, so that instantiating it cannot fail for want of an import.
func (s *Sandbox) checkImports(mod wazero.CompiledModule) error {
	for _, f := range mod.ImportedFunctions() {
		module, name, _ := f.Import()
		if module != wasi_snapshot_preview1.ModuleName || s.wasiFns[name] == nil {
			return fmt.Errorf("%w: imports function %s.%s; only %s functions are provided",
				ErrInvalidModule, module, name, wasi_snapshot_preview1.ModuleName)
		}
	}
	if len(mod.ImportedMemories()) > 0 {
		return fmt.Errorf("%w: imports a memory; the module must define its own", ErrInvalidModule)
	}
	return nil
}
