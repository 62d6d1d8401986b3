// Package compute is the compute side of a node: the executions it accepted, for its
// own jobs or other nodes', fetched, queued, run on the executor of their engine
// (internal/executor), and their results imported and signed. What it needs of its
// node (reporting to requesters, the network's blocks, the node's key) it reaches
// through Host; internal/node wires it.
package compute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Stream names of a LogSink's files.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// ErrUnsupported wraps job.ErrInvalid: asking for what the node cannot do is a bad request.
var ErrUnsupported = fmt.Errorf("%w: not supported by this node", job.ErrInvalid)

// ErrClosed is returned by Enqueue once the compute side is closing.
var ErrClosed = errors.New("node: closed")

// Config configures the compute side; internal/node fills it from its own Config.
type Config struct {
	Dir          string // executions' directories live here
	NodeID       string
	Concurrency  int // workers
	Fetchers     int
	FetchTimeout time.Duration
	// Memory is what executions may reserve in all; MaxOutputsLimit the largest
	// outputs limit a spec may ask for; OutputLimit the per-stream cap of stdout and
	// stderr (0: the executor's default).
	Memory, MaxOutputsLimit uint64
	OutputLimit             int64
	// ResultRetention and FailedRetention are how long a result stays pinned.
	ResultRetention, FailedRetention time.Duration
	Labels                           map[string]string
	Executors                        map[job.Engine]executor.Executor
	Now                              func() time.Time
	Logger                           *slog.Logger
}

// Host is what the compute side needs of its node.
type Host interface {
	// Report tells a's requester how its execution goes; false means the requester
	// has given it up. Note says what it does before it runs, for the job's history,
	// and cancels a when the requester has given it up.
	Report(a *Assignment, e job.Execution) bool
	Note(a *Assignment, phase, msg string)
	// Getter reads blocks from the store and, on a network, from peers; ReadFile a
	// whole file through it. Exchange is nil off a network; Sources says (and
	// contacts) whom a fetch of c asks.
	Getter() blockstore.BlockGetter
	ReadFile(ctx context.Context, c cid.Cid) ([]byte, error)
	Exchange() *blockstore.Exchange
	Sources(ctx context.Context, c cid.Cid) string
	// Provide announces that the node holds c; Sign signs a receipt with its key.
	Provide(c cid.Cid)
	Sign(r *job.Receipt) error
}

