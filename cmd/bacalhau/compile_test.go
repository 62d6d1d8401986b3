package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasmtime"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// compileEngines are the engines whose jobs' modules are compiled before they run:
// wazero, and wasmtime where this build has it (it must under CI).
func compileEngines(t *testing.T) []string {
	t.Helper()
	if wasmtime.Available {
		return []string{"wazero", "wasmtime"}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this build has no wasmtime engine (it needs cgo on Linux)")
	}
	t.Log("this build has no wasmtime engine: wazero only")
	return []string{"wazero"}
}

// TestCompileBeforeTimeout: a job's module is compiled (or loaded from the compile
// cache) as a step of its own, before its execution is reported running, which is when
// its requester starts counting the job's --timeout; the history shows the step. Two
// node processes: a, the requester, offers wazero only; b, whose compile cache is
// cold, runs the jobs, on each engine. With a --timeout of 2s and the test network's
// grace of 2s, a Go guest whose compilation takes longer than both (seconds on a
// loaded machine) and whose run is short completes. Before, b compiled it while it was
// reported running: the history said nothing of it, and a compilation past the timeout
// plus the grace had a give the execution up.
func TestCompileBeforeTimeout(t *testing.T) {
	engines := compileEngines(t)
	a, b := newNetNode(t, "a", binPath), newNetNode(t, "b", binPath)
	a.args = append(a.args, "--engines", "wazero")
	b.args = append(b.args, "--engines", strings.Join(engines, ","))
	startNetwork(t, a, b)
	mod := strings.TrimSpace(a.ok("data", "add", guestPath["hello"]))
	for _, engine := range engines {
		j := a.job(field(a.ok("wasm", "run", "--engine", engine, "-s", "name=b", "--timeout", "2s", mod), "Job ID"))
		if j.State != job.StateCompleted || ranOn(j) != b.id.String() {
			t.Fatalf("%s: job %s on %s (%s), want completed on b", engine, j.State, ranOn(j), j.Reason)
		}
		step := "compiling module " + mod + " for " + engine
		compiling := slices.IndexFunc(j.History, func(ev job.Event) bool { return strings.HasSuffix(ev.Message, step) })
		compiled := slices.IndexFunc(j.History, func(ev job.Event) bool {
			return strings.Contains(ev.Message, "compiled module "+mod+" for "+engine+" in ")
		})
		running := slices.IndexFunc(j.History, func(ev job.Event) bool { return ev.Message == "running on node "+b.id.String() })
		if compiling < 0 || compiled < compiling || running < compiled {
			t.Fatalf("%s: history: compiling at %d, compiled at %d, running at %d; want them in that order:\n%s",
				engine, compiling, compiled, running, a.ok("describe", j.ID))
		}
		if desc := a.ok("describe", j.ID, "--output", "table"); !strings.Contains(desc, step) {
			t.Errorf("%s: describe does not show the compilation:\n%s", engine, desc)
		}
		t.Log(j.History[compiled].Message)

		// Compiled and in memory now: the next job goes straight to a worker.
		j = a.job(field(a.ok("wasm", "run", "--engine", engine, "-s", "name=b", "--timeout", "2s", mod), "Job ID"))
		if j.State != job.StateCompleted || slices.ContainsFunc(j.History, func(ev job.Event) bool { return strings.Contains(ev.Message, "compil") }) {
			t.Fatalf("%s: second job %s (%s), history %+v; want completed with no compilation", engine, j.State, j.Reason, j.History)
		}
	}
}

// TestCompileTimeout: serve --compile-timeout bounds the compilation of a job's
// module, on each engine; past it the job fails, not started, with a reason that names
// the module and the bound.
func TestCompileTimeout(t *testing.T) {
	engines := compileEngines(t)
	n := startNode(t, "--engines", strings.Join(engines, ","), "--compile-timeout", "1ms")
	mod := strings.TrimSpace(n.ok("data", "add", guestPath["hello"]))
	for _, engine := range engines {
		j := runFails(t, n, "--engine", engine, mod)
		want := "compiling module " + mod + " for " + engine + " took longer than this node's compile timeout of 1ms (serve --compile-timeout)"
		if e := j.Latest(); j.State != job.StateFailed || !strings.Contains(j.Reason, want) || e == nil || e.Outcome != job.OutcomeNotStarted {
			t.Errorf("%s: %s %q, %+v; want failed, not started: %q", engine, j.State, j.Reason, e, want)
		}
	}
	if _, errOut, code := n.cli("serve", "--repo", t.TempDir(), "--compile-timeout", "0"); code == 0 || !strings.Contains(errOut, "--compile-timeout must be positive") {
		t.Errorf("serve --compile-timeout 0: exit %d, %q", code, errOut)
	}
}
