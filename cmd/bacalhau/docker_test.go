package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/dockerfallback"
	"github.com/bacalhau-project/bacalhau-wasm/dockerfallback/dockertest"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// testImage is built by scripts/test-images.sh (FROM scratch, Debian's static busybox).
const testImage = "bacalhau-test/busybox"

// dockerReady fails under CI=true and skips elsewhere when there is no Docker engine,
// and builds the test image (no registry is needed).
func dockerReady(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs containers")
	}
	why := ""
	if _, err := exec.LookPath("docker"); err != nil {
		why = "no docker command in PATH"
	} else if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		why = fmt.Sprintf("the Docker engine does not answer (%v): %s", err, bytes.TrimSpace(out))
	}
	if why != "" {
		msg := why + ": the Docker tests need a running Docker engine (apt-get install docker.io) and busybox-static"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if out, err := exec.Command("../../scripts/test-images.sh").CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", testImage, err, out)
	}
}

// ownedContainers lists the containers (running or not) a node on repo started.
func ownedContainers(t *testing.T, repo string) []string {
	t.Helper()
	abs, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+dockerfallback.LabelOwner+"="+abs).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

// execContainer waits for the container of job id's execution and returns its ID.
func execContainer(t *testing.T, id string) string {
	t.Helper()
	var c string
	eventually(t, 60*time.Second, func() error {
		out, err := exec.Command("docker", "ps", "-q", "--filter", "label="+dockerfallback.LabelJob+"="+id).Output()
		if c = strings.TrimSpace(string(out)); err != nil || c == "" {
			return fmt.Errorf("no running container of job %s (%v)", id, err)
		}
		return nil
	})
	return c
}

func containerGone(t *testing.T, id string, within time.Duration) {
	t.Helper()
	eventually(t, within, func() error {
		out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+dockerfallback.LabelJob+"="+id).Output()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			return fmt.Errorf("container of job %s still there: %q %v", id, out, err)
		}
		return nil
	})
}

// engineEvents records what `docker events` says the engine did to the containers of
// one node, with the State.StartedAt of each container it saw start.
type engineEvents struct {
	mu      sync.Mutex
	events  []engineEvent
	started map[string]time.Time // container ID -> State.StartedAt
}

type engineEvent struct {
	Action string
	Actor  struct {
		ID         string
		Attributes map[string]string
	}
	TimeNano int64 `json:"timeNano"`
}

// watchEngine records the engine's events about the containers of the node on repo
// from now until the test ends.
func watchEngine(t *testing.T, repo string) *engineEvents {
	t.Helper()
	abs, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	// --since replays what happens between the command's start and its subscription.
	cmd := exec.Command("docker", "events", "--since", strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10),
		"--filter", "type=container", "--filter", "label="+dockerfallback.LabelOwner+"="+abs, "--format", "{{json .}}")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ev := &engineEvents{started: map[string]time.Time{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e engineEvent
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			if e.Action == "start" { // while the container is there
				if b, err := exec.Command("docker", "inspect", "-f", "{{.State.StartedAt}}", e.Actor.ID).Output(); err == nil {
					if at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b))); err == nil {
						ev.mu.Lock()
						ev.started[e.Actor.ID] = at
						ev.mu.Unlock()
					}
				}
			}
			ev.mu.Lock()
			ev.events = append(ev.events, e)
			ev.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); <-done })
	return ev
}

// killed waits (bounded) for the engine to have started, killed, and removed the
// container of job id, checks that it was sent SIGKILL alone, and returns when it
// started (State.StartedAt), died and was removed (engine clock).
func (ev *engineEvents) killed(t *testing.T, id string) (started, died, removed time.Time) {
	t.Helper()
	at := map[string]time.Time{}
	eventually(t, 30*time.Second, func() error {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		for _, e := range ev.events {
			if e.Actor.Attributes[dockerfallback.LabelJob] != id {
				continue
			}
			if e.Action == "start" {
				at["started"] = ev.started[e.Actor.ID]
			}
			if _, ok := at[e.Action]; !ok {
				at[e.Action] = time.Unix(0, e.TimeNano)
			}
		}
		for _, a := range []string{"started", "kill", "die", "destroy"} {
			if at[a].IsZero() {
				return fmt.Errorf("no %s of job %s's container in the engine's events", a, id)
			}
		}
		return nil
	})
	ev.mu.Lock()
	for _, e := range ev.events {
		if e.Actor.Attributes[dockerfallback.LabelJob] == id && e.Action == "kill" && e.Actor.Attributes["signal"] != "9" {
			t.Errorf("the container of job %s was sent signal %s: want 9 (SIGKILL) alone", id, e.Actor.Attributes["signal"])
		}
	}
	ev.mu.Unlock()
	t.Logf("engine: started→kill %s, kill→die %s, die→destroy %s", at["kill"].Sub(at["started"]), at["die"].Sub(at["kill"]), at["destroy"].Sub(at["die"]))
	return at["started"], at["die"], at["destroy"]
}

