package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestSharedIDPrefix: two live jobs whose IDs share their first 8 hex digits (the short
// form `list` prints) both run and complete, each in an execution of its own.
func TestSharedIDPrefix(t *testing.T) {
	var k atomic.Int64
	sharedIDs := func() string { return fmt.Sprintf("j-deadbeef-0000-4000-8000-%012d", k.Add(1)) }
	n, err := Open(context.Background(), withWasm(t, Config{Repo: t.TempDir(), Concurrency: 2, Memory: 1 << 30, JobIDs: sharedIDs}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	spec := helloSpec(t, n)
	// Hold every byte of the node's memory, so that both jobs are accepted and wait
	// for it: both live at once.
	if err := n.compute.MemPool().Acquire(context.Background(), n.cfg.Memory); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		j, err := n.Submit(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	tasks := 0
	tasks = n.compute.Assignments()
	n.compute.MemPool().Release(n.cfg.Memory)
	if tasks != 2 {
		t.Fatalf("%d executions accepted for 2 live jobs %v", tasks, ids)
	}
	jobs := waitAll(t, n, ids)
	a, b := jobs[0].Latest(), jobs[1].Latest()
	for _, j := range jobs {
		if j.State != job.StateCompleted {
			t.Fatalf("job %s: %s (%s)", j.ID, j.State, j.Reason)
		}
	}
	if a.ID == b.ID || n.compute.ExecDir(a.ID) == n.compute.ExecDir(b.ID) {
		t.Fatalf("jobs %s and %s share execution %s / %s", ids[0], ids[1], a.ID, b.ID)
	}
}
