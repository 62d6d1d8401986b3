package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// netNode is one `bacalhau serve` process of a test network on loopback.
type netNode struct {
	*testNode
	name  string
	bin   string
	swarm int
	id    peer.ID
	args  []string
	cmd   *exec.Cmd
	gone  chan struct{}
}

// Test networks use short liveness settings so that a lost node is noticed quickly.
const (
	testGrace     = "2s"
	testHeartbeat = "250ms"
)

// newNetNode prepares a node (repo, identity, ports) without starting it.
func newNetNode(t *testing.T, name, bin string, labels ...string) *netNode {
	t.Helper()
	repo := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(repo, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := dht.LoadIdentity(repo)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	n := &netNode{testNode: &testNode{t: t, repo: repo, port: freePort(t)}, name: name, bin: bin, swarm: freePort(t), id: id}
	n.args = []string{"serve", "--repo", repo, "--api-port", strconv.Itoa(n.port),
		"--swarm-host", "127.0.0.1", "--swarm-port", strconv.Itoa(n.swarm), "--log-level", "warn",
		"--grace", testGrace, "--heartbeat", testHeartbeat, "--labels", strings.Join(append([]string{"name=" + name}, labels...), ",")}
	return n
}

func (n *netNode) addr() string { return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", n.swarm, n.id) }

// start runs the node's process and waits until its API answers.
func (n *netNode) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, n.args...)
	out := &syncBuffer{}
	n.cmd.Stdout, n.cmd.Stderr = out, out
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	exited := make(chan int, 1)
	n.gone = make(chan struct{})
	cmd, gone := n.cmd, n.gone
	go func() {
		code := -1
		if st, err := cmd.Process.Wait(); err == nil {
			code = st.ExitCode()
		}
		exited <- code
		close(gone)
	}()
	n.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-gone:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-gone
		}
		if n.t.Failed() {
			n.t.Logf("node %s output:\n%s", n.name, out.String())
		}
	})
	n.waitReady(exited, out)
}

// kill stops the process with SIGKILL, as a crash would.
func (n *netNode) kill() {
	n.t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		n.t.Fatal(err)
	}
	<-n.gone
}

// startNetwork starts the nodes, the first one first (the others join through it), and
// waits until every node sees every other one as live.
func startNetwork(t *testing.T, nodes ...*netNode) {
	t.Helper()
	for i, n := range nodes {
		if i > 0 {
			n.args = append(n.args, "--peer", nodes[0].addr())
		}
		n.start()
	}
	waitMesh(t, nodes...)
}

// waitMesh waits until every node lists every other one as live.
func waitMesh(t *testing.T, nodes ...*netNode) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		for _, n := range nodes {
			peers, err := n.client().Nodes(context.Background())
			if err != nil {
				return err
			}
			for _, m := range nodes {
				if !slices.ContainsFunc(peers, func(p api.PeerStatus) bool { return p.ID == m.id.String() && p.Live }) {
					return fmt.Errorf("node %s does not see %s as live", n.name, m.name)
				}
			}
		}
		return nil
	})
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not after %s: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jobOn reads a job from a node.
func (n *netNode) job(id string) *job.Job {
	n.t.Helper()
	j, err := n.client().Get(context.Background(), id)
	if err != nil {
		n.t.Fatalf("job %s on node %s: %v", id, n.name, err)
	}
	return j
}

// jobStates is a node's view of every job: ID -> state.
func (n *netNode) jobStates() (map[string]job.State, error) {
	page, err := n.client().List(context.Background(), api.ListQuery{Limit: api.MaxListLimit})
	if err != nil {
		return nil, err
	}
	m := map[string]job.State{}
	for _, j := range page.Jobs {
		m[j.ID] = j.State
	}
	return m, nil
}

