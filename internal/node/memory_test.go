package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// eventually polls cond until it holds, failing the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within a minute: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMemoryReservedWhileRunning: with 300 MiB to offer, two jobs of 256 MiB each on two
// workers do not run at once: the second starts after the first has ended.
func TestMemoryReservedWhileRunning(t *testing.T) {
	n, err := Open(context.Background(), withWasm(t, Config{Repo: t.TempDir(), Concurrency: 2, Memory: 300 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	spec := helloSpec(t, n)
	spec.Memory = 256 << 20
	jobs := waitAll(t, n, submitAll(t, n, spec, 2))
	for _, j := range jobs {
		if j.State != job.StateCompleted {
			t.Fatalf("job %s: %s (%s)", j.ID, j.State, j.Reason)
		}
	}
	a, b := jobs[0].Latest(), jobs[1].Latest()
	if b.StartedAt.Before(a.StartedAt) {
		a, b = b, a
	}
	if b.StartedAt.Before(a.EndedAt) {
		t.Fatalf("two 256 MiB jobs ran at once on 300 MiB: %s to %s and %s to %s", a.StartedAt, a.EndedAt, b.StartedAt, b.EndedAt)
	}
	if info := n.Info(); info.Memory != 300<<20 || info.MemoryFree != 300<<20 {
		t.Fatalf("after both ended: memory %d, free %d", info.Memory, info.MemoryFree)
	}
}

// TestMemoryWaitsAndRefuses: an execution waits, pending, for its memory to be free; a
// job asking for more memory than the node offers in all waits with the reason and
// fails at its queue timeout.
func TestMemoryWaitsAndRefuses(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, withWasm(t, Config{Repo: t.TempDir(), Concurrency: 2, Memory: 300 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	spec := helloSpec(t, n)
	spec.Memory = 256 << 20
	if err := n.compute.MemPool().Acquire(ctx, 100<<20); err != nil { // as a running execution would
		t.Fatal(err)
	}
	j, err := n.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the execution waits for memory", func() bool { return n.compute.MemPool().Waiting() == 1 })
	if got, _ := n.Get(ctx, j.ID); got.State != job.StatePending || n.Info().MemoryFree != 200<<20 {
		t.Fatalf("waiting for memory: %s, %d bytes free", got.State, n.Info().MemoryFree)
	}
	// It says so, in its history and its execution's phase.
	eventually(t, "the history says the job waits for memory", func() bool {
		got, _ := n.Get(ctx, j.ID)
		last := got.History[len(got.History)-1].Message
		return strings.Contains(last, "waiting for 256 MiB of memory: 200 MiB of 300 MiB free") && got.Latest().Phase == job.PhaseQueued
	})
	n.compute.MemPool().Release(100 << 20)
	if done := waitAll(t, n, []string{j.ID})[0]; done.State != job.StateCompleted {
		t.Fatalf("after the memory was freed: %s (%s)", done.State, done.Reason)
	}

	big := spec
	big.Memory = 1 << 30
	big.QueueTimeout = job.Duration(time.Second)
	j, err = n.Submit(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	const why = "no node can run it: needs 1 GiB of memory; this node offers 300 MiB"
	sawPending := false
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = n.Watch(wctx, j.ID, func(k *job.Job) bool {
		if k.State == job.StatePending && strings.HasSuffix(k.History[len(k.History)-1].Message, why) {
			sawPending = true
		}
		j = k
		return true
	})
	if err != nil || !sawPending || j.State != job.StateFailed || len(j.Executions) != 0 {
		t.Fatalf("a job too big for the node: %v, pending with the reason %v, %s, %d executions, history %+v", err, sawPending, j.State, len(j.Executions), j.History)
	}
	if want := "no node took the job within 1s: waiting for 1 more node(s): " + why; j.Reason != want {
		t.Fatalf("reason %q, want %q", j.Reason, want)
	}
}
