// Package upstream is upstream Bacalhau's v1 orchestrator API as this node answers it:
// the wire types of /api/v1/orchestrator/... and /api/v1/agent/..., with upstream's
// PascalCase field names, and their mapping from this project's jobs. The v1 job itself
// is jobspec.Job; requests are read with jobspec.Decode. Field names and shapes come from
// upstream's published API documentation and swagger (see testdata/README.md).
//
//	resp := upstream.GetJobResponse{Job: upstream.JobOf(j)}
//	items := upstream.ExecutionsOf(j)
package upstream

import (
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/jobspec"
)

// Namespace is the one namespace every job here is in, upstream's default.
const Namespace = "default"

// PutJobResponse is the answer to PUT /api/v1/orchestrator/jobs. There are no
// evaluations here (a job is scheduled by its requester's drive loop), so EvaluationID
// is empty.
type PutJobResponse struct {
	JobID        string   `json:"JobID"`
	EvaluationID string   `json:"EvaluationID"`
	Warnings     []string `json:"Warnings"`
}

// GetJobResponse is the answer to GET /api/v1/orchestrator/jobs/:id; History and
// Executions are there when ?include= asks for them.
type GetJobResponse struct {
	Job        *Job              `json:"Job"`
	History    *List[JobHistory] `json:"History,omitempty"`
	Executions *List[Execution]  `json:"Executions,omitempty"`
}

// List is a page of a list answer: Items and the token of the next page ("" when it
// is the last).
type List[T any] struct {
	Items     []T    `json:"Items"`
	NextToken string `json:"NextToken"`
}

// StopJobResponse is the answer to DELETE /api/v1/orchestrator/jobs/:id.
type StopJobResponse struct {
	EvaluationID string `json:"EvaluationID"`
}

// State is an execution's state with its message, as upstream nests it (ComputeState,
// DesiredState). Upstream's encoder writes execution states as numbers (job states as
// names): see the ExecutionState and Desired constants.
type State struct {
	StateType int    `json:"StateType"`
	Message   string `json:"Message"`
}

// Upstream's execution states, in the numbering of its v1.9 encoder.
const (
	ExecutionStateUndefined = iota
	ExecutionStateNew
	ExecutionStateAskForBid
	ExecutionStateAskForBidAccepted
	ExecutionStateAskForBidRejected
	ExecutionStateBidAccepted
	ExecutionStateRunning
	ExecutionStatePublishing
	ExecutionStateBidRejected
	ExecutionStateCompleted
	ExecutionStateFailed
	ExecutionStateCancelled
)

// Upstream's desired states of an execution.
const (
	DesiredStatePending = iota
	DesiredStateRunning
	DesiredStateStopped
)

// SpecConfig is a typed bag of parameters: here, a published result.
type SpecConfig struct {
	Type   string         `json:"Type"`
	Params map[string]any `json:"Params"`
}

// RunCommandResult is an execution's output, with upstream's (lower-case) field names.
type RunCommandResult struct {
	Stdout          string `json:"stdout"`
	StdoutTruncated bool   `json:"stdouttruncated"`
	Stderr          string `json:"stderr"`
	StderrTruncated bool   `json:"stderrtruncated"`
	ExitCode        int    `json:"exitCode"`
	ErrorMsg        string `json:"runnerError"`
}

// AllocatedResources is what an execution was given; tasks are not sized here.
type AllocatedResources struct {
	Tasks map[string]any `json:"Tasks"`
}

// Execution is one run of a job on a node.
type Execution struct {
	ID                 string             `json:"ID"`
	Namespace          string             `json:"Namespace"`
	EvalID             string             `json:"EvalID"`
	Name               string             `json:"Name"`
	NodeID             string             `json:"NodeID"`
	JobID              string             `json:"JobID"`
	AllocatedResources AllocatedResources `json:"AllocatedResources"`
	DesiredState       State              `json:"DesiredState"`
	ComputeState       State              `json:"ComputeState"`
	PublishedResult    SpecConfig         `json:"PublishedResult"`
	RunOutput          *RunCommandResult  `json:"RunOutput"`
	PreviousExecution  string             `json:"PreviousExecution"`
	NextExecution      string             `json:"NextExecution"`
	FollowupEvalID     string             `json:"FollowupEvalID"`
	Revision           uint64             `json:"Revision"`
	CreateTime         int64              `json:"CreateTime"`
	ModifyTime         int64              `json:"ModifyTime"`
}

// StateChange is a job's state before and after an event.
type StateChange struct {
	Previous string `json:"Previous"`
	New      string `json:"New"`
}

