//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"context"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasm"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	wtsandbox "github.com/bacalhau-project/bacalhau-wasm/sandbox/wasmtime"
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
	g, err := wasm.Guest(t, job.EngineWasmtime)
	if err != nil {
		return executor.Result{}, err
	}
	res, err := x.box.Run(ctx, g)
	if err != nil {
		return executor.Result{}, err
	}
	return wasm.Result(res), nil
}

// Close stops every run.
func (x *Executor) Close(ctx context.Context) error { return x.box.Close(ctx) }

// NewSandbox starts a wasmtime sandbox of its own, for HTTP functions; Close it.
func NewSandbox(ctx context.Context, opts Options) (Sandbox, error) { return wtsandbox.New(ctx, opts) }
