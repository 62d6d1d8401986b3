package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
)

// TestDevstack: `bacalhau devstack --nodes 3` starts three real node processes that see
// each other, runs a job through them, and leaves nothing running after Ctrl-C.
func TestDevstack(t *testing.T) {
	cmd := exec.Command(binPath, "devstack", "--nodes", "3", "--serve-arg=--heartbeat=250ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()

	apiLine := regexp.MustCompile(`^  node (\d+)  (\S+)  API 127\.0\.0\.1:(\d+)`)
	var ports []int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
		if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
			p, _ := strconv.Atoi(m[3])
			ports = append(ports, p)
		}
	}
	go func() { // keep draining so the devstack never blocks on its stdout
		for sc.Scan() {
		}
	}()
	if len(ports) != 3 {
		t.Fatalf("devstack printed %d nodes, want 3", len(ports))
	}
	n := &testNode{t: t, port: ports[2]}
	eventually(t, 20*time.Second, func() error {
		peers, err := n.client().Nodes(context.Background())
		if err != nil {
			return err
		}
		live := 0
		for _, p := range peers {
			if p.Live {
				live++
			}
		}
		if live != 3 {
			return fmt.Errorf("node 2 sees %d live nodes, want 3", live)
		}
		return nil
	})
	if out := n.ok("wasm", "run", guestPath["hello"], "-s", "devstack=0"); field(out, "State") != "completed" {
		t.Fatalf("job through the devstack:\n%s", out)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("devstack exited with %v after Ctrl-C", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("devstack still running 30 s after Ctrl-C")
	}
	for _, p := range ports {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := api.NewClient("http://127.0.0.1:" + strconv.Itoa(p)).Health(ctx)
		cancel()
		if err == nil {
			t.Fatalf("a node still answers on port %d after the devstack stopped", p)
		}
	}
}
