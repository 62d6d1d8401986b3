package wasm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
)

// Compiler is a sandbox that compiles a module ahead of its runs and tells whether
// it holds one compiled: the wazero sandbox and sandbox/wasmtime's.
type Compiler interface {
	Precompile(ctx context.Context, key string, load func(context.Context) ([]byte, error)) error
	Compiled(key string) bool
}

// Prepare compiles the module of p.Spec's WASM task on box (or loads it from the
// compile cache), for engine, before the task takes a worker: compilation is a step
// of its own, which the job's history shows ("compiling module ...") and which does
// not count against the job's timeout. It is bounded by the sandbox's load timeout
// (the node's --compile-timeout); past it, the error names the module and the bound.
// An invalid module fails here, before the execution runs.
func Prepare(ctx context.Context, box Compiler, p executor.Preparation, engine job.Engine, limit time.Duration) error {
	mod, err := moduleOf(p.Spec, engine)
	if err != nil {
		return err
	}
	key := mod.String()
	if box.Compiled(key) {
		return nil
	}
	name := engineName(engine)
	p.Note(fmt.Sprintf("compiling module %s for %s", key, name))
	t0 := time.Now()
	err = box.Precompile(ctx, key, func(ctx context.Context) ([]byte, error) {
		b, err := p.Content.ReadFile(ctx, mod)
		if err != nil {
			return nil, fmt.Errorf("loading module %s: %w", mod, err)
		}
		return b, nil
	})
	switch {
	case errors.Is(err, sandbox.ErrLoadTimeout):
		return fmt.Errorf("compiling module %s for %s took longer than this node's compile timeout of %s (serve --compile-timeout)", key, name, limit)
	case err != nil:
		return fmt.Errorf("compiling module %s for %s: %w", key, name, err)
	}
	p.Note(fmt.Sprintf("compiled module %s for %s in %s", key, name, time.Since(t0).Round(time.Millisecond)))
	return nil
}

// Ready reports whether box holds the module of spec's WASM task compiled, so that
// an execution of it needs no Prepare.
func Ready(box Compiler, spec job.Spec) bool {
	mod, err := moduleOf(spec, spec.Engine)
	return err == nil && box.Compiled(mod.String())
}

// moduleOf is the CID of the module of spec's WASM task, which must be for engine.
func moduleOf(spec job.Spec, engine job.Engine) (cid.Cid, error) {
	if spec.Engine != engine || spec.Wasm == nil {
		return cid.Undef, fmt.Errorf("%w: the %s executor was given a %q task", job.ErrInvalid, engine, spec.Engine)
	}
	return blockstore.Key(spec.Wasm.Module)
}

// engineName is the name users know an engine by (serve --engines).
func engineName(e job.Engine) string {
	if e == job.EngineWasm {
		return "wazero"
	}
	return string(e)
}
