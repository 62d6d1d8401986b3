package requester

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Unit tests of how the requester records what compute nodes report (Apply), gives
// executions up (markLost) and records why a job waits (waiting, queueTimedOut), on a
// requester without a network whose clock the test sets.

var (
	nodeA = peer.ID("node-a")
	nodeB = peer.ID("node-b")
	nodeC = peer.ID("node-c")
)

// ownJob stores a job n owns, asking for verify executions, as the requester leaves it
// once it accepted bids: pending, with one pending execution on each of nodes. It
// returns the job's ID and its executions' IDs.
func ownJob(t *testing.T, n *Requester, clk *fakeClock, verify int, nodes ...peer.ID) (string, []string) {
	t.Helper()
	now := clk.now()
	j := job.New(job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkqaaa")}, Verify: verify}, now)
	j.Requester, j.Rev = n.id, 1
	var ids []string
	for k, p := range nodes {
		id := ExecutionID(j.ID, k+1)
		ids = append(ids, id)
		j.Executions = append(j.Executions, job.Execution{ID: id, NodeID: p.String(), State: job.StatePending, StartedAt: now})
	}
	j.UpdateQueueClock(now)
	if err := n.jobs.Create(j); err != nil {
		t.Fatal(err)
	}
	return j.ID, ids
}

func getJob(t *testing.T, n *Requester, id string) *job.Job {
	t.Helper()
	j, err := n.jobs.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func lastMessage(j *job.Job) string { return j.History[len(j.History)-1].Message }

// logged reports whether j's history has an event with message msg.
func logged(j *job.Job, msg string) bool {
	return slices.ContainsFunc(j.History, func(e job.Event) bool { return e.Message == msg })
}

func execUpdate(jobID, execID string, e job.Execution) *jobproto.ExecutionUpdate {
	return &jobproto.ExecutionUpdate{JobID: jobID, ExecutionID: execID, Execution: e}
}

// TestApplyUpdateRefusals: updates that are not the sender's to make, or come too late,
// are refused and change nothing.
func TestApplyUpdateRefusals(t *testing.T) {
	clk := &fakeClock{t: time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)}
	n := requesterNode(t, clk)
	id, ex := ownJob(t, n, clk, 1, nodeA, nodeB)
	n.markLost(id, map[string]string{ex[1]: "node silent"})
	running := job.Execution{State: job.StateRunning}
	done := job.Execution{State: job.StateCompleted, ResultCID: resultCID("bafyX")}

	before := getJob(t, n, id)
	for _, tc := range []struct {
		name    string
		from    peer.ID
		u       *jobproto.ExecutionUpdate
		givenUp bool
		text    string
	}{
		{name: "an unknown execution", from: nodeA, u: execUpdate(id, ExecutionID(id, 9), done), givenUp: true, text: "no execution " + ExecutionID(id, 9)},
		{name: "another node's execution", from: nodeB, u: execUpdate(id, ex[0], done), text: "belongs to another node"},
		{name: "a given-up execution", from: nodeB, u: execUpdate(id, ex[1], running), givenUp: true},
		{name: "a given-up execution's result", from: nodeB, u: execUpdate(id, ex[1], done), givenUp: true},
	} {
		err := n.Apply(tc.from, tc.u)
		if err == nil || errors.Is(err, errGivenUp) != tc.givenUp || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v (given up %v, with %q)", tc.name, err, tc.givenUp, tc.text)
		}
	}
	if after := getJob(t, n, id); after.Rev != before.Rev {
		t.Fatalf("refused updates changed the job: rev %d -> %d, history %+v", before.Rev, after.Rev, after.History)
	}

	// A job another node owns is not this node's to update.
	other, oex := ownJob(t, n, clk, 1, nodeA)
	if _, err := n.jobs.Update(other, func(j *job.Job) error { j.Requester = nodeC.String(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := n.Apply(nodeA, execUpdate(other, oex[0], done)); err == nil || !strings.Contains(err.Error(), "not this node's to update") {
		t.Fatalf("an update of another node's job: %v", err)
	}

	// An ended job takes no more updates.
	if err := n.Apply(nodeA, execUpdate(id, ex[0], done)); err != nil {
		t.Fatal(err)
	}
	if err := n.Apply(nodeA, execUpdate(id, ex[0], done)); !errors.Is(err, errGivenUp) {
		t.Fatalf("a second result: %v", err)
	}
}

// TestApplyUpdateLifecycle: a fetching phase, running, and a result settle a job of
// one execution, every change at the clock's time.
func TestApplyUpdateLifecycle(t *testing.T) {
	clk := &fakeClock{t: time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)}
	n := requesterNode(t, clk)
	id, ex := ownJob(t, n, clk, 1, nodeA)
	// Fetching: the phase and the note.
	t1 := clk.advance(time.Second)
	u := execUpdate(id, ex[0], job.Execution{State: job.StatePending, Phase: job.PhaseFetching})
	u.Note = "fetching module bafkqaaa"
	if err := n.Apply(nodeA, u); err != nil {
		t.Fatal(err)
	}
	j := getJob(t, n, id)
	if e := j.Executions[0]; e.Phase != job.PhaseFetching || e.State != job.StatePending {
		t.Fatalf("while fetching: %+v", e)
	}
	if h := j.History[len(j.History)-1]; h.Message != "node "+nodeA.String()+" fetching module bafkqaaa" || !h.Time.Equal(t1) {
		t.Fatalf("note: %+v", h)
	}
	// A pending update without a phase says nothing new.
	if err := n.Apply(nodeA, execUpdate(id, ex[0], job.Execution{State: job.StatePending})); !errors.Is(err, ErrUnchanged) {
		t.Fatalf("a pending update without a phase: %v", err)
	}

	// Running: the job runs, from the node's start time.
	clk.advance(time.Second)
	started := clk.now().Add(-300 * time.Millisecond) // the node's clock
	if err := n.Apply(nodeA, execUpdate(id, ex[0], job.Execution{State: job.StateRunning, StartedAt: started})); err != nil {
		t.Fatal(err)
	}
	j = getJob(t, n, id)
	if e := j.Executions[0]; e.State != job.StateRunning || e.Phase != "" || !e.StartedAt.Equal(started) {
		t.Fatalf("running: %+v", e)
	}
	if j.State != job.StateRunning || lastMessage(j) != "running on node "+nodeA.String() {
		t.Fatalf("job %s, %q", j.State, lastMessage(j))
	}
	// A phase once running changes nothing.
	if err := n.Apply(nodeA, execUpdate(id, ex[0], job.Execution{State: job.StatePending, Phase: job.PhaseQueued})); !errors.Is(err, ErrUnchanged) {
		t.Fatalf("a phase after running: %v", err)
	}

	// The result, under another ID and node than the execution's: the execution keeps
	// its own; an end time the node gave is kept.
	clk.advance(time.Second)
	ended := clk.now().Add(-time.Millisecond)
	code := 0
	res := job.Execution{ID: "e-forged", NodeID: nodeC.String(), State: job.StateCompleted, ResultCID: resultCID("bafyX"), ExitCode: &code, EndedAt: ended, Stdout: "hi\n"}
	if err := n.Apply(nodeA, execUpdate(id, ex[0], res)); err != nil {
		t.Fatal(err)
	}
	j = getJob(t, n, id)
	e := j.Executions[0]
	if e.ID != ex[0] || e.NodeID != nodeA.String() || e.State != job.StateCompleted || e.ResultCID != resultCID("bafyX") || !e.EndedAt.Equal(ended) || e.Stdout != "hi\n" {
		t.Fatalf("the execution after its result: %+v", e)
	}
	if j.State != job.StateCompleted || !j.UpdatedAt.Equal(clk.now()) {
		t.Fatalf("job %s, updated %s (now %s)", j.State, j.UpdatedAt, clk.now())
	}
	want := []string{"execution " + ex[0] + " on node " + nodeA.String() + " completed, result " + resultCID("bafyX").String(), "job completed"}
	if got := []string{j.History[len(j.History)-2].Message, lastMessage(j)}; got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("history ends %q, want %q", got, want)
	}
}

// TestApplyUpdateEnds: how an execution's end settles its job, or schedules it again.
func TestApplyUpdateEnds(t *testing.T) {
	clk := &fakeClock{t: time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)}
	n := requesterNode(t, clk)

	t.Run("failed", func(t *testing.T) {
		id, ex := ownJob(t, n, clk, 1, nodeA)
		now := clk.advance(time.Second)
		if err := n.Apply(nodeA, execUpdate(id, ex[0], job.Execution{State: job.StateFailed, Error: "exit code 2", ResultCID: resultCID("bafyF")})); err != nil {
			t.Fatal(err)
		}
		j := getJob(t, n, id)
		if j.State != job.StateFailed || j.Reason != "exit code 2" || !j.Executions[0].EndedAt.Equal(now) {
			t.Fatalf("%s %q, ended %s", j.State, j.Reason, j.Executions[0].EndedAt)
		}
		if !logged(j, "execution "+ex[0]+" on node "+nodeA.String()+" failed, result "+resultCID("bafyF").String()+": exit code 2") {
			t.Fatalf("history %+v", j.History)
		}
	})

	t.Run("stopped by its node", func(t *testing.T) {
		id, ex := ownJob(t, n, clk, 1, nodeA)
		clk.advance(time.Second)
		if err := n.Apply(nodeA, execUpdate(id, ex[0], job.Execution{State: job.StateCancelled})); err != nil {
			t.Fatal(err)
		}
		j := getJob(t, n, id)
		e := j.Executions[0]
		if !e.Lost || e.State != job.StateFailed || e.Error != "stopped by its node" {
			t.Fatalf("a cancelled execution: %+v", e)
		}
		if j.State.Terminal() {
			t.Fatalf("the job ended (%s %q): it should be scheduled again", j.State, j.Reason)
		}
		if live, done := Tally(j); live != 0 || done != 0 {
			t.Fatalf("tally %d live, %d done", live, done)
		}
		if m := lastMessage(j); m != "execution "+ex[0]+" on node "+nodeA.String()+" failed: stopped by its node" {
			t.Fatalf("history %q", m)
		}
	})

	t.Run("verify 2", func(t *testing.T) {
		id, ex := ownJob(t, n, clk, 2, nodeA, nodeB)
		for i, p := range []peer.ID{nodeA, nodeB} {
			if err := n.Apply(p, execUpdate(id, ex[i], job.Execution{State: job.StateRunning})); err != nil {
				t.Fatal(err)
			}
		}
		if m := lastMessage(getJob(t, n, id)); m != "also running on node "+nodeB.String() {
			t.Fatalf("the second running: %q", m)
		}
		if err := n.Apply(nodeA, execUpdate(id, ex[0], job.Execution{State: job.StateCompleted, ResultCID: resultCID("bafyX")})); err != nil {
			t.Fatal(err)
		}
		if j := getJob(t, n, id); j.State != job.StateRunning {
			t.Fatalf("after one of two results: %s", j.State)
		}
		if err := n.Apply(nodeB, execUpdate(id, ex[1], job.Execution{State: job.StateCompleted, ResultCID: resultCID("bafyX")})); err != nil {
			t.Fatal(err)
		}
		if j := getJob(t, n, id); j.State != job.StateCompleted || lastMessage(j) != withCIDs("verified: 2 nodes returned result bafyX") {
			t.Fatalf("after two agreeing results: %s %q", j.State, lastMessage(j))
		}
	})

	t.Run("running again", func(t *testing.T) {
		id, ex := ownJob(t, n, clk, 1, nodeA)
		if err := n.Apply(nodeA, execUpdate(id, ex[0], job.Execution{State: job.StateRunning})); err != nil {
			t.Fatal(err)
		}
		n.markLost(id, map[string]string{ex[0]: "node silent"})
		// Scheduled again elsewhere, while the job is still running.
		if _, err := n.jobs.Update(id, func(j *job.Job) error {
			j.Executions = append(j.Executions, job.Execution{ID: ExecutionID(id, 2), NodeID: nodeB.String(), State: job.StatePending, StartedAt: clk.now()})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := n.Apply(nodeB, execUpdate(id, ExecutionID(id, 2), job.Execution{State: job.StateRunning})); err != nil {
			t.Fatal(err)
		}
		if m := lastMessage(getJob(t, n, id)); m != "running again, on node "+nodeB.String() {
			t.Fatalf("running elsewhere after a loss: %q", m)
		}
	})
}

// TestMarkLost: only the named executions that are under way are given up, each with
// its reason, at the clock's time.
func TestMarkLost(t *testing.T) {
	clk := &fakeClock{t: time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)}
	n := requesterNode(t, clk)
	id, ex := ownJob(t, n, clk, 3, nodeA, nodeB, nodeC)
	if err := n.Apply(nodeC, execUpdate(id, ex[2], job.Execution{State: job.StateCompleted, ResultCID: resultCID("bafyX")})); err != nil {
		t.Fatal(err)
	}
	rev := getJob(t, n, id).Rev
	now := clk.advance(time.Minute)
	n.markLost(id, map[string]string{ex[0]: "node A silent", ex[2]: "too late", "e-unknown": "?"})
	j := getJob(t, n, id)
	if j.Rev != rev+1 {
		t.Fatalf("rev %d -> %d, want one change", rev, j.Rev)
	}
	a, b, c := j.Executions[0], j.Executions[1], j.Executions[2]
	if !a.Lost || a.State != job.StateFailed || a.Error != "node A silent" || !a.EndedAt.Equal(now) {
		t.Fatalf("the execution given up: %+v", a)
	}
	if b.Lost || b.State != job.StatePending {
		t.Fatalf("an execution not named: %+v", b)
	}
	if c.Lost || c.State != job.StateCompleted {
		t.Fatalf("an ended execution named: %+v", c)
	}
	if m := lastMessage(j); m != "execution "+ex[0]+" given up: node A silent" {
		t.Fatalf("history %q", m)
	}
	// Nothing to give up: no change at all.
	n.markLost(id, map[string]string{ex[0]: "again", ex[2]: "again"})
	n.markLost(id, nil)
	if j2 := getJob(t, n, id); j2.Rev != j.Rev {
		t.Fatalf("giving up nothing changed the job: rev %d -> %d", j.Rev, j2.Rev)
	}
}

// TestWaitingAndQueueTimeout: why a job waits is recorded once per reason; a running
// job with nothing under way goes back to pending; the queue timeout names the last
// reason.
func TestWaitingAndQueueTimeout(t *testing.T) {
	clk := &fakeClock{t: time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)}
	n := requesterNode(t, clk)
	id, ex := ownJob(t, n, clk, 2, nodeA)

	// Running on A, waiting for one more node: logged, still running.
	if err := n.Apply(nodeA, execUpdate(id, ex[0], job.Execution{State: job.StateRunning})); err != nil {
		t.Fatal(err)
	}
	if err := n.waiting(id, 1, "only 1 node(s) bid"); err != nil {
		t.Fatal(err)
	}
	j := getJob(t, n, id)
	const msg = "waiting for 1 more node(s): only 1 node(s) bid"
	if j.State != job.StateRunning || lastMessage(j) != msg {
		t.Fatalf("%s %q", j.State, lastMessage(j))
	}
	if err := n.waiting(id, 1, "only 1 node(s) bid"); err != nil {
		t.Fatal(err)
	}
	if j2 := getJob(t, n, id); j2.Rev != j.Rev {
		t.Fatal("the same reason logged twice")
	}
	// Nothing under way any more: back to pending, with the reason.
	n.markLost(id, map[string]string{ex[0]: "node silent"})
	now := clk.advance(time.Second)
	if err := n.waiting(id, 2, "no node can run it"); err != nil {
		t.Fatal(err)
	}
	j = getJob(t, n, id)
	if h := j.History[len(j.History)-1]; j.State != job.StatePending || h.State != job.StatePending ||
		h.Message != "waiting for 2 more node(s): no node can run it" || !h.Time.Equal(now) {
		t.Fatalf("%s, last event %+v", j.State, h)
	}
	// A job with an execution under way does not time out in the queue.
	busy, bex := ownJob(t, n, clk, 1, nodeB)
	if err := n.queueTimedOut(busy); err != nil {
		t.Fatal(err)
	}
	if k := getJob(t, n, busy); k.State.Terminal() || k.Executions[0].ID != bex[0] || k.Rev != 1 {
		t.Fatalf("a job with a live execution timed out: %s %q, rev %d", k.State, k.Reason, k.Rev)
	}
	// The queue timeout fails it with the last reason it waited for.
	end := clk.advance(time.Second)
	if err := n.queueTimedOut(id); err != nil {
		t.Fatal(err)
	}
	j = getJob(t, n, id)
	want := "no node took the job within 10m0s: waiting for 2 more node(s): no node can run it"
	if j.State != job.StateFailed || j.Reason != want || !j.UpdatedAt.Equal(end) {
		t.Fatalf("%s %q at %s, want failed %q at %s", j.State, j.Reason, j.UpdatedAt, want, end)
	}
	// An ended job waits for nothing.
	if err := n.waiting(id, 1, "late"); err != nil {
		t.Fatal(err)
	}
	if err := n.queueTimedOut(id); err != nil {
		t.Fatal(err)
	}
	if j2 := getJob(t, n, id); j2.Rev != j.Rev {
		t.Fatal("an ended job changed")
	}
}
