package requester

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Unit tests of the requester's pure decisions: how bids rank and how a job's
// executions settle it.

// rankedNodes is the nodes of bids, in order.
func rankedNodes(bids []Bid) []peer.ID {
	out := make([]peer.ID, len(bids))
	for i, b := range bids {
		out[i] = b.Node
	}
	return out
}

func TestRankBidsUnit(t *testing.T) {
	const mem = 256 << 20
	bf := func(node string, b jobproto.Bid) Bid { return Bid{Node: peer.ID(node), Bid: b} }
	tests := []struct {
		name string
		self peer.ID
		mem  uint64
		in   []Bid
		want []peer.ID
	}{
		{
			name: "holding the inputs beats free memory, slots, queue and self",
			self: "self",
			mem:  mem,
			in: []Bid{
				bf("self", jobproto.Bid{FreeSlots: 8, MemoryFree: 1 << 30}),
				bf("busy", jobproto.Bid{HasInputs: true, FreeSlots: 0, Queued: 9, MemoryFree: 0}),
			},
			want: []peer.ID{"busy", "self"},
		},
		{
			name: "the job's memory free beats more free slots and a shorter queue",
			mem:  mem,
			in: []Bid{
				bf("slots", jobproto.Bid{FreeSlots: 8, MemoryFree: mem - 1}),
				bf("mem", jobproto.Bid{FreeSlots: 0, Queued: 5, MemoryFree: mem}),
			},
			want: []peer.ID{"mem", "slots"},
		},
		{
			name: "exactly the job's memory free counts as free",
			mem:  mem,
			in: []Bid{
				bf("short", jobproto.Bid{FreeSlots: 1, MemoryFree: mem - 1}),
				bf("exact", jobproto.Bid{FreeSlots: 1, MemoryFree: mem}),
			},
			want: []peer.ID{"exact", "short"},
		},
		{
			name: "more memory than the job needs is no better than enough",
			mem:  mem,
			in: []Bid{
				bf("enough", jobproto.Bid{FreeSlots: 2, MemoryFree: mem}),
				bf("plenty", jobproto.Bid{FreeSlots: 1, MemoryFree: 4 << 30}),
			},
			want: []peer.ID{"enough", "plenty"},
		},
		{
			name: "more free slots first",
			mem:  mem,
			in: []Bid{
				bf("one", jobproto.Bid{FreeSlots: 1, MemoryFree: mem}),
				bf("three", jobproto.Bid{FreeSlots: 3, MemoryFree: mem}),
				bf("two", jobproto.Bid{FreeSlots: 2, MemoryFree: mem}),
			},
			want: []peer.ID{"three", "two", "one"},
		},
		{
			name: "equal slots: the shorter queue first",
			mem:  mem,
			in: []Bid{
				bf("q5", jobproto.Bid{Queued: 5, MemoryFree: mem}),
				bf("q0", jobproto.Bid{Queued: 0, MemoryFree: mem}),
				bf("q2", jobproto.Bid{Queued: 2, MemoryFree: mem}),
			},
			want: []peer.ID{"q0", "q2", "q5"},
		},
		{
			name: "free slots outrank the queue",
			mem:  mem,
			in: []Bid{
				bf("idle-queue", jobproto.Bid{FreeSlots: 0, Queued: 0, MemoryFree: mem}),
				bf("slot-queue", jobproto.Bid{FreeSlots: 1, Queued: 7, MemoryFree: mem}),
			},
			want: []peer.ID{"slot-queue", "idle-queue"},
		},
		{
			name: "all else equal, self first wherever it is",
			self: "me",
			mem:  mem,
			in: []Bid{
				bf("x", jobproto.Bid{FreeSlots: 1, MemoryFree: mem}),
				bf("y", jobproto.Bid{FreeSlots: 1, MemoryFree: mem}),
				bf("me", jobproto.Bid{FreeSlots: 1, MemoryFree: mem}),
			},
			want: []peer.ID{"me", "x", "y"},
		},
		{
			name: "self is only the last tie-breaker",
			self: "me",
			mem:  mem,
			in: []Bid{
				bf("me", jobproto.Bid{FreeSlots: 1, Queued: 1, MemoryFree: mem}),
				bf("x", jobproto.Bid{FreeSlots: 1, Queued: 0, MemoryFree: mem}),
			},
			want: []peer.ID{"x", "me"},
		},
		{
			name: "ties keep the order the bids came in",
			mem:  mem,
			in: []Bid{
				bf("c", jobproto.Bid{FreeSlots: 1, MemoryFree: mem}),
				bf("a", jobproto.Bid{FreeSlots: 1, MemoryFree: mem}),
				bf("d", jobproto.Bid{FreeSlots: 2, MemoryFree: mem}),
				bf("b", jobproto.Bid{FreeSlots: 1, MemoryFree: mem}),
			},
			want: []peer.ID{"d", "c", "a", "b"},
		},
		{
			// A node of an earlier version sends no MemoryFree (0): it ranks as one
			// known to lack the memory, behind one known to have it, and among those
			// lacking it by slots and queue.
			name: "no MemoryFree (an earlier version) ranks as lacking the memory",
			mem:  mem,
			in: []Bid{
				bf("old", jobproto.Bid{FreeSlots: 4}),
				bf("lacks", jobproto.Bid{FreeSlots: 1, MemoryFree: mem / 2}),
				bf("has", jobproto.Bid{FreeSlots: 0, MemoryFree: mem}),
			},
			want: []peer.ID{"has", "old", "lacks"},
		},
		{
			name: "a job needing no memory: every bidder has it free",
			mem:  0,
			in: []Bid{
				bf("old", jobproto.Bid{FreeSlots: 2}),
				bf("new", jobproto.Bid{FreeSlots: 1, MemoryFree: 1 << 30}),
			},
			want: []peer.ID{"old", "new"},
		},
		{
			name: "all criteria at once",
			self: "me",
			mem:  mem,
			in: []Bid{
				bf("nomem", jobproto.Bid{FreeSlots: 9, MemoryFree: 1}),
				bf("me", jobproto.Bid{FreeSlots: 1, Queued: 1, MemoryFree: mem}),
				bf("q1", jobproto.Bid{FreeSlots: 1, Queued: 1, MemoryFree: mem}),
				bf("inputs-nomem", jobproto.Bid{HasInputs: true, MemoryFree: 0}),
				bf("q0", jobproto.Bid{FreeSlots: 1, Queued: 0, MemoryFree: mem}),
				bf("inputs", jobproto.Bid{HasInputs: true, MemoryFree: mem}),
				bf("slots", jobproto.Bid{FreeSlots: 2, Queued: 3, MemoryFree: mem}),
			},
			want: []peer.ID{"inputs", "inputs-nomem", "slots", "q0", "me", "q1", "nomem"},
		},
		{name: "no bids", in: nil, want: []peer.ID{}},
		{name: "one bid", in: []Bid{bf("a", jobproto.Bid{})}, want: []peer.ID{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bids := slices.Clone(tc.in)
			Rank(bids, tc.self, tc.mem)
			if got := rankedNodes(bids); !slices.Equal(got, tc.want) {
				t.Fatalf("ranked %v, want %v", got, tc.want)
			}
			// Ranking reorders; it changes no bid.
			for _, b := range bids {
				i := slices.IndexFunc(tc.in, func(x Bid) bool { return x.Node == b.Node })
				if i < 0 || tc.in[i].Bid != b.Bid {
					t.Fatalf("bid of %s changed: %+v", b.Node, b.Bid)
				}
			}
		})
	}
}

