package requester

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func TestExecutionIDUnit(t *testing.T) {
	const id = "j-0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	tests := []struct {
		jobID  string
		k      int
		prefix string
		want   string
	}{
		{id, 1, "e-0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9-", "e-0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9-1"},
		{id, 10, "e-0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9-", "e-0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9-10"},
		{id, 0, "e-0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9-", "e-0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9-0"},
		{"0f1e2d3c", 2, "e-0f1e2d3c-", "e-0f1e2d3c-2"}, // no "j-": kept whole
		{"j-j-abc", 3, "e-j-abc-", "e-j-abc-3"},        // one "j-" trimmed
		{"", 1, "e--", "e--1"},                         //
	}
	for _, tc := range tests {
		if got := ExecutionPrefix(tc.jobID); got != tc.prefix {
			t.Errorf("ExecutionPrefix(%q) = %q, want %q", tc.jobID, got, tc.prefix)
		}
		if got := ExecutionID(tc.jobID, tc.k); got != tc.want {
			t.Errorf("ExecutionID(%q, %d) = %q, want %q", tc.jobID, tc.k, got, tc.want)
		}
	}
}

// TestExecutionIDsNameTheirJob: a job's execution IDs start with its prefix and no
// other job's, and no two executions of any jobs share an ID, even when the jobs' IDs
// share their short form. the compute side's accept relies on the first.
func TestExecutionIDsNameTheirJob(t *testing.T) {
	jobs := []string{
		"j-deadbeef-0000-4000-8000-000000000001",
		"j-deadbeef-0000-4000-8000-000000000011",
		"j-deadbeef-0000-4000-8000-000000000111",
	}
	for range 20 {
		jobs = append(jobs, job.NewID())
	}
	seen := map[string]string{}
	for _, a := range jobs {
		for k := 1; k <= 12; k++ {
			e := ExecutionID(a, k)
			if prev, dup := seen[e]; dup {
				t.Fatalf("%s is an execution of %s and of %s #%d", e, prev, a, k)
			}
			seen[e] = fmt.Sprintf("%s #%d", a, k)
			for _, b := range jobs {
				if got := strings.HasPrefix(e, ExecutionPrefix(b)); got != (a == b) {
					t.Fatalf("execution %s of %s has the prefix of %s: %v", e, a, b, got)
				}
			}
		}
	}
}
