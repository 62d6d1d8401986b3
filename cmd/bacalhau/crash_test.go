package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// startProcess runs `bacalhau serve` as a separate process on repo and waits until it
// answers. The returned channel is closed when the process has exited.
func startProcess(t *testing.T, repo string, port int, extra ...string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	args := append([]string{"serve", "--repo", repo, "--api-port", strconv.Itoa(port), "--swarm-host", "127.0.0.1", "--swarm-port", "0", "--log-level", "error"}, extra...)
	cmd := exec.Command(binPath, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, gone := make(chan int, 1), make(chan struct{})
	go func() {
		code := -1
		if st, err := cmd.Process.Wait(); err == nil {
			code = st.ExitCode()
		}
		exited <- code // read by waitReady if the node dies before it is ready
		close(gone)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-gone
	})
	n := &testNode{t: t, repo: repo, port: port}
	n.waitReady(exited, &syncBuffer{})
	return cmd, gone
}

func TestKill9WhileRunning(t *testing.T) {
	repo, port := filepath.Join(t.TempDir(), "repo"), freePort(t)
	proc, gone := startProcess(t, repo, port)
	n := &testNode{t: t, repo: repo, port: port}
	c := n.client()
	ctx := context.Background()

	done := n.ok("wasm", "run", guestPath["hello"])
	doneID, doneResult := field(done, "Job ID"), field(done, "Result CID")
	sleeper := strings.TrimSpace(n.ok("wasm", "run", guestPath["faulty"], "--wait=false", "--id-only", "--", "sleep"))
	if _, err := c.Watch(ctx, sleeper, func(j *job.Job) bool { return j.State != job.StateRunning }); err != nil {
		t.Fatal(err)
	}
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-gone

	startProcess(t, repo, port)
	j, err := c.Get(ctx, sleeper)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != job.StateFailed || !strings.Contains(j.Reason, "node stopped while the job was running") {
		t.Fatalf("job running at the crash is %s (%q), want failed with a reason", j.State, j.Reason)
	}
	old, err := c.Get(ctx, doneID)
	if err != nil || old.State != job.StateCompleted || old.Latest().ResultCID.String() != doneResult {
		t.Fatalf("earlier job after restart: %+v, %v", old, err)
	}
	dir := filepath.Join(t.TempDir(), "result")
	n.ok("get", doneID, "--output-dir", dir)
	if b, err := os.ReadFile(filepath.Join(dir, "stdout")); err != nil || string(b) != "Hello, world!\n" {
		t.Fatalf("earlier result after a crash: %q, %v", b, err)
	}
	if out := n.ok("wasm", "run", guestPath["hello"]); field(out, "State") != "completed" {
		t.Fatalf("node after restart:\n%s", out)
	}
}
