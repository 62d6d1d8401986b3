package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/compute"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// summaryBytes is how much of stdout and stderr a job record keeps for describe; the
// whole streams are in the result.
const summaryBytes = 4 << 10

// Reasons a job records when it does not complete.
const (
	reasonNodeStopped = "node stopped while the job was running"
	reasonCancelled   = "cancelled by the user"
)

// execution is a job while a worker runs it.
type execution struct {
	cancel context.CancelFunc
	logs   *logSink
}

// assignment is an execution this node accepted to run, for its own job or another node's.
type assignment struct {
	jobID, execID string
	spec          job.Spec
	requester     peer.ID
	ctx           context.Context
	cancel        context.CancelFunc
	// hold keeps the module and inputs from a GC while the task is here.
	hold *blockstore.Hold
	// accepted is when the node took the task: the fetch limit counts from it.
	accepted time.Time
}

// forget drops a task that is over, or never ran: the node no longer knows it, its
// context ends and a GC may collect its module and inputs again (unless pinned).
func (n *Node) forget(t *assignment) {
	n.tasks.Delete(t.execID)
	t.cancel()
	t.hold.Release()
}

func (n *Node) worker() {
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

func (n *Node) execDir(execID string) string {
	return filepath.Join(n.cfg.Repo, "executions", execID)
}

// enqueue accepts an execution: a worker runs it when one is free, after a fetcher has
// fetched its module and inputs if the store lacks them.
func (n *Node) enqueue(jobID, execID string, spec job.Spec, requester peer.ID) error {
	ctx, cancel := context.WithCancel(n.ctx)
	t := &assignment{jobID: jobID, execID: execID, spec: spec, requester: requester, ctx: ctx, cancel: cancel, hold: n.blocks.Hold(), accepted: time.Now()}
	if old, dup := n.tasks.LoadOrStore(execID, t); dup {
		cancel()
		t.hold.Release()
		if o := old.(*assignment); o.jobID != jobID || o.requester != requester {
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
				n.note(t, job.PhaseQueued, fmt.Sprintf("waiting for a fetcher: %d execution(s) ahead, %d fetching", ahead, n.fetching.Load()))
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
	if m := spec.Module(); m != "" {
		if c, err := job.ParseCID(m); err == nil {
			roots = append(roots, c)
		}
	}
	for _, in := range spec.Inputs {
		if c, err := job.ParseCID(in.CID); err == nil {
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
func (n *Node) runTask(t *assignment) {
	n.active.Add(1)
	defer n.active.Add(-1)
	r := &taskRun{t: t, started: n.now(), dir: n.execDir(t.execID)}
	if t.ctx.Err() != nil {
		n.dropTask(t)
		n.endTask(r)
		return // cancelled while queued, or shutting down: the requester reschedules
	}
	// The guest starts once its memory is reserved; it is given back in endTask.
	mem := t.spec.EffectiveMemory()
	if free, ahead := n.mem.Free(), n.mem.Waiting(); free < mem || ahead > 0 {
		n.note(t, job.PhaseQueued, fmt.Sprintf("waiting for %s of memory: %s of %s free, %d execution(s) ahead",
			job.FormatBytes(mem), job.FormatBytes(free), job.FormatBytes(n.cfg.Memory), ahead))
	}
	if err := n.mem.Acquire(t.ctx, mem); err != nil {
		if errors.Is(err, compute.ErrMemory) {
			n.report(t, job.Execution{ID: t.execID, NodeID: n.id, State: job.StateFailed, StartedAt: r.started, EndedAt: n.now(), Outcome: job.OutcomeNotStarted, Error: n.capacityRefusal(t.spec)})
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
	t       *assignment
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
func (n *Node) startTask(r *taskRun) bool {
	t := r.t
	fail := func(err error) bool {
		n.report(t, job.Execution{ID: t.execID, NodeID: n.id, State: job.StateFailed, StartedAt: r.started, EndedAt: n.now(), Outcome: job.OutcomeNotStarted, Error: fmt.Sprintf("preparing the job directory: %v", err)})
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
	r.exec = &execution{cancel: t.cancel, logs: sink}
	n.running.Store(t.jobID, r.exec)
	r.recorded = make(chan bool, 1)
	record := func() {
		ok := n.report(t, job.Execution{ID: t.execID, NodeID: n.id, State: job.StateRunning, StartedAt: r.started})
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
func (n *Node) finishTask(r *taskRun) {
	if !<-r.recorded {
		n.endTask(r) // given up: the requester wants no result
		return
	}
	t1 := time.Now()
	e := n.outcome(r.t, r.dir, r.res, r.runErr)
	e.StartedAt = r.started
	n.releaseMemory(r) // before the end is reported: free once the job is seen ended
	n.report(r.t, e)
	n.endTask(r)
	n.log.Debug("execution ended", "job", r.t.jobID, "execution", r.t.execID, "run", r.ran, "import and report", time.Since(t1))
}

// endTask releases what startTask took.
func (n *Node) endTask(r *taskRun) {
	if r.exec != nil {
		r.exec.logs.close()
		n.running.CompareAndDelete(r.t.jobID, r.exec)
	}
	os.RemoveAll(r.dir)
	n.releaseMemory(r)
	n.forget(r.t)
}

// releaseMemory gives back the memory reserved for r's guest, once.
func (n *Node) releaseMemory(r *taskRun) {
	if r.mem > 0 {
		n.mem.Release(r.mem)
		r.mem = 0
	}
}

// execute runs the task on its engine's executor; a non-nil error means it could not
// be started.
func (n *Node) execute(ctx context.Context, t *assignment, dir string, sink *logSink) (executor.Result, error) {
	x := n.executors[t.spec.Engine]
	if x == nil { // refused at submission and on accept: not reached
		return executor.Result{}, fmt.Errorf("%w: engine %q", ErrUnsupported, t.spec.Engine)
	}
	mounts := make([]executor.Mount, 0, len(t.spec.Inputs))
	for _, in := range t.spec.Inputs {
		fsys, err := compute.InputFS(ctx, n.getter(), in)
		if err != nil {
			return executor.Result{}, err
		}
		mounts = append(mounts, executor.Mount{FS: fsys, Target: in.Target})
	}
	return x.Execute(ctx, executor.Task{
		JobID:       t.jobID,
		ExecutionID: t.execID,
		Spec:        t.spec,
		Content:     n,
		Inputs:      mounts,
		OutputsDir:  filepath.Join(dir, "outputs"),
		// The node has refused specs asking for more than Config.MaxOutputsLimit.
		OutputsLimit: int64(t.spec.EffectiveOutputsLimit()),
		Stdout:       sink.stdout,
		Stderr:       sink.stderr,
		OutputLimit:  n.cfg.OutputLimit,
	})
}

// outcome imports the result and describes how the execution ended, with a signed
// receipt when there is a result.
func (n *Node) outcome(t *assignment, dir string, res executor.Result, runErr error) job.Execution {
	e := job.Execution{ID: t.execID, NodeID: n.id, State: job.StateCompleted, Outcome: res.Outcome}
	switch {
	case (runErr != nil || res.Outcome == job.OutcomeCancelled) && n.ctx.Err() != nil:
		// The error or the cancellation is most likely the shutdown's.
		e.State, e.Outcome, e.Error = job.StateFailed, job.OutcomeNodeStopped, reasonNodeStopped
	case runErr != nil:
		e.State, e.Outcome, e.Error = job.StateFailed, job.OutcomeNotStarted, runErr.Error()
	case res.Outcome == job.OutcomeCancelled:
		e.State, e.Error = job.StateCancelled, reasonCancelled
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
		c, err := n.importResult(dir, res.ExitCode, t.jobID, e.State)
		if err != nil {
			e.State, e.Outcome, e.Error = job.StateFailed, job.OutcomeResultFailed, "storing the result: "+err.Error()
		} else {
			e.ResultCID = c
			r := job.NewReceipt(&job.Job{ID: t.jobID, Spec: t.spec}, t.execID, c, code)
			if err := jobproto.SignReceipt(n.key, r, n.now()); err != nil {
				n.log.Error("sign receipt", "job", t.jobID, "err", err)
			} else {
				e.Receipt = r
			}
			if rc, err := job.ParseCID(c); err == nil {
				n.provide(rc)
			}
		}
	}
	e.EndedAt = n.now()
	return e
}

// importResult adds the job directory (outputs/, stdout, stderr, exitCode) as one UnixFS
// directory with kubo's --cid-version=1 settings, and pins it for the retention of a
// result that ended in state st.
func (n *Node) importResult(dir string, exitCode int, jobID string, st job.State) (string, error) {
	if err := os.WriteFile(filepath.Join(dir, "exitCode"), []byte(strconv.Itoa(exitCode)), 0o600); err != nil {
		return "", err
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
		return "", err
	}
	return e.CID.String(), nil
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
