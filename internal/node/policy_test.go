package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestOutputsLimitPolicy: a job asking for a larger outputs limit than the node allows
// is not taken, with the reason; one within it runs.
func TestOutputsLimitPolicy(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, withWasm(t, Config{Repo: t.TempDir(), Concurrency: 1, MaxOutputsLimit: 2 << 30}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	spec := helloSpec(t, n)
	spec.OutputsLimit = 2 << 30
	if j := waitAll(t, n, submitAll(t, n, spec, 1))[0]; j.State != job.StateCompleted {
		t.Fatalf("within the node's limit: %s (%s)", j.State, j.Reason)
	}
	spec.OutputsLimit, spec.QueueTimeout = 3<<30, job.Duration(time.Second)
	j := waitAll(t, n, submitAll(t, n, spec, 1))[0]
	const want = "no node took the job within 1s: waiting for 1 more node(s): no node can run it: asks for up to 3 GiB of outputs; this node allows 2 GiB"
	if j.State != job.StateFailed || j.Reason != want {
		t.Fatalf("over the node's limit: %s %q, want %q", j.State, j.Reason, want)
	}
	if r := n.compute.Refusal(job.Spec{Engine: job.EngineWasm, Wasm: spec.Wasm}); r != "" {
		t.Fatalf("a spec with no outputs limit (the default, 1 GiB) refused: %s", r)
	}
}

// TestMemoryAdvertised: Info, Nodes and heartbeats say what memory the node offers and
// what of it is free.
func TestMemoryAdvertised(t *testing.T) {
	n, err := Open(context.Background(), withWasm(t, Config{Repo: t.TempDir(), Concurrency: 1, Memory: 512 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.compute.MemPool().Acquire(context.Background(), 200<<20); err != nil {
		t.Fatal(err)
	}
	defer n.compute.MemPool().Release(200 << 20)
	info, self := n.Info(), n.Nodes()[0]
	if info.Memory != 512<<20 || info.MemoryFree != 312<<20 {
		t.Fatalf("Info: memory %d, free %d", info.Memory, info.MemoryFree)
	}
	if c := self.Capacity; c.Memory != 512<<20 || c.MemoryFree != 312<<20 || c.Slots != 1 {
		t.Fatalf("Nodes: %+v", c)
	}
	if b := n.compute.Bid("j-x", job.Spec{}); b.MemoryFree != 312<<20 {
		t.Fatalf("bid: %+v", b)
	}
	def, err := Open(context.Background(), withWasm(t, Config{Repo: t.TempDir(), Concurrency: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	if total := totalMemory(); total > 0 && def.Info().Memory != total/4*3 {
		t.Fatalf("default memory %d of %d", def.Info().Memory, total)
	}
	big := job.Spec{Engine: job.EngineWasm, Memory: 1 << 30}
	if !strings.Contains(n.compute.Refusal(big), "needs 1 GiB of memory; this node offers 512 MiB") {
		t.Fatal(n.compute.Refusal(big))
	}
}