// sameView waits until every node lists the same jobs in the same states, all of want
// among them.
func sameView(t *testing.T, want []string, nodes ...*netNode) map[string]job.State {
	t.Helper()
	var first map[string]job.State
	eventually(t, 20*time.Second, func() error {
		views := make([]map[string]job.State, len(nodes))
		for i, n := range nodes {
			v, err := n.jobStates()
			if err != nil {
				return err
			}
			views[i] = v
		}
		for _, id := range want {
			if _, ok := views[0][id]; !ok {
				return fmt.Errorf("node %s does not list %s", nodes[0].name, id)
			}
		}
		for i := 1; i < len(nodes); i++ {
			if fmt.Sprint(views[i]) != fmt.Sprint(views[0]) {
				return fmt.Errorf("node %s lists %v, node %s lists %v", nodes[0].name, views[0], nodes[i].name, views[i])
			}
		}
		first = views[0]
		return nil
	})
	return first
}

// ranOn is the node of the execution whose result the job reports.
func ranOn(j *job.Job) string {
	if e := j.Reported(); e != nil {
		return e.NodeID
	}
	return ""
}

func TestNetworkDataOnAnotherNode(t *testing.T) {
	a, b, c := newNetNode(t, "a", binPath), newNetNode(t, "b", binPath), newNetNode(t, "c", binPath)
	startNetwork(t, a, b, c)

	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "poem.txt"), []byte("the data stays where it is\nand the job goes to it\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cid := strings.TrimSpace(c.ok("data", "add", data))
	if ok, _ := a.client().Has(context.Background(), cid); ok {
		t.Fatal("node a holds c's data before any job ran")
	}

	// Anywhere: the requester picks; whoever runs it reads c's blocks over bitswap.
	out := a.ok("wasm", "run", guestPath["wordcount"], "-i", cid)
	anywhere := field(out, "Job ID")
	if field(out, "State") != "completed" {
		t.Fatalf("job on data held by c:\n%s", out)
	}
	// On b, which holds neither module (uploaded to a) nor data (on c).
	out = a.ok("wasm", "run", guestPath["wordcount"], "-i", cid, "-s", "name=b")
	onB := field(out, "Job ID")
	if field(out, "State") != "completed" {
		t.Fatalf("job on b:\n%s", out)
	}
	jb := a.job(onB)
	if ranOn(jb) != b.id.String() {
		t.Fatalf("job with -s name=b ran on %s, want b (%s)", ranOn(jb), b.id)
	}
	if jb.Reported().Receipt == nil || jobproto.VerifyReceipt(jb.Reported().Receipt) != nil || jb.Reported().Receipt.Node != b.id.String() {
		t.Fatalf("receipt of b's execution: %+v", jb.Reported().Receipt)
	}
	if ja := a.job(anywhere); ja.Reported().ResultCID != jb.Reported().ResultCID {
		t.Fatalf("same task, two results: %s and %s", ja.Reported().ResultCID, jb.Reported().ResultCID)
	}

	// Results are fetched through nodes that did not run the jobs.
	for _, tc := range []struct {
		via *netNode
		id  string
	}{{b, anywhere}, {c, onB}} {
		dir := filepath.Join(t.TempDir(), "result")
		tc.via.ok("get", tc.id, "--output-dir", dir)
		got, err := os.ReadFile(filepath.Join(dir, "outputs", "wordcount.tsv"))
		if err != nil {
			t.Fatalf("result of %s through %s: %v", tc.id, tc.via.name, err)
		}
		if !strings.Contains(string(got), "poem.txt\t12\t2\t50") {
			t.Fatalf("wordcount through %s:\n%s", tc.via.name, got)
		}
		// Re-adding the downloaded result on the fetching node gives the same CID.
		if again := strings.TrimSpace(tc.via.ok("data", "add", dir)); again != a.job(tc.id).Reported().ResultCID.String() {
			t.Fatalf("re-added result %s, job says %s", again, a.job(tc.id).Reported().ResultCID)
		}
	}

	// Every node lists the same jobs in the same states, and describes them alike.
	view := sameView(t, []string{anywhere, onB}, a, b, c)
	if view[anywhere] != job.StateCompleted || view[onB] != job.StateCompleted {
		t.Fatalf("shared view: %v", view)
	}
	if jc := c.job(job.ShortID(onB)); jc.Requester != a.id.String() || jc.Reported().ResultCID != jb.Reported().ResultCID {
		t.Fatalf("c's copy of the job: requester %s, result %s", jc.Requester, jc.Reported().ResultCID)
	}
	// A job nobody can take waits with a reason instead of hanging silently.
	out = a.ok("wasm", "run", guestPath["hello"], "-s", "region=nowhere", "--wait=false", "--id-only")
	waiting := strings.TrimSpace(out)
	eventually(t, 10*time.Second, func() error {
		j := a.job(waiting)
		if j.State != job.StatePending || !strings.Contains(j.History[len(j.History)-1].Message, "no node has the labels region=nowhere") {
			return fmt.Errorf("job %s: %s, last event %q", waiting, j.State, j.History[len(j.History)-1].Message)
		}
		return nil
	})
	// Cancelled through a node that does not own it, once that node has heard of it.
	sameView(t, []string{waiting}, a, b)
	if out, errs, code := b.cli("cancel", waiting); code != 0 {
		t.Fatalf("cancel through a non-owner: exit %d\n%s%s", code, out, errs)
	}
	eventually(t, 10*time.Second, func() error {
		if st := c.job(waiting).State; st != job.StateCancelled {
			return fmt.Errorf("c sees the cancelled job as %s", st)
		}
		return nil
	})
}

