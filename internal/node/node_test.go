package node

import (
	"bytes"
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/compute"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// helloWasm is a hand-made WASI command that writes "hello\n" to stdout: it
// compiles in no time, even under the race detector.
var helloWasm = bytes.Join([][]byte{
	{0, 'a', 's', 'm', 1, 0, 0, 0},
	section(1, 2, 0x60, 4, 0x7F, 0x7F, 0x7F, 0x7F, 1, 0x7F, 0x60, 0, 0), // (i32 x4)->i32, ()->()
	section(2, slices.Concat([]byte{1}, wasmName("wasi_snapshot_preview1"), wasmName("fd_write"), []byte{0, 0})...),
	section(3, 1, 1),    // func 1: ()->()
	section(5, 1, 0, 1), // memory of one page
	section(7, slices.Concat([]byte{2}, wasmName("memory"), []byte{2, 0}, wasmName("_start"), []byte{0, 1})...),
	// _start: fd_write(1, iovec at 8, 1, nwritten at 0); drop
	section(10, 1, 13, 0, 0x41, 1, 0x41, 8, 0x41, 1, 0x41, 0, 0x10, 0, 0x1A, 0x0B),
	// iovec {16, 6} at 8, "hello\n" at 16
	section(11, slices.Concat([]byte{2, 0, 0x41, 8, 0x0B, 8, 16, 0, 0, 0, 6, 0, 0, 0, 0, 0x41, 16, 0x0B, 6}, []byte("hello\n"))...),
}, nil)

func section(id byte, payload ...byte) []byte {
	return append([]byte{id, byte(len(payload))}, payload...)
}

func wasmName(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func openNode(t *testing.T, repo string) *Node {
	t.Helper()
	n, err := Open(context.Background(), withWasm(t, Config{Repo: repo, Concurrency: 2}))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func helloSpec(t *testing.T, n *Node) job.Spec {
	t.Helper()
	e, err := n.Blocks().AddFile(context.Background(), bytes.NewReader(helloWasm), blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	return job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: blockstore.JobCID(e.CID)}}
}

// submitAll submits count jobs at once and returns their IDs.
func submitAll(t *testing.T, n *Node, spec job.Spec, count int) []string {
	t.Helper()
	ids := make([]string, count)
	var wg sync.WaitGroup
	errs := make(chan error, count)
	for i := range ids {
		wg.Go(func() {
			j, err := n.Submit(context.Background(), spec)
			if err != nil {
				errs <- err
				return
			}
			ids[i] = j.ID
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

func waitAll(t *testing.T, n *Node, ids []string) []*job.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	jobs := make([]*job.Job, len(ids))
	for i, id := range ids {
		j, err := n.Wait(ctx, id)
		if err != nil {
			t.Fatalf("job %s: %v", id, err)
		}
		jobs[i] = j
	}
	return jobs
}

// TestBurst submits more jobs than the node has workers at once: every one completes
// with the same result, and once they have, nothing of them is left running,
// finishing or on disk under executions/.
func TestBurst(t *testing.T) {
	repo := t.TempDir()
	n := openNode(t, repo)
	defer n.Close()
	spec := helloSpec(t, n)
	ids := submitAll(t, n, spec, 60)
	jobs := waitAll(t, n, ids)
	for _, j := range jobs {
		if j.State != job.StateCompleted || len(j.Executions) != 1 || j.Executions[0].Stdout != "hello\n" {
			t.Fatalf("job %s: %s, executions %+v", j.ID, j.State, j.Executions)
		}
		if j.Executions[0].ResultCID != jobs[0].Executions[0].ResultCID {
			t.Fatalf("job %s has result %s, job %s %s", j.ID, j.Executions[0].ResultCID, jobs[0].ID, jobs[0].Executions[0].ResultCID)
		}
	}
	res, err := blockstore.Key(jobs[0].Executions[0].ResultCID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := n.Blocks().Has(context.Background(), res); !ok || err != nil {
		t.Fatalf("result %s not in the store: %v", res, err)
	}
	// The finishers clean up after the job is recorded; Close waits for them.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	info := n.Info()
	tasks := 0
	tasks = n.compute.Assignments()
	left, _ := os.ReadDir(n.compute.ExecDir(""))
	if info.Running != 0 || info.Queued != 0 || tasks != 0 || len(left) != 0 {
		t.Fatalf("after every job ended: %d running, %d queued, %d tasks, %d execution directories", info.Running, info.Queued, tasks, len(left))
	}
}

// TestCloseDuringBurst closes the node while jobs run and finish in the background,
// then opens it again: every job ends, and each completed one has its result in the
// store. Only the jobs whose guests were running when the node stopped may fail (one
// per worker at most); the queued ones run after the restart.
func TestCloseDuringBurst(t *testing.T) {
	repo := t.TempDir()
	n := openNode(t, repo)
	spec := helloSpec(t, n)
	ids := submitAll(t, n, spec, 40)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = openNode(t, repo)
	defer n.Close()
	completed, failed := 0, 0
	for _, j := range waitAll(t, n, ids) {
		switch j.State {
		case job.StateCompleted:
			completed++
			res, err := blockstore.Key(j.Executions[len(j.Executions)-1].ResultCID)
			if err != nil {
				t.Fatalf("job %s: %v", j.ID, err)
			}
			if ok, err := n.Blocks().Has(context.Background(), res); !ok || err != nil {
				t.Fatalf("job %s: result %s not in the store: %v", j.ID, res, err)
			}
		case job.StateFailed:
			failed++
			if r := j.History[len(j.History)-1].Message; r != compute.ReasonNodeStopped {
				t.Errorf("job %s failed: %q, want %q", j.ID, r, compute.ReasonNodeStopped)
			}
		default:
			t.Fatalf("job %s is %s", j.ID, j.State)
		}
	}
	if failed > 2 {
		t.Errorf("%d jobs failed across the restart; only the 2 running at the time may", failed)
	}
	t.Logf("%d of %d completed across the restart", completed, len(ids))
}
