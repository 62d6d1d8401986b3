package nodecmd

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasmtime"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/node"
)

// engineNames maps the names `serve --engines` takes to the engines they offer: the
// names users know (wazero, wasmtime), and the job.Engine keys themselves.
var engineNames = map[string]job.Engine{
	"wazero":   job.EngineWasm,
	"wasm":     job.EngineWasm,
	"wasmtime": job.EngineWasmtime,
}

// defaultWasmtimeInputs bounds the inputs one wasmtime run may copy out of the
// blockstore (see sandbox/wasmtime).
const defaultWasmtimeInputs = 4 << 30

// engineFlags are serve's choice of engines.
type engineFlags struct {
	names          []string
	wasmtimeInputs string
}

// engineOptions are what executors needs of them; the zero value offers every
// engine this binary has, with default bounds.
type engineOptions struct {
	only           []job.Engine // nil: all
	wasmtimeInputs int64
}

func (o engineOptions) offers(e job.Engine) bool { return o.only == nil || slices.Contains(o.only, e) }

func (f *engineFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	def := []string{"wazero"}
	if wasmtime.Available {
		def = append(def, "wasmtime")
	}
	fl.StringSliceVar(&f.names, "engines", def, "engines this node runs jobs on (comma-separated): wazero (deterministic, verifiable), wasmtime (faster, not reproducible)")
	fl.StringVar(&f.wasmtimeInputs, "wasmtime-inputs-limit", job.FormatBytes(defaultWasmtimeInputs), "most a wasmtime job's inputs may hold: they are copied out of the blockstore before it runs")
}

func (f *engineFlags) options() (engineOptions, error) {
	var o engineOptions
	o.only = []job.Engine{}
	for _, n := range f.names {
		n = strings.TrimSpace(strings.ToLower(n))
		e, ok := engineNames[n]
		if !ok {
			return o, fmt.Errorf("--engines: unknown engine %q (want wazero or wasmtime)", n)
		}
		if e == job.EngineWasmtime && !wasmtime.Available {
			return o, fmt.Errorf("--engines: %v", wasmtime.ErrUnavailable)
		}
		if !slices.Contains(o.only, e) {
			o.only = append(o.only, e)
		}
	}
	if len(o.only) == 0 {
		return o, fmt.Errorf("--engines: name at least one engine")
	}
	n, err := job.ParseBytes(f.wasmtimeInputs)
	if err != nil || n == 0 {
		return o, fmt.Errorf("--wasmtime-inputs-limit %q: want a positive size such as 4GiB", f.wasmtimeInputs)
	}
	o.wasmtimeInputs = int64(n)
	return o, nil
}

// functionEngines are the engines besides wazero that a node's functions run on:
// wasmtime, where the node offers it for jobs.
func functionEngines(eo engineOptions) map[job.Engine]node.NewFunctionEngine {
	if !wasmtime.Available || !eo.offers(job.EngineWasmtime) {
		return nil
	}
	start := func(ctx context.Context, dir string) (node.FunctionEngine, error) {
		work := dir + "-runs" // what a crash left there is garbage
		if err := os.RemoveAll(work); err != nil {
			return nil, err
		}
		for _, d := range []string{dir, work} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, err
			}
		}
		return wasmtime.NewSandbox(ctx, wasmtime.Options{CacheDir: dir, WorkDir: work, MaxInputBytes: eo.wasmtimeInputs})
	}
	return map[job.Engine]node.NewFunctionEngine{job.EngineWasmtime: start}
}
