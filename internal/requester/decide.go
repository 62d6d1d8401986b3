package requester

// The requester's decisions: which bids win, when a job's executions settle it and
// how, how many executions a job still needs, and which peers could never run it. They
// are pure functions of the job and what its peers said, tested without a requester.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Bid is a bid and the node that made it.
type Bid struct {
	Node peer.ID
	Bid  jobproto.Bid
}

// Rank orders bids best first: the bidder holds the module and inputs, then it
// has mem bytes free, then free slots, then a short queue, then self.
func Rank(bids []Bid, self peer.ID, mem uint64) {
	slices.SortStableFunc(bids, func(a, b Bid) int {
		if a.Bid.HasInputs != b.Bid.HasInputs {
			if a.Bid.HasInputs {
				return -1
			}
			return 1
		}
		// A node with the job's memory free starts it now; another makes it wait.
		if fa, fb := a.Bid.MemoryFree >= mem, b.Bid.MemoryFree >= mem; fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.Bid.FreeSlots, a.Bid.FreeSlots); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Bid.Queued, b.Bid.Queued); c != 0 {
			return c
		}
		if (a.Node == self) != (b.Node == self) {
			if a.Node == self {
				return -1
			}
			return 1
		}
		return 0
	})
}

// Settle ends the job once Wanted(j) executions have ended: with their common outcome
// when their result CIDs and states agree, as failed naming the dissenting nodes when
// they do not.
func Settle(j *job.Job, now time.Time) error {
	var done []*job.Execution
	for i := range j.Executions {
		if e := &j.Executions[i]; e.State.Terminal() && !e.Lost {
			done = append(done, e)
		}
	}
	want := Wanted(j)
	if len(done) < want {
		return nil
	}
	done = done[:want]
	first := done[0]
	agree, sameState := true, true
	for _, e := range done[1:] {
		if e.ResultCID != first.ResultCID {
			agree = false
		}
		if e.State != first.State {
			sameState = false
		}
	}
	if j.State == job.StatePending {
		if err := j.Transition(job.StateRunning, "", now); err != nil {
			return err
		}
	}
	switch {
	case agree && !sameState:
		// One result, told as two outcomes: the result holds the exit code, so an
		// honest node cannot report it as both. Nothing is verified.
		var parts []string
		for _, e := range done {
			parts = append(parts, fmt.Sprintf("%s from %s", e.State, e.NodeID))
		}
		return j.Transition(job.StateFailed, fmt.Sprintf("verification failed: nodes returned result %s but disagree on its state (%s)",
			first.ResultCID, strings.Join(parts, "; ")), now)
	case agree && first.State == job.StateCompleted && first.ResultCID.Defined():
		msg := ""
		if want > 1 {
			msg = fmt.Sprintf("verified: %d nodes returned result %s", want, first.ResultCID)
		}
		return j.Transition(job.StateCompleted, msg, now)
	case agree:
		reason := first.Error
		if reason == "" {
			reason = "execution " + string(first.State)
		}
		return j.Transition(job.StateFailed, reason, now)
	}
	groups := map[string][]string{}
	var order []string
	for _, e := range done {
		c := e.ResultCID.String() // "" for no result
		if _, ok := groups[c]; !ok {
			order = append(order, c)
		}
		groups[c] = append(groups[c], e.NodeID)
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(len(groups[b]), len(groups[a])) })
	majority := len(order) == 1 || len(groups[order[0]]) > len(groups[order[1]])
	var parts, dissent []string
	for i, c := range order {
		name := c
		if name == "" {
			name = "no result"
		}
		parts = append(parts, fmt.Sprintf("%s from %s", name, strings.Join(groups[c], ", ")))
		if i > 0 || !majority {
			dissent = append(dissent, groups[c]...)
		}
	}
	return j.Transition(job.StateFailed, fmt.Sprintf("verification failed: result CIDs disagree (%s); dissenting nodes: %s",
		strings.Join(parts, "; "), strings.Join(dissent, ", ")), now)
}

// RemoteLive reports whether an execution of j is under way on a node other than self.
func RemoteLive(j *job.Job, self string) bool {
	for _, e := range j.Executions {
		if !e.Lost && !e.State.Terminal() && e.NodeID != self {
			return true
		}
	}
	return false
}

// Wanted is how many executions must end for the job to settle: its Verify, at least 1.
func Wanted(j *job.Job) int { return max(1, j.Spec.Verify) }

// Tally counts the executions under way and those that ended with an outcome.
func Tally(j *job.Job) (live, done int) {
	for _, e := range j.Executions {
		switch {
		case e.Lost:
		case e.State.Terminal():
			done++
		default:
			live++
		}
	}
	return live, done
}

// PeerRefusal says why a node whose heartbeat says c could never run spec, or "" if it
// could as far as its heartbeat tells (a node of an earlier version offers 0 bytes of
// memory, which means unknown).
func PeerRefusal(spec job.Spec, node string, c jobproto.Capacity) string {
	if m := spec.EffectiveMemory(); c.Memory > 0 && m > c.Memory {
		return fmt.Sprintf("needs %s of memory; node %s offers %s", job.FormatBytes(m), node, job.FormatBytes(c.Memory))
	}
	return ""
}