func TestNetworkVerify(t *testing.T) {
	a := newNetNode(t, "a", binPath, "honest=yes")
	b := newNetNode(t, "b", binPath, "honest=yes")
	c := newNetNode(t, "c", binPath, "honest=yes")
	liar := newNetNode(t, "liar", liarPath)
	startNetwork(t, a, b, c, liar)

	out := a.ok("wasm", "run", guestPath["hello"], "--verify", "3", "-s", "honest=yes")
	agreed := field(out, "Job ID")
	if field(out, "State") != "completed" {
		t.Fatalf("--verify 3 on honest nodes:\n%s", out)
	}
	j := a.job(agreed)
	nodes := map[string]bool{}
	for _, e := range j.Executions {
		if e.ResultCID != j.Reported().ResultCID || e.Receipt == nil || jobproto.VerifyReceipt(e.Receipt) != nil {
			t.Fatalf("execution %s on %s: result %s, receipt %+v", e.ID, e.NodeID, e.ResultCID, e.Receipt)
		}
		nodes[e.NodeID] = true
	}
	if len(j.Executions) != 3 || len(nodes) != 3 {
		t.Fatalf("--verify 3 ran %d executions on %d nodes", len(j.Executions), len(nodes))
	}
	// verify re-runs the job in the CLI and checks the receipts, through any node.
	if out := b.ok("verify", agreed); !strings.Contains(out, "verified") || strings.Contains(out, "INVALID") {
		t.Fatalf("verify:\n%s", out)
	}

	out, _, code := a.cli("wasm", "run", guestPath["hello"], "--verify", "4")
	if code == 0 || field(out, "State") != "failed" {
		t.Fatalf("--verify 4 with a lying node:\n%s", out)
	}
	lied := a.job(field(out, "Job ID"))
	if !strings.Contains(lied.Reason, "verification failed") || !strings.Contains(lied.Reason, "dissenting nodes: "+liar.id.String()) {
		t.Fatalf("reason %q does not name the lying node %s", lied.Reason, liar.id)
	}
	// The liar's result is signed: its own word, checkable, and wrong.
	out, _, code = c.cli("verify", lied.ID)
	if code == 0 || !strings.Contains(out, "Node "+liar.id.String()+" reported") {
		t.Fatalf("verify of the job with a liar:\n%s\n%s", out, c.ok("describe", lied.ID))
	}
}

// runningOnWorker submits through a a job that ticks the given number of times, 200 ms
// apart, on one of the workers w1 and w2 (role=worker), waits until it runs, and returns
// it with the worker running it and the other one.
func runningOnWorker(t *testing.T, a, w1, w2 *netNode, ticks int) (id string, running, other *netNode) {
	t.Helper()
	id = strings.TrimSpace(a.ok("wasm", "run", guestPath["faulty"], "-s", "role=worker", "--wait=false", "--id-only", "--", "tick", strconv.Itoa(ticks)))
	var on string
	eventually(t, 20*time.Second, func() error {
		j := a.job(id)
		if j.State != job.StateRunning {
			return fmt.Errorf("job is %s", j.State)
		}
		on = j.Executions[len(j.Executions)-1].NodeID
		return nil
	})
	if on == w2.id.String() {
		return id, w2, w1
	}
	return id, w1, w2
}

