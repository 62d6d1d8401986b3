package main

import (
	"strings"
	"testing"
)

// TestFunctionMetricsJobs: the control API's /metrics has the job counters (submitted,
// and settled by engine and final state) and the queue length, besides the functions'
// series, after real jobs ran on a real node.
func TestFunctionMetricsJobs(t *testing.T) {
	n := newFnNode(t, "a")
	n.start()
	const (
		submitted = `bacalhau_jobs_submitted_total{engine="wasm"}`
		completed = `bacalhau_jobs_settled_total{engine="wasm",state="completed"}`
		failed    = `bacalhau_jobs_settled_total{engine="wasm",state="failed"}`
		queue     = `bacalhau_compute_queue_length`
	)
	if out := n.ok("wasm", "run", guestPath["hello"]); !strings.Contains(out, "completed") {
		t.Fatalf("hello:\n%s", out)
	}
	n.ok("wasm", "run", guestPath["hello"])
	if _, errs, code := n.cli("wasm", "run", guestPath["faulty"], "--", "exit", "3"); code == 0 {
		t.Fatalf("faulty exit 3 succeeded: %s", errs)
	}
	for name, want := range map[string]float64{submitted: 3, completed: 2, failed: 1, queue: 0} {
		if got := n.metric(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
