package requester

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Unit tests of the requester's stateful half: scheduling rounds, rescheduling, the
// verify quorum, the queue timeout, cancel, recovery and the shared view, with the
// compute side and the network faked at the package boundary (fakes_test.go).

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func wasmSpec() job.Spec {
	return job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkqaaa")}}
}

// heard makes r hear a heartbeat of each of ps at its clock's time.
func heard(r *Requester, ps ...peer.ID) {
	for _, p := range ps {
		r.OnHeartbeat(&jobproto.Heartbeat{Node: p, Engines: []job.Engine{job.EngineWasm}, Capacity: jobproto.Capacity{Slots: 2, Memory: 4 << 30}})
	}
}

func waitState(t *testing.T, r *Requester, id string, want job.State) *job.Job {
	t.Helper()
	var j *job.Job
	eventually(t, fmt.Sprintf("job %s is %s", id, want), func() bool {
		j = getJob(t, r, id)
		return j.State == want
	})
	return j
}

// TestScheduleRanksBids: the round accepts the best bid (the one holding the inputs,
// then free memory, then free slots), a node that refuses the accept has its
// execution given up at once, and the next best is taken.
func TestScheduleRanksBids(t *testing.T) {
	clk := &fakeClock{t: t0}
	local, net := &fakeLocal{bid: jobproto.Bid{FreeSlots: 1, MemoryFree: 1 << 30}}, newFakeNet()
	r := testRequester(t, clk, local, net)
	a, b, c := newPeerID(t), newPeerID(t), newPeerID(t)
	net.set(func(f *fakeNet) {
		f.bidders[a] = jobproto.Bid{FreeSlots: 4, MemoryFree: 1 << 30}
		f.bidders[b] = jobproto.Bid{HasInputs: true, FreeSlots: 1, MemoryFree: 1 << 30}
		f.bidders[c] = jobproto.Bid{FreeSlots: 8, MemoryFree: 1 << 20} // too little memory free
		f.refuse[b] = errors.New("queue full")
	})
	heard(r, a, b, c)

	j, err := r.Submit(context.Background(), wasmSpec())
	if err != nil {
		t.Fatal(err)
	}
	// The execution is recorded before its accept is sent: wait for both.
	eventually(t, "a bid is taken", func() bool {
		k := getJob(t, r, j.ID)
		return len(k.Executions) == 2 && len(net.acceptedTo()) == 2
	})
	if got, want := net.acceptedTo(), []peer.ID{b, a}; !slices.Equal(got, want) {
		t.Fatalf("accepts went to %v, want the holder of the inputs %v, then the most free slots %v", got, b, a)
	}
	k := getJob(t, r, j.ID)
	lost, taken := k.Executions[0], k.Executions[1]
	if lost.NodeID != b.String() || !lost.Lost || !strings.Contains(lost.Error, "did not take the job: queue full") {
		t.Fatalf("the refused accept: %+v", lost)
	}
	if taken.NodeID != a.String() || taken.Lost || taken.State != job.StatePending {
		t.Fatalf("the next best: %+v", taken)
	}
	if len(local.ran()) != 0 {
		t.Fatalf("ran here too: %v", local.ran())
	}
	// The announcement asked everyone; the accept named the job and execution.
	if len(net.announced) == 0 || net.announced[0].JobID != j.ID || net.announced[0].Requester != r.cfg.Self {
		t.Fatalf("announcement %+v", net.announced)
	}

	// The node runs it and reports a result: the job completes with it.
	if err := r.Apply(a, execUpdate(j.ID, taken.ID, job.Execution{State: job.StateRunning})); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(a, execUpdate(j.ID, taken.ID, job.Execution{State: job.StateCompleted, ResultCID: resultCID("bafyR")})); err != nil {
		t.Fatal(err)
	}
	done := waitState(t, r, j.ID, job.StateCompleted)
	if done.Reported() == nil || done.Reported().ResultCID != resultCID("bafyR") {
		t.Fatalf("result %+v", done.Reported())
	}
	// The network hears of the end with the result, at the record's revision.
	if ev := net.lastEvent(); ev == nil || ev.JobID != j.ID || ev.State != job.StateCompleted || ev.ResultCID != resultCID("bafyR") || ev.Rev != done.Rev {
		t.Fatalf("last event %+v, want the job completed with its result at rev %d", ev, done.Rev)
	}
}