func TestNetworkNodeLossAndRestart(t *testing.T) {
	a := newNetNode(t, "a", binPath, "role=requester")
	w1 := newNetNode(t, "w1", binPath, "role=worker")
	w2 := newNetNode(t, "w2", binPath, "role=worker")
	startNetwork(t, a, w1, w2)

	long, victim, other := runningOnWorker(t, a, w1, w2, 15)
	victim.kill()

	// Submitted while the victim is down: it must see it after its restart.
	during := field(a.ok("wasm", "run", guestPath["hello"]), "Job ID")

	j, err := a.client().Watch(context.Background(), long, func(*job.Job) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if j.State != job.StateCompleted || ranOn(j) != other.id.String() {
		t.Fatalf("after the kill: %s on %s (%s), want completed on %s", j.State, ranOn(j), j.Reason, other.id)
	}
	lost := j.Executions[0]
	if lost.NodeID != victim.id.String() || !lost.Lost || !strings.Contains(lost.Error, "silent") {
		t.Fatalf("the killed node's execution: %+v", lost)
	}

	// Back with the same repo: same peer ID, rejoins, sees every job, and the job still
	// has exactly one accepted result.
	victim.start()
	info, err := victim.client().Node(context.Background())
	if err != nil || info.ID != victim.id.String() {
		t.Fatalf("restarted node is %q (%v), was %s", info.ID, err, victim.id)
	}
	waitMesh(t, a, w1, w2)
	view := sameView(t, []string{long, during}, a, w1, w2)
	if view[long] != job.StateCompleted || view[during] != job.StateCompleted {
		t.Fatalf("view after the restart: %v", view)
	}
	results := 0
	for _, e := range victim.job(long).Executions {
		if e.ResultCID.Defined() && !e.Lost {
			results++
		}
	}
	if results != 1 {
		t.Fatalf("%d accepted results after the killed node came back, want 1", results)
	}
	if out := victim.ok("logs", long); !strings.Contains(out, "tick 14") {
		t.Fatalf("logs of the rescheduled job through the restarted node:\n%s", out)
	}
}

// TestNetworkQuickRestart kills the node running a job and starts it again at once,
// well within the grace period: the requester sees the new process in its heartbeats
// and reschedules the job without waiting for the grace period or the job's timeout.
func TestNetworkQuickRestart(t *testing.T) {
	const grace = "60s" // the silence rule must not be what reschedules the job
	nodes := []*netNode{newNetNode(t, "a", binPath, "role=requester"), newNetNode(t, "w1", binPath, "role=worker"), newNetNode(t, "w2", binPath, "role=worker")}
	for _, n := range nodes {
		n.args[slices.Index(n.args, "--grace")+1] = grace
	}
	a, w1, w2 := nodes[0], nodes[1], nodes[2]
	startNetwork(t, a, w1, w2)

	long, victim, other := runningOnWorker(t, a, w1, w2, 25)
	victim.kill()
	killed := time.Now()
	victim.start()

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	j, err := a.client().Watch(ctx, long, func(*job.Job) bool { return true })
	if err != nil {
		t.Fatalf("job %s not done 40 s after its node restarted (grace %s): %v", long, grace, err)
	}
	if j.State != job.StateCompleted {
		t.Fatalf("after the restart: %s (%s)", j.State, j.Reason)
	}
	lost := j.Executions[0]
	if lost.NodeID != victim.id.String() || !lost.Lost || !strings.Contains(lost.Error, "restarted") {
		t.Fatalf("the restarted node's execution: %+v", lost)
	}
	t.Logf("completed on %s %s after the kill (the other worker is %s)", ranOn(j), time.Since(killed).Round(time.Millisecond), other.id)
}
