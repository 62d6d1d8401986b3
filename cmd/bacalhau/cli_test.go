package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestUnknownSubcommands: a command that does not exist fails with a suggestion instead
// of printing help and exiting 0.
func TestUnknownSubcommands(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"wasm", "validate"}, []string{`unknown command "validate" for "bacalhau wasm"`, "run"}},
		{[]string{"data", "pin", helloV1}, []string{`unknown command "pin" for "bacalhau data"`, "add, car, cat, get, ls, rm"}},
		{[]string{"job", "submit", "x.yaml"}, []string{`unknown command "submit" for "bacalhau job"`, "run"}},
		{[]string{"job"}, []string{`"bacalhau job" needs a subcommand`}},
		{[]string{"config", "lst"}, []string{"Did you mean this?", "list"}},
		{[]string{"data", "car", "exprt"}, []string{"Did you mean this?", "export"}},
		{[]string{"wsm", "run"}, []string{`unknown command "wsm"`, "Did you mean this?", "wasm"}},
		{[]string{"wasm"}, []string{`"bacalhau wasm" needs a subcommand: run`}},
		{[]string{"node"}, []string{"needs a subcommand: list"}},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), tt.args, strings.NewReader(""), &out, &errb)
		if code == 0 {
			t.Errorf("bacalhau %s: exit 0\n%s", strings.Join(tt.args, " "), out.String())
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("bacalhau %s: stderr %q lacks %q", strings.Join(tt.args, " "), errb.String(), w)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"wasm", "--help"}, {"data", "car", "--help"}, {"version", "--client"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, nil, &out, &errb); code != 0 || out.Len() == 0 {
			t.Errorf("bacalhau %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out.String(), errb.String())
		}
	}
}

// TestDescribeTable: every format describe's help offers works.
func TestDescribeTable(t *testing.T) {
	n := startNode(t)
	id := field(n.ok("wasm", "run", guestPath["hello"]), "Job ID")
	out := n.ok("describe", id, "--output", "table")
	for _, want := range []string{"ID:          " + id, "State:       completed", "Executions:", "History:", "job submitted"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe --output table lacks %q:\n%s", want, out)
		}
	}
	if _, errs, code := n.cli("describe", id, "--output", "xml"); code == 0 || !strings.Contains(errs, "want table, json or yaml") {
		t.Fatalf("describe --output xml: exit %d %s", code, errs)
	}
}

// TestWaitSaysWhyAndIsBounded: while a job waits for a node, wasm run prints the reason
// as it happens (stderr is not a terminal here), and --wait-timeout ends the wait with
// exit 124 and says how to follow or cancel the job, which goes on.
func TestWaitSaysWhyAndIsBounded(t *testing.T) {
	n := startNode(t)
	out, errs, code := n.cli("wasm", "run", guestPath["hello"], "-s", "region=nowhere", "--wait-timeout", "1500ms")
	if code != cli.ExitWaitTimeout {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, cli.ExitWaitTimeout, out, errs)
	}
	for _, want := range []string{"no node has the labels region=nowhere", "--wait-timeout", "bacalhau logs -f", "bacalhau cancel"} {
		if !strings.Contains(errs, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errs)
		}
	}
	// The same with --id-only: stdout holds only the ID, stderr still says why.
	out, errs, code = n.cli("wasm", "run", guestPath["hello"], "-s", "region=nowhere", "--wait-timeout", "1s", "--id-only")
	if id := strings.TrimSpace(out); code != cli.ExitWaitTimeout || !strings.HasPrefix(id, "j-") || strings.Contains(id, "\n") ||
		!strings.Contains(errs, "region=nowhere") {
		t.Fatalf("--id-only: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if j, err := n.client().Get(context.Background(), strings.TrimSpace(out)); err != nil || j.State != job.StatePending {
		t.Fatalf("the job after the CLI gave up: %+v, %v", j, err)
	}
}

// TestInterruptedWait: Ctrl-C while wasm run waits exits 130, says how to follow or
// cancel, and leaves the job running. Through the real binary: the signal is real.
func TestInterruptedWait(t *testing.T) {
	n := startNode(t)
	cmd := exec.Command(binPath, "--api-port", itoa(n.port), "wasm", "run", guestPath["faulty"], "--", "sleep")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	var all bytes.Buffer
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stderr, &all))
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	id := ""
	deadline := time.After(60 * time.Second)
	for running := false; !running; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("wasm run ended early: %s", all.String())
			}
			if v, ok := strings.CutPrefix(l, "Job "); ok && strings.HasSuffix(v, " submitted") {
				id = strings.TrimSuffix(v, " submitted")
			}
			running = strings.Contains(l, "running on node")
		case <-deadline:
			t.Fatalf("the job did not start: %s", all.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != cli.ExitInterrupted {
		t.Fatalf("exit %d (%v), want %d: %s", code, err, cli.ExitInterrupted, all.String())
	}
	for _, want := range []string{"Interrupted", "bacalhau logs -f", "bacalhau cancel"} {
		if !strings.Contains(all.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, all.String())
		}
	}
	if j, err := n.client().Get(context.Background(), id); err != nil || j.State != job.StateRunning {
		t.Fatalf("job %s after Ctrl-C: %+v, %v; want still running", id, j, err)
	}
	n.ok("cancel", id)
}