// TestRankBidsOrderIndependent: bids that differ in some criterion rank the same
// whatever order they arrive in.
func TestRankBidsOrderIndependent(t *testing.T) {
	const mem = 100
	base := []Bid{
		{Node: "a", Bid: jobproto.Bid{HasInputs: true, MemoryFree: mem}},
		{Node: "b", Bid: jobproto.Bid{HasInputs: true}},
		{Node: "c", Bid: jobproto.Bid{FreeSlots: 3, MemoryFree: mem}},
		{Node: "d", Bid: jobproto.Bid{FreeSlots: 1, MemoryFree: mem}},
		{Node: "e", Bid: jobproto.Bid{FreeSlots: 1, Queued: 2, MemoryFree: mem}},
		{Node: "self", Bid: jobproto.Bid{FreeSlots: 1, Queued: 4, MemoryFree: mem}},
		{Node: "f", Bid: jobproto.Bid{FreeSlots: 1, Queued: 4, MemoryFree: mem}},
		{Node: "g", Bid: jobproto.Bid{FreeSlots: 5}},
	}
	want := []peer.ID{"a", "b", "c", "d", "e", "self", "f", "g"}
	seen := 0
	var permute func(k int, bids []Bid)
	permute = func(k int, bids []Bid) {
		if k == len(bids) {
			seen++
			got := slices.Clone(bids)
			Rank(got, "self", mem)
			if !slices.Equal(rankedNodes(got), want) {
				t.Fatalf("from %v: ranked %v, want %v", rankedNodes(bids), rankedNodes(got), want)
			}
			return
		}
		for i := k; i < len(bids); i++ {
			bids[k], bids[i] = bids[i], bids[k]
			permute(k+1, bids)
			bids[k], bids[i] = bids[i], bids[k]
		}
	}
	permute(0, slices.Clone(base))
	if seen != 40320 {
		t.Fatalf("%d permutations tried", seen)
	}
}