// TestScheduleLocalWhenBest: the node's own compute side bids like a peer and, best,
// takes the execution through Local.Enqueue, not the network.
func TestScheduleLocalWhenBest(t *testing.T) {
	clk := &fakeClock{t: t0}
	local, net := &fakeLocal{bid: jobproto.Bid{HasInputs: true, FreeSlots: 1, MemoryFree: 1 << 30}}, newFakeNet()
	r := testRequester(t, clk, local, net)
	a := newPeerID(t)
	net.set(func(f *fakeNet) { f.bidders[a] = jobproto.Bid{FreeSlots: 4, MemoryFree: 1 << 30} })
	heard(r, a)
	j, err := r.Submit(context.Background(), wasmSpec())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "it runs here", func() bool { return len(local.ran()) == 1 })
	k := getJob(t, r, j.ID)
	if len(k.Executions) != 1 || k.Executions[0].NodeID != r.id || local.ran()[0] != k.Executions[0].ID {
		t.Fatalf("executions %+v, enqueued %v", k.Executions, local.ran())
	}
	if len(net.acceptedTo()) != 0 {
		t.Fatalf("accepts sent: %v", net.acceptedTo())
	}
}

// TestRescheduleLostNode: a node that falls silent for the grace period has its
// execution given up and stopped, and the job runs on a node that has not run it.
func TestRescheduleLostNode(t *testing.T) {
	clk := &fakeClock{t: t0}
	local, net := &fakeLocal{refusal: "busy"}, newFakeNet()
	r := testRequester(t, clk, local, net)
	a, b := newPeerID(t), newPeerID(t)
	net.set(func(f *fakeNet) { f.bidders[a] = jobproto.Bid{HasInputs: true, FreeSlots: 1} })
	heard(r, a, b)
	j, err := r.Submit(context.Background(), wasmSpec())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the job is accepted on A", func() bool { return len(getJob(t, r, j.ID).Executions) == 1 })
	first := getJob(t, r, j.ID).Executions[0]
	if err := r.Apply(a, execUpdate(j.ID, first.ID, job.Execution{State: job.StateRunning})); err != nil {
		t.Fatal(err)
	}
	// A falls silent; B goes on heart-beating, and bids now.
	net.set(func(f *fakeNet) { f.bidders[b] = jobproto.Bid{FreeSlots: 1} })
	clk.advance(11 * time.Second)
	heard(r, b)
	eventually(t, "the job runs on B", func() bool {
		k := getJob(t, r, j.ID)
		return len(k.Executions) == 2
	})
	k := getJob(t, r, j.ID)
	lost, again := k.Executions[0], k.Executions[1]
	if !lost.Lost || !strings.Contains(lost.Error, "node "+a.String()+" silent for 11s") {
		t.Fatalf("the silent node's execution: %+v", lost)
	}
	if again.NodeID != b.String() || again.Lost {
		t.Fatalf("scheduled again on %s, want %s: %+v", again.NodeID, b, again)
	}
	if ann := net.announced[len(net.announced)-1]; !slices.Contains(ann.Exclude, a) {
		t.Fatalf("the second round did not exclude A: %v", ann.Exclude)
	}
	eventually(t, "A is asked to stop", func() bool {
		return slices.ContainsFunc(net.cancelled(), func(c cancelCall) bool { return c.to == a && c.c.ExecutionID == first.ID })
	})
	if !logged(k, "execution "+first.ID+" given up: node "+a.String()+" silent for 11s") {
		t.Fatalf("history %+v", k.History)
	}
}

