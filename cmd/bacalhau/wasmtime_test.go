package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

	// The same guest behaviour as wazero through the node: exit codes and timeouts. The
	// first run compiles the module, before its timeout starts (TestCompileBeforeTimeout).
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

// TestWasmtimeFunctions: functions deployed with --engine wasmtime run on wasmtime on
// a node that offers it, fresh (the request body on stdin) and pooled (instances
// reused, then recycled); a node that does not offer wasmtime answers 503 naming it.
func TestWasmtimeFunctions(t *testing.T) {
	if !wasmtime.Available {
		if os.Getenv("CI") == "true" {
			t.Fatal("this build has no wasmtime engine (it needs cgo on Linux)")
		}
		t.Skip("this build has no wasmtime engine: build with cgo on Linux")
	}
	a, b := newFnNode(t, "a", "--engines", "wazero"), newFnNode(t, "b", "--engines", "wazero,wasmtime")
	startNetwork(t, a.netNode, b.netNode)

	out := b.ok("fn", "deploy", "fresh", guestPath["fnfaulty"], "--engine", "wasmtime")
	if !strings.Contains(out, "fresh mode on wasmtime") {
		t.Errorf("deploy: %q", out)
	}
	if code, body, _ := b.call("POST", "/fn/fresh/x", []byte("twelve bytes")); code != 200 || body != "ok /x 12\n" {
		t.Errorf("fresh on wasmtime: %d %q", code, body)
	}
	if list := b.ok("fn", "list"); !strings.Contains(lineWith(list, "fresh"), "wasmtime") {
		t.Errorf("fn list does not show the engine:\n%s", list)
	}
	var f job.Function
	if err := json.Unmarshal([]byte(b.ok("fn", "describe", "fresh", "--output", "json")), &f); err != nil || f.Engine != job.EngineWasmtime {
		t.Errorf("describe: engine %q, %v", f.Engine, err)
	}

	// a learns the function but does not offer its engine.
	eventually(t, 60*time.Second, func() error {
		code, body, _ := a.call("GET", "/fn/fresh/x", nil)
		if code != 503 || !strings.Contains(body, "wasmtime engine, which this node does not offer") {
			return fmt.Errorf("node a: %d %q, want 503 naming the engine", code, body)
		}
		return nil
	})

	b.ok("fn", "deploy", "p", guestPath["fnpooled"], "--engine", "wasmtime", "--mode", "pooled", "--pool-size", "1", "--concurrency", "1", "--recycle", "3")
	for i, want := range []string{"1", "2", "3", "1", "2"} { // recycled after 3 requests
		if code, body, _ := b.call("GET", "/fn/p/count", nil); code != 200 || strings.TrimSpace(body) != want {
			t.Errorf("pooled request %d on wasmtime: %d %q, want %s", i+1, code, body, want)
		}
	}

	// An unknown engine is a usage error.
	if _, errOut, code := b.cli("fn", "deploy", "x", guestPath["fnhello"], "--engine", "v8"); code == 0 || !strings.Contains(errOut, "want wazero or wasmtime") {
		t.Errorf("--engine v8: exit %d, stderr %q", code, errOut)
	}
}

// TestEngineNoNodeOffers: on a network whose only node offers wazero, a wasmtime job is
// taken and waits, pending with the reason in describe, until its queue timeout fails
// it naming the reason.
func TestEngineNoNodeOffers(t *testing.T) {
	a := newNetNode(t, "a", binPath)
	a.args = append(a.args, "--engines", "wazero")
	a.start()
	const why = "no node offers engine wasmtime"
	id := strings.TrimSpace(a.ok("wasm", "run", "--engine", "wasmtime", "--wait=false", "--id-only", guestPath["hello"]))
	eventually(t, 30*time.Second, func() error {
		if desc := a.ok("describe", id, "--output", "table"); field(desc, "State") != "pending" || !strings.Contains(desc, why) {
			return fmt.Errorf("describe:\n%s\nwant pending, saying %q", desc, why)
		}
		return nil
	})
	j := runFails(t, a.testNode, "--engine", "wasmtime", "--queue-timeout", "2s", guestPath["hello"])
	if j.State != job.StateFailed || !strings.Contains(j.Reason, why) {
		t.Errorf("with --queue-timeout 2s: %s %q, want failed saying %q", j.State, j.Reason, why)
	}
}
