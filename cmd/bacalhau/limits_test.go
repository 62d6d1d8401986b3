package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOutputsLimit: a job cannot write past its --outputs-limit; the guest gets ENOSPC,
// the job fails saying so, and the result holds no more than the limit. A job asking
// for more than the node allows is refused with the reason.
func TestOutputsLimit(t *testing.T) {
	n := startNode(t, "--max-outputs-limit", "64MiB")
	j := runFails(t, n, guestPath["faulty"], "--outputs-limit", "1MiB", "--", "fill", "5000000")
	if !strings.Contains(j.Reason, "outputs limit of 1 MiB exceeded") || !strings.Contains(strings.ToLower(j.Latest().Stdout), "no space left on device") {
		t.Fatalf("a job writing past its outputs limit: %s %q, stdout %q", j.State, j.Reason, j.Latest().Stdout)
	}
	dir := filepath.Join(t.TempDir(), "r")
	n.ok("get", j.ID, "--output-dir", dir)
	if st, err := os.Stat(filepath.Join(dir, "outputs", "fill")); err != nil || st.Size() > 1<<20 {
		t.Fatalf("outputs/fill: %v bytes, %v; want at most 1 MiB", st.Size(), err)
	}
	out := n.ok("wasm", "run", guestPath["faulty"], "--outputs-limit", "1MiB", "--", "fill", "100000")
	if field(out, "State") != "completed" || !strings.Contains(out, "wrote 100000 bytes") {
		t.Fatalf("a job within its outputs limit:\n%s", out)
	}
	j = runFails(t, n, guestPath["hello"], "--outputs-limit", "1GiB", "--queue-timeout", "2s")
	if !strings.Contains(j.Reason, "1 GiB of outputs") || !strings.Contains(j.Reason, "allows 64 MiB") {
		t.Fatalf("a job asking for more outputs than the node allows: %s %q", j.State, j.Reason)
	}
}

// TestJobMemoryCostsItsLimit: a guest growing to its --memory limit costs the node about
// that much at its peak (the kernel's high-water mark of the node process), not twice
// it, and gives it back when it ends.
func TestJobMemoryCostsItsLimit(t *testing.T) {
	repo, port := filepath.Join(t.TempDir(), "repo"), freePort(t)
	proc, _ := startProcess(t, repo, port)
	n := &testNode{t: t, repo: repo, port: port}
	n.ok("wasm", "run", guestPath["hello"]) // warm: compiled, pools filled
	pid := proc.Process.Pid
	before := procStatus(t, pid, "VmRSS")
	// Reset the high-water mark (clear_refs 5), so VmHWM is this job's peak.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0o200); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	const limit = 512 << 20
	j := runFails(t, n, guestPath["faulty"], "--memory", "512MiB", "--", "grow")
	if !strings.Contains(j.Reason, "memory limit of 512 MiB exceeded") {
		t.Fatalf("grower: %s %q", j.State, j.Reason)
	}
	peak, after := procStatus(t, pid, "VmHWM"), procStatus(t, pid, "VmRSS")
	t.Logf("node RSS %d MiB before, peak %d MiB, %d MiB after a guest grew to %d MiB", before>>20, peak>>20, after>>20, limit>>20)
	if peak-before > limit+limit/4 {
		t.Fatalf("the job cost the node %d MiB at its peak for a %d MiB limit", (peak-before)>>20, limit>>20)
	}
	if after-before > limit/4 {
		t.Fatalf("the node keeps %d MiB after the job ended", (after-before)>>20)
	}
}

// procStatus reads a kB field of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, name string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			must(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", name, pid)
	return 0
}
