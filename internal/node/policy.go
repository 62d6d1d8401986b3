package node

import (
	"fmt"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// eligible says whether this node would run spec at all.
func (n *Node) eligible(spec job.Spec) bool { return n.refusal(spec) == "" }

// refusal says why this node would not run spec, or "" if it would.
func (n *Node) refusal(spec job.Spec) string {
	switch {
	case !n.runs(spec.Engine):
		return fmt.Sprintf("this node runs no %s jobs", spec.Engine)
	case !job.Matches(spec.Selector, n.cfg.Labels):
		return "this node does not have the labels " + job.FormatLabels(spec.Selector)
	}
	return n.capacityRefusal(spec)
}

// capacityRefusal says why spec asks for more than this node could ever give it, or ""
// if it does not.
func (n *Node) capacityRefusal(spec job.Spec) string {
	if m := spec.EffectiveMemory(); m > n.cfg.Memory {
		return fmt.Sprintf("needs %s of memory; this node offers %s", job.FormatBytes(m), job.FormatBytes(n.cfg.Memory))
	}
	if o := spec.EffectiveOutputsLimit(); o > n.cfg.MaxOutputsLimit {
		return fmt.Sprintf("asks for up to %s of outputs; this node allows %s", job.FormatBytes(o), job.FormatBytes(n.cfg.MaxOutputsLimit))
	}
	return ""
}

// capacity is what this node offers, for heartbeats and `node list`.
func (n *Node) capacity() jobproto.Capacity {
	return jobproto.Capacity{Slots: n.cfg.Concurrency, Memory: n.cfg.Memory, MemoryFree: n.mem.Free()}
}
