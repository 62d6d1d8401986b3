package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestVerifyOnTooFewNodes: --verify 2 on a network of one node runs once, then waits in
// pending with the reason (it was left running forever), and fails at its queue timeout
// naming why.
func TestVerifyOnTooFewNodes(t *testing.T) {
	n := startNode(t)
	c := n.client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mod := strings.TrimSpace(n.ok("data", "add", guestPath["hello"]))
	j, err := c.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse(mod)}, Verify: 2, QueueTimeout: job.Duration(3 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	const waiting = "waiting for 1 more node(s): no node can run it (besides the 1 that ran it already)"
	sawPending := false
	j, err = c.Watch(ctx, j.ID, func(k *job.Job) bool {
		if k.State == job.StatePending && len(k.Executions) == 1 && k.Executions[0].State == job.StateCompleted &&
			k.History[len(k.History)-1].Message == waiting {
			sawPending = true
		}
		return true
	})
	if err != nil {
		t.Fatalf("--verify 2 on one node never ended: %v", err)
	}
	if !sawPending {
		t.Errorf("never pending with %q after its one execution: history %+v", waiting, j.History)
	}
	if want := "no node took the job within 3s: " + waiting; j.State != job.StateFailed || j.Reason != want {
		t.Fatalf("%s %q, want failed %q", j.State, j.Reason, want)
	}
}

// TestAllExecutionsGivenUp: a job whose only execution was given up (its node killed)
// goes back to pending with the reason, instead of staying running.
func TestAllExecutionsGivenUp(t *testing.T) {
	a := newNetNode(t, "a", binPath, "role=requester")
	w := newNetNode(t, "w", binPath, "role=worker")
	startNetwork(t, a, w)
	id := strings.TrimSpace(a.ok("wasm", "run", guestPath["faulty"], "-s", "role=worker", "--wait=false", "--id-only", "--", "tick", "100"))
	eventually(t, 20*time.Second, func() error {
		if j := a.job(id); j.State != job.StateRunning {
			return fmt.Errorf("job is %s", j.State)
		}
		return nil
	})
	w.kill()
	const why = "waiting for 1 more node(s): no node has the labels role=worker (besides the 1 that ran it already)"
	eventually(t, 30*time.Second, func() error {
		j := a.job(id)
		if last := j.History[len(j.History)-1]; j.State != job.StatePending || last.Message != why || last.State != job.StatePending {
			return fmt.Errorf("job is %s, last event %+v", j.State, last)
		}
		if e := j.Executions[0]; !e.Lost || !strings.Contains(e.Error, "silent") {
			return fmt.Errorf("execution %+v", e)
		}
		return nil
	})
	a.ok("cancel", id)
}
