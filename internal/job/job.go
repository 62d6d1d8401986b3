package job

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

// State is where a job is in its life. Completed, failed and cancelled are terminal.
type State string

const (
	StatePending   State = "pending"
	StateRunning   State = "running"
	StateCompleted State = "completed"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// States lists every state in life order, for flags and help texts.
var States = []State{StatePending, StateRunning, StateCompleted, StateFailed, StateCancelled}

// Terminal reports whether a job in state s can no longer change.
func (s State) Terminal() bool {
	return s == StateCompleted || s == StateFailed || s == StateCancelled
}

// ErrBadID is wrapped by the errors of CheckIDPrefix.
var ErrBadID = errors.New("job: bad job ID")

// ErrTransition is returned for a state change the life cycle does not allow.
var ErrTransition = errors.New("job: state change not allowed")

// ErrNotFound is wrapped by the error of a lookup that finds no job; ErrAmbiguous by
// that of an ID prefix that matches several. Whatever keeps jobs (the store) returns
// them, so that its users (the API) need not know it.
var (
	ErrNotFound  = errors.New("job not found")
	ErrAmbiguous = errors.New("job ID prefix is ambiguous")
)

// Job is a spec plus everything that happened to it.
type Job struct {
	ID         string      `json:"id"`
	Spec       Spec        `json:"spec"`
	State      State       `json:"state"`
	Reason     string      `json:"reason,omitempty"` // why it failed or was cancelled
	CreatedAt  time.Time   `json:"createdAt"`
	UpdatedAt  time.Time   `json:"updatedAt"`
	History    []Event     `json:"history"`
	Executions []Execution `json:"executions,omitempty"`
	// Requester is the node the job was submitted to; it schedules the job and is the
	// only writer of its record. Other nodes hold copies, newest Rev wins.
	Requester string `json:"requester,omitempty"`
	Rev       uint64 `json:"rev,omitempty"` // bumped by every change
	// Waited is how long the job waited for nodes (pending with no execution under
	// way) before WaitingSince; WaitingSince is when its current wait began, zero while
	// an execution is under way. Spec.QueueTimeout bounds the sum (QueueTime).
	Waited       Duration  `json:"waited,omitempty"`
	WaitingSince time.Time `json:"waitingSince,omitzero"`
}

// Event is one line of a job's history.
type Event struct {
	Time    time.Time `json:"time"`
	State   State     `json:"state,omitempty"` // set when the event is a state change
	Message string    `json:"message"`
}

// Execution is one run of a job on one node.
type Execution struct {
	ID              string      `json:"id"`
	NodeID          string      `json:"nodeId"`
	State           State       `json:"state"`
	StartedAt       time.Time   `json:"startedAt"`
	EndedAt         time.Time   `json:"endedAt,omitempty"`
	ExitCode        *int        `json:"exitCode,omitempty"`
	ResultCID       cidtext.CID `json:"resultCid,omitzero"`
	Error           string      `json:"error,omitempty"`
	Stdout          string      `json:"stdout,omitempty"` // the first few KiB, for describe
	Stderr          string      `json:"stderr,omitempty"`
	StdoutTruncated bool        `json:"stdoutTruncated,omitempty"`
	StderrTruncated bool        `json:"stderrTruncated,omitempty"`
	Receipt         *Receipt    `json:"receipt,omitempty"` // signed by the node that ran it
	// Lost marks an execution given up without a result (its node went silent or never
	// started it); the job was scheduled again elsewhere.
	Lost bool `json:"lost,omitempty"`
	// Phase says what a pending execution is doing before its guest starts:
	// PhaseFetching while its node fetches the module and inputs, PhaseQueued while it
	// waits there for a fetcher, memory or a worker. Empty otherwise.
	Phase string `json:"phase,omitempty"`
	// Outcome says how an ended execution ended, for programs to branch on; Error says
	// it in words. Empty while it is under way, and in records of older nodes.
	Outcome Outcome `json:"outcome,omitempty"`
}

// Outcome is how an execution ended.
type Outcome string

const (
	// OutcomeExited: the workload exited by itself; ExitCode says how.
	OutcomeExited Outcome = "exited"
	// OutcomeTimeout: stopped at the job's timeout.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeCancelled: stopped because the job was cancelled.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeMemoryLimit: stopped by, or could not start within, its memory limit.
	OutcomeMemoryLimit Outcome = "memory-limit"
	// OutcomeOutputsLimit: exited after it was refused room past its outputs limit.
	OutcomeOutputsLimit Outcome = "outputs-limit"
	// OutcomeTrap: the workload crashed (a WebAssembly trap).
	OutcomeTrap Outcome = "trap"
	// OutcomeNotStarted: it could not start: its module, image or inputs could not be
	// loaded, or its node could not take it.
	OutcomeNotStarted Outcome = "not-started"
	// OutcomeNodeStopped: its node stopped while it ran.
	OutcomeNodeStopped Outcome = "node-stopped"
	// OutcomeResultFailed: it ran, and storing its result failed.
	OutcomeResultFailed Outcome = "result-failed"
)

// Outcomes lists every Outcome, for decoders to check against.
var Outcomes = []Outcome{OutcomeExited, OutcomeTimeout, OutcomeCancelled, OutcomeMemoryLimit,
	OutcomeOutputsLimit, OutcomeTrap, OutcomeNotStarted, OutcomeNodeStopped, OutcomeResultFailed}

// PhaseFetching is the Phase of an execution whose node is fetching its module and
// inputs from the network, before the execution takes a worker.
const PhaseFetching = "fetching"

// PhaseQueued is the Phase of an execution waiting on its node: for a fetcher, for its
// memory, or for a worker.
const PhaseQueued = "queued"

// PhasePreparing is the Phase of an execution whose node readies its engine for it
// (pulls a Docker image) after its content is fetched and before it takes a worker.
const PhasePreparing = "preparing"

// Live reports whether the execution is under way: neither ended nor given up.
func (e *Execution) Live() bool { return !e.Lost && !e.State.Terminal() }

// New makes a pending job with a fresh ID. The spec should already be validated.
func New(spec Spec, now time.Time) *Job {
	return &Job{
		ID:        NewID(),
		Spec:      spec,
		State:     StatePending,
		CreatedAt: now,
		UpdatedAt: now,
		History:   []Event{{Time: now, State: StatePending, Message: "job submitted"}},
	}
}

// Transition moves the job to state to, recording why in its history.
func (j *Job) Transition(to State, reason string, now time.Time) error {
	if j.State.Terminal() {
		return fmt.Errorf("%w: %s is %s already, cannot become %s", ErrTransition, j.ID, j.State, to)
	}
	switch to {
	case StatePending, StateRunning, StateCompleted, StateFailed, StateCancelled:
	default:
		return fmt.Errorf("%w: unknown state %q", ErrTransition, to)
	}
	if to == StateCompleted && j.State != StateRunning {
		return fmt.Errorf("%w: %s is %s, only a running job can complete", ErrTransition, j.ID, j.State)
	}
	j.State = to
	if to == StateFailed || to == StateCancelled {
		j.Reason = reason
	}
	msg := reason
	if msg == "" {
		msg = "job " + string(to)
	}
	j.Log(now, to, msg)
	return nil
}

// Log appends an event to the history; st is empty for events that are not state changes.
func (j *Job) Log(now time.Time, st State, msg string) {
	j.History = append(j.History, Event{Time: now, State: st, Message: msg})
	j.UpdatedAt = now
}

// UpdateQueueClock starts or stops the job's queue clock: it runs while the job is not
// terminal and has no execution under way. Call it after every change of the job.
func (j *Job) UpdateQueueClock(now time.Time) {
	waiting := !j.State.Terminal()
	for i := range j.Executions {
		if j.Executions[i].Live() {
			waiting = false
		}
	}
	switch {
	case waiting && j.WaitingSince.IsZero():
		j.WaitingSince = now
	case !waiting && !j.WaitingSince.IsZero():
		if now.After(j.WaitingSince) {
			j.Waited += Duration(now.Sub(j.WaitingSince))
		}
		j.WaitingSince = time.Time{}
	}
}

// QueueTime is how long the job has waited for nodes in all, up to now.
func (j *Job) QueueTime(now time.Time) time.Duration {
	d := time.Duration(j.Waited)
	if !j.WaitingSince.IsZero() && now.After(j.WaitingSince) {
		d += now.Sub(j.WaitingSince)
	}
	return d
}

// Reported is the execution whose result the job reports: the newest one with a result,
// else the newest one, else nil.
func (j *Job) Reported() *Execution {
	for i := len(j.Executions) - 1; i >= 0; i-- {
		if j.Executions[i].ResultCID.Defined() {
			return &j.Executions[i]
		}
	}
	return j.Latest()
}

// Latest returns the newest execution, or nil.
func (j *Job) Latest() *Execution {
	if len(j.Executions) == 0 {
		return nil
	}
	return &j.Executions[len(j.Executions)-1]
}

// IDPrefix is what every job ID starts with, as upstream Bacalhau's do.
const IDPrefix = "j-"

// NewID returns "j-" and a random UUID (version 4).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return IDPrefix + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ShortID is the first 8 characters after the prefix, as `list` prints it.
func ShortID(id string) string {
	if len(id) > len(IDPrefix)+8 {
		return id[:len(IDPrefix)+8]
	}
	return id
}

// CheckIDPrefix validates a user-supplied job ID or ID prefix before it is looked up.
func CheckIDPrefix(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrBadID)
	}
	if len(s) > 64 {
		return fmt.Errorf("%w: %q is too long to be a job ID", ErrBadID, s[:16]+"...")
	}
	for _, r := range strings.TrimPrefix(s, IDPrefix) {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-') {
			return fmt.Errorf("%w: %q is not a job ID (want j- followed by hex digits)", ErrBadID, s)
		}
	}
	return nil
}

// NormalizeIDPrefix adds the j- prefix when a user typed only hex digits.
func NormalizeIDPrefix(s string) string {
	if strings.HasPrefix(s, IDPrefix) {
		return s
	}
	return IDPrefix + s
}