// Compute is the compute side. Its methods are safe for concurrent use.
type Compute struct {
	cfg    Config
	id     string
	host   Host
	blocks *blockstore.Store
	now    func() time.Time
	log    *slog.Logger

	executors map[job.Engine]executor.Executor
	engines   []job.Engine // the keys of executors, sorted

	queue   chan *Assignment // executions waiting for a worker
	fetchq  chan *Assignment // executions waiting for a fetcher
	mem     *MemPool         // memory reserved by running executions
	running sync.Map         // job ID -> *execution (running or finishing here)
	tasks   sync.Map         // execution ID -> *Assignment (queued, running or finishing here)
	active  atomic.Int64     // workers busy: the slots in use
	// fetching counts executions whose module and inputs are being fetched.
	fetching  atomic.Int64
	wholeMods CIDSet // modules known to be whole in the store
	// finishers bounds the executions whose guests have ended and whose results are
	// being imported and recorded in the background.
	finishers chan struct{}

	ctx     context.Context
	cancel  context.CancelFunc
	goMu    sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

// queueBurst is the capacity of the queues: an accept blocks (it does not fail) while
// the queue is full, and none is ever dropped.
const queueBurst = 100_000

// New starts the workers and fetchers. The executors are the caller's to close.
func New(cfg Config, host Host, blocks *blockstore.Store) *Compute {
	c := &Compute{cfg: cfg, id: cfg.NodeID, host: host, blocks: blocks, now: cfg.Now, log: cfg.Logger,
		executors: cfg.Executors, engines: slices.Sorted(maps.Keys(cfg.Executors)),
		mem: NewMemPool(cfg.Memory), queue: make(chan *Assignment, queueBurst), fetchq: make(chan *Assignment, queueBurst),
		finishers: make(chan struct{}, 2*cfg.Concurrency)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for range cfg.Concurrency {
		c.wg.Add(1)
		go c.worker()
	}
	for range cfg.Fetchers {
		c.wg.Add(1)
		go c.fetcher()
	}
	return c
}

// Close stops the workers and fetchers and waits for them and for the results being
// stored; executions not run are dropped (their requesters run them elsewhere).
func (n *Compute) Close() {
	n.goMu.Lock()
	n.closing = true
	n.goMu.Unlock()
	n.cancel()
	n.wg.Wait()
}

// goTrack runs f in a goroutine Close waits for; false if closing.
func (n *Compute) goTrack(f func()) bool {
	n.goMu.Lock()
	defer n.goMu.Unlock()
	if n.closing {
		return false
	}
	n.wg.Go(f)
	return true
}

// Assignment returns the execution this node holds under execID, if any.
func (n *Compute) Assignment(execID string) (*Assignment, bool) {
	v, ok := n.tasks.Load(execID)
	if !ok {
		return nil, false
	}
	return v.(*Assignment), true
}

// Assignments counts the executions this node holds: queued, fetching, running or
// finishing.
func (n *Compute) Assignments() int {
	k := 0
	n.tasks.Range(func(any, any) bool { k++; return true })
	return k
}

// Cancel stops a's execution.
func (a *Assignment) Cancel() { a.cancel() }

// Running returns the log sink of the job's execution running here, if any.
func (n *Compute) Running(jobID string) (*LogSink, bool) {
	v, ok := n.running.Load(jobID)
	if !ok {
		return nil, false
	}
	return v.(*execution).logs, true
}

// Stats says how busy the compute side is.
type Stats struct {
	Running, Queued, Fetching int
	MemoryFree                uint64
}

// Stats reports the slots in use, the queue, the fetches under way and free memory.
func (n *Compute) Stats() Stats {
	return Stats{Running: int(n.active.Load()), Queued: len(n.queue), Fetching: int(n.fetching.Load()), MemoryFree: n.mem.Free()}
}

// Engines are the engines this node runs, sorted.
func (n *Compute) Engines() []job.Engine { return slices.Clone(n.engines) }

// Runs reports whether the node has an executor for engine.
func (n *Compute) Runs(engine job.Engine) bool { return n.executors[engine] != nil }

// MemPool is the pool executions reserve their memory from.
func (n *Compute) MemPool() *MemPool { return n.mem }

// summaryBytes is how much of stdout and stderr a job record keeps for describe; the
// whole streams are in the result.
const summaryBytes = 4 << 10

// Reasons a job records when it does not complete.
const (
	ReasonNodeStopped = job.ReasonNodeStopped
	ReasonCancelled   = job.ReasonCancelled
)

// execution is a job while a worker runs it.
type execution struct {
	logs *LogSink
}

// Assignment is an execution this node accepted to run, for its own job or another node's.
type Assignment struct {
	JobID, ExecID string
	Spec          job.Spec
	Requester     peer.ID
	ctx           context.Context
	cancel        context.CancelFunc
	// hold keeps the module and inputs from a GC while the task is here.
	hold *blockstore.Hold
	// accepted is when the node took the task: the fetch limit counts from it.
	accepted time.Time
}

// forget drops a task that is over, or never ran: the node no longer knows it, its
// context ends and a GC may collect its module and inputs again (unless pinned).
func (n *Compute) forget(t *Assignment) {
	n.tasks.Delete(t.ExecID)
	t.cancel()
	t.hold.Release()
}

func (n *Compute) worker() {
	defer n.wg.Done()
	for {
		select {
		case t := <-n.queue:
			n.runTask(t)
		case <-n.ctx.Done():
			return
		}
	}
}

// ExecDir is the directory of an execution while it runs here.
func (n *Compute) ExecDir(execID string) string {
	return filepath.Join(n.cfg.Dir, execID)
}

// Enqueue accepts an execution: a worker runs it when one is free, after a fetcher has
// fetched its module and inputs if the store lacks them.
func (n *Compute) Enqueue(jobID, execID string, spec job.Spec, requester peer.ID) error {
	ctx, cancel := context.WithCancel(n.ctx)
	t := &Assignment{JobID: jobID, ExecID: execID, Spec: spec, Requester: requester, ctx: ctx, cancel: cancel, hold: n.blocks.Hold(), accepted: time.Now()}
	if old, dup := n.tasks.LoadOrStore(execID, t); dup {
		cancel()
		t.hold.Release()
		if o := old.(*Assignment); o.JobID != jobID || o.Requester != requester {
			return fmt.Errorf("execution %s is taken by another job or requester", execID)
		}
		return nil // accepted already (a retried accept)
	}
	t.hold.Keep(specRoots(spec)...)
	q := n.queue
	if n.needsFetch(spec) {
		q = n.fetchq
		if ahead := len(n.fetchq); ahead >= n.cfg.Fetchers {
			n.goTrack(func() {
				n.host.Note(t, job.PhaseQueued, fmt.Sprintf("waiting for a fetcher: %d execution(s) ahead, %d fetching", ahead, n.fetching.Load()))
			})
		}
	}
	select {
	case q <- t:
		return nil
	case <-n.ctx.Done():
		n.forget(t)
		return ErrClosed
	}
}

// specRoots are the CIDs of a spec's module and inputs.
func specRoots(spec job.Spec) []cid.Cid {
	var roots []cid.Cid
	if m := spec.Module(); m.Defined() {
		if c, err := blockstore.Key(m); err == nil {
			roots = append(roots, c)
		}
	}
	for _, in := range spec.Inputs {
		if c, err := blockstore.Key(in.CID); err == nil {
			roots = append(roots, c)
		}
	}
	return roots
}

// runTask takes one execution through running to its end and reports both to the
// requester. Writes to disk, the slowest part of a short job, are kept off the worker:
// the guest starts while its running state is being recorded, and once it has ended
// the worker is free again while a finisher (up to cap(finishers) at once) imports the
// result and records the end.
func (n *Compute) runTask(t *Assignment) {
	n.active.Add(1)
	defer n.active.Add(-1)
	r := &taskRun{t: t, started: n.now(), dir: n.ExecDir(t.ExecID)}
	if t.ctx.Err() != nil {
		n.dropTask(t)
		n.endTask(r)
		return // cancelled while queued, or shutting down: the requester reschedules
	}
	// The guest starts once its memory is reserved; it is given back in endTask.
	mem := t.Spec.EffectiveMemory()
	if free, ahead := n.mem.Free(), n.mem.Waiting(); free < mem || ahead > 0 {
		n.host.Note(t, job.PhaseQueued, fmt.Sprintf("waiting for %s of memory: %s of %s free, %d execution(s) ahead",
			job.FormatBytes(mem), job.FormatBytes(free), job.FormatBytes(n.cfg.Memory), ahead))
	}
	if err := n.mem.Acquire(t.ctx, mem); err != nil {
		if errors.Is(err, ErrMemory) {
			n.host.Report(t, job.Execution{ID: t.ExecID, NodeID: n.id, State: job.StateFailed, StartedAt: r.started, EndedAt: n.now(), Outcome: job.OutcomeNotStarted, Error: n.capacityRefusal(t.Spec)})
		} else {
			n.dropTask(t)
		}
		n.endTask(r)
		return
	}
	r.mem, r.started = mem, n.now()
	if !n.startTask(r) {
		n.endTask(r)
		return
	}
	t0 := time.Now()
	r.res, r.runErr = n.execute(t.ctx, t, r.dir, r.exec.logs)
	r.exec.logs.close()
	r.ran = time.Since(t0)
	select {
	case n.finishers <- struct{}{}:
		if n.goTrack(func() { n.finishTask(r); <-n.finishers }) {
			return
		}
		<-n.finishers
	default:
	}
	n.finishTask(r)
}

// taskRun is one execution between its worker and its finisher.
type taskRun struct {
	t       *Assignment
	started time.Time
	dir     string
	// recorded receives whether the requester recorded the execution as running; false
	// means it gave the execution up (cancelled, or lost it), and the task is cancelled.
	recorded chan bool
	exec     *execution // in Node.running while the execution runs and finishes
	res      executor.Result
	runErr   error
	ran      time.Duration
	mem      uint64 // memory reserved for the guest
}

// startTask prepares the job directory and starts recording the execution as running.
// False means it must not run: the failure is reported already.
func (n *Compute) startTask(r *taskRun) bool {
	t := r.t
	fail := func(err error) bool {
		n.host.Report(t, job.Execution{ID: t.ExecID, NodeID: n.id, State: job.StateFailed, StartedAt: r.started, EndedAt: n.now(), Outcome: job.OutcomeNotStarted, Error: fmt.Sprintf("preparing the job directory: %v", err)})
		return false
	}
	if err := os.RemoveAll(r.dir); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "outputs"), 0o700); err != nil {
		return fail(err)
	}
	sink, err := newLogSink(r.dir)
	if err != nil {
		return fail(err)
	}
	r.exec = &execution{logs: sink}
	n.running.Store(t.JobID, r.exec)
	r.recorded = make(chan bool, 1)
	record := func() {
		ok := n.host.Report(t, job.Execution{ID: t.ExecID, NodeID: n.id, State: job.StateRunning, StartedAt: r.started})
		if !ok {
			t.cancel()
		}
		r.recorded <- ok
	}
	if !n.goTrack(record) {
		record()
	}
	return true
}

