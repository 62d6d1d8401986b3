package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// The partition test runs three nodes in containers of an image built FROM scratch with
// a static binary. Each container is on two networks:
//
//   - a "control" bridge network that carries only the published API port (the host
//     reaches each node through 127.0.0.1:<published port>, nothing else);
//   - an --internal "swarm" bridge network with a pinned subnet, the only one libp2p
//     uses: every node listens with --swarm-host <its swarm IP>, so it advertises and
//     accepts nothing else.
//
// Disconnecting a container from the swarm network partitions it and keeps its API
// reachable: Docker programs the published ports on the control network (the one with
// the default gateway; an internal network never has one). A partitioned node that
// dials a swarm IP through its default route is stopped by Docker's isolation rules
// between bridge networks; the test checks the isolation from the nodes' own view
// (each side sees the other go silent) before it relies on it.

const partitionLabel = "bacalhau-wasm-test=1"

// partitionDockerOrSkip fails under CI=true and skips elsewhere when there is no usable
// Docker engine.
func partitionDockerOrSkip(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("docker"); err != nil {
		why = "no docker command in PATH"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
		if err != nil {
			why = fmt.Sprintf("the Docker engine does not answer (%v): %s", err, bytes.TrimSpace(out))
		}
	}
	if why == "" {
		return
	}
	msg := why + ": TestPartitionHeals needs a running Docker Engine (e.g. apt-get install docker.io, or Docker CE) that `docker version` reaches; no image is pulled"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// partitionDocker runs a docker command and returns its trimmed stdout.
func partitionDocker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func partitionMustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := partitionDocker(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// partitionCleanup removes something the test started, even after a failure.
func partitionCleanup(t *testing.T, args ...string) {
	t.Cleanup(func() {
		if _, err := partitionDocker(context.Background(), args...); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// partitionImage builds a FROM scratch image holding a static bacalhau-node binary as /bacalhau.
func partitionImage(t *testing.T, tag string) {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bacalhau"), "../bacalhau-node")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	must(t, os.Mkdir(filepath.Join(dir, "tmp"), 0o755))
	must(t, os.Chmod(filepath.Join(dir, "tmp"), 0o1777))
	must(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY bacalhau /bacalhau\nCOPY tmp /tmp\nENTRYPOINT [\"/bacalhau\"]\n"), 0o644))
	partitionMustDocker(t, "build", "-q", "--label", partitionLabel, "-t", tag, dir)
	partitionCleanup(t, "rmi", "-f", tag)
}

// partitionSwarmNet creates the internal swarm network on a random 10.x.y.0/24 (another
// run of the test may hold one) and returns the subnet's first three octets.
func partitionSwarmNet(t *testing.T, name string) string {
	t.Helper()
	var last error
	for range 20 {
		a, _ := rand.Int(rand.Reader, big.NewInt(150))
		b, _ := rand.Int(rand.Reader, big.NewInt(256))
		prefix := fmt.Sprintf("10.%d.%d", 100+a.Int64(), b.Int64())
		_, err := partitionDocker(context.Background(), "network", "create", "--driver", "bridge", "--internal",
			"--subnet", prefix+".0/24", "--label", partitionLabel, name)
		if err == nil {
			partitionCleanup(t, "network", "rm", name)
			return prefix
		}
		last = err
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	t.Fatal(last)
	return ""
}

// ctrNode is a node in a container.
type ctrNode struct {
	t         *testing.T
	name, ip  string // container name, swarm-network IP
	id        string // peer ID
	port      int    // API port published on 127.0.0.1
	c         *api.Client
	logsShown bool
}

func partitionStart(t *testing.T, name, image, ctl, swarm, ip, logLevel string, extra ...string) *ctrNode {
	t.Helper()
	args := []string{"create", "--name", name, "--label", partitionLabel, "--network", ctl, "-p", "127.0.0.1::1234", image,
		"serve", "--repo", "/data", "--api-host", "0.0.0.0", "--api-port", "1234",
		"--swarm-host", ip, "--swarm-port", "1235", "--grace", "3s", "--heartbeat", "500ms", "--log-level", logLevel}
	partitionMustDocker(t, append(args, extra...)...)
	partitionCleanup(t, "rm", "-f", "-v", name)
	// On the swarm network before it starts, so that it can listen on ip.
	partitionMustDocker(t, "network", "connect", "--ip", ip, swarm, name)
	partitionMustDocker(t, "start", name)
	n := &ctrNode{t: t, name: name, ip: ip}
	t.Cleanup(func() {
		if t.Failed() && !n.logsShown {
			n.logs()
		}
	})
	hostPort := partitionMustDocker(t, "port", name, "1234/tcp")
	_, p, err := net.SplitHostPort(strings.Fields(hostPort)[0])
	if err != nil {
		t.Fatalf("docker port %s: %q: %v", name, hostPort, err)
	}
	n.port, _ = strconv.Atoi(p)
	n.c = api.NewClient("http://127.0.0.1:" + p)
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := n.c.Node(ctx)
		cancel()
		if err == nil {
			n.id = info.ID
			return n
		}
		if st, _ := partitionDocker(context.Background(), "inspect", "-f", "{{.State.Running}}", name); st != "true" {
			n.logs()
			t.Fatalf("container %s stopped before its node answered: %v", name, err)
		}
		if time.Now().After(deadline) {
			n.logs()
			t.Fatalf("node in %s never answered on 127.0.0.1:%s: %v", name, p, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *ctrNode) logs() {
	n.logsShown = true
	out, err := exec.Command("docker", "logs", "--tail", "300", n.name).CombinedOutput()
	if err != nil {
		out = append(out, err.Error()...)
	}
	n.t.Logf("--- docker logs --tail 300 %s (%s, %s) ---\n%s", n.name, n.ip, n.id, out)
}

// cli runs one bacalhau command against the node's published API port.
func (n *ctrNode) cli(args ...string) string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	all := append([]string{"--api-host", "127.0.0.1", "--api-port", strconv.Itoa(n.port)}, args...)
	if code := run(ctx, all, strings.NewReader(""), &out, &errb); code != 0 {
		n.t.Fatalf("bacalhau %s on %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), n.name, code, out.String(), errb.String())
	}
	return out.String()
}

// submit runs hello.wasm through the CLI (which uploads the module) without waiting.
func (n *ctrNode) submit(args ...string) string {
	n.t.Helper()
	id := strings.TrimSpace(n.cli(append([]string{"wasm", "run", guestPath["hello"], "--wait=false", "--id-only"}, args...)...))
	if !strings.HasPrefix(id, job.IDPrefix) {
		n.t.Fatalf("wasm run on %s printed %q, want a job ID", n.name, id)
	}
	return id
}

// liveView says which other nodes n lists as live.
func (n *ctrNode) liveView() (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := n.c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, p := range ps {
		if !p.Self {
			live[p.ID] = p.Live
		}
	}
	return live, nil
}

// jobView lists every job n holds as "ID state rev" lines, sorted by ID.
func (n *ctrNode) jobView() ([]string, map[string]*job.Job, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	page, err := n.c.List(ctx, api.ListQuery{SortBy: api.SortID, Limit: api.MaxListLimit})
	if err != nil {
		return nil, nil, err
	}
	lines := make([]string, 0, len(page.Jobs))
	byID := map[string]*job.Job{}
	for _, j := range page.Jobs {
		lines = append(lines, fmt.Sprintf("%s %s rev=%d", j.ID, j.State, j.Rev))
		byID[j.ID] = j
	}
	return lines, byID, nil
}

// partitionEventually is eventually with a name for what is waited for.
func partitionEventually(t *testing.T, what string, within time.Duration, cond func() error) {
	t.Helper()
	eventually(t, within, func() error {
		if err := cond(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// partitionLive checks that each node of from lists each of want as live (or, with
// live false, as silent).
func partitionLive(from []*ctrNode, want []*ctrNode, live bool) error {
	for _, f := range from {
		view, err := f.liveView()
		if err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
		for _, w := range want {
			if w == f {
				continue
			}
			if got, known := view[w.id]; got != live || (live && !known) {
				return fmt.Errorf("%s lists %s as live=%v (known %v), want live=%v; its view: %v", f.name, w.name, got, known, live, view)
			}
		}
	}
	return nil
}

// partitionDone waits until the job is terminal on its requester and checks it
// completed on one of the nodes in on.
func partitionDone(t *testing.T, owner *ctrNode, id string, on ...*ctrNode) *job.Job {
	t.Helper()
	var j *job.Job
	partitionEventually(t, "job "+id+" on "+owner.name+" to end", 2*time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if j, err = owner.c.Get(ctx, id); err != nil {
			return err
		}
		if !j.State.Terminal() {
			return fmt.Errorf("still %s; last event %q", j.State, j.History[len(j.History)-1].Message)
		}
		return nil
	})
	e := j.Reported()
	if j.State != job.StateCompleted || e == nil {
		t.Fatalf("job %s on %s ended %s (%q); history %+v", id, owner.name, j.State, j.Reason, j.History)
	}
	if !slices.ContainsFunc(on, func(n *ctrNode) bool { return n.id == e.NodeID }) {
		names := make([]string, len(on))
		for i, n := range on {
			names[i] = n.name
		}
		t.Fatalf("job %s of %s ran on %s, want one of %v", id, owner.name, e.NodeID, names)
	}
	if e.Stdout != "Hello, world!\n" {
		t.Fatalf("job %s stdout %q", id, e.Stdout)
	}
	return j
}

// TestPartitionHeals cuts one node of three off the swarm network, runs jobs on both
// sides, heals the partition and checks that every node ends up with the same jobs, all
// completed.
func TestPartitionHeals(t *testing.T) {
	partitionDockerOrSkip(t)
	logLevel := os.Getenv("BACALHAU_PARTITION_LOG_LEVEL") // debug when investigating
	if logLevel == "" {
		logLevel = "info"
	}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	prefix := "bacalhau-wasm-test-" + hex.EncodeToString(rb[:])
	image := prefix + ":partition"
	ctl, swarm := prefix+"-ctl", prefix+"-swarm"

	partitionImage(t, image)
	partitionMustDocker(t, "network", "create", "--driver", "bridge", "--label", partitionLabel, ctl)
	partitionCleanup(t, "network", "rm", ctl)
	subnet := partitionSwarmNet(t, swarm)

	ips := []string{subnet + ".10", subnet + ".11", subnet + ".12"}
	nodes := make([]*ctrNode, 3)
	nodes[0] = partitionStart(t, prefix+"-node0", image, ctl, swarm, ips[0], logLevel, "--labels", "name=node0")
	join := "/ip4/" + ips[0] + "/tcp/1235/p2p/" + nodes[0].id
	for i := 1; i < 3; i++ {
		nodes[i] = partitionStart(t, fmt.Sprintf("%s-node%d", prefix, i), image, ctl, swarm, ips[i], logLevel,
			"--labels", fmt.Sprintf("name=node%d", i), "--peer", join)
	}
	n0, n1, n2 := nodes[0], nodes[1], nodes[2]
	t.Logf("nodes: %s %s (%s), %s %s (%s), %s %s (%s)", n0.name, n0.id, n0.ip, n1.name, n1.id, n1.ip, n2.name, n2.id, n2.ip)

	partitionEventually(t, "every node to list the other two as live", time.Minute, func() error {
		return partitionLive(nodes, nodes, true)
	})
	var all []string
	first := n0.submit()
	partitionDone(t, n0, first, nodes...)
	all = append(all, first)

	// Partition: node2 leaves the swarm network; its API stays on the control network.
	start := time.Now()
	partitionMustDocker(t, "network", "disconnect", swarm, n2.name)
	partitionEventually(t, "both sides to see the other go silent", time.Minute, func() error {
		if err := partitionLive([]*ctrNode{n0, n1}, []*ctrNode{n2}, false); err != nil {
			return err
		}
		if err := partitionLive([]*ctrNode{n2}, []*ctrNode{n0, n1}, false); err != nil {
			return err
		}
		return partitionLive([]*ctrNode{n0, n1}, []*ctrNode{n0, n1}, true)
	})
	t.Logf("partitioned after %s", time.Since(start).Round(time.Millisecond))
	var majority, minority []string
	for range 3 {
		majority = append(majority, n0.submit())
	}
	for range 2 {
		minority = append(minority, n2.submit())
	}
	for _, id := range majority {
		partitionDone(t, n0, id, n0, n1)
	}
	for _, id := range minority {
		partitionDone(t, n2, id, n2)
	}
	all = append(append(all, majority...), minority...)
	// Nothing crossed the partition.
	if lines, byID, err := n2.jobView(); err != nil {
		t.Fatal(err)
	} else {
		for _, id := range majority {
			if byID[id] != nil {
				t.Fatalf("node2, cut off, holds job %s submitted to node0 during the partition: %v", id, lines)
			}
		}
	}

	// Heal: same IP, so the addresses the others know are right again.
	healed := time.Now()
	partitionMustDocker(t, "network", "connect", "--ip", n2.ip, swarm, n2.name)
	partitionEventually(t, "every node to list the other two as live after the heal", time.Minute, func() error {
		return partitionLive(nodes, nodes, true)
	})
	t.Logf("live again after %s", time.Since(healed).Round(time.Millisecond))
	// Scheduling crosses the healed link: a job on node0 that only node2 may run.
	pinned := n0.submit("-s", "name=node2")
	partitionDone(t, n0, pinned, n2)
	all = append(all, pinned)
	slices.Sort(all)

	var want []string
	partitionEventually(t, "all three nodes to hold the same jobs, all completed", time.Minute, func() error {
		views := make([][]string, len(nodes))
		for i, n := range nodes {
			lines, byID, err := n.jobView()
			if err != nil {
				return fmt.Errorf("%s: %v", n.name, err)
			}
			ids := make([]string, 0, len(byID))
			for id, j := range byID {
				ids = append(ids, id)
				if j.State != job.StateCompleted {
					return fmt.Errorf("%s holds %s as %s", n.name, id, j.State)
				}
			}
			slices.Sort(ids)
			if !slices.Equal(ids, all) {
				return fmt.Errorf("%s holds jobs %v, want %v", n.name, ids, all)
			}
			views[i] = lines
		}
		for i := 1; i < len(views); i++ {
			if !slices.Equal(views[i], views[0]) {
				return fmt.Errorf("%s and %s differ:\n%s\nvs\n%s", nodes[0].name, nodes[i].name,
					strings.Join(views[0], "\n"), strings.Join(views[i], "\n"))
			}
		}
		want = views[0]
		return nil
	})
	t.Logf("converged %s after the heal on %d jobs:\n%s", time.Since(healed).Round(time.Millisecond), len(want), strings.Join(want, "\n"))
}