// settleJob is a running job asking for verify executions, with ex as its executions.
func settleJob(verify int, ex ...job.Execution) *job.Job {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	return &job.Job{
		ID:         "j-00000000-0000-4000-8000-000000000001",
		Spec:       job.Spec{Engine: job.EngineWasm, Verify: verify},
		State:      job.StateRunning,
		CreatedAt:  t0,
		UpdatedAt:  t0,
		History:    []job.Event{{Time: t0, State: job.StatePending, Message: "job submitted"}, {Time: t0, State: job.StateRunning, Message: "running on node A"}},
		Executions: ex,
	}
}

// execOn is an execution on node with state st, the result CID a placeholder stands for
// (resultCID; "" for none), and error text.
func execOn(node string, st job.State, result, errText string) job.Execution {
	return job.Execution{ID: "e-" + node, NodeID: node, State: st, ResultCID: resultCID(result), Error: errText}
}

// lostOn is an execution on node given up by the requester.
func lostOn(node string) job.Execution {
	e := execOn(node, job.StateFailed, "", "node "+node+" silent for 10s")
	e.Lost = true
	return e
}

func TestSettleUnit(t *testing.T) {
	var (
		done      = job.StateCompleted
		failed    = job.StateFailed
		cancelled = job.StateCancelled
		running   = job.StateRunning
		pending   = job.StatePending
	)
	tests := []struct {
		name    string
		verify  int
		pending bool // the job is pending, not running
		ex      []job.Execution
		// want: "" means the job does not settle (state and history unchanged).
		want   job.State
		reason string
		// msg is the message of the job's last history event, when it settles.
		msg string
	}{
		{name: "no executions", ex: nil},
		{name: "one running", ex: []job.Execution{execOn("A", running, "", "")}},
		{name: "one pending", ex: []job.Execution{execOn("A", pending, "", "")}},
		{name: "one lost", ex: []job.Execution{lostOn("A")}},
		{name: "lost ones are not outcomes", ex: []job.Execution{lostOn("A"), lostOn("B"), execOn("C", running, "", "")}},
		{
			name: "one completed with a result",
			ex:   []job.Execution{execOn("A", done, "bafyX", "")},
			want: done, msg: "job completed",
		},
		{
			name: "verify 1 is verify 0", verify: 1,
			ex:   []job.Execution{execOn("A", done, "bafyX", "")},
			want: done, msg: "job completed",
		},
		{
			name: "a negative verify wants one", verify: -3,
			ex:   []job.Execution{execOn("A", done, "bafyX", "")},
			want: done, msg: "job completed",
		},
		{
			name: "completed after a lost one",
			ex:   []job.Execution{lostOn("A"), execOn("B", done, "bafyX", "")},
			want: done, msg: "job completed",
		},
		{
			name: "a pending job completes through running", pending: true,
			ex:   []job.Execution{execOn("A", done, "bafyX", "")},
			want: done, msg: "job completed",
		},
		{
			name: "a pending job fails", pending: true,
			ex:   []job.Execution{execOn("A", failed, "", "boom")},
			want: failed, reason: "boom", msg: "boom",
		},
		{
			name: "one failed with its error",
			ex:   []job.Execution{execOn("A", failed, "bafyX", "exit code 3")},
			want: failed, reason: "exit code 3", msg: "exit code 3",
		},
		{
			name: "one failed without an error",
			ex:   []job.Execution{execOn("A", failed, "", "")},
			want: failed, reason: "execution failed", msg: "execution failed",
		},
		{
			name: "one cancelled (not given up) with its error",
			ex:   []job.Execution{execOn("A", cancelled, "", "cancelled by the user")},
			want: failed, reason: "cancelled by the user", msg: "cancelled by the user",
		},
		{
			name: "one cancelled without an error",
			ex:   []job.Execution{execOn("A", cancelled, "", "")},
			want: failed, reason: "execution cancelled", msg: "execution cancelled",
		},
		{
			// A completed execution with no result (no honest node reports one) is no
			// outcome to complete with.
			name: "one completed without a result",
			ex:   []job.Execution{execOn("A", done, "", "")},
			want: failed, reason: "execution completed", msg: "execution completed",
		},
		{
			name: "verify 2, one of two ended", verify: 2,
			ex: []job.Execution{execOn("A", done, "bafyX", ""), execOn("B", running, "", "")},
		},
		{
			name: "verify 2, one ended and one lost", verify: 2,
			ex: []job.Execution{execOn("A", done, "bafyX", ""), lostOn("B")},
		},
		{
			name: "verify 3, two of three agree so far", verify: 3,
			ex: []job.Execution{execOn("A", done, "bafyX", ""), execOn("B", done, "bafyX", ""), execOn("C", pending, "", "")},
		},
		{
			name: "verify 2, agreeing results", verify: 2,
			ex:   []job.Execution{execOn("A", done, "bafyX", ""), execOn("B", done, "bafyX", "")},
			want: done, msg: "verified: 2 nodes returned result bafyX",
		},
		{
			name: "verify 3, agreeing results around a lost one", verify: 3,
			ex:   []job.Execution{execOn("A", done, "bafyX", ""), lostOn("B"), execOn("C", done, "bafyX", ""), execOn("D", done, "bafyX", "")},
			want: done, msg: "verified: 3 nodes returned result bafyX",
		},
		{
			name: "verify 2, agreeing failures take the first's error", verify: 2,
			ex:   []job.Execution{execOn("A", failed, "bafyF", "exit code 1"), execOn("B", failed, "bafyF", "exit code one")},
			want: failed, reason: "exit code 1", msg: "exit code 1",
		},
		{
			name: "verify 2, two failures without a result", verify: 2,
			ex:   []job.Execution{execOn("A", failed, "", "module not found"), execOn("B", failed, "", "")},
			want: failed, reason: "module not found", msg: "module not found",
		},
		{
			name: "verify 2, disagreeing results", verify: 2,
			ex:     []job.Execution{execOn("A", done, "bafyX", ""), execOn("B", done, "bafyY", "")},
			want:   failed,
			reason: "verification failed: result CIDs disagree (bafyX from A; bafyY from B); dissenting nodes: A, B",
		},
		{
			name: "verify 2, a result and a failure without one", verify: 2,
			ex:     []job.Execution{execOn("A", done, "bafyX", ""), execOn("B", failed, "", "trap: unreachable")},
			want:   failed,
			reason: "verification failed: result CIDs disagree (bafyX from A; no result from B); dissenting nodes: A, B",
		},
		{
			name: "verify 3, a majority names the dissenter", verify: 3,
			ex:     []job.Execution{execOn("A", done, "bafyX", ""), execOn("B", done, "bafyX", ""), execOn("C", done, "bafyY", "")},
			want:   failed,
			reason: "verification failed: result CIDs disagree (bafyX from A, B; bafyY from C); dissenting nodes: C",
		},
		{
			name: "verify 3, the majority comes first whatever the order", verify: 3,
			ex:     []job.Execution{execOn("A", done, "bafyY", ""), execOn("B", done, "bafyX", ""), execOn("C", done, "bafyX", "")},
			want:   failed,
			reason: "verification failed: result CIDs disagree (bafyX from B, C; bafyY from A); dissenting nodes: A",
		},
		{
			name: "verify 3, all disagree", verify: 3,
			ex:     []job.Execution{execOn("A", done, "bafyX", ""), execOn("B", done, "bafyY", ""), execOn("C", failed, "", "oops")},
			want:   failed,
			reason: "verification failed: result CIDs disagree (bafyX from A; bafyY from B; no result from C); dissenting nodes: A, B, C",
		},
		{
			name: "verify 4, a tie has no majority", verify: 4,
			ex: []job.Execution{execOn("A", done, "bafyX", ""), execOn("B", done, "bafyY", ""),
				execOn("C", done, "bafyY", ""), execOn("D", done, "bafyX", "")},
			want:   failed,
			reason: "verification failed: result CIDs disagree (bafyX from A, D; bafyY from B, C); dissenting nodes: A, D, B, C",
		},
		{
			name: "verify 2, a lost execution's result does not count", verify: 2,
			ex: []job.Execution{execOn("A", done, "bafyX", ""),
				func() job.Execution { e := execOn("B", done, "bafyY", ""); e.Lost = true; return e }(),
				execOn("C", done, "bafyX", "")},
			want: done, msg: "verified: 2 nodes returned result bafyX",
		},
		{
			name: "verify 2, only the first two that ended count", verify: 2,
			ex:   []job.Execution{execOn("A", done, "bafyX", ""), execOn("B", done, "bafyX", ""), execOn("C", done, "bafyY", "")},
			want: done, msg: "verified: 2 nodes returned result bafyX",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := settleJob(tc.verify, slices.Clone(tc.ex)...)
			if tc.pending {
				j.State = job.StatePending
				j.History = j.History[:1]
			}
			before := cloneJob(j)
			now := before.UpdatedAt.Add(time.Hour)
			if err := Settle(j, now); err != nil {
				t.Fatalf("settle: %v", err)
			}
			if !reflect.DeepEqual(j.Executions, before.Executions) {
				t.Fatalf("settle changed the executions: %+v, was %+v", j.Executions, before.Executions)
			}
			if tc.want == "" {
				if !reflect.DeepEqual(j, before) {
					t.Fatalf("settled (%s %q) with too few outcomes; history %+v", j.State, j.Reason, j.History)
				}
				return
			}
			if reason := withCIDs(tc.reason); j.State != tc.want || j.Reason != reason {
				t.Fatalf("%s %q, want %s %q", j.State, j.Reason, tc.want, reason)
			}
			if !j.UpdatedAt.Equal(now) {
				t.Fatalf("UpdatedAt %s, want %s", j.UpdatedAt, now)
			}
			added := j.History[len(before.History):]
			wantStates := []job.State{tc.want}
			if tc.pending {
				wantStates = []job.State{job.StateRunning, tc.want}
			}
			if len(added) != len(wantStates) {
				t.Fatalf("history gained %+v, want %d events", added, len(wantStates))
			}
			for i, ev := range added {
				if ev.State != wantStates[i] || !ev.Time.Equal(now) {
					t.Fatalf("event %d: %+v, want state %s at %s", i, ev, wantStates[i], now)
				}
			}
			msg := tc.msg
			if msg == "" {
				msg = tc.reason
			}
			if last := added[len(added)-1].Message; last != withCIDs(msg) {
				t.Fatalf("last event %q, want %q", last, msg)
			}
		})
	}
}

