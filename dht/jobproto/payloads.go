package jobproto

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Limits on payload fields, so that a valid message stays small.
const (
	maxLabels      = 32
	maxLabelKey    = 63
	maxLabelValue  = 255
	maxAddrs       = 16
	maxAddrBytes   = 256
	maxEngines     = 8
	maxReasonBytes = 1024
	maxSlots       = 1 << 16
	maxExclude     = 64
)

// JobAnnouncement is published on TopicJobs by the requester of a new job; compute
// nodes that can run it bid over a direct stream to Requester.
type JobAnnouncement struct {
	JobID     string            `json:"jobId"`
	Spec      job.Spec          `json:"spec"`
	Requester peer.ID           `json:"requester"`
	Selector  map[string]string `json:"selector,omitempty"` // labels a node must have to bid
	Exclude   []peer.ID         `json:"exclude,omitempty"`  // nodes that must not bid (ran it already)
}

func (a *JobAnnouncement) Kind() dht.Kind  { return KindJobAnnouncement }
func (a *JobAnnouncement) Author() peer.ID { return a.Requester }

// Validate checks the job ID, the spec (job.Spec.Validate), the requester and the selector.
func (a *JobAnnouncement) Validate() error {
	if err := validJobID(a.JobID); err != nil {
		return err
	}
	if err := validPeer("requester", a.Requester); err != nil {
		return err
	}
	spec := a.Spec // Validate has a pointer receiver; keep a's spec as it came
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%w: spec: %v", dht.ErrInvalid, err)
	}
	if len(a.Exclude) > maxExclude {
		return fmt.Errorf("%w: %d excluded nodes, at most %d", dht.ErrInvalid, len(a.Exclude), maxExclude)
	}
	for _, p := range a.Exclude {
		if err := validPeer("exclude", p); err != nil {
			return err
		}
	}
	return validLabels("selector", a.Selector)
}

// JobEvent is published on TopicJobEvents by the node that saw a job change state, so
// that every node's view of the job agrees.
type JobEvent struct {
	JobID     string      `json:"jobId"`
	State     job.State   `json:"state"`
	Time      time.Time   `json:"time"` // when the state changed
	Node      peer.ID     `json:"node"` // who reports it
	Reason    string      `json:"reason,omitempty"`
	ResultCID cidtext.CID `json:"resultCid,omitzero"` // checked as it is decoded
	Rev       uint64      `json:"rev,omitempty"`      // the job record's revision after the change
}

func (e *JobEvent) Kind() dht.Kind  { return KindJobEvent }
func (e *JobEvent) Author() peer.ID { return e.Node }

// Validate checks the job ID, the state, the time and the reporting node; the result
// CID was checked as it was decoded.
func (e *JobEvent) Validate() error {
	if err := validJobID(e.JobID); err != nil {
		return err
	}
	if !slices.Contains(job.States, e.State) {
		return fmt.Errorf("%w: unknown job state %q", dht.ErrInvalid, e.State)
	}
	if e.Time.IsZero() {
		return fmt.Errorf("%w: job event without a time", dht.ErrInvalid)
	}
	if err := validPeer("node", e.Node); err != nil {
		return err
	}
	if len(e.Reason) > maxReasonBytes || !utf8.ValidString(e.Reason) {
		return fmt.Errorf("%w: reason is not UTF-8 of at most %d bytes", dht.ErrInvalid, maxReasonBytes)
	}
	return nil
}

// Capacity is what a node offers to run: concurrent job slots and memory for them.
type Capacity struct {
	Slots  int    `json:"slots"`
	Memory uint64 `json:"memory"` // bytes the node offers its jobs in all
	// MemoryFree is the part of Memory no running execution holds. Nodes of earlier
	// versions do not send it (0).
	MemoryFree uint64 `json:"memoryFree,omitempty"`
}

