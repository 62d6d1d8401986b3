package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// missingCID is the CID of random bytes: no node has it.
func missingCID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 64)
	rand.Read(b)
	h, err := mh.Sum(b, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h).String()
}

// TestFetchNotFound: on a network (of one), a job whose module nobody has is fetched
// outside the workers, visibly, and fails at the fetch timeout naming the module; a
// runnable job submitted behind it runs meanwhile.
func TestFetchNotFound(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, withWasm(t, Config{Repo: t.TempDir(), Concurrency: 1, FetchTimeout: 2 * time.Second,
		Network: &NetConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	hello := helloSpec(t, n)
	missing := missingCID(t)
	lost, err := n.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse(missing)}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the job is fetching", func() bool {
		j, _ := n.Get(ctx, lost.ID)
		return j.Latest() != nil && j.Latest().Phase == job.PhaseFetching
	})
	if info := n.Info(); info.Fetching != 1 || info.Running != 0 {
		t.Fatalf("while fetching: %d fetching, %d of the 1 worker busy", info.Fetching, info.Running)
	}
	ok, err := n.Submit(ctx, hello)
	if err != nil {
		t.Fatal(err)
	}
	done := waitAll(t, n, []string{ok.ID, lost.ID})
	if done[0].State != job.StateCompleted {
		t.Fatalf("the runnable job: %s (%s)", done[0].State, done[0].Reason)
	}
	if l := done[1]; l.State != job.StateFailed || l.Reason != "module "+missing+" not found on the network within 2s" {
		t.Fatalf("the job whose module nobody has: %s (%q)", l.State, l.Reason)
	}
	var note string
	for _, h := range done[1].History {
		if strings.Contains(h.Message, "fetching module "+missing) {
			note = h.Message
		}
	}
	if want := "node " + n.id + " fetching module " + missing; !strings.HasPrefix(note, want) {
		t.Fatalf("history %+v has no line starting %q", done[1].History, want)
	}
	if info := n.Info(); info.Fetching != 0 || info.Running != 0 {
		t.Fatalf("after both ended: %d fetching, %d running", info.Fetching, info.Running)
	}
}

// TestFetchBoundedByJobTimeout: the job's own timeout bounds the fetch when it is the
// shorter; without a network a missing module fails at once.
func TestFetchBoundedByJobTimeout(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, withWasm(t, Config{Repo: t.TempDir(), Concurrency: 1, Network: &NetConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	missing := missingCID(t)
	j, err := n.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse(missing)}, Timeout: job.Duration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if j = waitAll(t, n, []string{j.ID})[0]; j.State != job.StateFailed || !strings.HasSuffix(j.Reason, "module "+missing+" not found on the network within 1s") {
		t.Fatalf("%s (%q)", j.State, j.Reason)
	}

	alone := openNode(t, t.TempDir())
	defer alone.Close()
	j, err = alone.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse(missing)}})
	if err != nil {
		t.Fatal(err)
	}
	if j = waitAll(t, alone, []string{j.ID})[0]; j.State != job.StateFailed || !strings.Contains(j.Reason, "module "+missing+" is not on this node") {
		t.Fatalf("without a network: %s (%q)", j.State, j.Reason)
	}
}

// TestFetchPartialModule: a module whose root block alone is in the store (as a `data`
// existence check on a network leaves it) is not taken for a held one: it is fetched
// whole before it takes a worker, and fails naming it when the rest is nowhere.
func TestFetchPartialModule(t *testing.T) {
	ctx := context.Background()
	// hello with a custom section of 300 kB: a root and two leaves.
	pad := make([]byte, 300_000)
	payload := append(wasmName("padding"), pad...)
	size := []byte{}
	for v := len(payload); ; v >>= 7 {
		if v < 0x80 {
			size = append(size, byte(v))
			break
		}
		size = append(size, byte(v&0x7f|0x80))
	}
	big := append(append(append(append([]byte{}, helloWasm...), 0), size...), payload...)
	other, err := blockstore.Open(t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	e, err := other.AddFile(ctx, bytes.NewReader(big), blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	root, err := other.Blocks().GetBlock(ctx, e.CID)
	if err != nil || len(root.RawData()) > 1000 {
		t.Fatalf("root block of a 300 kB module: %v", err)
	}

	n, err := Open(ctx, withWasm(t, Config{Repo: t.TempDir(), Concurrency: 1, FetchTimeout: time.Second,
		Network: &NetConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Blocks().Put(ctx, root); err != nil {
		t.Fatal(err)
	}
	j, err := n.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: blockstore.JobCID(e.CID)}})
	if err != nil {
		t.Fatal(err)
	}
	if j = waitAll(t, n, []string{j.ID})[0]; j.State != job.StateFailed || j.Reason != "module "+e.CID.String()+" not found on the network within 1s" {
		t.Fatalf("%s (%q)", j.State, j.Reason)
	}

	// Whole, it runs.
	if _, err := n.Blocks().AddFile(ctx, bytes.NewReader(big), blockstore.AddOptions{CIDVersion: 1}); err != nil {
		t.Fatal(err)
	}
	j, err = n.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: blockstore.JobCID(e.CID)}})
	if err != nil {
		t.Fatal(err)
	}
	if j = waitAll(t, n, []string{j.ID})[0]; j.State != job.StateCompleted || j.Latest().Stdout != "hello\n" {
		t.Fatalf("whole: %s (%q)", j.State, j.Reason)
	}
}