// finishTask imports the result, reports how the execution ended and cleans up.
func (n *Compute) finishTask(r *taskRun) {
	if !<-r.recorded {
		n.endTask(r) // given up: the requester wants no result
		return
	}
	t1 := time.Now()
	e := n.outcome(r.t, r.dir, r.res, r.runErr)
	e.StartedAt = r.started
	n.releaseMemory(r) // before the end is reported: free once the job is seen ended
	n.host.Report(r.t, e)
	n.endTask(r)
	n.log.Debug("execution ended", "job", r.t.JobID, "execution", r.t.ExecID, "run", r.ran, "import and report", time.Since(t1))
}

// endTask releases what startTask took.
func (n *Compute) endTask(r *taskRun) {
	if r.exec != nil {
		r.exec.logs.close()
		n.running.CompareAndDelete(r.t.JobID, r.exec)
	}
	os.RemoveAll(r.dir)
	n.releaseMemory(r)
	n.forget(r.t)
}

// releaseMemory gives back the memory reserved for r's guest, once.
func (n *Compute) releaseMemory(r *taskRun) {
	if r.mem > 0 {
		n.mem.Release(r.mem)
		r.mem = 0
	}
}

// execute runs the task on its engine's executor; a non-nil error means it could not
// be started.
func (n *Compute) execute(ctx context.Context, t *Assignment, dir string, sink *LogSink) (executor.Result, error) {
	x := n.executors[t.Spec.Engine]
	if x == nil { // refused at submission and on accept: not reached
		return executor.Result{}, fmt.Errorf("%w: engine %q", ErrUnsupported, t.Spec.Engine)
	}
	mounts := make([]executor.Mount, 0, len(t.Spec.Inputs))
	for _, in := range t.Spec.Inputs {
		fsys, err := InputFS(ctx, n.host.Getter(), in)
		if err != nil {
			return executor.Result{}, err
		}
		mounts = append(mounts, executor.Mount{FS: fsys, Target: in.Target, Writable: in.Writable})
	}
	return x.Execute(ctx, executor.Task{
		JobID:       t.JobID,
		ExecutionID: t.ExecID,
		Spec:        t.Spec,
		Content:     n.host,
		Inputs:      mounts,
		OutputsDir:  filepath.Join(dir, "outputs"),
		ScratchDir:  filepath.Join(dir, "scratch"), // removed before the result is imported
		// The node has refused specs asking for more than Config.MaxOutputsLimit.
		OutputsLimit: int64(t.Spec.EffectiveOutputsLimit()),
		Stdout:       sink.stdout,
		Stderr:       sink.stderr,
		OutputLimit:  n.cfg.OutputLimit,
	})
}

