package nodecmd

import (
	"context"
	"os"
	"path/filepath"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasm"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasmtime"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Options say how bacalhau-node builds the nodes it runs; the zero value is the
// release binary's.
type Options struct {
	// Wrap, if set, wraps each executor a node that serve starts is given. Test
	// binaries use it to make a node misbehave (see cmd/bacalhau/testdata/liar).
	Wrap func(job.Engine, executor.Executor) executor.Executor
}

// executors builds the executors of a node whose repository is repo: one per engine
// this binary offers. This is the one place an engine is registered.
// eo says which of them it offers.
func (o Options) executors(ctx context.Context, repo string, wo wasm.Options, eo engineOptions, df dockerFlags) (map[job.Engine]executor.Executor, error) {
	xs := map[job.Engine]executor.Executor{}
	if eo.offers(job.EngineWasm) {
		wo.CacheDir = filepath.Join(repo, "compile-cache")
		if err := os.MkdirAll(wo.CacheDir, 0o700); err != nil {
			return nil, err
		}
		w, err := wasm.New(ctx, wo)
		if err != nil {
			return nil, err
		}
		xs[job.EngineWasm] = w
	}
	if eo.offers(job.EngineWasmtime) && wasmtime.Available {
		x, err := newWasmtime(ctx, repo, wo, eo)
		if err != nil {
			closeAll(ctx, xs)
			return nil, err
		}
		xs[job.EngineWasmtime] = x
	}
	d, err := df.open(ctx, repo, xs[job.EngineWasm]) // WASM images run on wazero
	if err != nil {
		closeAll(ctx, xs)
		return nil, err
	}
	if d != nil {
		xs[job.EngineDocker] = d
	}
	if o.Wrap != nil {
		for e, x := range xs {
			xs[e] = o.Wrap(e, x)
		}
	}
	return xs, nil
}

// newWasmtime is the wasmtime executor of a node whose repository is repo: its
// compiled code beside wazero's, its runs' inputs copied under the repository (emptied
// first: what a crash left there is garbage).
func newWasmtime(ctx context.Context, repo string, wo wasm.Options, eo engineOptions) (executor.Executor, error) {
	opts := wasmtime.Options{
		CacheDir:          filepath.Join(repo, "compile-cache-wasmtime"),
		MaxCacheBytes:     wo.CacheMemory,
		MaxDiskCacheBytes: wo.CacheDisk,
		LoadTimeout:       wo.CompileTimeout,
		WorkDir:           filepath.Join(repo, "wasmtime-runs"),
		MaxInputBytes:     eo.wasmtimeInputs,
	}
	if err := os.RemoveAll(opts.WorkDir); err != nil {
		return nil, err
	}
	for _, d := range []string{opts.CacheDir, opts.WorkDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return wasmtime.New(ctx, opts)
}

func closeAll(ctx context.Context, xs map[job.Engine]executor.Executor) {
	for _, x := range xs {
		_ = x.Close(ctx)
	}
}