// TestRescheduleRestartedNode: a node whose heartbeat says it restarted holds none of
// the executions it had; they run elsewhere.
func TestRescheduleRestartedNode(t *testing.T) {
	clk := &fakeClock{t: t0}
	local, net := &fakeLocal{refusal: "busy"}, newFakeNet()
	r := testRequester(t, clk, local, net)
	a := newPeerID(t)
	net.set(func(f *fakeNet) { f.bidders[a] = jobproto.Bid{FreeSlots: 1} })
	r.OnHeartbeat(&jobproto.Heartbeat{Node: a, Engines: []job.Engine{job.EngineWasm}, Started: t0.Add(-time.Hour)})
	j, err := r.Submit(context.Background(), wasmSpec())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the job is accepted on A", func() bool { return len(getJob(t, r, j.ID).Executions) == 1 })
	clk.advance(time.Second)
	r.OnHeartbeat(&jobproto.Heartbeat{Node: a, Engines: []job.Engine{job.EngineWasm}, Started: clk.now()})
	eventually(t, "the execution is given up", func() bool { return getJob(t, r, j.ID).Executions[0].Lost })
	if e := getJob(t, r, j.ID).Executions[0]; e.Error != "node "+a.String()+" restarted" {
		t.Fatalf("reason %q", e.Error)
	}
}

// TestVerifyQuorum: with --verify 3, three distinct nodes run the job; agreeing result
// CIDs complete it, a dissenting one fails it naming the dissenter.
func TestVerifyQuorum(t *testing.T) {
	for _, tc := range []struct {
		name    string
		results []string
		state   job.State
		reason  string
	}{
		{"agree", []string{"bafyX", "bafyX", "bafyX"}, job.StateCompleted, "verified: 3 nodes returned result bafyX"},
		{"one dissents", []string{"bafyX", "bafyY", "bafyX"}, job.StateFailed, "dissenting nodes: DISSENTER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: t0}
			local, net := &fakeLocal{refusal: "busy"}, newFakeNet()
			r := testRequester(t, clk, local, net)
			ps := []peer.ID{newPeerID(t), newPeerID(t), newPeerID(t)}
			net.set(func(f *fakeNet) {
				for _, p := range ps {
					f.bidders[p] = jobproto.Bid{FreeSlots: 1}
				}
			})
			heard(r, ps...)
			spec := wasmSpec()
			spec.Verify = 3
			j, err := r.Submit(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "three executions", func() bool { return len(getJob(t, r, j.ID).Executions) == 3 })
			k := getJob(t, r, j.ID)
			nodes := map[string]bool{}
			for _, e := range k.Executions {
				nodes[e.NodeID] = true
			}
			if len(nodes) != 3 {
				t.Fatalf("executions on %d distinct nodes: %+v", len(nodes), k.Executions)
			}
			var dissenter string
			for i, e := range k.Executions {
				p, _ := peer.Decode(e.NodeID)
				if tc.results[i] == "bafyY" {
					dissenter = e.NodeID
				}
				if i < 2 {
					if err := r.Apply(p, execUpdate(j.ID, e.ID, job.Execution{State: job.StateCompleted, ResultCID: resultCID(tc.results[i])})); err != nil {
						t.Fatal(err)
					}
					if s := getJob(t, r, j.ID).State; s.Terminal() {
						t.Fatalf("settled (%s) after %d of 3 results", s, i+1)
					}
					continue
				}
				if err := r.Apply(p, execUpdate(j.ID, e.ID, job.Execution{State: job.StateCompleted, ResultCID: resultCID(tc.results[i])})); err != nil {
					t.Fatal(err)
				}
			}
			done := waitState(t, r, j.ID, tc.state)
			if want := withCIDs(strings.ReplaceAll(tc.reason, "DISSENTER", dissenter)); !strings.Contains(lastMessage(done), want) && !strings.Contains(done.Reason, want) {
				t.Fatalf("%s: %q / %q, want %q", done.State, done.Reason, lastMessage(done), want)
			}
		})
	}
}