// TestSettleTerminal: a job that has ended already is not changed by settle, which
// says why.
func TestSettleTerminal(t *testing.T) {
	for _, st := range []job.State{job.StateCompleted, job.StateFailed, job.StateCancelled} {
		j := settleJob(1, execOn("A", job.StateCompleted, "bafyX", ""))
		j.State, j.Reason = st, "ended before"
		before := cloneJob(j)
		err := Settle(j, before.UpdatedAt.Add(time.Minute))
		if !errors.Is(err, job.ErrTransition) {
			t.Fatalf("%s: settle returned %v, want ErrTransition", st, err)
		}
		if !reflect.DeepEqual(j, before) {
			t.Fatalf("%s: settle changed an ended job: %+v", st, j)
		}
	}
}

// TestSettleManyNodes: the reason of a failed verification names every node of every
// result, the largest group first.
func TestSettleManyNodes(t *testing.T) {
	var ex []job.Execution
	cids := []string{"bafyA", "bafyB", "bafyB", "bafyC", "bafyB", "bafyA"}
	for i, c := range cids {
		ex = append(ex, execOn(fmt.Sprintf("N%d", i), job.StateCompleted, c, ""))
	}
	j := settleJob(len(cids), ex...)
	if err := Settle(j, time.Now()); err != nil {
		t.Fatal(err)
	}
	const want = "verification failed: result CIDs disagree (bafyB from N1, N2, N4; bafyA from N0, N5; bafyC from N3); dissenting nodes: N0, N5, N3"
	if j.State != job.StateFailed || j.Reason != withCIDs(want) {
		t.Fatalf("%s %q\nwant %q", j.State, j.Reason, withCIDs(want))
	}
}

