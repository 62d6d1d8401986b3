// Package wasm is the executor of WASM jobs (job.EngineWasm) on the wazero sandbox: the
// deterministic engine, and the only one whose results can be verified.
package wasm

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// Options configure the executor; the zero value works (compiled code kept in memory
// only, the sandbox's default bounds).
type Options struct {
	// CacheDir keeps compiled modules across restarts.
	CacheDir string
	// CacheMemory and CacheDisk bound the compiled modules kept in memory and on disk,
	// in bytes; 0 means sandbox.DefaultMaxCacheBytes and DefaultMaxDiskCacheBytes.
	CacheMemory, CacheDisk uint64
	// CompileTimeout bounds loading and compiling one module (Prepare); 0 means
	// sandbox.DefaultLoadTimeout.
	CompileTimeout time.Duration
}

// Executor runs WASM tasks. Compiled modules are cached by module CID.
type Executor struct {
	box            *sandbox.Sandbox
	compileTimeout time.Duration
}

var (
	_ executor.Executor = (*Executor)(nil)
	_ executor.Preparer = (*Executor)(nil)
	_ executor.Readier  = (*Executor)(nil)
)

// New starts an executor; Close it to release compiled code.
func New(ctx context.Context, opts Options) (*Executor, error) {
	limit := cmp.Or(max(opts.CompileTimeout, 0), sandbox.DefaultLoadTimeout)
	box, err := sandbox.New(ctx, sandbox.Options{CacheDir: opts.CacheDir, MaxCacheBytes: opts.CacheMemory, MaxDiskCacheBytes: opts.CacheDisk, LoadTimeout: limit})
	if err != nil {
		return nil, err
	}
	return &Executor{box: box, compileTimeout: limit}, nil
}

// Prepare compiles the task's module before it takes a worker (see Prepare).
func (x *Executor) Prepare(ctx context.Context, p executor.Preparation) error {
	return Prepare(ctx, x.box, p, job.EngineWasm, x.compileTimeout)
}

// Ready reports whether spec's module is compiled and in memory.
func (x *Executor) Ready(spec job.Spec) bool { return Ready(x.box, spec) }

// Execute runs t.Spec.Wasm.
func (x *Executor) Execute(ctx context.Context, t executor.Task) (executor.Result, error) {
	g, err := Guest(t, job.EngineWasm)
	if err != nil {
		return executor.Result{}, err
	}
	res, err := x.box.Run(ctx, g)
	if err != nil {
		return executor.Result{}, err
	}
	return result(res), nil
}

// Guest is the sandbox guest that runs t's WASM task, which must be for engine: the
// one translation from the executor contract to a sandbox, which the other WASM
// engines that take a sandbox.Guest (sandbox/wasmtime) use too.
func Guest(t executor.Task, engine job.Engine) (sandbox.Guest, error) {
	w := t.Spec.Wasm
	if t.Spec.Engine != engine || w == nil {
		return sandbox.Guest{}, fmt.Errorf("%w: the %s executor was given a %q task", job.ErrInvalid, engine, t.Spec.Engine)
	}
	mod, err := blockstore.Key(w.Module)
	if err != nil {
		return sandbox.Guest{}, err
	}
	mounts := make([]wasi.Mount, len(t.Inputs))
	for i, m := range t.Inputs {
		mounts[i] = wasi.Mount{FS: m.FS, Target: m.Target, Writable: m.Writable}
	}
	return sandbox.Guest{
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
			ScratchDir:   t.ScratchDir,
			Stdout:       t.Stdout,
			Stderr:       t.Stderr,
		},
		Timeout:     time.Duration(t.Spec.Timeout),
		MemoryLimit: t.Spec.EffectiveMemory(), // never the sandbox's own default
		OutputLimit: t.OutputLimit,
	}, nil
}

// result maps the sandbox's result to the executor contract's.
func result(r sandbox.Result) executor.Result {
	out := executor.Result{ExitCode: r.ExitCode, Message: r.Reason, StdoutTruncated: r.StdoutTruncated,
		StderrTruncated: r.StderrTruncated, OutputsLimitHit: r.OutputsLimitHit, Prepare: r.Load, Run: r.Run}
	switch r.Stop {
	case sandbox.StopTimeout:
		out.Outcome = job.OutcomeTimeout
	case sandbox.StopCancelled:
		out.Outcome = job.OutcomeCancelled
	case sandbox.StopMemory:
		out.Outcome = job.OutcomeMemoryLimit
	case sandbox.StopTrap:
		out.Outcome = job.OutcomeTrap
	case sandbox.StopExited:
		out.Outcome = job.OutcomeExited
		if r.OutputsLimitHit {
			out.Outcome = job.OutcomeOutputsLimit
		}
	}
	return out
}

// Close stops every run and releases compiled code.
func (x *Executor) Close(ctx context.Context) error { return x.box.Close(ctx) }
