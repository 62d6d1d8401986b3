package wasm

import (
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
)

// Result maps a sandbox's result to the executor contract's. Other WASM engines
// that report as the wazero sandbox does (sandbox/wasmtime) map through it too.
func Result(r sandbox.Result) executor.Result { return result(r) }