func cloneJob(j *job.Job) *job.Job {
	c := *j
	c.History = slices.Clone(j.History)
	c.Executions = slices.Clone(j.Executions)
	return &c
}

func TestTallyWantedRemoteLive(t *testing.T) {
	const self = "SELF"
	onSelf := func(st job.State) job.Execution { return execOn(self, st, "", "") }
	tests := []struct {
		name       string
		verify     int
		ex         []job.Execution
		live, done int
		wanted     int
		remote     bool
	}{
		{name: "none", wanted: 1},
		{name: "verify 3", verify: 3, wanted: 3},
		{name: "negative verify", verify: -1, wanted: 1},
		{name: "pending remote", ex: []job.Execution{execOn("A", job.StatePending, "", "")}, live: 1, wanted: 1, remote: true},
		{name: "running remote", ex: []job.Execution{execOn("A", job.StateRunning, "", "")}, live: 1, wanted: 1, remote: true},
		{name: "running here", ex: []job.Execution{onSelf(job.StateRunning), onSelf(job.StatePending)}, live: 2, wanted: 1},
		{name: "ended remote", verify: 2, wanted: 2, done: 3, ex: []job.Execution{
			execOn("A", job.StateCompleted, "x", ""), execOn("B", job.StateFailed, "", "e"), execOn("C", job.StateCancelled, "", "")}},
		{name: "lost ones count nowhere", ex: []job.Execution{lostOn("A"), lostOn("B"),
			func() job.Execution { e := execOn("C", job.StateRunning, "", ""); e.Lost = true; return e }()}, wanted: 1},
		{name: "a mix", verify: 4, wanted: 4, live: 3, done: 2, remote: true, ex: []job.Execution{
			onSelf(job.StateRunning), lostOn("A"), execOn("B", job.StateCompleted, "x", ""), execOn("C", job.StatePending, "", ""),
			onSelf(job.StateFailed), onSelf(job.StatePending)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := settleJob(tc.verify, tc.ex...)
			if live, done := Tally(j); live != tc.live || done != tc.done {
				t.Errorf("tally = %d live, %d done; want %d, %d", live, done, tc.live, tc.done)
			}
			if w := Wanted(j); w != tc.wanted {
				t.Errorf("wanted = %d, want %d", w, tc.wanted)
			}
			if r := RemoteLive(j, self); r != tc.remote {
				t.Errorf("remoteLive = %v, want %v", r, tc.remote)
			}
		})
	}
}

