package node

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasm"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// withWasm gives cfg the wasm executor, as bacalhau serve does.
func withWasm(t testing.TB, cfg Config) Config {
	t.Helper()
	x, err := wasm.New(context.Background(), wasm.Options{CacheDir: filepath.Join(cfg.Repo, "compile-cache")})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Executors = map[job.Engine]executor.Executor{job.EngineWasm: x}
	return cfg
}
