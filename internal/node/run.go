package node

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
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

// task is an execution this node accepted to run, for its own job or another node's.
type task struct {
	jobID, execID string
	spec          job.Spec
	requester     peer.ID
	recorded      bool // recorded as running already: no running report
	ctx           context.Context
	cancel        context.CancelFunc
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

// enqueue accepts an execution: a worker runs it when one is free. recorded says its
// requester (this node) has recorded it as running already.
func (n *Node) enqueue(jobID, execID string, spec job.Spec, requester peer.ID, recorded bool) error {
	ctx, cancel := context.WithCancel(n.ctx)
	t := &task{jobID: jobID, execID: execID, spec: spec, requester: requester, recorded: recorded, ctx: ctx, cancel: cancel}
	if _, dup := n.tasks.LoadOrStore(execID, t); dup {
		cancel()
		return nil // accepted already (a retried accept)
	}
	select {
	case n.queue <- t:
		return nil
	case <-n.ctx.Done():
		n.tasks.Delete(execID)
		cancel()
		return ErrClosed
	}
}

// runTask takes one execution through running to its end and reports both to the
// requester.
func (n *Node) runTask(t *task) {
	defer n.tasks.Delete(t.execID)
	defer t.cancel()
	if t.ctx.Err() != nil {
		if n.ctx.Err() == nil {
			n.report(t, job.Execution{ID: t.execID, NodeID: n.id, State: job.StateCancelled, EndedAt: n.now(), Error: reasonCancelled})
		}
		return // cancelled while queued, or shutting down: the requester reschedules
	}
	started := n.now()
	fail := func(reason string) {
		n.report(t, job.Execution{ID: t.execID, NodeID: n.id, State: job.StateFailed, StartedAt: started, EndedAt: n.now(), Error: reason})
	}
	dir := n.execDir(t.execID)
	if err := os.RemoveAll(dir); err != nil {
		fail(fmt.Sprintf("preparing the job directory: %v", err))
		return
	}
	if err := os.MkdirAll(filepath.Join(dir, "outputs"), 0o700); err != nil {
		fail(fmt.Sprintf("preparing the job directory: %v", err))
		return
	}
	defer os.RemoveAll(dir)
	sink, err := newLogSink(dir)
	if err != nil {
		fail(fmt.Sprintf("preparing the job directory: %v", err))
		return
	}
	defer sink.close()
	n.running.Store(t.jobID, &execution{cancel: t.cancel, logs: sink})
	defer n.running.Delete(t.jobID)
	if !t.recorded && !n.report(t, job.Execution{ID: t.execID, NodeID: n.id, State: job.StateRunning, StartedAt: started}) {
		return // the requester gave the execution up (cancelled, or lost it)
	}

	t0 := time.Now()
	res, runErr := n.execute(t.ctx, t.spec, dir, sink)
	sink.close()
	t1 := time.Now()
	e := n.outcome(t, dir, res, runErr)
	e.StartedAt = started
	n.report(t, e)
	n.log.Debug("execution ended", "job", t.jobID, "execution", t.execID, "run", t1.Sub(t0), "import and report", time.Since(t1))
}

// execute runs the task; a non-nil error means the guest could not be started.
func (n *Node) execute(ctx context.Context, spec job.Spec, dir string, sink *logSink) (sandbox.Result, error) {
	mounts := make([]wasi.Mount, 0, len(spec.Inputs))
	for _, in := range spec.Inputs {
		fsys, err := n.inputFS(ctx, in)
		if err != nil {
			return sandbox.Result{}, err
		}
		mounts = append(mounts, wasi.Mount{FS: fsys, Target: in.Target})
	}
	mod, err := job.ParseCID(spec.Wasm.Module)
	if err != nil {
		return sandbox.Result{}, err
	}
	task := sandbox.Task{
		ModuleKey: mod.String(),
		Module: func(ctx context.Context) ([]byte, error) {
			b, err := n.ReadFile(ctx, mod)
			if err != nil {
				return nil, fmt.Errorf("loading module %s: %w", mod, err)
			}
			return b, nil
		},
		EntryPoint: spec.Wasm.EntryPoint,
		WASI: wasi.Config{
			Args:       spec.Wasm.Args,
			Env:        spec.Env,
			Mounts:     mounts,
			OutputsDir: filepath.Join(dir, "outputs"),
			Stdout:     sink.stdout,
			Stderr:     sink.stderr,
		},
		Timeout:     time.Duration(spec.Timeout),
		MemoryLimit: spec.Memory,
		OutputLimit: n.cfg.OutputLimit,
	}
	return n.box.Run(ctx, task)
}

// inputFS opens an input DAG (or the path inside it) as a lazily read file system.
func (n *Node) inputFS(ctx context.Context, in job.Input) (fs.FS, error) {
	c, err := job.ParseCID(in.CID)
	if err != nil {
		return nil, err
	}
	fsys, err := blockstore.NewFS(ctx, n.getter(), c)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", in.CID, err)
	}
	if in.Path != "" {
		if fsys, err = fs.Sub(fsys, in.Path); err != nil {
			return nil, fmt.Errorf("input %s/%s: %w", in.CID, in.Path, err)
		}
	}
	return fsys, nil
}

// outcome imports the result and describes how the execution ended, with a signed
// receipt when there is a result.
func (n *Node) outcome(t *task, dir string, res sandbox.Result, runErr error) job.Execution {
	e := job.Execution{ID: t.execID, NodeID: n.id, State: job.StateCompleted}
	switch {
	case runErr != nil:
		e.State, e.Error = job.StateFailed, runErr.Error()
	case res.Reason == sandbox.ReasonCancelled && n.ctx.Err() != nil:
		e.State, e.Error = job.StateFailed, reasonNodeStopped
	case res.Reason == sandbox.ReasonCancelled:
		e.State, e.Error = job.StateCancelled, reasonCancelled
	case res.Reason != "":
		e.State, e.Error = job.StateFailed, res.Reason
	case res.ExitCode != 0:
		e.State, e.Error = job.StateFailed, "exit code "+strconv.Itoa(res.ExitCode)
	}
	if runErr == nil {
		e.Stdout, e.Stderr = head(filepath.Join(dir, "stdout")), head(filepath.Join(dir, "stderr"))
		e.StdoutTruncated, e.StderrTruncated = res.StdoutTruncated, res.StderrTruncated
		code := res.ExitCode
		e.ExitCode = &code
		lie(dir)
		c, err := n.importResult(dir, res.ExitCode)
		if err != nil {
			e.State, e.Error = job.StateFailed, "storing the result: "+err.Error()
		} else {
			e.ResultCID = c
			r := job.NewReceipt(&job.Job{ID: t.jobID, Spec: t.spec}, t.execID, c, code)
			if err := dht.SignReceipt(n.key, r, n.now()); err != nil {
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
// directory with kubo's --cid-version=1 settings.
func (n *Node) importResult(dir string, exitCode int) (string, error) {
	if err := os.WriteFile(filepath.Join(dir, "exitCode"), []byte(strconv.Itoa(exitCode)), 0o600); err != nil {
		return "", err
	}
	// Import even when the job was cancelled: the node's own context may be done.
	e, err := n.blocks.AddPath(context.WithoutCancel(n.ctx), dir, blockstore.AddOptions{CIDVersion: 1})
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
