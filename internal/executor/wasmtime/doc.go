// Package wasmtime is the executor of job.EngineWasmtime jobs on sandbox/wasmtime:
// WASM tasks (Spec.Wasm) run on wasmtime, faster than on wazero but not reproducibly.
// It builds only where sandbox/wasmtime does (cgo, Linux, no nowasmtime tag); New
// reports ErrUnavailable elsewhere.
package wasmtime

import (
	"context"
	"errors"

	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
)

// ErrUnavailable is New's error in a build without wasmtime.
var ErrUnavailable = errors.New("wasmtime: this binary was built without the wasmtime engine (it needs cgo on Linux, and no nowasmtime tag)")

// Sandbox runs guests on wasmtime outside the executor contract: what HTTP functions
// run on (sandbox/wasmtime's Sandbox, where this build has it).
type Sandbox interface {
	Run(ctx context.Context, g sandbox.Guest) (sandbox.Result, error)
	Close(ctx context.Context) error
}