// Heartbeat is published on TopicHeartbeats by every node now and then; it is what
// `node list` shows. Its time is the envelope's (dht.Message.Time): one clock per message.
type Heartbeat struct {
	Node     peer.ID           `json:"node"`
	Addrs    []string          `json:"addrs"` // multiaddrs the node listens on
	Engines  []job.Engine      `json:"engines"`
	Capacity Capacity          `json:"capacity"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Started is when the node's process started, by its own clock: a requester that
	// sees it change knows the node restarted, and gives up what it ran before.
	Started time.Time `json:"started,omitzero"`
}

func (h *Heartbeat) Kind() dht.Kind  { return KindHeartbeat }
func (h *Heartbeat) Author() peer.ID { return h.Node }

// Validate checks the node, its addresses, engines, capacity and labels.
func (h *Heartbeat) Validate() error {
	if err := validPeer("node", h.Node); err != nil {
		return err
	}
	if len(h.Addrs) > maxAddrs {
		return fmt.Errorf("%w: %d addresses, at most %d", dht.ErrInvalid, len(h.Addrs), maxAddrs)
	}
	for _, a := range h.Addrs {
		if len(a) > maxAddrBytes {
			return fmt.Errorf("%w: address longer than %d bytes", dht.ErrInvalid, maxAddrBytes)
		}
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("%w: address %q: %v", dht.ErrInvalid, a, err)
		}
	}
	if len(h.Engines) > maxEngines {
		return fmt.Errorf("%w: %d engines, at most %d", dht.ErrInvalid, len(h.Engines), maxEngines)
	}
	for i, e := range h.Engines {
		// Engines this node does not know pass: a newer peer may offer more.
		if !e.WellFormed() {
			return fmt.Errorf("%w: engine name %q", dht.ErrInvalid, truncate(string(e)))
		}
		if slices.Contains(h.Engines[:i], e) {
			return fmt.Errorf("%w: engine %q listed twice", dht.ErrInvalid, e)
		}
	}
	if h.Capacity.Slots < 0 || h.Capacity.Slots > maxSlots {
		return fmt.Errorf("%w: %d slots, want 0..%d", dht.ErrInvalid, h.Capacity.Slots, maxSlots)
	}
	if h.Capacity.MemoryFree > h.Capacity.Memory {
		return fmt.Errorf("%w: %d bytes of memory free of %d", dht.ErrInvalid, h.Capacity.MemoryFree, h.Capacity.Memory)
	}
	return validLabels("labels", h.Labels)
}

// NewHeartbeat describes node n: its ID, addresses and labels, with the engines and
// capacity the caller (the compute side) offers.
func NewHeartbeat(n *dht.Peer, engines []job.Engine, c Capacity) *Heartbeat {
	h := &Heartbeat{Node: n.ID(), Engines: slices.Clone(engines), Capacity: c, Labels: n.Labels()}
	for _, a := range n.Host().Addrs() {
		if len(h.Addrs) == maxAddrs {
			break
		}
		h.Addrs = append(h.Addrs, a.String())
	}
	return h
}

func validJobID(id string) error {
	if len(id) != len(job.IDPrefix)+36 {
		return fmt.Errorf("%w: job ID %q is not a full job ID", dht.ErrInvalid, truncate(id))
	}
	if err := job.CheckIDPrefix(id); err != nil {
		return fmt.Errorf("%w: %v", dht.ErrInvalid, err)
	}
	return nil
}

func validPeer(field string, p peer.ID) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %s: %v", dht.ErrInvalid, field, err)
	}
	return nil
}

// validLabels accepts label keys of letters, digits and ._/- and printable UTF-8 values.
func validLabels(field string, m map[string]string) error {
	if len(m) > maxLabels {
		return fmt.Errorf("%w: %s: %d labels, at most %d", dht.ErrInvalid, field, len(m), maxLabels)
	}
	for k, v := range m {
		if k == "" || len(k) > maxLabelKey {
			return fmt.Errorf("%w: %s: key %q: 1 to %d bytes", dht.ErrInvalid, field, truncate(k), maxLabelKey)
		}
		for _, r := range k {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '/' || r == '-') {
				return fmt.Errorf("%w: %s: key %q: only letters, digits and ._/-", dht.ErrInvalid, field, truncate(k))
			}
		}
		if len(v) > maxLabelValue || !utf8.ValidString(v) {
			return fmt.Errorf("%w: %s: value of %q: UTF-8 of at most %d bytes", dht.ErrInvalid, field, k, maxLabelValue)
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("%w: %s: value of %q has control characters", dht.ErrInvalid, field, k)
			}
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
