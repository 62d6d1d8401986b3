package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClientLinksNoNodeLibraries: the client binary starts in a fraction of the node's
// time because it links none of the node's libraries (RATIONALE.md, "Two binaries").
// This holds the line: each package below would add its initialisation to every client
// command.
func TestClientLinksNoNodeLibraries(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list the dependencies with: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	banned := []string{
		"github.com/libp2p/", "github.com/tetratelabs/wazero", "github.com/ipfs/boxo",
		"github.com/ipfs/go-cid", "github.com/multiformats/go-multihash", "github.com/cockroachdb/pebble",
		"go.etcd.io/bbolt", "github.com/docker/", "github.com/moby/", "github.com/bytecodealliance/",
		"github.com/labstack/echo", "github.com/bacalhau-project/bacalhau-wasm/internal/node",
		"github.com/bacalhau-project/bacalhau-wasm/sandbox", "github.com/bacalhau-project/bacalhau-wasm/dht",
	}
	for _, p := range strings.Fields(string(out)) {
		for _, b := range banned {
			if strings.HasPrefix(p, b) {
				t.Errorf("the client links %s", p)
			}
		}
	}
}
