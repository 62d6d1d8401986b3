//go:build !cgo || !linux || nowasmtime

package wasmtime

import (
	"context"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
)

// Available reports whether this build offers the engine.
const Available = false

// Options configure the executor.
type Options struct {
	CacheDir                         string
	MaxCacheBytes, MaxDiskCacheBytes uint64
	LoadTimeout                      time.Duration
	WorkDir                          string
	MaxInputBytes                    int64
}

// New fails: this build has no wasmtime.
func New(context.Context, Options) (executor.Executor, error) { return nil, ErrUnavailable }

// NewSandbox fails: this build has no wasmtime.
func NewSandbox(context.Context, Options) (Sandbox, error) { return nil, ErrUnavailable }
