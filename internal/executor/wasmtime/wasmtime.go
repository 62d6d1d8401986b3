//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasm"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	wtsandbox "github.com/bacalhau-project/bacalhau-wasm/sandbox/wasmtime"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// Available reports whether this build offers the engine.
const Available = true

// Options configure the executor; the zero value works.
type Options = wtsandbox.Options

// Executor runs WASM tasks on wasmtime. Compiled modules are cached by module CID.
type Executor struct {
	box *wtsandbox.Sandbox
}

var _ executor.Executor = (*Executor)(nil)

// New starts an executor; Close it to stop its runs.
func New(ctx context.Context, opts Options) (*Executor, error) {
	box, err := wtsandbox.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Executor{box: box}, nil
}

// Execute runs t.Spec.Wasm on wasmtime.
func (x *Executor) Execute(ctx context.Context, t executor.Task) (executor.Result, error) {
	w := t.Spec.Wasm
	if t.Spec.Engine != job.EngineWasmtime || w == nil {
		return executor.Result{}, fmt.Errorf("%w: the wasmtime executor was given a %q task", job.ErrInvalid, t.Spec.Engine)
	}
	mod, err := blockstore.ParseCID(w.Module)
	if err != nil {
		return executor.Result{}, err
	}
	mounts := make([]wasi.Mount, len(t.Inputs))
	for i, m := range t.Inputs {
		mounts[i] = wasi.Mount{FS: m.FS, Target: m.Target}
	}
	res, err := x.box.Run(ctx, sandbox.Guest{
		ModuleKey: mod.String(),
		Module: func(ctx context.Context) ([]byte, error) {
			b, err := t.Content.ReadFile(ctx, mod)
			if err != nil {
				return nil, fmt.Errorf("loading module %s: %w", mod, err)
			}
			return b, nil
		},
		EntryPoint: cmp.Or(w.EntryPoint, job.DefaultEntryPoint),
		WASI: wasi.Config{
			Args:         w.Args,
			Env:          t.Spec.Env,
			Mounts:       mounts,
			OutputsDir:   t.OutputsDir,
			OutputsLimit: t.OutputsLimit,
			Stdout:       t.Stdout,
			Stderr:       t.Stderr,
		},
		Timeout:     time.Duration(t.Spec.Timeout),
		MemoryLimit: t.Spec.EffectiveMemory(),
		OutputLimit: t.OutputLimit,
	})
	if err != nil {
		return executor.Result{}, err
	}
	return wasm.Result(res), nil
}

// Close stops every run.
func (x *Executor) Close(ctx context.Context) error { return x.box.Close(ctx) }
