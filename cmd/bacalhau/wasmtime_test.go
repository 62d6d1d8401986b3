package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasmtime"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestWasmtimeEngine: two node processes, a offering wazero only and b wazero and
// wasmtime. A job sent to a with --engine wasmtime runs on b; its record, describe and
// receipt say wasmtime; node list shows each node's engines; --verify with wasmtime
// is refused by the CLI before submission and by the node on submission.
func TestWasmtimeEngine(t *testing.T) {
	if !wasmtime.Available {
		if os.Getenv("CI") == "true" {
			t.Fatal("this build has no wasmtime engine (it needs cgo on Linux)")
		}
		t.Skip("this build has no wasmtime engine: build with cgo on Linux")
	}
	a, b := newNetNode(t, "a", binPath), newNetNode(t, "b", binPath)
	a.args = append(a.args, "--engines", "wazero")
	b.args = append(b.args, "--engines", "wazero,wasmtime")
	startNetwork(t, a, b)

	nodes := a.ok("node", "list")
	for _, n := range []*netNode{a, b} {
		want := "wasm"
		if n == b {
			want = "wasm,wasmtime"
		}
		line := lineWith(nodes, n.id.String()[:12])
		if !strings.Contains(line, want) || (n == a && strings.Contains(line, "wasmtime")) {
			t.Errorf("node list, node %s: %q, want engines %s\n%s", n.name, line, want, nodes)
		}
	}

	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "poem.txt"), []byte("fast compute\nover slow data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cid := strings.TrimSpace(a.ok("data", "add", data))
	out := a.ok("wasm", "run", "--engine", "wasmtime", guestPath["sha256"], "-i", cid)
	if field(out, "State") != "completed" || !strings.Contains(out, "poem.txt") {
		t.Fatalf("wasmtime job:\n%s", out)
	}
	j := a.job(field(out, "Job ID"))
	if j.Spec.Engine != job.EngineWasmtime || ranOn(j) != b.id.String() {
		t.Fatalf("job ran with engine %q on %s, want wasmtime on b (%s)", j.Spec.Engine, ranOn(j), b.id)
	}
	r := j.Reported().Receipt
	if r == nil || jobproto.VerifyReceipt(r) != nil || r.SpecDigest != job.TaskDigest(j.Spec) {
		t.Fatalf("receipt: %+v", r)
	}
	wazeroJob := a.job(field(a.ok("wasm", "run", guestPath["sha256"], "-i", cid), "Job ID"))
	if job.TaskDigest(wazeroJob.Spec) == r.SpecDigest {
		t.Error("the receipt's task digest does not cover the engine")
	}
	if desc := a.ok("describe", j.ID, "--output", "table"); !strings.Contains(lineWith(desc, "Task:"), "wasmtime") {
		t.Errorf("describe does not show the engine:\n%s", desc)
	}

	// The same guest behaviour as wazero through the node: exit codes and timeouts. A
	// first run compiles the module: a requester counts compilation in the execution's
	// time (its timeout plus the grace), and Cranelift on a loaded machine takes seconds.
	exit3 := runFails(t, a.testNode, "--engine", "wasmtime", guestPath["faulty"], "--", "exit", "3")
	if ex := exit3.Latest(); ex.Outcome != job.OutcomeExited || ex.ExitCode == nil || *ex.ExitCode != 3 || !strings.Contains(ex.Stdout, "partial output") {
		t.Errorf("exit 3 on wasmtime: %s %q %+v", exit3.State, exit3.Reason, ex)
	}
	failed := runFails(t, a.testNode, "--engine", "wasmtime", guestPath["faulty"], "--timeout", "5s", "--queue-timeout", "1m", "--", "spin")
	if failed.Latest().Outcome != job.OutcomeTimeout {
		t.Errorf("spinning guest on wasmtime: %s %q outcome %q", failed.State, failed.Reason, failed.Latest().Outcome)
	}

	// Verification needs the deterministic engine: refused before submission...
	_, errOut, code := a.cli("wasm", "run", "--engine", "wasmtime", "--verify", "2", guestPath["hello"])
	if code == 0 || !strings.Contains(errOut, "--verify 2 needs results that every node reproduces") {
		t.Errorf("--verify 2 --engine wasmtime: exit %d, stderr %q", code, errOut)
	}
	// ...and by the node, for a client that does not check.
	mod := strings.TrimSpace(a.ok("data", "add", guestPath["hello"]))
	_, err := a.client().Submit(context.Background(), job.Spec{Engine: job.EngineWasmtime, Wasm: &job.WasmTask{Module: cidtext.MustParse(mod)}, Verify: 2})
	if !errors.Is(err, api.ErrInvalidSpec) || !strings.Contains(err.Error(), "not reproducible") && !strings.Contains(err.Error(), "engine's are not") {
		t.Errorf("submitting a verified wasmtime job: %v", err)
	}
	// An unknown engine name is a usage error.
	if _, errOut, code := a.cli("wasm", "run", "--engine", "v8", guestPath["hello"]); code == 0 || !strings.Contains(errOut, "want wazero or wasmtime") {
		t.Errorf("--engine v8: exit %d, stderr %q", code, errOut)
	}
}

func lineWith(out, s string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}