// TestQueueTimeout: a job no node can run waits with the reason, then fails when its
// queue timeout has passed, naming it.
func TestQueueTimeout(t *testing.T) {
	clk := &fakeClock{t: t0}
	local := &fakeLocal{refusal: "needs 8 GiB of memory; this node offers 4 GiB"}
	r := testRequester(t, clk, local, newFakeNet())
	spec := wasmSpec()
	spec.QueueTimeout = job.Duration(time.Minute)
	j, err := r.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	const why = "waiting for 1 more node(s): no node can run it: needs 8 GiB of memory; this node offers 4 GiB"
	eventually(t, "the reason is recorded", func() bool { return logged(getJob(t, r, j.ID), why) })
	if s := getJob(t, r, j.ID).State; s != job.StatePending {
		t.Fatalf("waiting: %s", s)
	}
	clk.advance(61 * time.Second)
	done := waitState(t, r, j.ID, job.StateFailed)
	if want := "no node took the job within 1m0s: " + why; done.Reason != want {
		t.Fatalf("reason %q, want %q", done.Reason, want)
	}
}

// TestNoNodeOffersTheEngine: a job for an engine no node offers is taken, waits with
// that reason, and fails at its queue timeout naming it.
func TestNoNodeOffersTheEngine(t *testing.T) {
	for _, net := range []*fakeNet{nil, newFakeNet()} { // alone, and with peers
		clk := &fakeClock{t: t0}
		r := testRequester(t, clk, &fakeLocal{}, net)
		spec := job.Spec{Engine: job.EngineWasmtime, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkqaaa")}, QueueTimeout: job.Duration(time.Minute)}
		j, err := r.Submit(context.Background(), spec)
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		const why = "waiting for 1 more node(s): no node offers engine wasmtime"
		eventually(t, "the reason is recorded", func() bool { return logged(getJob(t, r, j.ID), why) })
		if k := getJob(t, r, j.ID); k.State != job.StatePending || len(k.Executions) != 0 {
			t.Fatalf("waiting: %s, executions %+v", k.State, k.Executions)
		}
		clk.advance(61 * time.Second)
		done := waitState(t, r, j.ID, job.StateFailed)
		if want := "no node took the job within 1m0s: " + why; done.Reason != want {
			t.Fatalf("reason %q, want %q", done.Reason, want)
		}
	}
}

// TestNoNodeHasTheLabels: a selector no node matches says so.
func TestNoNodeHasTheLabels(t *testing.T) {
	clk := &fakeClock{t: t0}
	r := testRequester(t, clk, &fakeLocal{refusal: "labels"}, newFakeNet())
	spec := wasmSpec()
	spec.Selector = map[string]string{"gpu": "yes"}
	j, err := r.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reason is recorded", func() bool {
		return logged(getJob(t, r, j.ID), "waiting for 1 more node(s): no node has the labels gpu=yes")
	})
}

// TestCancelStopsExecutions: cancelling a job stops its execution here through Local
// and its execution elsewhere through the network.
func TestCancelStopsExecutions(t *testing.T) {
	clk := &fakeClock{t: t0}
	local, net := &fakeLocal{bid: jobproto.Bid{FreeSlots: 1}}, newFakeNet()
	r := testRequester(t, clk, local, net)
	a := newPeerID(t)
	net.set(func(f *fakeNet) { f.bidders[a] = jobproto.Bid{FreeSlots: 1} })
	heard(r, a)
	spec := wasmSpec()
	spec.Verify = 2
	j, err := r.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "two executions", func() bool { return len(getJob(t, r, j.ID).Executions) == 2 })
	k, err := r.Cancel(context.Background(), j.ID[:10])
	if err != nil {
		t.Fatal(err)
	}
	if k.State != job.StateCancelled || k.Reason != job.ReasonCancelled {
		t.Fatalf("%s %q", k.State, k.Reason)
	}
	var here, there string
	for _, e := range k.Executions {
		if e.State != job.StateCancelled {
			t.Fatalf("execution %+v", e)
		}
		if e.NodeID == r.id {
			here = e.ID
		} else {
			there = e.ID
		}
	}
	if got := local.stops(); !slices.Equal(got, []string{here}) {
		t.Fatalf("stopped here %v, want %s", got, here)
	}
	eventually(t, "A is asked to stop", func() bool {
		return slices.ContainsFunc(net.cancelled(), func(c cancelCall) bool { return c.to == a && c.c.ExecutionID == there })
	})
	// A second cancel is a bad transition.
	if _, err := r.Cancel(context.Background(), j.ID); !errors.Is(err, job.ErrTransition) {
		t.Fatalf("cancel of a cancelled job: %v", err)
	}
	// An update after the cancel is given up.
	p, _ := peer.Decode(a.String())
	if err := r.Apply(p, execUpdate(j.ID, there, job.Execution{State: job.StateCompleted, ResultCID: resultCID("bafyX")})); !errors.Is(err, errGivenUp) {
		t.Fatalf("a result after the cancel: %v", err)
	}
}

