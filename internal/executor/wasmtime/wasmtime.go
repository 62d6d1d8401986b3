//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"cmp"
	"context"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasm"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	wtsandbox "github.com/bacalhau-project/bacalhau-wasm/sandbox/wasmtime"
)

// Available reports whether this build offers the engine.
const Available = true

// Options configure the executor; the zero value works.
type Options = wtsandbox.Options

// Executor runs WASM tasks on wasmtime. Compiled modules are cached by module CID.
type Executor struct {
	box            *wtsandbox.Sandbox
	compileTimeout time.Duration
}

var (
	_ executor.Executor = (*Executor)(nil)
	_ executor.Preparer = (*Executor)(nil)
	_ executor.Readier  = (*Executor)(nil)
)

// New starts an executor; Close it to stop its runs.
func New(ctx context.Context, opts Options) (*Executor, error) {
	opts.LoadTimeout = cmp.Or(max(opts.LoadTimeout, 0), sandbox.DefaultLoadTimeout)
	box, err := wtsandbox.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Executor{box: box, compileTimeout: opts.LoadTimeout}, nil
}

// Prepare compiles the task's module on wasmtime (or loads it from the compile
// cache) before it takes a worker, as the wazero executor does (see wasm.Prepare).
func (x *Executor) Prepare(ctx context.Context, p executor.Preparation) error {
	return wasm.Prepare(ctx, x.box, p, job.EngineWasmtime, x.compileTimeout)
}

// Ready reports whether spec's module is compiled and in memory.
func (x *Executor) Ready(spec job.Spec) bool { return wasm.Ready(x.box, spec) }

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
