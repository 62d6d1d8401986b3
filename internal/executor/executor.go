// Package executor is the contract between a node's compute side and the engines that
// run its executions: wazero today, Docker and wasmtime next. An engine implements
// Executor; the node holds a map from job.Engine to Executor, from which everything
// that lists engines (bids, heartbeats, node info, refusals) is derived, so adding an
// engine touches no file of the node.
//
// The node prepares an execution (its module and inputs fetched, its directory made,
// its memory reserved) and hands the executor a Task; the executor runs it to its end
// and says how it ended in a Result. Importing the result, receipts and reporting stay
// with the node.
package executor

import (
	"context"
	"io"
	"io/fs"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Executor runs the executions of one engine. It is safe for concurrent use.
type Executor interface {
	// Execute runs t to its end. A nil error means it ran, whatever its Result says
	// (a timeout or a trap is a Result); an error means it could not start: its
	// module or image is invalid or cannot be loaded, or t asks for what this
	// executor cannot do. The end of ctx stops the run (Result.Outcome
	// job.OutcomeCancelled).
	Execute(ctx context.Context, t Task) (Result, error)
	// Close stops what runs and releases what the executor holds. The node closes
	// its executors when it closes.
	Close(ctx context.Context) error
}

// Task is one execution, ready to run.
type Task struct {
	JobID, ExecutionID string
	// Spec is the job's validated, normalised spec; Spec.Engine is the engine this
	// executor was registered for, and its task (Spec.Wasm, Spec.Docker) is set.
	Spec job.Spec
	// Content reads content by CID from the node's blockstore (and the network): a
	// module's bytes.
	Content Content
	// Inputs are Spec.Inputs opened, in order: read-only file systems read lazily.
	Inputs []Mount
	// OutputsDir is the execution's outputs directory: it exists and is empty, and
	// what the task leaves in it is the result's outputs/.
	OutputsDir string
	// OutputsLimit bounds the bytes the task may write under OutputsDir, and what
	// it changes in writable inputs.
	OutputsLimit int64
	// ScratchDir is where the task may keep what it changes in writable inputs; it
	// does not exist yet, and the executor removes it before it returns.
	ScratchDir string
	// Stdout and Stderr receive the task's output streams as they come, each capped
	// at OutputLimit bytes (0: the executor's default); what is past it is dropped
	// and Result says so.
	Stdout, Stderr io.Writer
	OutputLimit    int64
}

// Mount is an input as the task sees it.
type Mount struct {
	FS     fs.FS
	Target string // absolute path in the task's file system; "/" is its root
	// Writable: the task may change its copy (copy-on-write); the changes are
	// dropped after the run.
	Writable bool
}

// Content reads a file's bytes by CID.
type Content interface {
	ReadFile(ctx context.Context, c cid.Cid) ([]byte, error)
}

// Result is how a task that started ended.
type Result struct {
	// Outcome is job.OutcomeExited when the task exited by itself (ExitCode says
	// how), or what stopped it: job.OutcomeTimeout, OutcomeCancelled,
	// OutcomeMemoryLimit, OutcomeOutputsLimit or OutcomeTrap.
	Outcome job.Outcome
	// ExitCode is the task's exit code, or ExitCodeAbnormal when it did not exit by
	// itself.
	ExitCode int
	// Message says in words why it ended, for an Outcome other than
	// job.OutcomeExited ("memory limit of 64 MiB exceeded", "trap: ...").
	Message string
	// StdoutTruncated and StderrTruncated report output past Task.OutputLimit;
	// OutputsLimitHit that the task was refused room past Task.OutputsLimit (what it
	// left in OutputsDir is then incomplete).
	StdoutTruncated, StderrTruncated, OutputsLimitHit bool
	// Prepare is the time spent before the task ran (loading and compiling a module,
	// pulling an image), Run the time it ran.
	Prepare, Run time.Duration
}

// ExitCodeAbnormal is Result.ExitCode when the task did not exit by itself.
const ExitCodeAbnormal = -1

// Preparer is an Executor that readies what a task needs before the task takes a
// worker (the Docker executor pulls its image, the WASM executors compile its
// module). The node calls Prepare after the task's content is fetched; the time it
// takes does not count against the job's timeout, and the executor bounds it itself.
// An error fails the execution before it runs, with the error as its reason.
type Preparer interface {
	Prepare(ctx context.Context, p Preparation) error
}

// Readier is a Preparer that can tell that a spec needs no preparation now (its
// module is compiled and in memory): the node then hands its task to a worker
// without calling Prepare.
type Readier interface {
	Ready(spec job.Spec) bool
}

// Preparation is what a Preparer is given for one execution.
type Preparation struct {
	Spec job.Spec
	// Note adds a line to the job's history.
	Note func(msg string)
	// Content reads content by CID, as Task.Content does: a module's bytes.
	Content Content
	// Store adds content to the node's blockstore for the execution (the Docker
	// executor adds the module of a WASM image).
	Store Store
}

// Store adds a file to the node's blockstore as `data add` does (CIDv1, raw
// leaves) and returns its CID. What it adds is not pinned: it is kept while the
// execution is on the node, then it is a cache a GC may collect.
type Store interface {
	AddFile(ctx context.Context, r io.Reader) (cid.Cid, error)
}

// Refuser is an Executor that cannot run every spec of its engine (a GPU it lacks, a
// network its node's policy forbids). Refusal says why it would not run spec, or "".
// A node does not bid on what its executor refuses.
type Refuser interface {
	Refusal(spec job.Spec) string
}
