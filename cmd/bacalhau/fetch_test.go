package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// nobodysCID is the CID of random bytes: no node has it.
func nobodysCID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 64)
	rand.Read(b)
	h, err := mh.Sum(b, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h).String()
}

// TestFetchDoesNotHoldWorkers: jobs whose module nobody has are fetched outside the
// workers and show it: three of them on a one-worker node leave the worker to a runnable
// job submitted after them; cancelled, they end; and the job's --timeout bounds the
// fetch, which fails naming the module. Before, each took the worker and stayed running
// with no message, past its timeout.
func TestFetchDoesNotHoldWorkers(t *testing.T) {
	n := startNode(t, "--concurrency", "1")
	c := n.client()
	ctx := context.Background()
	missing := nobodysCID(t)
	var stuck []string
	for range 3 {
		j, err := c.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse(missing)}, Timeout: job.Duration(10 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		stuck = append(stuck, j.ID)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	hello := strings.TrimSpace(n.ok("wasm", "run", guestPath["hello"], "--wait=false", "--id-only"))
	j, err := c.Watch(wctx, hello, func(*job.Job) bool { return true })
	if err != nil || j.State != job.StateCompleted {
		t.Fatalf("a runnable job behind three fetching ones on one worker: %v, %+v", err, j)
	}
	for _, id := range stuck {
		eventually(t, 30*time.Second, func() error {
			j, err := c.Get(ctx, id)
			if err != nil {
				return err
			}
			if e := j.Latest(); e == nil || e.Phase != job.PhaseFetching || !strings.Contains(j.History[len(j.History)-1].Message, "fetching module "+missing) {
				return fmt.Errorf("job %s: %s, history %+v", id, j.State, j.History)
			}
			return nil
		})
	}
	if out := n.ok("describe", stuck[0]); !strings.Contains(out, "phase: fetching") || !strings.Contains(out, "state: pending") {
		t.Fatalf("describe of a fetching job:\n%s", out)
	}
	for _, id := range stuck {
		n.ok("cancel", id)
		if j, err := c.Get(ctx, id); err != nil || j.State != job.StateCancelled {
			t.Fatalf("cancelled while fetching: %+v, %v", j, err)
		}
	}

	j = runFails(t, n, missing, "--timeout", "3s")
	if want := "module " + missing + " not found on the network within 3s"; j.State != job.StateFailed || j.Reason != want {
		t.Fatalf("--timeout 3s with a module nobody has: %s %q, want %q", j.State, j.Reason, want)
	}
}

// TestFetchFromProvider: a node told to run a job whose module another node holds says
// in the job's history that it fetches it and from whom (the provider the DHT names, or
// the connected peers it asks when b's announcement has not reached the DHT yet), and
// how big the module was.
func TestFetchFromProvider(t *testing.T) {
	a, b := newNetNode(t, "a", binPath), newNetNode(t, "b", binPath)
	startNetwork(t, a, b)
	mod := strings.TrimSpace(b.ok("data", "add", guestPath["hello"]))
	j := a.job(strings.TrimSpace(a.ok("wasm", "run", mod, "-s", "name=a", "--id-only")))
	if j.State != job.StateCompleted || ranOn(j) != a.id.String() {
		t.Fatalf("job on a of b's module: %s on %s (%s)", j.State, ranOn(j), j.Reason)
	}
	var fetching, fetched string
	for _, h := range j.History {
		if strings.Contains(h.Message, "fetching module "+mod) {
			fetching = h.Message
		}
		if strings.Contains(h.Message, "fetched module "+mod) {
			fetched = h.Message
		}
	}
	prefix := "node " + a.id.String() + " fetching module " + mod + " "
	if fetching != prefix+"from "+b.id.String() && fetching != prefix+"(no provider found on the DHT): asking 1 connected peer(s)" {
		t.Fatalf("history says %q", fetching)
	}
	if !strings.HasPrefix(fetched, "node "+a.id.String()+" fetched module "+mod+" (") || !strings.Contains(fetched, " MiB) in ") {
		t.Fatalf("history says %q", fetched)
	}
	t.Logf("%s; %s", fetching, fetched)
}