// TestRankBidsPrefersFreeMemory: among bidders that hold the inputs alike, one with the
// job's memory free comes before one with more free slots but not the memory.
func TestRankBidsPrefersFreeMemory(t *testing.T) {
	a, b, c := peer.ID("a"), peer.ID("b"), peer.ID("c")
	bids := []Bid{
		{Node: a, Bid: jobproto.Bid{FreeSlots: 4, MemoryFree: 100 << 20}},
		{Node: b, Bid: jobproto.Bid{FreeSlots: 1, MemoryFree: 512 << 20}},
		{Node: c, Bid: jobproto.Bid{FreeSlots: 0, MemoryFree: 0, HasInputs: true}},
	}
	Rank(bids, a, 256<<20)
	if got := []peer.ID{bids[0].Node, bids[1].Node, bids[2].Node}; got[0] != c || got[1] != b || got[2] != a {
		t.Fatalf("ranked %v, want c (holds the inputs), b (memory free), a", got)
	}
}

// TestSettleSameResultDifferentStates: a node that reports the result the others
// returned with another state (completed where they failed) does not make the job pass
// verification, whichever report comes first.
func TestSettleSameResultDifferentStates(t *testing.T) {
	const cid = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
	for _, order := range [][]job.State{{job.StateCompleted, job.StateFailed}, {job.StateFailed, job.StateCompleted}} {
		j := &job.Job{ID: "j-1", State: job.StateRunning, Spec: job.Spec{Verify: 2}}
		for i, st := range order {
			j.Executions = append(j.Executions, job.Execution{ID: fmt.Sprintf("e-%d", i), NodeID: fmt.Sprintf("n%d", i), State: st, ResultCID: cidtext.MustParse(cid)})
		}
		if err := Settle(j, time.Unix(100, 0)); err != nil {
			t.Fatal(err)
		}
		if j.State != job.StateFailed || !strings.Contains(j.Reason, "disagree on its state") {
			t.Errorf("%v: job %s (%q), want failed: the states disagree", order, j.State, j.Reason)
		}
	}
}
