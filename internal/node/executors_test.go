package node

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
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

// echoExecutor is an engine of the tests: it writes its task's image name to stdout and
// to outputs/image, and exits with the code its first arg names.
type echoExecutor struct{ closed bool }

func (x *echoExecutor) Execute(ctx context.Context, t executor.Task) (executor.Result, error) {
	if t.Spec.Docker == nil {
		return executor.Result{}, fmt.Errorf("%w: not a docker task", job.ErrInvalid)
	}
	fmt.Fprintf(t.Stdout, "%s\n", t.Spec.Docker.Image)
	if err := os.WriteFile(filepath.Join(t.OutputsDir, "image"), []byte(t.Spec.Docker.Image), 0o600); err != nil {
		return executor.Result{}, err
	}
	code := 0
	if len(t.Spec.Docker.Args) > 0 {
		code, _ = strconv.Atoi(t.Spec.Docker.Args[0])
	}
	return executor.Result{Outcome: job.OutcomeExited, ExitCode: code}, nil
}

func (x *echoExecutor) Close(context.Context) error { x.closed = true; return nil }

// TestAnotherEngine: an engine the node has never heard of runs through the executor
// seam alone: it is listed, its jobs run, fail by exit code and get results and
// receipts, and the node closes it. A job for an engine no node runs waits, saying so.
func TestAnotherEngine(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Repo: t.TempDir(), Concurrency: 1}
	n, err := Open(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "no executors") {
		t.Fatalf("Open with no executors: %v", err)
	}
	echo := &echoExecutor{}
	cfg.Executors = map[job.Engine]executor.Executor{job.EngineDocker: echo}
	if n, err = Open(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := n.Info().Engines; !slices.Equal(got, []job.Engine{job.EngineDocker}) {
		t.Errorf("engines %v, want [docker]", got)
	}
	// A job for an engine no node offers waits, saying so, until its queue timeout.
	wj, err := n.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")},
		QueueTimeout: job.Duration(time.Second)})
	if err != nil {
		t.Fatalf("a wasm job on a docker-only node: %v", err)
	}
	if wj, err = n.Wait(ctx, wj.ID); err != nil || wj.State != job.StateFailed || !strings.Contains(wj.Reason, "no node offers engine wasm") {
		t.Errorf("a wasm job on a docker-only node: %v, %s (%s), want failed at its queue timeout naming the engine", err, wj.State, wj.Reason)
	}
	for _, tt := range []struct {
		args  []string
		state job.State
	}{{nil, job.StateCompleted}, {[]string{"3"}, job.StateFailed}} {
		j, err := n.Submit(ctx, job.Spec{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: "ubuntu", Args: tt.args}})
		if err != nil {
			t.Fatal(err)
		}
		if j, err = n.Wait(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		e := j.Reported()
		if j.State != tt.state || e == nil || e.Outcome != job.OutcomeExited || e.Stdout != "ubuntu\n" || !e.ResultCID.Defined() || e.Receipt == nil {
			t.Fatalf("args %v: job %s (%s), execution %+v", tt.args, j.State, j.Reason, e)
		}
		if e.Receipt.SpecDigest != job.TaskDigest(j.Spec) {
			t.Errorf("receipt digest %s, want the docker task's %s", e.Receipt.SpecDigest, job.TaskDigest(j.Spec))
		}
		rc, err := blockstore.Key(e.ResultCID)
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := blockstore.NewFS(ctx, n.Blocks().Blocks(), rc)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := fs.ReadFile(fsys, "outputs/image"); err != nil || string(b) != "ubuntu" {
			t.Errorf("result outputs/image: %q, %v", b, err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if !echo.closed {
		t.Error("the node did not close its executor")
	}
}

// countingExecutor counts its Close calls.
type countingExecutor struct {
	echoExecutor
	closes int
}

func (x *countingExecutor) Close(context.Context) error { x.closes++; return nil }

// TestOpenFailureClosesExecutorsOnce: a node that fails to open closes the executors
// it was given, once.
func TestOpenFailureClosesExecutorsOnce(t *testing.T) {
	x := &countingExecutor{}
	repo := t.TempDir()
	// A network that cannot listen makes Open fail after the node took the executors.
	_, err := Open(context.Background(), Config{Repo: repo, Concurrency: 1,
		Executors: map[job.Engine]executor.Executor{job.EngineDocker: x},
		Network:   &NetConfig{Listen: []string{"/ip4/127.0.0.1/tcp/not-a-port"}}})
	if err == nil {
		t.Fatal("Open with an address it cannot listen on succeeded")
	}
	if x.closes != 1 {
		t.Errorf("executor closed %d times, want 1", x.closes)
	}
	// And one that fails before it has a store.
	y := &countingExecutor{}
	if _, err := Open(context.Background(), Config{Executors: map[job.Engine]executor.Executor{job.EngineDocker: y}}); err == nil {
		t.Fatal("Open with no repo succeeded")
	}
	if y.closes != 1 {
		t.Errorf("executor closed %d times without a repo, want 1", y.closes)
	}
}
