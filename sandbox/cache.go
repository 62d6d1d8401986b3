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
	done      chan struct{} // closed when mod or err is set
	mod       wazero.CompiledModule
	minMemory uint64 // bytes of linear memory the module starts with
	err       error
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
		c.mod, c.minMemory = got.mod, got.minMemory
	}
	close(c.done)
	return c, err
}

func (s *Sandbox) compile(ctx context.Context, load func(context.Context) ([]byte, error)) (*compiled, error) {
	bin, err := load(ctx)
	if err != nil {
		return nil, fmt.Errorf("sandbox: loading module: %w", err)
	}
	mod, err := s.rt.CompileModule(experimental.WithCompilationWorkers(ctx, s.workers), bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	if err := s.checkImports(mod); err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	c := &compiled{mod: mod}
	for _, m := range mod.ExportedMemories() {
		c.minMemory = max(c.minMemory, uint64(m.Min())<<16)
	}
	return c, nil
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
