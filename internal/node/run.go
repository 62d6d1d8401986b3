package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
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

var errNotPending = errors.New("node: job is not pending")

// execution is a job while a worker runs it.
type execution struct {
	cancel context.CancelFunc
	logs   *logSink
}

func (n *Node) worker() {
	defer n.wg.Done()
	for {
		select {
		case id := <-n.queue:
			n.runJob(id)
		case <-n.ctx.Done():
			return
		}
	}
}

func (n *Node) execDir(id string) string { return filepath.Join(n.cfg.Repo, "executions", id) }

// runJob takes one queued job through running to a terminal state.
func (n *Node) runJob(id string) {
	if n.ctx.Err() != nil {
		return // shutting down: the job stays pending and is queued again at the next start
	}
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	dir := n.execDir(id)
	if err := os.RemoveAll(dir); err != nil {
		n.fail(id, fmt.Sprintf("preparing the job directory: %v", err))
		return
	}
	if err := os.MkdirAll(filepath.Join(dir, "outputs"), 0o700); err != nil {
		n.fail(id, fmt.Sprintf("preparing the job directory: %v", err))
		return
	}
	defer os.RemoveAll(dir)
	sink, err := newLogSink(dir)
	if err != nil {
		n.fail(id, fmt.Sprintf("preparing the job directory: %v", err))
		return
	}
	defer sink.close()
	ex := &execution{cancel: cancel, logs: sink}
	n.running.Store(id, ex)
	defer n.running.Delete(id)

	j, err := n.update(id, func(j *job.Job) error {
		if j.State != job.StatePending {
			return errNotPending // cancelled while queued
		}
		now := n.now()
		j.Executions = append(j.Executions, job.Execution{
			ID:     fmt.Sprintf("e-%s-%d", j.ID[len(job.IDPrefix):len(job.IDPrefix)+8], len(j.Executions)+1),
			NodeID: n.id, State: job.StateRunning, StartedAt: now,
		})
		return j.Transition(job.StateRunning, "running on node "+n.id, now)
	})
	if err != nil {
		if !errors.Is(err, errNotPending) {
			n.log.Error("start job", "job", id, "err", err)
		}
		return
	}

	t0 := time.Now()
	res, runErr := n.execute(ctx, j, dir, sink)
	sink.close()
	t1 := time.Now()
	n.finish(ctx, j, dir, res, runErr)
	n.log.Debug("job ended", "job", id, "run", t1.Sub(t0), "import and record", time.Since(t1))
}

// execute runs the task; a non-nil error means the guest could not be started.
func (n *Node) execute(ctx context.Context, j *job.Job, dir string, sink *logSink) (sandbox.Result, error) {
	spec := j.Spec
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
	fsys, err := blockstore.NewFS(ctx, n.blocks.Blocks(), c)
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

// finish imports the result and records how the job ended.
func (n *Node) finish(ctx context.Context, j *job.Job, dir string, res sandbox.Result, runErr error) {
	state, reason := job.StateCompleted, ""
	switch {
	case runErr != nil:
		state, reason = job.StateFailed, runErr.Error()
	case res.Reason == sandbox.ReasonCancelled && n.ctx.Err() != nil:
		state, reason = job.StateFailed, reasonNodeStopped
	case res.Reason == sandbox.ReasonCancelled:
		state, reason = job.StateCancelled, reasonCancelled
	case res.Reason != "":
		state, reason = job.StateFailed, res.Reason
	case res.ExitCode != 0:
		state, reason = job.StateFailed, "exit code "+strconv.Itoa(res.ExitCode)
	}
	var resultCID string
	var stdout, stderr string
	if runErr == nil {
		stdout, stderr = head(filepath.Join(dir, "stdout")), head(filepath.Join(dir, "stderr"))
		c, err := n.importResult(dir, res.ExitCode)
		if err != nil {
			state, reason = job.StateFailed, "storing the result: "+err.Error()
		} else {
			resultCID = c
		}
	}
	_, err := n.update(j.ID, func(j *job.Job) error {
		now := n.now()
		if e := j.Latest(); e != nil {
			e.State, e.EndedAt, e.ResultCID = state, now, resultCID
			e.Stdout, e.Stderr = stdout, stderr
			e.StdoutTruncated, e.StderrTruncated = res.StdoutTruncated, res.StderrTruncated
			if runErr == nil {
				code := res.ExitCode
				e.ExitCode = &code
			}
			if state != job.StateCompleted {
				e.Error = reason
			}
		}
		if res.StdoutTruncated || res.StderrTruncated {
			j.Log(now, "", "output truncated at the per-stream cap")
		}
		return j.Transition(state, reason, now)
	})
	if err != nil {
		n.log.Error("finish job", "job", j.ID, "err", err)
	}
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

// fail ends a job that could not even start.
func (n *Node) fail(id, reason string) {
	_, err := n.update(id, func(j *job.Job) error { return j.Transition(job.StateFailed, reason, n.now()) })
	if err != nil {
		n.log.Error("fail job", "job", id, "err", err)
	}
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