// Event is what happened, in words.
type Event struct {
	Message   string    `json:"Message"`
	Topic     string    `json:"Topic"`
	Timestamp time.Time `json:"Timestamp"`
}

// JobHistory is one event of a job's history. This node records events per job, so
// every one is JobLevel.
type JobHistory struct {
	Type        string       `json:"Type"`
	JobID       string       `json:"JobID"`
	NodeID      string       `json:"NodeID,omitempty"`
	ExecutionID string       `json:"ExecutionID,omitempty"`
	JobState    *StateChange `json:"JobState"`
	NewRevision uint64       `json:"NewRevision"`
	Comment     string       `json:"Comment"`
	Event       Event        `json:"Event"`
	Time        time.Time    `json:"Time"`
}

// AliveResponse is the answer to GET /api/v1/agent/alive.
type AliveResponse struct {
	Status string `json:"Status"`
}

// BuildVersionInfo is the answer to GET /api/v1/agent/version.
type BuildVersionInfo struct {
	Major      string `json:"Major"`
	Minor      string `json:"Minor"`
	GitVersion string `json:"GitVersion"`
	GitCommit  string `json:"GitCommit"`
	BuildDate  string `json:"BuildDate"`
	GOOS       string `json:"GOOS"`
	GOARCH     string `json:"GOARCH"`
}

// Error is the body of an error answer on these routes, upstream's APIError.
type Error struct {
	Status    int    `json:"Status"`
	Message   string `json:"Message"`
	RequestID string `json:"RequestID"`
	Code      string `json:"Code"`
	Component string `json:"Component"`
}

// Job is a v1 job as upstream's API writes it: jobspec's, with the read-only fields
// that upstream always writes (State with its Message, Revision) always written.
type Job struct {
	jobspec.Job
	State    JobState `json:"State"`
	Revision uint64   `json:"Revision"`
}

// JobState is a job's state by name, and why.
type JobState struct {
	StateType string `json:"StateType"`
	Message   string `json:"Message"`
}

// JobOf is j as a v1 job: its spec (jobspec.FromJob) in the default namespace.
func JobOf(j *job.Job) *Job {
	v := jobspec.FromJob(j)
	v.Namespace = Namespace
	return &Job{Job: v, State: JobState{StateType: jobspec.StateType(j.State), Message: j.Reason}, Revision: j.Rev}
}

// ExecutionsOf lists j's executions in upstream's shape.
func ExecutionsOf(j *job.Job) []Execution {
	out := make([]Execution, 0, len(j.Executions))
	for _, e := range j.Executions {
		x := Execution{
			ID:                 e.ID,
			Namespace:          Namespace,
			NodeID:             e.NodeID,
			JobID:              j.ID,
			AllocatedResources: AllocatedResources{Tasks: map[string]any{}},
			DesiredState:       State{StateType: DesiredStateRunning},
			ComputeState:       State{StateType: ExecutionStateType(e), Message: e.Error},
			Revision:           j.Rev,
			CreateTime:         e.StartedAt.UnixNano(),
			ModifyTime:         e.StartedAt.UnixNano(),
		}
		if !e.Live() {
			x.DesiredState = State{StateType: DesiredStateStopped, Message: "execution " + string(e.State)}
		}
		if !e.EndedAt.IsZero() {
			x.ModifyTime = e.EndedAt.UnixNano()
		}
		if e.ResultCID.Defined() {
			x.PublishedResult = resultOf(e.ResultCID)
		}
		if e.ExitCode != nil || e.Stdout != "" || e.Stderr != "" || e.Error != "" {
			x.RunOutput = &RunCommandResult{
				Stdout: e.Stdout, StdoutTruncated: e.StdoutTruncated,
				Stderr: e.Stderr, StderrTruncated: e.StderrTruncated,
				ErrorMsg: e.Error,
			}
			if e.ExitCode != nil {
				x.RunOutput.ExitCode = *e.ExitCode
			}
		}
		out = append(out, x)
	}
	return out
}

// ExecutionStateType is upstream's number of an execution's state: a pending execution
// was accepted by its node (BidAccepted), a lost one failed.
func ExecutionStateType(e job.Execution) int {
	switch {
	case e.Lost:
		return ExecutionStateFailed
	case e.State == job.StatePending:
		return ExecutionStateBidAccepted
	case e.State == job.StateRunning:
		return ExecutionStateRunning
	case e.State == job.StateCompleted:
		return ExecutionStateCompleted
	case e.State == job.StateFailed:
		return ExecutionStateFailed
	case e.State == job.StateCancelled:
		return ExecutionStateCancelled
	}
	return ExecutionStateUndefined
}

