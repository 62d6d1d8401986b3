package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// decodeJob reads the job `wasm run --output json` prints.
func decodeJob(t *testing.T, out string) *job.Job {
	t.Helper()
	var j job.Job
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("not a job: %v\n%s", err, out)
	}
	return &j
}

// TestInputPathToFile: an input naming a file inside a directory DAG is mounted as a
// directory holding that one file under its name, as a file CID given directly is
// mounted under its CID; a Go guest walks both. It used to mount nothing a guest could
// stat (EBADF), and the walk exited 2.
func TestInputPathToFile(t *testing.T) {
	n := startNode(t)
	tree := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "tree")))
	hello := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "hello.txt")))
	for _, tt := range []struct{ input, want string }{
		{"ipfs://" + tree + "/sub/b.bin:/data", "/data/\n/data/b.bin 300000\n"},
		{"ipfs://" + tree + "/sub/deeper/c.txt:/data", "/data/\n/data/c.txt 5\n"},
		{"ipfs://" + hello + ":/data", "/data/\n/data/" + hello + " 12\n"},
		{"ipfs://" + tree + "/sub:/data", "/data/\n/data/b.bin 300000\n/data/deeper/\n/data/deeper/c.txt 5\n"},
	} {
		out, errs, code := n.cli("wasm", "run", guestPath["faulty"], "-i", tt.input, "--output", "json", "--", "walk", "/data")
		if code != 0 {
			var j job.Job
			if json.Unmarshal([]byte(out), &j) == nil && j.Latest() != nil {
				t.Errorf("-i %s: exit %d: %s; the guest's stderr: %s", tt.input, code, j.Reason, j.Latest().Stderr)
			} else {
				t.Errorf("-i %s: exit %d\n%s\n%s", tt.input, code, out, errs)
			}
			continue
		}
		var stdout string
		if j := decodeJob(t, out); j.Latest() != nil {
			stdout = j.Latest().Stdout
		}
		if stdout != tt.want {
			t.Errorf("-i %s: the guest saw\n%s\nwant\n%s", tt.input, stdout, tt.want)
		}
	}
}
