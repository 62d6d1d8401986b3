package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// waitCompiled waits until n's functions sandbox holds want compiled modules.
func waitCompiled(t *testing.T, n *Node, want int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if got, _ := n.fn.sb.CacheStats(); got == want {
			return
		}
		if time.Now().After(deadline) {
			got, _ := n.fn.sb.CacheStats()
			t.Fatalf("the functions sandbox holds %d compiled modules, want %d", got, want)
		}
	}
}

// TestServingNodeCompilesFunctionsAhead: a node that serves functions compiles the
// module of each deployed one before any request: those it holds when it starts
// serving, those deployed later, and after a restart those of its own registry.
func TestServingNodeCompilesFunctionsAhead(t *testing.T) {
	repo := t.TempDir()
	ctx := context.Background()
	n := openNode(t, repo)
	if _, err := n.Functions().Deploy(ctx, job.Function{Name: "hi", Module: helloSpec(t, n).Wasm.Module}); err != nil {
		t.Fatal(err)
	}
	if got, _ := n.fn.sb.CacheStats(); got != 0 {
		t.Fatalf("a node that does not serve functions compiled %d modules", got)
	}
	n.Functions().Serve()
	waitCompiled(t, n, 1)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n = openNode(t, repo)
	defer n.Close()
	n.Functions().Serve()
	waitCompiled(t, n, 1)
	n.Functions().Serve() // again: nothing more to compile
	waitCompiled(t, n, 1)

	// A module deployed to a serving node is compiled at once.
	other := bytes.Replace(helloWasm, []byte("hello\n"), []byte("hallo\n"), 1)
	e, err := n.Blocks().AddFile(ctx, bytes.NewReader(other), blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Functions().Deploy(ctx, job.Function{Name: "hallo", Module: blockstore.JobCID(e.CID)}); err != nil {
		t.Fatal(err)
	}
	waitCompiled(t, n, 2)
}