// outcome imports the result and describes how the execution ended, with a signed
// receipt when there is a result.
func (n *Compute) outcome(t *Assignment, dir string, res executor.Result, runErr error) job.Execution {
	e := job.Execution{ID: t.ExecID, NodeID: n.id, State: job.StateCompleted, Outcome: res.Outcome}
	switch {
	case (runErr != nil || res.Outcome == job.OutcomeCancelled) && n.ctx.Err() != nil:
		// The error or the cancellation is most likely the shutdown's.
		e.State, e.Outcome, e.Error = job.StateFailed, job.OutcomeNodeStopped, ReasonNodeStopped
	case runErr != nil:
		e.State, e.Outcome, e.Error = job.StateFailed, job.OutcomeNotStarted, runErr.Error()
	case res.Outcome == job.OutcomeCancelled:
		e.State, e.Error = job.StateCancelled, ReasonCancelled
	case res.Outcome != job.OutcomeExited:
		e.State, e.Error = job.StateFailed, res.Message
	case res.ExitCode != 0:
		e.State, e.Error = job.StateFailed, "exit code "+strconv.Itoa(res.ExitCode)
	}
	if runErr == nil {
		e.Stdout, e.Stderr = head(filepath.Join(dir, "stdout")), head(filepath.Join(dir, "stderr"))
		e.StdoutTruncated, e.StderrTruncated = res.StdoutTruncated, res.StderrTruncated
		code := res.ExitCode
		e.ExitCode = &code
		rc, err := n.importResult(dir, res.ExitCode, t.JobID, e.State)
		if err != nil {
			e.State, e.Outcome, e.Error = job.StateFailed, job.OutcomeResultFailed, "storing the result: "+err.Error()
		} else {
			e.ResultCID = blockstore.JobCID(rc)
			r := job.NewReceipt(&job.Job{ID: t.JobID, Spec: t.Spec}, t.ExecID, e.ResultCID, code)
			if err := n.host.Sign(r); err != nil {
				n.log.Error("sign receipt", "job", t.JobID, "err", err)
			} else {
				e.Receipt = r
			}
			n.host.Provide(rc)
		}
	}
	e.EndedAt = n.now()
	return e
}

