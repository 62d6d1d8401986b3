package jobproto

import (
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Direct-stream protocols of the scheduler. Each carries one request and one response
// (see Handle and Request); the version is in the name.
const (
	ProtoBid     protocol.ID = "/bacalhau/bid/1"    // compute -> requester: Bid, Ack
	ProtoAccept  protocol.ID = "/bacalhau/accept/1" // requester -> compute: Accept, Ack
	ProtoUpdate  protocol.ID = "/bacalhau/update/1" // compute -> requester: ExecutionUpdate, Ack
	ProtoCancel  protocol.ID = "/bacalhau/cancel/1" // requester -> compute, or any node -> requester: Cancel, Ack
	ProtoJobPull protocol.ID = "/bacalhau/jobs/1"   // any -> requester: JobPull, JobRecords
)

// Bid is a compute node's offer to run an announced job.
type Bid struct {
	JobID     string `json:"jobId"`
	FreeSlots int    `json:"freeSlots"` // idle workers
	Queued    int    `json:"queued"`    // executions waiting for a worker
	HasInputs bool   `json:"hasInputs"` // holds the module and the input roots already
	// MemoryFree is the memory no running execution holds on the bidder, in bytes;
	// a requester prefers bidders with the job's memory free. Nodes of earlier
	// versions do not send it (0).
	MemoryFree uint64 `json:"memoryFree,omitempty"`
}

// Validate checks the job ID and the counters.
func (b *Bid) Validate() error {
	if err := validJobID(b.JobID); err != nil {
		return err
	}
	if b.FreeSlots < 0 || b.FreeSlots > maxSlots || b.Queued < 0 {
		return fmt.Errorf("%w: bid counters out of range", dht.ErrInvalid)
	}
	return nil
}

// Ack answers a request that needs no data back.
type Ack struct {
	OK bool `json:"ok"`
}

// Accept tells a compute node to run the job; ExecutionID names this run.
type Accept struct {
	JobID       string   `json:"jobId"`
	ExecutionID string   `json:"executionId"`
	Spec        job.Spec `json:"spec"`
}

// Validate checks the IDs and the spec, which it normalises first (job.Spec.Normalize):
// the receiver runs the spec as Validate leaves it.
func (a *Accept) Validate() error {
	if err := validJobID(a.JobID); err != nil {
		return err
	}
	if err := validExecutionID(a.ExecutionID); err != nil {
		return err
	}
	// What a spec leaves out is what the requester meant, whatever its version: it is
	// normalised here, once, and checked as the node will run it.
	a.Spec.Normalize()
	if err := a.Spec.Validate(); err != nil {
		return fmt.Errorf("%w: spec: %v", dht.ErrInvalid, err)
	}
	return nil
}

// ExecutionUpdate reports an execution's progress to its requester: a step before it
// runs (state pending with a Phase, such as fetching, and a Note for the job's
// history), running, or how it ended (with the signed receipt when it produced a
// result).
type ExecutionUpdate struct {
	JobID       string        `json:"jobId"`
	ExecutionID string        `json:"executionId"`
	Execution   job.Execution `json:"execution"`
	Note        string        `json:"note,omitempty"` // what the node is doing, in words
}

// Validate checks IDs, state, text sizes and the receipt's signature: a
// receipt must be signed by the node the execution names, for the same job and result.
func (u *ExecutionUpdate) Validate() error {
	if err := validJobID(u.JobID); err != nil {
		return err
	}
	if err := validExecutionID(u.ExecutionID); err != nil {
		return err
	}
	e := &u.Execution
	if e.ID != u.ExecutionID {
		return fmt.Errorf("%w: execution ID %q does not match %q", dht.ErrInvalid, truncate(e.ID), u.ExecutionID)
	}
	if !slices.Contains(job.States, e.State) || e.State == job.StatePending && e.Phase == "" {
		return fmt.Errorf("%w: execution state %q", dht.ErrInvalid, e.State)
	}
	if e.Phase != "" && (e.Phase != job.PhaseFetching && e.Phase != job.PhaseQueued && e.Phase != job.PhasePreparing || e.State != job.StatePending) {
		return fmt.Errorf("%w: execution phase %q in state %q", dht.ErrInvalid, truncate(e.Phase), e.State)
	}
	if e.Outcome != "" && (!slices.Contains(job.Outcomes, e.Outcome) || !e.State.Terminal()) {
		return fmt.Errorf("%w: execution outcome %q in state %q", dht.ErrInvalid, truncate(string(e.Outcome)), e.State)
	}
	if len(u.Note) > maxReasonBytes || !utf8.ValidString(u.Note) {
		return fmt.Errorf("%w: note is not UTF-8 of at most %d bytes", dht.ErrInvalid, maxReasonBytes)
	}
	for _, s := range []string{e.Error, e.Stdout, e.Stderr} {
		if len(s) > maxSummary || !utf8.ValidString(s) {
			return fmt.Errorf("%w: execution text is not UTF-8 of at most %d bytes", dht.ErrInvalid, maxSummary)
		}
	}
	// The result CID was checked as it was decoded (cidtext.CID); the receipt names it
	// as text, as the node that signed it printed it.
	if r := e.Receipt; r != nil {
		if r.JobID != u.JobID || r.ExecutionID != u.ExecutionID || r.ResultCID != e.ResultCID.String() || r.Node != e.NodeID {
			return fmt.Errorf("%w: receipt does not match the execution it comes with", dht.ErrInvalid)
		}
		if err := VerifyReceipt(r); err != nil {
			return fmt.Errorf("%w: %v", dht.ErrInvalid, err)
		}
	}
	return nil
}

// Cancel asks to stop a job (sent to its requester) or one execution of it (sent to
// the compute node running it, with ExecutionID set).
type Cancel struct {
	JobID       string `json:"jobId"`
	ExecutionID string `json:"executionId,omitempty"`
}

// Validate checks the IDs.
func (c *Cancel) Validate() error {
	if err := validJobID(c.JobID); err != nil {
		return err
	}
	if c.ExecutionID != "" {
		return validExecutionID(c.ExecutionID)
	}
	return nil
}

// MaxPullJobs bounds how many job records one JobPull returns.
const MaxPullJobs = 64

// JobPull asks a requester for its job records: the ones named, or, with no IDs, those
// with UpdatedAt at or after Since (in UpdatedAt order, at most MaxPullJobs; page with
// the last one's time and ID in After).
type JobPull struct {
	IDs   []string `json:"ids,omitempty"`
	Since int64    `json:"since,omitempty"` // Unix nanoseconds
	After string   `json:"after,omitempty"` // job ID at Since already seen
}

// Validate checks the IDs.
func (p *JobPull) Validate() error {
	if len(p.IDs) > MaxPullJobs {
		return fmt.Errorf("%w: %d job IDs, at most %d", dht.ErrInvalid, len(p.IDs), MaxPullJobs)
	}
	for _, id := range p.IDs {
		if err := validJobID(id); err != nil {
			return err
		}
	}
	if p.After != "" {
		return validJobID(p.After)
	}
	return nil
}

// JobRecords answers a JobPull. Records are raw JSON, decoded and checked by DecodeJob.
type JobRecords struct {
	Jobs []json.RawMessage `json:"jobs"`
	More bool              `json:"more,omitempty"`
}

// Validate bounds the number of records.
func (r *JobRecords) Validate() error {
	if len(r.Jobs) > MaxPullJobs {
		return fmt.Errorf("%w: %d job records, at most %d", dht.ErrInvalid, len(r.Jobs), MaxPullJobs)
	}
	return nil
}

// DecodeJob decodes a job record received from requester from: it must parse, carry a
// valid job ID, spec and state, and name from as its requester (only a job's requester
// speaks for it).
func DecodeJob(b []byte, from peer.ID) (*job.Job, error) {
	var j job.Job
	if err := dht.StrictUnmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: job record: %v", dht.ErrMalformed, err)
	}
	if err := validJobID(j.ID); err != nil {
		return nil, err
	}
	if j.Requester != from.String() {
		return nil, fmt.Errorf("%w: job %s belongs to %s, not to %s who sent it", dht.ErrAuthorMismatch, j.ID, truncate(j.Requester), from)
	}
	if !slices.Contains(job.States, j.State) {
		return nil, fmt.Errorf("%w: job %s: unknown state %q", dht.ErrInvalid, j.ID, j.State)
	}
	spec := j.Spec
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("%w: job %s: %v", dht.ErrInvalid, j.ID, err)
	}
	return &j, nil
}

const maxSummary = 8 << 10

// maxExecutionID bounds an execution ID: "e-", a 36-character UUID, "-" and the
// ordinal leave room for 20 digits.
const maxExecutionID = 64

// validExecutionID accepts e-<job UUID>-<n>, as the requester makes them, and the
// shorter e-<8 hex>-<n> of earlier versions.
func validExecutionID(id string) error {
	if len(id) < 4 || len(id) > maxExecutionID || id[:2] != "e-" {
		return fmt.Errorf("%w: execution ID %q", dht.ErrInvalid, truncate(id))
	}
	for _, r := range id[2:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-') {
			return fmt.Errorf("%w: execution ID %q", dht.ErrInvalid, truncate(id))
		}
	}
	return nil
}