// TestAloneRunsHere: without a connected peer, Submit takes the job on this node in
// the write that stores it; the node's reports settle it.
func TestAloneRunsHere(t *testing.T) {
	clk := &fakeClock{t: t0}
	local := &fakeLocal{}
	r := testRequester(t, clk, local, nil)
	j, err := r.Submit(context.Background(), wasmSpec())
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Executions) != 1 || j.Rev != 1 || !slices.Equal(local.ran(), []string{j.Executions[0].ID}) {
		t.Fatalf("executions %+v (rev %d), enqueued %v", j.Executions, j.Rev, local.ran())
	}
	done := make(chan *job.Job, 1)
	go func() {
		k, _ := r.Wait(context.Background(), j.ID)
		done <- k
	}()
	if err := r.Apply(r.cfg.Self, execUpdate(j.ID, j.Executions[0].ID, job.Execution{State: job.StateCompleted, ResultCID: resultCID("bafyR")})); err != nil {
		t.Fatal(err)
	}
	if k := <-done; k.State != job.StateCompleted {
		t.Fatalf("waited for %s", k.State)
	}
	// A closed requester takes no jobs.
	r.Close()
	if _, err := r.Submit(context.Background(), wasmSpec()); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}
	if _, err := r.Wait(context.Background(), j.ID); err != nil {
		t.Fatalf("a terminal job waits for nothing: %v", err)
	}
}

// TestRecoverAndResume: after a restart, an execution that was running here fails its
// job; one taken but not started runs again.
func TestRecoverAndResume(t *testing.T) {
	clk := &fakeClock{t: t0}
	local := &fakeLocal{}
	r := testRequester(t, clk, local, nil)
	self := r.cfg.Self
	wasRunning, rex := ownJob(t, r, clk, 1, self)
	if err := r.Apply(self, execUpdate(wasRunning, rex[0], job.Execution{State: job.StateRunning})); err != nil {
		t.Fatal(err)
	}
	taken, tex := ownJob(t, r, clk, 1, self)
	other, _ := ownJob(t, r, clk, 1, nodeA)
	if _, err := r.jobs.Update(other, func(j *job.Job) error { j.Requester = newPeerID(t).String(); return nil }); err != nil {
		t.Fatal(err)
	}
	owned, err := r.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if len(owned) != 2 {
		t.Fatalf("recovered %d jobs, want the 2 this node owns", len(owned))
	}
	if j := getJob(t, r, wasRunning); j.State != job.StateFailed || j.Reason != job.ReasonNodeStopped {
		t.Fatalf("the running job: %s %q", j.State, j.Reason)
	}
	if err := r.Resume(owned); err != nil {
		t.Fatal(err)
	}
	if got := local.ran(); !slices.Equal(got, []string{tex[0]}) {
		t.Fatalf("queued again %v, want %v", got, tex)
	}
	if j := getJob(t, r, taken); j.State.Terminal() {
		t.Fatalf("the taken job: %s", j.State)
	}
}