// importResult adds the job directory (outputs/, stdout, stderr, exitCode) as one UnixFS
// directory with kubo's --cid-version=1 settings, and pins it for the retention of a
// result that ended in state st.
func (n *Compute) importResult(dir string, exitCode int, jobID string, st job.State) (cid.Cid, error) {
	if err := os.WriteFile(filepath.Join(dir, "exitCode"), []byte(strconv.Itoa(exitCode)), 0o600); err != nil {
		return cid.Undef, err
	}
	// Import even when the job was cancelled: the node's own context may be done.
	ctx := context.WithoutCancel(n.ctx)
	h := n.blocks.Hold()
	defer h.Release()
	// Hidden: outputs keep their dotfiles (kubo's add would skip them without -H).
	now := n.now()
	keep := n.cfg.ResultRetention
	if st != job.StateCompleted {
		keep = n.cfg.FailedRetention
	}
	pin := blockstore.PinInfo{Kind: blockstore.PinResult, Label: jobID, Created: now, Expires: now.Add(keep)}
	e, err := n.blocks.AddPathPinned(h.Context(ctx), dir, blockstore.AddOptions{CIDVersion: 1, Hidden: true}, pin)
	if err != nil {
		return cid.Undef, err
	}
	return e.CID, nil
}

// head returns the first summaryBytes of a file.
func head(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, summaryBytes))
	return string(b)
}

// The fetch stage: an accepted execution whose module or input roots are not in the
// store has them fetched from the network by one of Config.Fetchers fetchers before it
// waits for a worker, so that content nobody has never holds a worker. The module is
// fetched whole, each input's root and the path inside it; the rest of an input is read
// lazily while the guest runs. The fetch is bounded by Config.FetchTimeout and by the
// job's own timeout, and the job's history says what is fetched from whom.

// ErrNotFound is matched (errors.Is) by the error of a fetch whose module or input
// cannot be found; the error's text, the execution's reason, names the CID alone.
var ErrNotFound = errors.New("node: content not found")

// notFound is an error that is ErrNotFound and reads as its message.
type notFound struct{ msg string }

func (e *notFound) Error() string        { return e.msg }
func (e *notFound) Is(target error) bool { return target == ErrNotFound }

func notFoundf(format string, args ...any) error { return &notFound{fmt.Sprintf(format, args...)} }

