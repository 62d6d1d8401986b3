package main

import (
	"os"
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
		// net/http brings TLS, HTTP/2 and proxies, a third of the start; the client speaks
		// HTTP/1.1 with internal/httpc and hands URL downloads to bacalhau-node.
		"net/http", "crypto/tls", "crypto/x509",
		"sigs.k8s.io/yaml", "go.yaml.in/yaml/v2", // one YAML library: yaml v3
	}
	for _, p := range strings.Fields(string(out)) {
		for _, b := range banned {
			if p == b || strings.HasPrefix(p, strings.TrimSuffix(b, "/")+"/") {
				t.Errorf("the client links %s", p)
			}
		}
	}
}

// TestClientStartsOnOneP: internal/oneproc sets GOMAXPROCS=1 before the heavy
// packages' initialisation (net/http, crypto, cobra, the YAML libraries), which is
// where it saves page faults; a change of imports that moved it after them would keep
// the setting and lose the saving.
func TestClientStartsOnOneP(t *testing.T) {
	cmd := exec.Command(binPath, "version", "--client")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bacalhau version --client: %v\n%s", err, out)
	}
	const oneproc = "github.com/bacalhau-project/bacalhau-wasm/internal/oneproc"
	seen := false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "init" {
			continue
		}
		switch {
		case f[1] == oneproc:
			seen = true
		case !seen && (f[1] == "net/http" || f[1] == "crypto/tls" || f[1] == "github.com/spf13/cobra" ||
			strings.HasPrefix(f[1], "go.yaml.in/") || f[1] == "regexp/syntax" || f[1] == "unicode"):
			t.Errorf("%s initialises before %s", f[1], oneproc)
		}
	}
	if !seen {
		t.Fatalf("the client does not initialise %s:\n%s", oneproc, out)
	}
}
