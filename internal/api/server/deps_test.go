package server

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNodeDependencies: the API (wire types, client and server) reaches the node only
// through the interfaces the server declares; it never imports the node, its job store
// or the sandbox, so that a client or SDK built on it stays light.
func TestNoNodeDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list the dependencies with: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/bacalhau-project/bacalhau-wasm/internal/api/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/bacalhau-project/bacalhau-wasm/"
	for _, p := range strings.Fields(string(out)) {
		for _, banned := range []string{"internal/node", "internal/store", "sandbox"} {
			if p == mod+banned || strings.HasPrefix(p, mod+banned+"/") {
				t.Errorf("internal/api depends on %s", p)
			}
		}
	}
}