func (n *Compute) fetcher() {
	defer n.wg.Done()
	for {
		select {
		case t := <-n.fetchq:
			n.fetchTask(t)
		case <-n.ctx.Done():
			return
		}
	}
}

// fetchTask fetches what t needs and hands it to the workers, or reports why it
// cannot run.
func (n *Compute) fetchTask(t *Assignment) {
	if t.ctx.Err() != nil {
		n.dropTask(t)
		return
	}
	started := n.now()
	// The limit counts from the accept: time spent waiting for a fetcher is part of it.
	limit := min(n.cfg.FetchTimeout, specTimeout(t.Spec))
	ctx, cancel := context.WithDeadline(t.ctx, t.accepted.Add(limit))
	n.fetching.Add(1)
	err := n.fetchContent(ctx, t, limit)
	n.fetching.Add(-1)
	cancel()
	if err == nil {
		err = n.prepare(t)
	}
	switch {
	case err == nil:
		if ahead := len(n.queue); ahead > 0 || int(n.active.Load()) >= n.cfg.Concurrency {
			n.host.Note(t, job.PhaseQueued, fmt.Sprintf("has its module and inputs; waiting for a worker (%d execution(s) ahead)", ahead))
		}
		select {
		case n.queue <- t:
		case <-n.ctx.Done():
			n.dropTask(t)
		}
		return
	case t.ctx.Err() != nil:
		n.dropTask(t)
		return
	}
	n.host.Report(t, job.Execution{ID: t.ExecID, NodeID: n.id, State: job.StateFailed, StartedAt: started, EndedAt: n.now(), Outcome: job.OutcomeNotStarted, Error: err.Error()})
	n.forget(t)
}

// prepare lets t's executor ready itself for t, if it is a Preparer. Its time is its
// own: neither the fetch limit nor the job's timeout counts it.
func (n *Compute) prepare(t *Assignment) error {
	p, ok := n.executors[t.Spec.Engine].(executor.Preparer)
	if !ok {
		return nil
	}
	return p.Prepare(t.ctx, executor.Preparation{
		Spec:    t.Spec,
		Note:    func(msg string) { n.host.Note(t, job.PhasePreparing, msg) },
		Content: n.host,
		Store:   taskStore{n.blocks, t.hold},
	})
}

// mustPrepare reports whether spec's executor prepares before it runs, and has
// not said that spec needs nothing prepared now.
func (n *Compute) mustPrepare(spec job.Spec) bool {
	x := n.executors[spec.Engine]
	if _, ok := x.(executor.Preparer); !ok {
		return false
	}
	r, ok := x.(executor.Readier)
	return !ok || !r.Ready(spec)
}

// taskStore adds files to the node's blockstore for one execution, which holds them
// from a GC while it is on the node.
type taskStore struct {
	blocks *blockstore.Store
	hold   *blockstore.Hold
}

func (s taskStore) AddFile(ctx context.Context, r io.Reader) (cid.Cid, error) {
	e, err := s.blocks.AddFile(s.hold.Context(ctx), r, blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		return cid.Undef, err
	}
	s.hold.Keep(e.CID)
	return e.CID, nil
}

// dropTask ends a task that was cancelled (or whose node is stopping) before it ran.
func (n *Compute) dropTask(t *Assignment) {
	if n.ctx.Err() == nil {
		n.host.Report(t, job.Execution{ID: t.ExecID, NodeID: n.id, State: job.StateCancelled, EndedAt: n.now(), Error: ReasonCancelled})
	}
	n.forget(t)
}

func specTimeout(spec job.Spec) time.Duration {
	if spec.Timeout <= 0 {
		return job.DefaultTimeout
	}
	return time.Duration(spec.Timeout)
}

// needsFetch reports whether an execution of spec must go through the fetch stage:
// its module is not whole in the store, an input root is not there, or its executor
// has something to prepare (an image to pull, a module to compile) before it runs.
func (n *Compute) needsFetch(spec job.Spec) bool {
	if n.mustPrepare(spec) || !n.holds(spec) {
		return true
	}
	if !spec.Module().Defined() {
		return false
	}
	mod, err := blockstore.Key(spec.Module())
	return err == nil && !n.moduleWhole(mod)
}