// TestSharedView: a job event makes a node pull the record from its requester; a
// requester heard again after a silence is caught up with; a cancel of another
// node's job goes through that node.
func TestSharedView(t *testing.T) {
	clk := &fakeClock{t: t0}
	owner, viewer := testRequester(t, clk, &fakeLocal{refusal: "busy"}, newFakeNet()), testRequester(t, clk, &fakeLocal{}, newFakeNet())
	viewer.net.(*fakeNet).set(func(f *fakeNet) { f.pulls[owner.cfg.Self] = owner })
	spec := wasmSpec()
	spec.QueueTimeout = job.Duration(time.Hour)
	j, err := owner.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	// An event newer than the viewer's copy (it has none): pulled.
	viewer.OnEvent(&jobproto.JobEvent{JobID: j.ID, Node: owner.cfg.Self, Rev: 1, State: job.StatePending, Time: t0})
	eventually(t, "the viewer holds a copy", func() bool { _, err := viewer.Get(context.Background(), j.ID); return err == nil })
	// A heartbeat of the owner, new to the viewer: every record it owns is pulled.
	k, err := owner.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	heard(viewer, owner.cfg.Self)
	eventually(t, "the viewer caught up", func() bool { _, err := viewer.Get(context.Background(), k.ID); return err == nil })
	if got := viewer.Peers(); len(got) != 1 || got[0].ID != owner.cfg.Self || len(viewer.LivePeers()) != 1 {
		t.Fatalf("peers %+v", got)
	}
	// Cancelled through the owner.
	_, err = viewer.Cancel(context.Background(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := getJob(t, owner, k.ID); got.State != job.StateCancelled {
		t.Fatalf("the owner's job: %s", got.State)
	}
	// The owner refuses a cancel of a job it does not own.
	if err := owner.OnCancel(j.ID + "x"); err == nil {
		t.Fatal("cancel of an unknown job")
	}
	if err := viewer.OnCancel(j.ID); err == nil || !strings.Contains(err.Error(), "not the job's requester") {
		t.Fatalf("cancel on a node that does not own the job: %v", err)
	}
	// A pull answers only the owner's records.
	if recs := viewer.OnPull(&jobproto.JobPull{IDs: []string{j.ID}}); len(recs.Jobs) != 0 {
		t.Fatalf("the viewer answered %d records of another node's job", len(recs.Jobs))
	}
	if recs := owner.OnPull(&jobproto.JobPull{}); len(recs.Jobs) != 2 || recs.More {
		t.Fatalf("the owner answered %d records (more %v)", len(recs.Jobs), recs.More)
	}
}

// TestBidAfterRound: a bid for a job with no round under way is refused.
func TestBidAfterRound(t *testing.T) {
	r := testRequester(t, &fakeClock{t: t0}, &fakeLocal{}, newFakeNet())
	if r.OnBid(newPeerID(t), &jobproto.Bid{JobID: "j-nope"}) {
		t.Fatal("a bid with no round under way was taken")
	}
}

// TestNoLabelledNodeOffersTheEngine: a job whose labelled nodes do not run its engine says
// that, not that no node has the labels.
func TestNoLabelledNodeOffersTheEngine(t *testing.T) {
	clk := &fakeClock{t: t0}
	local, net := &fakeLocal{refusal: "this node runs no docker jobs"}, newFakeNet()
	r := testRequester(t, clk, local, net) // labelled region=eu, runs wasm only
	d, w := newPeerID(t), newPeerID(t)
	r.OnHeartbeat(&jobproto.Heartbeat{Node: d, Engines: []job.Engine{job.EngineDocker}, Capacity: jobproto.Capacity{Slots: 2, Memory: 4 << 30}, Labels: map[string]string{"region": "us"}})
	r.OnHeartbeat(&jobproto.Heartbeat{Node: w, Engines: []job.Engine{job.EngineWasm}, Capacity: jobproto.Capacity{Slots: 2, Memory: 4 << 30}, Labels: map[string]string{"region": "eu"}})
	spec := job.Spec{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: "img"}, Selector: map[string]string{"region": "eu"}}
	j, err := r.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reason is recorded", func() bool {
		return logged(getJob(t, r, j.ID), "waiting for 1 more node(s): no node with the labels region=eu offers the docker engine")
	})
}
