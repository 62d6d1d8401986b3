package nodecmd

import (
	"context"
	"os"
	"path/filepath"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasm"
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
func (o Options) executors(ctx context.Context, repo string, wo wasm.Options, df dockerFlags) (map[job.Engine]executor.Executor, error) {
	wo.CacheDir = filepath.Join(repo, "compile-cache")
	if err := os.MkdirAll(wo.CacheDir, 0o700); err != nil {
		return nil, err
	}
	w, err := wasm.New(ctx, wo)
	if err != nil {
		return nil, err
	}
	xs := map[job.Engine]executor.Executor{job.EngineWasm: w}
	d, err := df.open(ctx, repo)
	if err != nil {
		w.Close(ctx)
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