// moduleWhole reports whether every block of the module file at c is in the store
// (a module whose root alone was fetched, by a `data` existence check for one, is not).
// It reads the module from the store once per process; a module that is not a file
// counts as whole: loading it fails with the reason.
func (n *Compute) moduleWhole(c cid.Cid) bool {
	if n.wholeMods.Has(c) {
		return true
	}
	fsys, err := blockstore.NewFS(n.ctx, n.blocks.Blocks(), c)
	if err != nil {
		return false
	}
	f, err := fsys.Open(c.String())
	if err != nil {
		n.wholeMods.Add(c) // a directory: not a module, whole or not
		return true
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		return false
	}
	n.wholeMods.Add(c)
	return true
}

// fetchContent makes the module (whole) and each input's root and path local.
func (n *Compute) fetchContent(ctx context.Context, t *Assignment, limit time.Duration) error {
	if m := t.Spec.Module(); m.Defined() {
		mod, err := blockstore.Key(m)
		if err != nil {
			return err
		}
		if err := n.fetchItem(ctx, t, "module", mod, "", limit); err != nil {
			return err
		}
	}
	for _, in := range t.Spec.Inputs {
		c, err := blockstore.Key(in.CID)
		if err != nil {
			return err
		}
		if err := n.fetchItem(ctx, t, "input", c, in.Path, limit); err != nil {
			return err
		}
	}
	return nil
}

// fetchItem fetches one module (whole, when path is "" and what is "module") or input
// (its root and the nodes on path).
func (n *Compute) fetchItem(ctx context.Context, t *Assignment, what string, c cid.Cid, path string, limit time.Duration) error {
	name := c.String()
	if path != "" {
		name += "/" + path
	}
	local, err := n.blocks.Has(ctx, c)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	if !local && n.host.Exchange() == nil {
		return notFoundf("%s %s is not on this node, which is not on a network", what, name)
	}
	if n.host.Exchange() == nil {
		return n.resolvePath(ctx, what, c, path, limit) // all local
	}
	if what == "module" && local && n.moduleWhole(c) {
		return nil
	}
	t0 := time.Now()
	if !local || what == "module" {
		from := n.host.Sources(ctx, c)
		n.host.Note(t, job.PhaseFetching, fmt.Sprintf("fetching %s %s %s", what, name, from))
	}
	if what == "module" {
		if err := n.host.Exchange().FetchDAG(ctx, c); err != nil {
			return n.fetchError(ctx, what, name, limit, err)
		}
		n.host.Note(t, job.PhaseFetching, fmt.Sprintf("fetched module %s (%s) in %s", name, n.moduleSize(ctx, c), time.Since(t0).Round(time.Millisecond)))
		return nil
	}
	if _, err := n.host.Exchange().Getter().GetBlock(ctx, c); err != nil {
		return n.fetchError(ctx, what, name, limit, err)
	}
	return n.resolvePath(ctx, what, c, path, limit)
}

// resolvePath walks path inside the DAG at c, fetching the nodes on it.
func (n *Compute) resolvePath(ctx context.Context, what string, c cid.Cid, path string, limit time.Duration) error {
	if path == "" {
		return nil
	}
	name := c.String() + "/" + path
	fsys, err := blockstore.NewFS(ctx, n.host.Getter(), c)
	if err != nil {
		return n.fetchError(ctx, what, name, limit, err)
	}
	if _, err := fs.Stat(fsys, strings.Trim(path, "/")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notFoundf("%s %s: no such file or directory in the DAG", what, name)
		}
		return n.fetchError(ctx, what, name, limit, err)
	}
	return nil
}

// fetchError says why a fetch failed: not found within the limit, or how it broke.
func (n *Compute) fetchError(ctx context.Context, what, name string, limit time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return notFoundf("%s %s not found on the network within %s", what, name, limit)
	}
	return fmt.Errorf("fetching %s %s: %w", what, name, err)
}

