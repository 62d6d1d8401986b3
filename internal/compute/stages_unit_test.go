package compute

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Unit tests of the stages an execution goes through on the compute side before and
// around its run: the fetch stage (over a real bitswap exchange between two stores on
// loopback), an executor's Prepare, the memory reservation, cancellation at each
// stage, the node stopping, and what is kept of a result. The node is faked at the
// Host boundary (fakeHost); the engines are the tests'.

// netStore is a blockstore with bitswap on a libp2p host on loopback.
type netStore struct {
	s  *blockstore.Store
	h  host.Host
	ex *blockstore.Exchange
}

func newNetStore(t *testing.T) *netStore {
	t.Helper()
	s, err := blockstore.Open(t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	ex, err := s.StartBitswap(context.Background(), h, nil)
	if err != nil {
		h.Close()
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ex.Close()
		h.Close()
		s.Close()
	})
	return &netStore{s: s, h: h, ex: ex}
}

func (a *netStore) connect(t *testing.T, b *netStore) {
	t.Helper()
	if err := a.h.Connect(context.Background(), peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// netCompute is a compute side whose host is on a network through ns.
func netCompute(t *testing.T, ns *netStore, edit func(*Config)) (*Compute, *fakeHost) {
	t.Helper()
	return newComputeWith(t, ns.s, func(cfg *Config, h *fakeHost) {
		h.ex = ns.ex
		cfg.Executors = map[job.Engine]executor.Executor{job.EngineWasm: probeExecutor{}}
		if edit != nil {
			edit(cfg)
		}
	})
}

func addBytes(t *testing.T, s *blockstore.Store, b []byte) cid.Cid {
	t.Helper()
	e, err := s.AddFile(context.Background(), bytes.NewReader(b), blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	return e.CID
}

// addTree adds a directory holding files (slash-separated path -> content).
func addTree(t *testing.T, s *blockstore.Store, files map[string]string) cid.Cid {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e, err := s.AddPath(context.Background(), dir, blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	return e.CID
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// missingCID is the CID of random bytes: no store has it.
func missingCID(t *testing.T) cid.Cid {
	t.Helper()
	h, err := mh.Sum(randomBytes(64), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

func wasmSpec(module cid.Cid, inputs ...job.Input) job.Spec {
	s := job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: blockstore.JobCID(module)}, Inputs: inputs, Memory: 64 << 20}
	s.Normalize()
	return s
}

// probeExecutor runs WASM tasks without running anything: it reads the module
// through Task.Content and every file of every input mount, and writes what it read
// to stdout ("module N bytes", then "target/path=content" lines).
type probeExecutor struct{}

func (probeExecutor) Execute(ctx context.Context, t executor.Task) (executor.Result, error) {
	m, err := blockstore.Key(t.Spec.Wasm.Module)
	if err != nil {
		return executor.Result{}, err
	}
	b, err := t.Content.ReadFile(ctx, m)
	if err != nil {
		return executor.Result{}, fmt.Errorf("loading the module: %w", err)
	}
	fmt.Fprintf(t.Stdout, "module %d bytes\n", len(b))
	for _, in := range t.Inputs {
		err := fs.WalkDir(in.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(in.FS, p)
			fmt.Fprintf(t.Stdout, "%s/%s=%s\n", in.Target, p, data)
			return err
		})
		if err != nil {
			return executor.Result{}, err
		}
	}
	return executor.Result{Outcome: job.OutcomeExited}, nil
}

func (probeExecutor) Close(context.Context) error { return nil }

// reportsOf returns what the compute side reported of one execution, in order.
func (h *fakeHost) reportsOf(execID string) []job.Execution {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []job.Execution
	for _, e := range h.reports {
		if e.ID == execID {
			out = append(out, e)
		}
	}
	return out
}

// endOf waits for the report that ends execID and returns it.
func endOf(t *testing.T, h *fakeHost, execID string) job.Execution {
	t.Helper()
	var end job.Execution
	waitUntil(t, "execution "+execID+" ends", func() bool {
		for _, e := range h.reportsOf(execID) {
			if e.State.Terminal() {
				end = e
				return true
			}
		}
		return false
	})
	return end
}

func (h *fakeHost) noted() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.notes)
}

// hasNote reports whether a note starts with prefix.
func (h *fakeHost) hasNote(prefix string) bool {
	return slices.ContainsFunc(h.noted(), func(n string) bool { return strings.HasPrefix(n, prefix) })
}

func running(t *testing.T, c *Compute, jobID string) *LogSink {
	t.Helper()
	var sink *LogSink
	waitUntil(t, jobID+" runs", func() bool {
		s, ok := c.Running(jobID)
		sink = s
		return ok
	})
	return sink
}

func assignment(t *testing.T, c *Compute, execID string) *Assignment {
	t.Helper()
	a, ok := c.Assignment(execID)
	if !ok {
		t.Fatalf("the node does not hold %s", execID)
	}
	return a
}

// TestFetchFromPeer: an execution whose module is not whole here (its root alone was
// fetched, as a `data` existence check does) and whose input is not here goes through
// the fetch stage: the module is fetched whole and the input's root and path, each
// step is noted for the job's history, and the execution then runs with both. After
// it, the same spec needs no fetch. An input path that is not in its DAG fails the
// execution naming it, before it runs.
func TestFetchFromPeer(t *testing.T) {
	ctx := context.Background()
	src, dst := newNetStore(t), newNetStore(t)
	dst.connect(t, src)
	module := randomBytes(300 << 10) // two leaves and a root
	mod := addBytes(t, src.s, module)
	in := addTree(t, src.s, map[string]string{"sub/data.txt": "hello", "other.txt": "not mounted"})
	root, err := src.s.Blocks().GetBlock(ctx, mod)
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.s.Put(ctx, root); err != nil {
		t.Fatal(err)
	}
	c, h := netCompute(t, dst, func(cfg *Config) { cfg.FetchTimeout = 20 * time.Second })

	spec := wasmSpec(mod, job.Input{CID: blockstore.JobCID(in), Path: "sub/data.txt", Target: "/data"})
	moduleOnly := wasmSpec(mod)
	if !c.needsFetch(moduleOnly) {
		t.Fatal("a module whose root alone is here needs no fetch")
	}
	if !c.needsFetch(spec) || c.holds(spec) {
		t.Fatal("a spec whose input is not here needs no fetch")
	}
	if b := c.Bid("j-1", spec); b.HasInputs {
		t.Fatalf("bids as holding what it lacks: %+v", b)
	}
	if err := c.Enqueue("j-1", "e-1-1", spec, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	e := endOf(t, h, "e-1-1")
	if e.State != job.StateCompleted || e.Outcome != job.OutcomeExited {
		t.Fatalf("ended %s (%s): %s", e.State, e.Outcome, e.Error)
	}
	if want := fmt.Sprintf("module %d bytes\n/data/data.txt=hello\n", len(module)); e.Stdout != want {
		t.Fatalf("the run saw %q, want %q", e.Stdout, want)
	}
	for _, want := range []string{
		"fetching: fetching module " + mod.String() + " from the test's peers",
		"fetching: fetched module " + mod.String() + " (" + job.FormatBytes(uint64(len(module))) + ") in ",
		"fetching: fetching input " + in.String() + "/sub/data.txt from the test's peers",
	} {
		if !h.hasNote(want) {
			t.Errorf("no note starting %q in %q", want, h.noted())
		}
	}
	if got := h.reportsOf("e-1-1"); len(got) != 2 || got[0].State != job.StateRunning {
		t.Fatalf("reports %+v, want running then the end", got)
	}
	if c.needsFetch(spec) || !c.holds(spec) || !c.Bid("j-2", spec).HasInputs {
		t.Fatal("what was fetched is still to be fetched")
	}
	if st := c.Stats(); st.Fetching != 0 || st.Running != 0 {
		t.Fatalf("stats after the end: %+v", st)
	}

	other := addTree(t, src.s, map[string]string{"x.txt": "x"}) // not here: fetched
	bad := wasmSpec(mod, job.Input{CID: blockstore.JobCID(other), Path: "sub/nope", Target: "/data"})
	if err := c.Enqueue("j-2", "e-2-1", bad, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	e = endOf(t, h, "e-2-1")
	if want := "input " + other.String() + "/sub/nope: no such file or directory in the DAG"; e.State != job.StateFailed || e.Error != want || e.Outcome != job.OutcomeNotStarted {
		t.Fatalf("a path not in the DAG: %s (%s) %q, want failed (not-started) %q", e.State, e.Outcome, e.Error, want)
	}
	if got := h.reportsOf("e-2-1"); len(got) != 1 {
		t.Fatalf("a failed fetch reported %+v: it must not have run", got)
	}
}

// TestFetchNotFound: content no peer has fails its execution when the fetch limit
// passes, naming the CID and the limit: the node's fetch timeout, or the job's own
// timeout when that is shorter. It never takes a worker.
func TestFetchNotFound(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		fetchLimit, jobLimit time.Duration
		wantLimit            string
	}{
		{"fetch timeout", 300 * time.Millisecond, 0, "300ms"},
		{"job timeout", 20 * time.Second, 400 * time.Millisecond, "400ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := newNetStore(t), newNetStore(t)
			dst.connect(t, src)
			c, h := netCompute(t, dst, func(cfg *Config) { cfg.FetchTimeout = tc.fetchLimit })
			missing := missingCID(t)
			spec := wasmSpec(missing)
			spec.Timeout = job.Duration(tc.jobLimit)
			if err := c.Enqueue("j-1", "e-1-1", spec, peer.ID("req")); err != nil {
				t.Fatal(err)
			}
			e := endOf(t, h, "e-1-1")
			want := "module " + missing.String() + " not found on the network within " + tc.wantLimit
			if e.State != job.StateFailed || e.Error != want || e.Outcome != job.OutcomeNotStarted {
				t.Fatalf("%s (%s) %q, want failed (not-started) %q", e.State, e.Outcome, e.Error, want)
			}
			if !h.hasNote("fetching: fetching module " + missing.String()) {
				t.Fatalf("notes %q", h.noted())
			}
			if got := h.reportsOf("e-1-1"); len(got) != 1 {
				t.Fatalf("reports %+v: it must not have run", got)
			}
			waitUntil(t, "the node lets the execution go", func() bool { return c.Assignments() == 0 })
		})
	}
}

// TestFetchQueueAndCancel: executions wait for a free fetcher, and say so; one
// cancelled while it is fetched, or while it waits for a fetcher, ends cancelled
// without running.
func TestFetchQueueAndCancel(t *testing.T) {
	ns := newNetStore(t)
	c, h := netCompute(t, ns, func(cfg *Config) { cfg.Fetchers, cfg.FetchTimeout = 1, time.Minute })
	if err := c.Enqueue("j-1", "e-1-1", wasmSpec(missingCID(t)), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first execution is fetched", func() bool { return c.Stats().Fetching == 1 })
	for _, id := range []string{"2", "3"} {
		if err := c.Enqueue("j-"+id, "e-"+id+"-1", wasmSpec(missingCID(t)), peer.ID("req")); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the third execution says it waits for a fetcher", func() bool {
		return h.hasNote("queued: waiting for a fetcher: 1 execution(s) ahead, 1 fetching")
	})
	t0 := time.Now()
	for _, id := range []string{"e-1-1", "e-2-1", "e-3-1"} { // fetched, then waiting
		assignment(t, c, id).Cancel()
	}
	for _, id := range []string{"e-1-1", "e-2-1", "e-3-1"} {
		if e := endOf(t, h, id); e.State != job.StateCancelled || e.Error != ReasonCancelled {
			t.Fatalf("%s cancelled: %+v", id, e)
		}
		if got := h.reportsOf(id); len(got) != 1 {
			t.Fatalf("%s: reports %+v, want the cancellation alone", id, got)
		}
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Fatalf("cancelling took %s: the fetch went on to its limit", d)
	}
	waitUntil(t, "the node lets them go", func() bool { return c.Assignments() == 0 && c.Stats().Fetching == 0 })
}

// TestLocalInputs: off a network, content in the store needs no fetch stage: an input
// path to a file is mounted as a directory holding that file, a path to a directory
// as that directory, and a path not in the DAG fails the execution as not started.
func TestLocalInputs(t *testing.T) {
	c, h := newComputeWith(t, nil, func(cfg *Config, _ *fakeHost) {
		cfg.Executors = map[job.Engine]executor.Executor{job.EngineWasm: probeExecutor{}}
	})
	mod := addBytes(t, h.blocks, []byte("\x00asm module"))
	in := addTree(t, h.blocks, map[string]string{"sub/a.txt": "A", "sub/deeper/b.txt": "B", "top.txt": "T"})
	spec := wasmSpec(mod,
		job.Input{CID: blockstore.JobCID(in), Path: "sub/a.txt", Target: "/file"},
		job.Input{CID: blockstore.JobCID(in), Path: "sub", Target: "/dir"},
		job.Input{CID: blockstore.JobCID(in), Target: "/all"})
	if c.needsFetch(spec) {
		t.Fatal("content in the store needs a fetch")
	}
	if err := c.Enqueue("j-1", "e-1-1", spec, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	e := endOf(t, h, "e-1-1")
	want := "module 11 bytes\n/file/a.txt=A\n/dir/a.txt=A\n/dir/deeper/b.txt=B\n/all/sub/a.txt=A\n/all/sub/deeper/b.txt=B\n/all/top.txt=T\n"
	if e.State != job.StateCompleted || e.Stdout != want {
		t.Fatalf("%s %q: saw %q, want %q", e.State, e.Error, e.Stdout, want)
	}
	if len(h.noted()) != 0 {
		t.Fatalf("notes %q for an execution that needed nothing", h.noted())
	}

	bad := wasmSpec(mod, job.Input{CID: blockstore.JobCID(in), Path: "sub/nope", Target: "/file"})
	if err := c.Enqueue("j-2", "e-2-1", bad, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	e = endOf(t, h, "e-2-1")
	if e.State != job.StateFailed || e.Outcome != job.OutcomeNotStarted || !strings.HasPrefix(e.Error, "input "+in.String()+"/sub/nope: ") {
		t.Fatalf("a path not in the DAG: %s (%s) %q", e.State, e.Outcome, e.Error)
	}
}

// pullingExecutor is scriptExecutor with a Prepare step, as the Docker executor's
// image pull: it notes the pull and adds the image's bytes to the store; image
// "denied" cannot be pulled.
type pullingExecutor struct {
	scriptExecutor
	mu    sync.Mutex
	added []cid.Cid
}

func (p *pullingExecutor) Prepare(ctx context.Context, prep executor.Preparation) error {
	image := prep.Spec.Docker.Image
	if image == "denied" {
		return errors.New("pulling " + image + ": access denied")
	}
	prep.Note("pulling image " + image)
	c, err := prep.Store.AddFile(ctx, strings.NewReader("the layers of "+image))
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.added = append(p.added, c)
	p.mu.Unlock()
	return nil
}

// TestPrepare: an executor that prepares (pulls an image) has every execution go
// through the fetch stage, where it prepares with its notes in the job's history and
// what it adds in the store; an execution prepared while the worker is busy says it
// waits for a worker. A failed preparation fails its execution as not started.
func TestPrepare(t *testing.T) {
	px := &pullingExecutor{}
	c, h := newComputeWith(t, nil, func(cfg *Config, _ *fakeHost) {
		cfg.Concurrency = 1
		cfg.Executors = map[job.Engine]executor.Executor{job.EngineDocker: px}
	})
	ok := dockerSpec("exit", "0")
	if !c.needsFetch(ok) {
		t.Fatal("an execution of an executor that prepares skips the fetch stage")
	}
	if err := c.Enqueue("j-1", "e-1-1", dockerSpec("block"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	running(t, c, "j-1")
	if err := c.Enqueue("j-2", "e-2-1", ok, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the second execution waits for the worker", func() bool {
		return h.hasNote("queued: has its module and inputs; waiting for a worker (0 execution(s) ahead)")
	})
	if !h.hasNote("preparing: pulling image alpine:3") {
		t.Fatalf("notes %q", h.noted())
	}
	assignment(t, c, "e-1-1").Cancel()
	if e := endOf(t, h, "e-2-1"); e.State != job.StateCompleted {
		t.Fatalf("after preparing: %s %q", e.State, e.Error)
	}
	px.mu.Lock()
	added := slices.Clone(px.added)
	px.mu.Unlock()
	if len(added) != 2 {
		t.Fatalf("prepared %d times, want 2", len(added))
	}
	if has, err := h.blocks.Has(context.Background(), added[1]); err != nil || !has {
		t.Fatalf("what Prepare added is not in the store: %v, %v", has, err)
	}

	denied := dockerSpec("exit", "0")
	denied.Docker.Image = "denied"
	if err := c.Enqueue("j-3", "e-3-1", denied, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	e := endOf(t, h, "e-3-1")
	if e.State != job.StateFailed || e.Outcome != job.OutcomeNotStarted || e.Error != "pulling denied: access denied" {
		t.Fatalf("a failed preparation: %s (%s) %q", e.State, e.Outcome, e.Error)
	}
	if got := h.reportsOf("e-3-1"); len(got) != 1 {
		t.Fatalf("reports %+v: it must not have run", got)
	}
}

// refusingExecutor refuses the image "gpu", as an executor refuses what its node
// lacks.
type refusingExecutor struct{ scriptExecutor }

func (refusingExecutor) Refusal(spec job.Spec) string {
	if spec.Docker.Image == "gpu" {
		return "this node has no GPU"
	}
	return ""
}

// TestExecutorRefusal: the node refuses what its executor refuses, and otherwise
// what its capacity refuses.
func TestExecutorRefusal(t *testing.T) {
	c, _ := newComputeWith(t, nil, func(cfg *Config, _ *fakeHost) {
		cfg.Executors = map[job.Engine]executor.Executor{job.EngineDocker: refusingExecutor{}}
	})
	gpu := dockerSpec("exit", "0")
	gpu.Docker.Image = "gpu"
	big := dockerSpec("exit", "0")
	big.Memory = 2 << 30
	for spec, want := range map[*job.Spec]string{&gpu: "this node has no GPU", &big: "needs 2 GiB of memory; this node offers 1 GiB"} {
		if got := c.Refusal(*spec); got != want {
			t.Errorf("Refusal(%s) = %q, want %q", spec.Docker.Image, got, want)
		}
	}
	if got := c.Refusal(dockerSpec("exit", "0")); got != "" {
		t.Errorf("refuses what it runs: %q", got)
	}
}

// TestMemoryReservation: an execution runs only once its memory limit is free, first
// come first served, and says what it waits for; the memory of an execution is free
// again once it ends; one cancelled while it waits ends cancelled without running; one
// asking for more than the node offers fails as not started.
func TestMemoryReservation(t *testing.T) {
	c, h := newComputeWith(t, nil, func(cfg *Config, _ *fakeHost) { cfg.Memory = 100 << 20 })
	if err := c.Enqueue("j-1", "e-1-1", dockerSpec("block"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	running(t, c, "j-1")
	if free := c.Stats().MemoryFree; free != 36<<20 {
		t.Fatalf("%s free while 64 MiB of 100 MiB run", job.FormatBytes(free))
	}
	if cp := c.Capacity(); cp.Memory != 100<<20 || cp.MemoryFree != 36<<20 {
		t.Fatalf("capacity %+v", cp)
	}
	if b := c.Bid("j-x", dockerSpec("exit", "0")); b.MemoryFree != 36<<20 || b.FreeSlots != 1 {
		t.Fatalf("bid %+v", b)
	}
	if err := c.Enqueue("j-2", "e-2-1", dockerSpec("exit", "0"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the second execution waits for memory", func() bool { return c.MemPool().Waiting() == 1 })
	if want := "queued: waiting for 64 MiB of memory: 36 MiB of 100 MiB free, 0 execution(s) ahead"; !h.hasNote(want) {
		t.Fatalf("notes %q, want %q", h.noted(), want)
	}
	if _, ok := c.Running("j-2"); ok {
		t.Fatal("runs without its memory")
	}
	assignment(t, c, "e-2-1").Cancel()
	if e := endOf(t, h, "e-2-1"); e.State != job.StateCancelled || e.Error != ReasonCancelled {
		t.Fatalf("cancelled while it waited: %+v", e)
	}
	if got := h.reportsOf("e-2-1"); len(got) != 1 {
		t.Fatalf("reports %+v: it must not have run", got)
	}
	if w := c.MemPool().Waiting(); w != 0 {
		t.Fatalf("%d still waiting for memory", w)
	}

	if err := c.Enqueue("j-3", "e-3-1", dockerSpec("exit", "0"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the third execution waits for memory", func() bool { return c.MemPool().Waiting() == 1 })
	assignment(t, c, "e-1-1").Cancel()
	if e := endOf(t, h, "e-1-1"); e.State != job.StateCancelled {
		t.Fatalf("the first: %+v", e)
	}
	if e := endOf(t, h, "e-3-1"); e.State != job.StateCompleted {
		t.Fatalf("the third, once memory was free: %s %q", e.State, e.Error)
	}
	waitUntil(t, "all memory is free", func() bool { return c.Stats().MemoryFree == 100<<20 })

	big := dockerSpec("exit", "0")
	big.Memory = 128 << 20
	if err := c.Enqueue("j-4", "e-4-1", big, peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	e := endOf(t, h, "e-4-1")
	if want := "needs 128 MiB of memory; this node offers 100 MiB"; e.State != job.StateFailed || e.Outcome != job.OutcomeNotStarted || e.Error != want {
		t.Fatalf("more than the node offers: %s (%s) %q, want %q", e.State, e.Outcome, e.Error, want)
	}
}

// TestCancelQueued: an execution cancelled while it waits for a worker ends cancelled
// when a worker takes it, without running.
func TestCancelQueued(t *testing.T) {
	c, h := newComputeWith(t, nil, func(cfg *Config, _ *fakeHost) { cfg.Concurrency = 1 })
	if err := c.Enqueue("j-1", "e-1-1", dockerSpec("block"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	running(t, c, "j-1")
	if err := c.Enqueue("j-2", "e-2-1", dockerSpec("exit", "0"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Queued != 1 || st.Running != 1 {
		t.Fatalf("stats %+v, want one running and one queued", st)
	}
	if b := c.Bid("j-x", dockerSpec("exit", "0")); b.Queued != 1 || b.FreeSlots != 0 {
		t.Fatalf("bid %+v of a busy node", b)
	}
	assignment(t, c, "e-2-1").Cancel()
	assignment(t, c, "e-1-1").Cancel()
	if e := endOf(t, h, "e-2-1"); e.State != job.StateCancelled || e.Error != ReasonCancelled {
		t.Fatalf("cancelled in the queue: %+v", e)
	}
	if got := h.reportsOf("e-2-1"); len(got) != 1 {
		t.Fatalf("reports %+v: it must not have run", got)
	}
	endOf(t, h, "e-1-1")
	waitUntil(t, "the node lets them go", func() bool { return c.Assignments() == 0 })
}

// TestNodeStops: an execution running when its node closes ends as failed with the
// node-stopped outcome, not as cancelled (its requester runs it elsewhere).
func TestNodeStops(t *testing.T) {
	c, h := newCompute(t)
	if err := c.Enqueue("j-1", "e-1-1", dockerSpec("block"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	running(t, c, "j-1")
	c.Close()
	e := endOf(t, h, "e-1-1")
	if e.State != job.StateFailed || e.Outcome != job.OutcomeNodeStopped || e.Error != ReasonNodeStopped {
		t.Fatalf("stopped with its node: %s (%s) %q", e.State, e.Outcome, e.Error)
	}
}

// gateExecutor writes "first", waits for its gate, writes "second" and exits.
type gateExecutor struct{ gate chan struct{} }

func (g gateExecutor) Execute(ctx context.Context, t executor.Task) (executor.Result, error) {
	fmt.Fprintln(t.Stdout, "first")
	select {
	case <-g.gate:
	case <-ctx.Done():
		return executor.Result{Outcome: job.OutcomeCancelled, ExitCode: executor.ExitCodeAbnormal}, nil
	}
	fmt.Fprintln(t.Stdout, "second")
	return executor.Result{Outcome: job.OutcomeExited}, nil
}

func (gateExecutor) Close(context.Context) error { return nil }

// TestLogSink: a running execution's output can be followed: its sink's files grow as
// the executor writes, every write wakes the followers, and the sink says when it is
// closed. The job record keeps the first summaryBytes of each stream.
func TestLogSink(t *testing.T) {
	g := gateExecutor{gate: make(chan struct{})}
	c, h := newComputeWith(t, nil, func(cfg *Config, _ *fakeHost) {
		cfg.Executors = map[job.Engine]executor.Executor{job.EngineDocker: g}
	})
	if err := c.Enqueue("j-1", "e-1-1", dockerSpec("follow"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	sink := running(t, c, "j-1")
	if sink.Dir() != c.ExecDir("e-1-1") {
		t.Fatalf("sink in %s, the execution in %s", sink.Dir(), c.ExecDir("e-1-1"))
	}
	read := func() string {
		b, _ := os.ReadFile(filepath.Join(sink.Dir(), Stdout))
		return string(b)
	}
	waitUntil(t, "the first line is written", func() bool { return read() == "first\n" })
	changed, closed := sink.State()
	if closed {
		t.Fatal("closed while the execution runs")
	}
	close(g.gate)
	select {
	case <-changed:
	case <-time.After(20 * time.Second):
		t.Fatal("a write did not wake the followers")
	}
	e := endOf(t, h, "e-1-1")
	if e.State != job.StateCompleted || e.Stdout != "first\nsecond\n" {
		t.Fatalf("%s, stdout %q", e.State, e.Stdout)
	}
	if _, closed := sink.State(); !closed {
		t.Fatal("the sink of an ended execution is not closed")
	}
	if _, ok := c.Running("j-1"); ok {
		t.Fatal("an ended execution still runs")
	}

	c2, h2 := newCompute(t)
	if err := c2.Enqueue("j-2", "e-2-1", dockerSpec("flood"), peer.ID("req")); err != nil {
		t.Fatal(err)
	}
	if e := endOf(t, h2, "e-2-1"); e.State != job.StateCompleted || e.Stdout != strings.Repeat("x", summaryBytes) {
		t.Fatalf("%s, a summary of %d bytes", e.State, len(e.Stdout))
	}
}

// TestResultRetention: a result is pinned for the result retention when its execution
// completed, for the failed-result retention when it did not, under its job's ID.
func TestResultRetention(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	c, h := newComputeWith(t, nil, func(cfg *Config, _ *fakeHost) {
		cfg.ResultRetention, cfg.FailedRetention = 30*24*time.Hour, 24*time.Hour
		cfg.Now = func() time.Time { return now }
	})
	for _, id := range []string{"1", "2"} {
		code := map[string]string{"1": "0", "2": "3"}[id]
		if err := c.Enqueue("j-"+id, "e-"+id+"-1", dockerSpec("exit", code), peer.ID("req")); err != nil {
			t.Fatal(err)
		}
	}
	results := map[string]string{}
	for _, id := range []string{"1", "2"} {
		e := endOf(t, h, "e-"+id+"-1")
		if !e.ResultCID.Defined() {
			t.Fatalf("no result: %+v", e)
		}
		results["j-"+id] = e.ResultCID.String()
	}
	kept := map[string]time.Duration{}
	for p, err := range h.blocks.Pins(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if p.Kind != blockstore.PinResult || results[p.Label] != p.Root.String() {
			t.Fatalf("pin %+v is not of a result", p)
		}
		kept[p.Label] = p.Expires.Sub(now)
	}
	if kept["j-1"] != 30*24*time.Hour || kept["j-2"] != 24*time.Hour {
		t.Fatalf("results kept for %v", kept)
	}
}