// TestDockerRunEndToEnd: docker run of a local image through the CLI; the result is
// laid out as a WASM job's, `get` downloads it, and `data add` of the download gives
// the same CID. Inputs are readable and not writable, outputs land in the result, and
// env, workdir and entrypoint reach the container.
func TestDockerRunEndToEnd(t *testing.T) {
	dockerReady(t)
	n := startNode(t)
	out, errs, code := n.cli("docker", "run", testImage, "echo", "hello")
	id, result := field(out, "Job ID"), field(out, "Result CID")
	if code != 0 || field(out, "State") != "completed" || field(out, "Exit code") != "0" || result == "" || !strings.Contains(out, "hello") {
		t.Fatalf("docker run: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "preparing: image "+testImage+" is on this node") {
		t.Errorf("no preparing step in the progress:\n%s", errs)
	}
	dir := filepath.Join(t.TempDir(), "out")
	n.ok("get", id, "--output-dir", dir)
	for name, want := range map[string]string{"stdout": "hello\n", "stderr": "", "exitCode": "0"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Fatalf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if again := strings.TrimSpace(n.ok("data", "add", dir)); again != result {
		t.Fatalf("re-added result = %s, want %s", again, result)
	}
	if got := n.ok("logs", id); got != "hello\n" {
		t.Fatalf("logs = %q", got)
	}
	var j job.Job
	if err := json.Unmarshal([]byte(n.ok("describe", id, "--output", "json")), &j); err != nil {
		t.Fatal(err)
	}
	if j.Spec.Engine != job.EngineDocker || j.Spec.Docker.Network != job.NetworkNone {
		t.Fatalf("describe: %+v", j.Spec)
	}

	src := filepath.Join(t.TempDir(), "in")
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("one\ntwo\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "sub", "b.txt"), []byte("three\n"), 0o644))
	in := strings.TrimSpace(n.ok("data", "add", src))
	script := `wc -l /inputs/a.txt /more/sub/b.txt; echo "K=$K"; pwd; id -u; ` +
		`touch /inputs/x 2>/dev/null && echo WROTE-INPUT; echo out > /outputs/o.txt; mkdir /outputs/d; echo deep > /outputs/d/e`
	out, errs, code = n.cli("docker", "run", "-i", in, "-i", "src=ipfs://"+in+",dst=/more", "-e", "K=V", "-w", "/tmp",
		"--entrypoint", "/bin/sh", testImage, "--", "-c", script)
	if code != 0 {
		t.Fatalf("docker run with inputs: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"2 /inputs/a.txt", "1 /more/sub/b.txt", "K=V\n", "/tmp\n", "65534\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "WROTE-INPUT") {
		t.Errorf("an input was writable:\n%s", out)
	}
	dir = filepath.Join(t.TempDir(), "out2")
	n.ok("get", field(out, "Job ID"), "--output-dir", dir)
	for name, want := range map[string]string{"outputs/o.txt": "out\n", "outputs/d/e": "deep\n"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Fatalf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	// logs -f follows a running container's output as it comes.
	tick := strings.TrimSpace(n.ok("docker", "run", "--wait=false", "--id-only", testImage, "sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.3; done"))
	var follow bytes.Buffer
	if code := run(context.Background(), []string{"--api-port", itoa(n.port), "logs", "-f", tick}, nil, &follow, &follow); code != 0 || follow.String() != "tick 1\ntick 2\ntick 3\n" {
		t.Fatalf("logs -f: exit %d %q", code, follow.String())
	}
	// A non-zero exit fails the job; its result is still there.
	out, _, code = n.cli("docker", "run", testImage, "sh", "-c", "echo bad >&2; exit 3")
	if code == 0 || field(out, "State") != "failed" || field(out, "Exit code") != "3" || field(out, "Result CID") == "" {
		t.Fatalf("exit 3: code %d\n%s", code, out)
	}
	if left := ownedContainers(t, n.repo); len(left) != 0 {
		t.Fatalf("containers left behind: %v", left)
	}
	if ents, err := os.ReadDir(filepath.Join(n.repo, "docker")); err != nil || len(ents) != 0 {
		t.Fatalf("execution directories left behind: %v %v", ents, err)
	}
}

// TestDockerConfinement: docker inspect of a running job's container shows the
// hardened defaults, and the defaults hold by behaviour.
func TestDockerConfinement(t *testing.T) {
	dockerReady(t)
	const pids = 64 // small, so that the fork bomb below is cheap
	n := startNode(t, "--docker-pids-limit", strconv.Itoa(pids))
	ctx := context.Background()
	ev := watchEngine(t, n.repo)
	id := strings.TrimSpace(n.ok("docker", "run", "--wait=false", "--id-only", "--memory", "64MiB", "--cpu", "500m", testImage, "sleep", "60"))
	c := execContainer(t, id)
	raw, err := exec.Command("docker", "inspect", c).Output()
	if err != nil {
		t.Fatal(err)
	}
	var info []struct {
		Config struct {
			User   string
			Labels map[string]string
		}
		HostConfig struct {
			NetworkMode    string
			CapDrop        []string
			SecurityOpt    []string
			ReadonlyRootfs bool
			Privileged     bool
			PidMode        string
			IpcMode        string
			UTSMode        string
			UsernsMode     string
			CgroupnsMode   string
			Memory         int64
			NanoCpus       int64
			PidsLimit      *int64
			Tmpfs          map[string]string
			Binds          []string
		}
		Mounts []struct {
			Source, Destination string
			RW                  bool
		}
	}
	if err := json.Unmarshal(raw, &info); err != nil || len(info) != 1 {
		t.Fatalf("inspect: %v\n%s", err, raw)
	}
	h, cfg := info[0].HostConfig, info[0].Config
	if h.NetworkMode != "none" || len(h.CapDrop) != 1 || h.CapDrop[0] != "ALL" || !strings.Contains(strings.Join(h.SecurityOpt, ","), "no-new-privileges") ||
		!h.ReadonlyRootfs || h.Privileged || h.PidMode != "" || h.Memory != 64<<20 || h.NanoCpus != 5e8 ||
		h.PidsLimit == nil || *h.PidsLimit != pids || h.Tmpfs["/tmp"] == "" || len(h.Binds) != 0 {
		t.Errorf("host config: %+v", h)
	}
	// No host namespace: the network is none, IPC private, the others the engine's
	// default (the container's own).
	if h.IpcMode != "private" || h.UTSMode != "" || h.UsernsMode != "" || h.CgroupnsMode == "host" {
		t.Errorf("namespaces: ipc %q uts %q userns %q cgroupns %q", h.IpcMode, h.UTSMode, h.UsernsMode, h.CgroupnsMode)
	}
	if cfg.User != "65534:65534" || cfg.Labels[dockerfallback.LabelJob] != id || cfg.Labels[dockerfallback.LabelExecution] == "" {
		t.Errorf("config: %+v", cfg)
	}
	abs, _ := filepath.Abs(n.repo)
	for _, m := range info[0].Mounts {
		if !strings.HasPrefix(m.Source, abs+"/") || (m.RW && m.Destination != "/outputs") {
			t.Errorf("mount %+v: outside the node's repository, or writable", m)
		}
	}
	// Cancel kills the container (SIGKILL) and removes it, within 3 s.
	t0 := time.Now()
	n.ok("cancel", id)
	containerGone(t, id, 10*time.Second)
	if j, _ := n.client().Get(ctx, id); j.State != job.StateCancelled {
		t.Fatalf("cancelled job is %s", j.State)
	}
	_, died, removed := ev.killed(t, id)
	if died.Sub(t0) > 3*time.Second || removed.Sub(t0) > 3*time.Second {
		t.Errorf("the container died %s and was removed %s after the cancel; want within 3s", died.Sub(t0), removed.Sub(t0))
	}
	t.Logf("cancel to container dead %s, gone %s", died.Sub(t0), removed.Sub(t0))

	for _, tt := range []struct {
		name, script string
		want         func(*job.Job) error
	}{
		{"no network", "ip link 2>&1 | grep -v ' lo' | grep -c '^[0-9]'; wget -T 2 -q -O- http://1.1.1.1/ && echo REACHED", func(j *job.Job) error {
			if strings.Contains(j.Latest().Stdout, "REACHED") {
				return fmt.Errorf("reached the network: %q", j.Latest().Stdout)
			}
			return nil
		}},
		{"root file system read-only", "echo x > /x && echo WROTE", func(j *job.Job) error {
			if strings.Contains(j.Latest().Stdout, "WROTE") || !strings.Contains(j.Latest().Stderr, "Read-only file system") {
				return fmt.Errorf("wrote /: %q %q", j.Latest().Stdout, j.Latest().Stderr)
			}
			return nil
		}},
		{"mount refused", "mount -t tmpfs none /tmp && echo MOUNTED", func(j *job.Job) error {
			if strings.Contains(j.Latest().Stdout, "MOUNTED") || j.State != job.StateFailed {
				return fmt.Errorf("mounted: %s %q", j.State, j.Latest().Stdout)
			}
			return nil
		}},
		{"fork bomb stopped by the pids limit", "i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null; echo STARTED-ALL", func(j *job.Job) error {
			if strings.Contains(j.Latest().Stdout, "STARTED-ALL") && !strings.Contains(j.Latest().Stderr, "fork") {
				return fmt.Errorf("100 processes started: %q %q", j.Latest().Stdout, j.Latest().Stderr)
			}
			return nil
		}},
		{"memory hog", "head -c 200000000 /dev/zero | tail > /dev/null; echo SURVIVED", func(j *job.Job) error {
			if j.State != job.StateFailed || j.Latest().Outcome != job.OutcomeMemoryLimit || !strings.Contains(j.Reason, "memory limit of 32 MiB exceeded") {
				return fmt.Errorf("memory hog: %s %s %q", j.State, j.Latest().Outcome, j.Reason)
			}
			return nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, _, _ := n.cli("docker", "run", "--output", "json", "--memory", "32MiB", "--timeout", "60s", testImage, "sh", "-c", tt.script)
			if err := tt.want(decodeJob(t, out)); err != nil {
				t.Error(err)
			}
		})
	}
	if left := ownedContainers(t, n.repo); len(left) != 0 {
		t.Fatalf("containers left behind: %v", left)
	}
}

// TestDockerTimeout: sleep 3600 with --timeout 2s is killed (SIGKILL) at its deadline,
// counted from the container's start: by the engine's clock it runs no less than 2 s
// and dies within 3 s; its container is gone by the time the job has ended.
func TestDockerTimeout(t *testing.T) {
	dockerReady(t)
	n := startNode(t)
	ev := watchEngine(t, n.repo)
	const timeout = 2 * time.Second
	out, _, code := n.cli("docker", "run", "--output", "json", "--timeout", "2s", testImage, "sleep", "3600")
	j := decodeJob(t, out)
	if code == 0 || j.State != job.StateFailed || j.Latest().Outcome != job.OutcomeTimeout {
		t.Fatalf("sleep 3600 --timeout 2s: %s %s %q", j.State, j.Latest().Outcome, j.Reason)
	}
	// The executor removes the container and its directory before it reports the end.
	if left := ownedContainers(t, n.repo); len(left) != 0 {
		t.Fatalf("containers left once the job ended: %v", left)
	}
	if ents, err := os.ReadDir(filepath.Join(n.repo, "docker")); err != nil || len(ents) != 0 {
		t.Fatalf("execution directories left once the job ended: %v %v", ents, err)
	}
	started, died, removed := ev.killed(t, j.ID)
	// The bound catches a stop with a grace period (SIGTERM, 10 s later SIGKILL) and
	// a timer that starts late; the lower one a timer that counts the container's
	// creation or start.
	if ran := died.Sub(started); ran < timeout || ran > timeout+time.Second {
		t.Errorf("the container ran %s with a %s timeout; want from %s to %s", ran, timeout, timeout, timeout+time.Second)
	}
	ex := j.Latest()
	t.Logf("container died %s past its deadline, gone %s later; the execution's start to end (creation, start, removal, import): %s",
		died.Sub(started)-timeout, removed.Sub(died), ex.EndedAt.Sub(ex.StartedAt))
}

// TestDockerMissingImage: an image that is not local, with no registry reachable,
// fails quickly naming the image.
func TestDockerMissingImage(t *testing.T) {
	dockerReady(t)
	n := startNode(t)
	img := "bacalhau-test/no-such-image:" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	out, errs, code := n.cli("docker", "run", "--output", "json", "--wait-timeout", "2m", img, "true")
	j := decodeJob(t, out)
	if code == 0 || j.State != job.StateFailed || !strings.Contains(j.Reason, img) {
		t.Fatalf("missing image: exit %d %s %q\n%s", code, j.State, j.Reason, errs)
	}
	if left := ownedContainers(t, n.repo); len(left) != 0 {
		t.Fatalf("containers left behind: %v", left)
	}
}

// TestDockerGPUAndVerify: a job asking for a GPU no node has fails with the reason,
// and --verify prints the caveat that containers are not deterministic.
func TestDockerGPUAndVerify(t *testing.T) {
	dockerReady(t)
	n := startNode(t)
	out, errs, code := n.cli("docker", "run", "--output", "json", "--gpu", "1", "--queue-timeout", "2s", testImage, "true")
	j := decodeJob(t, out)
	if code == 0 || j.State != job.StateFailed || !strings.Contains(j.Reason, "needs 1 GPU(s); this node has none") {
		t.Fatalf("--gpu 1: exit %d %s %q\n%s", code, j.State, j.Reason, errs)
	}
	out, errs, _ = n.cli("docker", "run", "--verify", "2", "--queue-timeout", "1s", testImage, "true")
	if !strings.Contains(errs, "not guaranteed deterministic") {
		t.Fatalf("--verify 2 without the caveat:\n%s\n%s", out, errs)
	}
}

// TestDockerKill9: a node killed mid-job leaves no container or directory after its
// restart, and the job is failed with the reason.
func TestDockerKill9(t *testing.T) {
	dockerReady(t)
	repo, port := filepath.Join(t.TempDir(), "repo"), freePort(t)
	proc, gone := startProcess(t, repo, port)
	n := &testNode{t: t, repo: repo, port: port}
	ctx := context.Background()
	id := strings.TrimSpace(n.ok("docker", "run", "--wait=false", "--id-only", testImage, "sleep", "3600"))
	execContainer(t, id)
	must(t, proc.Process.Signal(syscall.SIGKILL))
	<-gone
	if left := ownedContainers(t, repo); len(left) == 0 {
		t.Fatal("no container survived the kill: the test proves nothing")
	}
	startProcess(t, repo, port)
	if left := ownedContainers(t, repo); len(left) != 0 {
		t.Fatalf("containers left after the restart: %v", left)
	}
	if ents, err := os.ReadDir(filepath.Join(repo, "docker")); err != nil || len(ents) != 0 {
		t.Fatalf("execution directories left after the restart: %v %v", ents, err)
	}
	j, err := n.client().Get(ctx, id)
	if err != nil || j.State != job.StateFailed || !strings.Contains(j.Reason, "node stopped while the job was running") {
		t.Fatalf("job after the restart: %+v %v", j, err)
	}
}

// TestDockerMixedNetwork: on a 3-node network where only c runs Docker, a Docker job
// sent to a runs on c, reading data held by b; WASM jobs still run anywhere; node
// list shows each node's engines, and a Docker job only a node without Docker
// could take fails with the reason.
func TestDockerMixedNetwork(t *testing.T) {
	dockerReady(t)
	a, b, c := newNetNode(t, "a", binPath), newNetNode(t, "b", binPath), newNetNode(t, "c", binPath)
	a.args = append(a.args, "--docker", "off", "--engines", "wazero")
	b.args = append(b.args, "--docker", "off", "--engines", "wazero")
	c.args = append(c.args, "--docker", "on", "--engines", "wazero")
	startNetwork(t, a, b, c)
	ctx := context.Background()
	peers, err := a.client().Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		want := "wasm"
		if p.ID == c.id.String() {
			want = "docker,wasm"
		}
		if got := job.JoinEngines(p.Engines, ","); got != want {
			t.Errorf("node %s engines %q, want %q", p.ID, got, want)
		}
	}
	src := filepath.Join(t.TempDir(), "poem.txt")
	must(t, os.WriteFile(src, []byte("the data stays where it is\nand the job goes to it\n"), 0o644))
	in := strings.TrimSpace(b.ok("data", "add", src))
	out, errs, code := a.cli("docker", "run", "-i", in, testImage, "sh", "-c", "cat /inputs/*")
	if code != 0 || !strings.Contains(out, "the job goes to it") {
		t.Fatalf("docker job on the mixed network: exit %d\n%s\n%s", code, out, errs)
	}
	if on := ranOn(a.job(field(out, "Job ID"))); on != c.id.String() {
		t.Fatalf("docker job ran on %s, want c (%s)", on, c.id)
	}
	// WASM jobs run on any node, those without Docker too.
	for _, n := range []*netNode{a, b, c} {
		out := a.ok("wasm", "run", guestPath["hello"], "-s", "name="+n.name)
		if on := ranOn(a.job(field(out, "Job ID"))); field(out, "State") != "completed" || on != n.id.String() {
			t.Errorf("wasm job for %s ran on %s:\n%s", n.name, on, out)
		}
	}
	// A Docker job only a node without Docker could take waits, then fails with the
	// reason: b has the labels, and no Docker engine.
	out, _, _ = a.cli("docker", "run", "--output", "json", "-s", "name=b", "--queue-timeout", "2s", testImage, "true")
	if j := decodeJob(t, out); j.State != job.StateFailed || !strings.Contains(j.Reason, "no node with the labels name=b offers the docker engine") {
		t.Errorf("docker job for b: %s %q", j.State, j.Reason)
	}
}

// TestDockerOutputsLimit: a container writing past the job's --outputs-limit under
// /outputs fails the job with the limit named, and its result holds no more than the
// limit, whether the container is stopped while it writes or exits first.
func TestDockerOutputsLimit(t *testing.T) {
	dockerReady(t)
	n := startNode(t)
	const limit = 1 << 20
	for _, tt := range []struct{ name, script string }{
		{"stopped while it runs", "head -c 50000000 /dev/zero > /outputs/big; echo small > /outputs/z.txt; sleep 60"},
		{"exited past it", "echo a > /outputs/a.txt; head -c 3000000 /dev/zero > /outputs/big"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := n.cli("docker", "run", "--output", "json", "--outputs-limit", "1MiB", "--timeout", "5m", testImage, "sh", "-c", tt.script)
			j := decodeJob(t, out)
			if code == 0 || j.State != job.StateFailed || j.Latest().Outcome != job.OutcomeOutputsLimit || !strings.Contains(j.Reason, "outputs limit of 1 MiB exceeded") {
				t.Fatalf("exit %d %s %s %q\n%s", code, j.State, j.Latest().Outcome, j.Reason, errs)
			}
			dir := filepath.Join(t.TempDir(), "out")
			n.ok("get", j.ID, "--output-dir", dir)
			var total int64
			must(t, filepath.Walk(filepath.Join(dir, "outputs"), func(_ string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() {
					total += fi.Size()
				}
				return err
			}))
			if total > limit {
				t.Fatalf("the result holds %d bytes of outputs, past the limit of %d", total, limit)
			}
			containerGone(t, j.ID, 30*time.Second)
		})
	}
}

// TestDockerPull: an image the node lacks is pulled from a registry (a loopback one
// that wants the credentials the node's user's Docker config holds); describe shows
// the pull with its duration, and the pull is not counted against the job's timeout:
// a pull of over 3 s, then a job with --timeout 2s, completes.
func TestDockerPull(t *testing.T) {
	dockerReady(t)
	const delay = 3 * time.Second
	reg := dockertest.NewRegistry(t, testImage, dockertest.Options{User: "ci", Password: "s3cret", Delay: delay})
	cfg := t.TempDir()
	must(t, os.WriteFile(filepath.Join(cfg, "config.json"),
		[]byte(`{"auths": {"`+reg.Host+`": {"auth": "`+base64.StdEncoding.EncodeToString([]byte("ci:s3cret"))+`"}}}`), 0o600))
	t.Setenv("DOCKER_CONFIG", cfg) // the node runs in this process
	n := startNode(t)
	ref := reg.Ref("pulled")
	out, errs, code := n.cli("docker", "run", "--timeout", "2s", ref, "echo", "pulled")
	if code != 0 || field(out, "State") != "completed" || !strings.Contains(out, "pulled\n") {
		t.Fatalf("docker run of an image to pull: exit %d\n%s\n%s", code, out, errs)
	}
	desc := n.ok("describe", "--output", "json", field(out, "Job ID"))
	var m []string
	for _, h := range decodeJob(t, desc).History {
		if m == nil {
			m = regexp.MustCompile(`preparing: pulled image ` + regexp.QuoteMeta(ref) + ` in (\S+)$`).FindStringSubmatch(h.Message)
		}
	}
	if m == nil {
		t.Fatalf("describe shows no pull of %s:\n%s", ref, desc)
	}
	if d, err := time.ParseDuration(m[1]); err != nil || d < delay {
		t.Fatalf("describe says the pull took %s, want at least %s:\n%s", m[1], delay, desc)
	}
}

// TestDockerNetworkFull: --network full gives the container a network interface
// besides lo, the default none gives it none, and a node started with
// --docker-deny-network refuses such jobs, which fail with its reason.
func TestDockerNetworkFull(t *testing.T) {
	dockerReady(t)
	n := startNode(t)
	for network, want := range map[string]string{"full": "eth0 lo\n", "none": "lo\n"} {
		out, errs, code := n.cli("docker", "run", "--network", network, testImage, "sh", "-c", "echo $(ls /sys/class/net)")
		if code != 0 || !strings.Contains(out, "\n"+want) {
			t.Errorf("--network %s: exit %d, want interfaces %q:\n%s\n%s", network, code, want, out, errs)
		}
	}
}

// TestDockerDenyNetwork: a node started with --docker-deny-network does not take a job
// asking for --network full, which fails with the node's reason; it still runs others.
func TestDockerDenyNetwork(t *testing.T) {
	dockerReady(t)
	n := startNode(t, "--docker-deny-network")
	out, errs, code := n.cli("docker", "run", "--output", "json", "--network", "full", "--queue-timeout", "2s", testImage, "true")
	j := decodeJob(t, out)
	if code == 0 || j.State != job.StateFailed || !strings.Contains(j.Reason, "asks for --network full; this node's policy allows no network") {
		t.Fatalf("--network full on a node that denies it: exit %d %s %q\n%s", code, j.State, j.Reason, errs)
	}
	if out := n.ok("docker", "run", testImage, "echo", "ok"); !strings.Contains(out, "ok\n") {
		t.Fatalf("--network none on the same node:\n%s", out)
	}
}

// TestDockerOutputCapped: a container's stdout and stderr are capped as a WASM guest's
// (16 MiB each): the job says they were truncated and the result holds the cap.
func TestDockerOutputCapped(t *testing.T) {
	dockerReady(t)
	n := startNode(t)
	out, errs, code := n.cli("docker", "run", "--output", "json", testImage, "sh", "-c", "head -c 20000000 /dev/zero; head -c 20000000 /dev/zero >&2")
	j := decodeJob(t, out)
	if ex := j.Latest(); code != 0 || j.State != job.StateCompleted || !ex.StdoutTruncated || !ex.StderrTruncated {
		t.Fatalf("flood: exit %d %s, truncated %v %v\n%s", code, j.State, ex.StdoutTruncated, ex.StderrTruncated, errs)
	}
	dir := filepath.Join(t.TempDir(), "out")
	n.ok("get", j.ID, "--output-dir", dir)
	for _, name := range []string{"stdout", "stderr"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() != 16<<20 {
			t.Errorf("%s of the flood: %v; want the 16 MiB cap", name, err)
		}
	}
}

// TestDockerNoEngine: a node whose Docker engine does not answer (--docker auto, the
// default) does not offer the docker engine in node list, and a Docker job sent to it
// waits saying no node offers it, then fails with that reason. No engine is needed.
func TestDockerNoEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock")) // the node runs in this process
	n := startNode(t)
	nodes, err := n.client().Nodes(context.Background())
	if err != nil || len(nodes) == 0 {
		t.Fatalf("node list: %v %v", nodes, err)
	}
	for _, p := range nodes {
		if got := job.JoinEngines(p.Engines, ","); strings.Contains(got, "docker") || got == "" {
			t.Errorf("node %s offers %q with no Docker engine", p.ID, got)
		}
	}
	out, errs, code := n.cli("docker", "run", "--output", "json", "--queue-timeout", "2s", testImage, "true")
	j := decodeJob(t, out)
	if code == 0 || j.State != job.StateFailed || !strings.Contains(j.Reason, "no node offers engine docker") {
		t.Fatalf("docker job on a node without Docker: exit %d %s %q\n%s", code, j.State, j.Reason, errs)
	}
}