// moduleSize is the size of the UnixFS file at c, in words, or "size unknown".
func (n *Compute) moduleSize(ctx context.Context, c cid.Cid) string {
	fsys, err := blockstore.NewFS(ctx, n.host.Getter(), c)
	if err != nil {
		return "size unknown"
	}
	st, err := fs.Stat(fsys, c.String())
	if err != nil {
		return "size unknown"
	}
	return job.FormatBytes(uint64(st.Size()))
}

// holds reports whether the module and every input root are in the local store.
func (n *Compute) holds(spec job.Spec) bool {
	ctx := n.ctx
	if m := spec.Module(); m.Defined() {
		c, err := blockstore.Key(m)
		if ok, _ := n.blocks.Has(ctx, c); err != nil || !ok {
			return false
		}
	}
	for _, in := range spec.Inputs {
		c, err := blockstore.Key(in.CID)
		if ok, _ := n.blocks.Has(ctx, c); err != nil || !ok {
			return false
		}
	}
	return true
}

// Bid is this node's offer for spec.
func (n *Compute) Bid(jobID string, spec job.Spec) jobproto.Bid {
	running := int(n.active.Load())
	queued := len(n.queue)
	b := jobproto.Bid{JobID: jobID, Queued: queued, FreeSlots: max(0, n.cfg.Concurrency-running-queued), MemoryFree: n.mem.Free()}
	b.HasInputs = n.holds(spec)
	return b
}

// Refusal says why this node would not run spec, or "" if it would.
func (n *Compute) Refusal(spec job.Spec) string {
	switch {
	case !n.Runs(spec.Engine):
		return fmt.Sprintf("this node runs no %s jobs", spec.Engine)
	case !job.Matches(spec.Selector, n.cfg.Labels):
		return "this node does not have the labels " + job.FormatLabels(spec.Selector)
	}
	if r, ok := n.executors[spec.Engine].(executor.Refuser); ok {
		if msg := r.Refusal(spec); msg != "" {
			return msg
		}
	}
	return n.capacityRefusal(spec)
}

// capacityRefusal says why spec asks for more than this node could ever give it, or ""
// if it does not.
func (n *Compute) capacityRefusal(spec job.Spec) string {
	if m := spec.EffectiveMemory(); m > n.cfg.Memory {
		return fmt.Sprintf("needs %s of memory; this node offers %s", job.FormatBytes(m), job.FormatBytes(n.cfg.Memory))
	}
	if o := spec.EffectiveOutputsLimit(); o > n.cfg.MaxOutputsLimit {
		return fmt.Sprintf("asks for up to %s of outputs; this node allows %s", job.FormatBytes(o), job.FormatBytes(n.cfg.MaxOutputsLimit))
	}
	return ""
}

// Capacity is what this node offers, for heartbeats and `node list`.
func (n *Compute) Capacity() jobproto.Capacity {
	return jobproto.Capacity{Slots: n.cfg.Concurrency, Memory: n.cfg.Memory, MemoryFree: n.mem.Free()}
}

// LogSink receives a running guest's stdout and stderr into files of the job directory
// (they become part of the result) and wakes followers on every write.
type LogSink struct {
	dir            string
	stdout, stderr io.Writer

	mu      sync.Mutex
	files   []*os.File
	changed chan struct{} // closed and replaced on every write and at close
	closed  bool
}

func newLogSink(dir string) (*LogSink, error) {
	s := &LogSink{dir: dir, changed: make(chan struct{})}
	for _, name := range []string{Stdout, Stderr} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			s.close()
			return nil, err
		}
		s.files = append(s.files, f)
	}
	s.stdout, s.stderr = sinkWriter{s, s.files[0]}, sinkWriter{s, s.files[1]}
	return s, nil
}

type sinkWriter struct {
	s *LogSink
	f *os.File
}

func (w sinkWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.s.mu.Lock()
	close(w.s.changed)
	w.s.changed = make(chan struct{})
	w.s.mu.Unlock()
	return n, err
}

// State returns a channel closed at the next change, and whether the sink is closed.
func (s *LogSink) State() (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed, s.closed
}

// Dir is the directory holding the sink's files, named Stdout and Stderr.
func (s *LogSink) Dir() string { return s.dir }

func (s *LogSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, f := range s.files {
		f.Close()
	}
	close(s.changed)
}
