package main

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestBurstQueuesEverything submits more jobs at once than the node has workers: every
// one must be accepted, queued and completed.
func TestBurstQueuesEverything(t *testing.T) {
	n := startNode(t, "--concurrency", "1")
	mod := strings.TrimSpace(n.ok("data", "add", guestPath["hello"]))
	c := n.client()
	const jobs = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	states := map[job.State]int{}
	results := map[string]bool{}
	for i := 0; i < jobs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			j, err := c.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse(mod)}})
			if err == nil {
				j, err = c.Watch(ctx, j.ID, func(*job.Job) bool { return true })
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("submit/watch: %v", err)
				return
			}
			states[j.State]++
			results[j.Latest().ResultCID.String()] = true
		}()
	}
	wg.Wait()
	if states[job.StateCompleted] != jobs {
		t.Fatalf("of %d jobs: %v", jobs, states)
	}
	if len(results) != 1 {
		t.Fatalf("identical jobs gave %d different result CIDs", len(results))
	}
	page, err := c.List(context.Background(), api.ListQuery{Limit: jobs})
	if err != nil || page.Total != jobs {
		t.Fatalf("list total %d, %v", page.Total, err)
	}
}
