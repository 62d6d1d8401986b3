package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
)

// TestRepoSizePolicy: what a user adds is kept, a failed job's result goes after its
// retention, and a write past --repo-max-size fails naming the limit, not a path.
func TestRepoSizePolicy(t *testing.T) {
	repo, port := filepath.Join(t.TempDir(), "repo"), freePort(t)
	startProcess(t, repo, port, "--repo-max-size", "48MiB", "--failed-result-retention", "1s", "--gc-interval", "0")
	n := &testNode{t: t, repo: repo, port: port}
	c := n.client()
	ctx := context.Background()

	kept := filepath.Join(t.TempDir(), "kept.bin")
	must(t, os.WriteFile(kept, noise(1, 16<<20), 0o644))
	cid := strings.TrimSpace(n.ok("data", "add", kept))
	j := runFails(t, n, guestPath["faulty"], "--", "exit", "3")
	result := j.Latest().ResultCID.String()
	if result == "" {
		t.Fatalf("failed job has no result: %+v", j)
	}
	var st api.RepoStat
	must(t, json.Unmarshal([]byte(n.ok("repo", "stat", "--output", "json")), &st))
	if st.Pins < 2 || st.DiskBytes < 16<<20 || st.MaxSize != 48<<20 {
		t.Fatalf("repo stat: %+v", st)
	}
	// The failed job's result is unpinned at the first GC after its retention.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := c.GC(ctx)
		must(t, err)
		if r.PinsExpired > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed job's result was never unpinned: %+v", r)
		}
	}
	if ok, err := c.Has(ctx, result); err != nil || ok {
		t.Fatalf("expired result still held after GC: %v %v", ok, err)
	}
	// What the user added survives, byte for byte.
	out := filepath.Join(t.TempDir(), "got")
	n.ok("data", "get", cid, "-o", out)
	if a, b := mustRead(t, kept), mustRead(t, out); !bytes.Equal(a, b) {
		t.Fatal("the added file changed after GC")
	}
	// Past the limit: a clear error that names it.
	big := filepath.Join(t.TempDir(), "big.bin")
	must(t, os.WriteFile(big, noise(2, 40<<20), 0o644))
	_, errs, code := n.cli("data", "add", big)
	if code == 0 || !strings.Contains(errs, "48 MiB") || !strings.Contains(errs, "--repo-max-size") || strings.Contains(errs, repo) {
		t.Fatalf("add past the limit: exit %d, %s", code, errs)
	}
	if out := n.ok("wasm", "run", guestPath["hello"]); field(out, "State") != "completed" {
		t.Fatalf("node after a refused add:\n%s", out)
	}
	// What the user removes goes at the next GC, and makes room.
	if out := n.ok("data", "rm", cid); !strings.Contains(out, "removed "+cid) {
		t.Fatalf("data rm: %s", out)
	}
	if _, errs, code := n.cli("data", "rm", cid); code == 0 || !strings.Contains(errs, "not found") {
		t.Fatalf("data rm of what is not pinned: exit %d %s", code, errs)
	}
	if r, err := c.GC(ctx); err != nil || r.BytesFreed+r.PackBytesFreed < 16<<20 {
		t.Fatalf("GC after data rm: %+v, %v", r, err)
	}
	n.ok("data", "add", big)
}

// TestRepoReclaimsInterruptedAdd: the bytes of an add cut short by kill -9 are given back
// by the next GC.
func TestRepoReclaimsInterruptedAdd(t *testing.T) {
	repo, port := filepath.Join(t.TempDir(), "repo"), freePort(t)
	proc, gone := startProcess(t, repo, port, "--gc-interval", "0")
	n := &testNode{t: t, repo: repo, port: port}
	c := n.client()
	ctx := context.Background()

	pr, pw := io.Pipe()
	go func() { // 80 MiB of data, then an upload that never ends
		for i := 0; i < 80; i++ {
			if _, err := pw.Write(noise(uint64(100+i), 1<<20)); err != nil {
				return
			}
		}
	}()
	defer pw.Close()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+itoa(port)+"/api/v1/data", pr)
	must(t, err)
	req.Header.Set("Content-Type", "application/octet-stream")
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := c.RepoStat(ctx)
		must(t, err)
		if st.PackBytes >= 64<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload never reached the packs: %+v", st)
		}
	}
	must(t, proc.Process.Signal(syscall.SIGKILL))
	<-gone

	startProcess(t, repo, port, "--gc-interval", "0")
	before, err := c.RepoStat(ctx)
	must(t, err)
	if before.PackBytes < 64<<20 {
		t.Fatalf("after the crash: %+v; want the cut-short add's bytes still there", before)
	}
	r, err := c.GC(ctx)
	must(t, err)
	after, err := c.RepoStat(ctx)
	must(t, err)
	if after.PackBytes > 1<<20 || r.BytesFreed+r.PackBytesFreed < 60<<20 {
		t.Fatalf("GC after the crash: %+v; repo before %+v, after %+v", r, before, after)
	}
	if out := n.ok("wasm", "run", guestPath["hello"]); field(out, "State") != "completed" {
		t.Fatalf("node after GC:\n%s", out)
	}
}

// noise returns n bytes no two chunks of which are alike (an import stores each once).
func noise(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	r.Read(b)
	return b
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return b
}
