package nodecmd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasm"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasmtime"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestEnginesFlag runs in both builds (make test runs this package with CGO_ENABLED=0
// too). `serve --engines` offers wasmtime by default where the binary has it; a
// pure-Go binary offers wazero alone, refuses --engines wasmtime saying why, and its
// node has no wasmtime executor, while one with wasmtime has both.
func TestEnginesFlag(t *testing.T) {
	var f engineFlags
	cmd := &cobra.Command{}
	f.register(cmd)
	want := []string{"wazero"}
	if wasmtime.Available {
		want = append(want, "wasmtime")
	}
	if !slices.Equal(f.names, want) {
		t.Errorf("default --engines %v, want %v (wasmtime.Available %v)", f.names, want, wasmtime.Available)
	}
	eo, err := f.options()
	if err != nil {
		t.Fatalf("default --engines: %v", err)
	}
	xs, err := Options{}.executors(context.Background(), t.TempDir(), wasm.Options{}, eo, dockerFlags{mode: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(context.Background(), xs)
	if _, ok := xs[job.EngineWasm]; !ok {
		t.Error("no wazero executor")
	}
	if _, ok := xs[job.EngineWasmtime]; ok != wasmtime.Available {
		t.Errorf("wasmtime executor: %v, want %v", ok, wasmtime.Available)
	}

	f.names = []string{"wasmtime"}
	_, err = f.options()
	switch {
	case wasmtime.Available && err != nil:
		t.Errorf("--engines wasmtime: %v", err)
	case !wasmtime.Available && (err == nil || !strings.Contains(err.Error(), "built without the wasmtime engine")):
		t.Errorf("--engines wasmtime in a build without it: %v", err)
	}
	if _, err := wasmtime.New(context.Background(), wasmtime.Options{}); !wasmtime.Available && !errors.Is(err, wasmtime.ErrUnavailable) {
		t.Errorf("wasmtime.New in a build without it: %v, want ErrUnavailable", err)
	}
}
