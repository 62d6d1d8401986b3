package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Unit tests of the compute side with its node faked at the Host boundary: a real
// blockstore in a temporary directory, an engine of the tests (scriptExecutor), and a
// host that records what the compute side reports.

// fakeHost records the reports and notes of the compute side and signs nothing. With
// ex set it is on a network: fetches go through that bitswap exchange.
type fakeHost struct {
	blocks  *blockstore.Store
	ex      *blockstore.Exchange
	mu      sync.Mutex
	reports []job.Execution
	notes   []string
	giveUp  bool // Report answers that the requester has given the execution up
	ended   chan job.Execution
}

var _ Host = (*fakeHost)(nil)

func (h *fakeHost) Report(a *Assignment, e job.Execution) bool {
	h.mu.Lock()
	h.reports = append(h.reports, e)
	giveUp := h.giveUp
	h.mu.Unlock()
	if e.State.Terminal() {
		h.ended <- e
	}
	return !giveUp
}

func (h *fakeHost) Note(a *Assignment, phase, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notes = append(h.notes, phase+": "+msg)
}

func (h *fakeHost) Getter() blockstore.BlockGetter {
	if h.ex != nil {
		return h.ex.Getter()
	}
	return h.blocks.Blocks()
}

// ReadFile reads the file at c through Getter, as the node does.
func (h *fakeHost) ReadFile(ctx context.Context, c cid.Cid) ([]byte, error) {
	fsys, err := blockstore.NewFS(ctx, h.Getter(), c)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(fsys, c.String())
}
func (h *fakeHost) Exchange() *blockstore.Exchange          { return h.ex }
func (h *fakeHost) Sources(context.Context, cid.Cid) string { return "from the test's peers" }
func (h *fakeHost) Provide(cid.Cid)                         {}
func (h *fakeHost) Sign(r *job.Receipt) error               { r.Node = "test"; return nil }
func (h *fakeHost) states() (out []job.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.reports {
		out = append(out, e.State)
	}
	return out
}

// scriptExecutor runs docker tasks by their args: "exit N" exits with N after writing
// the image name to stdout and outputs/image, "fail" cannot start, "block" waits for
// its context, "flood" writes twice summaryBytes to stdout.
type scriptExecutor struct{}

func (scriptExecutor) Execute(ctx context.Context, t executor.Task) (executor.Result, error) {
	args := t.Spec.Docker.Args
	switch args[0] {
	case "fail":
		return executor.Result{}, errors.New("no such image")
	case "block":
		<-ctx.Done()
		return executor.Result{Outcome: job.OutcomeCancelled, ExitCode: -1}, nil
	case "flood": // more stdout than a job record keeps
		t.Stdout.Write(bytes.Repeat([]byte("x"), 2*summaryBytes))
		return executor.Result{Outcome: job.OutcomeExited}, nil
	}
	fmt.Fprintf(t.Stdout, "%s\n", t.Spec.Docker.Image)
	fmt.Fprintf(t.Stderr, "inputs %d\n", len(t.Inputs))
	if err := os.WriteFile(filepath.Join(t.OutputsDir, "image"), []byte(t.Spec.Docker.Image), 0o600); err != nil {
		return executor.Result{}, err
	}
	code, _ := strconv.Atoi(args[1])
	return executor.Result{Outcome: job.OutcomeExited, ExitCode: code}, nil
}

func (scriptExecutor) Close(context.Context) error { return nil }

func newCompute(t *testing.T) (*Compute, *fakeHost) {
	t.Helper()
	return newComputeWith(t, nil, nil)
}

// newComputeWith is newCompute with the host's store bs (nil: a new one), and with
// the config changed by edit (nil: as newCompute's).
func newComputeWith(t *testing.T, bs *blockstore.Store, edit func(*Config, *fakeHost)) (*Compute, *fakeHost) {
	t.Helper()
	dir := t.TempDir()
	if bs == nil {
		var err error
		if bs, err = blockstore.Open(filepath.Join(dir, "blocks"), blockstore.Options{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bs.Close() })
	}
	h := &fakeHost{blocks: bs, ended: make(chan job.Execution, 16)}
	cfg := Config{Dir: filepath.Join(dir, "executions"), NodeID: "node-x", Concurrency: 2, Fetchers: 2, FetchTimeout: time.Second,
		Memory: 1 << 30, MaxOutputsLimit: 1 << 30, ResultRetention: time.Hour, FailedRetention: time.Hour,
		Labels: map[string]string{"zone": "a"}, Executors: map[job.Engine]executor.Executor{job.EngineDocker: scriptExecutor{}},
		Now: func() time.Time { return time.Now().UTC() }, Logger: slog.New(slog.DiscardHandler)}
	if edit != nil {
		edit(&cfg, h)
	}
	c := New(cfg, h, bs)
	t.Cleanup(c.Close) // before the store closes (cleanups run last first)
	return c, h
}

