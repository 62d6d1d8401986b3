package sandbox

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// compiled is a module compiled once per ModuleKey and shared by its runs.
type compiled struct {
	done chan struct{} // closed when mod or err is set
	mod  wazero.CompiledModule
	// rt is the runtime mod was compiled by and must run in: Sandbox.rt if
	// the module was instrumented, else Sandbox.checkedRT.
	rt           wazero.Runtime
	instrumented bool   // exports interruptGlobal
	start        bool   // exports startExport, to call before the entry point
	minMemory    uint64 // bytes of linear memory the module starts with
	err          error
}

// Precompile loads and compiles a module into the cache ahead of its first
// Run, for example when a function is deployed. It returns ErrInvalidModule
// (wrapped) for a module that could not run.
func (s *Sandbox) Precompile(ctx context.Context, key string, load func(context.Context) ([]byte, error)) error {
	if key == "" {
		return fmt.Errorf("%w: Precompile needs a ModuleKey", ErrInvalidTask)
	}
	_, err := s.compiled(ctx, key, load)
	return err
}

// compiled returns the module cached under key, loading and compiling it on
// a miss. Concurrent misses for one key load it once; failures are not
// cached.
func (s *Sandbox) compiled(ctx context.Context, key string, load func(context.Context) ([]byte, error)) (*compiled, error) {
	if key == "" {
		return s.compile(ctx, load)
	}
	s.mu.Lock()
	c, ok := s.modules[key]
	if !ok {
		c = &compiled{done: make(chan struct{})}
		s.modules[key] = c
	}
	s.mu.Unlock()
	if ok {
		select {
		case <-c.done:
			if c.err != nil {
				return nil, c.err
			}
			return c, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	got, err := s.compile(ctx, load)
	if err != nil {
		c.err = err
		s.mu.Lock()
		delete(s.modules, key)
		s.mu.Unlock()
	} else {
		c.mod, c.rt, c.instrumented, c.start, c.minMemory = got.mod, got.rt, got.instrumented, got.start, got.minMemory
	}
	close(c.done)
	return c, err
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
		c = &compiled{mod: mod, rt: s.checkedRT}
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
	c := &compiled{mod: mod, rt: s.rt, instrumented: true}
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