// HistoryOf lists j's history as JobLevel events; a state change carries the states
// before and after it.
func HistoryOf(j *job.Job) []JobHistory {
	out := make([]JobHistory, 0, len(j.History))
	prev := "Undefined"
	for i, ev := range j.History {
		h := JobHistory{
			Type:        "JobLevel",
			JobID:       j.ID,
			NewRevision: uint64(i + 1),
			Comment:     ev.Message,
			Event:       Event{Message: ev.Message, Topic: "Job", Timestamp: ev.Time},
			Time:        ev.Time,
		}
		if ev.State != "" {
			next := jobspec.StateType(ev.State)
			h.JobState = &StateChange{Previous: prev, New: next}
			prev = next
		}
		out = append(out, h)
	}
	return out
}

// ResultsOf lists the results j's completed executions published, each once: an ipfs
// result naming its CID.
func ResultsOf(j *job.Job) []SpecConfig {
	out := []SpecConfig{}
	seen := map[cidtext.CID]bool{}
	for _, e := range j.Executions {
		if e.Lost || e.State != job.StateCompleted || !e.ResultCID.Defined() || seen[e.ResultCID] {
			continue
		}
		seen[e.ResultCID] = true
		out = append(out, resultOf(e.ResultCID))
	}
	return out
}

func resultOf(c cidtext.CID) SpecConfig {
	return SpecConfig{Type: "ipfs", Params: map[string]any{"CID": c.String()}}
}

// PeerInfo is a node's libp2p identity and addresses.
type PeerInfo struct {
	ID    string   `json:"ID"`
	Addrs []string `json:"Addrs"`
}

// Resources is a node's capacity; CPU, disk and GPU are not accounted here.
type Resources struct {
	CPU    float64 `json:"CPU"`
	Memory uint64  `json:"Memory"`
	Disk   uint64  `json:"Disk"`
	GPU    uint64  `json:"GPU"`
}

// ComputeNodeInfo is what a node runs and how much room it has.
type ComputeNodeInfo struct {
	ExecutionEngines   []string  `json:"ExecutionEngines"`
	Publishers         []string  `json:"Publishers"`
	StorageSources     []string  `json:"StorageSources"`
	MaxCapacity        Resources `json:"MaxCapacity"`
	AvailableCapacity  Resources `json:"AvailableCapacity"`
	MaxJobRequirements Resources `json:"MaxJobRequirements"`
	RunningExecutions  int       `json:"RunningExecutions"`
	EnqueuedExecutions int       `json:"EnqueuedExecutions"`
}

// NodeInfo is a node: every node here both schedules and runs jobs; NodeType says
// Compute.
type NodeInfo struct {
	NodeID          string            `json:"NodeID"`
	PeerInfo        PeerInfo          `json:"PeerInfo"`
	NodeType        string            `json:"NodeType"`
	Labels          map[string]string `json:"Labels"`
	ComputeNodeInfo ComputeNodeInfo   `json:"ComputeNodeInfo"`
	BacalhauVersion BuildVersionInfo  `json:"BacalhauVersion"`
}

// NodeState is one node of GET /api/v1/orchestrator/nodes: its info, membership
// (always APPROVED: any peer with the network's key joins) and connection.
type NodeState struct {
	Info       NodeInfo `json:"Info"`
	Membership string   `json:"Membership"`
	Connection string   `json:"Connection"`
}

// ListNodesResponse is the answer to GET /api/v1/orchestrator/nodes.
type ListNodesResponse struct {
	Nodes     []NodeState `json:"Nodes"`
	NextToken string      `json:"NextToken"`
}

// Kinds of an ExecutionLog line, in the numbering of upstream's encoder.
const (
	ExecutionLogTypeUnknown = iota
	ExecutionLogTypeStdout
	ExecutionLogTypeStderr
)

// ExecutionLog is one line a job wrote: Type says to which stream; Line ends with its
// newline (the last line of a stream may have none).
type ExecutionLog struct {
	Type int    `json:"Type"`
	Line string `json:"Line"`
}

// LogFrame is one websocket message of GET /api/v1/orchestrator/jobs/:id/logs, as
// upstream's encoder writes its stream results since v1.5: a line in value, or, as
// the last frame, the error that ended the stream in error (value then empty).
type LogFrame struct {
	Value ExecutionLog `json:"value"`
	Error string       `json:"error,omitempty"`
}
