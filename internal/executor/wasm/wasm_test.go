package wasm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// TestResult: every way the sandbox says a run ended maps to one typed outcome.
func TestResult(t *testing.T) {
	for _, tt := range []struct {
		in   sandbox.Result
		want job.Outcome
	}{
		{sandbox.Result{}, job.OutcomeExited},
		{sandbox.Result{ExitCode: 3}, job.OutcomeExited},
		{sandbox.Result{ExitCode: 1, Reason: "outputs limit of 1 MiB exceeded", OutputsLimitHit: true}, job.OutcomeOutputsLimit},
		{sandbox.Result{ExitCode: -1, Stop: sandbox.StopTimeout, Reason: sandbox.ReasonTimeout}, job.OutcomeTimeout},
		{sandbox.Result{ExitCode: -1, Stop: sandbox.StopCancelled, Reason: sandbox.ReasonCancelled}, job.OutcomeCancelled},
		{sandbox.Result{ExitCode: 2, Stop: sandbox.StopMemory, Reason: "memory limit of 64 MiB exceeded"}, job.OutcomeMemoryLimit},
		{sandbox.Result{ExitCode: -1, Stop: sandbox.StopTrap, Reason: "trap: unreachable"}, job.OutcomeTrap},
		// A limit that stopped the run wins over outputs refused before it.
		{sandbox.Result{ExitCode: -1, Stop: sandbox.StopTimeout, Reason: sandbox.ReasonTimeout, OutputsLimitHit: true}, job.OutcomeTimeout},
	} {
		got := result(tt.in)
		if got.Outcome != tt.want || got.ExitCode != tt.in.ExitCode || got.Message != tt.in.Reason || got.OutputsLimitHit != tt.in.OutputsLimitHit {
			t.Errorf("result(%+v) = %+v, want outcome %q", tt.in, got, tt.want)
		}
	}
}

type fileContent struct {
	c    cid.Cid
	path string
}

func (f fileContent) ReadFile(_ context.Context, c cid.Cid) ([]byte, error) {
	if c != f.c {
		return nil, errors.New("not found")
	}
	return os.ReadFile(f.path)
}

// TestExecute runs the hello example through the executor contract.
func TestExecute(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a Go guest")
	}
	dir := t.TempDir()
	wasmPath, mod := buildHello(t, dir)
	x, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(context.Background())
	outputs := filepath.Join(dir, "outputs")
	if err := os.Mkdir(outputs, 0o700); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	task := executor.Task{
		JobID: "j-1", ExecutionID: "e-1",
		Spec:       job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: blockstore.JobCID(mod)}, Memory: job.DefaultMemory},
		Content:    fileContent{mod, wasmPath},
		OutputsDir: outputs, OutputsLimit: 1 << 20,
		Stdout: &stdout, Stderr: &stderr,
	}
	res, err := x.Execute(context.Background(), task)
	if err != nil || res.Outcome != job.OutcomeExited || res.ExitCode != 0 || stdout.String() != "Hello, world!\n" {
		t.Fatalf("Execute() = %+v, %v; stdout %q stderr %q", res, err, stdout.String(), stderr.String())
	}
	if res.Prepare <= 0 || res.Run <= 0 {
		t.Errorf("timings: prepare %s, run %s", res.Prepare, res.Run)
	}

	// A task of another engine is refused, not run.
	task.Spec = job.Spec{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: "ubuntu"}}
	if _, err := x.Execute(context.Background(), task); !errors.Is(err, job.ErrInvalid) {
		t.Errorf("docker task: %v, want job.ErrInvalid", err)
	}
	// A module nobody has: an error (it could not start) naming the module.
	other, _ := cid.Decode("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")
	task.Spec = job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: blockstore.JobCID(other)}}
	if _, err := x.Execute(context.Background(), task); err == nil || !bytes.Contains([]byte(err.Error()), []byte(other.String())) {
		t.Errorf("missing module: %v, want an error naming %s", err, other)
	}
}

// buildHello builds the hello example into dir; its CID is only a key here.
func buildHello(t *testing.T, dir string) (string, cid.Cid) {
	t.Helper()
	wasmPath := filepath.Join(dir, "hello.wasm")
	cmd := exec.Command("go", "build", "-o", wasmPath, "../../../examples/hello")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building hello: %v\n%s", err, out)
	}
	mod, err := cid.Decode("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
	if err != nil {
		t.Fatal(err)
	}
	return wasmPath, mod
}

// TestPrepare: Prepare compiles a task's module ahead of its run, which the job's
// history shows, and Ready then says there is nothing to prepare; past the compile
// timeout Prepare fails naming the module and the bound, and nothing is compiled.
func TestPrepare(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles a Go guest")
	}
	wasmPath, mod := buildHello(t, t.TempDir())
	spec := job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: blockstore.JobCID(mod)}, Memory: job.DefaultMemory}
	for _, tt := range []struct {
		limit   time.Duration
		wantErr string
	}{
		{0, ""},
		{time.Millisecond, "compiling module " + mod.String() + " for wazero took longer than this node's compile timeout of 1ms (serve --compile-timeout)"},
	} {
		x, err := New(context.Background(), Options{CompileTimeout: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close(context.Background())
		if x.Ready(spec) {
			t.Errorf("limit %s: Ready before Prepare", tt.limit)
		}
		var notes []string
		err = x.Prepare(context.Background(), executor.Preparation{Spec: spec, Content: fileContent{mod, wasmPath},
			Note: func(msg string) { notes = append(notes, msg) }})
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr || x.Ready(spec) {
				t.Errorf("limit %s: Prepare() = %v, Ready %v; want %q", tt.limit, err, x.Ready(spec), tt.wantErr)
			}
			continue
		}
		if err != nil || !x.Ready(spec) {
			t.Fatalf("Prepare() = %v, Ready %v", err, x.Ready(spec))
		}
		if len(notes) != 2 || notes[0] != "compiling module "+mod.String()+" for wazero" || !strings.HasPrefix(notes[1], "compiled module "+mod.String()+" for wazero in ") {
			t.Errorf("notes %q", notes)
		}
	}
}

// TestDefaultsAgree: a spec's defaults are the job package's; where the sandbox and
// WASI have defaults of their own for their direct users, they must say the same.
func TestDefaultsAgree(t *testing.T) {
	if job.DefaultEntryPoint != sandbox.DefaultEntryPoint {
		t.Errorf("entry point: job %q, sandbox %q", job.DefaultEntryPoint, sandbox.DefaultEntryPoint)
	}
	if job.DefaultOutputsPath != wasi.OutputsTarget {
		t.Errorf("outputs: job %q, wasi %q", job.DefaultOutputsPath, wasi.OutputsTarget)
	}
	if job.DefaultOutputsLimit != wasi.DefaultOutputsLimit {
		t.Errorf("outputs limit: job %d, wasi %d", job.DefaultOutputsLimit, wasi.DefaultOutputsLimit)
	}
}