func dockerSpec(args ...string) job.Spec {
	s := job.Spec{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: "alpine:3", Args: args}, Memory: 64 << 20}
	s.Normalize()
	return s
}

func ended(t *testing.T, h *fakeHost) job.Execution {
	t.Helper()
	select {
	case e := <-h.ended:
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no end reported")
		return job.Execution{}
	}
}

// TestRunToResult: an execution runs on its engine's executor, its result (outputs,
// stdout, stderr, exitCode) is imported into the store and reported with a signed
// receipt; a non-zero exit fails it with its result kept; an executor that cannot
// start fails it as not started; a module the node lacks, off a network, fails it.
func TestRunToResult(t *testing.T) {
	c, h := newCompute(t)
	if err := c.Enqueue("j-1", "e-1-1", dockerSpec("exit", "0"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	e := ended(t, h)
	if e.State != job.StateCompleted || e.Outcome != job.OutcomeExited || !e.ResultCID.Defined() || e.Receipt == nil || e.Receipt.Node != "test" {
		t.Fatalf("completed: %+v", e)
	}
	if e.Stdout != "alpine:3\n" || e.Stderr != "inputs 0\n" || e.ExitCode == nil || *e.ExitCode != 0 {
		t.Fatalf("summaries %q %q, code %v", e.Stdout, e.Stderr, e.ExitCode)
	}
	rc, err := blockstore.Key(e.ResultCID)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := blockstore.NewFS(context.Background(), h.blocks.Blocks(), rc)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"outputs/image": "alpine:3", "stdout": "alpine:3\n", "exitCode": "0"} {
		f, err := fsys.Open(name)
		if err != nil {
			t.Fatalf("result %s: %v", name, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(b, []byte(want)) {
			t.Fatalf("result %s = %q, want %q", name, b, want)
		}
	}
	if got := h.states(); len(got) != 2 || got[0] != job.StateRunning {
		t.Fatalf("reports %v", got)
	}

	if err := c.Enqueue("j-2", "e-2-1", dockerSpec("exit", "3"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	if e := ended(t, h); e.State != job.StateFailed || e.Error != "exit code 3" || !e.ResultCID.Defined() {
		t.Fatalf("exit 3: %+v", e)
	}
	if err := c.Enqueue("j-3", "e-3-1", dockerSpec("fail"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	if e := ended(t, h); e.State != job.StateFailed || e.Outcome != job.OutcomeNotStarted || e.Error != "no such image" {
		t.Fatalf("not started: %+v", e)
	}
	if err := c.Enqueue("j-4", "e-4-1", job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkqaaa")}}, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	if e := ended(t, h); e.State != job.StateFailed || e.Error != "module bafkqaaa is not on this node, which is not on a network" {
		t.Fatalf("a module the node lacks, off a network: %+v", e)
	}
}

// TestCancelRunning: cancelling an execution that runs stops its guest and reports it
// cancelled; a duplicate accept is taken once; one for another job is refused.
func TestCancelRunning(t *testing.T) {
	c, h := newCompute(t)
	spec := dockerSpec("block")
	if err := c.Enqueue("j-1", "e-1-1", spec, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue("j-1", "e-1-1", spec, peer.ID("req")); err != nil {
		t.Fatalf("a retried accept: %v", err)
	}
	if err := c.Enqueue("j-2", "e-1-1", spec, peer.ID("req")); err == nil {
		t.Fatal("an execution ID taken by another job was accepted")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.Running("j-1"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := c.Stats(); st.Running != 1 || c.Assignments() != 1 {
		t.Fatalf("stats %+v, %d assignments", st, c.Assignments())
	}
	a, ok := c.Assignment("e-1-1")
	if !ok {
		t.Fatal("no assignment")
	}
	a.Cancel()
	if e := ended(t, h); e.State != job.StateCancelled || e.Error != ReasonCancelled {
		t.Fatalf("cancelled: %+v", e)
	}
}

// TestGivenUpStops: a requester that answers the running report with "given up" gets
// no result.
func TestGivenUpStops(t *testing.T) {
	c, h := newCompute(t)
	h.giveUp = true
	if err := c.Enqueue("j-1", "e-1-1", dockerSpec("block"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Assignments() > 0 || len(h.states()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still held: %d, reports %v", c.Assignments(), h.states())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := h.states(); len(got) != 1 || got[0] != job.StateRunning {
		t.Fatalf("reports %v, want only running", got)
	}
}

// TestMissingContent: an input nobody has, on a node off any network, fails the
// execution naming its CID, before a worker is taken.
func TestMissingContent(t *testing.T) {
	c, h := newCompute(t)
	missing := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	spec := dockerSpec("exit", "0")
	spec.Inputs = []job.Input{{CID: cidtext.MustParse(missing), Target: "/inputs"}}
	if err := c.Enqueue("j-1", "e-1-1", spec, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	e := ended(t, h)
	if e.State != job.StateFailed || !strings.Contains(e.Error, "input "+missing+" is not on this node") {
		t.Fatalf("missing input: %+v", e)
	}
	if b := c.Bid("j-1", spec); b.HasInputs {
		t.Fatal("bids as holding inputs it lacks")
	}
}

// TestRefusalAndOffer: what the node refuses, and what it offers in bids and
// heartbeats.
func TestRefusalAndOffer(t *testing.T) {
	c, _ := newCompute(t)
	ok := dockerSpec("exit", "0")
	for _, tc := range []struct {
		spec job.Spec
		want string
	}{
		{ok, ""},
		{job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkqaaa")}}, "this node runs no wasm jobs"},
		{func() job.Spec { s := ok; s.Selector = map[string]string{"zone": "b"}; return s }(), "this node does not have the labels zone=b"},
		{func() job.Spec { s := ok; s.Memory = 2 << 30; return s }(), "needs 2 GiB of memory; this node offers 1 GiB"},
		{func() job.Spec { s := ok; s.OutputsLimit = 2 << 30; return s }(), "asks for up to 2 GiB of outputs; this node allows 1 GiB"},
	} {
		if got := c.Refusal(tc.spec); got != tc.want {
			t.Errorf("Refusal = %q, want %q", got, tc.want)
		}
	}
	if b := c.Bid("j-9", ok); b.JobID != "j-9" || b.FreeSlots != 2 || !b.HasInputs || b.MemoryFree != 1<<30 {
		t.Fatalf("bid %+v", b)
	}
	if cp := c.Capacity(); cp.Slots != 2 || cp.Memory != 1<<30 {
		t.Fatalf("capacity %+v", cp)
	}
	if e := c.Engines(); len(e) != 1 || e[0] != job.EngineDocker || !c.Runs(job.EngineDocker) || c.Runs(job.EngineWasm) {
		t.Fatalf("engines %v", e)
	}
}

// preparingExecutor is scriptExecutor with a step before the run, as the WASM
// executors compile a module: Prepare notes what it does and records how many
// reports the host had then, and fails for a task whose args are "fail-prepare";
// Ready says that the image "ready" needs no preparation.
type preparingExecutor struct {
	scriptExecutor
	host     *fakeHost
	mu       sync.Mutex
	prepared []int // per Prepare, the reports the host had when it was called
}

func (x *preparingExecutor) Prepare(ctx context.Context, p executor.Preparation) error {
	x.mu.Lock()
	x.prepared = append(x.prepared, len(x.host.states()))
	x.mu.Unlock()
	p.Note("compiling " + p.Spec.Docker.Image)
	if p.Spec.Docker.Args[0] == "fail-prepare" {
		return errors.New("compiling took longer than the compile timeout")
	}
	return nil
}

func (x *preparingExecutor) Ready(spec job.Spec) bool { return spec.Docker.Image == "ready" }

// TestPrepareBeforeRunning: an executor's preparation (a module's compilation) is a
// step before the execution is reported running, which is when the requester starts
// counting its timeout; it shows in the history; a failed one fails the execution as
// not started; a spec its executor says is ready skips it.
func TestPrepareBeforeRunning(t *testing.T) {
	x := &preparingExecutor{}
	c, h := newComputeWith(t, nil, func(cfg *Config, _ *fakeHost) { cfg.Executors = map[job.Engine]executor.Executor{job.EngineDocker: x} })
	x.host = h
	if err := c.Enqueue("j-1", "e-1-1", dockerSpec("exit", "0"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	if e := ended(t, h); e.State != job.StateCompleted {
		t.Fatalf("prepared run: %+v", e)
	}
	x.mu.Lock()
	prepared := slices.Clone(x.prepared)
	x.mu.Unlock()
	if len(prepared) != 1 || prepared[0] != 0 {
		t.Fatalf("Prepare calls, with the reports made before each: %v; want one, before the running report", prepared)
	}
	h.mu.Lock()
	notes := slices.Clone(h.notes)
	h.mu.Unlock()
	if !slices.Contains(notes, job.PhasePreparing+": compiling alpine:3") {
		t.Errorf("notes %q, want the preparation", notes)
	}

	if err := c.Enqueue("j-2", "e-2-1", dockerSpec("fail-prepare"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	if e := ended(t, h); e.State != job.StateFailed || e.Outcome != job.OutcomeNotStarted || e.Error != "compiling took longer than the compile timeout" {
		t.Fatalf("failed preparation: %+v", e)
	}

	ready := dockerSpec("exit", "0")
	ready.Docker.Image = "ready"
	if err := c.Enqueue("j-3", "e-3-1", ready, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	if e := ended(t, h); e.State != job.StateCompleted {
		t.Fatalf("ready run: %+v", e)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.prepared) != 2 {
		t.Errorf("Prepare called %d times, want 2 (not for the ready spec)", len(x.prepared))
	}
}
